"""`asr train`: the training package's command, added to `asr` through its entry-point group."""

from __future__ import annotations

import argparse
import dataclasses

from asr.cli import add_dataclass_options


def add_commands(commands) -> None:
    _add_train(commands)


def _add_train(commands) -> None:
    from training.config import TrainConfig

    p = commands.add_parser(
        "train",
        help="fine-tune a pretrained encoder (or train from scratch) with CTC",
        description="Train a CTC model. Options come from a TOML or YAML --config file; options given on the command "
        "line override it. A run folder that holds training state is resumed where it stopped, also after a crash. "
        "Under `torchrun --nproc-per-node N` the same command trains with N processes.",
        epilog="examples:\n"
        "  asr train --train-manifest data/synth-de/train.jsonl --dev-manifest data/synth-de/dev.jsonl \\\n"
        "      --out-dir runs/de --init whisper-base --freeze-layers 3 --time-budget 3600\n"
        "  asr train --config recipes/transfer_vs_baseline/whisper-base.toml --max-steps 2000\n"
        "  torchrun --nproc-per-node 8 -m asr train --config run.toml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", help="TOML or YAML file of the options below")
    add_dataclass_options(p, TrainConfig)
    p.set_defaults(run=_run_train)


def _run_train(args) -> int:
    from training.config import TrainConfig, load_config
    from training.train import train

    names = {f.name for f in dataclasses.fields(TrainConfig)}
    train(load_config(args.config, {k: v for k, v in vars(args).items() if k in names}))
    return 0
