"""What a request asks for, checked against what the server offers; and a stream's audio intake with its limits.

Every problem becomes a `RequestError` with the gRPC status it ends the call
with and a message that says what was wrong and what is accepted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import grpc

from asr.streaming.options import EndpointOptions
from asr.streaming.stream import Stream
from asr.transcribe import Transcriber
from serving.audio import MAX_RATE, MIN_RATE, StreamResampler, decode_linear16, decode_mulaw
from serving.batcher import Batcher
from serving.options import Limits
from serving.proto import recognizer_pb2 as pb

Encoding = pb.RecognitionConfig.AudioEncoding
MAX_ALTERNATIVES = 30
MAX_CHANNELS = 8


class RequestError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Model:
    name: str
    transcriber: Transcriber
    batcher: Batcher


@dataclass(frozen=True)
class AudioFormat:
    encoding: int
    sample_rate: int  # 0 for a file: its header says
    channels: int

    @property
    def bytes_per_frame(self) -> int:
        return (2 if self.encoding == Encoding.LINEAR16 else 1) * self.channels


def invalid(message: str) -> RequestError:
    return RequestError(grpc.StatusCode.INVALID_ARGUMENT, message)


def quoted(value: str, limit: int = 40) -> str:
    """A caller's value for an error message: repr'd, and cut to `limit` characters, so a huge field is not echoed back."""
    return repr(value) if len(value) <= limit else f"{value[:limit]!r}... ({len(value)} characters)"


def audio_format(config: pb.RecognitionConfig, streaming: bool) -> AudioFormat:
    names = ", ".join(n for n in Encoding.keys() if n != "ENCODING_UNSPECIFIED")
    if config.encoding == Encoding.ENCODING_UNSPECIFIED:
        if streaming:
            raise invalid(f"config.encoding must be set for streaming: raw {names}; audio files are for Recognize")
        return AudioFormat(Encoding.ENCODING_UNSPECIFIED, 0, 0)
    if config.encoding not in (Encoding.LINEAR16, Encoding.MULAW):
        raise invalid(f"config.encoding {config.encoding} is not supported; use {names}")
    if not MIN_RATE <= config.sample_rate_hertz <= MAX_RATE:
        raise invalid(f"config.sample_rate_hertz {config.sample_rate_hertz} is not supported; raw audio must be {MIN_RATE} to {MAX_RATE} Hz")
    channels = config.audio_channel_count or 1
    if not 1 <= channels <= MAX_CHANNELS:
        raise invalid(f"config.audio_channel_count {config.audio_channel_count} is not supported; use 1 to {MAX_CHANNELS}")
    return AudioFormat(config.encoding, config.sample_rate_hertz, channels)


def select_model(config: pb.RecognitionConfig, models: dict[str, Model]) -> Model:
    if config.model:
        model = models.get(config.model)
        if model is None:
            raise invalid(f"config.model {quoted(config.model)} is not served here; available: {', '.join(models)}")
    else:
        model = next(iter(models.values()))
    language = model.transcriber.bundle.language
    if config.language_code and config.language_code.split("-")[0].lower() != language:
        served = ", ".join(f"{m.name} ({m.transcriber.bundle.language})" for m in models.values())
        raise invalid(f"config.language_code {quoted(config.language_code)} does not match model {model.name!r}, which recognises {language!r}; models: {served}")
    if not 0 <= config.max_alternatives <= MAX_ALTERNATIVES:
        raise invalid(f"config.max_alternatives must be 0 to {MAX_ALTERNATIVES}, got {config.max_alternatives}")
    return model


def model_of_language(models: dict[str, Model], language_code: str) -> Model:
    """The first served model of a language ("de", "de-DE"): how the APIs that name no model choose one."""
    language = language_code.split("-")[0].lower()
    for model in models.values():
        if model.transcriber.bundle.language == language:
            return model
    served = ", ".join(f"{m.name} ({m.transcriber.bundle.language})" for m in models.values())
    raise invalid(f"language {quoted(language_code)}: no model of that language is served here; models: {served}")


def endpoint_options(config: pb.EndpointingConfig, defaults: EndpointOptions) -> EndpointOptions:
    """The stream's endpointing: the server's defaults where a field is 0 (unset)."""
    if config.stop_history_ms < -1:
        raise invalid(f"endpointing.stop_history_ms must be -1 (off), 0 (default) or positive, got {config.stop_history_ms}")
    if not 0.0 <= config.stop_threshold <= 1.0:
        raise invalid(f"endpointing.stop_threshold must be 0 (default) to 1, got {config.stop_threshold}")
    history = {0: defaults.stop_history_ms, -1: 0}.get(config.stop_history_ms, config.stop_history_ms)
    return EndpointOptions(
        stop_history_ms=history,
        stop_threshold=config.stop_threshold or defaults.stop_threshold,
        silence_dbfs=config.silence_threshold_dbfs or defaults.silence_dbfs,
        max_utterance_ms=defaults.max_utterance_ms,
    )


def decode_raw(data: bytes, fmt: AudioFormat):
    """Mono float32 samples of raw audio; the caller has checked it holds whole frames."""
    decode = decode_linear16 if fmt.encoding == Encoding.LINEAR16 else decode_mulaw
    return decode(data, fmt.channels)


class AudioIntake:
    """A stream's incoming audio: checked against the limits, decoded, resampled and appended to its `Stream`."""

    def __init__(self, fmt: AudioFormat, stream: Stream, limits: Limits, clock=time.monotonic):
        self.fmt = fmt
        self.stream = stream
        self.limits = limits
        self.clock = clock
        self.resampler = StreamResampler(fmt.sample_rate, stream.sample_rate)
        self.input_samples = 0
        self.first_arrival: float | None = None
        self.last_arrival: float | None = None

    @property
    def input_seconds(self) -> float:
        return self.input_samples / self.fmt.sample_rate

    def add(self, data: bytes) -> None:
        now = self.clock()
        if len(data) > self.limits.max_chunk_bytes:
            raise invalid(f"an audio message of {len(data)} bytes is larger than this server's limit of {self.limits.max_chunk_bytes}; send smaller pieces (20 to 200 ms each)")
        if len(data) % self.fmt.bytes_per_frame:
            raise invalid(
                f"an audio message of {len(data)} bytes is not a whole number of samples "
                f"({self.fmt.bytes_per_frame} bytes per sample of all {self.fmt.channels} channel(s))"
            )
        self.input_samples += len(data) // self.fmt.bytes_per_frame
        if self.input_seconds > self.limits.max_stream_seconds:
            raise RequestError(grpc.StatusCode.OUT_OF_RANGE, f"the stream is longer than this server's maximum of {self.limits.max_stream_seconds:g} s of audio; start a new stream")
        if self.first_arrival is None:
            self.first_arrival = now
        rate = self.limits.max_realtime_factor
        if rate and self.input_seconds > self.limits.realtime_burst_seconds + rate * (now - self.first_arrival):
            raise RequestError(
                grpc.StatusCode.OUT_OF_RANGE,
                f"audio arrives too fast: {self.input_seconds:.1f} s of audio in {now - self.first_arrival:.1f} s; this server takes at most "
                f"{rate:g}x real time after a {self.limits.realtime_burst_seconds:g} s burst; pace the stream",
            )
        self.last_arrival = now
        self.stream.append(self.resampler.push(decode_raw(data, self.fmt)))

    def end(self) -> None:
        """The audio is complete: release the resampler's last samples and close the stream."""
        if not self.stream.closed:
            self.stream.append(self.resampler.flush())
            self.stream.close()
