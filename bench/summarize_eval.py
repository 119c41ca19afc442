"""An `asr eval` JSON report's figures without its transcripts, as a benchmark's record (the whole report of an hour
of audio is some 3 MB; the figures are a few kB), with the command that ran it and the load at its end.

    python bench/summarize_eval.py REPORT.json OUT.json --command "bash bench/onnx_weights.sh ..."
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

FIGURES = ("model", "device", "wer", "cer", "audio_seconds", "wall_seconds", "rtfx", "comparison")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", help="the JSON report `asr eval --json` wrote")
    parser.add_argument("out", help="the summary to write")
    parser.add_argument("--command", required=True, help="the benchmark's command line, recorded with the eval's own")
    args = parser.parse_args()
    report = json.loads(Path(args.report).read_text())
    summary = {
        "command": args.command,
        "eval_command": report["command"],
        "machine": report["machine"],
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "results": [{**{k: r[k] for k in FIGURES}, "utterances": len(r["utterances"])} for r in report["results"]],
    }
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
