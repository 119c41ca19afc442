"""The server: models loaded once, the Recognizer service with health, reflection, metrics, auth and TLS, and a graceful stop.

On SIGTERM (or SIGINT) the server stops taking new calls and reports
NOT_SERVING; open streams go on until the client ends them or, near the end
of the grace period, they stop taking audio, decode what they have, send its
final results and end with UNAVAILABLE. Then the process exits.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import torch
from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from asr.decoding import DecodeOptions
from asr.registry import ModelRef, resolve_model
from asr.streaming.options import ChunkingOptions
from asr.streaming.stream import Window, window_log_probs
from asr.transcribe import Transcriber
from serving.auth import TokenAuth
from serving.batcher import Batcher
from serving.metrics import Metrics
from serving.parsing import RequestParsing
from serving.options import ServerOptions, default_batching
from serving.google_speech import GoogleSpeechService
from serving.openai_http import start_http
from serving.proto import cloud_speech_pb2 as gpb
from serving.proto import cloud_speech_pb2_grpc as gpb_grpc
from serving.proto import recognizer_pb2 as pb
from serving.proto import recognizer_pb2_grpc as pb_grpc
from serving.service import RecognizerService
from serving.session import Model

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Recognizer"].full_name  # asr.v1.Recognizer
GOOGLE_SERVICE_NAME = gpb.DESCRIPTOR.services_by_name["Speech"].full_name  # google.cloud.speech.v1.Speech
SERVICE_NAMES = (SERVICE_NAME, GOOGLE_SERVICE_NAME)


@dataclass
class RunningServer:
    server: grpc.aio.Server
    service: RecognizerService
    health: health_aio.HealthServicer
    port: int
    metrics: Metrics
    metrics_port: int | None
    batchers: list[Batcher] = field(default_factory=list)
    executors: list[ThreadPoolExecutor] = field(default_factory=list)
    http: web.AppRunner | None = None  # the OpenAI-compatible HTTP API, with --http-port

    @property
    def http_port(self) -> int | None:
        return self.http.addresses[0][1] if self.http is not None else None

    async def stop(self, grace: float) -> None:
        """Stop taking calls, let open streams finish within `grace` seconds, then free everything."""
        self.service.drain()
        await self.health.enter_graceful_shutdown()
        # Streams are cut off before the grace period ends, leaving time to decode their last audio.
        cut_off = asyncio.get_running_loop().call_later(max(0.0, grace - min(5.0, grace / 4)), self.service.cut_off_streams)
        await self.server.stop(grace)
        cut_off.cancel()
        if self.http is not None:
            await self.http.cleanup()
        for batcher in self.batchers:
            await batcher.stop()
        for executor in self.executors:
            executor.shutdown(wait=False, cancel_futures=True)


def load_models(
    specs: list[str | Path], device: str, decoding: Callable[[ModelRef], DecodeOptions] = lambda ref: DecodeOptions(),
    precision: str = "auto", backend: str = "torch",
) -> list[tuple[str, Transcriber]]:
    """(name, transcriber) per model (a shipped model's language or name, a run folder or a checkpoint).

    The name is the shipped model's name or the checkpoint's file stem, and must be unique.
    `decoding` gives each model its decoding (by default, beam search with its own LM where
    it ships one); with beam search each stream keeps its open utterance's frames and
    searches them when the utterance ends (asr.streaming).
    """
    models = []
    for spec in specs:
        ref = resolve_model(spec)
        name = ref.name if ref.card else ref.checkpoint.stem
        if name in {known for known, _ in models}:
            raise ValueError(f"two models named {name!r}; every checkpoint's file name must differ")
        transcriber = Transcriber(ref.checkpoint, device=device, decoding=decoding(ref), precision=precision, backend=backend)
        print(f"model {name} ({transcriber.bundle.language}): decoding {transcriber.decoding.label}, "
              f"{transcriber.backend} {transcriber.precision} on {transcriber.device}", file=sys.stderr, flush=True)
        models.append((name, transcriber))
    return models


async def start_server(models: list[tuple[str, Transcriber]], options: ServerOptions = ServerOptions()) -> RunningServer:
    """Start serving `models` (the first is the default) on `options.listen`; port 0 picks a free port."""
    if not models:
        raise ValueError("no model to serve")
    metrics = Metrics()
    inference = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")  # one forward pass at a time
    recognize = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recognize")  # whole files, beside the streams
    served: dict[str, Model] = {}
    batchers = []
    for name, transcriber in models:
        looks_ms = options.chunking.early_looks_ms if options.early_interim else ()
        _report_stream_capacity(name, _warm_up(transcriber, options.chunking.window_ms, looks_ms), options.chunking, looks_ms)
        batcher = Batcher(transcriber, options.batching or default_batching(transcriber.backend), inference, metrics)
        batcher.start()
        batchers.append(batcher)
        served[name] = Model(name, transcriber, batcher)
    service = RecognizerService(served, options.chunking, options.endpointing, options.limits, metrics, recognize, options.early_interim)
    # One limit on every request message: a Recognize request (its whole audio) is at most max_recognize_bytes,
    # refused by gRPC itself with RESOURCE_EXHAUSTED beyond it; stream messages are checked against max_chunk_bytes.
    message_limit = max(options.limits.max_recognize_bytes, options.limits.max_chunk_bytes)
    server = grpc.aio.server(
        # Authentication first, before a request message is read; then parsing errors as INVALID_ARGUMENT.
        interceptors=([TokenAuth(options.token, metrics)] if options.token else []) + [RequestParsing(metrics)],
        options=[("grpc.max_receive_message_length", message_limit), ("grpc.so_reuseport", 0)],
    )
    pb_grpc.add_RecognizerServicer_to_server(service, server)
    gpb_grpc.add_SpeechServicer_to_server(GoogleSpeechService(service), server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection([*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server)
    if options.tls_cert:
        credentials = grpc.ssl_server_credentials([(options.tls_key.read_bytes(), options.tls_cert.read_bytes())])
        port = server.add_secure_port(options.listen, credentials)
    else:
        port = server.add_insecure_port(options.listen)
    await server.start()
    for name in ("", *SERVICE_NAMES):
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    metrics_port = metrics.serve_http(options.metrics_port, listen_host(options.listen)) if options.metrics_port is not None else None
    http = await start_http(service, options.token, listen_host(options.listen), options.http_port) if options.http_port is not None else None
    return RunningServer(server, service, health, port, metrics, metrics_port, batchers, [inference, recognize], http)


def listen_host(listen: str) -> str:
    """The host part of ADDRESS:PORT; /metrics listens on the same interface as the service."""
    return listen.rsplit(":", 1)[0].strip("[]")


def _warm_up(transcriber: Transcriber, window_ms: int, looks_ms: tuple[int, ...]) -> float:
    """Each window length a stream's chunk brings (its full window, then its early looks) through the model, so the
    first stream does not pay for allocator and kernel set-up; then again, timed: the seconds one stream's chunk
    takes here."""
    windows = [Window(torch.zeros(transcriber.sample_rate * ms // 1000), 0, None, 0) for ms in (window_ms, *looks_ms)]
    seconds = 0.0
    for window in windows:
        window_log_probs(transcriber, [window])
        started = time.perf_counter()
        window_log_probs(transcriber, [window])
        seconds += time.perf_counter() - started
    return seconds


def _report_stream_capacity(name: str, chunk_seconds: float, chunking: ChunkingOptions, looks_ms: tuple[int, ...]) -> None:
    """How many real-time streams the passes of one stream's chunk leave room for, before batching; a warning below one.

    Measured on an AVX2-only CPU in fp32, the defaults' 2.7-s window took longer than its 160-ms chunk, so no
    stream kept up (bench/results/stream_sweep-avx2.json): better said at start than found by a client. Early looks
    count too: with 640-ms chunks and looks every 160 ms, three of 480 to 800 ms come between two full windows."""
    streams = chunking.chunk_ms / 1000 / chunk_seconds
    looks = f" and {len(looks_ms)} early look{'s' if len(looks_ms) > 1 else ''} ({', '.join(map(str, looks_ms))} ms)" if looks_ms else ""
    print(f"model {name}: one {chunking.window_ms}-ms streaming window{looks} take{'' if looks else 's'} {1000 * chunk_seconds:.0f} "
          f"ms per {chunking.chunk_ms}-ms chunk: room for about {streams:.1f} real-time streams before batching", file=sys.stderr, flush=True)
    if streams < 1:
        print(f"warning: model {name} cannot keep up with even one real-time stream at these settings; a longer "
              f"--chunk-ms, a shorter --left-context-ms, or --backend onnx on a CPU "
              f"(serving/README.md) does less work per chunk", file=sys.stderr, flush=True)


def serve(model_specs: list[str | Path], device: str, options: ServerOptions,
          decoding: Callable[[ModelRef], DecodeOptions] = lambda ref: DecodeOptions(), precision: str = "auto",
          backend: str = "torch") -> int:
    """Run until SIGTERM or SIGINT, then drain; the `asr serve` command."""
    models = load_models(model_specs, device, decoding, precision, backend)
    sys.setswitchinterval(options.gil_switch_ms / 1000)  # the process is the server's: see ServerOptions

    async def run() -> None:
        running = await start_server(models, options)
        host = listen_host(options.listen)
        print(f"serving {', '.join(name for name, _ in models)} on {host}:{running.port} ({models[0][1].device})", flush=True)
        if running.metrics_port is not None:
            print(f"metrics on http://{host}:{running.metrics_port}/metrics", flush=True)
        if running.http_port is not None:
            print(f"OpenAI-compatible HTTP on http://{host}:{running.http_port}/v1", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        print(f"shutting down: finishing open streams (grace {options.grace_seconds:g} s)", file=sys.stderr, flush=True)
        await running.stop(options.grace_seconds)
        print("stopped", file=sys.stderr, flush=True)

    asyncio.run(run())
    return 0
