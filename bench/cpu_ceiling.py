"""How fast can batch transcription be on this machine? The model's work per audio second against the
CPU's measured matrix-multiply throughput, beside the forward pass as it runs.

- GFLOP per audio second: `torch.utils.flop_counter` over one forward pass of the
  whisper-base CTC model (all of it: convolutions, attention, the head).
- GFLOP/s the CPU sustains: `torch.matmul` at the encoder's own shapes (a batch of
  8 ten-second clips: 4,000 frames by 512, times 512x512 and 512x2048), fp32 and bf16,
  on all of torch's threads and on one: how much the other cores add to the products;
  and the same products as the int8 backend runs them (ONNX Runtime's dynamically
  quantized MatMuls with the export's weights, activations quantized per call).
- The ceiling: RTFx = GFLOP/s / GFLOP per audio second, what a forward pass made
  only of such matrix multiplies would reach (for int8: the one-thread rate times the threads,
  as the int8 backend runs a batch's clips side by side, one thread each); and the forward pass measured
  (batch 8 x 10 s, at the precision `--precision auto` chooses here: bf16 autocast where
  the CPU has native bf16, else fp32), with the share
  of the matmul rate it reaches.

    python bench/cpu_ceiling.py [--out bench/results/cpu_ceiling.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from asr.text import ALPHABETS, SPECIAL_TOKENS, Vocabulary
from asr.cpu import cpu_has_amx, cpu_has_native_bf16, cpu_model
from train_throughput import random_whisper_base

FRAMES_PER_SECOND = 100  # log-mel frames: 10 ms hop
MATMUL_SHAPES = [(512, 512), (512, 2048), (2048, 512)]  # (in, out): the attention's projections, the MLP's two layers
MATMUL_FRAMES = 8 * 10 * FRAMES_PER_SECOND // 2  # 8 clips of 10 s: the encoder runs at 50 frames a second
MATMUL_FLOP = sum(2 * MATMUL_FRAMES * k * n for k, n in MATMUL_SHAPES)


def best_seconds(run, repeats: int) -> float:
    run()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def matmul_gflops(dtype: torch.dtype, repeats: int) -> float:
    """Sustained GFLOP/s over the encoder's projection and MLP shapes for a batch of 8 x 10 s."""
    operands = [(torch.randn(MATMUL_FRAMES, k, dtype=dtype), torch.randn(k, n, dtype=dtype)) for k, n in MATMUL_SHAPES]
    seconds = best_seconds(lambda: [a @ b for a, b in operands], repeats)
    return MATMUL_FLOP / seconds / 1e9


def int8_matmul_gflops(threads: int, repeats: int) -> float:
    """The same products as ONNX Runtime's int8 MatMuls, quantized as `asr export --onnx` quantizes the model's."""
    import numpy as np
    import onnx
    import onnxruntime
    from onnxruntime.quantization import quantize_dynamic

    from asr.onnx_model import INT8_WEIGHTS, quantization_arguments

    rng = np.random.default_rng(0)
    inputs = [onnx.helper.make_tensor_value_info(f"x{k}", onnx.TensorProto.FLOAT, [MATMUL_FRAMES, k]) for k in (512, 2048)]
    weights = [onnx.numpy_helper.from_array(rng.standard_normal((k, n), dtype=np.float32) / k**0.5, f"w{k}x{n}") for k, n in MATMUL_SHAPES]
    products = [onnx.helper.make_node("MatMul", [f"x{k}", f"w{k}x{n}"], [f"y{k}x{n}"]) for k, n in MATMUL_SHAPES]
    outputs = [onnx.helper.make_tensor_value_info(f"y{k}x{n}", onnx.TensorProto.FLOAT, [MATMUL_FRAMES, n]) for k, n in MATMUL_SHAPES]
    graph = onnx.helper.make_graph(products, "encoder_products", inputs, outputs, weights)
    with tempfile.TemporaryDirectory() as scratch:
        plain, quantized = Path(scratch) / "fp32.onnx", Path(scratch) / "int8.onnx"
        onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), str(plain))
        quantize_dynamic(str(plain), str(quantized), op_types_to_quantize=["MatMul"], **quantization_arguments(INT8_WEIGHTS))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        session = onnxruntime.InferenceSession(str(quantized), options, providers=["CPUExecutionProvider"])
    feed = {f"x{k}": rng.standard_normal((MATMUL_FRAMES, k), dtype=np.float32) for k in (512, 2048)}
    seconds = best_seconds(lambda: session.run(None, feed), repeats)
    return MATMUL_FLOP / seconds / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--target-rtfx", type=float, default=300.0, help="the RTFx asked for (default: 300)")
    parser.add_argument("--out", default="bench/results/cpu_ceiling.json")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = random_whisper_base(Vocabulary(SPECIAL_TOKENS + tuple(sorted(ALPHABETS["de"])))).model.eval()
    clips, seconds = 8, 10
    features = torch.randn(clips, 80, seconds * FRAMES_PER_SECOND)
    lengths = torch.full((clips,), seconds * FRAMES_PER_SECOND)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(features, lengths)
    gflop_per_audio_second = counter.get_total_flops() / (clips * seconds) / 1e9

    # bf16 where the CPU has it natively, as `--precision auto` chooses; emulated bf16 gets one timed matmul pass,
    # enough to show what asking for it costs.
    native_bf16 = cpu_has_native_bf16()
    precision = "bf16" if native_bf16 else "fp32"

    def forward() -> None:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=native_bf16):
            model(features, lengths)

    forward_rtfx = clips * seconds / best_seconds(forward, args.repeats)
    matmul = {"fp32": matmul_gflops(torch.float32, args.repeats),
              "bf16": matmul_gflops(torch.bfloat16, args.repeats if native_bf16 else 1)}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    one_thread = {"fp32": matmul_gflops(torch.float32, args.repeats),
                  "bf16": matmul_gflops(torch.bfloat16, args.repeats if native_bf16 else 1)}
    torch.set_num_threads(threads)
    ceiling = max(matmul.values()) / gflop_per_audio_second
    int8 = {"threads": int8_matmul_gflops(threads, args.repeats), "one_thread": int8_matmul_gflops(1, args.repeats)}
    int8_ceiling = threads * int8["one_thread"] / gflop_per_audio_second
    result = {
        "benchmark": "cpu_ceiling",
        "command": "python " + " ".join(sys.argv),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "torch_threads": threads,
                    "torch": torch.__version__, "native_bf16": native_bf16, "amx": cpu_has_amx()},
        "gflop_per_audio_second": round(gflop_per_audio_second, 3),
        "matmul_gflops": {k: round(v, 1) for k, v in matmul.items()},
        "matmul_gflops_one_thread": {k: round(v, 1) for k, v in one_thread.items()},
        "rtfx_ceiling": round(ceiling, 1),
        "int8_matmul_gflops": round(int8["threads"], 1),
        "int8_matmul_gflops_one_thread": round(int8["one_thread"], 1),
        "int8_rtfx_ceiling": round(int8_ceiling, 1),
        "forward_precision": precision,
        "forward_rtfx": round(forward_rtfx, 1),
        "forward_share_of_matmul_rate": round(forward_rtfx / ceiling, 3),
        "target_rtfx": args.target_rtfx,
        "gflops_the_target_needs": round(args.target_rtfx * gflop_per_audio_second, 1),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
    }
    print(f"model: {gflop_per_audio_second:.2f} GFLOP per audio second")
    print(f"matmul at the encoder's shapes: fp32 {matmul['fp32']:.0f} GFLOP/s, bf16 {matmul['bf16']:.0f} GFLOP/s on "
          f"{threads} threads; fp32 {one_thread['fp32']:.0f}, bf16 {one_thread['bf16']:.0f} on one")
    print(f"int8 (ONNX Runtime, as the export): {int8['threads']:.0f} GOP/s on {threads} threads, {int8['one_thread']:.0f} "
          f"on one: RTFx ceiling {int8_ceiling:.0f} with {threads} clips side by side")
    print(f"RTFx ceiling (best torch matmul rate / model work): {ceiling:.0f}; RTFx {args.target_rtfx:.0f} needs "
          f"{result['gflops_the_target_needs']:.0f} GFLOP/s")
    print(f"forward pass, {precision}, {clips} x {seconds} s: RTFx {forward_rtfx:.0f} ({forward_rtfx / ceiling:.0%} of the ceiling)")
    print(f"load average at the end: {result['load_average_1min_at_end']}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
