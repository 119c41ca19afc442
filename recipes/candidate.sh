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
mkdir -p $OUT
[ -f $DATA-telephone/test.jsonl ] || $ASR data augment $DATA/test.jsonl --telephone --out $DATA-telephone

$ASR train --config recipes/release/$L.toml --out-dir $RUN --time-budget 1000000 "$@"
source recipes/release/after_training.sh   # shipped.safetensors, WEIGHT, its LMs tuned, dev-300-greedy.json
[ -f $RUN/export/model.safetensors ] || $ASR export --model $RUN/shipped.safetensors --out $RUN/export/model.safetensors $EXPORT --fine-tuned-weight $WEIGHT
[ -d $RUN/models-$L ] || $PY recipes/release_model.py stage --lang "$L" --run $RUN --out $RUN/models-$L
for set in $DATA/test.jsonl $DATA-telephone/test.jsonl; do
  tag=$(basename "$(dirname "$set")")
  [ -f $RUN/$tag-default.json ] || $ASR eval --model $RUN/models-$L --baseline models/$L --manifest $set --json $RUN/$tag-default.json
  [ -f $RUN/$tag-greedy.json ] || $ASR eval --model $RUN/models-$L --decoder greedy --baseline models/$L --manifest $set --json $RUN/$tag-greedy.json
done

cp $RUN/config.toml $OUT/train-config.toml; cp $RUN/log.jsonl $OUT/train-log.jsonl
# dev-300-greedy.json compressed: its per-utterance lists take 200 KB, and the tree travels to a GPU machine within 64 MiB
cp $RUN/shipped.json $OUT/checkpoint-choice.json; xz -c $RUN/dev-300-greedy.json > $OUT/dev-300-greedy.json.xz
cp $RUN/fine-tuned-weight.json $OUT/
cp $RUN/lm-prune0/tuned.json $OUT/lm-prune0-tuned.json; cp $RUN/lm-prune1/tuned.json $OUT/lm-prune1-tuned.json
cp $RUN/models-$L/card.json $OUT/card-staged.json
# The comparisons' tables (the per-utterance JSON stays in the run folder: about 1 MB each).
for tag in $(basename $DATA) $(basename $DATA)-telephone; do
  for decoding in default greedy; do
    $ASR eval --rescore $RUN/$tag-$decoding.json --markdown $OUT/$tag-$decoding.md > /dev/null
  done
done
