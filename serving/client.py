"""The streaming client: decode audio here, stream it to the server, show results as they come (`asr stream`).

Audio is decoded client-side with asr.audio (any format libsndfile reads)
and sent as 16-bit PCM in `chunk_ms` messages, either paced like a live
microphone (`realtime`) or as fast as the server allows, which ListModels
tells. The load test (bench/stream_load.py) streams through the same code.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import grpc
import torch

from asr.audio import AudioError, load_audio
from serving.proto import recognizer_pb2 as pb
from serving.proto import recognizer_pb2_grpc as pb_grpc

TOKEN_ENV = "ASR_TOKEN"


@dataclass(frozen=True)
class StreamOptions:
    chunk_ms: int = 100
    sample_rate: int = 16000  # what the client sends; the server resamples to the model's rate
    realtime: bool = False  # pace like a microphone; otherwise as fast as the server allows
    interim_results: bool = True
    word_times: bool = True
    single_utterance: bool = False
    model: str = ""
    language: str = ""

    def __post_init__(self) -> None:
        if self.chunk_ms <= 0:
            raise ValueError(f"chunk_ms must be positive, got {self.chunk_ms}")


@dataclass(frozen=True)
class Pace:
    """Send audio ending at `a` seconds at `max(0, a - burst) / rate` seconds after the start; rate None: at once."""

    rate: float | None
    burst: float = 0.0

    @classmethod
    def realtime(cls) -> Pace:
        return cls(1.0)

    @classmethod
    def allowed_by(cls, limits: pb.ServerLimits) -> Pace:
        # A margin under the server's limit absorbs network and scheduling jitter.
        if limits.max_realtime_factor <= 0:
            return cls(None)
        return cls(0.9 * limits.max_realtime_factor, 0.5 * limits.realtime_burst.ToTimedelta().total_seconds())


@dataclass
class SendLog:
    """(seconds of audio sent so far, wall time when sent) per audio message: what latency is measured from."""

    sent: list[tuple[float, float]] = field(default_factory=list)


def connect(target: str, tls: bool = False, ca_cert: Path | None = None) -> grpc.aio.Channel:
    if not tls:
        return grpc.aio.insecure_channel(target)
    return grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(ca_cert.read_bytes() if ca_cert else None))


def auth_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),) if token else ()


def pcm16(wave: torch.Tensor) -> bytes:
    return (wave.clamp(-1.0, 1.0) * 32767).round().to(torch.int16).numpy().astype("<i2").tobytes()


async def recognize_stream(
    stub: pb_grpc.RecognizerStub,
    audio: bytes,
    options: StreamOptions,
    pace: Pace,
    metadata: tuple = (),
    log: SendLog | None = None,
    endpointing: pb.EndpointingConfig | None = None,
    timeout: float | None = None,
) -> AsyncIterator[pb.StreamingRecognizeResponse]:
    """Stream 16-bit PCM `audio` and yield the server's responses as they arrive."""
    config = pb.StreamingRecognitionConfig(
        config=pb.RecognitionConfig(
            encoding=pb.RecognitionConfig.LINEAR16,
            sample_rate_hertz=options.sample_rate,
            language_code=options.language,
            model=options.model,
            enable_word_time_offsets=options.word_times,
        ),
        interim_results=options.interim_results,
        single_utterance=options.single_utterance,
        endpointing=endpointing,
    )
    step = options.sample_rate * options.chunk_ms // 1000 * 2  # bytes per message

    async def requests() -> AsyncIterator[pb.StreamingRecognizeRequest]:
        yield pb.StreamingRecognizeRequest(streaming_config=config)
        started = time.monotonic()
        for first in range(0, len(audio), step):
            piece = audio[first : first + step]
            seconds = (first + len(piece)) / 2 / options.sample_rate
            if pace.rate is not None:
                delay = started + max(0.0, seconds - pace.burst) / pace.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            yield pb.StreamingRecognizeRequest(audio_content=piece)
            if log is not None:
                log.sent.append((seconds, time.monotonic()))

    call = stub.StreamingRecognize(requests(), metadata=metadata, timeout=timeout)
    async for response in call:
        yield response


def response_json(response: pb.StreamingRecognizeResponse) -> dict:
    seconds = lambda d: round(d.ToTimedelta().total_seconds(), 3)  # noqa: E731
    return {
        "results": [
            {
                "is_final": r.is_final,
                "stability": round(r.stability, 3),
                "result_end_time": seconds(r.result_end_time),
                "transcript": r.alternatives[0].transcript if r.alternatives else "",
                "confidence": round(r.alternatives[0].confidence, 3) if r.alternatives else 0.0,
                "words": [
                    {"word": w.word, "start": seconds(w.start_time), "end": seconds(w.end_time), "confidence": round(w.confidence, 3)}
                    for w in (r.alternatives[0].words if r.alternatives else [])
                ],
            }
            for r in response.results
        ],
        "speech_event": pb.StreamingRecognizeResponse.SpeechEventType.Name(response.speech_event_type)
        if response.speech_event_type
        else None,
        "audio_processed": seconds(response.audio_processed),
    }


class _TextView:
    """Finals one per line; on a terminal, the interim result rewritten in place below them."""

    def __init__(self, out: TextIO):
        self.out = out
        self.live = out.isatty()
        self.width = shutil.get_terminal_size().columns - 1
        self.showing = False

    def show(self, response: pb.StreamingRecognizeResponse, source: str) -> None:
        for result in response.results:
            text = result.alternatives[0].transcript if result.alternatives else ""
            if result.is_final:
                words = result.alternatives[0].words if result.alternatives else []
                start = f"{words[0].start_time.ToTimedelta().total_seconds():7.2f}" if words else "      ?"
                end = result.result_end_time.ToTimedelta().total_seconds()
                self._clear()
                print(f"[{start} -> {end:7.2f}] {text}", file=self.out, flush=True)
            elif self.live:
                self._clear()
                self.out.write(("… " + text[-(self.width - 2) :]) if len(text) > self.width else text)
                self.out.flush()
                self.showing = True

    def error(self, source: str, message: str) -> None:
        self._clear()
        print(f"error: {source}: {message}", file=sys.stderr, flush=True)

    def _clear(self) -> None:
        if self.showing:
            self.out.write("\r\x1b[K")
            self.showing = False


class _JsonView:
    """One JSON object a line per response, and per error."""

    def __init__(self, out: TextIO):
        self.out = out

    def show(self, response: pb.StreamingRecognizeResponse, source: str) -> None:
        print(json.dumps({"file": source, **response_json(response)}, ensure_ascii=False), file=self.out, flush=True)

    def error(self, source: str, message: str) -> None:
        print(json.dumps({"file": source, "error": message}, ensure_ascii=False), file=self.out, flush=True)


async def stream_files(
    paths: list[Path],
    target: str,
    options: StreamOptions,
    as_json: bool = False,
    tls: bool = False,
    ca_cert: Path | None = None,
    token: str | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Stream each file in turn and show its results; 0 if all went through, 1 if any failed."""
    token = token or os.environ.get(TOKEN_ENV)
    view = _JsonView(out) if as_json else _TextView(out)
    metadata = auth_metadata(token)
    failed = 0
    async with connect(target, tls, ca_cert) as channel:
        stub = pb_grpc.RecognizerStub(channel)
        try:
            pace = Pace.realtime() if options.realtime else Pace.allowed_by((await stub.ListModels(pb.ListModelsRequest(), metadata=metadata)).limits)
        except grpc.aio.AioRpcError as error:
            view.error(target, f"{error.code().name}: {error.details()}")
            return 1
        for path in paths:
            source = str(path)
            try:
                audio = pcm16(load_audio(path, options.sample_rate))
            except AudioError as error:  # its message starts with the file's name already
                view.error(source, str(error).removeprefix(f"{path}: "))
                failed += 1
                continue
            if len(paths) > 1 and not as_json:
                print(f"== {source}", file=out, flush=True)
            try:
                async for response in recognize_stream(stub, audio, options, pace, metadata):
                    view.show(response, source)
            except grpc.aio.AioRpcError as error:
                view.error(source, f"{error.code().name}: {error.details()}")
                failed += 1
    return 1 if failed else 0
