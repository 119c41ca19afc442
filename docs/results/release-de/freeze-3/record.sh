#!/usr/bin/env bash
# The 3-frozen candidate's training so far, recorded while it runs: its log, and its dev WER and CER beside the shipped
# run's at the same steps (dev-curve.md). recipes/candidate.sh writes the finished record here when the run ends.
#   bash docs/results/release-de/freeze-3/record.sh
set -euo pipefail
cd "$(dirname "$0")/../../../.."
PY=${PY:-.venv/bin/python} OUT=docs/results/release-de/freeze-3 RUN=${RUN:-runs/freeze-3-de}
cp $RUN/log.jsonl $OUT/train-log.jsonl
$PY recipes/dev_curve.py "3 frozen=$OUT/train-log.jsonl" "shipped (4 frozen)=docs/results/release-de/specaug-off/train-log.jsonl" \
  --dev data/release-de/dev.jsonl > $OUT/dev-curve.md
cat $OUT/dev-curve.md
# After the run: the candidate at the shipped model's word score (0) instead of the 1.5 its dev tuning chose, on the
# whole test set, to see whether that choice is what it loses by with the LM (it is not: +1.1 points still).
# The run's outputs at the whole of its change went to RUN/whole-weight when ../wise-ft reran its after-training steps.
W=$RUN/whole-weight
[ -f $W/release-de-default-word-score-0.json ] || ${ASR:-.venv/bin/asr} eval --model $W/models-de --word-score 0 \
  --baseline models/de --manifest data/release-de/test.jsonl --json $W/release-de-default-word-score-0.json
${ASR:-.venv/bin/asr} eval --rescore $W/release-de-default-word-score-0.json --markdown $OUT/release-de-default-word-score-0.md > /dev/null
