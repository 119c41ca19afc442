#!/usr/bin/env bash
# The release trainings on a lent GPU machine, in one `device` call (recipes/gpu_release/README.md): for each language
# packed into .gpu/, synthesize its train split on the machine's cores, train whisper-base + CTC in bf16 from the
# carried int8 weights with the language's release recipe, and write what training changed to $OUT.
#   there:  bash recipes/gpu_release/run.sh              (device run, carry .gpu and .whl, timeout_s 600)
#   here:   bash recipes/gpu_release/run.sh --dry        (CPU, tiny: proves the script end to end, with this
#           machine's own synthesizers hidden, so that only the carried ones can speak)
# Per language: HOURS of train speech (default 6), BUDGET seconds of training (default 150) in steps of BATCH_SECONDS
# of audio (default 240), the cosine schedule over the steps the budget reaches (MAX_STEPS=0: measured over the
# WARMUP steps, default 100; or a number).
set -euo pipefail
cd "$(dirname "$0")/../.."
DRY=${DRY:-}
if [ "${1:-}" = "--dry" ] && [ -z "$DRY" ]; then
  # A mount namespace where the system's espeak-ng, its data and the MBROLA voices are gone.
  exec unshare -m bash -c '
    mount -t tmpfs none /usr/share/mbrola
    mount -t tmpfs none /usr/lib/x86_64-linux-gnu/espeak-ng-data
    for f in /usr/bin/espeak-ng /usr/bin/mbrola /usr/lib/x86_64-linux-gnu/libespeak-ng.so.1; do mount --bind /dev/null "$(readlink -f "$f")"; done
    DRY=1 exec bash "$0"' "$0"
fi
BUNDLE=${BUNDLE:-.gpu}  # what bundle.py pack wrote
OUT=${OUT:-runs/gpu_release/out}
WORK=${WORK:-/tmp/gpu_release}
PY=${PY:-python3}
if [ -n "$DRY" ]; then
  [ -x .venv/bin/python ] && PY=.venv/bin/python
  HOURS=${HOURS:-0.01} MAX_STEPS=${MAX_STEPS:-0} WARMUP=${WARMUP:-3} BATCH_SECONDS=${BATCH_SECONDS:-20} BUDGET=${BUDGET:-15} DEVICE=cpu JOBS=2
else
  HOURS=${HOURS:-6} MAX_STEPS=${MAX_STEPS:-0} WARMUP=${WARMUP:-100} BATCH_SECONDS=${BATCH_SECONDS:-240} BUDGET=${BUDGET:-150} DEVICE=cuda JOBS=$(nproc)
fi
mkdir -p "$OUT" "$WORK"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
[ -n "$DRY" ] || source bench/gpu_site.sh
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$OUT/run.log"; }
{ nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no GPU"; nproc; } | tee "$OUT/machine.txt"

log "unpacking the synthesizer and the weights"
$PY recipes/gpu_release/bundle.py install --bundle "$BUNDLE" --prefix "$WORK/synth"
export PATH=$WORK/synth/path:$PATH
$PY recipes/gpu_release/bundle.py weights --bundle "$BUNDLE" --out "$WORK/whisper-base-int8.pt"

CALL_SECONDS=${CALL_SECONDS:-560}  # device's limit on one call is 600 s: a language that would not finish is not begun
for L in $($PY -c "import json; print(' '.join(json.load(open('$BUNDLE/bundle.json'))['langs']))"); do
  if [ $((SECONDS + BUDGET + 120)) -gt "$CALL_SECONDS" ]; then
    log "$L: skipped, $SECONDS s into the call: its synthesis and $BUDGET s of training would outlast $CALL_SECONDS s"
    continue
  fi
  log "$L: synthesizing $HOURS h of train speech on $JOBS cores"
  $PY recipes/gpu_release/bundle.py synth --bundle "$BUNDLE" --lang "$L" --hours "$HOURS" --out "$WORK/data-$L" --jobs "$JOBS"
  log "$L: training for $BUDGET s in steps of $BATCH_SECONDS s of audio"
  # The release recipe's settings, but no dev set (its voice stays here) and batches sized for a GPU.
  $PY -m asr train --config "recipes/release/$L.toml" --train-manifest "$WORK/data-$L/train.jsonl" --dev-manifest "" \
    --init "$WORK/whisper-base-int8.pt" --out-dir "$WORK/run-$L" --device "$DEVICE" --max-steps "$MAX_STEPS" \
    --batch-seconds "$BATCH_SECONDS" --warmup-steps "$WARMUP" --time-budget "$BUDGET" --save-every 500 \
    > "$WORK/train-$L.txt" 2>&1 || { tail -n 30 "$WORK/train-$L.txt"; exit 1; }
  tail -n 3 "$WORK/train-$L.txt" | tee -a "$OUT/run.log"
  log "$L: writing what training changed"
  $PY recipes/gpu_release/bundle.py delta --checkpoint "$WORK/run-$L/last.safetensors" --base "$WORK/whisper-base-int8.pt" \
    --out "$OUT" --name "$L" --extra "$WORK/run-$L/log.jsonl" "$WORK/data-$L/dataset_card.json"
done
log "done: $(ls "$OUT" | tr '\n' ' ')"
