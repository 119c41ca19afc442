#!/usr/bin/env bash
# What a German train split built on a lent GPU gives up: its pack (packs/de.json) carries one MBROLA train voice (de8)
# beside espeak-ng's variants, where the CPU release corpus has five. Both train splits, the same hours of the same
# sentences (the GPU one built by bundle.py synth, as there), trained by the release recipe for BUDGET seconds each
# and scored on the first 300 utterances of the German release test set against the release corpus's model.
# Record: docs/results/gpu_release/german-voices/.
#   bash recipes/gpu_release/german_voices.sh     (BUDGET=480: about 35 minutes on 2 idle cores, corpora included)
set -euo pipefail
cd "$(dirname "$0")/../.."
ASR=${ASR:-.venv/bin/asr}
PY=${PY:-.venv/bin/python}
BUDGET=${BUDGET:-480}
RUNS=${RUNS:-runs/gpu_release/german-voices}
OUT=${OUT:-docs/results/gpu_release/german-voices}
DATA=data/release-de
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
[ -f $DATA/dataset_card.json ] || $ASR data synth --lang de --hours 10 --out $DATA
head -n 300 $DATA/test.jsonl > $DATA/test-300.jsonl
[ -f $RUNS/pack/bundle.json ] || $PY recipes/gpu_release/bundle.py pack --langs de --out $RUNS/pack > /dev/null
hours=$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["splits"]["train"]["hours"])' $DATA/dataset_card.json)
[ -f $RUNS/gpu-corpus/dataset_card.json ] || $PY recipes/gpu_release/bundle.py synth --bundle $RUNS/pack --lang de --hours "$hours" --out $RUNS/gpu-corpus
for run in release-voices gpu-voices; do
  manifest=$([ $run = release-voices ] && echo $DATA/train.jsonl || echo $RUNS/gpu-corpus/train.jsonl)
  [ -f $RUNS/$run/last.safetensors ] || $ASR train --config recipes/release/de.toml --train-manifest $manifest \
    --out-dir $RUNS/$run --time-budget "$BUDGET" --eval-every 0 --dev-manifest ""
done
mkdir -p $OUT
$ASR eval --model $RUNS/gpu-voices/last.safetensors --baseline $RUNS/release-voices/last.safetensors \
  --manifest $DATA/test-300.jsonl --json $OUT/eval.json --markdown $OUT/eval.md
cp $RUNS/pack/bundle.json $OUT/pack.json
for run in release-voices gpu-voices; do
  $PY -c 'import json, sys; r = [json.loads(l) for l in open(sys.argv[1])]; s = next(x for x in r if x.get("event") == "start"); e = [x for x in r if x.get("event") == "end"][-1]
print(sys.argv[2], "train hours", round(s["train_hours"], 2), "speakers", s["speakers"], "steps", e["step"], "seconds", round(e["train_seconds"]))' $RUNS/$run/log.jsonl $run
done > $OUT/runs.txt
echo "BUDGET=$BUDGET bash recipes/gpu_release/german_voices.sh; $(nproc) cores, load average before: $LOAD_BEFORE" > $OUT/command.txt
