"""Soak test of the streaming server: real-time streams for a long time, with bad clients mixed in.

Starts `asr serve` on 127.0.0.1 and runs --streams concurrent lanes spread over
--processes client processes for --minutes. Each lane streams, one after
another, 4 to 12 s excerpts of speech in real time; now and then (--bad-every
seconds on average, over all lanes) a lane instead cancels its stream halfway,
or sends a bad input (an unsupported config, an audio message over the limit,
an odd number of bytes, a body that does not parse). Besides, the main process
starts a client every --kill-every seconds and SIGKILLs it mid-stream.

Every 10 s it samples the server's RSS, threads and open files and scrapes
/metrics. It reports errors by status code, split into the expected (a bad
input's own status, a cancellation) and the unexpected (anything else, and any
error of a good stream); whether every good stream got a final result; chunk
latency percentiles minute by minute; RSS growth after the warm-up and its
least-squares trend in MB a minute; and, after the soak, the streaming audio
metric against the audio of a few streams sent on a quiet server. JSON goes to
--out.

    python bench/soak.py --model de --streams 4 --minutes 30 --out bench/results/soak-cpu.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from stream_load import ROOT, Server, percentiles, scrape, speech_track, stream_measures

BAD_INPUTS = ("bad_config", "oversize_chunk", "odd_bytes", "malformed_body")
EXPECTED_CODES = {"bad_config": "INVALID_ARGUMENT", "oversize_chunk": "INVALID_ARGUMENT", "odd_bytes": "INVALID_ARGUMENT",
                  "malformed_body": "INVALID_ARGUMENT", "cancel": "CANCELLED"}


def run_lanes(address: str, track_path: str, lanes: int, seconds: float, bad_probability: float, seed: int, chunk_ms: int) -> list[dict]:
    return asyncio.run(_run_lanes(address, track_path, lanes, seconds, bad_probability, seed, chunk_ms))


async def _run_lanes(address, track_path, lanes, seconds, bad_probability, seed, chunk_ms) -> list[dict]:
    import grpc
    import torch

    from serving.client import Pace, SendLog, StreamOptions, pcm16, recognize_stream
    from serving.proto import recognizer_pb2 as pb
    from serving.proto import recognizer_pb2_grpc as pb_grpc

    track = np.load(track_path)
    rate = 16000
    ends_at = time.monotonic() + seconds
    records: list[dict] = []

    async with grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.RecognizerStub(channel)
        await channel.channel_ready()

        async def bad(kind: str) -> str:
            config = pb.RecognitionConfig(encoding=pb.RecognitionConfig.LINEAR16, sample_rate_hertz=16000)
            if kind == "bad_config":
                config.sample_rate_hertz = 1
            messages = [pb.StreamingRecognizeRequest(streaming_config=pb.StreamingRecognitionConfig(config=config))]
            if kind == "oversize_chunk":
                messages.append(pb.StreamingRecognizeRequest(audio_content=bytes(1 << 20)))
            elif kind == "odd_bytes":
                messages.append(pb.StreamingRecognizeRequest(audio_content=bytes(333)))
            try:
                if kind == "malformed_body":
                    call = channel.stream_stream("/asr.v1.Recognizer/StreamingRecognize")
                    async for _ in call(iter([os.urandom(48) + b"\xff\xff"])):
                        pass
                else:
                    async for _ in stub.StreamingRecognize(iter(messages)):
                        pass
            except grpc.aio.AioRpcError as error:
                return error.code().name
            return "OK"

        async def good(rng: random.Random, cancel: bool) -> dict:
            length = rng.uniform(4.0, 12.0)
            first = rng.randrange(0, max(1, len(track) - int(length * rate)))
            wave = track[first : first + int(length * rate)]
            log, responses = SendLog(), []

            async def consume() -> None:
                stream = recognize_stream(stub, pcm16(torch.from_numpy(wave)), StreamOptions(chunk_ms=chunk_ms, realtime=True), Pace.realtime(), log=log)
                async for response in stream:
                    finals = sum(1 for r in response.results if r.is_final)
                    responses.append((response.audio_processed.ToTimedelta().total_seconds(), time.monotonic(), [], 0.0, finals))

            task = asyncio.create_task(consume())
            if cancel:  # the client goes away halfway: the server must free the stream
                await asyncio.sleep(length / 2)
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, grpc.aio.AioRpcError):
                    pass
                return {"kind": "cancel", "code": "CANCELLED", "at": time.time()}
            error = None
            try:
                await task
            except grpc.aio.AioRpcError as e:
                error = e.code().name
            measures = stream_measures({"sent": log.sent, "responses": [r[:4] for r in responses], "error": error,
                                        "audio_seconds": len(wave) / rate})
            return {"kind": "good", "code": error or "OK", "at": time.time(), "audio_seconds": len(wave) / rate,
                    "finals": sum(n for *_, n in responses), "latencies": measures["latencies"]}

        async def lane(index: int) -> None:
            rng = random.Random(f"{seed}/{index}")
            while time.monotonic() < ends_at:
                draw = rng.random()
                if draw < bad_probability:
                    kind = rng.choice(BAD_INPUTS)
                    records.append({"kind": kind, "code": await bad(kind), "at": time.time()})
                elif draw < 1.5 * bad_probability:
                    records.append(await good(rng, cancel=True))
                else:
                    records.append(await good(rng, cancel=False))

        await asyncio.gather(*(lane(i) for i in range(lanes)))
    return records


def killed_client(address: str, track_path: str) -> subprocess.Popen:
    """A client in its own process, streaming in real time, for the caller to SIGKILL mid-stream."""
    code = (
        "import asyncio, sys, numpy as np, torch, grpc\n"
        "from serving.client import Pace, StreamOptions, pcm16, recognize_stream\n"
        "from serving.proto import recognizer_pb2_grpc as pb_grpc\n"
        "async def main():\n"
        f"    async with grpc.aio.insecure_channel({address!r}) as channel:\n"
        "        stub = pb_grpc.RecognizerStub(channel)\n"
        f"        wave = np.load({track_path!r})[: 16000 * 20]\n"
        "        async for _ in recognize_stream(stub, pcm16(torch.from_numpy(wave)), StreamOptions(chunk_ms=100, realtime=True), Pace.realtime()):\n"
        "            pass\n"
        "asyncio.run(main())\n"
    )
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def sample(pid: int, metrics_url: str) -> dict:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    metrics = scrape(metrics_url)
    return {
        "at": time.time(), "rss_mb": int(fields["VmRSS"].split()[0]) / 1024, "threads": int(fields["Threads"]),
        "open_files": len(os.listdir(f"/proc/{pid}/fd")), "active_streams": metrics.get("asr_active_streams", 0.0),
        "streamed_audio_seconds": metrics.get('asr_audio_seconds_total{method="StreamingRecognize"}', 0.0),
    }


def rss_slope(samples: list[dict]) -> float | None:
    """The RSS trend in MB a minute: the least-squares line through the samples, steadier than the first against the
    last when RSS moves tens of MB from sample to sample."""
    if len(samples) < 2:
        return None
    minutes = np.array([(s["at"] - samples[0]["at"]) / 60 for s in samples])
    return round(float(np.polyfit(minutes, [s["rss_mb"] for s in samples], 1)[0]), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="what `asr serve --model` takes: a shipped model (de), a run folder or a checkpoint")
    parser.add_argument("--manifest", default="data/release-de/test.jsonl", help="speech to stream (default: %(default)s)")
    parser.add_argument("--streams", type=int, default=4, help="concurrent lanes (default: %(default)s)")
    parser.add_argument("--processes", type=int, default=2, help="client processes the lanes are spread over (default: %(default)s)")
    parser.add_argument("--minutes", type=float, default=30.0, help="soak length (default: %(default)s)")
    parser.add_argument("--warmup-minutes", type=float, default=2.0, help="RSS growth is measured after this (default: %(default)s)")
    parser.add_argument("--bad-every", type=float, default=5.0, help="seconds between bad inputs or cancellations, on average over all lanes (default: %(default)s)")
    parser.add_argument("--kill-every", type=float, default=20.0, help="seconds between killed clients (default: %(default)s)")
    parser.add_argument("--chunk-ms", type=int, default=100, help="audio per message (default: %(default)s)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--serve-args", default="", help="more `asr serve` options, one string")
    parser.add_argument("--out", default="bench/results/soak-cpu.json")
    args = parser.parse_args()

    track = speech_track(Path(args.manifest), 240.0)
    track_file = Path(tempfile.mkdtemp()) / "track.npy"
    np.save(track_file, track)
    server = Server(args.model, args.device, ["--idle-timeout-seconds", "10", *args.serve_args.split()])
    pid = server.process.pid
    print(f"soak: {args.streams} streams from {args.processes} processes for {args.minutes:g} min against {server.address}", flush=True)
    # a lane's stream lasts about 8 s: the chance of a bad input per stream that gives one every `bad_every` s overall
    bad_probability = min(0.5, 8.0 / (args.bad_every * args.streams))
    seconds = args.minutes * 60
    samples, kills = [sample(pid, server.metrics_url)], 0
    started = time.monotonic()
    with ProcessPoolExecutor(args.processes, mp_context=get_context("spawn")) as pool:
        lanes = [args.streams // args.processes + (p < args.streams % args.processes) for p in range(args.processes)]
        jobs = [pool.submit(run_lanes, server.address, str(track_file), n, seconds, bad_probability, p, args.chunk_ms)
                for p, n in enumerate(lanes) if n]
        next_kill = started + args.kill_every
        while not all(job.done() for job in jobs):
            time.sleep(1.0)
            now = time.monotonic()
            if now >= next_kill and now - started < seconds - 5:
                victim = killed_client(server.address, str(track_file))
                time.sleep(random.uniform(2.0, 4.0))  # it has connected and streamed a little
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                kills += 1
                next_kill = now + args.kill_every
            if now - samples[-1]["at"] + (time.time() - time.monotonic()) >= 10 or now - started > seconds:
                samples.append(sample(pid, server.metrics_url))
        records = [r for job in jobs for r in job.result()]
    time.sleep(2.0)
    samples.append(sample(pid, server.metrics_url))

    # The metric check on a quiet server: three streams whose audio is known exactly.
    before = samples[-1]["streamed_audio_seconds"]
    quiet = run_lanes(server.address, str(track_file), 3, 1.0, 0.0, 99, args.chunk_ms)
    time.sleep(1.0)
    after = sample(pid, server.metrics_url)["streamed_audio_seconds"]
    quiet_sent = sum(r["audio_seconds"] for r in quiet if r["kind"] == "good" and r["code"] == "OK")
    server.stop()

    good = [r for r in records if r["kind"] == "good"]
    unexpected: dict[str, int] = {}
    by_code: dict[str, int] = {}
    for r in records:
        by_code[r["code"]] = by_code.get(r["code"], 0) + 1
        wanted = "OK" if r["kind"] == "good" else EXPECTED_CODES[r["kind"]]
        if r["code"] != wanted:
            unexpected[f"{r['kind']}: {r['code']}"] = unexpected.get(f"{r['kind']}: {r['code']}", 0) + 1
    warm = [s for s in samples if s["at"] - samples[0]["at"] >= args.warmup_minutes * 60] or samples[-1:]
    minutes: dict[int, list[float]] = {}
    t0 = min((r["at"] for r in records), default=time.time())
    for r in good:
        minutes.setdefault(int((r["at"] - t0) // 60), []).extend(r["latencies"])
    report = {
        "command": "python " + " ".join(sys.argv), "server": server.command, "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "streams": args.streams, "minutes": args.minutes, "killed_clients": kills,
        "calls": len(records), "good_streams": len(good), "status_codes": by_code, "unexpected_errors": unexpected,
        "good_streams_without_a_final": sum(1 for r in good if r["code"] == "OK" and r["finals"] == 0),
        "chunk_latency_ms": percentiles([x for r in good for x in r["latencies"]]),
        "chunk_latency_ms_by_minute": {m: percentiles(v) for m, v in sorted(minutes.items())},
        "rss_mb": {"start": round(samples[0]["rss_mb"], 1), "after_warmup": round(warm[0]["rss_mb"], 1), "end": round(samples[-1]["rss_mb"], 1),
                   "growth_after_warmup_percent": round(100 * (samples[-1]["rss_mb"] / warm[0]["rss_mb"] - 1), 2),
                   "mb_per_minute_after_warmup": rss_slope(warm)},
        "threads": {"after_warmup": warm[0]["threads"], "end": samples[-1]["threads"]},
        "open_files": {"after_warmup": warm[0]["open_files"], "end": samples[-1]["open_files"]},
        "active_streams_at_end": samples[-1]["active_streams"],
        "audio_metric_check": {"sent_seconds": round(quiet_sent, 3), "metric_seconds": round(after - before, 3),
                               "error_percent": round(100 * ((after - before) / quiet_sent - 1), 3) if quiet_sent else None},
        "samples": samples,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=2))


if __name__ == "__main__":
    main()
