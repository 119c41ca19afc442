#!/usr/bin/env bash
# The shipped model of LANG scored again, on its release corpus's dev and test splits as the corpus builder speaks them
# now (rebuilt in place, reusing every WAV whose voice is synthesized as before; the telephone channel after them):
# its release leaderboard (runs/release/LANG, the run it shipped from) and its card's scores, the card's data and
# training facts kept (release_model.py rescore); a copy of the leaderboard in docs/results/release-LANG/.
#   bash recipes/rescore.sh es
# COMMAND= is the command the card names for its scores (default: this one; recipes/ship_reweighed.sh gives its own).
set -euo pipefail
cd "$(dirname "$0")/.."
L=${1:?usage: bash recipes/rescore.sh LANG}
ASR=${ASR:-.venv/bin/asr} PY=${PY:-.venv/bin/python}
source recipes/release/settings.sh   # HOURS
DATA=data/release-$L
COMMAND=${COMMAND:-bash recipes/rescore.sh $L}
$ASR data synth --lang "$L" --hours "$HOURS" --splits dev,test --out $DATA
$ASR data augment $DATA/test.jsonl --telephone --out $DATA-telephone
head -n 300 $DATA/test.jsonl > $DATA/test-300.jsonl
head -n 300 $DATA-telephone/test.jsonl > $DATA-telephone/test-300.jsonl
$ASR leaderboard --config recipes/release/leaderboard-$L.toml
$PY recipes/release_model.py rescore --lang "$L" --out models/$L --leaderboard runs/release/$L/leaderboard/leaderboard.json \
  --default-row "$L (shipped: compact, default decoding)" --command "$COMMAND"
cp runs/release/$L/leaderboard/leaderboard.{json,md,png} docs/results/release-$L/
