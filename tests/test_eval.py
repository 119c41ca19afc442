import json

import pytest

from asr.checkpoint import save_checkpoint
from asr.cli import main
from eval.evaluate import WINDOW_BATCHES, Transcripts, compare, evaluate, score_transcripts
from eval.normalize import get_normalizer
from eval.report import build_report
from eval.scoring import score
from eval.systems import CheckpointSystem
from eval.testset import load_test_set
from tests.tiny import tiny_bundle, tiny_checkpoint, write_tone


def test_corpus_level_rates_count_every_edit():
    scores = score(["das ist gut", "hallo welt"], ["das ist gut", "hallo"])
    assert scores.wer == pytest.approx(1 / 5)  # one deletion over five reference words, not a mean of rates
    assert (scores.substitutions, scores.deletions, scores.insertions) == (0, 1, 0)
    assert scores.reference_words == 5
    assert scores.cer == pytest.approx(5 / 21)  # " welt" is five characters of 11 + 10
    assert scores.character_edits == 5 and scores.reference_characters == 21


def test_per_utterance_edits_add_up_to_the_corpus_and_the_worst_come_first():
    references = ["das ist gut", "hallo welt", "eins zwei drei vier", "a"]
    hypotheses = ["das ist nicht gut", "hallo", "eins zwo drei", "a"]
    scores = score(references, hypotheses)
    per = scores.per_utterance
    assert [u.word_edits for u in per] == [1, 1, 2, 0]
    assert sum(u.word_edits for u in per) == scores.substitutions + scores.deletions + scores.insertions
    assert sum(u.reference_words for u in per) == scores.reference_words
    assert sum(u.character_edits for u in per) / sum(u.reference_characters for u in per) == pytest.approx(scores.cer)
    assert per[1].wer == 0.5 and per[3].wer == 0
    assert [i for i, _ in scores.worst(10)] == [2, 1, 0]  # most edits first; ties by rate; none without edits
    assert per[2].alignment.splitlines() == [
        "REF: eins zwei drei vier",
        "HYP: eins zwo  drei ****",
        "          S         D",
    ]


def test_empty_references_count_insertions():
    scores = score(["hallo", ""], ["hallo", "oh no"])
    assert scores.insertions == 2 and scores.wer == 2.0
    assert scores.per_utterance[1].wer is None  # a rate over zero words does not exist


def test_nothing_to_score_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        score([""], ["x"])
    with pytest.raises(ValueError, match="hypotheses"):
        score(["a"], [])


def _manifest(folder, texts=("Abc, def!",) * 3, lang=None):
    lines = []
    for i, text in enumerate(texts):
        write_tone(folder / f"{i}.wav", seconds=0.5 + i)
        record = {"audio_filepath": f"{i}.wav", "text": text, "duration": 0.5 + i}
        if lang:
            record["lang"] = lang
        lines.append(json.dumps(record))
    (folder / "test.jsonl").write_text("\n".join(lines) + "\n")
    return folder / "test.jsonl"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    save_checkpoint(folder / "other.safetensors", tiny_bundle(seed=1))
    return tiny_checkpoint(folder / "tiny.safetensors"), folder / "other.safetensors"


def test_evaluate_transcribes_a_manifest(tmp_path, models):
    test_set = load_test_set(_manifest(tmp_path))
    system = CheckpointSystem(models[0], device="cpu", batch_size=2)
    result = evaluate(system, test_set, get_normalizer("auto", system.language), batch_size=2)
    assert result.normalizer == "de"
    assert result.scores.utterances == 3
    assert result.transcripts.references == ["Abc, def!"] * 3  # saved raw, so they can be scored again
    assert [u.reference for u in result.scores.per_utterance] == ["abc def"] * 3
    assert result.transcripts.audio == ["0.wav", "1.wav", "2.wav"]
    assert result.transcripts.audio_seconds == pytest.approx(4.5)
    assert result.transcripts.parameters == sum(p.numel() for p in tiny_bundle().model.parameters())
    assert result.transcripts.rtfx > 0
    assert 0 <= result.scores.cer


def test_utterances_go_longest_first_a_window_of_batches_a_call_and_hypotheses_keep_the_manifests_order(tmp_path):
    class Lengths:  # a system that "transcribes" each wave as its length in samples, and records its calls
        name, fingerprint, parameters, sample_rate, device = "lengths", "lengths", 0, 16000, "cpu"
        calls = []

        def load(self):
            pass

        def transcribe(self, waves, language):
            self.calls.append([len(w) for w in waves])
            return [str(len(w)) for w in waves]

    test_set = load_test_set(_manifest(tmp_path, texts=("a",) * 5))
    system = Lengths()
    result = evaluate(system, test_set, get_normalizer("auto", None), batch_size=1)
    longest_first = [72000, 56000, 40000, 24000, 8000]
    assert system.calls == [longest_first[:WINDOW_BATCHES], longest_first[WINDOW_BATCHES:]]
    assert result.transcripts.hypotheses == ["8000", "24000", "40000", "56000", "72000"]


def test_rescoring_needs_no_inference_and_compare_checks_its_inputs(tmp_path, models):
    test_set = load_test_set(_manifest(tmp_path))
    result = evaluate(CheckpointSystem(models[0], device="cpu"), test_set, get_normalizer("de"))
    again = score_transcripts(result.transcripts, get_normalizer("basic"))
    assert again.normalizer == "basic" and again.transcripts is result.transcripts
    with pytest.raises(ValueError, match="different normalisers"):
        compare([result], [again])
    assert compare([result], [result], resamples=100).difference == 0


def test_report_without_baseline_lists_scores_and_worst_utterances(tmp_path, models):
    test_set = load_test_set(_manifest(tmp_path))
    results = [evaluate(CheckpointSystem(m, device="cpu"), test_set, get_normalizer("de")) for m in models]
    report = build_report(results, None, 100, 0, "asr eval ...", "a machine")
    assert report.comparisons == {} and "Δ" not in report.table()
    markdown = report.markdown(worst=2)
    assert markdown.count("### Worst utterances") == 2
    assert "REF: abc def" in markdown  # untrained tiny models get every utterance wrong
    assert json.loads(report.to_json(worst=2))["results"][0]["comparison"] is None


def test_a_model_for_another_language_is_refused(tmp_path, models):
    test_set = load_test_set(_manifest(tmp_path, lang="it"))
    with pytest.raises(ValueError, match="'de' model, but the test set's language is 'it'"):
        evaluate(CheckpointSystem(models[0], device="cpu"), test_set, get_normalizer("it"))


def test_eval_command_with_baseline_writes_reports_then_rescores_without_inference(tmp_path, models, monkeypatch, capsys):
    manifest = _manifest(tmp_path, texts=("Abc, def!", "def abc", "abc"))
    report, markdown = tmp_path / "out" / "eval.json", tmp_path / "out" / "eval.md"
    code = main(["eval", "--model", str(models[0]), "--baseline", str(models[1]), "--manifest", str(manifest),
                 "--device", "cpu", "--resamples", "500", "--json", str(report), "--markdown", str(markdown)])
    assert code == 0
    table = capsys.readouterr().out
    assert "baseline" in table and "Δ WER" in table
    saved = json.loads(report.read_text())
    assert saved["normalizer"] == "de"
    model, baseline = saved["results"]
    assert baseline["baseline"] and baseline["comparison"] is None
    assert model["comparison"]["resamples"] == 500 and "p_value" in model["comparison"]
    assert model["transcripts"]["references"] == ["Abc, def!", "def abc", "abc"]
    assert len(model["transcripts"]["hypotheses"]) == len(model["utterances"]) == 3
    text = markdown.read_text()
    assert "Normaliser `de`" in text and "paired bootstrap" in text
    assert not list(report.parent.glob("*.partial"))

    def no_inference(*args, **kwargs):
        raise AssertionError("rescoring ran a model")

    monkeypatch.setattr(CheckpointSystem, "transcribe", no_inference)
    rescored = tmp_path / "out" / "basic.json"
    assert main(["eval", "--rescore", str(report), "--normalizer", "basic", "--json", str(rescored)]) == 0
    again = json.loads(rescored.read_text())
    assert again["normalizer"] == "basic"
    assert again["results"][0]["comparison"]["difference"] == pytest.approx(model["comparison"]["difference"])
    assert again["results"][1]["baseline"]


def test_eval_errors_name_the_bad_input(tmp_path, models, capsys):
    manifest = _manifest(tmp_path)
    assert main(["eval", "--model", str(tmp_path / "missing.safetensors"), "--manifest", str(manifest)]) == 2
    assert "missing.safetensors: no such checkpoint" in capsys.readouterr().err
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"audio_filepath": "0.wav", "text": "a", "duration": 1}\n{"audio_filepath": "0.wav"}\n')
    assert main(["eval", "--model", str(models[0]), "--manifest", str(broken)]) == 2
    assert "broken.jsonl, line 2: missing required key(s) text, duration" in capsys.readouterr().err
    assert main(["eval", "--rescore", str(tmp_path / "nothing.json")]) == 2
    assert "nothing.json: no such report" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", "--rescore", "r.json", "--model", str(models[0])])
    with pytest.raises(SystemExit):
        main(["eval", "--model", str(models[0]), "--manifest", str(manifest), "--normalizer", "klingon"])
    assert "invalid choice: 'klingon'" in capsys.readouterr().err


def _transcripts(system: str, hypotheses: list[str], speakers: tuple) -> Transcripts:
    references = ["ein hund", "eine katze", "zwei hunde und", "drei"]
    return Transcripts(system, "fingerprint", 1, "cpu", "test", "set", "de", [f"{i}.wav" for i in range(4)],
                       references, hypotheses, 4.0, 1.0, speakers)


def test_wer_by_speaker_shows_which_voices_a_model_fails_on(monkeypatch):
    voices = ("pico", "mbrola", "pico", "mbrola")
    results = [score_transcripts(_transcripts("good on pico", ["ein hund", "eine tatze", "zwei hunde und", "frei"], voices),
                                 get_normalizer("de")),
               score_transcripts(_transcripts("bad on pico", ["ein mund", "eine katze", "zwei munde", "drei"], voices),
                                 get_normalizer("de"))]
    by_speaker = results[1].by_speaker()
    assert by_speaker["pico"] == {"wer": 3 / 5, "cer": pytest.approx(by_speaker["pico"]["cer"]), "utterances": 2}
    assert by_speaker["mbrola"]["wer"] == 0 and results[0].by_speaker()["mbrola"]["wer"] == 2 / 3
    report = build_report(results, 0, 100, 0, "asr eval ...", "a machine")
    markdown = report.markdown(worst=0)
    assert "| speaker | utterances | good on pico | bad on pico |" in markdown
    assert "| pico | 2 | 0.0 | 60.0 |" in markdown and "| mbrola | 2 | 66.7 | 0.0 |" in markdown
    assert json.loads(report.to_json())["results"][1]["by_speaker"]["pico"]["utterances"] == 2

    many = [score_transcripts(_transcripts("x", ["ein hund"] * 4, ("a", "b", "c", "d")), get_normalizer("de"))]
    monkeypatch.setattr("eval.report.MAX_SPEAKER_ROWS", 3)
    assert "4 speakers: WER by speaker is in the JSON report" in build_report(many, None, 100, 0, "c", "m").markdown()

    one_voice = score_transcripts(_transcripts("x", ["ein hund"] * 4, ("pico",) * 4), get_normalizer("de"))
    assert one_voice.by_speaker() == {} and "by speaker" not in build_report([one_voice], None, 100, 0, "c", "m").markdown()
    saved = results[0].transcripts.to_dict()
    del saved["speakers"]  # transcripts saved before speakers were kept still load, without a breakdown
    assert score_transcripts(Transcripts.from_dict(saved), get_normalizer("de")).by_speaker() == {}
