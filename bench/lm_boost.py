"""Phrase boosting on real speech: does a word that beam search + LM gets wrong come out when boosted?

For each dev utterance whose beam+LM transcript misses a reference word, boost
that word alone (default boost) and decode the same model output again.
Records each case, how many came out and how long each boosted decoder took to
set up (the lexicon is shared where every boosted word is in it) to bench/results/lm_boost.json.

    python bench/lm_boost.py --model de --manifest data/release-de/dev.jsonl [--lm DIR] [--utterances 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch

from asr.audio import load_audio
from asr.decoding import BeamDecoder, DecodeOptions
from asr.lm.boosting import Boost
from asr.files import write_atomically
from asr.corpora.manifest import read_manifest
from asr.registry import resolve_model
from asr.transcribe import Transcriber


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="de", help="a shipped model or a checkpoint (default: de)")
    parser.add_argument("--lm", help="an LM folder (default: the shipped model's)")
    parser.add_argument("--manifest", default="data/synth-de/dev.jsonl")
    parser.add_argument("--utterances", type=int, default=20)
    parser.add_argument("--out", default="bench/results/lm_boost.json")
    args = parser.parse_args()

    ref = resolve_model(args.model)
    args.lm = args.lm or str(ref.lm_dir)
    transcriber = Transcriber(ref.checkpoint, device="cpu")
    vocabulary = transcriber.bundle.vocabulary
    plain = BeamDecoder(vocabulary, DecodeOptions(method="beam", lm_dir=args.lm))
    lexicon = {line.split(" ", 1)[0] for line in open(f"{args.lm}/lexicon.txt", encoding="utf-8")}
    cases = []
    for entry in read_manifest(args.manifest)[: args.utterances]:
        log_probs, lengths = transcriber.log_probs([load_audio(entry.audio_filepath, transcriber.sample_rate)])
        before = plain(log_probs, lengths, transcriber.seconds_per_frame)[0].text
        missed = [w for w in entry.text.split() if w not in before.split()]
        if not missed:
            continue
        started = time.perf_counter()
        boosted = BeamDecoder(vocabulary, DecodeOptions(method="beam", lm_dir=args.lm, boosts=(Boost(missed[0]),)))
        setup_seconds = time.perf_counter() - started
        after = boosted(log_probs, lengths, transcriber.seconds_per_frame)[0].text
        cases.append({"reference": entry.text, "beam_lm": before, "boosted": missed[0], "in_lm": missed[0] in lexicon,
                      "with_boost": after, "came_out": missed[0] in after.split(), "setup_seconds": round(setup_seconds, 3)})
        print(f"{'yes' if cases[-1]['came_out'] else 'no '}  {missed[0]!r}: {before!r} -> {after!r}")
    came_out = sum(c["came_out"] for c in cases)
    write_atomically(args.out, json.dumps({"command": "python " + " ".join(sys.argv), "model": args.model, "lm": args.lm, "manifest": args.manifest, "boost": Boost.boost,
                                           "cases": len(cases), "came_out": came_out,
                                           "median_setup_seconds": statistics.median(c["setup_seconds"] for c in cases) if cases else None,
                                           "examples": cases}, indent=2, ensure_ascii=False) + "\n")
    print(f"{came_out} of {len(cases)} boosted words came out -> {args.out}")


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
