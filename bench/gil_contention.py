"""How much a busy event loop slows the streaming server's forward passes, and what the GIL switch interval does to it.

`asr serve` runs forward passes on an inference thread while the event loop
thread handles every stream's messages in Python. PyTorch releases the GIL for
each operator and must take it back before the next: while the loop holds it,
the inference thread waits until the loop is made to let go, after the
interpreter's switch interval (5 ms by default). A forward pass of a few
hundred operators can then wait longer than it computes: on a lent H200, a
109-window pass took 272 ms in the server at 300 streams, where the
transcription benchmark puts it near 46 ms (bench/results/gpu/README.md).

This measures one forward pass of the batched streaming path
(`window_log_probs`) alone; beside a process doing Python work (it takes a
core, not the GIL); and beside a thread doing the same work, which keeps the
GIL busy as a loaded event loop does, at several switch intervals; and writes
JSON:

    python bench/gil_contention.py --model de --windows 8 --out bench/results/gil_contention-cpu.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import threading
import time

import torch

from asr.registry import load_model
from asr.streaming.stream import Window, window_log_probs
from asr.transcribe import Transcriber


def busy_python(stop, done: list[int] | None = None, running=None) -> None:
    """Pure-Python work, never sleeping: what an event loop serving hundreds of streams does between awaits; counts
    its rounds in `done`, sets `running` once started."""
    if running is not None:
        running.set()
    while not stop.is_set():
        messages = [{"stream": i, "words": [str(j) for j in range(20)]} for i in range(50)]
        sorted(messages, key=lambda m: -m["stream"])
        if done is not None:
            done[0] += 1


def time_passes(transcriber: Transcriber, windows: list[Window], passes: int) -> list[float]:
    seconds = []
    for _ in range(passes):
        started = time.perf_counter()
        window_log_probs(transcriber, windows)
        if transcriber.device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="de", help="a shipped model, run folder or checkpoint (default: de)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    parser.add_argument("--windows", type=int, default=8, help="windows per forward pass (default: 8)")
    parser.add_argument("--window-seconds", type=float, default=2.56, help="audio per window: the server's chunk, "
                        "context and lookahead together (default: 2.56)")
    parser.add_argument("--passes", type=int, default=10, help="timed passes per setting (default: 10)")
    parser.add_argument("--intervals-ms", default="5,1,0.5,0.1", help="switch intervals to try, ms (default: 5,1,0.5,0.1; 5 is Python's)")
    parser.add_argument("--out", default="bench/results/gil_contention-cpu.json")
    args = parser.parse_args()

    transcriber = Transcriber(load_model(args.model), device=args.device)
    generator = torch.Generator().manual_seed(0)
    samples = int(args.window_seconds * transcriber.sample_rate)
    windows = [Window(wave=0.1 * torch.randn(samples, generator=generator), keep_from=0, keep_to=None, first_frame=0)
               for _ in range(args.windows)]
    time_passes(transcriber, windows, 2)  # warm up: allocator, kernels, caches

    default_interval = sys.getswitchinterval()
    rows = [{"setting": "alone", "switch_interval_ms": default_interval * 1000, "pass_ms": time_passes(transcriber, windows, args.passes)}]
    # The same Python work in another process takes a core as the busy thread does, but not the GIL: what is left
    # between this row and the busy thread's is the wait for the GIL.
    spawn = multiprocessing.get_context("spawn")  # not a fork of a process that holds a model and threads
    stop, running = spawn.Event(), spawn.Event()
    busy = spawn.Process(target=busy_python, args=(stop, None, running), daemon=True)
    busy.start()
    running.wait()
    try:
        rows.append({"setting": "beside a busy process", "switch_interval_ms": default_interval * 1000,
                     "pass_ms": time_passes(transcriber, windows, args.passes)})
    finally:
        stop.set()
        busy.join()
    for interval_ms in (float(x) for x in args.intervals_ms.split(",")):
        sys.setswitchinterval(interval_ms / 1000)
        stop, done = threading.Event(), [0]
        busy = threading.Thread(target=busy_python, args=(stop, done), daemon=True)
        busy.start()
        try:
            started = time.perf_counter()
            passes = time_passes(transcriber, windows, args.passes)
            rounds_per_second = done[0] / (time.perf_counter() - started)
            rows.append({"setting": "beside a busy thread", "switch_interval_ms": interval_ms, "pass_ms": passes,
                         "busy_rounds_per_second": round(rounds_per_second)})
        finally:
            stop.set()
            busy.join()
            sys.setswitchinterval(default_interval)

    alone = statistics.median(rows[0]["pass_ms"])
    print(f"{args.windows} windows of {args.window_seconds} s, {transcriber.device}, {transcriber.precision}; median of {args.passes} passes")
    print("| setting | switch interval (ms) | pass (ms) | against alone | busy thread's rounds/s |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        row["pass_ms"] = [round(s * 1000, 2) for s in row["pass_ms"]]
        row["median_ms"] = statistics.median(row["pass_ms"])
        row["against_alone"] = round(row["median_ms"] / (alone * 1000), 2)
        print(f"| {row['setting']} | {row['switch_interval_ms']:g} | {row['median_ms']:.1f} | {row['against_alone']:.2f}x "
              f"| {row.get('busy_rounds_per_second', '')} |")

    gpu = torch.cuda.get_device_name() if transcriber.device.type == "cuda" else None
    report = {
        "benchmark": "gil_contention",
        "command": "python " + " ".join(sys.argv),
        "machine": {"cpu": platform.machine(), "cores": os.cpu_count(), "gpu": gpu, "torch": torch.__version__,
                    "load_average_1min_at_end": round(os.getloadavg()[0], 2)},
        "model": args.model, "device": str(transcriber.device), "precision": transcriber.precision,
        "windows": args.windows, "window_seconds": args.window_seconds, "rows": rows,
    }
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
