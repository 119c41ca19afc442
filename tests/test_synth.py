from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import pytest
import soundfile
import torch

from asr.corpora.manifest import read_manifest
from asr.corpora.synth import (
    ACCENTED_MBROLA,
    ACCENTED_PICO,
    ACCENTED_VOICES,
    HELD_OUT_VARIATION,
    MAX_DURATION,
    MBROLA_PHONEMES,
    MBROLA_VOLUME_RATIO,
    VOCALISED_R_DATABASES,
    VOICES,
    SynthesizerMissing,
    Variation,
    Voice,
    build_corpus,
    held_out_note,
    mbrola_language,
    mbrola_table_without,
    missing_diphones_per_sentence,
    pico_phoneme_markup,
    plan_split,
    rename_phonemes,
    resampling_rate_for_pitch,
    run_mbrola,
    trim_silence,
    turns,
    vocalise_r,
    write_mbrola_phonemes,
)
from asr.corpora.texts import SPLITS, Sentence, read_fortunes, rejection_reason, split_sentences, split_sizes
from asr.text import normalize_transcript

requires_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not on PATH; scripts/setup_system.sh installs it"
)

# 30 gives dev and test 3 utterances each, so every test voice, SVOX Pico included, is synthesized
UTTERANCES = 30


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("synth-de")
    manifests = build_corpus("de", out_dir, UTTERANCES, seed=3, jobs=2)
    return out_dir, {split: read_manifest(path) for split, path in manifests.items()}


def speakers(utterances):
    return {u.speaker for u in utterances}


def test_voice_table_keeps_test_and_dev_voices_apart():
    for lang, table in VOICES.items():
        names = {split: {voice.name for voice in table[split]} for split in SPLITS}
        assert not names["test"] & (names["train"] | names["dev"]), lang
        assert not names["dev"] & names["train"], lang
        assert all(voice.lang == lang for split in SPLITS for voice in table[split])
        # a recorded person that several engines carry stays in one split
        people = {split: {voice.identity for voice in table[split]} for split in SPLITS}
        assert not people["test"] & (people["train"] | people["dev"]) and not people["dev"] & people["train"], lang
        assert len(table["train"]) >= 8, lang
        # dev stands for unheard speakers: never one of the dozens of espeak-ng variants training hears
        assert all(voice.engine != "espeak-ng" for voice in table["dev"]), lang
    assert {voice.name for voice in VOICES["de"]["test"]} == {"mbrola/mb-de5", "mbrola/mb-de6", "pico/de-DE"}
    assert {"mbrola/mb-it3", "mbrola/mb-it4", "pico/it-IT"} <= {voice.name for voice in VOICES["it"]["test"]}
    engines = {voice.engine for table in VOICES.values() for split in SPLITS for voice in table[split]}
    assert engines == {"espeak-ng", "mbrola", "pico", "festival", "flite", "rhvoice"}


def test_missing_voice_names_the_debian_package():
    with pytest.raises(SynthesizerMissing, match=r"mbrola-xx9.*scripts/setup_system\.sh"):
        Voice("mbrola", "mb-xx9", "de").check()


def test_rename_phonemes_changes_the_phoneme_field_alone():
    pho = "_\t50\ne/\t24\t 0 94 100 99\nl\t65\n; a comment\n"
    assert rename_phonemes(pho, {"e/": "e", "l": "L"}) == "_\t50\ne\t24\t 0 94 100 99\nL\t65\n; a comment\n"


SENTENCES = {
    "es": "El perro de San Roque no tiene rabo, y la niña pequeña come chorizo en el jardín con su abuelo.",
    "it": "Questo telefono ha troppi difetti, ma il giovane uomo mangia una pizza con gli amici di Giorgio.",
    "de": "Die kleinen Kinder müssen früh ins Bett, aber sie spielen lieber mit den Mäusen im Haus.",
}


@requires_espeak
@pytest.mark.parametrize("voice", [voice for lang in SENTENCES for split in SPLITS for voice in VOICES[lang][split]
                                   if voice.engine == "mbrola"], ids=lambda voice: f"{voice.lang}-{voice.voice_id}")
def test_every_mbrola_voice_of_a_corpus_has_the_diphones_it_is_asked_for(voice):
    # a diphone the database lacks is a silence where a sound should be, in training and in the test sets alike
    try:
        voice.check()
    except SynthesizerMissing as missing:
        pytest.skip(str(missing))
    assert missing_diphones_per_sentence(voice, [SENTENCES[voice.lang]]) <= 1


@requires_espeak
@pytest.mark.parametrize("database", sorted(MBROLA_PHONEMES))
def test_mbrola_voices_spoken_through_a_pho_file_have_the_diphones_they_are_asked_for(database, tmp_path):
    lang = mbrola_language(database)
    voice = Voice("mbrola", f"mb-{database}", lang)
    try:
        voice.check()
    except SynthesizerMissing as missing:
        pytest.skip(str(missing))
    text = SENTENCES[lang]
    missing = {}
    for name, repaired in (("espeak-ng's own", False), ("renamed", True)):
        write_mbrola_phonemes(voice, text, tmp_path / "in.pho", 1.0, 0.0, repaired=repaired)
        missing[name] = run_mbrola(database, tmp_path / "in.pho", tmp_path / "out.wav")
    assert missing["espeak-ng's own"] >= 4 and missing["renamed"] == 0, missing
    assert missing_diphones_per_sentence(voice, [text]) == 0
    wave = voice.render(text, 1.0, 0.0)
    assert 3.0 < len(trim_silence(wave)) / 16000 < 9.0 and wave.abs().max() > 0.1


def test_a_wav_digest_changes_with_how_its_voice_is_synthesized(tmp_path):
    sentence = Sentence("hallo", "hallo")
    de8, de5 = (plan_split("train", [sentence], [Voice("mbrola", f"mb-{db}", "de")], 0, tmp_path)[0] for db in ("de8", "de5"))
    assert Voice("mbrola", "mb-de8", "de").synthesis_note and not Voice("mbrola", "mb-de5", "de").synthesis_note
    # de5 keeps the name it always had: voice, rate, pitch, formants and words
    shape = f"mbrola/mb-de5|{de5.rate!r}|{de5.pitch!r}|{de5.formant!r}|hallo"
    assert de5.path.name.endswith(hashlib.sha1(shape.encode()).hexdigest()[:10] + ".wav")
    assert not de8.path.name.endswith(hashlib.sha1(shape.replace("de5", "de8").encode()).hexdigest()[:10] + ".wav")


@requires_espeak
def test_the_spanish_test_voice_speaks_every_r_and_trill(tmp_path):
    # espeak-ng's table for es3 names r and the trill as sounds the database lacks (silences); es1's drops the trill
    voice = Voice("mbrola", "mb-es3", "es")
    try:
        voice.check()
    except SynthesizerMissing as missing:
        pytest.skip(str(missing))
    pho = tmp_path / "perro.pho"
    write_mbrola_phonemes(voice, "el perro de la torre habla", pho, 1.0, 0.0)
    phonemes = [line.split("\t")[0] for line in pho.read_text().splitlines()]
    assert phonemes.count("R") == 2 and phonemes.count("r") == 0 and "h" not in phonemes, phonemes
    assert run_mbrola("es3", pho, tmp_path / "perro.wav") == 0


def test_an_mbrola_table_without_a_phoneme_keeps_every_other_row(tmp_path):
    rows = [name.ljust(4, b"\0") + bytes(range(20)) for name in (b"a", b"R2", b"**", b"R")]
    table = tmp_path / "es_phtrans"
    table.write_bytes(b"\x14\0\0\0" + b"".join(rows))
    assert mbrola_table_without(table, ("R2",)) == b"\x14\0\0\0" + rows[0] + rows[2] + rows[3]
    table.write_bytes(b"\x14\0\0\0" + b"".join(rows)[:-1])
    with pytest.raises(ValueError, match="not an MBROLA table"):
        mbrola_table_without(table, ("R2",))


def test_split_sizes():
    assert split_sizes(12) == {"train": 10, "dev": 1, "test": 1}
    assert split_sizes(3) == {"train": 1, "dev": 1, "test": 1}
    assert split_sizes(200) == {"train": 160, "dev": 20, "test": 20}
    with pytest.raises(ValueError):
        split_sizes(2)


def test_read_fortunes_drops_attributions_and_joins_lines(tmp_path):
    source = tmp_path / "zitate"
    source.write_text(
        "Wer nicht wagt,\ngewinnt nicht.  Sagt man.\n\t\t-- Volksmund\n\t\t   (alt)\n%\n%\nZweiter Spruch.\n",
        encoding="utf-8",
    )
    assert read_fortunes(source, "de") == ["Wer nicht wagt, gewinnt nicht. Sagt man.", "Zweiter Spruch."]
    sentences = split_sentences('Er fragt: "Wo?" Sie sagt nichts. Ende')
    assert sentences == ['Er fragt: "Wo?', "Sie sagt nichts.", "Ende"]


@pytest.mark.parametrize(
    "sentence, reason",
    [
        ("Das kostet nur 5 Euro am Tag.", "digits"),
        ("Katzen & Hunde sind Freunde.", "spoken_symbols"),
        ("Das gilt z.B. für alle Menschen.", "abbreviation"),
        ("Äpfel, Birnen, Kirschen usw.", "abbreviation"),
        ("Die SPD regiert wieder einmal.", "acronym"),
        ("Das hab's gleich gesagt.", "apostrophe"),
        ("Ein Café am Ende der Straße.", "uncovered_characters"),
        ("Sehr gut.", "too_few_words"),
        (" ".join(["Wort"] * 21) + ".", "too_many_words"),
        ("Die Größe eines Menschen hängt nicht davon ab.", None),
    ],
)
def test_rejection_reason(sentence, reason):
    assert rejection_reason(sentence, normalize_transcript(sentence, "de"), "de") == reason


@requires_espeak
def test_audio_is_16k_mono_and_durations_match(corpus):
    _, manifests = corpus
    assert sum(len(m) for m in manifests.values()) == UTTERANCES
    for utterances in manifests.values():
        for u in utterances:
            info = soundfile.info(str(u.audio_filepath))
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            assert u.duration == pytest.approx(info.frames / info.samplerate, abs=1e-3)
            assert 0 < u.duration <= MAX_DURATION
            assert u.lang == "de" and u.text == normalize_transcript(u.text, "de")


@requires_espeak
def test_no_sentence_is_in_two_splits(corpus):
    _, manifests = corpus
    texts = {split: {u.text for u in utterances} for split, utterances in manifests.items()}
    assert not texts["train"] & texts["dev"]
    assert not texts["train"] & texts["test"]
    assert not texts["dev"] & texts["test"]


@requires_espeak
def test_voices_stay_in_their_split(corpus):
    _, manifests = corpus
    table = {split: {voice.name for voice in VOICES["de"][split]} for split in SPLITS}
    assert speakers(manifests["test"]) == table["test"]  # Pico and both MBROLA test voices
    assert speakers(manifests["dev"]) <= table["dev"]
    assert not speakers(manifests["dev"]) & (table["train"] | table["test"])
    assert speakers(manifests["train"]) <= table["train"]
    assert len(speakers(manifests["train"])) >= 8


@requires_espeak
def test_dataset_card_matches_the_manifests(corpus):
    out_dir, manifests = corpus
    card = json.loads((out_dir / "dataset_card.json").read_text(encoding="utf-8"))
    for split, utterances in manifests.items():
        assert card["splits"][split]["utterances"] == len(utterances)
        hours = sum(u.duration for u in utterances) / 3600
        assert card["splits"][split]["hours"] == pytest.approx(hours, abs=1e-4)
    assert card["sentences"]["dropped"]["digits"] > 0
    assert set(card["characters"]) <= set("abcdefghijklmnopqrstuvwxyzäöüß")
    # every MBROLA voice has its missing diphones counted (German's have next to none), the other engines none
    for voice in (v for voices in card["voices"].values() for v in voices):
        assert ("missing_diphones_per_sentence" in voice) == (voice["engine"] == "mbrola"), voice["name"]
    assert card["voices"]["test"][0]["name"] == "mbrola/mb-de5" and card["voices"]["test"][0]["missing_diphones_per_sentence"] < 0.5
    assert "MBROLA diphones missing" in (out_dir / "README.md").read_text()
    assert "every machine holds out" not in (out_dir / "README.md").read_text()  # seed 3: cut by position


def test_a_corpus_readme_says_which_sources_hold_out_the_recorded_sentences():
    listed = {"package": "fortunes-de", "held_out": "held_out.tsv.xz (4314 recorded)"}
    cut = {"package": "texts-mine", "held_out": "cut by position"}
    assert held_out_note([listed, cut]) == (", and the dev and test sentences of fortunes-de are the ones every machine "
                                            "holds out (asr/corpora/held_out.tsv.xz)")
    assert held_out_note([cut]) == ""


@requires_espeak
def test_same_seed_gives_the_same_corpus_whatever_the_jobs(corpus, tmp_path):
    _, first = corpus
    manifests = build_corpus("de", tmp_path, UTTERANCES, seed=3, jobs=1)
    second = {split: read_manifest(path) for split, path in manifests.items()}
    for split in SPLITS:
        assert [(u.text, u.speaker) for u in second[split]] == [(u.text, u.speaker) for u in first[split]]


@requires_espeak
def test_rebuild_synthesizes_only_missing_files(corpus, tmp_path):
    out_dir = tmp_path / "copy"
    shutil.copytree(corpus[0], out_dir)
    wavs = sorted((out_dir / "wav").rglob("*.wav"))
    before = {path: path.stat().st_mtime_ns for path in wavs}
    deleted = wavs[len(wavs) // 2]
    deleted.unlink()

    manifests = build_corpus("de", out_dir, UTTERANCES, seed=3, jobs=2)

    assert deleted.is_file()
    assert {path: path.stat().st_mtime_ns for path in wavs if path != deleted} == {
        path: mtime for path, mtime in before.items() if path != deleted
    }
    assert sorted((out_dir / "wav").rglob("*.wav")) == wavs
    summary = lambda utterances: [(u.audio_filepath.name, u.text, u.speaker, u.duration) for u in utterances]
    for split in SPLITS:
        assert summary(read_manifest(manifests[split])) == summary(corpus[1][split])


@requires_espeak
def test_hours_build_is_cut_at_each_splits_share(tmp_path):
    hours = 0.02  # 72 s: 57.6 s of train, 7.2 s each of dev and test
    manifests = build_corpus("de", tmp_path, hours=hours, seed=5, jobs=2, progress=False)
    built = {split: read_manifest(path) for split, path in manifests.items()}
    for split, share in (("train", 0.8), ("dev", 0.1), ("test", 0.1)):
        seconds = [u.duration for u in built[split]]
        assert sum(seconds) >= hours * 3600 * share > sum(seconds[:-1])  # reached, and not one utterance more
    texts = {split: {u.text for u in utterances} for split, utterances in built.items()}
    assert not (texts["train"] & texts["dev"] or texts["train"] & texts["test"] or texts["dev"] & texts["test"])
    table = {split: {voice.name for voice in VOICES["de"][split]} for split in SPLITS}
    assert all(speakers(built[split]) <= table[split] for split in SPLITS)
    assert len(speakers(built["train"])) >= 8
    card = json.loads((tmp_path / "dataset_card.json").read_text(encoding="utf-8"))
    assert card["size"]["hours"] == hours and "numbers" in card
    assert {v["name"] for v in card["voices"]["test"]} == table["test"]
    # exactly the WAVs of the manifests are left: the few synthesized past the target are gone
    referenced = {u.audio_filepath for utterances in built.values() for u in utterances}
    assert set((tmp_path / "wav").rglob("*.wav")) == {p for p in referenced}

    # resumable: a lost file is made again and the corpus comes out the same
    sorted(referenced)[3].unlink()
    again = build_corpus("de", tmp_path, hours=hours, seed=5, jobs=1, progress=False)
    for split in SPLITS:
        assert [(u.text, u.speaker, u.duration) for u in read_manifest(again[split])] == [
            (u.text, u.speaker, u.duration) for u in built[split]
        ]


def test_size_is_utterances_or_hours(tmp_path):
    with pytest.raises(ValueError, match="either utterances or hours"):
        build_corpus("de", tmp_path, utterances=30, hours=1.0)
    with pytest.raises(ValueError, match="either utterances or hours"):
        build_corpus("de", tmp_path)


def test_pitch_by_resampling_rates():
    assert resampling_rate_for_pitch(0.0) == 16000
    assert resampling_rate_for_pitch(12.0) == 8000
    assert resampling_rate_for_pitch(-12.0) == 32000
    assert resampling_rate_for_pitch(3.0) == 13500  # 16000 / 2^(3/12) = 13454, on a 100 Hz grid


OTHER_ENGINES = [
    voice
    for table in VOICES.values()
    for split in SPLITS
    for voice in table[split]
    if voice.engine in ("festival", "flite", "rhvoice")
]
SHORT = {"en": "The dog runs across the street.", "it": "Il cane corre per la strada.", "es": "El perro corre por la calle."}


# one voice of each kind has its rate and pitch measured; the others are checked to speak
MEASURED = {"festival/kal_diphone", "festival/cmu_us_slt_arctic_hts", "flite/awb", "rhvoice/alan"}


@pytest.mark.parametrize("voice", OTHER_ENGINES, ids=lambda voice: voice.name)
def test_festival_flite_and_rhvoice_voices_speak_at_the_rate_and_pitch_asked(voice):
    try:
        voice.check()
    except SynthesizerMissing as missing:
        pytest.skip(str(missing))
    seconds = lambda rate, pitch: len(trim_silence(voice.render(SHORT[voice.lang], rate, pitch))) / 16000
    slow = seconds(0.8, 0.0)
    assert 1.0 < slow < 6.0
    if voice.name in MEASURED:
        fast = seconds(1.25, 0.0)
        assert slow / fast == pytest.approx(1.25 / 0.8, rel=0.12)
        # a pitch shift by resampling would also speed speech up; the engine's rate makes up for it
        assert seconds(1.25, 3.0) == pytest.approx(fast, rel=0.06)


def test_an_engine_failing_on_one_sentence_skips_it_and_the_build_goes_on(tmp_path, monkeypatch):
    import asr.corpora.synth as synth

    render = synth.Voice.render
    calls = []

    def flaky(self, text, rate, pitch, formant):
        calls.append(text)
        if len(calls) == 2:
            raise synth.SynthesisError("text2wave crashed (exit status -11)")
        return render(self, text, rate, pitch, formant)

    monkeypatch.setattr(synth.Voice, "render", flaky)
    manifests = synth.build_corpus("de", tmp_path / "c", utterances=10, seed=5, jobs=1, progress=False)
    kept = sum(len(p.read_text().splitlines()) for p in manifests.values())
    assert kept == 9
    assert json.loads((tmp_path / "c" / "dataset_card.json").read_text())["synthesis_failed"] == 1


def test_a_formant_shift_raises_the_spectrum_and_keeps_the_speaking_rate():
    voice = VOICES["de"]["train"][0]  # an espeak-ng variant: pitch by the engine, formants by resampling
    text = "Der Hund läuft über die Straße und bellt."

    def centroid_and_seconds(formant: float) -> tuple[float, float]:
        wave = trim_silence(voice.render(text, 1.0, 0.0, formant))
        power = torch.fft.rfft(wave).abs() ** 2
        frequencies = torch.linspace(0, 8000, len(power))
        return float((power * frequencies).sum() / power.sum()), len(wave) / 16000

    low, low_seconds = centroid_and_seconds(-1.5)
    high, high_seconds = centroid_and_seconds(1.5)
    # 3 semitones apart: the spectrum moves up by about 2^(3/12) = 1.19
    assert 1.08 < high / low < 1.35
    assert high_seconds == pytest.approx(low_seconds, rel=0.06)


def test_a_second_reading_of_a_sentence_is_by_another_voice_and_extends_the_first(tmp_path):
    sentences = [Sentence(f"Satz {word}.", f"satz {word}") for word in ("eins", "zwei", "drei")]
    voices = VOICES["de"]["train"][:4]
    once = plan_split("train", sentences, voices, 0, tmp_path)
    twice = plan_split("train", sentences, voices, 0, tmp_path, readings=2)
    assert twice[:3] == once
    for first, second in zip(twice[:3], twice[3:]):
        assert first.sentence == second.sentence
        assert first.voice != second.voice
        assert first.path != second.path


def test_a_wider_train_variation_changes_the_train_split_alone(corpus, tmp_path):
    out_dir, default = corpus
    wider = Variation(pitch=(4.0, 6.0), formant=(2.0, 3.0))
    manifests = build_corpus("de", tmp_path, UTTERANCES, seed=3, jobs=2, progress=False, train_variation=wider)
    built = {split: read_manifest(path) for split, path in manifests.items()}
    for split in ("dev", "test"):  # scored on the same held-out speech as a corpus without it
        assert [(u.audio_filepath.name, u.duration) for u in built[split]] == [
            (u.audio_filepath.name, u.duration) for u in default[split]]
    assert [u.text for u in built["train"]] == [u.text for u in default["train"]]
    assert not {u.audio_filepath.name for u in built["train"]} & {u.audio_filepath.name for u in default["train"]}
    jobs = plan_split("train", [Sentence("Satz eins.", "satz eins")] * 20, VOICES["de"]["train"], 3, tmp_path,
                      variation=wider)
    assert all(4.0 <= job.pitch <= 6.0 and 2.0 <= job.formant <= 3.0 for job in jobs)
    card = json.loads((tmp_path / "dataset_card.json").read_text())
    assert card["train_variation"]["pitch_semitone_range"] == [4.0, 6.0]
    assert card["pitch_semitone_range"] == list(HELD_OUT_VARIATION.pitch)
    assert "train split's wider: speaking rate x0.8-1.25, pitch +4 to +6 semitones, formants +2 to +3" in (
        tmp_path / "README.md").read_text()
    assert "train_variation" not in json.loads((out_dir / "dataset_card.json").read_text())


def test_engines_take_equal_turns_whatever_their_number_of_voices():
    voices = VOICES["de"]["train"]
    order = turns(voices)
    engines = [voice.engine for voice in order]
    assert engines.count("espeak-ng") == engines.count("mbrola")
    assert set(order) == set(voices)
    assert all(a != b for a, b in zip(order, order[1:] + order[:1]))


@requires_espeak
def test_a_train_split_alone_from_given_sentences_and_voices(tmp_path):
    # How a machine without the Debian texts or every voice builds its train split (recipes/gpu_release);
    # 5 utterances: 3 for train, whose pool holds 3 sentences.
    voices = VOICES["de"]["train"][:2]
    sentences = [Sentence("Guten Morgen.", "guten morgen"), Sentence("Wie spät ist es?", "wie spät ist es"),
                 Sentence("Das Wetter ist schön.", "das wetter ist schön")]
    manifests = build_corpus("de", tmp_path, utterances=5, seed=1, jobs=1, progress=False, voices={"train": voices},
                             sentences=({"train": sentences}, [{"name": "given", "package": "none", "dropped": {}}]))
    assert list(manifests) == ["train"]
    (utterances,) = [read_manifest(manifests["train"])]
    assert {u.text for u in utterances} == {s.text for s in sentences}
    assert speakers(utterances) <= {voice.name for voice in voices}
    card = json.loads((tmp_path / "dataset_card.json").read_text())
    assert list(card["splits"]) == ["train"] and card["sentences"]["usable"] == 3 and card["size"]["splits_built"] == ["train"]


@requires_espeak
def test_dev_and_test_alone_are_the_whole_builds_splits(corpus, tmp_path):
    from asr.cli import main

    assert main(["data", "synth", "--lang", "de", "--utterances", str(UTTERANCES), "--seed", "3", "--jobs", "2",
                 "--splits", "dev,test", "--out", str(tmp_path)]) == 0
    assert not (tmp_path / "train.jsonl").exists() and not (tmp_path / "wav" / "train").exists()
    for split in ("dev", "test"):
        alone = read_manifest(tmp_path / f"{split}.jsonl")
        assert [(u.audio_filepath.name, u.text, u.speaker, u.duration) for u in alone] == [
            (u.audio_filepath.name, u.text, u.speaker, u.duration) for u in corpus[1][split]
        ]
    card = json.loads((tmp_path / "dataset_card.json").read_text(encoding="utf-8"))
    assert set(card["splits"]) == {"dev", "test"}
    with pytest.raises(SystemExit):
        main(["data", "synth", "--lang", "de", "--utterances", "30", "--splits", "dev,tset", "--out", str(tmp_path)])

    # The train split built after them: one card of the whole corpus, as a whole build writes it (it once kept
    # only the last build's splits).
    assert main(["data", "synth", "--lang", "de", "--utterances", str(UTTERANCES), "--seed", "3", "--jobs", "2",
                 "--splits", "train", "--out", str(tmp_path)]) == 0
    whole = json.loads((corpus[0] / "dataset_card.json").read_text(encoding="utf-8"))
    assert json.loads((tmp_path / "dataset_card.json").read_text(encoding="utf-8")) == whole
    # A card of another corpus in the folder is replaced, not merged.
    assert main(["data", "synth", "--lang", "de", "--utterances", str(UTTERANCES), "--seed", "4", "--jobs", "2",
                 "--splits", "dev", "--out", str(tmp_path)]) == 0
    card = json.loads((tmp_path / "dataset_card.json").read_text(encoding="utf-8"))
    assert list(card["splits"]) == ["dev"] and card["seed"] == 4 and card["size"]["splits_built"] == ["dev"]


def test_accented_voices_are_training_voices_of_no_other_split():
    held_out_anywhere = {voice.voice_id.removeprefix("mb-") for lang_voices in VOICES.values()
                         for split in ("dev", "test") for voice in lang_voices[split]}
    for lang, voices in ACCENTED_VOICES.items():
        held_out = {voice.mbrola_database for lang_voices in VOICES.values() for split in ("dev", "test")
                    for voice in lang_voices[split] if voice.engine == "mbrola"}
        assert voices and not {voice.mbrola_database for voice in voices} & held_out
        # Pico's German, Italian and Spanish voices are test voices: an accented Pico voice is none of any language's
        assert not {voice.voice_id for voice in voices if voice.engine == "pico"} & held_out_anywhere
        assert {voice.name for voice in voices}.isdisjoint(voice.name for split in VOICES[lang].values() for voice in split)
    # Spanish's own es1 is synthesized as before; speaking Italian it reads renamed Italian phonemes.
    assert Voice("mbrola", "mb-es1", "es").synthesis_note == f"|pho {MBROLA_PHONEMES['es1']!r} volume {MBROLA_VOLUME_RATIO}"
    assert Voice("mbrola", "mb-es1", "it").renamed_phonemes == ACCENTED_MBROLA[("it", "es1")]


@requires_espeak
@pytest.mark.parametrize("voice", [voice for voice in ACCENTED_VOICES["it"] if voice.engine == "mbrola"],
                         ids=lambda voice: voice.name)
def test_accented_voices_have_most_diphones_they_are_asked_for(voice):
    try:
        voice.check()
    except SynthesizerMissing as missing:
        pytest.skip(str(missing))
    text = "Questo telefono ha troppi difetti, ma il giovane uomo mangia una pizza con gli amici di Giorgio."
    # Spanish lacks a few Italian diphones (Mexican voices the palatal n and l doubled): espeak-ng reads them as silence.
    assert missing_diphones_per_sentence(voice, [text]) <= 2
    wave = voice.render(text, 1.0, 0.0)
    assert 3.0 < len(trim_silence(wave)) / 16000 < 9.0 and wave.abs().max() > 0.1


@requires_espeak
def test_accented_voices_join_the_train_split_where_a_language_has_them(tmp_path):
    from asr.cli import main

    try:
        for voice in ACCENTED_VOICES["it"] + VOICES["it"]["train"]:
            voice.check()
    except SynthesizerMissing as missing:
        pytest.skip(str(missing))
    assert main(["data", "synth", "--lang", "it", "--utterances", "20", "--splits", "train", "--accented-voices",
                 "--out", str(tmp_path / "it")]) == 0
    card = json.loads((tmp_path / "it" / "dataset_card.json").read_text(encoding="utf-8"))
    # the flag alone adds the MBROLA voices (the release recipe's Italian corpus), not Pico
    mbrola = {voice.name for voice in ACCENTED_VOICES["it"] if voice.engine == "mbrola"}
    assert {voice["name"] for voice in card["voices"]["train"]} & {voice.name for voice in ACCENTED_VOICES["it"]} == mbrola
    assert mbrola & speakers(read_manifest(tmp_path / "it" / "train.jsonl"))
    assert main(["data", "synth", "--lang", "it", "--utterances", "9", "--splits", "train", "--accented-voices",
                 "mbrola,pico", "--out", str(tmp_path / "it-pico")]) == 0
    card = json.loads((tmp_path / "it-pico" / "dataset_card.json").read_text(encoding="utf-8"))
    pico = next(voice for voice in card["voices"]["train"] if voice["name"] == "pico/fr-FR")
    assert pico["unmapped_phonemes_per_sentence"] == 0
    # engines take turns: Pico reads every third utterance
    assert "pico/fr-FR" in speakers(read_manifest(tmp_path / "it-pico" / "train.jsonl"))
    assert main(["data", "synth", "--lang", "it", "--utterances", "9", "--accented-voices", "pico,festival",
                 "--out", str(tmp_path / "it-festival")]) == 2
    assert not (tmp_path / "it-festival").exists()
    # Spanish and German have Pico's French voice alone: the flag alone (MBROLA) is an error, pico adds it
    for lang in ("es", "de"):
        assert main(["data", "synth", "--lang", lang, "--utterances", "9", "--accented-voices", "--out",
                     str(tmp_path / lang)]) == 2
        assert not (tmp_path / lang).exists()
        assert main(["data", "synth", "--lang", lang, "--utterances", "9", "--splits", "train", "--accented-voices",
                     "pico", "--out", str(tmp_path / f"{lang}-pico")]) == 0
        card = json.loads((tmp_path / f"{lang}-pico" / "dataset_card.json").read_text(encoding="utf-8"))
        pico = next(voice for voice in card["voices"]["train"] if voice["name"] == "pico/fr-FR")
        assert pico["unmapped_phonemes_per_sentence"] == 0
        assert "pico/fr-FR" in speakers(read_manifest(tmp_path / f"{lang}-pico" / "train.jsonl"))


requires_pico = pytest.mark.skipif(
    shutil.which("pico2wave") is None or shutil.which("espeak-ng") is None,
    reason="pico2wave or espeak-ng is not on PATH; scripts/setup_system.sh installs them",
)


def _pico_speaks(tmp_path, language: str, markup: str) -> bytes:
    path = tmp_path / "pico.wav"
    subprocess.run(["pico2wave", "-l", language, "-w", str(path), markup], check=True, capture_output=True)
    return path.read_bytes()


@requires_pico
@pytest.mark.parametrize("lang, pico_voice", list(ACCENTED_PICO))
def test_accented_pico_voices_have_every_symbol_they_are_asked_for(tmp_path, lang, pico_voice):
    # pico2wave reads a <phoneme> word holding a symbol its voice lacks as one and the same sound, whichever symbol
    def between_vowels(symbol: str) -> bytes:
        return _pico_speaks(tmp_path, pico_voice, f"<phoneme alphabet='xsampa' ph='\"a{symbol}a'/>")

    lacked = between_vowels("Q")
    assert lacked == between_vowels("T")  # neither is French
    symbols = {symbol for xsampa in ACCENTED_PICO[(lang, pico_voice)].values() for symbol in xsampa if symbol not in '"%'}
    assert symbols and all(between_vowels(symbol) != lacked for symbol in sorted(symbols))


@requires_pico
def test_pico_speaks_another_language_in_words_of_espeak_ng_phonemes(tmp_path):
    renames = ACCENTED_PICO[("it", "fr-FR")]
    markup, unmapped = pico_phoneme_markup("it", "Buongiorno a tutti, la famiglia di John Lennon è qui.", renames)
    # a word a <phoneme> element, clauses apart by commas; length marks left out, gli's palatal l as l and the glide
    assert unmapped == 0 and markup.count("<phoneme ") == 10 and markup.count(",") == 1 and markup.endswith(".")
    assert "ph='buondZ\"ORno'" in markup and "ph='t\"uti'" in markup and "ph='fam\"ilja'" in markup
    # espeak-ng reads "Lennon" by English rules, "(en)lˈɛnən(it)": its marks are gone, its phonemes renamed
    assert "(" not in markup and "ph='l\"En@n'" in markup
    assert pico_phoneme_markup("it", "Ciao!", {})[1] > 0  # symbols without a rename are counted
    wave = Voice("pico", "fr-FR", "it").render("Buongiorno a tutti, la famiglia è qui.", 1.0, 0.0)
    assert 1.5 < len(trim_silence(wave)) / 16000 < 5.0 and wave.abs().max() > 0.1


@requires_espeak
def test_german_renames_say_the_diphthong_espeak_ng_cannot_name():
    # espeak-ng writes German's UR (Schurken) as "??": Italian's renames would leave it out, German's say it as u
    assert pico_phoneme_markup("de", "Schurken", ACCENTED_PICO[("it", "fr-FR")]) == ("<phoneme alphabet='xsampa' ph='S\"k@n'/>.", 2)
    assert pico_phoneme_markup("de", "Schurken", ACCENTED_PICO[("de", "fr-FR")]) == ("<phoneme alphabet='xsampa' ph='S\"uuk@n'/>.", 0)


def test_vocalised_r_is_an_r_that_ends_a_syllable_after_a_vowel():
    # "klar Ohren wird" as espeak-ng writes it for the German MBROLA voices
    pho = "_\t50\nk\t130\nl\t65\na:\t141\t 0 119\nR\t65\n?\t40\no:\t95\nR\t65\n@\t40\nn\t60\nv\t65\nI\t66\nR\t65\nt\t101\nR\t30\n"
    assert [line.split("\t")[0] for line in vocalise_r(pho).splitlines()] == [
        "_", "k", "l", "a:", "6", "?", "o:", "R", "@", "n", "v", "I", "6", "t", "R"]
    # durations and pitch points stay as espeak-ng wrote them
    assert vocalise_r(pho).splitlines()[4] == "6\t65"
    assert vocalise_r("d\t65\nE\t54\nR\t65") == "d\t65\nE\t54\n6\t65\n"


def test_vocalised_r_is_german_mbrola_voices_alone_and_changes_their_digest(tmp_path):
    for voice in ("mb-de8", "mb-de5", "mb-es1"):
        with pytest.raises(ValueError, match="vocalised r"):
            Voice("mbrola", voice, "de", vocalised_r=True)
    with pytest.raises(ValueError):
        Voice("espeak-ng", "de", "de", vocalised_r=True)
    sentence = Sentence("klar", "klar")
    plain, vocalised = (plan_split("train", [sentence], [Voice("mbrola", "mb-de1", "de", vocalised_r=flag)], 0, tmp_path)[0]
                        for flag in (False, True))
    assert plain.path != vocalised.path and plain.voice.name == vocalised.voice.name == "mbrola/mb-de1"
    assert set(VOCALISED_R_DATABASES) <= {voice.mbrola_database for voice in VOICES["de"]["train"]}


@requires_espeak
def test_vocalised_r_says_the_train_split_s_r_as_a_vowel_with_the_diphones_it_needs(tmp_path):
    from asr.cli import main

    voice = Voice("mbrola", "mb-de1", "de", vocalised_r=True)
    try:
        voice.check()
    except SynthesizerMissing as missing:
        pytest.skip(str(missing))
    text = "der Lehrer wird vorher klar sagen, wo die Uhr ist"
    write_mbrola_phonemes(voice, text, tmp_path / "in.pho", 1.0, 0.0)
    phonemes = [line.split("\t")[0] for line in (tmp_path / "in.pho").read_text().splitlines()]
    assert phonemes.count("6") >= 6 and run_mbrola("de1", tmp_path / "in.pho", tmp_path / "out.wav") == 0
    assert main(["data", "synth", "--lang", "de", "--utterances", "20", "--splits", "train", "--vocalised-r",
                 "--out", str(tmp_path / "de")]) == 0
    card = json.loads((tmp_path / "de" / "dataset_card.json").read_text(encoding="utf-8"))
    vocalised = {voice["name"] for voice in card["voices"]["train"] if voice.get("vocalised_r")}
    assert vocalised == {f"mbrola/mb-{db}" for db in ("de1", "de2", "de3", "de7")}
    assert main(["data", "synth", "--lang", "it", "--utterances", "9", "--vocalised-r", "--out", str(tmp_path / "it")]) == 2
    assert not (tmp_path / "it").exists()
