"""Raw audio of a stream: bytes to samples, and resampling piece by piece.

Files (Recognize) go through asr.audio like every other file; this module is
only for the raw encodings a stream sends, which carry no header.
"""

from __future__ import annotations

import numpy as np
import torch

from asr.audio import resample, resampling_ratio

MIN_RATE, MAX_RATE = 8000, 48000


def _mulaw_table() -> np.ndarray:
    """G.711 mu-law byte -> 16-bit linear sample, as ITU-T G.711 (and audioop, and libsndfile) decode it."""
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    magnitude = ((((u & 0x0F) << 3) + 0x84) << exponent) - 0x84
    return np.where(u & 0x80, -magnitude, magnitude).astype(np.float32)


_MULAW = _mulaw_table()


def decode_linear16(data: bytes, channels: int) -> np.ndarray:
    """Mono float32 samples in [-1, 1) of interleaved little-endian 16-bit PCM."""
    samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    return samples.reshape(-1, channels).mean(axis=1)


def decode_mulaw(data: bytes, channels: int) -> np.ndarray:
    """Mono float32 samples in [-1, 1) of interleaved G.711 mu-law bytes."""
    samples = _MULAW[np.frombuffer(data, dtype=np.uint8)] / 32768.0
    return samples.reshape(-1, channels).mean(axis=1)


class StreamResampler:
    """Resamples a stream piece by piece into exactly the samples that resampling it whole gives.

    torchaudio's windowed-sinc filter reads a few input samples either side of
    each output sample; an output sample is released once the input it reads
    has arrived, and each call filters only the input still needed. Input
    positions are kept at multiples of the reduced input rate, where input
    and output samples align exactly.
    """

    # torchaudio.functional.resample's defaults, which asr.audio.resample uses
    _FILTER_WIDTH = 6
    _ROLLOFF = 0.99

    def __init__(self, orig_rate: int, new_rate: int):
        self.orig_rate, self.new_rate = orig_rate, new_rate
        self._orig, self._new = resampling_ratio(orig_rate, new_rate)  # what asr.audio.resample filters with
        # The filter's reach in input samples (torchaudio's kernel width, plus one period), rounded up to a period.
        width = int(np.ceil(self._FILTER_WIDTH * self._orig / (min(self._orig, self._new) * self._ROLLOFF)))
        self._margin = (width // self._orig + 2) * self._orig
        self._buffer = torch.zeros(0)
        self._base = 0  # input index of _buffer[0], a multiple of _orig
        self._received = 0  # input samples
        self._emitted = 0  # output samples

    def push(self, samples: np.ndarray | torch.Tensor) -> torch.Tensor:
        """The output samples that the input so far determines."""
        samples = torch.as_tensor(samples, dtype=torch.float32)
        if self._orig == self._new:
            return samples
        self._buffer = torch.cat([self._buffer, samples])
        self._received += len(samples)
        ready = max(0, (self._received - self._margin) * self._new // self._orig)
        return self._emit(ready)

    def flush(self) -> torch.Tensor:
        """The remaining output samples, at the end of the stream."""
        if self._orig == self._new:
            return torch.zeros(0)
        return self._emit(-(-self._received * self._new // self._orig))

    def _emit(self, upto: int) -> torch.Tensor:
        if upto <= self._emitted:
            return torch.zeros(0)
        out = resample(self._buffer, self.orig_rate, self.new_rate)
        offset = self._base * self._new // self._orig  # output index of out[0]
        piece = out[self._emitted - offset : upto - offset]
        self._emitted = upto
        keep_from = max(0, (self._emitted * self._orig // self._new - self._margin) // self._orig * self._orig)
        if keep_from > self._base:
            self._buffer = self._buffer[keep_from - self._base :]
            self._base = keep_from
        return piece
