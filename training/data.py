"""The training input pipeline: micro-batches read, augmented and turned into features off the training thread.

A `torch.utils.data.DataLoader` over the micro-batches this process trains on
from a point of an epoch to its end, in order, with worker processes and
prefetching (and pinned memory on CUDA), so that a GPU is not left waiting
for audio. Everything random in a micro-batch (waveform augmentation and
SpecAugment) is drawn from a seed of its step and of its place in the global
batch, never from a worker's state: a resumed run reads exactly what the
uninterrupted one did, N processes read what one process accumulating N
would, and the number of workers changes nothing.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import torch
import torchaudio.functional

from asr.audio import load_audio
from asr.corpora.augment import AugmentConfig, augment
from asr.corpora.manifest import Utterance
from asr.features import FrontendConfig, LogMelFrontend


@dataclass(frozen=True)
class SpecAugment:
    """SpecAugment (Park et al., 2019): random mel bands and time spans zeroed, each utterance its own."""

    freq_masks: int = 2
    freq_mask_width: int = 15
    time_masks: int = 2
    time_mask_width: int = 40

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        for _ in range(self.freq_masks):
            features = torchaudio.functional.mask_along_axis_iid(features, self.freq_mask_width, 0.0, axis=1)
        for _ in range(self.time_masks):
            features = torchaudio.functional.mask_along_axis_iid(features, self.time_mask_width, 0.0, axis=2)
        return features


def micro_batch_seed(seed: int, step: int, rank: int, grad_accum: int, micro: int) -> int:
    return seed * 1_000_003 + step * 1009 + rank * grad_accum + micro


class MicroBatches(torch.utils.data.Dataset):
    """This process's micro-batches from step `first_step` (at `position` of the epoch's `plan`) to the epoch's end.

    Item k is a dict: features and feature_lengths (the frontend's padded
    batch), targets (one tensor per utterance), audio_seconds, step, micro.
    """

    def __init__(self, plan: list[list[int]], position: int, first_step: int, rank: int, world_size: int, grad_accum: int,
                 utterances: list[Utterance], targets: list[torch.Tensor], frontend: FrontendConfig,
                 augmentation: AugmentConfig, spec_augment: SpecAugment | None, seed: int):
        per_step = world_size * grad_accum
        self.items = []
        for s in range((len(plan) - position) // per_step):  # the tail too short for a whole step is skipped
            first = position + s * per_step + rank * grad_accum
            for micro, batch in enumerate(plan[first : first + grad_accum]):
                self.items.append((first_step + s, micro, batch))
        self.rank, self.grad_accum, self.seed = rank, grad_accum, seed
        self.utterances, self.targets = utterances, targets
        self.frontend_config, self.augmentation, self.spec_augment = frontend, augmentation, spec_augment
        self._frontend: LogMelFrontend | None = None  # made in the process that uses it

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int) -> dict:
        step, micro, batch = self.items[k]
        seed = micro_batch_seed(self.seed, step, self.rank, self.grad_accum, micro)
        torch.manual_seed(seed)
        generator = random.Random(seed)
        if self._frontend is None:
            self._frontend = LogMelFrontend(self.frontend_config)
        waves = [load_audio(self.utterances[i].audio_filepath, self.frontend_config.sample_rate) for i in batch]
        if self.augmentation.enabled:
            waves = [augment(w, self.augmentation, generator) for w in waves]
        features, feature_lengths = self._frontend.batch(waves)
        if self.spec_augment is not None:
            features = self.spec_augment(features)
        return {
            "features": features, "feature_lengths": feature_lengths, "targets": [self.targets[i] for i in batch],
            "audio_seconds": sum(self.utterances[i].duration for i in batch), "step": step, "micro": micro,
        }


def _worker_init(worker_id: int) -> None:
    torch.set_num_threads(1)  # a worker reads and transforms one micro-batch; the trainer has the cores' threads


def resolve_workers(workers: int, device: torch.device) -> int:
    """-1 (auto): beside a GPU, this process's share of the cores (torchrun's LOCAL_WORLD_SIZE processes share them)
    but two, for the training loop and the system; none on a CPU, whose cores the training step itself uses.

    A worker reads, augments and featurises about 300 audio seconds a second: on an H200 (2026-12-04) 4 workers held
    training to about 1,300 audio-s/s where the model's own step runs 8,000 (bench/results/gpu/README.md)."""
    if workers >= 0:
        return workers
    if device.type != "cuda":
        return 0
    cores = len(os.sched_getaffinity(0)) // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, cores - 2)


def micro_batch_loader(dataset: MicroBatches, workers: int, device: torch.device) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(
        dataset, batch_size=None, shuffle=False, num_workers=workers, pin_memory=device.type == "cuda",
        prefetch_factor=4 if workers else None, persistent_workers=False, worker_init_fn=_worker_init if workers else None,
    )
