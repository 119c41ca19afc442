"""The `asr` command: one entry point for transcription, data, training and evaluation.

This is the composition root: it is the only place in `asr` that reaches into
`training` and `eval`, and it imports them only when their subcommand runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import sys
import time
import typing
from pathlib import Path

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au"}
MANIFEST_SUFFIXES = {".jsonl", ".json"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="asr",
        description="Transfer ASR: fine-tune a pretrained Whisper encoder with CTC to a new language, and use it.",
        epilog="Run `asr COMMAND --help` for each command's options.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_transcribe(commands)
    _add_data(commands)
    _add_train(commands)
    _add_eval(commands)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


# --- transcribe ----------------------------------------------------------------


def _add_transcribe(commands) -> None:
    from asr.writers import FORMATS

    p = commands.add_parser(
        "transcribe",
        help="transcribe audio files with a trained checkpoint",
        description="Transcribe audio files, directories (searched recursively), globs or manifests (.jsonl). "
        "Any sample rate; stereo is mixed down. Long audio is split into overlapping chunks and stitched.",
        epilog="example: asr transcribe talk.mp3 recordings/ --model runs/de.safetensors --format srt --output-dir subs",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio file, directory, glob or manifest")
    p.add_argument("--model", required=True, help="checkpoint (.safetensors) written by `asr train`")
    p.add_argument("--format", default="txt", choices=[*FORMATS, "all"], help="output format (default: txt)")
    p.add_argument("--output-dir", default=".", help="where output files go (default: current directory)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    p.add_argument("--batch-size", type=int, default=8, help="audio chunks per forward pass (default: 8)")
    p.add_argument("--chunk-seconds", type=float, default=20.0, help="longest piece run at once (max 30; default: 20)")
    p.add_argument("--overlap-seconds", type=float, default=2.0, help="overlap between chunks of long audio (default: 2)")
    p.set_defaults(run=_run_transcribe)


def expand_inputs(paths: list[str]) -> tuple[list[Path], list[str]]:
    """Audio files named by paths, directories, globs and manifests; and the inputs that named none."""
    from asr.manifest import read_manifest

    files: list[Path] = []
    problems: list[str] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
        elif path.suffix.lower() in MANIFEST_SUFFIXES and path.is_file():
            try:
                found = [u.audio_filepath for u in read_manifest(path)]
            except ValueError as error:
                problems.append(str(error))
                continue
        elif path.exists():
            found = [path]
        else:
            found = sorted(Path(p) for p in glob.glob(given, recursive=True) if Path(p).is_file())
        if not found:
            problems.append(f"{given}: no such file, and no audio found there")
        files.extend(found)
    return files, problems


def _run_transcribe(args) -> int:
    from tqdm import tqdm

    from asr.audio import AudioError
    from asr.transcribe import Transcriber, TranscribeOptions
    from asr.writers import write_transcription

    files, problems = expand_inputs(args.paths)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    stems: dict[str, Path] = {}
    for f in files:
        if f.stem in stems and stems[f.stem] != f:
            print(f"error: {stems[f.stem]} and {f} would write the same output files; transcribe them in separate runs or rename one", file=sys.stderr)
            return 2
        stems[f.stem] = f
    if not files:
        return 2
    options = TranscribeOptions(batch_size=args.batch_size, chunk_seconds=min(args.chunk_seconds, 30.0), overlap_seconds=args.overlap_seconds)
    transcriber = Transcriber(args.model, device=args.device, options=options)
    failed = len(problems)
    audio_seconds = 0.0
    started = time.monotonic()
    with tqdm(total=len(files), unit="file", desc="transcribing", file=sys.stderr, dynamic_ncols=True) as progress:
        for path, result in transcriber.transcribe_files(files):
            progress.update(1)
            if isinstance(result, AudioError):
                failed += 1
                progress.write(f"error: {result}", file=sys.stderr)
                continue
            audio_seconds += result.duration
            write_transcription(result, path, args.output_dir, [args.format])
            progress.write(f"{path}: {result.text}")
    wall = time.monotonic() - started
    print(
        f"{len(files) - failed + len(problems)} of {len(files) + len(problems)} inputs transcribed: "
        f"{audio_seconds:.1f} s of audio in {wall:.1f} s, RTFx {audio_seconds / max(wall, 1e-9):.1f} "
        f"on {transcriber.device}",
        file=sys.stderr,
    )
    if failed:
        print(f"{failed} input(s) failed; see the errors above", file=sys.stderr)
    return 1 if failed else 0


# --- data ------------------------------------------------------------------------


def _add_data(commands) -> None:
    p = commands.add_parser("data", help="build speech corpora", description="Build and inspect speech corpora.")
    data = p.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")
    s = data.add_parser(
        "synth",
        help="synthesize a corpus with Debian's speech synthesizers",
        description="Synthesize train/dev/test manifests from the fortunes texts of a language with many voices. "
        "Test voices are heard only in test, the dev voice only in dev. Resumable: rerun the same command after an interruption.",
        epilog="example: asr data synth --lang de --utterances 2000 --out data/synth-de",
    )
    s.add_argument("--lang", required=True, choices=["de", "en", "it", "es"], help="target language")
    s.add_argument("--utterances", type=int, required=True, help="utterances in all splits together (80/10/10)")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--seed", type=int, default=0, help="seed for texts, voices, rate and pitch (default: 0)")
    s.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    s.set_defaults(run=_run_synth)


def _run_synth(args) -> int:
    import os

    from asr.synth import build_corpus

    manifests = build_corpus(args.lang, Path(args.out), args.utterances, seed=args.seed, jobs=args.jobs or os.cpu_count() or 1)
    for split, path in manifests.items():
        print(f"{split}: {path}")
    return 0


# --- train -------------------------------------------------------------------------


def _add_train(commands) -> None:
    from training.train import TrainConfig

    p = commands.add_parser(
        "train",
        help="fine-tune a pretrained encoder (or train from scratch) with CTC",
        description="Fine-tune a pretrained Whisper encoder with a new CTC head on a manifest. "
        "With --random-init, train the same architecture from random weights (the baseline).",
        epilog="example: asr train --train-manifest data/synth-de/train.jsonl --output runs/de.safetensors "
        "--init whisper-base --freeze-layers 3 --time-budget 600",
    )
    _add_dataclass_options(p, TrainConfig)
    p.set_defaults(run=_run_train)


def _add_dataclass_options(parser: argparse.ArgumentParser, config_class) -> None:
    """One --option per field of a config dataclass, typed from its annotation."""
    hints = typing.get_type_hints(config_class)
    for field in dataclasses.fields(config_class):
        flag = "--" + field.name.replace("_", "-")
        kind = hints[field.name]
        required = field.default is dataclasses.MISSING
        text = field.metadata.get("help", "")
        if kind is bool:
            parser.add_argument(flag, action="store_true", help=text)
            continue
        base = next((t for t in typing.get_args(kind) if t is not type(None)), kind)
        text += " (required)" if required else f" (default: {field.default})"
        parser.add_argument(flag, type=base, required=required, default=None if required else field.default, help=text)


def _run_train(args) -> int:
    from training.train import TrainConfig, train

    names = {f.name for f in dataclasses.fields(TrainConfig)}
    train(TrainConfig(**{k: v for k, v in vars(args).items() if k in names}))
    return 0


# --- eval ----------------------------------------------------------------------------


def _add_eval(commands) -> None:
    p = commands.add_parser(
        "eval",
        help="word and character error rates of checkpoints on a manifest",
        description="Transcribe a manifest with each model and score WER and CER (corpus level, jiwer).",
        epilog="example: asr eval --model runs/de.safetensors --model runs/scratch.safetensors --manifest data/synth-de/test.jsonl",
    )
    p.add_argument("--model", action="append", required=True, help="checkpoint; repeat to compare models")
    p.add_argument("--manifest", required=True, help="test manifest (.jsonl)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    p.add_argument("--batch-size", type=int, default=8, help="utterances per forward pass (default: 8)")
    p.add_argument("--json", dest="json_out", help="also write the scores, hypotheses and machine to this JSON file")
    p.add_argument("--markdown", help="also write the table to this Markdown file")
    p.set_defaults(run=_run_eval)


def _run_eval(args) -> int:
    import os
    import platform

    import torch

    from eval.evaluate import evaluate, markdown_table

    results = [evaluate(model, args.manifest, device=args.device, batch_size=args.batch_size) for model in args.model]
    table = markdown_table(results)
    print(table)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, " + (
        torch.cuda.get_device_name(0) if torch.cuda.is_available() and args.device != "cpu" else "no GPU"
    )
    command = "asr " + " ".join(sys.argv[1:])
    if args.json_out:
        report = {
            "command": command,
            "machine": machine,
            "results": [{**r.summary(), "references": r.references, "hypotheses": r.hypotheses} for r in results],
        }
        _write_atomically(Path(args.json_out), json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    if args.markdown:
        _write_atomically(Path(args.markdown), f"{table}\n\nTest set `{args.manifest}`. Made by `{command}` on {machine}.\n")
    return 0


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


if __name__ == "__main__":
    sys.exit(main())
