"""The `asr` command: one entry point for transcription, data, training and evaluation.

This is the composition root: it is the only place in `asr` that reaches into
`training` and `eval`, and it imports them only when their subcommand runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
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
    _add_lm(commands)
    _add_leaderboard(commands)
    _add_serve(commands)
    _add_stream(commands)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, LookupError, ImportError) as error:
        # Bad input (a missing file, a wrong option, unknown weights, an optional package
        # not installed): say what, not a traceback.
        # ASR_DEBUG=1 shows the traceback for bug reports.
        if os.environ.get("ASR_DEBUG"):
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2


# --- transcribe ----------------------------------------------------------------


def _add_transcribe(commands) -> None:
    from asr.writers import FORMATS

    p = commands.add_parser(
        "transcribe",
        help="transcribe audio files with a trained checkpoint",
        description="Transcribe audio files, directories (searched recursively), globs or manifests (.jsonl). "
        "Any sample rate; stereo is mixed down. Long audio is split into overlapping chunks and stitched.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  asr transcribe talk.mp3 recordings/ --model runs/de.safetensors --format srt --output-dir subs\n"
        "  asr transcribe talk.mp3 --model runs/de.safetensors --decoder beam --lm runs/lm-de --boost 'Frau Holle'\n\n"
        "decoding options:\n" + DECODE_EXAMPLES,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio file, directory, glob or manifest")
    p.add_argument("--model", required=True, help="checkpoint (.safetensors) written by `asr train`")
    p.add_argument("--format", default="txt", choices=[*FORMATS, "all"], help="output format (default: txt)")
    p.add_argument("--output-dir", default=".", help="where output files go (default: current directory)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    p.add_argument("--batch-size", type=int, default=8, help="audio chunks per forward pass (default: 8)")
    p.add_argument("--chunk-seconds", type=float, default=20.0, help="longest piece run at once (max 30; default: 20)")
    p.add_argument("--overlap-seconds", type=float, default=2.0, help="overlap between chunks of long audio (default: 2)")
    add_decode_arguments(p)
    p.set_defaults(run=_run_transcribe)


DECODE_EXAMPLES = (
    "  --decoder beam --lm runs/lm-de                                  beam search with a word 4-gram LM (tuned weights)\n"
    "  --decoder beam --lm runs/lm-de --boost 'Frau Holle:8'           ... and make a phrase likelier\n"
    "  --decoder beam --lexicon-free --boost-file phrases.txt          any spelling, boosted phrases, no LM"
)


def add_decode_arguments(parser: argparse.ArgumentParser) -> None:
    """The decoder's options (asr.decoding.DecodeOptions), the same for every command that decodes."""
    g = parser.add_argument_group("decoding", "greedy by default; beam search with an n-gram LM and phrase boosts")
    g.add_argument("--decoder", choices=["greedy", "beam"], default="greedy", help="CTC decoder (default: greedy)")
    g.add_argument("--lm", metavar="DIR", help="language model folder from `asr lm build` (beam; lexicon-constrained)")
    g.add_argument("--lexicon-free", action="store_true", help="beam search over any character sequence, without a word LM")
    g.add_argument("--lm-weight", type=float, help="LM weight (default: the LM folder's tuned value, else 1)")
    g.add_argument("--word-score", type=float, help="word insertion score (default: the LM folder's tuned value, else 0)")
    g.add_argument("--beam-size", type=int, default=50, help="hypotheses kept per frame (default: 50)")
    g.add_argument("--beam-threshold", type=float, default=25.0, help="prune hypotheses this far below the best (default: 25)")
    g.add_argument("--nbest", type=int, default=1, help="hypotheses kept per utterance; --format json lists the runners-up (default: 1)")
    g.add_argument("--boost", action="append", default=[], metavar="PHRASE[:BOOST]",
                   help="make a phrase likelier (log10 units per word, default 5); repeatable")
    g.add_argument("--boost-file", metavar="FILE", help="boosts, one PHRASE[:BOOST] a line (# comments)")


def decode_options(args):
    from asr.decoding import DecodeOptions, parse_boosts, read_boosts

    boosts = parse_boosts(args.boost) + (read_boosts(args.boost_file) if args.boost_file else ())
    return DecodeOptions(
        method=args.decoder, lm_dir=args.lm, lexicon_free=args.lexicon_free, lm_weight=args.lm_weight,
        word_score=args.word_score, beam_size=args.beam_size, beam_threshold=args.beam_threshold, nbest=args.nbest,
        boosts=boosts,
    )


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
    transcriber = Transcriber(args.model, device=args.device, options=options, decoding=decode_options(args))
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
    p = commands.add_parser(
        "data",
        help="build, import, augment and inspect speech corpora",
        description="Build, import, augment and inspect speech corpora (NeMo-style JSON-lines manifests).",
    )
    data = p.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")
    s = data.add_parser(
        "synth",
        help="synthesize a corpus with Debian's speech synthesizers",
        description="Synthesize train/dev/test manifests from the fortunes texts of a language with many voices "
        "(espeak-ng, MBROLA, SVOX Pico, festival, flite, RHVoice, where each has the language), each utterance at a "
        "random speaking rate and pitch, 16 kHz mono. No sentence is in two splits; test voices are heard only in "
        "test, dev voices only in dev. Sentences with digits are dropped, not spelled out. Resumable: rerun the same "
        "command after an interruption. Deterministic for a seed.",
        epilog="example: asr data synth --lang de --hours 2 --out data/synth-de",
    )
    s.add_argument("--lang", required=True, choices=["de", "en", "it", "es"], help="target language")
    size = s.add_mutually_exclusive_group(required=True)
    size.add_argument("--utterances", type=int, help="utterances in all splits together (80/10/10)")
    size.add_argument(
        "--hours", type=float,
        help="hours of audio in all splits together (80/10/10): each split is synthesized until it has its share",
    )  # fmt: skip
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--seed", type=int, default=0, help="seed for texts, voices, rate and pitch (default: 0)")
    s.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    s.set_defaults(run=_run_synth)

    i = data.add_parser(
        "import",
        help="import LibriSpeech, Common Voice or a CSV/TSV into manifests",
        description="Write manifests for a corpus on disk. Every row's audio is decoded once for its duration; rows "
        "with a missing file, unreadable audio or an empty transcript are reported with their line and skipped.",
        epilog="examples: asr data import librispeech LibriSpeech/ --out data/ls | "
        "asr data import commonvoice cv-corpus/de --out data/cv --convert | "
        "asr data import csv corpus.tsv --lang de --out data/mine",
    )
    i.add_argument("format", choices=["librispeech", "commonvoice", "csv"], help="the corpus's layout")
    i.add_argument("source", help="LibriSpeech folder (or one subset), Common Voice language folder, or the CSV/TSV file")
    i.add_argument("--out", required=True, help="folder for the manifests (and converted audio)")
    i.add_argument("--lang", default=None, help="language of the transcripts (default: en for LibriSpeech, "
                   "Common Voice's locale column; none for CSV)")  # fmt: skip
    i.add_argument("--tables", default="train,dev,test",
                   help="Common Voice tables to import, comma-separated (default: train,dev,test)")  # fmt: skip
    i.add_argument("--delimiter", default=None, help="CSV delimiter (default: tab for .tsv, comma otherwise)")
    i.add_argument("--convert", action="store_true", help="also write the audio as 16 kHz mono WAV under OUT/wav/")
    i.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    i.set_defaults(run=_run_import)

    a = data.add_parser(
        "augment",
        help="write an augmented copy of a corpus (noise, reverb, speed, gain, telephone channel)",
        description="Write an augmented copy of a manifest's audio and a manifest for it (same file name, in --out). "
        "Each utterance's effects are drawn from the seed, recorded under the manifest key 'augment'.",
        epilog="examples: asr data augment data/synth-de/test.jsonl --telephone --out data/synth-de-phone | "
        "asr data augment data/synth-de/train.jsonl --preset default --copies 2 --out data/synth-de-aug",
    )
    a.add_argument("manifest", help="manifest to augment (.jsonl)")
    a.add_argument("--out", required=True, help="output folder")
    how = a.add_mutually_exclusive_group()
    how.add_argument("--config", help="JSON file of asr.augment.AugmentConfig fields")
    how.add_argument("--preset", choices=["default", "telephone"], help="a built-in configuration")
    how.add_argument("--telephone", action="store_true",
                     help="every utterance through the telephone channel (same as --preset telephone)")  # fmt: skip
    a.add_argument("--codec", default="mulaw", choices=["mulaw", "alaw", "g722", "none"],
                   help="the telephone channel's codec for --telephone / --preset telephone (default: mulaw)")  # fmt: skip
    a.add_argument("--copies", type=int, default=1, help="augmented copies of each utterance (default: 1)")
    a.add_argument("--seed", type=int, default=0, help="seed for the effects (default: 0)")
    a.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    a.set_defaults(run=_run_augment)

    t = data.add_parser(
        "stats",
        help="hours, utterances, speakers, characters and durations of manifests",
        description="Summarise one or more manifests: hours, utterances, speakers, languages, character "
        "inventory (and characters outside the language's alphabet), word counts and a duration histogram.",
        epilog="example: asr data stats data/synth-de/train.jsonl --json",
    )
    t.add_argument("manifests", nargs="+", metavar="MANIFEST", help="manifest (.jsonl)")
    t.add_argument("--json", action="store_true", help="print JSON instead of text")
    t.add_argument("--bin-seconds", type=float, default=None, help="histogram bin width (default: automatic)")
    t.set_defaults(run=_run_stats)


def _jobs(args) -> int:
    import os

    return args.jobs or os.cpu_count() or 1


def _run_synth(args) -> int:
    from asr.synth import build_corpus

    started = time.monotonic()
    manifests = build_corpus(
        args.lang, Path(args.out), args.utterances, seed=args.seed, jobs=_jobs(args), hours=args.hours
    )
    for split, path in manifests.items():
        print(f"{split}: {path}")
    print(f"built in {time.monotonic() - started:.0f} s; dataset card: {Path(args.out) / 'dataset_card.json'}")
    return 0


def _run_import(args) -> int:
    from asr.importers import import_commonvoice, import_librispeech, import_table

    try:
        if args.format == "librispeech":
            results = import_librispeech(args.source, args.out, lang=args.lang or "en", convert=args.convert, jobs=_jobs(args))
        elif args.format == "commonvoice":
            tables = [t.strip() for t in args.tables.split(",") if t.strip()]
            results = import_commonvoice(args.source, args.out, tables, lang=args.lang, convert=args.convert, jobs=_jobs(args))
        else:
            results = [import_table(args.source, args.out, lang=args.lang, delimiter=args.delimiter,
                                    convert=args.convert, jobs=_jobs(args))]  # fmt: skip
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for result in results:
        for row in result.bad_rows:
            print(f"skipped: {row}", file=sys.stderr)
    for result in results:
        print(result.summary())
    return 0


def _run_augment(args) -> int:
    from asr.augment import AugmentConfig, augment_corpus

    if args.config:
        config = AugmentConfig.from_json(args.config)
    elif args.telephone or args.preset == "telephone":
        config = AugmentConfig.preset("telephone", codec=args.codec)
    else:
        config = AugmentConfig.preset(args.preset or "default")
    manifest = augment_corpus(args.manifest, args.out, config, seed=args.seed, copies=args.copies, jobs=_jobs(args))
    print(f"{manifest}")
    return 0


def _run_stats(args) -> int:
    from asr.corpus_stats import corpus_stats, format_stats
    from asr.manifest import read_manifest

    reports = {}
    for path in args.manifests:
        try:
            utterances = read_manifest(path)
        except (OSError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        reports[path] = corpus_stats(utterances, args.bin_seconds)
    if args.json:
        print(json.dumps({path: stats.to_dict() for path, stats in reports.items()}, indent=2, ensure_ascii=False))
    else:
        print("\n\n".join(format_stats(stats, name=path) for path, stats in reports.items()))
    return 0


# --- train -------------------------------------------------------------------------


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
    _add_dataclass_options(p, TrainConfig)
    p.set_defaults(run=_run_train)


def _add_dataclass_options(parser: argparse.ArgumentParser, config_class) -> None:
    """One --option per field of a config dataclass, typed from its annotation.

    Defaults are not set here, so that only the options actually given override a config file.
    """
    hints = typing.get_type_hints(config_class)
    for field in dataclasses.fields(config_class):
        flag = "--" + field.name.replace("_", "-")
        kind = hints[field.name]
        text = field.metadata.get("help", "")
        text += " (required)" if field.default is dataclasses.MISSING else f" (default: {field.default})"
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=text)
            continue
        base = next((t for t in typing.get_args(kind) if t is not type(None)), kind)
        parser.add_argument(flag, type=base, default=argparse.SUPPRESS, help=text)


def _run_train(args) -> int:
    from training.config import TrainConfig, load_config
    from training.train import train

    names = {f.name for f in dataclasses.fields(TrainConfig)}
    train(load_config(args.config, {k: v for k, v in vars(args).items() if k in names}))
    return 0


# --- eval ----------------------------------------------------------------------------


def _add_eval(commands) -> None:
    from eval.normalize import NORMALIZERS

    p = commands.add_parser(
        "eval",
        help="word and character error rates of checkpoints on a manifest, against a baseline",
        description="Transcribe a manifest with each model and score WER and CER (corpus level, jiwer), after the "
        "same normaliser on references and hypotheses. With --baseline, each model's WER difference to the baseline "
        "gets a paired-bootstrap 95 % confidence interval and p-value. The JSON report keeps every hypothesis, so "
        "--rescore can score it again (another normaliser, say) without inference.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  asr eval --model runs/de.safetensors --manifest data/synth-de/test.jsonl\n"
        "  asr eval --model runs/de.safetensors --baseline runs/scratch.safetensors --manifest data/synth-de/test.jsonl \\\n"
        "      --json runs/eval.json --markdown runs/eval.md\n"
        "  asr eval --rescore runs/eval.json --normalizer basic --markdown runs/eval-basic.md\n"
        "  asr eval --model runs/de.safetensors --manifest data/synth-de/test.jsonl --decoder beam --lm runs/lm-de \\\n"
        "      --baseline-decoder greedy     # beam search + LM against greedy decoding of the same checkpoint",
    )
    p.add_argument("--model", action="append", help="checkpoint (.safetensors); repeat to score several")
    p.add_argument("--manifest", help="test manifest (.jsonl)")
    p.add_argument("--baseline", help="checkpoint every --model is compared with")
    p.add_argument("--rescore", metavar="REPORT", help="score the hypotheses saved in a JSON report again, instead of --model/--manifest")
    p.add_argument("--normalizer", choices=["auto", *NORMALIZERS], default=None,
                   help="text normaliser for references and hypotheses; auto: the test set's language "
                   "(the manifest's lang, else the model's), else basic (default: auto; with --rescore, the report's)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    p.add_argument("--batch-size", type=int, default=8, help="utterances per forward pass (default: 8)")
    p.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (default: 10000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    p.add_argument("--worst", type=int, default=5, help="worst utterances listed per model, with alignments (default: 5)")
    p.add_argument("--json", dest="json_out", help="also write the report, with every hypothesis, to this JSON file")
    p.add_argument("--markdown", help="also write the report to this Markdown file")
    p.add_argument("--baseline-decoder", choices=["greedy"], help="compare with the same --model decoded greedily "
                   "(the decoder-vs-decoder comparison; needs exactly one --model and no --baseline)")
    add_decode_arguments(p)
    p.set_defaults(run=_run_eval, parser=p)


def _run_eval(args) -> int:
    from asr.audio import AudioError
    from asr.pretrained import PretrainedNotFound
    from eval.evaluate import evaluate
    from asr.files import write_atomically
    from eval.normalize import get_normalizer
    from eval.report import build_report, describe_machine, rescore_report
    from eval.systems import CheckpointSystem
    from eval.testset import load_test_set

    if args.rescore and (args.model or args.manifest or args.baseline):
        args.parser.error("--rescore scores a saved report: give it without --model, --manifest and --baseline")
    if not args.rescore and not (args.model and args.manifest):
        args.parser.error("give --model and --manifest (or --rescore REPORT)")
    if args.baseline_decoder and (args.baseline or len(args.model or []) != 1):
        args.parser.error("--baseline-decoder compares one --model with itself: give exactly one --model and no --baseline")
    decoding = decode_options(args)
    command = "asr " + " ".join(sys.argv[1:])
    try:
        if args.rescore:
            report = rescore_report(args.rescore, args.normalizer, args.resamples, args.seed, command)
        else:
            test_set = load_test_set(args.manifest)
            paths = args.model + ([args.baseline] if args.baseline else [])
            systems = [CheckpointSystem(path, device=args.device, batch_size=args.batch_size, decoding=decoding) for path in paths]
            if args.baseline_decoder:
                systems.append(CheckpointSystem(args.model[0], f"{args.model[0]} (greedy)", device=args.device, batch_size=args.batch_size))
            normalizer = get_normalizer(args.normalizer or "auto", test_set.language or systems[0].language)
            results = [evaluate(system, test_set, normalizer, args.batch_size) for system in systems]
            baselines = len(args.model) if (args.baseline or args.baseline_decoder) else None
            report = build_report(results, baselines, args.resamples, args.seed, command, describe_machine())
    except (FileNotFoundError, ValueError, AudioError, PretrainedNotFound) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report.table())
    if args.json_out:
        write_atomically(args.json_out, report.to_json(args.worst))
    if args.markdown:
        write_atomically(args.markdown, report.markdown(args.worst))
    return 0


# --- lm ------------------------------------------------------------------------------------


def _add_lm(commands) -> None:
    p = commands.add_parser(
        "lm",
        help="build and tune word n-gram language models for beam-search decoding",
        description="Word n-gram language models (KenLM, modified Kneser-Ney) for `--decoder beam --lm DIR`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  asr lm build --lang de --order 4 --out runs/lm-de     # the fortunes-de sentences of the train split\n"
        "  asr lm build --text corpus.txt --lang de --out runs/lm-de\n"
        "  asr lm tune --lm runs/lm-de --model runs/de.safetensors --manifest data/synth-de/dev.jsonl",
    )
    lm = p.add_subparsers(dest="lm_command", required=True, metavar="ACTION")
    b = lm.add_parser(
        "build",
        help="build an ARPA LM and its lexicon from text",
        description="Build DIR/lm.arpa (and lm.bin) with KenLM's lmplz, and DIR/lexicon.txt: the LM's words that the "
        "language's alphabet spells. Text is normalised like transcripts. Without --text, the sentences of the "
        "fortunes that `asr data synth` (same --seed) puts in the train split: never a dev or test sentence.",
        epilog="example: asr lm build --lang de --order 4 --out runs/lm-de",
    )
    b.add_argument("--text", action="append", metavar="FILE", help="text file, one sentence a line; repeatable (default: the train split's fortunes)")
    b.add_argument("--lang", required=True, choices=["de", "en", "it", "es"], help="language: normaliser and alphabet")
    b.add_argument("--order", type=int, default=4, help="n-gram order (default: 4)")
    b.add_argument("--seed", type=int, default=0, help="the corpus split seed of `asr data synth` (default: 0)")
    b.add_argument("--out", required=True, metavar="DIR", help="output folder")
    b.set_defaults(run=_run_lm_build)
    t = lm.add_parser(
        "tune",
        help="search LM weight and word score on a dev manifest",
        description="Run the model once over a dev manifest, then beam-search it for every LM weight and word score "
        "of the grid, and write the pair with the lowest WER to DIR/tuned.json, which `--lm DIR` then uses.",
        epilog="example: asr lm tune --lm runs/lm-de --model runs/de.safetensors --manifest data/synth-de/dev.jsonl",
    )
    t.add_argument("--lm", required=True, metavar="DIR", help="language model folder from `asr lm build`")
    t.add_argument("--model", required=True, help="checkpoint (.safetensors)")
    t.add_argument("--manifest", required=True, help="dev manifest (.jsonl); never the test set")
    t.add_argument("--lm-weights", default="0.5,1,1.5,2,3", help="comma-separated grid (default: %(default)s)")
    t.add_argument("--word-scores", default="-4,-3,-2,-1,0", help="comma-separated grid; write --word-scores=-2,0 (a value starting with - needs the =) (default: %(default)s)")
    t.add_argument("--beam-size", type=int, default=50, help="beam size while tuning (default: 50)")
    t.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    t.add_argument("--batch-size", type=int, default=8, help="utterances per forward pass (default: 8)")
    t.set_defaults(run=_run_lm_tune)


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"expected comma-separated numbers, got {text!r}") from None


def _run_lm_build(args) -> int:
    from asr.lm import build_lm, train_sentences
    from asr.text import ALPHABETS, SPECIAL_TOKENS, Vocabulary, normalize_transcript

    if args.text:
        texts = [normalize_transcript(line, args.lang) for f in args.text for line in Path(f).read_text(encoding="utf-8").splitlines()]
    else:
        texts = train_sentences(args.lang, args.seed)
    vocabulary = Vocabulary(SPECIAL_TOKENS + tuple(sorted(ALPHABETS[args.lang])))
    out = build_lm(texts, args.out, vocabulary, order=args.order, language=args.lang)
    info = json.loads((out / "lm.json").read_text())
    print(f"{out}: {info['order']}-gram LM from {info['sentences']} sentences ({info['words']} words), "
          f"{info['vocabulary']} word types, {info['lexicon']} in the lexicon", file=sys.stderr)
    return 0


def _run_lm_tune(args) -> int:
    from asr.lm import tune
    from asr.transcribe import Transcriber, TranscribeOptions

    transcriber = Transcriber(args.model, device=args.device, options=TranscribeOptions(batch_size=args.batch_size))
    best = tune(transcriber, args.manifest, args.lm, _floats(args.lm_weights), _floats(args.word_scores), beam_size=args.beam_size)
    print(f"best: lm_weight {best['lm_weight']:g}, word_score {best['word_score']:g}, dev WER {100 * best['wer']:.2f} % "
          f"(written to {Path(args.lm) / 'tuned.json'})", file=sys.stderr)
    return 0


# --- leaderboard ------------------------------------------------------------------------


def _add_leaderboard(commands) -> None:
    from eval.leaderboard import DESCRIPTION, EXAMPLE, add_arguments

    p = commands.add_parser(
        "leaderboard",
        help="rank checkpoints and faster-whisper on test sets by WER, cached (also: python -m eval.leaderboard)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: asr leaderboard --config leaderboard.toml\n\nexample leaderboard.toml:\n\n" + EXAMPLE,
    )
    add_arguments(p)
    p.set_defaults(run=_run_leaderboard)


def _run_leaderboard(args) -> int:
    from eval.leaderboard import run_from_args

    return run_from_args(args, "asr " + " ".join(sys.argv[1:]))


# --- serve ---------------------------------------------------------------------------


def _add_serve(commands) -> None:
    from serving.options import ServerOptions

    defaults = ServerOptions()
    chunking, batching, limits = defaults.chunking, defaults.batching, defaults.limits
    p = commands.add_parser(
        "serve",
        help="run the gRPC streaming recognition service",
        description="Serve checkpoints over gRPC (service asr.v1.Recognizer: StreamingRecognize, Recognize, ListModels), "
        "with health checks, reflection and Prometheus metrics. Streams are decoded in chunks with left context and "
        "lookahead, and the chunks of all streams share batched forward passes. SIGTERM drains: no new calls, open "
        "streams get their final results.",
        epilog="examples:\n"
        "  asr serve --model runs/de.safetensors --device cuda --listen 0.0.0.0:50051 --metrics-port 9090\n"
        "  asr serve --model runs/de.safetensors --model runs/it.safetensors --token-file token.txt \\\n"
        "      --tls-cert server.crt --tls-key server.key",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", action="append", required=True, help="checkpoint (.safetensors); repeat to serve several, the first is the default")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    p.add_argument("--listen", default=defaults.listen, help="ADDRESS:PORT; 0.0.0.0:PORT for every interface, port 0 for any free one (default: %(default)s)")
    g = p.add_argument_group("streaming")
    g.add_argument("--chunk-ms", type=int, default=chunking.chunk_ms, help="audio decoded per step, a multiple of 20 (default: %(default)s)")
    g.add_argument("--left-context-ms", type=int, default=chunking.left_context_ms, help="earlier audio each step re-reads (default: %(default)s)")
    g.add_argument("--lookahead-ms", type=int, default=chunking.lookahead_ms, help="later audio each step waits for (default: %(default)s)")
    g.add_argument("--max-batch-size", type=int, default=batching.max_batch_size, help="most chunks per forward pass; 1 turns batching off (default: %(default)s)")
    g.add_argument("--max-wait-ms", type=float, default=batching.max_wait_ms, help="longest a chunk waits for others to share its pass (default: %(default)s)")
    g.add_argument("--stop-history-ms", type=int, default=defaults.endpointing.stop_history_ms, help="pause that ends an utterance unless a stream says otherwise; 0: none (default: %(default)s)")
    g = p.add_argument_group("limits")
    g.add_argument("--max-streams", type=int, default=limits.max_streams, help="concurrent streams (default: %(default)s)")
    g.add_argument("--max-stream-seconds", type=float, default=limits.max_stream_seconds, help="longest stream (default: %(default)s)")
    g.add_argument("--max-chunk-bytes", type=int, default=limits.max_chunk_bytes, help="largest audio message of a stream (default: %(default)s)")
    g.add_argument("--max-realtime-factor", type=float, default=limits.max_realtime_factor, help="fastest a stream may send audio after its burst; 0: no limit (default: %(default)s)")
    g.add_argument("--realtime-burst-seconds", type=float, default=limits.realtime_burst_seconds, help="audio a stream may send ahead of that pace (default: %(default)s)")
    g = p.add_argument_group("operations")
    g.add_argument("--token-file", help="require 'authorization: Bearer TOKEN' with the token in this file (health checks stay open)")
    g.add_argument("--tls-cert", help="PEM certificate chain: serve TLS (with --tls-key)")
    g.add_argument("--tls-key", help="PEM private key of --tls-cert")
    g.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on http://ADDRESS:PORT/metrics, ADDRESS as in --listen")
    g.add_argument("--grace-seconds", type=float, default=defaults.grace_seconds, help="on SIGTERM, how long open streams may go on (default: %(default)s)")
    add_decode_arguments(p)
    p.set_defaults(run=_run_serve)


def _run_serve(args) -> int:
    from asr.streaming import ChunkingOptions, EndpointOptions
    from serving.options import BatchOptions, Limits, ServerOptions
    from serving.server import serve

    token = Path(args.token_file).read_text().strip() if args.token_file else None
    if args.token_file and not token:
        raise ValueError(f"{args.token_file} holds no token")
    options = ServerOptions(
        listen=args.listen,
        chunking=ChunkingOptions(args.chunk_ms, args.left_context_ms, args.lookahead_ms),
        batching=BatchOptions(args.max_batch_size, args.max_wait_ms),
        endpointing=EndpointOptions(stop_history_ms=args.stop_history_ms),
        limits=Limits(
            max_streams=args.max_streams,
            max_stream_seconds=args.max_stream_seconds,
            max_chunk_bytes=args.max_chunk_bytes,
            max_realtime_factor=args.max_realtime_factor,
            realtime_burst_seconds=args.realtime_burst_seconds,
        ),
        token=token,
        tls_cert=Path(args.tls_cert) if args.tls_cert else None,
        tls_key=Path(args.tls_key) if args.tls_key else None,
        metrics_port=args.metrics_port,
        grace_seconds=args.grace_seconds,
    )
    return serve(args.model, args.device, options, decode_options(args))


# --- stream ----------------------------------------------------------------------------


def _add_stream(commands) -> None:
    p = commands.add_parser(
        "stream",
        help="stream audio files to a running `asr serve` and show the results live",
        description="Decode each file here (any format libsndfile reads), stream it to the server as 16-bit PCM, and show "
        "interim results updating in place and final results as they come. Without --realtime the audio goes as fast "
        "as the server allows.",
        epilog="examples:\n"
        "  asr stream talk.mp3 --server localhost:50051 --realtime\n"
        "  asr stream a.wav b.flac --server asr.example.org:443 --tls --json > results.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="FILE", help="audio file")
    p.add_argument("--server", default="localhost:50051", help="HOST:PORT of the server (default: localhost:50051)")
    p.add_argument("--realtime", action="store_true", help="pace the audio like a live microphone")
    p.add_argument("--chunk-ms", type=int, default=100, help="audio per message (default: 100)")
    p.add_argument("--model", default="", help="model name (see the server's ListModels; default: the server's default)")
    p.add_argument("--language", default="", help="BCP-47 language code the model must recognise (default: any)")
    p.add_argument("--no-interim", action="store_true", help="final results only")
    p.add_argument("--single-utterance", action="store_true", help="stop after the first utterance")
    p.add_argument("--json", action="store_true", help="one JSON object per response on stdout, for machines")
    p.add_argument("--tls", action="store_true", help="connect with TLS")
    p.add_argument("--ca-cert", help="PEM root certificate to trust (default: the system's)")
    p.add_argument("--token-file", help="file holding the server's token (default: the ASR_TOKEN environment variable)")
    p.set_defaults(run=_run_stream)


def _run_stream(args) -> int:
    import asyncio

    from serving.client import StreamOptions, stream_files

    token = Path(args.token_file).read_text().strip() if args.token_file else None
    options = StreamOptions(
        chunk_ms=args.chunk_ms,
        realtime=args.realtime,
        interim_results=not args.no_interim,
        single_utterance=args.single_utterance,
        model=args.model,
        language=args.language,
    )
    ca_cert = Path(args.ca_cert) if args.ca_cert else None
    return asyncio.run(stream_files([Path(p) for p in args.paths], args.server, options, args.json, args.tls, ca_cert, token))


if __name__ == "__main__":
    sys.exit(main())
