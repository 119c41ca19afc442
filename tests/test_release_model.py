"""recipes/release_model.py: the checkpoint a release ships (choose), and a card rescored from a later leaderboard (rescore)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "recipes" / "release_model.py"


def release_model():
    """recipes/release_model.py as a module, for the functions the card is made of (recipes/ is not a package)."""
    spec = importlib.util.spec_from_file_location("release_model", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def rescore(out: Path, leaderboard: Path, greedy: Path | None, row: str = "xx, beam 500") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "rescore", "--lang", "xx", "--out", str(out), "--leaderboard", str(leaderboard),
         "--default-row", row, *(["--greedy-eval", str(greedy)] if greedy else []), "--command", "asr leaderboard --config x.toml"],
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


def test_reweigh_ships_the_staged_export_and_lm_keeps_the_training_facts_and_leaves_the_scores_to_rescore(tmp_path):
    out, leaderboard, greedy = write_inputs(tmp_path)
    (out / "model.safetensors").write_bytes(b"before")
    run = tmp_path / "run"
    staged = run / "models-xx"
    (staged / "lm").mkdir(parents=True)
    (staged / "model.safetensors").write_bytes(b"re-weighed")
    (staged / "lm" / "lm.json").write_text(json.dumps({"order": 4, "sentences": 12, "vocabulary": 25, "pruned": "no"}))
    (staged / "card.json").write_text(json.dumps({"lm_choice": {"prune 1": {"dev_wer": 0.09}, "chosen": "prune 1"}}))
    write_weight_evals(run, {"1": 0.25, "0.9": 0.23})
    release_model().weigh(run)
    (run / "shipped.json").write_text(json.dumps({"chosen": "models/xx as shipped at abc1234"}))
    done = subprocess.run([sys.executable, str(SCRIPT), "reweigh", "--lang", "xx", "--run", str(run), "--out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    card = json.loads((out / "card.json").read_text())
    assert (out / "model.safetensors").read_bytes() == b"re-weighed"
    assert json.loads((out / "lm" / "lm.json").read_text())["sentences"] == 12
    assert card["lm_choice"]["chosen"] == "prune 1" and card["language_model"]["vocabulary"] == 25
    assert card["sizes_bytes"]["model.safetensors"] == len(b"re-weighed")
    assert card["training"]["steps"] == 3000 and card["data"]["train_voices"] == 70  # the run's facts stay
    assert card["training"]["fine_tuned_weight"]["chosen"] == 0.9
    assert "scores" not in card and "release_scores" not in card  # the model before's, not this one's

    # greedy decoding's WER from the leaderboard's own row where no `asr eval` record is given
    assert "no row 'xx (shipped: compact, greedy)'" in rescore(out, leaderboard, None).stderr
    board = json.loads(leaderboard.read_text())
    board["rows"].append({"model": "xx (shipped: compact, greedy)", "rtfx": 90.0,
                          "test_sets": {"dev": result(0.1, None), "test": result(0.371, None), "phone": result(0.4, None)}})
    leaderboard.write_text(json.dumps(board))
    assert rescore(out, leaderboard, None).returncode == 0
    assert json.loads((out / "card.json").read_text())["scores"]["summary"]["greedy"] == "37.1 %"
    readme = (out / "README.md").read_text()
    assert "keeps 0.9 of what fine-tuning changed in the encoder (of models/xx as shipped at abc1234, re-weighed" in readme
    assert "Scored at release" not in readme


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


def choose(run: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "choose", "--run", str(run)], capture_output=True, text=True)


def write_run(tmp_path: Path, low: float | None) -> Path:
    """A finished run's two checkpoints (their bytes tell them apart) and, where `low` is given, the dev comparison of
    the last against the best (`asr eval --model last --baseline best`) with that lower bound."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.safetensors").write_bytes(b"best")
    if low is not None:
        (run / "last.safetensors").write_bytes(b"last")
        comparison = {"system_wer": 0.74, "baseline_wer": 0.73, "difference": 0.01, "low": low, "high": 0.03}
        (run / "last-vs-best.json").write_text(json.dumps({"results": [{"test_set": "dev.jsonl", "comparison": comparison}]}))
    return run


@pytest.mark.parametrize(("low", "chosen"), [(-0.01, "last"), (0.002, "best"), (None, "best")])
def test_choose_ships_the_last_checkpoint_unless_the_best_on_dev_is_better_beyond_a_tie(tmp_path, low, chosen):
    run = write_run(tmp_path, low)
    done = choose(run)
    assert done.returncode == 0, done.stderr
    assert (run / "shipped.safetensors").read_bytes() == chosen.encode()
    decision = json.loads((run / "shipped.json").read_text())
    assert decision["chosen"] == chosen
    assert chosen in done.stdout


def test_the_card_says_which_checkpoint_shipped_and_why():
    module = release_model()
    training = {"dev_wer_by_step": {"1000": 0.732, "2000": 0.738, "5600": 0.741}}
    tie = {"chosen": "last", "last_wer": 0.741, "best_wer": 0.732, "difference": 0.009, "low": -0.004, "high": 0.022}
    text = module._checkpoint_choice(training | {"checkpoint_choice": tie})
    assert "the run's last" in text and "step 1000" in text and "+0.9 [-0.4, +2.2]" in text
    better = tie | {"chosen": "best", "low": 0.002}
    assert "decodes dev better" in module._checkpoint_choice(training | {"checkpoint_choice": better})
    assert module._checkpoint_choice(training) == "the run's best on the dev voice"  # a card from before `choose`


def test_a_models_folder_above_what_a_shipped_language_may_take_is_warned_about(tmp_path, capsys):
    module = release_model()
    out = tmp_path / "models" / "xx"
    (out / "lm").mkdir(parents=True)
    for path, size in ((out / "model.safetensors", 9_000_000), (out / "lm" / "lm.bin", 2_900_000)):
        with open(path, "wb") as file:
            file.truncate(size)  # sparse: the size is what counts
    assert not module.warn_if_too_large(out) and capsys.readouterr().err == ""
    (out / "card.json").write_text("x" * 200_000)
    assert module.warn_if_too_large(out)
    assert "takes 12.10 MB, above the 12 MB" in capsys.readouterr().err


def test_the_runs_length_is_its_last_step_not_its_last_logged_loss():
    log = [{"step": 2130, "loss": 0.3}, {"step": 2140, "loss": 0.2}, {"step": 2149, "dev_wer": 0.5},
           {"event": "end", "reason": "max_steps", "step": 2149}]
    assert release_model().last_step(log) == 2149


def write_weight_evals(run: Path, wers: dict[str, float]) -> None:
    (run / "weights").mkdir(parents=True, exist_ok=True)
    for weight, wer in wers.items():
        (run / "weights" / f"dev-300-w{weight}.json").write_text(
            json.dumps({"results": [{"test_set": "data/dev-300.jsonl", "wer": wer}]}))


def test_weigh_keeps_the_share_of_fine_tuning_that_decodes_dev_best_and_the_larger_on_a_tie(tmp_path):
    write_weight_evals(tmp_path, {"1": 0.25, "0.9": 0.23, "0.8": 0.23, "0.7": 0.27})
    release_model().weigh(tmp_path)
    decision = json.loads((tmp_path / "fine-tuned-weight.json").read_text())
    assert decision["chosen"] == 0.9 and decision["dev_set"] == "data/dev-300.jsonl"
    assert list(decision["dev_wer"]) == ["1", "0.9", "0.8", "0.7"]
    sentence = release_model()._weight_sentence({"fine_tuned_weight": decision})
    assert sentence.startswith("The export keeps 0.9 of what fine-tuning changed") and "0.8: 23.0 %" in sentence
    assert release_model()._weight_sentence({"fine_tuned_weight": {"chosen": 1.0}}) == ""  # a card from before weigh


STAND_IN_ASR = """#!/bin/bash
echo "$*" >> "$CALLS"
command="$1 $2"
while [ $# -gt 0 ]; do
  case $1 in --json) json=$2;; --out) out=$2;; --lm) lm=$2;; --model) model=$2;; esac
  shift
done
case $model in *w0.9.safetensors) wer=0.22;; *) wer=0.25;; esac
[ -n "$json" ] && echo "{\\"results\\": [{\\"test_set\\": \\"dev-300.jsonl\\", \\"wer\\": $wer}]}" > "$json"
if [ "$command" = "lm build" ]; then mkdir -p "$out"; elif [ -n "$out" ]; then mkdir -p "$(dirname "$out")" && touch "$out"; fi
[ -n "$lm" ] && echo '{"wer": 0.1}' > "$lm/tuned.json"
exit 0
"""


def test_after_training_tunes_the_lms_on_the_weight_dev_chose_and_rerun_redoes_nothing(tmp_path):
    asr, calls, run, data = tmp_path / "asr", tmp_path / "calls", tmp_path / "run", tmp_path / "data"
    asr.write_text(STAND_IN_ASR)
    asr.chmod(0o755)
    run.mkdir()
    (run / "shipped.json").write_text("{}")  # the checkpoint already chosen
    data.mkdir()
    (data / "dev.jsonl").write_text("{}\n" * 400)
    script = (f"L=xx RUN={run} DATA={data} ASR={asr} PY={sys.executable} FINE_TUNED_WEIGHTS='1 0.9 0.8'; "
              "source recipes/release/after_training.sh; echo WEIGHT=$WEIGHT")
    env = {**os.environ, "CALLS": str(calls)}
    done = subprocess.run(["bash", "-c", "set -euo pipefail; " + script], cwd=SCRIPT.parents[1], env=env,
                          capture_output=True, text=True, check=True)
    assert "WEIGHT=0.9" in done.stdout
    log = calls.read_text().splitlines()
    exports = [c for c in log if c.startswith("export")]
    assert [c.split("--fine-tuned-weight ")[1].split()[0] for c in exports] == ["1", "0.9", "0.8"]
    assert all("--bits 16" in c for c in exports)
    tunes = [c for c in log if c.startswith("lm tune")]
    assert len(tunes) == 2 and all(f"--model {run}/weights/w0.9.safetensors" in c for c in tunes)
    assert json.loads((run / "dev-300-greedy.json").read_text())["results"][0]["wer"] == 0.22
    assert (run / "weighted.safetensors").exists()  # the leaderboard's 16-bit row
    assert len((data / "dev-300.jsonl").read_text().splitlines()) == 300
    calls.write_text("")
    subprocess.run(["bash", "-c", "set -euo pipefail; " + script], cwd=SCRIPT.parents[1], env=env, check=True,
                   capture_output=True)
    assert calls.read_text() == ""  # every weight scored, the LMs tuned: nothing again


def test_the_card_takes_the_train_facts_from_the_corpus_the_run_trained_on(tmp_path):
    train_split_card = release_model().train_split_card
    corpus, beside, run = tmp_path / "release-it", tmp_path / "release-it-accented", tmp_path / "run"
    for folder in (corpus, beside, run):
        folder.mkdir()
        (folder / "dataset_card.json").write_text("{}")
    assert train_split_card(run, {"train_manifest": str(beside / "train.jsonl")}, corpus) == beside / "dataset_card.json"
    assert train_split_card(run, {"train_manifest": str(corpus / "train.jsonl")}, corpus) == corpus / "dataset_card.json"
    assert train_split_card(run, {}, corpus) == corpus / "dataset_card.json"
    (beside / "dataset_card.json").unlink()  # a manifest whose folder has no card: the corpus's
    assert train_split_card(run, {"train_manifest": str(beside / "train.jsonl")}, corpus) == corpus / "dataset_card.json"
    (run / "trained_on.json").write_text("{}")  # trained on a lent GPU: the card it brought
    assert train_split_card(run, {"train_manifest": str(corpus / "train.jsonl")}, corpus) == run / "dataset_card.json"
