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
$PY - $OUT/train-log.jsonl docs/results/release-de/hours-20/train-log.jsonl data/release-de/dev.jsonl > $OUT/dev-curve.md <<'PY'
import json, sys
def evals(path):
    return {r["step"]: r for r in map(json.loads, open(path)) if "dev_wer" in r}
pieces, characters = map(evals, sys.argv[1:3])
dev = sum(1 for _ in open(sys.argv[3]))
print(f"Dev set ({dev} utterances of a voice never trained on), greedy decoding; seconds of training at each step.\n")
print("| step | pieces: dev WER % | dev CER % | training s | characters: dev WER % | dev CER % | training s |")
print("|---:|---:|---:|---:|---:|---:|---:|")
for step in sorted(set(pieces) & set(characters)):
    p, c = pieces[step], characters[step]
    print(f"| {step} | {100 * p['dev_wer']:.1f} | {100 * p['dev_cer']:.1f} | {p['train_seconds']:.0f} "
          f"| {100 * c['dev_wer']:.1f} | {100 * c['dev_cer']:.1f} | {c['train_seconds']:.0f} |")
PY
cat $OUT/dev-curve.md
