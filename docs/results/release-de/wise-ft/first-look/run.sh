#!/usr/bin/env bash
# The 3-frozen German candidate (../freeze-3) with its encoder averaged with the pretrained one in weight space
# (WiSE-FT: `asr export --fine-tuned-weight W`, the head as trained): W chosen on dev-300 greedy (a voice never
# trained on, as the test voices), then at 4 bits with its own LM weights tuned on dev-300, against models/de on the
# whole held-out-voice test set and its telephone variant, default decoding and greedy, paired bootstrap.
#   bash docs/results/release-de/wise-ft/first-look/run.sh 2>&1 | tee -a runs/wise-ft-de.log
set -euo pipefail
cd "$(dirname "$0")/../../../../.."
ASR=${ASR:-.venv/bin/asr} PY=${PY:-.venv/bin/python}
FROM=runs/freeze-3-de RUN=runs/wise-ft-de OUT=docs/results/release-de/wise-ft/first-look DATA=data/release-de
mkdir -p $RUN
for w in 1 0.95 0.9 0.85 0.8 0.7; do
  [ -f $RUN/dev-300-w$w.json ] && continue
  $ASR export --model $FROM/shipped.safetensors --bits 16 --fine-tuned-weight $w --out $RUN/w$w.safetensors
  $ASR eval --model $RUN/w$w.safetensors --decoder greedy --manifest $DATA/dev-300.jsonl --json $RUN/dev-300-w$w.json
done
$PY - "$RUN" > $OUT/dev-300-greedy.md <<'PY'
import json, sys
from pathlib import Path
rows = sorted((json.loads(p.read_text())["results"][0]["wer"], p.stem.split("-w")[1]) for p in Path(sys.argv[1]).glob("dev-300-w*.json"))
print("| fine-tuned weight | dev-300 greedy WER % |\n|---:|---:|")
for wer, w in sorted(rows, key=lambda r: -float(r[1])):
    print(f"| {w} | {100 * wer:.1f} |")
print(f"\nchosen: {rows[0][1]}")
PY
W=$(sed -n 's/^chosen: //p' $OUT/dev-300-greedy.md)
cat $OUT/dev-300-greedy.md
[ -f $RUN/model/model.safetensors ] || $ASR export --model $FROM/shipped.safetensors --fine-tuned-weight $W --out $RUN/model/model.safetensors
if [ ! -f $RUN/lm/tuned.json ]; then
  rm -rf $RUN/lm && cp -r $FROM/lm-prune0 $RUN/lm && rm -f $RUN/lm/tuned.json
  $ASR lm tune --lm $RUN/lm --model $RUN/model/model.safetensors --manifest $DATA/dev-300.jsonl \
    --lm-weights 1.5,2.5,3.5 --word-scores=-1,0,1.5
fi
for set in $DATA/test.jsonl $DATA-telephone/test.jsonl; do
  tag=$(basename "$(dirname "$set")")
  [ -f $RUN/$tag-default.json ] || $ASR eval --model $RUN/model/model.safetensors --lm $RUN/lm --baseline models/de --manifest $set --json $RUN/$tag-default.json
  [ -f $RUN/$tag-greedy.json ] || $ASR eval --model $RUN/model/model.safetensors --decoder greedy --baseline models/de --manifest $set --json $RUN/$tag-greedy.json
  for decoding in default greedy; do
    $ASR eval --rescore $RUN/$tag-$decoding.json --markdown $OUT/$tag-$decoding.md > /dev/null
  done
done
cp $RUN/lm/tuned.json $OUT/lm-tuned.json
