"""Corpus synthesis throughput: audio hours built per wall-clock hour.

Builds a synthetic corpus from scratch with `asr.corpora.synth.build_corpus` — the path
`asr data synth` uses — and times it. Prints the figures and writes JSON.

    python bench/synth_throughput.py [--lang de] [--hours 2] [--out-dir /tmp/synth-de-2h] [--jobs N]
                                     [--json bench/results/synth_throughput.json]

The output folder is emptied first (a resumed build would time nothing); pass
--keep to time a rerun instead.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

from asr.corpora.manifest import read_manifest
from asr.corpora.synth import build_corpus
from asr.cpu import cpu_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lang", default="de", help="language (default: de)")
    parser.add_argument("--hours", type=float, default=2.0, help="hours of audio to build (default: 2)")
    parser.add_argument("--out-dir", default="/tmp/synth-de-2h", help="corpus folder (default: /tmp/synth-de-2h)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: all cores)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    parser.add_argument("--keep", action="store_true", help="do not empty the folder first")
    parser.add_argument("--json", default="bench/results/synth_throughput.json", help="JSON output file")
    args = parser.parse_args()

    out_dir = Path(args.out_dir)
    if out_dir.exists() and not args.keep:
        shutil.rmtree(out_dir)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    manifests = build_corpus(args.lang, out_dir, seed=args.seed, jobs=args.jobs, hours=args.hours)
    wall = time.perf_counter() - started

    splits = {}
    for split, path in manifests.items():
        utterances = read_manifest(path)
        splits[split] = {
            "utterances": len(utterances),
            "hours": round(sum(u.duration for u in utterances) / 3600, 4),
            "voices": len({u.speaker for u in utterances}),
        }
    audio_hours = sum(s["hours"] for s in splits.values())
    report = {
        "command": "python " + " ".join([sys.argv[0], *sys.argv[1:]]),
        "equivalent_cli": f"asr data synth --lang {args.lang} --hours {args.hours:g} --out {out_dir} "
        f"--seed {args.seed} --jobs {args.jobs}",
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu_model()}), "
        f"Python {platform.python_version()}",
        "jobs": args.jobs,
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "lang": args.lang,
        "hours_asked": args.hours,
        "audio_hours": round(audio_hours, 4),
        "utterances": sum(s["utterances"] for s in splits.values()),
        "splits": splits,
        "wall_seconds": round(wall, 1),
        "audio_hours_per_wall_hour": round(audio_hours / (wall / 3600), 1),
        "audio_seconds_per_wall_second": round(audio_hours * 3600 / wall, 2),
        "resumed": bool(args.keep),
    }
    print(json.dumps(report, indent=2))
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"{audio_hours:.2f} h of {args.lang} audio in {wall / 60:.1f} min with {args.jobs} worker(s): "
        f"{report['audio_hours_per_wall_hour']} audio hours per wall hour -> {path}"
    )


if __name__ == "__main__":
    main()
