#!/usr/bin/env bash
# The German release recipe on twice the hours (20 h corpus: 16 h of training speech, about 14,000 training sentences
# against 7,089), at the shipped run's 5218 steps, everything else as recipes/release.sh de does it; then the candidate
# against the shipped models/de on the whole held-out-voice test set of the 10 h corpus (the 20 h corpus's first test
# utterances are the same jobs) and its telephone variant, default decoding and greedy, paired bootstrap.
#   bash docs/results/release-de/hours-20/run.sh 2>&1 | tee -a runs/hours-20-de.log
set -euo pipefail
cd "$(dirname "$0")/../../../.."
ASR=${ASR:-.venv/bin/asr} PY=${PY:-.venv/bin/python}
DATA=data/release-de-20h RUN=runs/hours-20-de OUT=docs/results/release-de/hours-20
# The 10 h corpus's WAVs are the 20 h build's first jobs: linked, not synthesized again.
[ -d $DATA ] || cp -al data/release-de $DATA
$ASR data synth --lang de --hours 20 --out $DATA   # resumes: a finished build only checks its files
cp $DATA/dataset_card.json $OUT/dataset_card.json; cp $DATA/README.md $OUT/dataset.md
head -n 300 data/release-de/dev.jsonl > data/release-de/dev-300.jsonl
[ -f data/release-de-telephone/test.jsonl ] || $ASR data augment data/release-de/test.jsonl --telephone --out data/release-de-telephone
# Same steps as the shipped run (its schedule set from its own budget), not a time budget: equal compute on any machine.
$ASR train --config recipes/release/de.toml --train-manifest $DATA/train.jsonl --max-steps 5218 --time-budget 1000000 --out-dir $RUN
[ -f $RUN/last-vs-best.json ] || $ASR eval --model $RUN/last.safetensors --baseline $RUN/best.safetensors \
  --manifest data/release-de/dev.jsonl --decoder greedy --json $RUN/last-vs-best.json
[ -f $RUN/shipped.json ] || $PY recipes/release_model.py choose --run $RUN
for prune in 0 1; do
  [ -f $RUN/lm-prune$prune/tuned.json ] && continue
  $ASR lm build --lang de --order 4 --prune $prune --out $RUN/lm-prune$prune
  $ASR lm tune --lm $RUN/lm-prune$prune --model $RUN/shipped.safetensors --manifest data/release-de/dev-300.jsonl \
    --lm-weights 1.5,2.5,3.5 --word-scores=-1,0,1.5
done
[ -f $RUN/dev-300-greedy.json ] || $ASR eval --model $RUN/shipped.safetensors --manifest data/release-de/dev-300.jsonl --json $RUN/dev-300-greedy.json
$ASR export --model $RUN/shipped.safetensors --out $RUN/export/model.safetensors --bits 4
$PY recipes/release_model.py stage --lang de --run $RUN --out $RUN/models-de
for set in data/release-de/test.jsonl data/release-de-telephone/test.jsonl; do
  tag=$(basename "$(dirname "$set")")
  $ASR eval --model $RUN/models-de --baseline models/de --manifest $set --json $RUN/$tag-default.json
  $ASR eval --model $RUN/models-de --decoder greedy --baseline models/de --manifest $set --json $RUN/$tag-greedy.json
done
cp $RUN/config.toml $OUT/train-config.toml 2>/dev/null || true
cp $RUN/log.jsonl $OUT/train-log.jsonl 2>/dev/null || true
cp $RUN/shipped.json $OUT/checkpoint-choice.json
cp $RUN/lm-prune0/tuned.json $OUT/lm-prune0-tuned.json; cp $RUN/lm-prune1/tuned.json $OUT/lm-prune1-tuned.json
cp $RUN/models-de/card.json $OUT/card-staged.json; cp $RUN/dev-300-greedy.json $OUT/
# The record: each comparison's tables (the per-utterance JSON stays in the run folder: 1 MB each).
for report in $RUN/release-de*-{default,greedy}.json; do
  $ASR eval --rescore $report --markdown $OUT/$(basename $report .json).md > /dev/null
done
