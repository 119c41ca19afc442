#!/usr/bin/env bash
# The shipped German model's word errors on the whole held-out-voice test set, by test voice and word class
# (word_classes.py), greedy and with its default decoding (beam 500 with the LM). The evaluations go to RUN and are
# reused when rerun.
#   bash docs/results/release-de/pico-errors/run.sh
set -euo pipefail
cd "$(dirname "$0")/../../../.."
ASR=${ASR:-.venv/bin/asr} PY=${PY:-.venv/bin/python} OUT=docs/results/release-de/pico-errors RUN=${RUN:-runs/pico-errors-de}
mkdir -p $RUN
[ -f $RUN/greedy.json ] || $ASR eval --model de --decoder greedy --manifest data/release-de/test.jsonl --json $RUN/greedy.json
[ -f $RUN/default.json ] || $ASR eval --model de --manifest data/release-de/test.jsonl --json $RUN/default.json
for decoding in greedy default; do
  $PY $OUT/word_classes.py $RUN/$decoding.json data/release-de/test.jsonl > $OUT/$decoding.md
  cat $OUT/$decoding.md
done
