"""`asr eval`, `asr leaderboard` and `asr lm tune`: the eval package's commands, added to `asr` through its entry-point group."""

from __future__ import annotations

import argparse
import sys

from asr.cli import add_decode_arguments, add_runtime_arguments, decode_options


def add_commands(commands) -> None:
    _add_eval(commands)
    _add_leaderboard(commands)
    _add_lm_tune(commands.choices["lm"].actions)


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
        "  asr eval --model de --manifest data/synth-de/test.jsonl     # the shipped model, beam search with its LM\n"
        "  asr eval --model runs/de.safetensors --manifest data/synth-de/test.jsonl\n"
        "  asr eval --model runs/de.safetensors --baseline runs/scratch.safetensors --manifest data/synth-de/test.jsonl \\\n"
        "      --json runs/eval.json --markdown runs/eval.md\n"
        "  asr eval --rescore runs/eval.json --normalizer basic --markdown runs/eval-basic.md\n"
        "  asr eval --model runs/de.safetensors --manifest data/synth-de/test.jsonl --decoder beam --lm runs/lm-de \\\n"
        "      --baseline-decoder greedy     # beam search + LM against greedy decoding of the same checkpoint",
    )
    p.add_argument("--model", action="append", help="a shipped model (de), a run folder or a checkpoint (.safetensors); "
                   "repeat to score several")
    p.add_argument("--manifest", help="test manifest (.jsonl)")
    p.add_argument("--baseline", help="model every --model is compared with (as --model)")
    add_runtime_arguments(p)
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
    from asr.files import write_atomically
    from asr.registry import resolve_model
    from eval.evaluate import evaluate
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
    command = "asr " + " ".join(sys.argv[1:])
    if args.rescore:
        report = rescore_report(args.rescore, args.normalizer, args.resamples, args.seed, command)
    else:
        test_set = load_test_set(args.manifest)
        specs = args.model + ([args.baseline] if args.baseline else [])
        # Each model decodes as asked, by default with its own LM where it ships one.
        systems = [CheckpointSystem(spec, device=args.device, batch_size=args.batch_size, precision=args.precision,
                                    backend=args.backend, decoding=decode_options(args, resolve_model(spec).lm_dir)) for spec in specs]
        for system in systems:
            print(f"{system.name}: decoding {system.decoding.label}, {system.backend} {system.precision}", file=sys.stderr)
        if args.baseline_decoder:
            systems.append(CheckpointSystem(args.model[0], f"{args.model[0]} (greedy)", device=args.device,
                                            batch_size=args.batch_size, precision=args.precision))
        normalizer = get_normalizer(args.normalizer or "auto", test_set.language or systems[0].language)
        results = [evaluate(system, test_set, normalizer, args.batch_size) for system in systems]
        baselines = len(args.model) if (args.baseline or args.baseline_decoder) else None
        report = build_report(results, baselines, args.resamples, args.seed, command, describe_machine())
    print(report.table())
    if args.json_out:
        write_atomically(args.json_out, report.to_json(args.worst))
    if args.markdown:
        write_atomically(args.markdown, report.markdown(args.worst))
    return 0


# --- leaderboard ------------------------------------------------------------------------


# The leaderboard command's text and arguments live here, not in eval.leaderboard, so that building `asr`'s
# parser (and `asr --help`) does not import what running a leaderboard needs (torch, matplotlib).
LEADERBOARD_EXAMPLE = """\
title = "German, held-out voices"
output = "runs/leaderboard"        # leaderboard.md, .csv, .json, .png (relative to this file)
baseline = "whisper-base zero-shot"
normalizer = "auto"                # auto: each test set's language; or basic, de, en, es, it

[[models]]
name = "whisper-base-de"
checkpoint = "runs/de.safetensors"

[[models]]
name = "whisper-base-de + 4-gram LM"
checkpoint = "runs/de.safetensors"
decoder = "beam"                   # greedy (the default) or beam
lm = "runs/lm-de"                  # from `asr lm build`; tuned weights unless lm_weight / word_score are given
beam_size = 500
boosts = ["frau holle:5"]          # optional: PHRASE[:BOOST]

[[models]]
name = "whisper-base zero-shot"
faster_whisper = "whisper-base"    # a name `--init` knows, or a CTranslate2 folder
beam_size = 5

[[test_sets]]
name = "test"
manifest = "data/synth-de/test.jsonl"
lang = "de"                        # optional: the manifest's `lang` otherwise
"""

LEADERBOARD_DESCRIPTION = (
    "Rank models on test sets by WER: checkpoints of this project and faster-whisper running Whisper zero-shot. "
    "Writes leaderboard.md, .csv, .json and .png. Transcripts are cached by model and test-set fingerprint, so a "
    "second run transcribes only what changed (a new model, a re-synthesised test set)."
)


def add_leaderboard_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="leaderboard TOML file (see the example below)")
    parser.add_argument("--output", help="folder for leaderboard.md/.csv/.json/.png and, unless the file names one, "
                        "the cache (default: the file's `output`)")
    parser.add_argument("--device", help="auto, cpu or cuda[:N] (default: the file's `device`, else auto)")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"],
                        help="checkpoints' precision; auto: bf16 on a GPU and on a CPU with native bf16 (default: the file's `precision`, else auto)")


def _add_leaderboard(commands) -> None:
    p = commands.add_parser(
        "leaderboard",
        help="rank checkpoints and faster-whisper on test sets by WER, cached (also: python -m eval.leaderboard)",
        description=LEADERBOARD_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: asr leaderboard --config leaderboard.toml\n\nexample leaderboard.toml:\n\n" + LEADERBOARD_EXAMPLE,
    )
    add_leaderboard_arguments(p)
    p.set_defaults(run=_run_leaderboard)


def _run_leaderboard(args) -> int:
    from eval.leaderboard import run_from_args

    return run_from_args(args, "asr " + " ".join(sys.argv[1:]))


# --- lm tune --------------------------------------------------------------------------


def _add_lm_tune(lm_actions) -> None:
    t = lm_actions.add_parser(
        "tune",
        help="search LM weight and word score on a dev manifest",
        description="Run the model once over a dev manifest, then beam-search it for every LM weight and word score "
        "of the grid, score each with `asr eval`'s scorer and normaliser, and write the pair with the lowest WER to "
        "DIR/tuned.json, which `--lm DIR` then uses.",
        epilog="example: asr lm tune --lm runs/lm-de --model runs/de.safetensors --manifest data/synth-de/dev.jsonl",
    )
    t.add_argument("--lm", required=True, metavar="DIR", help="language model folder from `asr lm build`")
    t.add_argument("--model", required=True, help="checkpoint (.safetensors)")
    t.add_argument("--manifest", required=True, help="dev manifest (.jsonl); never the test set")
    t.add_argument("--lm-weights", default="0.5,1,1.5,2,3", help="comma-separated grid (default: %(default)s)")
    t.add_argument("--word-scores", default="-4,-3,-2,-1,0", help="comma-separated grid; write --word-scores=-2,0 (a value starting with - needs the =) (default: %(default)s)")
    t.add_argument("--beam-size", type=int, default=50, help="beam size while tuning (default: 50, a tenth of decoding's for speed: weights tuned at 50 held at 500 in recipes/release/beam-size-de.toml)")
    t.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    t.add_argument("--batch-size", type=int, default=8, help="utterances per forward pass (default: 8)")
    t.set_defaults(run=_run_lm_tune)


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"expected comma-separated numbers, got {text!r}") from None


def _run_lm_tune(args) -> int:
    from pathlib import Path

    from asr.transcribe import Transcriber, TranscribeOptions
    from eval.lm_tune import tune

    transcriber = Transcriber(args.model, device=args.device, options=TranscribeOptions(batch_size=args.batch_size))
    best = tune(transcriber, args.manifest, args.lm, _floats(args.lm_weights), _floats(args.word_scores), beam_size=args.beam_size)
    print(f"best: lm_weight {best['lm_weight']:g}, word_score {best['word_score']:g}, dev WER {100 * best['wer']:.2f} % "
          f"(written to {Path(args.lm) / 'tuned.json'})", file=sys.stderr)
    return 0
