"""CTC fine-tuning, the whole loop in one place.

A model starts from a pretrained encoder (or, for the baseline, the same
architecture with random weights), gets a fresh CTC head over the target
language's characters, and is trained with AdamW on batches of similar-length
utterances. The lower encoder layers can be frozen: the transfer-learning
recipe of Kunze et al. (2017).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from asr.audio import load_audio
from asr.checkpoint import ModelBundle, save_checkpoint
from asr.features import LogMelFrontend
from asr.manifest import Utterance, read_manifest
from asr.pretrained import new_ctc_model
from asr.text import Vocabulary, normalize_transcript
from asr.transcribe import resolve_device


def _option(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    train_manifest: str = field(metadata={"help": "training manifest (.jsonl)"})
    output: str = field(metadata={"help": "checkpoint file to write (.safetensors)"})
    language: str = _option("de", "target language: de, en, it or es")
    init: str = _option("whisper-base", "pretrained encoder to start from: whisper-base, whisper-tiny.en, whisper-small or a path")
    random_init: bool = _option(False, "same architecture as --init with random weights: the from-scratch baseline")
    freeze_layers: int = _option(0, "freeze the convolutional stem and this many lower encoder layers")
    lr_head: float = _option(1e-3, "peak learning rate of the CTC head")
    lr_encoder: float = _option(1e-4, "peak learning rate of the trainable encoder layers")
    weight_decay: float = _option(0.01, "AdamW weight decay")
    warmup_steps: int = _option(50, "linear warmup steps, then cosine decay to zero at --max-steps")
    max_steps: int = _option(1000, "optimizer steps")
    time_budget: float | None = _option(None, "stop after this many seconds of training, whatever the step")
    batch_seconds: float = _option(60.0, "audio seconds per batch (batches group utterances of similar length)")
    max_duration: float = _option(20.0, "skip training utterances longer than this many seconds")
    max_grad_norm: float = _option(1.0, "gradient clipping norm")
    save_every: float = _option(300.0, "seconds between checkpoints, so a crash loses little")
    seed: int = _option(0, "seed for initialisation and batch order")
    device: str = _option("auto", "auto, cpu or cuda[:N]")


def length_bucketed_batches(utterances: list[Utterance], batch_seconds: float, rng: random.Random) -> list[list[int]]:
    """Batches of utterances of similar length, `batch_seconds` of audio at most each, in random order.

    Sorting by length keeps padding small; shuffling within equal lengths and
    then the batches keeps epochs different.
    """
    order = sorted(range(len(utterances)), key=lambda i: (utterances[i].duration, rng.random()))
    batches, current, seconds = [], [], 0.0
    for i in order:
        if current and seconds + utterances[i].duration > batch_seconds:
            batches.append(current)
            current, seconds = [], 0.0
        current.append(i)
        seconds += utterances[i].duration
    if current:
        batches.append(current)
    rng.shuffle(batches)
    return batches


def train(config: TrainConfig) -> Path:
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)

    utterances = read_manifest(config.train_manifest, max_duration=config.max_duration)
    if not utterances:
        raise ValueError(f"{config.train_manifest}: no utterances of at most {config.max_duration} s to train on")
    transcripts = [normalize_transcript(u.text, config.language) for u in utterances]
    vocabulary = Vocabulary.from_transcripts(transcripts)
    targets = [torch.tensor(vocabulary.encode(t), dtype=torch.long) for t in transcripts]

    bundle = new_ctc_model(config.init, vocabulary, config.language, random_init=config.random_init)
    model = bundle.model.to(device).train()
    model.freeze_lower(config.freeze_layers)
    frontend = LogMelFrontend(bundle.frontend).to(device)
    head = list(model.head.parameters())
    encoder = [p for p in model.encoder.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": head, "lr": config.lr_head}, {"params": encoder, "lr": config.lr_encoder}],
        weight_decay=config.weight_decay,
    )

    def lr_factor(step: int) -> float:  # linear warmup, then cosine decay to zero at max_steps
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    output = Path(config.output)
    rng = random.Random(config.seed)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(
        f"training {bundle.metadata['init']} -> {output}: {len(utterances)} utterances, "
        f"{sum(u.duration for u in utterances) / 3600:.2f} h, {len(vocabulary)} tokens, "
        f"{trainable / 1e6:.1f} M trainable parameters, {config.freeze_layers} layers frozen, on {device}"
    )

    step, audio_seconds, started, last_save = 0, 0.0, time.monotonic(), time.monotonic()
    progress = tqdm(total=config.max_steps, unit="step", dynamic_ncols=True)
    batches: list[list[int]] = []
    while step < config.max_steps:
        if config.time_budget is not None and time.monotonic() - started >= config.time_budget:
            progress.write(f"time budget of {config.time_budget:.0f} s spent after {step} steps")
            break
        if not batches:
            batches = length_bucketed_batches(utterances, config.batch_seconds, rng)
        batch = batches.pop()
        waves = [load_audio(utterances[i].audio_filepath, bundle.frontend.sample_rate).to(device) for i in batch]
        features, feature_lengths = frontend.batch(waves)
        log_probs, frame_lengths = model(features, feature_lengths.to(device))
        batch_targets = [targets[i] for i in batch]
        # Mean over utterances of the per-target-length loss (torch's "mean"); zero_infinity
        # drops utterances whose transcript cannot fit in their frames instead of returning inf.
        loss = F.ctc_loss(
            log_probs.transpose(0, 1),
            torch.cat(batch_targets).to(device),
            frame_lengths,
            torch.tensor([len(t) for t in batch_targets], device=device),
            blank=vocabulary.blank_id,
            zero_infinity=True,
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(head + encoder, config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        step += 1
        audio_seconds += sum(utterances[i].duration for i in batch)
        elapsed = time.monotonic() - started
        progress.update(1)
        progress.set_postfix(loss=f"{loss.item():.3f}", lr=f"{scheduler.get_last_lr()[0]:.2e}", audio_s_per_s=f"{audio_seconds / elapsed:.1f}")
        if time.monotonic() - last_save >= config.save_every:
            _save(output, bundle, config, step, elapsed, audio_seconds)
            last_save = time.monotonic()
    progress.close()
    _save(output, bundle, config, step, time.monotonic() - started, audio_seconds)
    print(f"saved {output} after {step} steps, {time.monotonic() - started:.0f} s")
    return output


def _save(output: Path, bundle: ModelBundle, config: TrainConfig, step: int, seconds: float, audio_seconds: float) -> None:
    bundle.metadata.update(
        {"train_config": asdict(config), "steps": step, "train_seconds": round(seconds, 1), "audio_seconds_seen": round(audio_seconds, 1)}
    )
    save_checkpoint(output, bundle)
