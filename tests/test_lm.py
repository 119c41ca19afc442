"""Beam search with an n-gram LM and phrase boosts: lexicon, LM building, decoding, tuning, the CLI."""

import json

import pytest
import torch

from asr.lm import build as lm_build
from asr.lm import folder as lm
from asr.decoding import BeamDecoder, BeamSearch, DecodeOptions, greedy_decode
from asr.lm.boosting import Boost, parse_boosts, read_boosts
from asr.text import BLANK, WORD_DELIMITER, Vocabulary

pytest.importorskip("flashlight.lib.text.decoder", reason="beam search needs flashlight-text")

SPF = 0.02
VOCAB = Vocabulary.from_transcripts(["hello world the cat sat kat"])
WORDS = ["hello", "world", "the", "kat", "sat"]
BIGRAMS = [("<s>", "hello"), ("hello", "world"), ("world", "</s>"), ("<s>", "the"), ("the", "kat"), ("kat", "sat"), ("sat", "</s>")]


def write_arpa(path, words=WORDS, bigrams=BIGRAMS):
    """A small hand-made bigram ARPA (KenLM's own builder refuses corpora this small)."""
    unigrams = ["<unk>", "<s>", "</s>", *words]
    lines = ["\\data\\", f"ngram 1={len(unigrams)}", f"ngram 2={len(bigrams)}", "", "\\1-grams:"]
    for w in unigrams:
        prob = {"<unk>": -3.0, "<s>": -99.0}.get(w, -0.8)
        lines.append(f"{prob}\t{w}" + ("" if w == "</s>" else "\t-0.3"))
    lines += ["", "\\2-grams:", *(f"-0.1\t{a} {b}" for a, b in bigrams), "", "\\end\\", ""]
    path.write_text("\n".join(lines))
    return path


@pytest.fixture
def lm_dir(tmp_path):
    folder = tmp_path / "lm"
    folder.mkdir()
    write_arpa(folder / lm.ARPA)
    lm.write_lexicon(lm_build.arpa_unigrams(folder / lm.ARPA), VOCAB, folder / lm.LEXICON)
    return folder


def emissions(frames: list[dict[str, float]]) -> torch.Tensor:
    """(1, frames, vocab) log-probs from per-frame {token: probability}; '_' is blank, ' ' the word delimiter."""
    rows = []
    for frame in frames:
        row = torch.full((len(VOCAB),), 1e-4)
        for char, p in frame.items():
            token = VOCAB.blank_id if char == "_" else VOCAB.delimiter_id if char == " " else VOCAB.tokens.index(char)
            row[token] = p
        rows.append(row / row.sum())
    return torch.stack(rows).log()[None]


def spell(text: str, **doubt: dict[str, float]) -> list[dict[str, float]]:
    """Frames for `text`, one character and one blank each; doubt[i] overrides the i-th character's frame."""
    frames = []
    for i, char in enumerate(text):
        frames += [doubt.get(f"c{i}", {char: 0.9}), {"_": 0.9}]
    return frames


def decode(options: DecodeOptions, log_probs: torch.Tensor):
    return BeamDecoder(VOCAB, options)(log_probs, torch.tensor([log_probs.shape[1]]), SPF)[0]


def test_lexicon_spells_words_the_alphabet_covers():
    assert lm.lexicon_lines(["hello", "wörld", "the", "hello"], VOCAB) == ["hello h e l l o |", "the t h e |"]


def test_a_dictionary_word_the_lm_lacks_can_be_decoded(lm_dir):
    # "cat" is in the alphabet but not in the LM: only the dictionary lets the beam search spell it.
    log_probs = emissions(spell("the cat"))
    assert decode(DecodeOptions(method="beam", lm_dir=str(lm_dir)), log_probs).text != "the cat"
    written = lm.write_dictionary(["cat", "the", "cät", "cat"], lm_build.arpa_unigrams(lm_dir / lm.ARPA), VOCAB, lm_dir / lm.DICTIONARY)
    assert written == 1  # "the" is the LM's, "cät" unspellable, "cat" once
    assert lm.lexicon_words(lm_dir) == [*WORDS, "cat"]
    beam = decode(DecodeOptions(method="beam", lm_dir=str(lm_dir)), log_probs)
    assert beam.text == "the cat" and [w.word for w in beam.words] == ["the", "cat"]


def test_arpa_unigrams(tmp_path):
    assert lm_build.arpa_unigrams(write_arpa(tmp_path / "x.arpa")) == WORDS


@pytest.mark.skipif(lm_build.kenlm_tool("lmplz") is None, reason="KenLM's lmplz is not built (bash scripts/build_kenlm.sh)")
def test_build_lm_writes_a_loadable_arpa_and_lexicon(tmp_path):
    import kenlm

    texts = ["hello world", "the kat sat", "the cat sat", "hello the world", "world hello"] * 20
    out = lm_build.build_lm(texts, tmp_path / "lm", VOCAB, order=3, language="en")
    model = kenlm.Model(str(out / lm.ARPA))
    assert model.order == 3
    assert model.score("hello world", bos=True, eos=True) > model.score("world world", bos=True, eos=True)
    assert set(lm_build.arpa_unigrams(out / lm.ARPA)) == {"hello", "world", "the", "kat", "cat", "sat"}
    assert "kat k a t |" in (out / lm.LEXICON).read_text().splitlines()
    assert json.loads((out / lm.INFO).read_text())["order"] == 3
    assert lm.lm_path(out).name in (lm.BINARY, lm.ARPA)
    assert not (out / lm.DICTIONARY).exists()
    lm_build.build_lm(texts, out, VOCAB, order=3, dictionary=["tac", "hello", "täc"], dictionary_source="test")
    assert lm.lexicon_words(out)[-1:] == ["tac"]
    assert json.loads((out / lm.INFO).read_text())["dictionary"] == {"source": "test", "words": 1}


@pytest.mark.skipif(lm_build.kenlm_tool("lmplz") is None, reason="KenLM's lmplz is not built (bash scripts/build_kenlm.sh)")
def test_lm_build_cli_takes_a_word_list_or_none(tmp_path, capsys):
    from asr.cli import main

    text = tmp_path / "text.txt"
    text.write_text("\n".join(["the cat sat", "hello world", "the world sat"] * 20))
    words = tmp_path / "words.txt"
    words.write_text("Kitten\ncat\n")
    assert main(["lm", "build", "--lang", "en", "--text", str(text), "--dictionary", str(words), "--out", str(tmp_path / "a")]) == 0
    assert lm.lexicon_words(tmp_path / "a")[-1] == "kitten"  # normalised; "cat" is the LM's already
    assert "1 more from" in capsys.readouterr().err
    assert main(["lm", "build", "--lang", "en", "--text", str(text), "--dictionary", "none", "--out", str(tmp_path / "b")]) == 0
    assert not (tmp_path / "b" / lm.DICTIONARY).exists()
    with pytest.raises(SystemExit, match="no such file"):
        main(["lm", "build", "--lang", "en", "--text", str(text), "--dictionary", str(tmp_path / "nope"), "--out", str(tmp_path / "c")])


def test_missing_lm_dir_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="asr lm build"):
        BeamDecoder(VOCAB, DecodeOptions(method="beam", lm_dir=str(tmp_path)))


def test_options_are_checked():
    with pytest.raises(ValueError, match="--decoder beam"):
        DecodeOptions(lm_dir="x")
    with pytest.raises(ValueError, match="LM folder"):
        DecodeOptions(method="beam")
    with pytest.raises(ValueError, match="nbest"):
        DecodeOptions(method="beam", lexicon_free=True, nbest=5, beam_size=2)


def test_beam_with_lm_beats_greedy(lm_dir):
    # The acoustic model hears "woeld": 'e' narrowly beats 'r'. The lexicon and LM know "world".
    frames = spell("hello world", c8={"e": 0.5, "r": 0.4})
    log_probs = emissions(frames)
    [greedy] = greedy_decode(log_probs, torch.tensor([len(frames)]), VOCAB, SPF)
    assert greedy.text == "hello woeld"
    beam = decode(DecodeOptions(method="beam", lm_dir=str(lm_dir)), log_probs)
    assert beam.text == "hello world"
    # Times come from the decoder's timesteps: "world" starts at its 'w' (frame 12).
    assert [w.word for w in beam.words] == ["hello", "world"]
    assert beam.words[1].start == pytest.approx(12 * SPF)
    assert beam.words[0].start == pytest.approx(0.0) and beam.words[0].end <= beam.words[1].start
    assert all(0 < w.confidence <= 1 for w in beam.words)


def test_beam_with_lm_spells_its_words_with_a_models_word_pieces(lm_dir):
    # A model with word pieces: the lexicon spells "world" as wor+ld, and the LM mends the model's "wor"+"d".
    pieces = Vocabulary(VOCAB.tokens + ("he", "llo", "wor", "ld"))
    frames = [{"he": 0.9}, {"_": 0.9}, {"llo": 0.9}, {" ": 0.9}, {"wor": 0.9}, {"_": 0.9}, {"d": 0.5, "ld": 0.4}]
    rows = torch.full((len(frames), len(pieces)), 1e-4)
    for t, frame in enumerate(frames):
        for token, p in frame.items():
            rows[t, pieces.tokens.index({"_": BLANK, " ": WORD_DELIMITER}.get(token, token))] = p
    log_probs = (rows / rows.sum(-1, keepdim=True)).log()[None]
    lengths = torch.tensor([len(frames)])
    assert greedy_decode(log_probs, lengths, pieces, SPF)[0].text == "hello word"
    beam = BeamDecoder(pieces, DecodeOptions(method="beam", lm_dir=str(lm_dir)))(log_probs, lengths, SPF)[0]
    assert beam.text == "hello world" and beam.words[1].start == pytest.approx(4 * SPF)


def test_nbest_is_ordered_by_score(lm_dir):
    log_probs = emissions(spell("the kat sat", c4={"k": 0.5, "c": 0.45}))
    best = decode(DecodeOptions(method="beam", lexicon_free=True, nbest=3, beam_size=10), log_probs)
    ranked = [best, *best.alternatives]
    assert len(ranked) == 3
    assert [h.score for h in ranked] == sorted((h.score for h in ranked), reverse=True)
    assert best.text == "the kat sat" and "the cat sat" in [h.text for h in ranked]


@pytest.mark.parametrize("with_lm", [True, False], ids=["lexicon+lm", "lexicon-free"])
def test_boosting_makes_a_misrecognised_phrase_come_out(lm_dir, with_lm):
    # "cat" sounds like "kat" to the model, and the LM knows only "kat": without a boost, "the kat sat".
    log_probs = emissions(spell("the kat sat", c4={"k": 0.6, "c": 0.3}))
    base = {"method": "beam", "lm_dir": str(lm_dir)} if with_lm else {"method": "beam", "lexicon_free": True}
    assert decode(DecodeOptions(**base), log_probs).text == "the kat sat"
    boosted = decode(DecodeOptions(**base, boosts=(Boost("the cat"),)), log_probs)
    assert boosted.text == "the cat sat"
    # A boost for a phrase that is not said changes nothing.
    assert decode(DecodeOptions(**base, boosts=(Boost("hello world", 3.0),)), log_probs).text == "the kat sat"


def test_searches_over_one_lm_folder_share_its_lexicon_until_its_files_change(lm_dir):
    plain = BeamDecoder(VOCAB, DecodeOptions(method="beam", lm_dir=str(lm_dir)))
    other = BeamDecoder(VOCAB, DecodeOptions(method="beam", lm_dir=str(lm_dir), lm_weight=3.0, nbest=2))
    known = BeamDecoder(VOCAB, DecodeOptions(method="beam", lm_dir=str(lm_dir), boosts=(Boost("the kat"),)))
    assert other.lexicon is plain.lexicon and known.lexicon is plain.lexicon
    # A boosted word the lexicon lacks needs a lexicon of its own; the shared one is left as it was.
    unknown = BeamDecoder(VOCAB, DecodeOptions(method="beam", lm_dir=str(lm_dir), boosts=(Boost("the cat"),)))
    assert unknown.lexicon is not plain.lexicon and unknown.lexicon.spells("cat") and not plain.lexicon.spells("cat")
    lm.write_dictionary(["cat"], lm_build.arpa_unigrams(lm_dir / lm.ARPA), VOCAB, lm_dir / lm.DICTIONARY)
    rebuilt = BeamDecoder(VOCAB, DecodeOptions(method="beam", lm_dir=str(lm_dir)))
    assert rebuilt.lexicon is not plain.lexicon and rebuilt.lexicon.spells("cat")


@pytest.mark.parametrize("with_lm", [True, False], ids=["lexicon+lm", "lexicon-free"])
def test_a_search_fed_in_pieces_equals_one_search_and_searches_interleave(lm_dir, with_lm):
    base = {"method": "beam", "lm_dir": str(lm_dir)} if with_lm else {"method": "beam", "lexicon_free": True}
    beam = BeamDecoder(VOCAB, DecodeOptions(**base, nbest=3, beam_size=10, boosts=(Boost("the cat"),)))
    cat = emissions(spell("the kat sat", c4={"k": 0.6, "c": 0.3}))[0]
    hello = emissions(spell("hello world", c8={"e": 0.5, "r": 0.4}))[0]
    whole = [beam(x[None], torch.tensor([len(x)]), SPF)[0] for x in (cat, hello)]
    assert whole[0].text == "the cat sat" and whole[0].alternatives  # the boost works; runners-up to compare
    # Two utterances searched in pieces, their steps interleaved, as a server's streams do on one decoder.
    searches = [beam.search(), beam.search()]
    for first in range(0, len(cat), 5):
        for search, frames in zip(searches, (cat, hello)):
            search.step(frames[first : first + 5])
    pieces = [search.result(SPF) for search in searches]
    for got, expected in zip(pieces, whole):
        assert got.text == expected.text and got.score == pytest.approx(expected.score)
        assert [(w.word, w.start, w.end) for w in got.words] == [(w.word, w.start, w.end) for w in expected.words]
        # Paths of equal score come in no set order, so which of them make the n-best list's tail is not set either.
        assert [a.score for a in got.alternatives] == pytest.approx([a.score for a in expected.alternatives])


def test_boosts_parse_from_flags_and_files(tmp_path):
    assert parse_boosts(["Frau Holle:8", "kat"]) == (Boost("frau holle", 8.0), Boost("kat", 5.0))
    (tmp_path / "b.txt").write_text("# names\nfrau  holle:2.5\n\nkat  # the animal\n")
    assert read_boosts(tmp_path / "b.txt") == (Boost("frau holle", 2.5), Boost("kat", 5.0))
    with pytest.raises(ValueError, match="PHRASE:NUMBER"):
        parse_boosts(["kat:lots"])


def test_tune_writes_its_weights_next_to_the_lm(tmp_path, lm_dir):
    from asr.transcribe import Transcriber
    from tests.tiny import tiny_bundle, write_tone

    for i in range(2):
        write_tone(tmp_path / f"{i}.wav", seconds=0.5, frequency=300 + 100 * i)
    manifest = tmp_path / "dev.jsonl"
    manifest.write_text("".join(json.dumps({"audio_filepath": f"{i}.wav", "text": "hello world", "duration": 0.5}) + "\n" for i in range(2)))
    transcriber = Transcriber(tiny_bundle(VOCAB), device="cpu")
    from eval.lm_tune import tune

    best = tune(transcriber, manifest, lm_dir, [0.5, 1.0], [0.0, 1.0], beam_size=5, progress=False)
    tuned = json.loads((lm_dir / lm.TUNED).read_text())
    assert len(tuned["grid"]) == 4 and tuned["lm_weight"] == best["lm_weight"]
    assert lm.read_weights(lm_dir) == lm.LMWeights(best["lm_weight"], best["word_score"])


def test_transcriber_with_beam_options_end_to_end(tmp_path, lm_dir):
    from asr.transcribe import Transcriber, TranscribeOptions
    from tests.tiny import tiny_bundle, write_tone

    paths = [write_tone(tmp_path / f"{i}.wav", seconds=1.0 + i) for i in range(3)]
    options = DecodeOptions(method="beam", lm_dir=str(lm_dir), beam_size=8, boosts=(Boost("hello", 2.0),))
    transcriber = Transcriber(tiny_bundle(VOCAB), device="cpu", options=TranscribeOptions(batch_size=2), decoding=options)
    results = list(transcriber.transcribe_files(paths))
    assert [p for p, _ in results] == paths
    for _, t in results:
        assert set(t.text.split()) <= set(WORDS) | {"<unk>"}
        assert t.text == " ".join(w.word for w in t.words)


def test_cli_decoder_flags(tmp_path, lm_dir, capsys):
    from asr.cli import main
    from tests.tiny import tiny_checkpoint, write_tone

    model = tiny_checkpoint(tmp_path / "m.safetensors")
    audio = write_tone(tmp_path / "a.wav")
    # tiny_checkpoint's alphabet is "abcdef": the lexicon keeps what it can spell.
    assert main(["transcribe", str(audio), "--model", str(model), "--output-dir", str(tmp_path), "--decoder", "beam",
                 "--lm", str(lm_dir), "--beam-size", "4", "--lm-weight", "0.5", "--word-score", "1", "--boost", "abc:3"]) == 0
    assert (tmp_path / "a.txt").exists()
    assert main(["transcribe", str(audio), "--model", str(model), "--decoder", "beam", "--lm", str(tmp_path / "nope")]) == 2
    assert "asr lm build" in capsys.readouterr().err
    # An LM asks for beam search; greedy decoding with one is a contradiction.
    assert main(["transcribe", str(audio), "--model", str(model), "--lm", str(lm_dir), "--output-dir", str(tmp_path)]) == 0
    assert "decoding: beam 500, LM lm" in capsys.readouterr().err
    assert main(["transcribe", str(audio), "--model", str(model), "--decoder", "greedy", "--lm", str(lm_dir)]) == 2
    with pytest.raises(SystemExit):
        main(["lm", "build", "--help"])
    assert "asr lm build --lang de" in capsys.readouterr().out


def test_leaderboard_and_eval_systems_take_decoder_settings(tmp_path, lm_dir):
    from eval.leaderboard import ConfigError, build_system, load_config
    from eval.systems import CheckpointSystem
    from tests.tiny import tiny_checkpoint

    tiny_checkpoint(tmp_path / "m.safetensors")
    (tmp_path / "t.jsonl").write_text("")
    models = ('[[models]]\nname = "greedy"\ncheckpoint = "m.safetensors"\n\n'
              '[[models]]\nname = "lm"\ncheckpoint = "m.safetensors"\ndecoder = "beam"\nlm = "lm"\nlm_weight = 1\nbeam_size = 8\nboosts = ["abc:2"]\n')
    (tmp_path / "lb.toml").write_text(models + '\n[[test_sets]]\nname = "t"\nmanifest = "t.jsonl"\n')
    config = load_config(tmp_path / "lb.toml")
    greedy, beam = (build_system(m, "cpu", 2) for m in config.models)
    assert beam.decoding == DecodeOptions(method="beam", lm_dir=str(lm_dir), lm_weight=1.0, beam_size=8, boosts=(Boost("abc", 2.0),))
    # The decoder's settings are part of the cache key; greedy's key stays the file's hash.
    assert greedy.fingerprint != beam.fingerprint
    assert CheckpointSystem(tmp_path / "m.safetensors", decoding=DecodeOptions(method="beam", lm_dir=str(lm_dir), beam_size=4)).fingerprint != beam.fingerprint
    (tmp_path / "bad.toml").write_text(models.replace('lm = "lm"\n', "") + '\n[[test_sets]]\nname = "t"\nmanifest = "t.jsonl"\n')
    with pytest.raises(ConfigError, match="model 'lm'.*LM folder"):
        load_config(tmp_path / "bad.toml")


def test_nbest_reaches_the_json_output(tmp_path, lm_dir):
    from asr.transcribe import Transcriber
    from asr.writers import to_json
    from tests.tiny import tiny_bundle, tone

    options = DecodeOptions(method="beam", lexicon_free=True, beam_size=8, nbest=3)
    [result] = Transcriber(tiny_bundle(VOCAB), device="cpu", decoding=options).transcribe([torch.from_numpy(tone(1.0))])
    data = json.loads(to_json(result))
    assert len(data["alternatives"]) == len(result.alternatives) >= 1
    assert [a["score"] for a in data["alternatives"]] == sorted((a["score"] for a in data["alternatives"]), reverse=True)


def test_eval_compares_beam_with_greedy_decoding_of_the_same_model(tmp_path, lm_dir, capsys):
    from asr.cli import main
    from tests.tiny import tiny_checkpoint, write_tone

    model = tiny_checkpoint(tmp_path / "m.safetensors")
    for i in range(3):
        write_tone(tmp_path / f"{i}.wav", seconds=0.5 + 0.2 * i)
    manifest = tmp_path / "test.jsonl"
    manifest.write_text("".join(json.dumps({"audio_filepath": f"{i}.wav", "text": "abc def", "duration": 0.5}) + "\n" for i in range(3)))
    report = tmp_path / "eval.json"
    assert main(["eval", "--model", str(model), "--manifest", str(manifest), "--decoder", "beam", "--lexicon-free",
                 "--beam-size", "4", "--baseline-decoder", "greedy", "--resamples", "100", "--json", str(report)]) == 0
    names = [r["model"] for r in json.loads(report.read_text())["results"]]
    assert names == [f"{model} (beam 4, lexicon-free)", f"{model} (greedy)"]
    with pytest.raises(SystemExit):
        main(["eval", "--model", str(model), "--model", str(model), "--manifest", str(manifest), "--baseline-decoder", "greedy"])


def test_streaming_with_beam_search_equals_one_search_of_the_utterance():
    from asr.streaming.options import ChunkingOptions, EndpointOptions
    from asr.streaming.stream import Stream, Window

    generator = torch.Generator().manual_seed(0)
    frames = 300
    logits = torch.randn(frames, len(VOCAB), generator=generator)
    logits[:, VOCAB.blank_id] += 1.5
    log_probs = logits.log_softmax(-1)
    search = BeamDecoder(VOCAB, DecodeOptions(method="beam", lexicon_free=True, beam_size=8, boosts=(Boost("hello"),)))
    # The stream's decoder state is its open utterance's frames; they arrive in pieces.
    stream = Stream(VOCAB, 16000, ChunkingOptions(), EndpointOptions(stop_history_ms=0), search=search)
    for first in range(0, frames, 37):
        piece = log_probs[first : first + 37]
        stream.accept(Window(torch.zeros(len(piece) * 320), 0, len(piece), first), piece)
        assert stream.interim()[1] == 0  # nothing is final before the search
    utterance = stream.finish()
    (expected,) = search(log_probs[None], torch.tensor([frames]), 0.02)
    assert [w.word for w in utterance.words] == [w.word for w in expected.words]
    assert [w.start for w in utterance.words] == pytest.approx([w.start for w in expected.words])


@pytest.mark.parametrize("keep_frames", [BeamSearch.keep_frames, 12])
def test_a_long_utterance_with_beam_search_is_cut_after_the_searchs_last_word(lm_dir, monkeypatch, keep_frames):
    from asr.streaming.options import ChunkingOptions, EndpointOptions
    from asr.streaming.stream import Stream, Window

    log_probs = emissions(spell("hello world the kat sat hello world the kat sat "))[0]
    search = BeamDecoder(VOCAB, DecodeOptions(method="beam", lm_dir=str(lm_dir)))
    (whole,) = search(log_probs[None], torch.tensor([len(log_probs)]), SPF)
    monkeypatch.setattr(BeamSearch, "keep_frames", keep_frames)  # 12: searches settle before the cut as well
    settles = []
    settle = BeamSearch._settle
    monkeypatch.setattr(BeamSearch, "_settle", lambda self: settles.append(settle(self)))
    stream = Stream(VOCAB, 16000, ChunkingOptions(), EndpointOptions(stop_history_ms=0, max_utterance_ms=1000), search=search)
    utterances = []
    for first in range(0, len(log_probs), 6):
        piece = log_probs[first : first + 6]
        utterances += stream.accept(Window(torch.zeros(len(piece) * 320), 0, len(piece), first), piece)
    final = stream.finish()
    utterances += [final] if final else []
    assert len(utterances) >= 2 and (len(settles) > 0) == (keep_frames == 12)
    assert [w.word for u in utterances for w in u.words] == [w.word for w in whole.words]
    assert [w.start for u in utterances for w in u.words] == pytest.approx([w.start for w in whole.words])
    for u in utterances[:-1]:
        assert u.end == pytest.approx(u.words[-1].end) and u.words[-1].end - u.words[0].start <= 1.0 + 6 * SPF


@pytest.mark.parametrize("lexicon", [True, False])
def test_a_search_fed_in_pieces_settles_old_frames_and_finds_what_one_search_finds(lm_dir, monkeypatch, lexicon):
    text = "hello world the kat sat " * 8
    # Every frame twice, as in speech: the state that follows a settled word may repeat its last character.
    log_probs = emissions([f for frame in spell(text, c8={"e": 0.5, "r": 0.4}) for f in (frame, frame)])[0]
    options = DecodeOptions(method="beam", lm_dir=str(lm_dir)) if lexicon else DecodeOptions(method="beam", lexicon_free=True, beam_size=16)
    beam = BeamDecoder(VOCAB, options)
    (whole,) = beam(log_probs[None], torch.tensor([len(log_probs)]), SPF)  # one piece: nothing settles
    monkeypatch.setattr(BeamSearch, "keep_frames", 12)
    search = beam.search()
    settled_counts = []
    for first in range(0, len(log_probs), 5):
        search.step(log_probs[first : first + 5])
        settled_counts.append(len(search._settled))
        assert [w.word for w in search.best(SPF).words] == [w.word for w in whole.words][: len(search.best(SPF).words)]
    result = search.result(SPF)
    assert settled_counts[-1] > 20 and search._settled_frames > len(log_probs) - 3 * 12  # it settled as it went
    assert [w.word for w in result.words] == [w.word for w in whole.words]
    assert [t for w in result.words for t in (w.start, w.end)] == pytest.approx([t for w in whole.words for t in (w.start, w.end)])
    assert [w.confidence for w in result.words] == pytest.approx([w.confidence for w in whole.words])


def test_a_streams_interim_words_follow_the_search_with_the_lm(lm_dir):
    from asr.streaming.options import ChunkingOptions, EndpointOptions
    from asr.streaming.stream import Stream, Window

    # The model hears "hello woeld the kat": greedy says "woeld", the lexicon and LM know "world".
    log_probs = emissions(spell("hello world the kat", c8={"e": 0.5, "r": 0.4}))[0]
    search = BeamDecoder(VOCAB, DecodeOptions(method="beam", lm_dir=str(lm_dir)))
    stream = Stream(VOCAB, 16000, ChunkingOptions(), EndpointOptions(stop_history_ms=0), search=search)
    seen = []
    for first in range(0, len(log_probs), 6):
        piece = log_probs[first : first + 6]
        stream.accept(Window(torch.zeros(len(piece) * 320), 0, len(piece), first), piece)
        words, fixed = stream.interim()
        seen.append(" ".join(w.word for w in words))
        assert fixed == 0  # nothing is final before the utterance ends
    assert seen[2] == "hello woe"  # greedy after the search's last complete word
    [greedy] = greedy_decode(log_probs[None, :24], torch.tensor([24]), VOCAB, SPF)
    assert (greedy.text, seen[3]) == ("hello woeld", "hello world")  # the LM's word as soon as the search has it
    assert seen[-1] == "hello world the kat"
    assert [w.word for w in stream.finish().words] == ["hello", "world", "the", "kat"]
    # The times are the stream's: "world" starts at its 'w', frame 12.
    assert [w.word for w in words][1] == "world" and words[1].start == pytest.approx(12 * SPF)


def test_server_streams_and_recognizes_with_beam_search(monkeypatch):
    import tests.test_serving as ts
    from serving.options import BatchOptions, ServerOptions

    # The tone model's frames are certain, so a lexicon-free beam must find what greedy finds.
    beam = DecodeOptions(method="beam", lexicon_free=True, beam_size=8)
    searches = []
    search = BeamDecoder.search
    monkeypatch.setattr(BeamDecoder, "search", lambda self: searches.append(1) or search(self))
    server = ts.ServerThread(ServerOptions(listen="127.0.0.1:0", chunking=ts.CHUNKING, batching=BatchOptions(max_wait_ms=5), limits=ts.UNLIMITED),
                             decoding=beam)
    try:
        assert server.transcriber.decoding == beam
        responses, code, _ = ts.collect(server.stub, [ts.config()] + ts.audio(ts.pcm16(ts.UTTERANCES)))
        assert code == ts.Code.OK
        ts.assert_expected_words(ts.finals(responses))
        assert len(searches) == 2  # one search per utterance: the pause ends the first, the stream the second
    finally:
        server.stop()
