#!/usr/bin/env bash
# The German release recipe with word pieces (`--pieces 512`: the model emits 399 BPE pieces learnt from its training
# transcripts as well as the characters, each word spelt longest piece first) against the character model shipped then
# (runs/hours-20-de, recorded in ../hours-20), everything else equal: the 20 h corpus, de.toml's settings as they were then
# (SpecAugment on) and 5218-step schedule. Stopped by hand after the dev evaluation at step 3000, 15 points behind (the dev curve below);
# then the two runs' dev WER and CER by step, from their logs, to dev-curve.md.
#   bash docs/results/release-de/pieces/run.sh 2>&1 | tee -a runs/pieces-de.log
set -euo pipefail
cd "$(dirname "$0")/../../../.."
ASR=${ASR:-.venv/bin/asr} PY=${PY:-.venv/bin/python}
OUT=docs/results/release-de/pieces
if [ "${TRAIN:-1}" = 1 ]; then
  $ASR train --config recipes/release/de.toml --train-manifest data/release-de-20h/train.jsonl --pieces 512 --spec-augment \
    --max-steps 5218 --time-budget 1000000 --out-dir runs/pieces-de
  cp runs/pieces-de/config.toml $OUT/train-config.toml; cp runs/pieces-de/log.jsonl $OUT/train-log.jsonl
fi
$PY recipes/dev_curve.py pieces=$OUT/train-log.jsonl characters=docs/results/release-de/hours-20/train-log.jsonl \
  --dev data/release-de/dev.jsonl > $OUT/dev-curve.md
cat $OUT/dev-curve.md
