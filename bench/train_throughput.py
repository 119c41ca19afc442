"""Training throughput of whisper-base CTC fine-tuning, against the Hugging Face transformers encoder (the peer).

Both sides train the same thing: the whisper-base encoder with the same
weights and a linear CTC head over the German characters, on the same batch of
audio, with AdamW, the lower `--freeze-layers` layers frozen, the log-mel
frontend included. The project's encoder runs on the audio's own length;
transformers' WhisperEncoder insists on 30-second (3000-frame) inputs, so the
peer pads to 30 s, as it must. Reports audio seconds trained per wall second
and, on a GPU, model FLOPs utilisation. Prints a table and writes JSON.

    python bench/train_throughput.py [--batch 8] [--seconds 5] [--steps 5] [--freeze-layers 3]
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

from asr.cpu import cpu_model
from asr.features import LogMelFrontend
from asr.pretrained import huggingface_name, new_ctc_model
from asr.text import ALPHABETS, Vocabulary
from asr.transcribe import resolve_precision

# Dense bf16 peak of the GPUs this project is measured on, for MFU.
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def random_whisper_base(vocabulary: Vocabulary):
    """whisper-base + CTC with random weights: for machines without the weights (a lent GPU), same shapes and FLOPs."""
    from asr.checkpoint import ModelBundle
    from asr.features import FrontendConfig
    from asr.models import WhisperCTC, WhisperCTCConfig, WhisperEncoderConfig

    config = WhisperCTCConfig(encoder=WhisperEncoderConfig(), vocab_size=len(vocabulary))
    return ModelBundle("whisper-encoder-ctc", config.to_dict(), WhisperCTC(config), vocabulary, FrontendConfig(), "de")


def hf_encoder_with_head(bundle):
    """transformers' WhisperEncoder holding the same weights as the project's model, and the same head."""
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    c = bundle.model.config.encoder
    hf_config = WhisperConfig(num_mel_bins=c.n_mels, d_model=c.n_state, encoder_attention_heads=c.n_head,
                              encoder_layers=c.n_layer, encoder_ffn_dim=4 * c.n_state, max_source_positions=c.n_ctx)
    hf_config._attn_implementation = "sdpa"
    encoder = WhisperEncoder(hf_config)
    encoder.load_state_dict({huggingface_name(k): v for k, v in bundle.model.encoder.state_dict().items()}, strict=True)
    head = torch.nn.Linear(c.n_state, bundle.model.config.vocab_size)
    head.load_state_dict(bundle.model.head.state_dict())
    return encoder, head


def encoder_flops(n_state: int, n_layer: int, frames: int, trainable_layers: int) -> float:
    """Training FLOPs of one utterance: 2 per multiply-add forward; backward twice that for trainable layers."""
    per_layer = 2 * frames * 12 * n_state**2 + 2 * 2 * frames**2 * n_state  # projections + MLP, attention scores and mix
    forward = n_layer * per_layer
    return forward + 2 * trainable_layers * per_layer


def run(name, step_fn, steps, device) -> float:
    step_fn()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step_fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8, help="utterances per step (default: 8)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each utterance (default: 5)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per side (default: 5)")
    parser.add_argument("--freeze-layers", type=int, default=3, help="lower encoder layers frozen (default: 3)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                        help="auto: bf16 on a GPU and on a CPU with native bf16 (default: auto)")
    parser.add_argument("--random-weights", action="store_true",
                        help="whisper-base's shape with random weights, where its weights are not installed (the same computation)")
    parser.add_argument("--out", default=None, help="JSON output (default: bench/results/train_throughput-<device>.json)")
    args = parser.parse_args()
    device = torch.device(args.device)
    use_bf16 = resolve_precision(args.precision, device) == "bf16"

    vocabulary = Vocabulary.from_transcripts([ALPHABETS["de"]])
    bundle = random_whisper_base(vocabulary) if args.random_weights else new_ctc_model("whisper-base", vocabulary, "de")
    hf_encoder, hf_head = hf_encoder_with_head(bundle)
    with torch.no_grad():  # the same encoder: equal outputs on an input both accept
        probe = torch.randn(1, bundle.frontend.n_mels, 3000)
        difference = (hf_encoder.eval()(probe).last_hidden_state - bundle.model.encoder.eval()(probe, torch.tensor([3000]))[0]).abs().max()
    assert difference < 1e-3, f"the two encoders disagree by {difference}"
    model = bundle.model.to(device).train()
    model.freeze_lower(args.freeze_layers)
    hf_encoder.to(device).train()
    hf_head.to(device)
    for module in [hf_encoder.conv1, hf_encoder.conv2, *hf_encoder.layers[: args.freeze_layers]]:
        module.requires_grad_(False)
    hf_encoder.embed_positions.requires_grad_(False)

    frontend = LogMelFrontend(bundle.frontend).to(device)
    generator = torch.Generator().manual_seed(0)
    waves = [0.1 * torch.randn(int(args.seconds * 16000), generator=generator).to(device) for _ in range(args.batch)]
    targets = torch.randint(3, len(vocabulary), (args.batch, int(args.seconds * 12)), generator=generator).to(device)
    target_lengths = torch.full((args.batch,), targets.shape[1], device=device)

    ours_optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    hf_params = [p for p in [*hf_encoder.parameters(), *hf_head.parameters()] if p.requires_grad]
    hf_optimizer = torch.optim.AdamW(hf_params, lr=1e-5)

    def ours_step():
        features, lengths = frontend.batch(waves)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            log_probs, out_lengths = model(features, lengths.to(device))
        loss = F.ctc_loss(log_probs.float().transpose(0, 1), targets, out_lengths, target_lengths, zero_infinity=True)
        ours_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        ours_optimizer.step()

    def peer_step():
        features, lengths = frontend.batch(waves)
        features = F.pad(features, (0, 3000 - features.shape[-1]))  # transformers requires 30 s of frames
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            states = hf_encoder(features).last_hidden_state
            log_probs = hf_head(states).float().log_softmax(-1)
        out_lengths = torch.full((args.batch,), 1500, device=device)
        loss = F.ctc_loss(log_probs.transpose(0, 1), targets, out_lengths, target_lengths, zero_infinity=True)
        hf_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        hf_optimizer.step()

    c = bundle.model.config.encoder
    audio_per_step = args.batch * args.seconds
    rows = []
    for name, step_fn, frames in (("transfer-asr", ours_step, int(args.seconds * 50)), ("transformers", peer_step, 1500)):
        seconds = run(name, step_fn, args.steps, device)
        flops = args.batch * encoder_flops(c.n_state, c.n_layer, frames, c.n_layer - args.freeze_layers)
        gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
        peak = next((v for k, v in PEAK_BF16_FLOPS.items() if gpu and k in gpu), None)
        row = {"implementation": name, "seconds_per_step": round(seconds, 4), "audio_seconds_per_second": round(audio_per_step / seconds, 2),
               "encoder_frames": frames, "model_tflops_per_second": round(flops / seconds / 1e12, 3),
               "mfu": round(flops / seconds / peak, 4) if peak else None}
        rows.append(row)
        print(f"{name:13s} {seconds:7.3f} s/step  {row['audio_seconds_per_second']:8.1f} audio s/s  "
              f"{row['model_tflops_per_second']:.3f} TFLOP/s" + (f"  MFU {100 * row['mfu']:.1f} %" if row["mfu"] else ""))
    ratio = rows[0]["audio_seconds_per_second"] / rows[1]["audio_seconds_per_second"]
    print(f"transfer-asr / transformers throughput: {ratio:.2f}x")
    report = {
        "benchmark": "train_throughput",
        "command": "python " + " ".join(sys.argv),
        "model": "whisper-base encoder + linear CTC head" + (" (random weights)" if args.random_weights else ""),
        "batch": args.batch, "utterance_seconds": args.seconds, "freeze_layers": args.freeze_layers, "steps": args.steps,
        "precision": "bf16 autocast" if use_bf16 else "fp32",
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__,
                    "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None},
        "results": rows,
        "throughput_ratio": round(ratio, 3),
    }
    out = Path(args.out or f"bench/results/train_throughput-{device.type}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
