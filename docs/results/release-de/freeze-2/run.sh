#!/usr/bin/env bash
# The German release recipe (recipes/release/de.toml, the shipped model's 5218 steps) with 2 of the encoder's 6 layers
# frozen instead of 3, through the release steps after training (dev chooses the fine-tuned weight, the LMs tuned on
# dev, the 4-bit export), then against models/de on the whole held-out-voice test set and its telephone variant,
# default decoding and greedy, paired bootstrap (recipes/candidate.sh writes those records here). --eval-every 0: no
# dev pass during training, only the final one. Rerunning resumes; then dev-curve.md beside the shipped run's.
#   bash docs/results/release-de/freeze-2/run.sh 2>&1 | tee -a runs/freeze-2-de.log
set -euo pipefail
cd "$(dirname "$0")/../../../.."
ASR=${ASR:-.venv/bin/asr} PY=${PY:-.venv/bin/python} OUT=docs/results/release-de/freeze-2
[ -f data/release-de/dataset_card.json ] || $ASR data synth --lang de --hours 20 --out data/release-de
bash recipes/candidate.sh de freeze-2 --max-steps 5218 --freeze-layers 2 --eval-every 0
$PY recipes/dev_curve.py "2 frozen=$OUT/train-log.jsonl" "shipped (3 frozen)=docs/results/release-de/freeze-3/train-log.jsonl" \
  --dev data/release-de/dev.jsonl > $OUT/dev-curve.md
