"""Transcribing many files, as `asr transcribe a.wav b.wav ...` does: RTFx of `Transcriber.transcribe_files` reading
a window of files and batching their chunks longest first (TranscribeOptions.file_window_batches), against batching the
files in the order given (a window of one batch), on the same files in one run, with each one's WER: in bf16 a file's
numbers depend a little on what it is batched with, so a few texts may differ.

    python bench/transcribe_files.py [--model de] [--manifest data/synth-de/test.jsonl] [--files 200]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from asr.cpu import cpu_model
from asr.corpora.manifest import read_manifest
from asr.transcribe import Transcriber, TranscribeOptions
from eval.normalize import get_normalizer
from eval.scoring import score


def timed_pass(transcriber: Transcriber, paths: list[Path]) -> tuple[float, list[str]]:
    started = time.perf_counter()
    texts = [result.text for _, result in transcriber.transcribe_files(paths)]
    return time.perf_counter() - started, texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="de", help="a shipped model (de), a run folder or a checkpoint (default: de)")
    parser.add_argument("--manifest", default="data/synth-de/test.jsonl", help="the files: a manifest's first --files")
    parser.add_argument("--files", type=int, default=200, help="how many files (default: 200)")
    parser.add_argument("--batch-size", type=int, default=8, help="chunks per forward pass (default: 8, as asr transcribe)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per setting; RTFx is their median")
    parser.add_argument("--out", default="bench/results/transcribe_files-cpu.json")
    args = parser.parse_args()

    utterances = read_manifest(args.manifest)[: args.files]
    paths = [Path(u.audio_filepath) for u in utterances]
    audio_seconds = sum(u.duration for u in utterances)
    normalize = get_normalizer("auto", utterances[0].lang)
    transcriber = Transcriber(args.model, device="cpu", options=TranscribeOptions(batch_size=args.batch_size))
    timed_pass(transcriber, paths[: args.batch_size])  # warm-up: kernels chosen, caches filled
    window = transcriber.options.file_window_batches
    settings = {"files in the order given (one batch at a time)": 1, f"a window of {window} batches, longest first": window}
    rows, texts = [], {}
    print(f"{len(paths)} files, {audio_seconds:.0f} s of audio, {args.model} ({transcriber.precision}), batch size {args.batch_size}")
    for name, window in settings.items():
        transcriber.options = dataclasses.replace(transcriber.options, file_window_batches=window)
        passes = [timed_pass(transcriber, paths) for _ in range(args.repeats)]
        texts[name] = passes[0][1]
        seconds = statistics.median(wall for wall, _ in passes)
        wer = score([normalize(u.text) for u in utterances], [normalize(t) for t in texts[name]]).wer
        rows.append({"setting": name, "window_batches": window, "wall_seconds": round(seconds, 2), "wer": round(wer, 4),
                     "rtfx": round(audio_seconds / seconds, 1), "rtfx_per_pass": [round(audio_seconds / w, 1) for w, _ in passes]})
        print(f"{name}: RTFx {rows[-1]['rtfx']} ({rows[-1]['rtfx_per_pass']}), WER {100 * wer:.2f} %", flush=True)
    changed = sum(a != b for a, b in zip(*texts.values()))
    report = {
        "benchmark": "transcribe_files",
        "command": "python " + " ".join(sys.argv),
        "model": args.model,
        "precision": transcriber.precision,
        "files": {"manifest": args.manifest, "count": len(paths), "audio_seconds": round(audio_seconds, 1)},
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                    "load_average_1min_at_end": round(os.getloadavg()[0], 2)},
        "results": rows,
        "speedup": round(rows[1]["rtfx"] / rows[0]["rtfx"], 2),
        "texts_that_differ": changed,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"window against file order: {report['speedup']}x, {changed} of {len(paths)} texts differ; wrote {args.out}")


if __name__ == "__main__":
    main()
