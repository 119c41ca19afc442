"""Greedy decoding against beam search with the word n-gram LM: WER, CER, the bootstrap interval and RTFx.

Both decoders run the same checkpoint over the same test set through
`eval.evaluate` (the path `asr eval` uses); the difference in WER gets the
paired-bootstrap 95 % interval of `eval.bootstrap`. RTFx is audio seconds per
wall second of the whole path (audio loading, model, decoder); on a shared CPU
it varies with the load, so the search alone is timed too (decoder_rtfx: audio
seconds per second of decoding the saved model outputs, utterance by utterance).

    python bench/lm_beam.py --model runs/demo/whisper-base-de.safetensors --lm runs/lm-de \\
        --manifest data/synth-de/test.jsonl [--device cpu] [--out bench/results/lm_beam.json]

Tune the LM on the dev set first (`asr lm tune`); the test set only measures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

from asr.audio import load_audio
from asr.decoding import DecodeOptions, make_decoder
from asr.files import write_atomically
from asr.lm.folder import read_weights
from eval.evaluate import compare, evaluate
from eval.normalize import get_normalizer
from eval.report import describe_machine
from eval.systems import CheckpointSystem
from eval.testset import load_test_set


def time_decoders(transcriber, test_set, decoders: dict[str, DecodeOptions]) -> dict[str, float]:
    """Audio seconds per second of decoding alone, per decoder, over the test set's model outputs."""
    emissions, audio_seconds = [], 0.0
    for u in test_set.utterances:
        wave = load_audio(u.audio_filepath, transcriber.sample_rate)
        log_probs, lengths = transcriber.log_probs([wave])
        emissions.append(log_probs[:, : int(lengths[0])].float().cpu())
        audio_seconds += len(wave) / transcriber.sample_rate
    rtfx = {}
    for name, options in decoders.items():
        decode = make_decoder(transcriber.bundle.vocabulary, options)  # built before the clock starts
        started = time.perf_counter()
        for e in emissions:
            decode(e, torch.tensor([e.shape[1]]), transcriber.seconds_per_frame)
        rtfx[name] = audio_seconds / (time.perf_counter() - started)
    return rtfx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="runs/demo/whisper-base-de.safetensors")
    parser.add_argument("--lm", default="runs/lm-de")
    parser.add_argument("--manifest", default="data/synth-de/test.jsonl")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--beam-size", type=int, default=50)
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--out", default="bench/results/lm_beam.json")
    args = parser.parse_args()

    test_set = load_test_set(args.manifest)
    beam = DecodeOptions(method="beam", lm_dir=args.lm, beam_size=args.beam_size)
    systems = {
        "greedy": CheckpointSystem(args.model, "greedy", device=args.device, batch_size=args.batch_size),
        "beam+lm": CheckpointSystem(args.model, "beam+lm", device=args.device, batch_size=args.batch_size, decoding=beam),
    }
    normalizer = get_normalizer("auto", test_set.language)
    results = {name: evaluate(system, test_set, normalizer, args.batch_size) for name, system in systems.items()}
    comparison = compare([results["beam+lm"]], [results["greedy"]], resamples=args.resamples)
    decoder_rtfx = time_decoders(systems["beam+lm"].transcriber, test_set, {"greedy": DecodeOptions(), "beam+lm": beam})
    weights = read_weights(args.lm)
    lm_info = json.loads((Path(args.lm) / "lm.json").read_text())
    report = {
        "command": "python " + " ".join(sys.argv),
        "model": args.model,
        "test_set": args.manifest,
        "utterances": len(test_set.utterances),
        "normalizer": normalizer.name,
        "machine": describe_machine() + " (2 cores shared with other jobs)",
        "device": args.device,
        "lm": {"dir": args.lm, **lm_info, "lm_weight": weights.lm_weight, "word_score": weights.word_score,
               "tuned": (Path(args.lm) / "tuned.json").is_file()},
        "beam_size": args.beam_size,
        "results": {
            name: {"wer": r.scores.wer, "cer": r.scores.cer, "rtfx": round(r.transcripts.rtfx, 2), "decoder_rtfx": round(decoder_rtfx[name], 1),
                   "audio_seconds": round(r.transcripts.audio_seconds, 2), "wall_seconds": round(r.transcripts.wall_seconds, 2)}
            for name, r in results.items()
        },
        "beam_minus_greedy": dataclasses.asdict(comparison),
    }
    write_atomically(args.out, json.dumps(report, indent=2) + "\n")
    for name, r in report["results"].items():
        print(f"{name:8} WER {100 * r['wer']:5.2f} %  CER {100 * r['cer']:5.2f} %  RTFx {r['rtfx']:.1f}  decoder alone: RTFx {r['decoder_rtfx']:.0f}")
    c = comparison
    print(f"beam+lm - greedy: {100 * c.difference:+.2f} WER points, 95 % interval [{100 * c.low:+.2f}, {100 * c.high:+.2f}], "
          f"p = {c.p_value:.4f}  -> {args.out}")


if __name__ == "__main__":
    main()
