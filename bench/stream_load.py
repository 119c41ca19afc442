"""Load test of the streaming service: N concurrent real-time streams over loopback, batched vs one window at a time.

Starts `asr serve` on 127.0.0.1 twice: as configured (dynamic batching), and
with --max-batch-size 1 (every window its own forward pass, one after
another: the server without its batcher). Against each it runs, for every N
in --streams, N concurrent clients spread over separate processes, each
streaming --duration seconds of speech (the manifest's utterances with pauses
between them) in real time in --chunk-ms messages, all starting together.

Per stream it measures:
  chunk latency   from the send of a message (its last sample) to the receipt
                  of the first response whose audio_processed covers it
  time to final   from the send of the last word of an utterance to the
                  receipt of its final result (includes the endpointing pause)
  real-time factor  stream audio / (last response - first send); 1 keeps up
and it counts errors by status code. N is sustained when every stream ends
without error and the p95 chunk latency is below --p95-bound-ms; the report
names the largest sustained N of each server and their ratio, and writes JSON.

    python bench/stream_load.py --model runs/demo/whisper-base-de.safetensors \\
        --streams 1,2,4,8 --duration 20 --chunk-ms 100 --out bench/results/stream_load-cpu.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


# --- audio ---------------------------------------------------------------------------------


def speech_track(manifest: Path, seconds: float, rate: int = 16000) -> np.ndarray:
    """The manifest's utterances in order with 0.5 to 1.5 s pauses between them, looped to `seconds`."""
    from asr.audio import load_audio
    from asr.corpora.manifest import read_manifest

    rng = np.random.default_rng(0)
    pieces, total = [], 0
    utterances = list(read_manifest(manifest))
    while total < seconds * rate:
        for u in utterances:
            wave = load_audio(u.audio_filepath, rate).numpy()
            pause = np.zeros(int(rng.uniform(0.5, 1.5) * rate), np.float32)
            pieces += [wave, pause]
            total += len(wave) + len(pause)
            if total >= seconds * rate:
                break
    return np.concatenate(pieces)


# --- clients (in worker processes) -------------------------------------------------------


def run_clients(address: str, track_path: str, offsets: list[float], duration: float, chunk_ms: int, start_at: float) -> list[dict]:
    """Streams from one process: each plays the track from its own offset, all starting at `start_at`."""
    return asyncio.run(_run_clients(address, track_path, offsets, duration, chunk_ms, start_at))


async def _run_clients(address, track_path, offsets, duration, chunk_ms, start_at) -> list[dict]:
    import grpc

    from serving.client import Pace, SendLog, StreamOptions, pcm16, recognize_stream
    from serving.proto import recognizer_pb2_grpc as pb_grpc

    track = np.load(track_path)
    rate = 16000
    async with grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.RecognizerStub(channel)
        await channel.channel_ready()

        async def one(offset: float) -> dict:
            first = int(offset * rate)
            wave = np.roll(track, -first)[: int(duration * rate)]
            audio = pcm16(torch.from_numpy(wave))
            log = SendLog()
            responses = []
            error = None
            await asyncio.sleep(max(0.0, start_at - time.time()))
            try:
                async for response in recognize_stream(stub, audio, StreamOptions(chunk_ms=chunk_ms, realtime=True), Pace.realtime(), log=log):
                    now = time.monotonic()
                    ends = [
                        r.alternatives[0].words[-1].end_time.ToTimedelta().total_seconds()
                        for r in response.results
                        if r.is_final and r.alternatives and r.alternatives[0].words
                    ]
                    shown = max((w.end_time.ToTimedelta().total_seconds() for r in response.results if r.alternatives
                                 for w in r.alternatives[0].words), default=0.0)  # interim words included
                    responses.append((response.audio_processed.ToTimedelta().total_seconds(), now, ends, shown))
            except grpc.aio.AioRpcError as e:
                error = f"{e.code().name}: {e.details()}"
            return {"sent": log.sent, "responses": responses, "error": error, "audio_seconds": len(wave) / rate}

        return await asyncio.gather(*(one(o) for o in offsets))


# --- measures ------------------------------------------------------------------------------


def stream_measures(stream: dict) -> dict:
    sent, responses = stream["sent"], stream["responses"]
    latencies, finals = [], []
    r = 0
    for seconds, at in sent:
        while r < len(responses) and responses[r][0] < seconds - 1e-6:
            r += 1
        if r < len(responses):
            latencies.append(responses[r][1] - at)
    send_seconds = [s for s, _ in sent]
    for _, received, ends, _ in responses:
        for end in ends:
            k = int(np.searchsorted(send_seconds, end - 1e-6))
            if k < len(sent):
                finals.append(received - sent[k][1])
    # From the send of a word's last sample to the first response that shows the word (interim or final).
    first_shown = []
    shown_so_far = np.maximum.accumulate([shown for *_, shown in responses]) if responses else np.array([])
    for _, _, ends, _ in responses:
        for end in ends:
            k = int(np.searchsorted(send_seconds, end - 1e-6))
            r = int(np.searchsorted(shown_so_far, end - 0.04))  # word ends agree to a frame or two
            if k < len(sent) and r < len(responses):
                first_shown.append(max(0.0, responses[r][1] - sent[k][1]))
    started = sent[0][1] - sent[0][0] if sent else 0.0  # the first message goes once its audio has "been spoken"
    span = (responses[-1][1] - started) if responses else float("inf")
    return {"latencies": latencies, "finals": finals, "first_shown": first_shown, "rtf": stream["audio_seconds"] / span, "error": stream["error"]}


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    p50, p95, p99 = np.percentile(np.array(values) * 1000, [50, 95, 99])
    return {"p50": round(float(p50), 1), "p95": round(float(p95), 1), "p99": round(float(p99), 1)}


def scrape(metrics_url: str) -> dict[str, float]:
    text = urllib.request.urlopen(metrics_url, timeout=10).read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


# --- one server, several N ------------------------------------------------------------------


class Server:
    def __init__(self, model: str, device: str, extra: list[str]):
        command = [sys.executable, "-m", "asr", "serve", "--model", model, "--device", device, "--listen", "127.0.0.1:0",
                   "--metrics-port", "0", "--max-streams", "100000", *extra]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))})
        serving = self.process.stdout.readline()
        metrics = self.process.stdout.readline()
        match = re.search(r"on (\S+:\d+)", serving)
        if not match:
            self.process.kill()
            raise RuntimeError(f"the server did not start: {serving!r}")
        self.address = match.group(1)
        self.metrics_url = re.search(r"(http://\S+)", metrics).group(1)
        self.command = " ".join(command[1:])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(60)


def measure(server: Server, track_path: str, track_seconds: float, n: int, args) -> dict:
    before = scrape(server.metrics_url)
    processes = min(n, args.processes)
    offsets = [(i * 7.3) % max(track_seconds - args.duration, 1.0) for i in range(n)]
    start_at = time.time() + 2.0  # every process connected before the first stream starts
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        jobs = [pool.submit(run_clients, server.address, track_path, offsets[p::processes], args.duration, args.chunk_ms, start_at) for p in range(processes)]
        streams = [s for job in jobs for s in job.result()]
    after = scrape(server.metrics_url)
    measures = [stream_measures(s) for s in streams]
    errors: dict[str, int] = {}
    for m in measures:
        if m["error"]:
            code = m["error"].split(":")[0]
            errors[code] = errors.get(code, 0) + 1
    latency = percentiles([x for m in measures for x in m["latencies"]])
    batches = after["asr_batch_size_count"] - before.get("asr_batch_size_count", 0)
    windows = after["asr_batch_size_sum"] - before.get("asr_batch_size_sum", 0)
    forward = after["asr_forward_seconds_sum"] - before.get("asr_forward_seconds_sum", 0)

    def mean_ms(metric: str) -> float | None:
        count = after[f"{metric}_count"] - before.get(f"{metric}_count", 0)
        return round(1000 * (after[f"{metric}_sum"] - before.get(f"{metric}_sum", 0)) / count, 1) if count else None

    # Where a chunk's latency goes on the server, from its metrics: from the arrival of the audio that completes a window
    # to the sending of its response, the window waits for a forward pass, goes through it (the whole pass: its batch
    # shares it) and is decoded; "other" is the rest (the event loop's turns). The clients' figure is per message, not
    # per window: a message that does not complete a window also waits for the audio after it (or for an early interim).
    parts = {name: mean_ms(f"asr_{name}_seconds") for name in ("chunk_latency", "queue", "forward", "decode")}
    breakdown = {
        "client_mean": round(float(np.mean([x for m in measures for x in m["latencies"]])), 1) if any(m["latencies"] for m in measures) else None,
        "server_mean": parts["chunk_latency"],
        "queue_mean": parts["queue"],
        "forward_mean": parts["forward"],
        "decode_mean": parts["decode"],
        "other_mean": None if None in parts.values() else round(parts["chunk_latency"] - parts["queue"] - parts["forward"] - parts["decode"], 1),
    }
    row = {
        "streams": n,
        "client_processes": processes,
        "chunk_latency_ms": latency,
        "time_to_final_ms": percentiles([x for m in measures for x in m["finals"]]),
        "word_to_first_interim_ms": percentiles([x for m in measures for x in m["first_shown"]]),
        "errors": errors,
        "realtime_factor_mean": round(float(np.mean([m["rtf"] for m in measures])), 3),
        "realtime_factor_min": round(float(np.min([m["rtf"] for m in measures])), 3),
        "forward_passes": int(batches),
        "mean_batch_size": round(windows / batches, 2) if batches else None,
        "mean_forward_ms": round(1000 * forward / batches, 1) if batches else None,
        "chunk_latency_breakdown_ms": breakdown,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    row["sustained"] = not errors and latency["p95"] is not None and latency["p95"] <= args.p95_bound_ms
    return row


def run_server(label: str, extra: list[str], track_path: str, track_seconds: float, args) -> dict:
    server = Server(args.model, args.device, extra)
    rows = []
    try:
        for n in args.streams:
            row = measure(server, track_path, track_seconds, n, args)
            rows.append(row)
            lat, ttf, shown = row["chunk_latency_ms"], row["time_to_final_ms"], row["word_to_first_interim_ms"]
            parts = row["chunk_latency_breakdown_ms"]
            print(
                f"| {label} | {n} | {lat['p50']} | {lat['p95']} | {lat['p99']} | {shown['p50']} | {ttf['p50']} | {ttf['p95']} | "
                f"{sum(row['errors'].values())} | {row['realtime_factor_mean']} | {row['mean_batch_size']} | {row['mean_forward_ms']} | "
                f"{parts['server_mean']} | {parts['queue_mean']} | {parts['decode_mean']} | {'yes' if row['sustained'] else 'no'} |",
                flush=True,
            )
            if not row["sustained"] and not args.keep_going:
                break
    finally:
        server.stop()
    sustained = [r["streams"] for r in rows if r["sustained"]]
    return {"server": server.command, "rows": rows, "max_sustained_streams": max(sustained) if sustained else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="checkpoint to serve")
    parser.add_argument("--streams", default="1,2,4,8", help="comma-separated numbers of concurrent streams, in increasing order (default: 1,2,4,8)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of audio per stream (default: 20)")
    parser.add_argument("--chunk-ms", type=int, default=100, help="audio per client message (default: 100)")
    parser.add_argument("--manifest", default="data/synth-de/test.jsonl", help="speech to stream (default: data/synth-de/test.jsonl)")
    parser.add_argument("--device", default="auto", help="server device (default: auto)")
    parser.add_argument("--server-args", default="", help="more `asr serve` options for both servers, e.g. '--chunk-ms 160 --lookahead-ms 80'")
    parser.add_argument("--p95-bound-ms", type=float, default=250.0, help="p95 chunk latency that still counts as real-time (default: 250)")
    parser.add_argument("--processes", type=int, default=4, help="client processes at most (default: 4)")
    parser.add_argument("--keep-going", action="store_true", help="try every N even after one is not sustained")
    parser.add_argument("--no-unbatched", action="store_true", help="skip the comparison with the unbatched server")
    parser.add_argument("--out", default="bench/results/stream_load.json", help="JSON output")
    args = parser.parse_args()
    args.streams = sorted(int(n) for n in args.streams.split(","))

    track = speech_track(Path(args.manifest), args.duration + 60)
    with tempfile.TemporaryDirectory() as folder:
        track_path = str(Path(folder) / "track.npy")
        np.save(track_path, track)
        print("| server | streams | latency p50 ms | p95 | p99 | word to first interim p50 ms | time to final p50 ms | p95 | errors | real-time factor | mean batch | forward ms | server chunk latency ms | queue ms | decode ms | sustained |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        extra = args.server_args.split()
        results = {"batched": run_server("batched", extra, track_path, len(track) / 16000, args)}
        if not args.no_unbatched:
            results["unbatched"] = run_server("unbatched", [*extra, "--max-batch-size", "1", "--max-wait-ms", "0"], track_path, len(track) / 16000, args)
    ratio = None
    if "unbatched" in results and results["unbatched"]["max_sustained_streams"]:
        ratio = round(results["batched"]["max_sustained_streams"] / results["unbatched"]["max_sustained_streams"], 2)
    # The same question at looser bounds, for machines (CPUs) where the bound is out of reach (needs --keep-going).
    by_bound = {
        bound: {
            label: max([r["streams"] for r in result["rows"] if not r["errors"] and r["chunk_latency_ms"]["p95"] is not None and r["chunk_latency_ms"]["p95"] <= bound], default=0)
            for label, result in results.items()
        }
        for bound in sorted({args.p95_bound_ms, 500.0, 1000.0, 2000.0})
    }
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    report = {
        "command": "python bench/stream_load.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        + (torch.cuda.get_device_name(0) if device.startswith("cuda") else "no GPU"),
        "model": args.model,
        "duration_seconds": args.duration,
        "chunk_ms": args.chunk_ms,
        "p95_bound_ms": args.p95_bound_ms,
        "results": results,
        "max_sustained_streams": {k: v["max_sustained_streams"] for k, v in results.items()},
        "batched_over_unbatched": ratio,
        "max_sustained_streams_by_p95_bound_ms": by_bound,
    }
    print(f"largest N sustained (p95 <= {args.p95_bound_ms:g} ms, no errors): {report['max_sustained_streams']}; ratio {ratio}")
    for bound, sustained in by_bound.items():
        print(f"  p95 <= {bound:g} ms: {sustained}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
