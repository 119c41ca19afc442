"""Batch transcription side by side: this project's backends against faster-whisper, RTFx and WER on the same clips.

Systems, each loaded before its clock starts and run over the same utterances
of a test manifest (the first --utterances):

  torch fp32, torch bf16   `asr.transcribe.Transcriber`, greedy CTC
  onnx int8                the same model's int8 ONNX export on ONNX Runtime, greedy
  faster-whisper int8      Whisper base with the same encoder weights, zero-shot, greedy and beam 5

RTFx is audio seconds over transcription seconds (the whole set, batched as
`asr eval` batches it), the median of --repeats passes after a warm-up batch,
the systems' passes interleaved;
WER and CER come from `eval`'s scorer after the test set's normaliser, and each
system's WER difference to torch fp32 gets `eval`'s paired-bootstrap 95 %
interval. Prints a table and writes JSON with the command, machine and load.

    python bench/transcribe_backends.py --model de --manifest data/release-de/test.jsonl --utterances 200
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

from asr.audio import load_audio
from asr.cpu import cpu_has_amx, cpu_has_native_bf16, cpu_has_vnni, cpu_model
from eval.evaluate import compare, evaluate
from eval.normalize import get_normalizer
from eval.report import format_difference
from eval.systems import CheckpointSystem, FasterWhisperSystem
from eval.testset import load_test_set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a shipped model (de), a run folder or a checkpoint")
    parser.add_argument("--manifest", required=True, help="test manifest (.jsonl)")
    parser.add_argument("--utterances", type=int, default=200, help="the first N utterances (default: 200)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per system, after a warm-up batch; RTFx is their median")
    parser.add_argument("--skip-faster-whisper", action="store_true", help="leave the peer out (it is slow on a CPU)")
    parser.add_argument("--out", default="bench/results/transcribe_backends-cpu.json")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")

    full = load_test_set(args.manifest)
    subset = Path(args.manifest).with_name(f"{Path(args.manifest).stem}-first{args.utterances}.jsonl")
    subset.write_text("".join(Path(args.manifest).read_text().splitlines(keepends=True)[: args.utterances]))
    test_set = load_test_set(subset, language=full.language)
    normalizer = get_normalizer("auto", test_set.language)
    systems = [CheckpointSystem(args.model, "torch fp32 (greedy)", device="cpu", batch_size=args.batch_size, precision="fp32")]
    skipped = {}
    native_bf16 = cpu_has_native_bf16()
    if native_bf16:
        systems.append(CheckpointSystem(args.model, "torch bf16 (greedy)", device="cpu", batch_size=args.batch_size, precision="bf16"))
    else:  # emulated, it would take hours and measure nothing a user would run
        skipped["torch bf16 (greedy)"] = "this CPU has no native bf16 (avx512_bf16 or amx_bf16)"
        print(f"skipping torch bf16: {skipped['torch bf16 (greedy)']}")
    systems.append(CheckpointSystem(args.model, "onnx int8 (greedy)", device="cpu", batch_size=args.batch_size, backend="onnx"))
    ours = len(systems)
    if not args.skip_faster_whisper:
        systems += [
            FasterWhisperSystem("whisper-base", "faster-whisper base int8 (greedy)", device="cpu", beam_size=1, compute_type="int8"),
            FasterWhisperSystem("whisper-base", "faster-whisper base int8 (beam 5)", device="cpu", beam_size=5, compute_type="int8"),
        ]
    rows, fp32 = [], None
    print(f"{len(test_set.utterances)} utterances, {test_set.audio_seconds:.0f} s of audio from {args.manifest}")
    print("| system | RTFx | WER % | CER % | WER vs fp32, points [95 % CI] |\n|---|---|---|---|---|")
    for system in systems:
        system.load()
        first_batch = [load_audio(u.audio_filepath, system.sample_rate) for u in test_set.utterances[: args.batch_size]]
        system.transcribe(first_batch, test_set.language)  # warm-up: kernels chosen, caches filled
    # Passes interleaved, the order reversed every other round: a CPU's speed can drift by a third within minutes
    # (a 2-core AMX Xeon, README), and systems timed one after another would each meet another phase of it.
    passes: dict[str, list] = {system.name: [] for system in systems}
    for repeat in range(args.repeats):
        for system in systems if repeat % 2 == 0 else systems[::-1]:
            passes[system.name].append(evaluate(system, test_set, normalizer, args.batch_size))
    for system in systems:
        results = passes[system.name]
        result = sorted(results, key=lambda r: r.transcripts.rtfx)[len(results) // 2]  # the median pass
        # Paired over utterances: on 100 clips a few words decide whether int8 is 0.3 points off fp32.
        versus = compare([result], [fp32]) if fp32 else None
        fp32 = fp32 or result
        row = {"system": system.name, "device": system.device, "rtfx": round(result.transcripts.rtfx, 1),
               "rtfx_per_pass": [round(r.transcripts.rtfx, 1) for r in results],
               "wer": result.scores.wer, "cer": result.scores.cer, "wall_seconds": round(result.transcripts.wall_seconds, 2),
               "wer_vs_fp32": versus.to_dict() if versus else None}
        rows.append(row)
        interval = format_difference(versus, decimals=2) if versus else "baseline"
        print(f"| {row['system']} | {row['rtfx']} | {100 * row['wer']:.2f} | {100 * row['cer']:.2f} | {interval} |", flush=True)
    fastest = max(rows[:ours], key=lambda r: r["rtfx"])
    peer = next((r for r in rows if r["system"].startswith("faster-whisper base int8 (greedy)")), None)
    report = {
        "benchmark": "transcribe_backends",
        "command": "python " + " ".join(sys.argv),
        "model": args.model,
        "test_set": {"manifest": args.manifest, "utterances": len(test_set.utterances), "audio_seconds": round(test_set.audio_seconds, 1)},
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__, "native_bf16": native_bf16,
                    "vnni": cpu_has_vnni(), "amx": cpu_has_amx(),
                    "load_average_1min_at_end": round(os.getloadavg()[0], 2)},
        "results": rows,
        "skipped": skipped,
        "fastest_backend": fastest["system"],
        "fastest_vs_fp32_wer_points": round(100 * (fastest["wer"] - rows[0]["wer"]), 2),
        "fastest_vs_fp32_wer_interval_points": ([round(100 * fastest["wer_vs_fp32"][k], 2) for k in ("low", "high")]
                                                if fastest["wer_vs_fp32"] else None),
        "fastest_vs_faster_whisper_greedy_speed": round(fastest["rtfx"] / peer["rtfx"], 1) if peer else None,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    subset.unlink()
    low_high = report["fastest_vs_fp32_wer_interval_points"]
    print(f"fastest: {fastest['system']} at RTFx {fastest['rtfx']}, WER {report['fastest_vs_fp32_wer_points']:+.2f} points against fp32"
          + (f" [{low_high[0]:+.2f}, {low_high[1]:+.2f}]" if low_high else "")
          + (f", {report['fastest_vs_faster_whisper_greedy_speed']}x faster-whisper greedy" if peer else "") + f"; wrote {args.out}")


if __name__ == "__main__":
    main()
