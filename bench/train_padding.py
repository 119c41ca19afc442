"""Training steps on micro-batches padded to a multiple of FRAME_MULTIPLE frames against each at its own length.

`LogMelFrontend.batch` pads every model input to a multiple of FRAME_MULTIPLE mel frames, so that the CPU kernels,
built and kept per input shape, meet a few shapes. This measures what that costs or buys a bf16 training step at the
demo's settings (whisper-base and the shipped model's head, 3 of 6 layers frozen, AdamW): the micro-batches of a
corpus's epoch plan (their sizes and longest lengths; random features, as the data path is not timed), each stepped
twice, at its own length and padded, the order alternating batch by batch so that drift in the machine's speed falls
on both alike (on a 2-core AMX Xeon the same step drifted between 254 and 440 ms over a minute). Throughput counts
the audio of the utterances, not the padding. Prints running figures and writes JSON.

    python bench/train_padding.py --data data/release-de --batches 300 --out bench/results/train_padding-amx.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from asr.corpora.manifest import read_manifest
from asr.cpu import cpu_has_amx, cpu_model
from asr.features import FRAME_MULTIPLE
from asr.registry import load_model
from training.config import load_config
from training.train import epoch_plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/synth-de", help="corpus folder with train.jsonl (default: %(default)s)")
    parser.add_argument("--model", default="de", help="model whose head is trained (default: %(default)s)")
    parser.add_argument("--batches", type=int, default=300, help="micro-batches of the plan, epoch after epoch (default: %(default)s)")
    parser.add_argument("--out", default="bench/results/train_padding.json")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = load_model(args.model).model.train()
    model.freeze_lower(3)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-6)
    utterances = read_manifest(f"{args.data}/train.jsonl")
    config = load_config(None, {"batch_seconds": 30.0, "train_manifest": f"{args.data}/train.jsonl", "out_dir": "unused"})
    shapes, epoch = [], 0
    while len(shapes) < args.batches:
        shapes += [(len(b), max(round(utterances[i].duration * 100) for i in b)) for b in epoch_plan(utterances, config, epoch)]
        epoch += 1
    shapes = shapes[: args.batches]

    def step(size: int, frames: int, padded_frames: int) -> float:
        features = F.pad(torch.randn(size, 80, frames), (0, padded_frames - frames))
        targets = torch.randint(3, 30, (size, max(1, frames // 12)))
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            log_probs, lengths = model(features, torch.full((size,), frames))
        F.ctc_loss(log_probs.float().transpose(0, 1), targets.flatten(), lengths, torch.full((size,), targets.shape[1]),
                   zero_infinity=True).backward()
        optimizer.step()
        return time.perf_counter() - started

    seconds = {"own length": 0.0, "padded": 0.0}
    audio = 0.0
    for k, (size, frames) in enumerate(shapes):
        order = [("own length", frames), ("padded", frames + -frames % FRAME_MULTIPLE)]
        for name, padded_frames in order if k % 2 else order[::-1]:
            seconds[name] += step(size, frames, padded_frames)
        audio += size * frames / 100
        if (k + 1) % 50 == 0 or k + 1 == len(shapes):
            print(f"{k + 1} micro-batches: own length {audio / seconds['own length']:.1f} audio-s/s, "
                  f"padded {audio / seconds['padded']:.1f}", flush=True)
    report = {
        "benchmark": "train_padding", "command": "python " + " ".join(sys.argv), "corpus": args.data, "micro_batches": len(shapes),
        "frame_multiple": FRAME_MULTIPLE, "audio_seconds": round(audio, 1),
        "shapes": {"own length": len(set(shapes)), "padded": len({(s, f + -f % FRAME_MULTIPLE) for s, f in shapes})},
        "audio_seconds_per_second": {name: round(audio / s, 1) for name, s in seconds.items()},
        "padded_speedup": round(seconds["own length"] / seconds["padded"], 3),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__, "amx": cpu_has_amx(),
                    "load_average_1min_at_end": round(os.getloadavg()[0], 2)},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"padded / own length: {report['padded_speedup']}x over {report['shapes']['own length']} shapes against "
          f"{report['shapes']['padded']}; wrote {args.out}")


if __name__ == "__main__":
    main()
