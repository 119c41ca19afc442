"""The `asr` command: one entry point for transcription, data, training, evaluation and serving.

The core's own commands (transcribe, data, lm) are here. `training`, `eval`
and `serving` build on `asr`, not the other way round: each adds its commands
through the `transfer_asr.commands` entry-point group (see pyproject.toml), so
this module imports none of them. The shared option helpers they use are here.
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
from importlib.metadata import entry_points
from pathlib import Path

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au"}
MANIFEST_SUFFIXES = {".jsonl", ".json"}
# Packages that build on asr add subcommands here: a function taking argparse subparsers.
COMMAND_GROUP = "transfer_asr.commands"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="asr",
        description="Transfer ASR: fine-tune a pretrained Whisper encoder with CTC to a new language, and use it.",
        epilog="Run `asr COMMAND --help` for each command's options.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_transcribe(commands)
    _add_data(commands)
    _add_lm(commands)
    _add_export(commands)
    _add_models(commands)
    for entry in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name):
        entry.load()(commands)
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


def console() -> None:
    """The `asr` command: `main`, then out without tearing the interpreter down. What a command built would otherwise
    be freed object by object after its work is done and its files are closed: the German model's lexicon alone
    takes about 2 s (bench/cli_startup.py)."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# --- transcribe ----------------------------------------------------------------


def _add_transcribe(commands) -> None:
    from asr.writers import FORMATS

    p = commands.add_parser(
        "transcribe",
        help="transcribe audio files with a trained checkpoint",
        description="Transcribe audio files, directories (searched recursively), globs or manifests (.jsonl). "
        "Any sample rate; stereo is mixed down. Long audio is split into overlapping chunks and stitched.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  asr transcribe talk.wav --model de          # the shipped German model, beam search with its LM\n"
        "  asr transcribe talk.wav --model de --decoder greedy\n"
        "  asr transcribe talk.mp3 recordings/ --model runs/de.safetensors --format srt --output-dir subs\n"
        "  asr transcribe talk.mp3 --model runs/de.safetensors --decoder beam --lm runs/lm-de --boost 'Frau Holle'\n\n"
        "decoding options:\n" + DECODE_EXAMPLES,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio file, directory, glob or manifest")
    add_model_arguments(p)
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
    g = parser.add_argument_group(
        "decoding", "beam search with the model's LM for a shipped model that has one, else greedy; "
        "beam search with an n-gram LM and phrase boosts")
    g.add_argument("--decoder", choices=["greedy", "beam"], default=None,
                   help="CTC decoder (default: beam with the model's own LM where it ships one, or where --lm, "
                   "--lexicon-free or a boost asks for it; else greedy)")
    g.add_argument("--lm", metavar="DIR", help="language model folder from `asr lm build` (beam; lexicon-constrained)")
    g.add_argument("--lexicon-free", action="store_true", help="beam search over any character sequence, without a word LM")
    g.add_argument("--lm-weight", type=float, help="LM weight (default: the LM folder's tuned value, else 1)")
    g.add_argument("--word-score", type=float, help="word insertion score (default: the LM folder's tuned value, else 0)")
    g.add_argument("--beam-size", type=int, help="hypotheses kept per frame (default: DecodeOptions.beam_size, 500)")
    g.add_argument("--beam-threshold", type=float, default=25.0, help="prune hypotheses this far below the best (default: 25)")
    g.add_argument("--nbest", type=int, default=1, help="hypotheses kept per utterance; --format json lists the runners-up (default: 1)")
    g.add_argument("--boost", action="append", default=[], metavar="PHRASE[:BOOST]",
                   help="make a phrase likelier (log10 units per word, default 5); repeatable")
    g.add_argument("--boost-file", metavar="FILE", help="boosts, one PHRASE[:BOOST] a line (# comments)")


def decode_options(args, model_lm: str | Path | None = None):
    """The DecodeOptions the decoding arguments ask for; `model_lm` is the model's own LM, the default for beam search."""
    from asr.decoding import DecodeOptions
    from asr.lm.boosting import parse_boosts, read_boosts

    boosts = parse_boosts(args.boost) + (read_boosts(args.boost_file) if args.boost_file else ())
    own_lm = str(model_lm) if model_lm and not args.lexicon_free else None
    method = args.decoder or ("beam" if (args.lm or own_lm or args.lexicon_free or boosts) else "greedy")
    # The model's own LM only where beam search is chosen; an --lm given with greedy is the user's error to hear of.
    lm_dir = args.lm or (own_lm if method == "beam" else None)
    return DecodeOptions(
        method=method, lm_dir=lm_dir, lexicon_free=args.lexicon_free, lm_weight=args.lm_weight,
        word_score=args.word_score, beam_size=DecodeOptions.beam_size if args.beam_size is None else args.beam_size,
        beam_threshold=args.beam_threshold, nbest=args.nbest, boosts=boosts,
    )


def add_model_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """--model, and how it runs (add_runtime_arguments), the same for every command that runs one model."""
    parser.add_argument("--model", required=required, help="a shipped model by language or name (de; `asr models` lists them), "
                        "a training run folder, or a checkpoint (.safetensors)")
    add_runtime_arguments(parser)


def add_runtime_arguments(parser: argparse.ArgumentParser, backend_default: str = "torch") -> None:
    """--precision and --backend, the same for every command that runs a model. A command that chooses its backend
    by the device says its rule in `backend_default`, and finds --backend None where the user set none."""
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                        help="auto: bf16 autocast on a GPU and on a CPU with native bf16 (AVX512-BF16, AMX), else fp32 (default: auto)")
    parser.add_argument("--backend", choices=["torch", "onnx"], default="torch" if backend_default == "torch" else None,
                        help="torch: PyTorch at --precision; onnx: the model's int8 ONNX export run by ONNX Runtime (made once per "
                        "checkpoint and cached; an .onnx model always runs so), the fastest on a CPU without native bf16 and for streaming on "
                        f"every CPU measured; for batch transcription on a CPU with native bf16 either may lead: "
                        f"bench/transcribe_backends.py measures both (default: {backend_default})")


def expand_inputs(paths: list[str]) -> tuple[list[Path], list[str]]:
    """Audio files named by paths, directories, globs and manifests; and the inputs that named none."""
    from asr.corpora.manifest import read_manifest

    files: list[Path] = []
    problems: list[str] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
            if not found:
                problems.append(f"{given}: a folder with no audio files in it or below it "
                                f"(looked for {', '.join(sorted(AUDIO_SUFFIXES))})")
                continue
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
            problems.append(f"{given}: no such file, and no file matches it as a pattern")
        files.extend(found)
    return files, problems


def _run_transcribe(args) -> int:
    from asr.progress import progress as progress_bar

    from asr.audio import AudioError
    from asr.registry import resolve_model
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
    model = resolve_model(args.model)
    decoding = decode_options(args, model.lm_dir)
    transcriber = Transcriber(model.checkpoint, device=args.device, options=options, decoding=decoding, precision=args.precision,
                              backend=args.backend)
    print(f"model {model.name} ({transcriber.bundle.language}), decoding: {decoding.label}, "
          f"{transcriber.backend} {transcriber.precision} on {transcriber.device}", file=sys.stderr)
    failed = len(problems)
    audio_seconds = 0.0
    started = time.monotonic()
    with progress_bar(total=len(files), unit="file", desc="transcribing") as progress:
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
        f"on {transcriber.device} ({transcriber.precision})",
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
        description="Synthesize train/dev/test manifests from a language's texts (Debian's fortunes and translated "
        "manual pages) with many voices "
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
    s.add_argument("--seed", type=int, default=0, help="seed for texts, voices, rate and pitch (default: 0, whose dev and "
                   "test sentences are the recorded ones every machine holds out; another seed cuts the texts anew)")
    s.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    s.add_argument("--train-pitch", type=_semitone_range, default=None, metavar="LOW,HIGH",
                   help="the train split's pitch range in semitones, wider than dev and test's for more distinct "
                   "speakers, e.g. --train-pitch=-3,6 (default: -3,3 as dev and test)")  # fmt: skip
    s.add_argument("--train-formant", type=_semitone_range, default=None, metavar="LOW,HIGH",
                   help="the train split's formant (vocal-tract length) range in semitones, e.g. --train-formant=-1.5,3 "
                   "(default: -1.5,1.5 as dev and test)")  # fmt: skip
    s.add_argument("--splits", type=_splits, default=None, metavar="SPLIT,...",
                   help="synthesize only these splits, e.g. --splits dev,test to score a shipped model on its "
                   "held-out voices without building its train split: the same files as a whole build's (default: "
                   "train,dev,test)")  # fmt: skip
    s.add_argument("--accented-voices", nargs="?", const="mbrola", type=lambda text: tuple(text.split(",")), default=(),
                   metavar="ENGINE,...",
                   help="add to the train split other languages' voices of these engines speaking this one with an "
                   "accent (Italian: MBROLA's Spanish es1, es2, mx1, mx2; Italian, Spanish and German: Pico's French, "
                   "through espeak-ng's phonemes): "
                   "more speakers to learn from, e.g. --accented-voices mbrola,pico (alone: mbrola, as the release "
                   "recipe builds Italian)")  # fmt: skip
    s.add_argument("--vocalised-r", action="store_true",
                   help="German: the train split's MBROLA voices say an r that ends a syllable as standard German and "
                   "SVOX Pico do (klar, der, wird: a vowel, [ɐ]) where espeak-ng says a consonant; the Bavarian de8 "
                   "and espeak-ng's own variants keep the consonant, so the model hears both")  # fmt: skip
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
    how.add_argument("--config", help="JSON file of asr.corpora.augment.AugmentConfig fields")
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


def _semitone_range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not LOW,HIGH in semitones, e.g. -3,6") from None
    if low > high:
        raise argparse.ArgumentTypeError(f"{text!r}: LOW must not be above HIGH")
    return low, high


def _splits(text: str) -> list[str]:
    from asr.corpora.texts import SPLITS

    splits = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [split for split in splits if split not in SPLITS]
    if unknown or not splits:
        raise argparse.ArgumentTypeError(f"{text!r}: name splits among {','.join(SPLITS)}, e.g. dev,test")
    return splits


def _run_synth(args) -> int:
    from dataclasses import replace

    from asr.corpora.synth import ACCENTED_VOICES, HELD_OUT_VARIATION, VOCALISED_R_DATABASES, VOICES, build_corpus

    accented = [voice for voice in ACCENTED_VOICES.get(args.lang, []) if voice.engine in args.accented_voices]
    missing = [engine for engine in args.accented_voices if not any(voice.engine == engine for voice in accented)]
    if missing:
        there = "; ".join(f"{lang}: {','.join(sorted({voice.engine for voice in voices}))}"
                          for lang, voices in sorted(ACCENTED_VOICES.items()))
        raise ValueError(f"--accented-voices: no accented {', '.join(missing)} voices for {args.lang!r} (there are "
                         f"for {there}); leave the flag out or name those engines")
    train_variation = replace(HELD_OUT_VARIATION, pitch=args.train_pitch or HELD_OUT_VARIATION.pitch,
                              formant=args.train_formant or HELD_OUT_VARIATION.formant)
    voices = {split: VOICES[args.lang][split] for split in args.splits or VOICES[args.lang]}
    if accented and "train" in voices:
        voices["train"] = voices["train"] + accented
    if args.vocalised_r and args.lang != "de":
        raise ValueError(f"--vocalised-r: German's alone (its MBROLA training voices "
                         f"{', '.join(VOCALISED_R_DATABASES)}), not {args.lang!r}; leave the flag out")
    if args.vocalised_r and "train" in voices:
        voices["train"] = [replace(voice, vocalised_r=True) if voice.mbrola_database in VOCALISED_R_DATABASES else voice
                           for voice in voices["train"]]
    started = time.monotonic()
    manifests = build_corpus(
        args.lang, Path(args.out), args.utterances, seed=args.seed, jobs=_jobs(args), hours=args.hours,
        train_variation=train_variation, voices=voices,
    )
    for split, path in manifests.items():
        print(f"{split}: {path}")
    print(f"built in {time.monotonic() - started:.0f} s; dataset card: {Path(args.out) / 'dataset_card.json'}")
    return 0


def _run_import(args) -> int:
    from asr.corpora.importers import import_commonvoice, import_librispeech, import_table

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
    from asr.corpora.augment import AugmentConfig, augment_corpus

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
    from asr.corpora.stats import corpus_stats, format_stats
    from asr.corpora.manifest import read_manifest

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


# --- lm ------------------------------------------------------------------------------------


def _add_lm(commands) -> None:
    p = commands.add_parser(
        "lm",
        help="build and tune word n-gram language models for beam-search decoding",
        description="Word n-gram language models (KenLM, modified Kneser-Ney) for `--decoder beam --lm DIR`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  asr lm build --lang de --order 4 --out runs/lm-de     # the German sentences of the train split\n"
        "  asr lm build --text corpus.txt --lang de --out runs/lm-de\n"
        "  asr lm tune --lm runs/lm-de --model runs/de.safetensors --manifest data/synth-de/dev.jsonl",
    )
    lm = p.add_subparsers(dest="lm_command", required=True, metavar="ACTION")
    p.actions = lm  # eval adds `asr lm tune` here (tuning is evaluation)
    b = lm.add_parser(
        "build",
        help="build an ARPA LM and its lexicon from text",
        description="Build DIR/lm.arpa (and lm.bin) with KenLM's lmplz, and DIR/lexicon.txt: the LM's words that the "
        "language's alphabet spells. Text is normalised like transcripts. Without --text, the sentences of the "
        "language's texts (fortunes, manual pages) that `asr data synth` (same --seed) puts in the train split: never a "
        "dev or test sentence.",
        epilog="example: asr lm build --lang de --order 4 --out runs/lm-de",
    )
    b.add_argument("--text", action="append", metavar="FILE", help="text file, one sentence a line; repeatable (default: the train split's sentences)")
    b.add_argument("--lang", required=True, choices=["de", "en", "it", "es"], help="language: normaliser and alphabet")
    b.add_argument("--order", type=int, default=4, help="n-gram order (default: 4)")
    b.add_argument("--prune", type=int, default=0, help="drop n-grams (order 2 and up) seen this many times or fewer; "
                   "1 drops singletons, for an LM small enough to ship (default: 0, keep all)")
    b.add_argument("--dictionary", default="auto", metavar="auto|none|FILE",
                   help="more words the beam search may spell, scored as the LM's <unk>: a file with a word a line, or "
                   "auto, the language's spell-checker word list (wngerman, witalian, wspanish, wamerican) where installed "
                   "(default: auto; on the release corpora it took dev WER from 16.4 %% to 11.4 %% in German)")
    b.add_argument("--seed", type=int, default=0, help="the corpus split seed of `asr data synth` (default: 0)")
    b.add_argument("--out", required=True, metavar="DIR", help="output folder")
    b.set_defaults(run=_run_lm_build)


def _run_lm_build(args) -> int:
    from asr.corpora.texts import WORD_LISTS, TextMissing, train_sentences, word_list
    from asr.lm.build import build_lm
    from asr.text import ALPHABETS, SPECIAL_TOKENS, Vocabulary, normalize_transcript

    def read_lines(path: str) -> list[str]:
        return [normalize_transcript(line, args.lang) for line in Path(path).read_text(encoding="utf-8").splitlines()]

    texts = [line for f in args.text for line in read_lines(f)] if args.text else train_sentences(args.lang, args.seed)
    dictionary, source = [], ""
    if args.dictionary == "auto":
        try:
            dictionary, source = word_list(args.lang), f"Debian {WORD_LISTS[args.lang][0]}"
        except TextMissing as error:
            print(f"note: {error}; without it the beam search spells only the LM's words", file=sys.stderr)
    elif args.dictionary != "none":
        if not Path(args.dictionary).is_file():
            raise SystemExit(f"error: --dictionary {args.dictionary}: no such file (give a word list, auto or none)")
        dictionary, source = [w for line in read_lines(args.dictionary) for w in line.split()], args.dictionary
    vocabulary = Vocabulary(SPECIAL_TOKENS + tuple(sorted(ALPHABETS[args.lang])))
    out = build_lm(texts, args.out, vocabulary, order=args.order, language=args.lang, prune=args.prune,
                   dictionary=dictionary, dictionary_source=source)
    info = json.loads((out / "lm.json").read_text())
    extra = f", and {info['dictionary']['words']} more from {source}" if info["dictionary"] else ""
    print(f"{out}: {info['order']}-gram LM from {info['sentences']} sentences ({info['words']} words), "
          f"{info['vocabulary']} word types, {info['lexicon']} in the lexicon{extra}", file=sys.stderr)
    return 0


# --- export, models ---------------------------------------------------------------------


def _add_export(commands) -> None:
    p = commands.add_parser(
        "export",
        help="write a fine-tuned model compactly, as its changes to the pretrained weights",
        description="Write a compact export of a fine-tuned whisper-encoder-ctc checkpoint: the CTC head in fp16, each "
        "fine-tuned weight matrix's change quantized (4 bits by default, an fp16 scale for each 32 values of a row), "
        "other changed tensors as fp16 changes, and "
        "nothing for frozen layers. It loads (`--model FILE` anywhere) on the pretrained weights it names, checked "
        "by SHA-256. Training runs keep full checkpoints; this is the step that makes a model small enough to ship.",
        epilog="example: asr export --model runs/release/de/best.safetensors --out models/de/model.safetensors",
    )
    p.add_argument("--model", required=True, help="full checkpoint (.safetensors) or run folder")
    p.add_argument("--out", required=True, help="the compact .safetensors file to write")
    p.add_argument("--base", default=None, help="pretrained weights it was fine-tuned from (default: whisper-base)")
    p.add_argument("--bits", type=int, choices=(4, 8, 16), default=4,
                   help="bits of each weight matrix's change: 4 decoded the German release model as its full checkpoint "
                   "does (greedy test WER 42.8 %% against 42.9 %%) at a quarter of fp16's size; 16: fp16 (default: 4)")
    p.add_argument("--rank", type=int, default=None,
                   help="truncate each matrix's change to rank R instead (fp16 factors): another model, sometimes a "
                   "better one on unheard voices (on test, the Italian release model at 64: 2.0 points better with its LM, "
                   "the German at 128: 0.6 worse), so compare it with the full checkpoint on dev before shipping it")
    p.add_argument("--fine-tuned-weight", type=float, default=1.0, metavar="W",
                   help="keep W (0 to 1) of what fine-tuning changed in the encoder, the rest the pretrained weights "
                   "(WiSE-FT's weight-space average; the head as trained): a model that keeps more of what whisper-base "
                   "knew of voices never trained on, so choose W on dev, e.g. with --bits 16 (default: 1, the model as trained)")
    p.add_argument("--onnx", action="store_true", help="write an ONNX model instead (--out NAME.onnx), its MatMuls int8, "
                   "for `--backend onnx` / `--model NAME.onnx`: what `asr serve` runs on a CPU")
    p.add_argument("--no-int8", dest="int8", action="store_false", help="with --onnx: keep fp32 weights")
    p.add_argument("--int8-weights", choices=("s7", "s8", "u8"), default=None,
                   help="with --onnx: the int8 weights' type. s7 (signed 7-bit, the default) runs on any CPU; s8 only on "
                   "one with VNNI (AVX512-VNNI, AVX-VNNI: its sums saturate elsewhere), measured no closer to fp32 nor "
                   "faster there; u8 runs anywhere, slower")
    p.set_defaults(run=_run_export)


def _run_export(args) -> int:
    from asr.export import export_compact
    from asr.onnx_model import WEIGHT_TYPES, export_onnx
    from asr.registry import load_model

    bundle = load_model(args.model)
    if args.onnx and args.fine_tuned_weight != 1:
        raise ValueError("--fine-tuned-weight makes a compact export; export that, then --onnx --model it")
    if args.onnx:
        written = export_onnx(bundle, args.out, int8=args.int8, weights=args.int8_weights)
        kind = f"int8 MatMuls, {WEIGHT_TYPES[written['weights']]}" if args.int8 else "fp32"
        print(f"{args.out}: {written['bytes'] / 1e6:.1f} MB ONNX, {kind}", file=sys.stderr)
        return 0
    stored = export_compact(bundle, args.base or "whisper-base", args.out, bits=args.bits, rank=args.rank,
                            fine_tuned_weight=args.fine_tuned_weight)
    how = f"rank {stored['rank']}" if stored["rank"] else f"{stored['bits']} bits"
    if stored["fine_tuned_weight"] != 1:
        how += f", {stored['fine_tuned_weight']:g} of each change kept"
    print(f"{args.out}: {stored['bytes'] / 1e6:.1f} MB, relative to {stored['base']}: {stored['stored']} tensors stored "
          f"(matrix changes at {how}, leaving out {stored['left_out']:.3f} of their norm), "
          f"{stored['frozen']} taken from the pretrained weights", file=sys.stderr)
    return 0


def _add_models(commands) -> None:
    p = commands.add_parser(
        "models",
        help="list the models --model can name: shipped, pretrained, local runs",
        description="List the shipped models (models/<lang>/, by language or name), the pretrained encoders "
        "`asr train --init` takes, and the training runs under --runs, with sizes and scores.",
    )
    p.add_argument("--runs", default="runs", help="folder searched for training runs (default: runs)")
    p.set_defaults(run=_run_models)


def _run_models(args) -> int:
    from asr.pretrained import WHEEL_MODELS, PretrainedNotFound, resolve
    from asr.registry import local_runs, shipped_models

    def size(path: Path) -> str:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        return f"{sum(p.stat().st_size for p in files) / 1e6:.1f} MB"

    print("shipped (--model LANG or NAME; beam search with the model's LM by default):")
    shipped = shipped_models()
    for ref in shipped:
        scores = ref.card.get("scores", {})
        summary = ", ".join(f"{key} {value}" for key, value in scores.get("summary", {}).items())
        lm = f" + LM {size(ref.lm_dir)}" if ref.lm_dir else ""
        print(f"  {ref.card.get('language', '?'):4} {ref.name:28} {size(ref.checkpoint)}{lm}  {summary}")
    if not shipped:
        print("  none")
    print("pretrained encoders (asr train --init NAME):")
    for name in WHEEL_MODELS:
        try:
            where = f"installed, {resolve(name)}"
        except PretrainedNotFound:
            where = f"not installed: {WHEEL_MODELS[name].description}"
        except ValueError as error:  # installed but unreadable: the message names the file and what is wrong
            where = f"not usable: {error}"
        print(f"  {name:33} {where}")
    runs = local_runs(args.runs) if Path(args.runs).is_dir() else []
    print(f"training runs under {args.runs}/ (--model FOLDER):")
    for ref in runs:
        print(f"  {str(ref.checkpoint.parent):33} {ref.checkpoint.name} {size(ref.checkpoint)}")
    if not runs:
        print("  none")
    return 0


# --- helpers for the commands of training, eval and serving ---------------------------


def add_dataclass_options(parser: argparse.ArgumentParser, config_class) -> None:
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


if __name__ == "__main__":
    sys.exit(main())
