# A candidate for models/LANG scored against it, after recipes/release/after_training.sh: the export (EXPORT, the
# chosen WEIGHT), staged as RUN/models-LANG, and that model against models/LANG on the whole held-out-voice test set
# and its telephone variant, default decoding and greedy, paired bootstrap; the record (the run's choices, its config
# and log where it trained, the comparisons' tables) goes to OUT. Sourced with L, RUN, DATA, OUT, EXPORT, WEIGHT, ASR
# and PY set by recipes/candidate.sh and recipes/reweigh.sh; each step is skipped where its output is there.
[ -f $DATA-telephone/test.jsonl ] || $ASR data augment $DATA/test.jsonl --telephone --out $DATA-telephone
[ -f $RUN/export/model.safetensors ] || $ASR export --model $RUN/shipped.safetensors --out $RUN/export/model.safetensors $EXPORT --fine-tuned-weight $WEIGHT
[ -d $RUN/models-$L ] || $PY recipes/release_model.py stage --lang "$L" --run $RUN --out $RUN/models-$L
for set in $DATA/test.jsonl $DATA-telephone/test.jsonl; do
  tag=$(basename "$(dirname "$set")")
  [ -f $RUN/$tag-default.json ] || $ASR eval --model $RUN/models-$L --baseline models/$L --manifest $set --json $RUN/$tag-default.json
  [ -f $RUN/$tag-greedy.json ] || $ASR eval --model $RUN/models-$L --decoder greedy --baseline models/$L --manifest $set --json $RUN/$tag-greedy.json
done

mkdir -p $OUT
[ ! -f $RUN/config.toml ] || cp $RUN/config.toml $OUT/train-config.toml
[ ! -f $RUN/log.jsonl ] || cp $RUN/log.jsonl $OUT/train-log.jsonl
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
