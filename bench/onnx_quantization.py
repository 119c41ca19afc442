"""Which ONNX Runtime int8 quantization of the encoder runs fastest: the export's (MatMuls with constant weights)
against quantizing more of the graph, side by side in one run, model alone, one thread.

Variants, each from the same fp32 export (`asr export --onnx --no-int8`) with the export's weight type
(asr.onnx_model.INT8_WEIGHTS):

  matmul              what `asr export --onnx` ships: MatMuls with constant weights (the linear layers, and the two
                      input convolutions, which the export writes as matrix products)
  matmul+attention    the attention's two activation-by-activation MatMuls as well (MatMulConstBOnly off)
  conv-stem           the input convolutions exported as Conv operators, which stay fp32 (WhisperEncoder's
                      onnx_stem_as_matmul off: the export as it was up to 2026-12-06)
  preprocessed        ONNX Runtime's quantization pre-processing (its graph optimizations) before the export's
  fp32                no quantization, for scale and as the reference

Each runs the features of the same clips (the first --utterances of a manifest) through `OnnxModel`, the class
`asr transcribe --backend onnx` uses, the variants interleaved clip by clip so that drift in the machine's speed falls
on all alike; --repeats passes, the median pass's time reported as RTFx of the model alone. Agreement: the fraction
of output frames whose most likely token matches the fp32 export's, the cheap proxy for a greedy WER change (the WER
of the shipped variant is bench/onnx_weights.sh's). Then one more pass of the shipped variant under ONNX Runtime's
profiler gives its time by operator type: where an int8 backend's time goes on this CPU. Prints tables and writes
JSON with the command, machine and load.

    python bench/onnx_quantization.py --model es --manifest data/release-es/test.jsonl --out bench/results/onnx_quantization-es.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from asr.audio import load_audio
from asr.checkpoint import ModelBundle
from asr.cpu import cpu_has_vnni, cpu_model
from asr.corpora.manifest import read_manifest
from asr.features import FRAME_MULTIPLE, LogMelFrontend
from asr.onnx_model import INT8_WEIGHTS, OnnxModel, export_onnx, quantization_arguments
from asr.registry import load_model

VARIANTS = {  # name: (op types, quantize_dynamic extra_options, pre-process first, stem as matrix products)
    "matmul": (["MatMul"], {}, False, True),
    "matmul+attention": (["MatMul"], {"MatMulConstBOnly": False}, False, True),
    "conv-stem": (["MatMul"], {}, False, False),
    "preprocessed": (["MatMul"], {}, True, True),
}


def build_variants(bundle: ModelBundle, folder: Path, weights: str) -> dict[str, Path]:
    from onnxruntime.quantization import quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    plain = folder / "fp32.onnx"
    export_onnx(bundle, plain, int8=False)
    conv_stem = folder / "fp32-conv-stem.onnx"
    bundle.model.encoder.onnx_stem_as_matmul = False
    try:
        export_onnx(bundle, conv_stem, int8=False)
    finally:
        del bundle.model.encoder.onnx_stem_as_matmul  # back to the class's default
    paths = {}
    for name, (op_types, extra_options, preprocess, stem_as_matmul) in VARIANTS.items():
        source = plain if stem_as_matmul else conv_stem
        if preprocess:
            # Symbolic shape inference fails on the encoder's masked attention; ONNX's own shape inference is kept.
            source = folder / "preprocessed-fp32.onnx"
            quant_pre_process(str(plain), str(source), skip_symbolic_shape=True)
        paths[name] = folder / f"{name}.onnx"
        quantize_dynamic(str(source), str(paths[name]), op_types_to_quantize=op_types, extra_options=extra_options,
                         **quantization_arguments(weights))
    paths["fp32"] = plain
    return paths


def time_by_operator(path: Path, features: list[torch.Tensor]) -> dict[str, float]:
    """Each operator type's share of the node time of one pass over `features`, one thread, largest first."""
    import numpy as np
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.enable_profiling = True
    options.profile_file_prefix = str(path.with_suffix(""))
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for clip in features:  # padded and masked as OnnxModel runs it
        padded = torch.nn.functional.pad(clip, (0, -clip.shape[-1] % FRAME_MULTIPLE))
        session.run(None, {"features": padded.numpy(), "feature_lengths": np.array([clip.shape[-1]], dtype=np.int64)})
    microseconds: dict[str, int] = {}
    for event in json.loads(Path(session.end_profiling()).read_text()):
        if event.get("cat") == "Node":
            operator = event["args"]["op_name"]
            microseconds[operator] = microseconds.get(operator, 0) + event["dur"]
    total = sum(microseconds.values())
    return {operator: round(us / total, 4) for operator, us in sorted(microseconds.items(), key=lambda item: -item[1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a shipped model (es), a run folder or a checkpoint")
    parser.add_argument("--manifest", required=True, help="test manifest (.jsonl) whose first clips are timed")
    parser.add_argument("--utterances", type=int, default=50, help="the first N utterances (default: 50)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes, after a warm-up clip; the median is reported")
    parser.add_argument("--out", default="bench/results/onnx_quantization.json")
    args = parser.parse_args()
    if args.repeats < 1 or args.utterances < 1:
        parser.error("--repeats and --utterances must be at least 1")

    bundle = load_model(args.model)
    frontend = LogMelFrontend(bundle.frontend)
    utterances = read_manifest(args.manifest)[: args.utterances]
    waves = [load_audio(u.audio_filepath, bundle.frontend.sample_rate) for u in utterances]
    audio_seconds = sum(len(w) for w in waves) / bundle.frontend.sample_rate
    features = [frontend(w)[None] for w in waves]
    weights = INT8_WEIGHTS
    with tempfile.TemporaryDirectory() as scratch:
        paths = build_variants(bundle, Path(scratch), weights)
        models = {name: OnnxModel(path, threads=1) for name, path in paths.items()}
        outputs = {name: [] for name in models}
        seconds = {name: [0.0] * args.repeats for name in models}
        for model in models.values():
            model(features[0], torch.tensor([features[0].shape[-1]]))  # warm-up
        print(f"{len(features)} clips, {audio_seconds:.0f} s of audio from {args.manifest}; weights {weights}, one thread")
        for repeat in range(args.repeats):
            for clip in features:
                length = torch.tensor([clip.shape[-1]])
                for name, model in models.items():
                    started = time.perf_counter()
                    log_probs, n = model(clip, length)
                    seconds[name][repeat] += time.perf_counter() - started
                    if repeat == 0:
                        outputs[name].append(log_probs[0, : int(n[0])].argmax(-1))
            print(f"pass {repeat + 1}/{args.repeats}", flush=True)
        sizes = {name: path.stat().st_size for name, path in paths.items()}
        shares = time_by_operator(paths["matmul"], features)
    reference = torch.cat(outputs["fp32"])
    rows = []
    print("| variant | RTFx (model alone) | MB | frames agreeing with fp32 |\n|---|---:|---:|---:|")
    for name in models:
        median = statistics.median(seconds[name])
        agreement = (torch.cat(outputs[name]) == reference).float().mean().item()
        rows.append({"variant": name, "rtfx": round(audio_seconds / median, 1), "seconds_per_pass": [round(s, 3) for s in seconds[name]],
                     "megabytes": round(sizes[name] / 1e6, 1), "frames_agreeing_with_fp32": round(agreement, 4)})
        print(f"| {name} | {rows[-1]['rtfx']} | {rows[-1]['megabytes']} | {100 * agreement:.2f} % |")
    print("| operator (matmul variant) | share of node time |\n|---|---:|")
    for operator, share in list(shares.items())[:8]:
        print(f"| {operator} | {100 * share:.1f} % |")
    report = {
        "benchmark": "onnx_quantization",
        "command": "python " + " ".join(sys.argv),
        "model": args.model,
        "clips": {"manifest": args.manifest, "utterances": len(features), "audio_seconds": round(audio_seconds, 1)},
        "weights": weights,
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "vnni": cpu_has_vnni(),
                    "load_average_1min_at_end": round(os.getloadavg()[0], 2)},
        "results": rows,
        "matmul_time_by_operator": shares,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
