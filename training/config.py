"""Training configuration: one dataclass, read from a TOML or YAML file, overridden from the command line.

The effective config is saved into every checkpoint and training state, so a
run can always be told apart and repeated.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from asr.corpora.augment import AugmentConfig


def _option(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    # Data
    train_manifest: str = field(metadata={"help": "training manifest (.jsonl)"})
    out_dir: str = field(metadata={"help": "run folder: checkpoints, training state, logs"})
    dev_manifest: str | None = _option(None, "dev manifest for WER/CER during training, best-checkpoint choice and early stopping")
    language: str = _option("de", "target language: de, en, it or es")
    train_fraction: float = _option(1.0, "train on this fraction of the training hours (a fixed random subset)")
    train_voices: int = _option(0, "train on this many of the manifest's speakers only (a fixed random choice, before "
                                   "--train-fraction); 0: all")
    max_duration: float = _option(20.0, "skip training utterances longer than this many seconds")
    pieces: int = _option(0, "output word pieces as well as characters: the multi-character pieces of a BPE model of this "
                          "many symbols learnt from the training transcripts (0: characters only)")
    # Model
    init: str = _option(
        "whisper-base",
        "what to start from: a pretrained encoder (whisper-base, whisper-tiny.en, whisper-small or a path), "
        "a checkpoint of this project (.safetensors), or 'none' for a fresh --architecture",
    )
    random_init: bool = _option(False, "keep the architecture of --init but start from random weights: the baseline")
    architecture: str = _option("wav2letter", "architecture built when --init is 'none'")
    model_size: str = _option("", "architecture options as key=value,key=value (with --init none)")
    freeze_layers: int = _option(0, "freeze the stem and this many lower layers")
    unfreeze_every: int = _option(0, "gradual unfreezing: every this many steps, unfreeze the highest frozen layer (0: never)")
    lora_rank: int = _option(0, "train low-rank adapters (LoRA) of this rank for the linear layers above the frozen ones "
                             "instead of their weight matrices (biases, norms and the head learn as before; 0: no adapters)")
    # Optimisation
    lr_head: float = _option(1e-3, "peak learning rate of the output layer")
    lr_encoder: float = _option(1e-4, "peak learning rate of the trainable encoder layers")
    lr_adapters: float = _option(1e-3, "peak learning rate of the low-rank adapters (--lora-rank): higher than --lr-encoder, "
                                 "as LoRA usually needs (1e-3 is its common rate for Whisper)")
    weight_decay: float = _option(0.01, "AdamW weight decay")
    dropout: float = _option(0.0, "dropout probability on the trained layers' residual branches and on the head's input "
                             "(whisper-encoder-ctc models: Whisper's encoder; 0: none, as Whisper was trained)")
    schedule: str = _option("cosine", "learning-rate schedule after warmup: cosine, tri-stage or constant")
    warmup_steps: int = _option(50, "steps of linear warmup")
    hold_fraction: float = _option(0.4, "tri-stage: fraction of steps held at the peak after warmup")
    final_lr_scale: float = _option(0.05, "tri-stage: the last rate as a fraction of the peak")
    max_steps: int = _option(1000, "optimizer steps; the schedule decays over these, also under --time-budget. 0 (with "
                             "--time-budget): the steps the budget reaches at the speed of the warmup's steps, measured as they "
                             "run and kept when the run resumes (to give it more time, give a number)")
    time_budget: float | None = _option(None, "stop after this many seconds of training (evaluation not counted)")
    batch_seconds: float = _option(60.0, "audio seconds per micro-batch (utterances of similar length)")
    grad_accum: int = _option(1, "micro-batches per optimizer step on each process")
    max_grad_norm: float = _option(1.0, "gradient clipping norm")
    spec_augment: bool = _option(False, "SpecAugment: mask random frequency bands and time spans of the features")
    freq_masks: int = _option(2, "SpecAugment: frequency masks per utterance")
    freq_mask_width: int = _option(15, "SpecAugment: widest frequency mask, in mel bands")
    time_masks: int = _option(2, "SpecAugment: time masks per utterance")
    time_mask_width: int = _option(40, "SpecAugment: longest time mask, in 10 ms frames")
    augment: str = _option(
        "off",
        "on-the-fly waveform augmentation: off, default or telephone (presets), a JSON file, or "
        "probabilities as key=value,... of asr.corpora.augment.AugmentConfig (noise_prob=0.5,telephone_prob=0.3)",
    )
    data_workers: int = _option(-1, "input-pipeline worker processes that read, augment and featurise micro-batches ahead "
                                "of training; -1: beside a GPU all its process's cores but two, none on a CPU")
    precision: str = _option("auto", "auto (bf16 autocast on a GPU and on a CPU with native bf16, else fp32), fp32 or bf16")
    # Evaluation, checkpoints, logging
    eval_every: int = _option(0, "evaluate on the dev set every this many steps (0: at the end only)")
    early_stop_patience: int = _option(0, "stop after this many evaluations without a better dev WER (0: never)")
    save_every: int = _option(100, "steps between training-state checkpoints, which a killed run resumes from")
    keep_last: int = _option(2, "training-state checkpoints kept")
    log_every: int = _option(10, "steps between log lines (JSON lines and TensorBoard)")
    seed: int = _option(0, "seed for initialisation, data order and augmentation")
    device: str = _option("auto", "auto, cpu or cuda[:N] (under torchrun each process takes its local rank's GPU)")

    def __post_init__(self) -> None:
        if self.schedule not in ("cosine", "tri-stage", "constant"):
            raise ValueError(f"schedule must be cosine, tri-stage or constant, not {self.schedule!r}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be auto, fp32 or bf16, not {self.precision!r}")
        if not 0 < self.train_fraction <= 1:
            raise ValueError(f"train_fraction must be in (0, 1], not {self.train_fraction}")
        if self.train_voices < 0:
            raise ValueError(f"train_voices must be 0 (all) or a number of speakers, not {self.train_voices}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be a probability in [0, 1), not {self.dropout}")
        if self.pieces < 0:
            raise ValueError(f"pieces must be 0 (characters only) or a number of BPE symbols, not {self.pieces}")
        if self.lora_rank < 0:
            raise ValueError(f"lora_rank must be 0 (no adapters) or a rank, not {self.lora_rank}")
        if self.lora_rank and self.unfreeze_every:
            raise ValueError("low-rank adapters (--lora-rank) are added above the frozen layers once: they do not combine "
                             "with gradual unfreezing (--unfreeze-every)")
        if self.grad_accum < 1 or self.max_steps < 0:
            raise ValueError("grad_accum must be at least 1 and max_steps at least 0")
        if self.max_steps == 0 and (self.time_budget is None or self.warmup_steps < 3):
            raise ValueError("max_steps 0 sets the steps from the speed of the warmup's steps and the time budget: "
                             "give --time-budget and --warmup-steps of at least 3")


# Fields that may change when a run is resumed: how long and how often, not what.
RESUMABLE_CHANGES = {"max_steps", "time_budget", "eval_every", "save_every", "keep_last", "log_every", "early_stop_patience", "device",
                     "precision",  # a run moved to a machine with or without native bf16
                     "data_workers",
                     "out_dir"}  # the same run under another path: moved, or linked (runs/release/LANG -> a candidate's run)


def parse_key_values(text: str) -> dict[str, str]:
    """'a=1,b=x' -> {'a': '1', 'b': 'x'}: the compact form of nested options on the command line."""
    pairs = [p for p in text.split(",") if p.strip()]
    bad = [p for p in pairs if "=" not in p]
    if bad:
        raise ValueError(f"expected key=value pairs separated by commas, got {bad}")
    return {k.strip(): v.strip() for k, v in (p.split("=", 1) for p in pairs)}


def augment_config(text: str) -> AugmentConfig:
    """The augmentation an `augment` option names: a preset, a JSON file or object, or key=value probabilities."""
    # Imported here, not at the top: `asr train --help` builds from this module and would load torch with it.
    from asr.corpora.augment import AugmentConfig

    text = text.strip()
    if text in ("", "off", "default", "telephone"):
        return AugmentConfig.preset(text or "off")
    if text.startswith("{"):
        return AugmentConfig.from_dict(json.loads(text))
    if text.endswith(".json"):
        return AugmentConfig.from_json(text)
    return AugmentConfig.from_dict({k: float(v) for k, v in parse_key_values(text).items()})


def load_config(path: str | Path | None, overrides: dict[str, object]) -> TrainConfig:
    """The config of a TOML or YAML file (or none), with `overrides` on top."""
    values: dict[str, object] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such config file")
        text = path.read_text()
        try:
            values = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else tomllib.loads(text)
        except (tomllib.TOMLDecodeError, yaml.YAMLError) as error:
            raise ValueError(f"{path}: not valid {'YAML' if path.suffix in ('.yaml', '.yml') else 'TOML'}: {error}") from None
        values = values or {}
    values.update(overrides)
    known = {f.name: f for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown training options {unknown}; `asr train --help` lists them")
    missing = [name for name, f in known.items() if f.default is dataclasses.MISSING and name not in values]
    if missing:
        raise ValueError(f"missing required training options {missing} (in the config file or as --{missing[0].replace('_', '-')})")
    hints = typing.get_type_hints(TrainConfig)
    return TrainConfig(**{k: _coerce(k, v, hints[k]) for k, v in values.items()})


def _coerce(name: str, value: object, kind: object) -> object:
    if value is None:
        return None
    base = next((t for t in typing.get_args(kind) if t is not type(None)), kind)
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if base is str and not isinstance(value, str):
        # A nested table in TOML/YAML ([augment] noise_prob = 0.5) is kept as JSON.
        if isinstance(value, dict):
            return json.dumps(value)
        raise ValueError(f"option {name} must be a string, got {value!r}")
    if not isinstance(value, base):
        raise ValueError(f"option {name} must be {base.__name__}, got {value!r}")
    return value
