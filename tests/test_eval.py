import json

import pytest

from eval.evaluate import evaluate, markdown_table
from eval.scoring import score
from tests.tiny import tiny_checkpoint, write_tone


def test_corpus_level_rates_count_every_edit():
    scores = score(["das ist gut", "hallo welt"], ["das ist gut", "hallo"])
    assert scores.wer == pytest.approx(1 / 5)  # one deletion over five reference words, not a mean of rates
    assert (scores.substitutions, scores.deletions, scores.insertions) == (0, 1, 0)
    assert scores.reference_words == 5
    assert scores.cer == pytest.approx(5 / 21)  # " welt" is five characters of 11 + 10


def test_nothing_to_score_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        score([""], ["x"])
    with pytest.raises(ValueError, match="hypotheses"):
        score(["a"], [])


def test_evaluate_transcribes_a_manifest(tmp_path):
    checkpoint = tiny_checkpoint(tmp_path / "tiny.safetensors")
    lines = []
    for i in range(3):
        write_tone(tmp_path / f"{i}.wav", seconds=0.5 + i)
        lines.append(json.dumps({"audio_filepath": f"{i}.wav", "text": "Abc, def!", "duration": 0.5 + i}))
    (tmp_path / "test.jsonl").write_text("\n".join(lines) + "\n")
    result = evaluate(checkpoint, tmp_path / "test.jsonl", device="cpu", batch_size=2)
    assert result.scores.utterances == 3
    assert result.references == ["abc def"] * 3  # normalised like the training targets
    assert result.audio_seconds == pytest.approx(4.5)
    assert 0 <= result.scores.cer
    assert "tiny.safetensors" in markdown_table([result])
