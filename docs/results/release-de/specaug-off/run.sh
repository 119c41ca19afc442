#!/usr/bin/env bash
# The German release recipe as shipped since 2026-12-05 (the 20 h corpus, 5218 steps, recipes/release/de.toml) with
# one change, SpecAugment off, which gained 2.6 greedy points in 900 s runs of the older recipe (docs/RESULTS.md, the
# release recipe's learning settings) but was never tried at full length; then the candidate against the shipped
# models/de on the 10 h corpus's whole held-out-voice test set and its telephone variant, default decoding and
# greedy, paired bootstrap; its LM built and tuned as the recipe does.
#   bash docs/results/release-de/specaug-off/run.sh 2>&1 | tee -a runs/specaug-off-de.log
# Written inline when it ran; the same steps since in recipes/candidate.sh, which this calls.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
DATA=data/release-de bash recipes/candidate.sh de specaug-off --train-manifest data/release-de-20h/train.jsonl \
  --no-spec-augment --max-steps 5218
