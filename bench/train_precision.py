"""Training in fp32 against bf16 at the demo's settings: audio seconds per second, and dev WER at equal steps.

Runs `asr train` twice on the same corpus, seed and steps (the demo's model and
settings: whisper-base, 3 of 6 layers frozen, 30 s micro-batches), once with
--precision fp32 and once with bf16, each evaluated on the dev set at the end;
then prints and writes both runs' throughput (from their log.jsonl) and dev WER.

    python bench/train_precision.py --data data/synth-de --steps 150 --out bench/results/train_precision-cpu.json

With --repeats N the two alternate N times and each precision's median run is reported: on a 2-core AMX Xeon the same
step's time drifted between 254 and 440 ms over a minute (ad hoc, idle), so one run of each can favour either.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import sys
from pathlib import Path

import torch

from asr.cpu import cpu_has_amx, cpu_has_native_bf16, cpu_model
from training.config import load_config
from training.train import train

DEMO = {"init": "whisper-base", "freeze_layers": 3, "lr_head": 2e-3, "lr_encoder": 2e-4, "warmup_steps": 20, "batch_seconds": 30.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/synth-de", help="corpus folder with train.jsonl and dev.jsonl (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--runs", default="runs/bench/train_precision", help="run folders (started afresh)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each precision, alternating; the median is reported")
    parser.add_argument("--out", default="bench/results/train_precision-cpu.json")
    args = parser.parse_args()
    if not cpu_has_native_bf16():
        parser.error("this CPU has no native bf16 (avx512_bf16 or amx_bf16): emulated, a bf16 training step "
                     "runs some 30 times slower than fp32, so the comparison is for a CPU that has it (or a GPU)")
    runs = []
    for repeat, precision in itertools.product(range(args.repeats), ("fp32", "bf16")):
        out_dir = Path(args.runs) / precision
        shutil.rmtree(out_dir, ignore_errors=True)
        config = load_config(None, {**DEMO, "train_manifest": f"{args.data}/train.jsonl", "dev_manifest": f"{args.data}/dev.jsonl",
                                    "out_dir": str(out_dir), "max_steps": args.steps, "precision": precision, "device": "cpu",
                                    "save_every": args.steps, "eval_every": 0})
        train(config)
        log = [json.loads(line) for line in (out_dir / "log.jsonl").read_text().splitlines()]
        last = [e for e in log if "loss" in e][-1]
        dev = [e for e in log if "dev_wer" in e][-1]
        runs.append({"precision": precision, "steps": last["step"], "train_seconds": round(last["train_seconds"], 1),
                     "audio_seconds_per_second": round(last["audio_seconds_per_second"], 1),
                     "dev_wer": round(dev["dev_wer"], 4), "dev_cer": round(dev["dev_cer"], 4)})
        print(f"{precision} ({repeat + 1}/{args.repeats}): {runs[-1]['audio_seconds_per_second']} audio s/s over {last['step']} steps, "
              f"dev WER {100 * dev['dev_wer']:.2f} %", flush=True)
    rows = []
    for precision in ("fp32", "bf16"):
        mine = sorted((r for r in runs if r["precision"] == precision), key=lambda r: r["audio_seconds_per_second"])
        rows.append({**mine[(len(mine) - 1) // 2], "audio_seconds_per_second_per_run": [r["audio_seconds_per_second"] for r in runs if r["precision"] == precision]})
    report = {
        "benchmark": "train_precision", "command": "python " + " ".join(sys.argv), "settings": DEMO, "corpus": args.data,
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__, "amx": cpu_has_amx(),
                    "load_average_1min_at_end": round(os.getloadavg()[0], 2)},
        "results": rows,
        "bf16_speedup": round(rows[1]["audio_seconds_per_second"] / rows[0]["audio_seconds_per_second"], 2),
        "dev_wer_difference_points": round(100 * (rows[1]["dev_wer"] - rows[0]["dev_wer"]), 2),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"bf16 / fp32 throughput: {report['bf16_speedup']}x; dev WER difference {report['dev_wer_difference_points']:+.2f} points; wrote {args.out}")


if __name__ == "__main__":
    main()
