"""Prometheus metrics of the service, on their own registry so that several servers can share a process (tests do)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.0, 5.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
_RTF_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.active_streams = Gauge("asr_active_streams", "Streams being served now", registry=r)
        self.streams = Counter("asr_streams", "Streams started (before limits and config checks)", registry=r)
        self.chunk_latency = Histogram(
            "asr_chunk_latency_seconds",
            "From the arrival of the audio that completed a chunk's window to the sending of the response that covers the chunk",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram("asr_batch_size", "Windows per forward pass", buckets=_BATCH_BUCKETS, registry=r)
        self.forward_seconds = Histogram("asr_forward_seconds", "Wall time of one forward pass", buckets=_LATENCY_BUCKETS, registry=r)
        # Where a chunk's latency goes on the server: waiting for its forward pass, the pass, then decoding its frames.
        self.queue_seconds = Histogram(
            "asr_queue_seconds", "From a window's submission to the start of the forward pass that takes it", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.decode_seconds = Histogram(
            "asr_decode_seconds", "Decoding one window's frames and building its response (greedy or beam search)", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.real_time_factor = Histogram(
            "asr_batch_real_time_factor",
            "Forward-pass seconds per second of new stream audio it decoded; below 1 / streams keeps every stream real-time",
            buckets=_RTF_BUCKETS,
            registry=r,
        )
        self.audio_seconds = Counter("asr_audio_seconds", "Audio decoded, in seconds, by method", ["method"], registry=r)
        self.errors = Counter("asr_errors", "RPCs ended with an error status, by method and status code", ["method", "code"], registry=r)

    def serve_http(self, port: int, host: str) -> int:
        """Serve /metrics over HTTP in a background thread; returns the port (useful with port 0)."""
        server, _ = start_http_server(port, addr=host, registry=self.registry)
        return server.server_port

    def text(self) -> str:
        return generate_latest(self.registry).decode()
