#!/usr/bin/env bash
# The German release recipe (recipes/release/de.toml, the shipped model's 5218 steps) on the 20 h corpus the builder
# makes since e73bdad: MBROLA de8, a training voice, spoken through a renamed .pho file (5.4 missing diphones a
# sentence -> 0.04); its other voices, dev and test the same as before. Then the candidate against models/de on the
# whole held-out-voice test set and its telephone variant, default decoding and greedy, paired bootstrap.
#   bash docs/results/release-de/mbrola-de8/run.sh 2>&1 | tee -a runs/mbrola-de8-de.log
set -euo pipefail
cd "$(dirname "$0")/../../../.."
ASR=${ASR:-.venv/bin/asr}
[ -f data/release-de/dataset_card.json ] || $ASR data synth --lang de --hours 20 --out data/release-de
bash recipes/candidate.sh de mbrola-de8 --max-steps 5218
