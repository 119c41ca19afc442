#!/usr/bin/env bash
# Does training from whisper-base's int8 form (what travels to a lent GPU) cost anything once its change is put back
# onto the true weights (bundle.py rebase)? The demo's fine-tuning at a fixed number of steps, from the true weights
# and from the int8 ones; the int8 run scored rebased and as trained, each against the true-weights run (paired
# bootstrap) on the demo corpus's test set. Record: docs/results/gpu_release/int8-init/.
#   bash recipes/gpu_release/int8_init.sh        (STEPS=200: about 10 minutes on 2 idle cores)
set -euo pipefail
cd "$(dirname "$0")/../.."
ASR=${ASR:-.venv/bin/asr}
PY=${PY:-.venv/bin/python}
DATA=${DATA:-data/synth-de}
RUNS=${RUNS:-runs/gpu_release/int8-init}
OUT=${OUT:-docs/results/gpu_release/int8-init}
STEPS=${STEPS:-200}
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
[ -f $DATA/dataset_card.json ] || $ASR data synth --lang de --utterances 1000 --out $DATA
$PY recipes/gpu_release/bundle.py weights --bundle $RUNS/no-bundle --out $RUNS/whisper-base-int8.pt
for init in whisper-base $RUNS/whisper-base-int8.pt; do
  name=$([ $init = whisper-base ] && echo true-weights || echo int8-weights)
  # The demo's settings (Makefile), at a fixed number of steps rather than a time budget: the same training both times.
  $ASR train --train-manifest $DATA/train.jsonl --out-dir $RUNS/$name --init $init --freeze-layers 3 --lr-head 2e-3 \
    --lr-encoder 2e-4 --warmup-steps 20 --batch-seconds 30 --max-steps $STEPS
done
$PY recipes/gpu_release/bundle.py delta --checkpoint $RUNS/int8-weights/last.safetensors --base $RUNS/whisper-base-int8.pt \
  --out $RUNS/parts --name de
$PY recipes/gpu_release/bundle.py rebase $RUNS/parts/de.delta.part* --run $RUNS/int8-rebased
mkdir -p $OUT
$ASR eval --model $RUNS/int8-rebased/best.safetensors --model $RUNS/int8-weights/last.safetensors \
  --baseline $RUNS/true-weights/last.safetensors --manifest $DATA/test.jsonl --json $OUT/eval.json --markdown $OUT/eval.md
echo "DATA=$DATA STEPS=$STEPS bash recipes/gpu_release/int8_init.sh; $(nproc) cores, load average before: $LOAD_BEFORE" > $OUT/command.txt
