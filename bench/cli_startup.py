"""What a user waits for to transcribe one clip from the command line, start to prompt: `asr transcribe CLIP --model
de` (the shipped model, beam search with its LM) as the `asr` command runs it (`asr.cli.console`: out with os._exit
once the output is flushed) against the same `main` left to the interpreter's teardown; and `asr --help`.

    python bench/cli_startup.py [--model de] [--audio CLIP] [--repeats 3] [--out bench/results/cli_startup-cpu.json]

Run it on an idle machine: each way is a fresh process, timed from its start to its exit (median of the repeats).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from asr.files import write_atomically
from eval.report import describe_machine

TEARDOWN = "import sys; from asr.cli import main; sys.exit(main(sys.argv[1:]))"


def wall_seconds(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="de", help="a shipped model or a checkpoint (default: de)")
    parser.add_argument("--audio", help="the clip (default: 5 s of noise written for the run)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="bench/results/cli_startup-cpu.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        audio = args.audio
        if audio is None:
            audio = str(Path(scratch) / "noise.wav")
            soundfile.write(audio, np.random.default_rng(0).normal(0, 0.05, 5 * 16000).astype(np.float32), 16000)
        transcribe = ["transcribe", audio, "--model", args.model, "--output-dir", scratch]
        ways = {
            "asr --help": [sys.executable, "-m", "asr", "--help"],
            "asr transcribe (console: os._exit after flushing)": [sys.executable, "-m", "asr", *transcribe],
            "asr transcribe (main, then the interpreter's teardown)": [sys.executable, "-c", TEARDOWN, *transcribe],
        }
        rows = []
        for name, command in ways.items():
            seconds = wall_seconds(command, args.repeats)
            rows.append({"way": name, "seconds": round(seconds, 3)})
            print(f"{name}: {seconds:.2f} s", flush=True)
    result = {"command": "python bench/cli_startup.py " + " ".join(f"--{k} {v}" for k, v in vars(args).items() if v is not None),
              "machine": describe_machine(), "rows": rows}
    write_atomically(args.out, json.dumps(result, indent=2) + "\n")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
