"""bf16 inference on a CPU: the encoder's attention as two matrix products and a softmax against torch's fused kernel.

`asr.models.attention` computes training's bf16 attention on a CPU as two products and a softmax, whose backward
pass ran faster than the fused kernel's on a Zen 5 EPYC; without gradients it takes the fused kernel. This times a
model's bf16 forward pass (inference mode, autocast, as the Transcriber runs it) with each, side by side, the two
alternating at every pass, at the shapes batch transcription and streaming meet (8 clips of 10 s, 4 of 30 s, 1 and 4
streaming windows of 2.88 s; the last input of each a little shorter, so the padding mask is there as in a batch),
and reports RTFx of the model alone and how often the two agree on each frame's most likely token.

    python bench/attention_cpu.py --model de --out bench/results/attention_cpu-amx.json
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

import asr.models
from asr.cpu import cpu_has_amx, cpu_has_native_bf16, cpu_model
from asr.registry import load_model

SHAPES = [(8, 1008), (4, 3000), (1, 288), (4, 288)]  # (inputs, mel frames)
ATTENTION = asr.models.attention


def two_products(q, k, v, mask):
    with torch.enable_grad():  # the path asr.models.attention takes where gradients are on
        return ATTENTION(q, k, v, mask).detach()


def fused(q, k, v, mask):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None else mask.to(q.dtype))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="de", help="a shipped model, a run folder or a checkpoint (default: %(default)s)")
    parser.add_argument("--passes", type=int, default=8, help="timed passes of each kind per shape (default: %(default)s)")
    parser.add_argument("--out", default="bench/results/attention_cpu.json")
    args = parser.parse_args()
    if not cpu_has_native_bf16():
        parser.error("this CPU has no native bf16: bf16 inference is not what runs here")
    model = load_model(args.model).model.eval()
    kinds = {"two products": two_products, "fused": fused}
    generator = torch.Generator().manual_seed(0)
    rows = []
    for inputs, frames in SHAPES:
        features = torch.randn(inputs, 80, frames, generator=generator)
        lengths = torch.full((inputs,), frames)
        lengths[-1] -= 24

        def forward(kind: str) -> tuple[float, torch.Tensor]:
            asr.models.attention = kinds[kind]
            try:
                started = time.perf_counter()
                with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                    log_probs, _ = model(features, lengths)
                return time.perf_counter() - started, log_probs.float()
            finally:
                asr.models.attention = ATTENTION

        for kind in kinds:  # warm-up
            forward(kind)
        seconds, outputs = dict.fromkeys(kinds, 0.0), {}
        for k in range(args.passes):
            for kind in (list(kinds) if k % 2 else list(kinds)[::-1]):
                elapsed, outputs[kind] = forward(kind)
                seconds[kind] += elapsed
        audio = inputs * frames / 100 * args.passes
        agree = (outputs["two products"].argmax(-1) == outputs["fused"].argmax(-1)).float().mean().item()
        rows.append({"inputs": inputs, "frames": frames, **{f"rtfx_{kind.replace(' ', '_')}": round(audio / s, 1) for kind, s in seconds.items()},
                     "fused_speedup": round(seconds["two products"] / seconds["fused"], 2), "frames_agreeing": round(agree, 4)})
        print(f"{inputs} x {frames / 100:.2f} s: two products RTFx {rows[-1]['rtfx_two_products']}, fused {rows[-1]['rtfx_fused']} "
              f"({rows[-1]['fused_speedup']}x); frames agreeing {100 * agree:.2f} %", flush=True)
    report = {"benchmark": "attention_cpu", "command": "python " + " ".join(sys.argv), "model": args.model, "passes": args.passes,
              "results": rows,
              "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                          "torch": torch.__version__, "amx": cpu_has_amx(), "load_average_1min_at_end": round(os.getloadavg()[0], 2)}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
