"""How a stream is cut into windows, and when an utterance ends.

Plain dataclasses without torch, so that the command lines that show these
defaults (`asr serve --help`) start without loading it.
"""

from __future__ import annotations

from dataclasses import dataclass

FRAME_MS = 20  # one encoder output frame: two 10 ms mel frames
MAX_WINDOW_MS = 30_000


@dataclass(frozen=True)
class ChunkingOptions:
    """How a stream is cut into windows; every length is a whole number of 20 ms frames.

    Interim results cover audio up to one chunk after it arrives; words are
    final chunk + lookahead after they are spoken; the encoder runs over
    (left_context + chunk + lookahead) / chunk times the audio. Accuracy
    depends mostly on the right context a frame gets (lookahead + about half
    a chunk), then on the left context. The defaults were measured on the
    shipped German model's held-out voices (bench/stream_vs_batch.py): 0.7 WER
    points above batch decoding, at 17x the encoder work of one pass over the
    audio; a 160-ms chunk, not 320, because a message's latency includes the
    wait for the rest of its chunk (bench/stream_sweep.py: 4 streams on 2
    cores at p95 228-238 ms against 369 ms). Servers with many streams per device
    halve the encoder work with 320.
    """

    chunk_ms: int = 160
    left_context_ms: int = 1600
    lookahead_ms: int = 960
    # Early looks (streams with early interim results): how much new audio brings one (0: a chunk's worth), and
    # the left context it reads (None: left_context_ms) before the audio that came after the last full window.
    # Their frames feed interim words only, never finals.
    interim_step_ms: int = 0
    interim_context_ms: int | None = None

    def __post_init__(self) -> None:
        for name in ("chunk_ms", "left_context_ms", "lookahead_ms", "interim_step_ms", "interim_context_ms"):
            value = getattr(self, name)
            if value is None:
                continue
            if value < 0 or value % FRAME_MS:
                raise ValueError(f"{name} must be a non-negative multiple of {FRAME_MS} ms, got {value}")
        if self.chunk_ms == 0:
            raise ValueError("chunk_ms must be positive")
        if self.interim_context_ms is not None and self.interim_context_ms > self.left_context_ms:
            raise ValueError(f"interim_context_ms must be at most left_context_ms ({self.left_context_ms}), got {self.interim_context_ms}")
        if self.window_ms > MAX_WINDOW_MS:
            raise ValueError(f"left_context_ms + chunk_ms + lookahead_ms must be at most {MAX_WINDOW_MS} (the encoder's 30 s), got {self.window_ms}")

    @property
    def window_ms(self) -> int:
        return self.left_context_ms + self.chunk_ms + self.lookahead_ms

    @property
    def look_step_ms(self) -> int:
        """New audio that brings an early look: interim_step_ms, or a chunk's worth where that is 0."""
        return self.interim_step_ms or self.chunk_ms

    @property
    def look_context_ms(self) -> int:
        """Left context an early look reads: interim_context_ms, or the left context where that is None."""
        return self.left_context_ms if self.interim_context_ms is None else self.interim_context_ms

    @property
    def early_looks_ms(self) -> tuple[int, ...]:
        """The lengths of the early looks a stream with early interim results takes between two full windows, audio
        arriving steadily: each reads the look context and all the audio since the last full window
        (asr.streaming.stream.Stream.next_window), one more step's worth each time, until a chunk's worth completes
        the next full window."""
        step = self.look_step_ms
        return tuple(self.look_context_ms + k * step for k in range(1, -(-self.chunk_ms // step)))


@dataclass(frozen=True)
class EndpointOptions:
    """When an utterance ends: after `stop_history_ms` of non-speech frames following speech.

    A frame is non-speech when the model puts at least `stop_threshold` of its
    probability on blank or word break, or when the audio is quieter than
    `silence_dbfs`. CTC emits blanks between the characters of a word too, but
    only for a few frames; hundreds of milliseconds of them mean a pause.
    """

    stop_history_ms: int = 800  # 0: no endpointing, the utterance ends with the stream
    stop_threshold: float = 0.8
    silence_dbfs: float = -60.0
    # Longest utterance: longer ones end at their last word boundary, so that finals come and a window's decoding
    # does not grow with the stream. Uncut, it grew from a median 13 ms in an utterance's first minute to 166 ms in
    # its tenth (German model and LM: beyond a 160-ms chunk, the stream fell behind), cut at 30 s it stayed at 8.5 ms
    # (bench/results/stream_long-avx2; measured before beam searches settled old frames, which bounds their memory).
    max_utterance_ms: int = 30_000

    def __post_init__(self) -> None:
        if self.stop_history_ms < 0:
            raise ValueError(f"stop_history_ms must be at least 0, got {self.stop_history_ms}")
        if self.max_utterance_ms < FRAME_MS:
            raise ValueError(f"max_utterance_ms must be at least {FRAME_MS}, got {self.max_utterance_ms}")
        if not 0.0 < self.stop_threshold <= 1.0:
            raise ValueError(f"stop_threshold must be in (0, 1], got {self.stop_threshold}")
