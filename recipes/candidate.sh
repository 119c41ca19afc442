#!/usr/bin/env bash
# One change to a language's release recipe, tried at full length against the model shipped: the recipe's training
# (recipes/release/LANG.toml) with the given `asr train` flags for a fixed number of steps (equal compute on any
# machine, where a time budget would not be), then what recipes/release.sh does after training (the checkpoint choice,
# the LMs built and tuned on dev, the export), staged as RUN/models-LANG, and that model against models/LANG on the
# whole held-out-voice test set and its telephone variant, default decoding and greedy, paired bootstrap. Rerunning
# resumes. The record (configs, logs, the comparisons' tables) goes to docs/results/release-LANG/NAME; a candidate
# that wins ships with runs/release/LANG pointing at RUN and `bash recipes/release.sh LANG`.
#   bash recipes/candidate.sh es specaug-off --no-spec-augment --max-steps 2300
# RUN (default runs/NAME-LANG) is the run folder; DATA (default data/release-LANG, as release.sh builds it) the corpus
# whose dev and test splits score the candidate (--train-manifest may train it on another).
set -euo pipefail
cd "$(dirname "$0")/.."
USAGE="usage: bash recipes/candidate.sh LANG NAME --max-steps N [asr train flags]"
L=${1:?$USAGE} NAME=${2:?$USAGE}
shift 2
[[ " $* " == *" --max-steps "* ]] || { echo "$USAGE (the shipped run's steps, for equal compute)" >&2; exit 2; }
ASR=${ASR:-.venv/bin/asr} PY=${PY:-.venv/bin/python}
source recipes/release/settings.sh   # EXPORT and FINE_TUNED_WEIGHTS
DATA=${DATA:-data/release-$L} RUN=${RUN:-runs/$NAME-$L} OUT=docs/results/release-$L/$NAME
[ -f $DATA/test.jsonl ] || { echo "no corpus at $DATA: build it with bash recipes/release.sh $L, or set DATA" >&2; exit 2; }

$ASR train --config recipes/release/$L.toml --out-dir $RUN --time-budget 1000000 "$@"
source recipes/release/after_training.sh   # shipped.safetensors, WEIGHT, its LMs tuned, dev-300-greedy.json
source recipes/release/score_candidate.sh   # the export, staged, against models/LANG; the record in OUT
