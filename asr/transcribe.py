"""Transcription: audio in, words with times and confidences out.

Every consumer (the batch CLI, evaluation, the server) runs the same path:
waveform -> log-mel frontend -> encoder -> CTC head -> decoder. Audio longer
than `chunk_seconds` is cut into overlapping windows; each window keeps the
words whose midpoint lies in its half of the overlap, so no word is lost or
doubled at a seam.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch

from asr.audio import AudioError, load_audio
from asr.checkpoint import ModelBundle
from asr.cpu import cpu_has_native_bf16
from asr.decoding import DecodeOptions, Hypothesis, Word, make_decoder
from asr.features import LogMelFrontend
from asr.onnx_model import OnnxModel, cached_onnx, load_onnx
from asr.registry import load_model, resolve_model


@dataclass(frozen=True)
class TranscribeOptions:
    batch_size: int = 8
    # `transcribe_files` reads this many batches' worth of files before sorting their chunks into batches: 1.4x the
    # RTFx of batching files in the order given on 100 German test files (bench/results/transcribe_files-cpu.json).
    file_window_batches: int = 4
    chunk_seconds: float = 20.0
    overlap_seconds: float = 2.0
    # Subtitle segments: a new one starts after a pause or when one grows too long.
    segment_pause_seconds: float = 0.8
    segment_max_seconds: float = 7.0

    def __post_init__(self) -> None:
        if not 0 <= self.overlap_seconds < self.chunk_seconds / 2:
            raise ValueError(f"overlap_seconds must be in [0, chunk_seconds / 2), got {self.overlap_seconds}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.file_window_batches < 1:
            raise ValueError(f"file_window_batches must be at least 1, got {self.file_window_batches}")


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    words: list[Word]


@dataclass(frozen=True)
class Transcription:
    text: str
    words: list[Word]
    segments: list[Segment]
    duration: float  # seconds of audio
    language: str
    source: str = ""  # the file it came from, where there is one
    # Beam search with nbest > 1: (text, score) of the runners-up, best first; for audio
    # decoded in one window only, as chunks of long audio are searched separately.
    alternatives: tuple[tuple[str, float], ...] = ()
    score: float = 0.0  # beam search, audio decoded in one window: the best hypothesis's score


@dataclass(frozen=True)
class _Chunk:
    utterance: int
    start: int  # first sample, in the utterance
    # The chunk keeps the words whose midpoint sample is in [keep_from, keep_to).
    # Samples, not seconds: two chunks must agree exactly on which side of a seam a word is.
    keep_from: int | float
    keep_to: int | float
    wave: torch.Tensor


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but no CUDA GPU is available; use --device cpu")
    return torch.device(device)


PRECISIONS = ("auto", "fp32", "bf16")
BACKENDS = ("torch", "onnx")


# Measured on an AMD EPYC with AVX2 only: bf16 matrix products ran at 0.6 GFLOP/s against fp32's 94
# (bench/results/cpu_ceiling-avx2.json), and a training step of the demo took about 50 s against 1.7 (ad hoc).
EMULATED_BF16 = ("--precision bf16 on a CPU without native bf16 (no avx512_bf16 or amx_bf16 in /proc/cpuinfo): "
                 "torch emulates it, tens of times slower than fp32. Use --precision auto (bf16 where the CPU has it, "
                 "else fp32), or fp32.")


def resolve_precision(precision: str, device: torch.device) -> str:
    """"fp32" or "bf16" for `precision` on `device`: auto is bf16 on a GPU and on a CPU with native bf16.

    bf16 is autocast: matrix products run in bf16 (a Transcriber that loads its model casts the weights of
    its linear and convolution layers once), norms and the CTC log-probabilities in fp32.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be auto, fp32 or bf16, not {precision!r}")
    if precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        warnings.warn(EMULATED_BF16, RuntimeWarning, stacklevel=2)
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16"
    return "bf16" if device.type == "cpu" and cpu_has_native_bf16() else "fp32"


class Transcriber:
    def __init__(
        self,
        model: ModelBundle | str | Path,
        device: str = "auto",
        options: TranscribeOptions = TranscribeOptions(),
        decoding: DecodeOptions = DecodeOptions(),
        precision: str = "auto",
        backend: str = "torch",
    ):
        """`backend` "onnx" runs the model's int8 ONNX export with ONNX Runtime (made once and cached for a
        checkpoint; `precision` does not apply); "torch" runs PyTorch at `precision`. An `.onnx` model is always onnx."""
        if backend not in BACKENDS:
            raise ValueError(f"backend must be {' or '.join(BACKENDS)}, not {backend!r}")
        self.device = resolve_device(device)
        self.bundle = model if isinstance(model, ModelBundle) else load_model(model)
        if backend == "onnx" and not isinstance(self.bundle.model, OnnxModel):
            if isinstance(model, ModelBundle):
                raise ValueError("the onnx backend needs a checkpoint file (or an .onnx export), not a model in memory")
            self.bundle = load_onnx(cached_onnx(resolve_model(model).checkpoint, self.bundle))
        self.backend = "onnx" if isinstance(self.bundle.model, OnnxModel) else "torch"
        self.precision = self.bundle.model.precision if self.backend == "onnx" else resolve_precision(precision, self.device)
        self.model = self.bundle.model.to(self.device).eval()
        # One PyTorch forward pass at a time: its kernels already use every thread (or the GPU), and two batches are
        # in flight in `_decode_batches`. OnnxModel bounds its own threads.
        self._forward_lock = threading.Lock() if self.backend == "torch" else contextlib.nullcontext()
        if self.precision == "bf16" and not isinstance(model, ModelBundle):
            # Cast once, not at every pass: autocast casts fp32 weights anew on each call, about 8 % of a CPU
            # forward pass of whisper-base. Norms stay fp32, as autocast runs them. A model passed in memory is
            # left as it is: training goes on with it.
            for module in self.model.modules():
                if isinstance(module, (torch.nn.Linear, torch.nn.Conv1d)):
                    module.to(torch.bfloat16)
        self.frontend = LogMelFrontend(self.bundle.frontend).to(self.device)
        self.options = options
        self.sample_rate = self.bundle.frontend.sample_rate
        self.decoding = decoding
        self.decoder = make_decoder(self.bundle.vocabulary, decoding)

    def transcribe(self, waves: list[torch.Tensor], decoder=None) -> list[Transcription]:
        """Transcriptions of mono waveforms at the model's sample rate, in order.

        `decoder` replaces the configured one for this call (a beam decoder with a request's boosts).
        """
        chunks = [c for i, wave in enumerate(waves) for c in self._chunks(i, wave)]
        words: list[list[Word]] = [[] for _ in waves]
        alternatives: dict[int, tuple[tuple[str, float], ...]] = {}
        scores: dict[int, float] = {}
        # Similar lengths together: less padding per batch.
        chunks.sort(key=lambda c: len(c.wave), reverse=True)
        batches = [chunks[first : first + self.options.batch_size] for first in range(0, len(chunks), self.options.batch_size)]
        for batch, hypotheses in zip(batches, self._decode_batches([[c.wave for c in batch] for batch in batches], decoder or self.decoder)):
            for chunk, hypothesis in zip(batch, hypotheses):
                if chunk.keep_from == float("-inf") and chunk.keep_to == float("inf"):
                    alternatives[chunk.utterance] = tuple((h.text, h.score) for h in hypothesis.alternatives)
                    scores[chunk.utterance] = hypothesis.score
                offset = chunk.start / self.sample_rate
                for w in hypothesis.words:
                    midpoint = chunk.start + round((w.start + w.end) / 2 * self.sample_rate)
                    if chunk.keep_from <= midpoint < chunk.keep_to:
                        words[chunk.utterance].append(Word(w.word, w.start + offset, w.end + offset, w.confidence))
        results = []
        for index, (wave, utterance_words) in enumerate(zip(waves, words)):
            utterance_words.sort(key=lambda w: w.start)
            results.append(
                Transcription(
                    text=" ".join(w.word for w in utterance_words),
                    words=utterance_words,
                    segments=self._segments(utterance_words),
                    duration=len(wave) / self.sample_rate,
                    language=self.bundle.language,
                    alternatives=alternatives.get(index, ()),
                    score=scores.get(index, 0.0),
                )
            )
        return results

    @torch.inference_mode()
    def log_probs(self, waves: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, frames, vocab) CTC log-probabilities and frame counts of waveforms short enough for one pass."""
        features, lengths = self.frontend.batch([w.to(self.device) for w in waves])
        with self._forward_lock, torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            log_probs, frames = self.model(features, lengths.to(self.device))
        return log_probs.float(), frames

    @property
    def seconds_per_frame(self) -> float:
        return self.model.seconds_per_output_frame(self.frontend.seconds_per_frame)

    def decode(self, waves: list[torch.Tensor], decoder=None) -> list[Hypothesis]:
        """Hypotheses of waveforms short enough for one forward pass, batched, by `decoder` or the configured one."""
        log_probs, lengths = self.log_probs(waves)
        return (decoder or self.decoder)(log_probs, lengths, self.seconds_per_frame)

    def _decode_batches(self, batches: list[list[torch.Tensor]], decoder) -> Iterator[list[Hypothesis]]:
        # Two batches in flight: while one batch's model runs, the other's features are computed or its search runs,
        # so the model is not left idle; on the onnx backend the inputs of both batches queue for the same threads.
        with ThreadPoolExecutor(max_workers=2) as pool:
            yield from pool.map(lambda waves: self.decode(waves, decoder), batches)

    def transcribe_files(self, paths: Iterable[str | Path]) -> Iterator[tuple[Path, Transcription | AudioError]]:
        """(path, transcription) for each file, or (path, error) for one that cannot be read, in input order.

        Files are read a window at a time, `file_window_batches` batches' worth of files or of chunk audio, whichever
        comes first: memory stays bounded however many files there are, and `transcribe` sorts the window's chunks
        by length, so files of similar length share a batch and less padding is computed than batch by batch.
        """
        window_files = self.options.file_window_batches * self.options.batch_size
        window_samples = window_files * int(self.options.chunk_seconds * self.sample_rate)
        pending: list[tuple[Path, torch.Tensor]] = []

        def flush() -> Iterator[tuple[Path, Transcription]]:
            results = self.transcribe([wave for _, wave in pending])
            for (path, _), result in zip(pending, results):
                yield path, Transcription(**{**result.__dict__, "source": str(path)})
            pending.clear()

        for path in map(Path, paths):
            try:
                pending.append((path, load_audio(path, self.sample_rate)))
            except AudioError as error:
                yield path, error
                continue
            if len(pending) == window_files or sum(len(wave) for _, wave in pending) >= window_samples:
                yield from flush()
        if pending:
            yield from flush()

    def _chunks(self, utterance: int, wave: torch.Tensor) -> list[_Chunk]:
        rate = self.sample_rate
        size = int(self.options.chunk_seconds * rate)
        if len(wave) <= size:
            return [_Chunk(utterance, 0, float("-inf"), float("inf"), wave)]
        overlap = int(self.options.overlap_seconds * rate)
        step = size - overlap
        starts = list(range(0, len(wave) - overlap, step))
        chunks = []
        for k, start in enumerate(starts):
            keep_from = float("-inf") if k == 0 else start + overlap // 2
            keep_to = float("inf") if k == len(starts) - 1 else start + step + overlap // 2
            chunks.append(_Chunk(utterance, start, keep_from, keep_to, wave[start : start + size]))
        return chunks

    def _segments(self, words: list[Word]) -> list[Segment]:
        segments: list[list[Word]] = []
        for word in words:
            current = segments[-1] if segments else None
            if (
                current is None
                or word.start - current[-1].end > self.options.segment_pause_seconds
                or word.end - current[0].start > self.options.segment_max_seconds
            ):
                segments.append([word])
            else:
                current.append(word)
        return [Segment(ws[0].start, ws[-1].end, " ".join(w.word for w in ws), ws) for ws in segments]
