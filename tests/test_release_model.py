"""recipes/release_model.py rescore: a shipped model's card rescored from a later leaderboard, its other facts kept."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "recipes" / "release_model.py"


def result(wer: float, comparison: dict | None) -> dict:
    return {"wer": wer, "cer": wer / 4, "comparison": comparison}


def write_inputs(tmp_path: Path) -> tuple[Path, Path, Path]:
    out = tmp_path / "models" / "xx"
    (out / "lm").mkdir(parents=True)
    (out / "lm" / "lm.json").write_text(json.dumps({"order": 4, "sentences": 10, "vocabulary": 20}))
    card = {
        "name": "whisper-base-ctc-xx", "language": "xx", "model": "model.safetensors", "lm": "lm",
        "lm_choice": {"prune 0": {"dev_wer": 0.1}, "chosen": "prune 0"},
        "data": {"test_voices": ["voice/a"], "dev_voices": ["voice/d"], "train_hours": 8.0, "train_utterances": 7000,
                 "train_voices": 70, "text": "fortunes-xx"},
        "training": {"steps": 3000, "run_steps": 3000, "train_seconds": 5400, "audio_seconds_seen": 180000,
                     "dev_wer_by_step": {"3000": 0.29}, "final_loss": 0.5, "config": {"freeze_layers": 2}, "machine": "then"},
        "sizes_bytes": {"model.safetensors": 4_800_000},
        "licences": {"model": "MIT"},
        "scores": {"command": "bash recipes/release.sh xx", "summary": {"test WER": "20.6 %"},
                   "rows": {"xx (full checkpoint, greedy)": {"test": {"wer": 0.428}}, "xx (shipped: compact, greedy)": {"test": {"wer": 0.446}}}},
    }
    (out / "card.json").write_text(json.dumps(card))
    better = {"difference": -0.009, "low": -0.033, "high": 0.015}
    board = {
        "machine": "now", "baseline": "whisper",
        "test_sets": [{"name": "dev", "manifest": "data/dev-300.jsonl"}, {"name": "test", "manifest": "data/test-300.jsonl"},
                      {"name": "phone", "manifest": "data-telephone/test-300.jsonl"}],
        "rows": [
            {"model": "xx, beam 500", "rtfx": 57.0,
             "test_sets": {"dev": result(0.08, better), "test": result(0.182, better), "phone": result(0.223, better)}},
            {"model": "whisper", "rtfx": 5.0,
             "test_sets": {"dev": result(0.18, None), "test": result(0.191, None), "phone": result(0.268, None)}},
        ],
    }
    leaderboard = tmp_path / "leaderboard.json"
    leaderboard.write_text(json.dumps(board))
    greedy = tmp_path / "greedy.json"
    greedy.write_text(json.dumps({"results": [{"test_set": "data/test-300.jsonl", "wer": 0.488}]}))
    return out, leaderboard, greedy


def rescore(out: Path, leaderboard: Path, greedy: Path, row: str = "xx, beam 500") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "rescore", "--lang", "xx", "--out", str(out), "--leaderboard", str(leaderboard),
         "--default-row", row, "--greedy-eval", str(greedy), "--command", "asr leaderboard --config x.toml"],
        capture_output=True, text=True,
    )


def test_rescore_replaces_the_scores_and_keeps_the_training_facts(tmp_path):
    out, leaderboard, greedy = write_inputs(tmp_path)
    done = rescore(out, leaderboard, greedy)
    assert done.returncode == 0, done.stderr
    card = json.loads((out / "card.json").read_text())
    assert card["scores"]["summary"] == {"test WER": "18.2 %", "decoding": "beam search, LM prune 0", "greedy": "48.8 %",
                                         "telephone": "22.3 %", "whisper-base zero-shot": "19.1 %"}
    assert card["scores"]["default_decoding_row"] == "xx, beam 500"
    assert card["training"]["steps"] == 3000  # kept: the run that made them is gone
    readme = (out / "README.md").read_text()
    assert "| xx, beam 500 | 8.0 % | 2.0 % | -0.9 [-3.3, +1.5] | 18.2 % |" in readme
    assert "greedy decoding on the test set: 48.8 % WER" in readme
    assert "machine: now" in readme
    # The release run's scores stay beside the new ones (they compare the compact export with the full checkpoint),
    # however often the card is rescored.
    release = "xx (full checkpoint, greedy) 42.8 %; xx (shipped: compact, greedy) 44.6 %"
    assert release in readme
    assert rescore(out, leaderboard, greedy).returncode == 0
    assert release in (out / "README.md").read_text()
    assert json.loads((out / "card.json").read_text())["release_scores"]["summary"] == {"test WER": "20.6 %"}


@pytest.mark.parametrize("problem", ["row", "test set"])
def test_rescore_refuses_a_missing_row_or_a_greedy_record_of_another_test_set(tmp_path, problem):
    out, leaderboard, greedy = write_inputs(tmp_path)
    before = (out / "card.json").read_text()
    if problem == "test set":
        greedy.write_text(json.dumps({"results": [{"test_set": "data/dev-300.jsonl", "wer": 0.1}]}))
    done = rescore(out, leaderboard, greedy, row="xx, beam 50" if problem == "row" else "xx, beam 500")
    assert done.returncode != 0
    assert ("no row 'xx, beam 50'" if problem == "row" else "not the leaderboard's 'test'") in done.stderr
    assert (out / "card.json").read_text() == before
