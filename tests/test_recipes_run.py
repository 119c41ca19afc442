"""recipes/run.sh's order of work, with a stand-in for `asr` that only writes the files each command would."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FAKE_ASR = """#!/bin/bash
echo "$*" >> "$CALLS"
command=$1 subcommand=$2
while [ $# -gt 0 ]; do
  case $1 in --out-dir) out=$2;; --json) json=$2;; --out) data=$2;; --lm) lm=$2;; esac
  shift
done
case $command in
  train) mkdir -p "$out" && touch "$out/last.safetensors";;
  eval) touch "$json";;
  lm) case $subcommand in build) mkdir -p "$data" && touch "$data/lm.bin";; tune) touch "$lm/tuned.json";; esac;;
  data) mkdir -p "$data" && echo '{}' > "$data/dataset_card.json" && touch "$data/train.jsonl" "$data/dev.jsonl" "$data/test.jsonl";;
esac
"""


def run_recipe(tmp_path: Path, *sections: str) -> list[str]:
    fake = tmp_path / "asr"
    fake.write_text(FAKE_ASR)
    fake.chmod(0o755)
    calls = tmp_path / "calls"
    calls.write_text("")
    env = {**os.environ, "ASR": str(fake), "PY": "true", "CALLS": str(calls), "RUNS": str(tmp_path / "runs"),
           "RELEASE_DE": str(tmp_path / "release-de"), "RELEASES": str(tmp_path / "data"), "EN": str(tmp_path / "release-en"),
           "EN_BUDGETS": "100 200", "EN_AUGMENTED_BUDGETS": "50 150", "PAPER_BUDGETS": "900 3600", "PAPER_FRACTIONS": "0.125 1.0"}
    subprocess.run(["bash", str(ROOT / "recipes" / "run.sh"), *sections], cwd=tmp_path, env=env, check=True,
                   capture_output=True)
    return calls.read_text().splitlines()


def test_paper_table_comes_budget_by_budget_and_a_rerun_redoes_nothing(tmp_path):
    calls = run_recipe(tmp_path, "paper")
    trains = [c for c in calls if c.startswith("train ")]
    english = [c for c in trains if "paper/english --time-budget" in c]
    assert [c.split("--time-budget ")[1].split()[0] for c in english] == ["100", "200"]
    augmented = [c for c in trains if "paper/english-augmented --time-budget" in c]
    assert [c.split("--time-budget ")[1].split()[0] for c in augmented] == ["50", "150"]
    assert all(f"--init {tmp_path}/runs/paper/english/at-200.safetensors" in c for c in augmented)  # stage 1's last model
    with_lm = [c for c in calls if c.startswith("eval ") and "--decoder beam" in c]
    assert len(with_lm) == 1 and f"--model {tmp_path}/runs/paper/english-augmented/at-150.safetensors" in with_lm[0]
    assert calls.index(next(c for c in calls if c.startswith("lm tune"))) < calls.index(with_lm[0])
    german = [c for c in trains if "--out-dir " + str(tmp_path / "runs/paper/german-") in c]
    assert len(german) == 2 * 2 * 5  # budgets x data sizes x (4 frozen settings + scratch)
    budgets = [c.split("--time-budget ")[1].split()[0] for c in german]
    assert budgets == ["900"] * 10 + ["3600"] * 10  # the whole table at 900 s before any run goes on to 3600 s
    assert all(f"--init {tmp_path}/runs/paper/english-augmented/at-150.safetensors" in c for c in german if "scratch" not in c)
    evals = [c for c in calls if c.startswith("eval ") and "/paper/german-" in c]
    assert len(evals) == 20 and sum("--baseline" in c for c in evals) == 16
    assert run_recipe(tmp_path, "paper") == []  # every corpus, checkpoint and score kept: nothing is built again


def test_learning_choices_score_each_run_against_the_recipe_as_soon_as_it_is_trained(tmp_path):
    calls = run_recipe(tmp_path, "learning_choices")
    work = [c for c in calls if c.startswith(("train", "eval"))]
    root = tmp_path / "runs" / "learning_choices"
    assert work[0] == f"train --config recipes/release/de.toml --out-dir {root}/recipe --time-budget 900 --max-steps 0 --freeze-layers 2 --lr-encoder 3e-4"
    assert work[1].startswith(f"eval --model {root}/recipe/at-900.safetensors --manifest")  # the recipe: no baseline
    freeze_0 = work.index(f"train --config recipes/release/de.toml --out-dir {root}/freeze-0 --time-budget 900 --max-steps 0 --freeze-layers 0 --lr-encoder 3e-4")
    # scored (clean, then telephone) before the next choice trains
    assert work[freeze_0 + 1].startswith(f"eval --model {root}/freeze-0/at-900.safetensors --baseline {root}/recipe/at-900.safetensors")
    assert "telephone" in work[freeze_0 + 2] and work[freeze_0 + 3].startswith("train")
    assert sum(c.startswith("train") for c in work) == 6 and sum(c.startswith("eval") for c in work) == 12
    rerun = run_recipe(tmp_path, "learning_choices")
    assert not [c for c in rerun if c.startswith(("train", "eval"))]  # all done: a rerun trains and scores nothing


@pytest.mark.parametrize("section, choices", [
    ("augment_choices", {"recipe": " --freeze-layers 4", "speed-0.5": " --freeze-layers 4 --augment noise_prob=0.3,gain_prob=0.3,reverb_prob=0.1,telephone_prob=0.25,speed_prob=0.5"}),
    ("settings_choices", {"recipe": " --freeze-layers 4", "freeze-5": " --freeze-layers 5", "freeze-6": " --freeze-layers 6",
                          "lr-encoder-3e-5": " --freeze-layers 4 --lr-encoder 3e-5", "freeze-3": " --freeze-layers 3"}),
])
def test_choices_are_trained_against_their_own_run_of_the_recipe(tmp_path, section, choices):
    calls = run_recipe(tmp_path, section)
    root = tmp_path / "runs" / section
    train = f"train --config recipes/release/de.toml --out-dir {root}/{{}} --time-budget 900 --max-steps 0"
    assert [c for c in calls if c.startswith("train")] == [train.format(name) + options for name, options in choices.items()]
    for name in list(choices)[1:]:  # clean and telephone, each against the recipe's own run
        assert sum(c.startswith(f"eval --model {root}/{name}/at-900.safetensors --baseline {root}/recipe/at-900.safetensors")
                   for c in calls) == 2


def test_training_options_are_trained_at_equal_steps_on_the_recipes_train_split(tmp_path):
    calls = run_recipe(tmp_path, "german_training_options")
    root = tmp_path / "runs" / "german_training_options"
    train = (f"train --config recipes/release/de.toml --out-dir {root}/{{}} --train-manifest {tmp_path}/data/release-de/train.jsonl "
             "--max-steps 500 --time-budget 1000000 --eval-every 0")
    assert [c for c in calls if c.startswith("train")] == [
        train.format("recipe"), train.format("tri-stage") + " --schedule tri-stage",
        train.format("augment-2x") + " --augment noise_prob=0.6,gain_prob=0.6,reverb_prob=0.2,telephone_prob=0.5",
        train.format("augment-half") + " --augment noise_prob=0.15,gain_prob=0.15,reverb_prob=0.05,telephone_prob=0.125",
        train.format("dropout-0.1") + " --dropout 0.1", train.format("freeze-2") + " --freeze-layers 2",
    ]
    for name in ("tri-stage", "augment-2x", "augment-half", "dropout-0.1", "freeze-2"):  # clean and telephone, each against the recipe's run
        assert sum(c.startswith(f"eval --model {root}/{name}/at-500.safetensors --baseline {root}/recipe/at-500.safetensors")
                   for c in calls) == 2
    rerun = run_recipe(tmp_path, "german_training_options")
    assert not [c for c in rerun if c.startswith(("train", "eval"))]


def test_freezing_is_measured_again_at_more_steps(tmp_path):
    calls = run_recipe(tmp_path, "german_freezing_longer")
    root = tmp_path / "runs" / "german_freezing_longer"
    train = (f"train --config recipes/release/de.toml --out-dir {root}/{{}} --train-manifest {tmp_path}/data/release-de/train.jsonl "
             "--max-steps 1000 --time-budget 1000000 --eval-every 0")
    assert [c for c in calls if c.startswith("train")] == [train.format("recipe"), train.format("freeze-2") + " --freeze-layers 2"]
    assert sum(c.startswith(f"eval --model {root}/freeze-2/at-1000.safetensors --baseline {root}/recipe/at-1000.safetensors")
               for c in calls) == 2


def test_vocalised_r_is_trained_at_equal_steps_against_the_recipes_train_split(tmp_path):
    calls = run_recipe(tmp_path, "german_vocalised_r")
    data, root = tmp_path / "data", tmp_path / "runs" / "german_vocalised_r"
    assert f"data synth --lang de --hours 20 --splits train --vocalised-r --out {data}/release-de-vocalised-r" in calls
    train = (f"train --config recipes/release/de.toml --out-dir {root}/{{}} --train-manifest {{}}/train.jsonl "
             "--max-steps 500 --time-budget 1000000 --eval-every 0")
    assert [c for c in calls if c.startswith("train")] == [
        train.format("recipe", data / "release-de"), train.format("vocalised-r", data / "release-de-vocalised-r")]
    assert sum(c.startswith(f"eval --model {root}/vocalised-r/at-500.safetensors --baseline {root}/recipe/at-500.safetensors")
               for c in calls) == 2
