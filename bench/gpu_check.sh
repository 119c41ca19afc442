#!/usr/bin/env bash
# The one prepared GPU check: where `device` lends a machine, one call runs the CUDA-relevant tests and the speed
# benchmarks on the GPU within about 4 minutes and writes their JSON to $OUT (bench/results/gpu/ outside the tool):
#   - the tests that exercise device placement, bf16 and the training loop;
#   - training throughput against transformers' WhisperEncoder, bf16, with model FLOPs utilisation;
#   - batch transcription RTFx at batch sizes up to 256;
#   - stream load of the batched server, stepping up to 1000 concurrent real-time streams (on a CPU, in the dry run,
#     batched against unbatched), and at 100 and 300 streams again at Python's own GIL switch interval;
#   - a forward pass of the streaming path alone and beside a busy Python thread (bench/gil_contention.py).
# Its results on an H200, and what the first calls there found: bench/results/gpu/README.md.
# The lent machine has PyTorch but not all of this project's packages, and no Whisper weights (145 MB do not travel):
# bench/gpu_wheels.sh downloads the missing wheels into .whl/ here, and the benchmarks run whisper-base's shape with
# random weights (the same computation). The call, from this checkout:
#   bash bench/gpu_wheels.sh        # here, once
#   device run: bash bench/gpu_check.sh     (carry: .whl; timeout_s 600)
# Dry run on a CPU, tiny settings, to prove the script end to end:
#   bash bench/gpu_check.sh --device cpu
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE=cuda
[ "${1:-}" = "--device" ] && DEVICE=${2:?--device needs cpu or cuda}
OUT=${OUT:-bench/results/gpu}
mkdir -p "$OUT"
PY=${PY:-python3}
[ -x .venv/bin/python ] && [ "$DEVICE" = cpu ] && PY=.venv/bin/python
if [ "$DEVICE" = cpu ]; then
  export PYTHONPATH=$PWD
else
  source bench/gpu_site.sh
fi
export PYTHONUNBUFFERED=1
if [ "$DEVICE" = cpu ]; then
  # The tests' cap is for the lent machine's minutes; here it only has to outlast a loaded CPU (a fresh clone's
  # make test beside a 2-thread training run took more than 300 s for them on 2026-12-07).
  STEPS=1 BATCH=2 CLIPS=4 BATCHES=1,2 STREAMS=1,2 DURATION=3 TESTS_TIMEOUT=900 STREAM_SERVERS= OLD_GIL_STREAMS=2
  CLIENT_PROCESSES=1 GIL_WINDOWS=2
else
  # The batched server alone steps up to 1000 streams, every N tried: on the H200 (2026-12-04) one stream already
  # missed the 250-ms bound, which stopped a ramp that ends at the first N not sustained, and the unbatched server
  # (as slow as the batched one at N=1) would take minutes to drain 1000 streams it cannot keep up with.
  STEPS=20 BATCH=64 CLIPS=512 BATCHES=1,32,256 STREAMS=1,10,100,300,1000 DURATION=10 TESTS_TIMEOUT=120 STREAM_SERVERS=--no-unbatched
  OLD_GIL_STREAMS=100,300 CLIENT_PROCESSES=12 GIL_WINDOWS=100
fi
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$OUT/gpu_check.log"; }
# A stage that fails must not cost the stages after it; the log names it and its exit status.
stage() { local name=$1; shift; log "$name"; "$@" 2>&1 | tee -a "$OUT/gpu_check.log" || log "$name FAILED (exit status $?)"; }
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"; $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"; } | tee "$OUT/machine.txt"

log "tests"
# A failed or cut-off test run must not cost the benchmarks after it (one call is all a lent machine may give),
# but tests.txt says which it was.
tests_status=0
timeout $TESTS_TIMEOUT $PY -m pytest -q -x -p no:cacheprovider tests/test_models.py tests/test_registry.py tests/test_train.py 2>&1 | tail -5 | tee "$OUT/tests.txt" || tests_status=$?
[ $tests_status -ne 124 ] || echo "cut off: the tests ran past ${TESTS_TIMEOUT} s" | tee -a "$OUT/tests.txt"

stage "training throughput" $PY bench/train_throughput.py --device "$DEVICE" --random-weights --steps $STEPS --batch $BATCH --out "$OUT/train_throughput.json"

stage "transcription RTFx" $PY bench/transcribe_rtfx.py --device "$DEVICE" --random-weights --clips $CLIPS --batch-sizes $BATCHES --out "$OUT/transcribe_rtfx.json"

DATA=$(mktemp -d)
stage "stream load: a random whisper-base and speech-like noise" $PY - "$DATA" <<'PY'
import json, sys
from pathlib import Path
import numpy as np, soundfile
from asr.checkpoint import save_checkpoint
sys.path.insert(0, "bench")
from train_throughput import random_whisper_base
from asr.text import ALPHABETS, Vocabulary
folder = Path(sys.argv[1])
save_checkpoint(folder / "whisper-base-random.safetensors", random_whisper_base(Vocabulary.from_transcripts([ALPHABETS["de"]])))
rng = np.random.default_rng(0)
lines = []
for i in range(8):  # speech-like bursts: streaming cost does not depend on what is said
    wave = (rng.normal(0, 0.1, 16000 * 4) * np.repeat(rng.random(40) > 0.3, 1600)).astype(np.float32)
    soundfile.write(str(folder / f"{i}.wav"), wave, 16000)
    lines.append(json.dumps({"audio_filepath": f"{i}.wav", "text": "x", "duration": 4.0}))
(folder / "test.jsonl").write_text("\n".join(lines) + "\n")
PY
# 320-ms chunks: the setting serving/README.md gives for many streams per device (half the encoder work of 160).
stage "stream load" $PY bench/stream_load.py --model "$DATA/whisper-base-random.safetensors" --manifest "$DATA/test.jsonl" \
  --device "$DEVICE" --streams $STREAMS --duration $DURATION --keep-going $STREAM_SERVERS --processes $CLIENT_PROCESSES \
  --server-args "--chunk-ms 320" --out "$OUT/stream_load.json"
# The server's GIL switch interval: its forward passes alone and beside a busy thread, then the load at Python's own 5 ms
# (the server's default before 2026-12-04's evening, when 300 streams fell behind on the H200) against the 0.5 above.
stage "GIL contention" $PY bench/gil_contention.py --model "$DATA/whisper-base-random.safetensors" --device "$DEVICE" \
  --windows $GIL_WINDOWS --passes 5 --out "$OUT/gil_contention.json"
stage "stream load at a 5-ms GIL switch interval" $PY bench/stream_load.py --model "$DATA/whisper-base-random.safetensors" \
  --manifest "$DATA/test.jsonl" --device "$DEVICE" --streams $OLD_GIL_STREAMS --duration $DURATION --keep-going --no-unbatched \
  --processes $CLIENT_PROCESSES --server-args "--chunk-ms 320 --gil-switch-ms 5" --out "$OUT/stream_load-gil5.json"
log "done: $(ls "$OUT")"
