#!/usr/bin/env bash
# The int8 ONNX export's weight types side by side, in one `asr eval` run against the same model in PyTorch fp32:
# greedy WER with the paired-bootstrap interval of each difference, and RTFx (audio loading, features and decoding
# included, batches of 8). Weight types (asr export --onnx --int8-weights): s8, signed 8-bit, for a CPU with VNNI
# only (without it ONNX Runtime's kernel saturates its 16-bit sums); s7, signed 7-bit, the default on every CPU; u8,
# unsigned, which runs anywhere through a slower kernel; and fp32, the export unquantized. Writes OUT.md, eval's
# report, and OUT.json, its figures without the transcripts (eval's whole JSON is some 3 MB for an hour of audio).
#   bash bench/onnx_weights.sh es data/release-es/test.jsonl bench/results/onnx_weights-es-avx2
set -euo pipefail
if [ $# -ne 3 ]; then
    echo "usage: bash bench/onnx_weights.sh MODEL TEST_MANIFEST OUT (writes OUT.json and OUT.md)" >&2
    exit 2
fi
model=$1 manifest=$2 out=$3
root=$(dirname "$0")/..
ASR=${ASR:-$root/.venv/bin/asr} PY=${PY:-$root/.venv/bin/python}
exports=$(mktemp -d)
trap 'rm -rf "$exports"' EXIT
name=$(basename "$model" .safetensors)
models=()
for weights in s8 s7 u8; do
    $ASR export --model "$model" --onnx --int8-weights $weights --out "$exports/$name-int8-$weights.onnx"
    models+=(--model "$exports/$name-int8-$weights.onnx")
done
$ASR export --model "$model" --onnx --no-int8 --out "$exports/$name-fp32.onnx"
models+=(--model "$exports/$name-fp32.onnx")
mkdir -p "$(dirname "$out")"
$ASR eval "${models[@]}" --baseline "$model" --precision fp32 --decoder greedy --manifest "$manifest" \
    --json "$exports/report.json" --markdown "$out.md"
$PY "$root/bench/summarize_eval.py" "$exports/report.json" "$out.json" --command "bash bench/onnx_weights.sh $*"
