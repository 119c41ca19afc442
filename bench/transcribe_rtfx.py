"""Batch transcription speed: RTFx (audio seconds per wall second) of a whisper-base CTC model.

Runs `asr.transcribe.Transcriber` — the path `asr transcribe` uses — on
generated audio (speed does not depend on what is said) at several batch
sizes, on the CPU and, when there is one, on a CUDA GPU. Prints a table and
writes JSON.

    python bench/transcribe_rtfx.py [--model CKPT] [--clips 32] [--seconds 10] [--out bench/results/transcribe_rtfx.json]

Without --model, the whisper-base encoder gets an untrained head over the
German characters: the same computation as a fine-tuned model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from asr.cpu import cpu_model
from asr.pretrained import new_ctc_model
from asr.text import ALPHABETS, Vocabulary
from asr.transcribe import Transcriber, TranscribeOptions
from train_throughput import random_whisper_base


def measure(transcriber: Transcriber, waves: list[torch.Tensor], repeats: int) -> dict:
    transcriber.transcribe(waves[:2])  # warm-up: allocator, kernels
    if transcriber.device.type == "cuda":
        torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        transcriber.transcribe(waves)
        if transcriber.device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    audio = sum(len(w) for w in waves) / 16000
    return {"audio_seconds": audio, "wall_seconds": round(best, 3), "rtfx": round(audio / best, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="checkpoint to measure (default: whisper-base encoder + untrained head)")
    parser.add_argument("--clips", type=int, default=32, help="clips per run (default: 32)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each clip (default: 10)")
    parser.add_argument("--batch-sizes", default="1,8,32", help="comma-separated batch sizes (default: 1,8,32)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per setting; the best is kept (default: 2)")
    parser.add_argument("--random-weights", action="store_true", help="without --model: whisper-base's shape with random weights")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: the CPU, and the GPU if there is one)")
    parser.add_argument("--out", default="bench/results/transcribe_rtfx.json", help="JSON output file")
    args = parser.parse_args()

    generator = torch.Generator().manual_seed(0)
    waves = [0.1 * torch.randn(int(args.seconds * 16000), generator=generator) for _ in range(args.clips)]
    vocabulary = Vocabulary.from_transcripts([ALPHABETS["de"]])
    model = args.model or (random_whisper_base(vocabulary) if args.random_weights else new_ctc_model("whisper-base", vocabulary, "de"))
    devices = [args.device] if args.device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        for batch_size in map(int, args.batch_sizes.split(",")):
            transcriber = Transcriber(model, device=device, options=TranscribeOptions(batch_size=batch_size))
            row = {"device": device, "precision": transcriber.precision, "batch_size": batch_size, **measure(transcriber, waves, args.repeats)}
            rows.append(row)
            print(f"{device:5s} batch {batch_size:3d}: {row['audio_seconds']:.0f} s audio in {row['wall_seconds']:.2f} s -> RTFx {row['rtfx']}")
    report = {
        "benchmark": "transcribe_rtfx",
        "command": "python " + " ".join(sys.argv),
        "model": args.model or "whisper-base encoder + CTC head (untrained)",
        "clips": args.clips,
        "clip_seconds": args.seconds,
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "torch": torch.__version__,
        },
        "results": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
