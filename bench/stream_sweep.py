"""Serving settings for a CPU, chosen by measurement: bench/stream_load.py once per setting, one table.

Each setting is a set of `asr serve` options (chunk, lookahead, precision,
decoder); for each, the load test runs N concurrent real-time streams and
reports chunk latency, word-to-first-interim latency and where the chunk
latency goes on the server (queue, forward pass, decoding). The first setting is also
run without the batcher. Each run's JSON is kept beside the summary.

    python bench/stream_sweep.py --model de --manifest data/release-de/test-300.jsonl --streams 1,2,4 \\
        --out bench/results/stream_sweep-cpu.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from eval.report import describe_machine

ROOT = Path(__file__).resolve().parents[1]

# name -> `asr serve` options; the first is the default the others are compared with.
# The defaults: chunk 160 ms, left context 1600 ms, lookahead 960 ms, the model's decoding; on a CPU early looks every
# 100 ms with 320 ms of context and the onnx backend, which runs each window alone: unbatched (on a GPU early looks
# every chunk with the left context, torch, batched); on a CPU without native bf16, 640-ms chunks, 960 ms of left
# context, early looks every 160 ms (serving.options.default_chunking, default_backend, default_batching).
SETTINGS = {
    "default": "",
    "chunk-160": "--chunk-ms 160",
    "chunk-320": "--chunk-ms 320",
    "chunk-640": "--chunk-ms 640",
    "lookahead-640": "--lookahead-ms 640",
    "greedy": "--decoder greedy",
    "fp32": "--precision fp32",
    "torch": "--backend torch",
    "batched": "--max-batch-size 256",
    "interim-100": "--interim-step-ms 100",
    "interim-100-context-320": "--interim-step-ms 100 --interim-context-ms 320",
    "interim-200-context-320": "--interim-step-ms 200 --interim-context-ms 320",
    "context-960": "--left-context-ms 960",
    "looks-every-chunk": "--interim-step-ms 0 --interim-context-ms 960",
    "onnx": "--backend onnx",
    "onnx-interim-100-context-320": "--backend onnx --interim-step-ms 100 --interim-context-ms 320",
    "chunk-160-onnx": "--chunk-ms 160 --backend onnx",
    "chunk-320-onnx": "--chunk-ms 320 --backend onnx",
    "chunk-640-onnx": "--chunk-ms 640 --backend onnx",
    "chunk-640-context-960-onnx": "--chunk-ms 640 --left-context-ms 960 --backend onnx",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="what `asr serve --model` takes (a shipped model: de)")
    parser.add_argument("--manifest", required=True, help="speech to stream")
    parser.add_argument("--streams", default="1,2,4", help="concurrent streams (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of audio per stream (default: %(default)s)")
    parser.add_argument("--settings", help="comma-separated names of SETTINGS to run (default: all)")
    parser.add_argument("--out", default="bench/results/stream_sweep-cpu.json", help="summary JSON; each run's JSON goes beside it")
    args = parser.parse_args()

    out = Path(args.out)
    runs_dir = out.with_suffix("")
    runs_dir.mkdir(parents=True, exist_ok=True)
    names = args.settings.split(",") if args.settings else list(SETTINGS)
    summary = {"command": "python bench/stream_sweep.py " + " ".join(sys.argv[1:]), "model": args.model, "manifest": args.manifest,
               "machine": describe_machine(), "settings": {}}
    lines = ["| setting | streams | chunk p50 ms | chunk p95 ms | word to first interim p50 ms | server ms | queue ms | forward ms | "
             "decode ms | other ms | mean batch | real-time factor | sustained (p95 <= 250 ms) |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for i, name in enumerate(names):
        run_json = runs_dir / f"{i}.json"
        command = [sys.executable, str(ROOT / "bench" / "stream_load.py"), "--model", args.model, "--manifest", args.manifest,
                   "--streams", args.streams, "--duration", str(args.duration), "--keep-going", "--device", "cpu", "--out", str(run_json),
                   "--server-args", SETTINGS[name]]
        if i:
            command.append("--no-unbatched")
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        subprocess.run(command, check=True)
        result = json.loads(run_json.read_text())
        summary["settings"][name] = {"serve_options": SETTINGS[name], "run": str(run_json), "results": result["results"]}
        for server, label in (("batched", name), ("unbatched", f"{name}, unbatched")):
            for row in result["results"].get(server, {}).get("rows", []):
                parts = row["chunk_latency_breakdown_ms"]
                lines.append(
                    f"| {label} | {row['streams']} | {row['chunk_latency_ms']['p50']} | {row['chunk_latency_ms']['p95']} | "
                    f"{row['word_to_first_interim_ms']['p50']} | {parts['server_mean']} | {parts['queue_mean']} | {parts['forward_mean']} | "
                    f"{parts['decode_mean']} | {parts['other_mean']} | {row['mean_batch_size']} | {row['realtime_factor_mean']} | {'yes' if row['sustained'] else 'no'} |"
                )
    summary["table"] = "\n".join(lines)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    out.with_suffix(".md").write_text(
        f"# Streaming on a CPU: serving settings side by side\n\n`{summary['command']}`\n\nMachine: {summary['machine']}. "
        "Latencies in ms: chunk latency from the send of a message's last sample to the response covering it; word to first "
        "interim from the end of a spoken word to the first interim result showing it. The breakdown is of the mean chunk "
        "latency per window on the server (audio complete to response sent), from its metrics: the wait for a forward pass, the "
        "pass (shared by its batch), decoding and the rest (event-loop turns). The clients' chunk latency is per message: a "
        "message that does not complete a window waits for the audio after it too (or for an early interim).\n\n" + summary["table"] + "\n"
    )
    print(summary["table"])
    print(f"wrote {out} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
