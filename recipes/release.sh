#!/usr/bin/env bash
# A shipped model for one language, end to end: the release corpus, whisper-base + CTC fine-tuned in bf16 within a
# time budget, the checkpoint to ship, its n-gram LM (unpruned and pruned, weights tuned on dev, the better on dev
# shipped: beam search with it is the model's default decoding), a compact export, the scores against zero-shot
# Whisper base (clean and telephone test sets, paired bootstrap), and models/LANG/ with its model card. Rerunning
# resumes: the corpus, the training run and cached transcripts are reused.
#
#   bash recipes/release.sh de          HOURS=20 for German, 10 for the others; the training length is the
#                                       language's in recipes/release/LANG.toml unless BUDGET=seconds is given
#   bash recipes/against_shipped.sh de HEAD   then: the staged models/de against the one committed, before shipping it
#   bash recipes/candidate.sh de NAME --max-steps N [train flags]   one change to the recipe, at full length, against models/de
set -euo pipefail
cd "$(dirname "$0")/.."
L=${1:?usage: bash recipes/release.sh LANG (de, it or es)}
ASR=${ASR:-.venv/bin/asr}
PY=${PY:-.venv/bin/python}
source recipes/release/settings.sh   # HOURS, EXPORT, FINE_TUNED_WEIGHTS and ACCENTED
BUDGET=${BUDGET:-}      # seconds of training (dev evaluations not counted); empty: the language's time_budget
DATA=data/release-$L
RUN=runs/release/$L

# A finished corpus of HOURS (its dataset card written) is kept as built: the model trained on it is scored on its
# own test split, even after the voice table or the texts change. An interrupted build resumes, one of other hours is
# built to HOURS (a 10 h corpus's files are the first of a 20 h build's), and so is one of dev and test alone (--splits).
$PY -c "import json, sys; card = json.load(open(sys.argv[1]))
sys.exit(card['size'].get('hours') != float(sys.argv[2]) or 'train' not in card['splits'])" \
  $DATA/dataset_card.json "$HOURS" 2>/dev/null || $ASR data synth --lang "$L" --hours "$HOURS" --out $DATA
if [ -n "$ACCENTED" ]; then
  TRAIN_SPLIT=$($PY -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["train_manifest"])' recipes/release/$L.toml)
  [ -f "$TRAIN_SPLIT" ] ||
    $ASR data synth --lang "$L" --hours "$HOURS" --splits train --accented-voices "$ACCENTED" --out "$(dirname "$TRAIN_SPLIT")"
fi
# A run trained on a lent GPU (recipes/gpu_release) arrives as best.safetensors with its log: nothing to train here.
[ -f $RUN/trained_on.json ] || $ASR train --config recipes/release/$L.toml --out-dir $RUN ${BUDGET:+--time-budget "$BUDGET"}

source recipes/release/after_training.sh   # shipped.safetensors, WEIGHT, lm-prune0 and lm-prune1 tuned, dev-300-greedy.json

$ASR data augment $DATA/test.jsonl --telephone --out $DATA-telephone
# The leaderboard scores the first 300 test utterances of each: zero-shot Whisper takes about 1.5 s an utterance on 2 cores.
head -n 300 $DATA/test.jsonl > $DATA/test-300.jsonl
head -n 300 $DATA-telephone/test.jsonl > $DATA-telephone/test-300.jsonl
$ASR export --model $RUN/shipped.safetensors --out $RUN/export/model.safetensors $EXPORT --fine-tuned-weight $WEIGHT
$PY recipes/release_model.py stage --lang "$L" --run $RUN --out models/$L
$ASR leaderboard --config recipes/release/leaderboard-$L.toml
$PY recipes/release_model.py card --lang "$L" --run $RUN --data $DATA --out models/$L \
  --leaderboard $RUN/leaderboard/leaderboard.json --command "bash recipes/release.sh $L (HOURS=$HOURS${BUDGET:+ BUDGET=$BUDGET} EXPORT='$EXPORT')"
