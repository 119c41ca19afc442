"""The server's options: plain dataclasses, importable without gRPC (the CLI shows their defaults)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from asr.cpu import cpu_has_native_bf16
from asr.streaming.options import ChunkingOptions, EndpointOptions

# Where the CPU has no native bf16, the default windows run in fp32 slower than real time: on a 2-core AVX2 EPYC one
# 2.7-s window took 191 ms per 160-ms chunk, and one stream's messages waited 6.2 s at p95
# (bench/results/stream_sweep-avx2.md). Chunks of 640 ms with 960 ms of left context make a quarter as many windows
# of about the same length, with finals 2.8 WER points above batch transcription, as the default chunking's 2.9
# (bench/results/stream_vs_batch-de-onnx-avx2-2026-12-06.json); but a message then waits for the rest of its chunk:
# 693 ms at p95 with 4 streams. Early looks every 160 ms with 320 ms of context answer it within 215 ms, and change
# no final (bench/results/stream_sweep-avx2-interim.md).
CHUNKING_WITHOUT_BF16 = ChunkingOptions(chunk_ms=640, left_context_ms=960, interim_step_ms=160, interim_context_ms=320)
# On a CPU with native bf16 the default takes early looks every 100 ms (a client message's worth, as Google
# recommends sending) from 320 ms of context, so that a message is answered when it arrives rather than when its 160-ms
# chunk is complete. 4 streams on a 2-core AMX Xeon, int8 backend, in two runs of the pair, either order: p95 207 and
# 205 ms against 472 and 251 with a chunk's worth from the whole left context, word to first interim p50 67 and 77 ms
# against 163 and 133 (bench/results/stream_sweep-amx-interim.md, stream_sweep-amx-interim-reversed.md). Early looks
# feed interim words only, so finals are the same.
CHUNKING_WITH_BF16 = ChunkingOptions(interim_step_ms=100, interim_context_ms=320)


def lacks_native_bf16(device_type: str) -> bool:
    """A CPU without native bf16 (AVX2-only): where serving's defaults differ."""
    return device_type == "cpu" and not cpu_has_native_bf16()


def default_chunking(device_type: str) -> ChunkingOptions:
    """The server's chunking where the user sets none: ChunkingOptions() on a GPU, CHUNKING_WITH_BF16 or
    CHUNKING_WITHOUT_BF16 on a CPU."""
    if device_type != "cpu":
        return ChunkingOptions()
    return CHUNKING_WITH_BF16 if cpu_has_native_bf16() else CHUNKING_WITHOUT_BF16


def default_backend(device_type: str) -> str:
    """The server's backend where the user sets none: the int8 ONNX export on every CPU, torch on a GPU and where ONNX
    Runtime is not installed. 4 streams at p95, int8 against PyTorch: on an AVX2 EPYC 215 ms against fp32's 401
    (bench/results/stream_sweep-avx2-interim.md); with native bf16, against bf16, on the first such CPU measured 154-164
    against 228-238 (bench/results/stream_sweep-chunk160-cpu.md), on a Zen 5 136 against 162 (bench/results/stream_sweep-zen5-cpu.md), on an AMX Xeon
    287 against 959 (bench/results/stream_sweep-amx-onnx.md)."""
    return "onnx" if device_type == "cpu" and onnxruntime_installed() else "torch"


def onnxruntime_installed() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


@dataclass(frozen=True)
class BatchOptions:
    max_batch_size: int = 256
    max_wait_ms: float = 10.0

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {self.max_batch_size}")
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be at least 0, got {self.max_wait_ms}")


def default_batching(backend: str) -> BatchOptions:
    """The server's batching where the user sets none: none on the onnx backend. OnnxModel runs each input alone
    (ONNX Runtime scales int8 activations per run), so there a batch only decides whether its windows run side by
    side, one thread each, and are answered when the slowest is done, or one after another on every thread, when a
    short early look need not wait for a long full window: 4 streams on the AVX2 EPYC were answered within 218 ms
    at p95 unbatched against 261 ms batched (bench/results/stream_sweep-avx2-interim.md)."""
    return BatchOptions(max_batch_size=1) if backend == "onnx" else BatchOptions()


@dataclass(frozen=True)
class Limits:
    max_streams: int = 256
    max_stream_seconds: float = 3600.0
    max_chunk_bytes: int = 64 * 1024  # 2 s of 16 kHz LINEAR16
    # A stream may run ahead of real time by `realtime_burst_seconds`, then at most this fast; 0: no limit.
    max_realtime_factor: float = 2.0
    realtime_burst_seconds: float = 3.0
    # The largest request message, Recognize's whole audio included: gRPC's own receive limit, so a
    # larger body is refused with RESOURCE_EXHAUSTED before it is read into memory.
    max_recognize_bytes: int = 64 * 1024 * 1024
    # A stream that sends no message for this long ends with OUT_OF_RANGE and frees its slot; so does (with 408) an
    # upload to OpenAI's API whose body stops arriving.
    idle_timeout_seconds: float = 10.0
    # Whole files (Recognize, OpenAI's transcriptions) being decoded or waiting for the one thread that transcribes
    # them; more are refused at once. Each holds its audio until its turn: 64 MB of request and up to an hour's
    # samples (230 MB), so an unbounded queue of them is a way to run a server out of memory.
    max_file_requests: int = 8

    def __post_init__(self) -> None:
        if self.max_streams < 1 or self.max_file_requests < 1:
            raise ValueError(f"max_streams and max_file_requests must be at least 1, got {self.max_streams} and {self.max_file_requests}")
        if self.max_stream_seconds <= 0 or self.max_chunk_bytes <= 0 or self.max_recognize_bytes <= 0:
            raise ValueError("max_stream_seconds, max_chunk_bytes and max_recognize_bytes must be positive")
        if self.idle_timeout_seconds <= 0:
            raise ValueError(f"idle_timeout_seconds must be positive, got {self.idle_timeout_seconds}")
        if self.max_realtime_factor < 0 or self.realtime_burst_seconds < 0:
            raise ValueError("max_realtime_factor and realtime_burst_seconds must be at least 0")


@dataclass(frozen=True)
class ServerOptions:
    listen: str = "127.0.0.1:50051"
    chunking: ChunkingOptions = ChunkingOptions()
    batching: BatchOptions | None = None  # None: default_batching of each model's backend
    endpointing: EndpointOptions = EndpointOptions()
    # Interim results from each chunk as soon as it has arrived (one more forward pass of the chunk), not a lookahead later.
    early_interim: bool = True
    limits: Limits = Limits()
    token: str | None = None  # None: no authentication
    tls_cert: Path | None = None  # PEM certificate chain and key; both or neither
    tls_key: Path | None = None
    metrics_port: int | None = None  # None: no /metrics endpoint
    http_port: int | None = None  # None: no OpenAI-compatible HTTP API (serving/openai_http.py)
    grace_seconds: float = 30.0
    # How long the event loop's thread may hold the GIL while the inference thread waits for it between two operators
    # of a forward pass. Python's 5 ms made a pass 14 times slower beside a busy thread; 0.5 ms, 2.9 times, near the
    # 2.5 of a busy process that takes the core but not the GIL (bench/gil_contention.py,
    # bench/results/gil_switch/gil_contention-cpu.json).
    gil_switch_ms: float = 0.5

    def __post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("TLS needs both a certificate and its key")
        if self.grace_seconds < 0:
            raise ValueError(f"grace_seconds must be at least 0, got {self.grace_seconds}")
        if self.gil_switch_ms <= 0:
            raise ValueError(f"gil_switch_ms must be positive, got {self.gil_switch_ms}")
