"""Two training runs' dev WER and CER side by side at the steps both evaluated, from their logs, as a Markdown table.

    python recipes/dev_curve.py pieces=runs/pieces-de/log.jsonl characters=docs/results/release-de/hours-20/train-log.jsonl \
        --dev data/release-de/dev.jsonl > dev-curve.md
"""

import argparse
import json


def dev_evaluations(path: str) -> dict[int, dict]:
    """A training log's dev evaluations by step (the last one logged at a step wins)."""
    with open(path) as log:
        return {record["step"]: record for record in map(json.loads, log) if "dev_wer" in record}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs=2, metavar="NAME=LOG", help="a run's name in the table and its log.jsonl")
    parser.add_argument("--dev", required=True, help="the dev manifest both runs were evaluated on (its size is printed)")
    args = parser.parse_args()
    runs = []
    for run in args.runs:
        name, sep, path = run.partition("=")
        if not sep:
            parser.error(f"{run}: give NAME=LOG, e.g. candidate=runs/freeze-3-de/log.jsonl")
        runs.append((name, dev_evaluations(path)))
    with open(args.dev) as manifest:
        utterances = sum(1 for _ in manifest)
    (first, a), (second, b) = runs
    print(f"Dev set ({utterances} utterances of a voice never trained on), greedy decoding; seconds of training at each step.\n")
    print(f"| step | {first}: dev WER % | dev CER % | training s | {second}: dev WER % | dev CER % | training s |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for step in sorted(set(a) & set(b)):
        print(f"| {step} | {100 * a[step]['dev_wer']:.1f} | {100 * a[step]['dev_cer']:.1f} | {a[step]['train_seconds']:.0f} "
              f"| {100 * b[step]['dev_wer']:.1f} | {100 * b[step]['dev_cer']:.1f} | {b[step]['train_seconds']:.0f} |")


if __name__ == "__main__":
    main()
