"""Speech recognisers behind one small interface, so any of them can be scored and ranked.

A `System` has a name, a parameter count, a fingerprint (a stable hash of
everything that decides its output, for caching) and `transcribe`, which
turns waveforms into texts. Two implementations:

- `CheckpointSystem`: a checkpoint of this project, run by
  `asr.transcribe.Transcriber` (the one path every consumer uses);
- `FasterWhisperSystem`: the same offline Whisper weights run zero-shot by
  faster-whisper (encoder *and* decoder): what a user would pick instead of a
  fine-tuned CTC model.

Loading is lazy: a leaderboard whose results are cached only hashes files.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Protocol

import torch

from asr.files import sha256_file

WHISPER_SAMPLE_RATE = 16000


class System(Protocol):
    name: str

    @property
    def fingerprint(self) -> str:
        """Hex hash of the weights and of every setting that changes the output."""

    @property
    def parameters(self) -> int:
        """Learned parameters."""

    @property
    def sample_rate(self) -> int:
        """Rate of the waveforms `transcribe` takes."""

    @property
    def device(self) -> str:
        """Where it runs, for the record."""

    def load(self) -> None:
        """Load the weights; called before the clock starts, so RTFx times transcription only."""

    def transcribe(self, waves: list[torch.Tensor], language: str | None) -> list[str]:
        """Texts of mono waveforms at `sample_rate`, in order. `language` is the test set's, if known."""


class CheckpointSystem:
    """A model of this project (a checkpoint, a run folder or a shipped model's name), run by `asr.transcribe.Transcriber`."""

    def __init__(self, model: str | Path, name: str | None = None, device: str = "auto", batch_size: int = 8, decoding=None,
                 precision: str = "auto", backend: str = "torch"):
        from asr.decoding import DecodeOptions
        from asr.registry import resolve_model
        from asr.transcribe import resolve_device, resolve_precision

        self.path = resolve_model(model).checkpoint
        self.decoding = decoding or DecodeOptions()
        self.name = name or (str(model) if self.decoding.method == "greedy" else f"{model} ({self.decoding.label})")
        self._device = device
        # Resolved now, so that the fingerprint (and the cache) tells bf16 from fp32 results.
        # An .onnx file is an export: it runs on the onnx backend at the precision it was written in.
        self.export = self.path.suffix == ".onnx"
        self.backend = "onnx" if self.export else backend
        if self.export:
            from asr.onnx_model import onnx_header, onnx_precision

            self.precision = onnx_precision(onnx_header(self.path))
        else:
            self.precision = "int8" if backend == "onnx" else resolve_precision(precision, resolve_device(device))
        self.batch_size = batch_size

    @cached_property
    def fingerprint(self) -> str:
        # fp32 fingerprints are those of results recorded before precision was a setting.
        precision = "" if self.precision == "fp32" else f"precision {self.precision}\n"
        if self.backend == "onnx" and not self.export:
            from asr.onnx_model import INT8_WEIGHTS

            # The cached export runs: its weight type decides the transcripts.
            precision += f"weights {INT8_WEIGHTS}\n"
        if self.decoding.method == "greedy" and not precision:
            # Greedy decoding has no settings, so the file's content decides the output.
            return sha256_file(self.path)
        digest = hashlib.sha256(f"{sha256_file(self.path)}\n{precision}".encode())
        digest.update(json.dumps(self.decoding.fingerprint, sort_keys=True, default=str).encode())
        if self.decoding.lm_dir:
            for file in sorted(Path(self.decoding.lm_dir).iterdir()):
                if file.is_file():
                    digest.update(f"{file.name} {sha256_file(file)}\n".encode())
        return digest.hexdigest()

    @cached_property
    def transcriber(self):
        from asr.transcribe import Transcriber, TranscribeOptions

        return Transcriber(self.path, device=self._device, options=TranscribeOptions(batch_size=self.batch_size),
                           decoding=self.decoding, precision=self.precision if self.backend == "torch" else "auto",
                           backend=self.backend)

    @property
    def language(self) -> str:
        return self.transcriber.bundle.language

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.transcriber.model.parameters())

    @property
    def sample_rate(self) -> int:
        return self.transcriber.sample_rate

    @property
    def device(self) -> str:
        return f"{self.transcriber.device} ({self.precision})"

    def load(self) -> None:
        _ = self.transcriber  # a cached property: the checkpoint loads once

    def transcribe(self, waves: list[torch.Tensor], language: str | None) -> list[str]:
        if language is not None and language != self.language:
            raise ValueError(f"{self.name} is a {self.language!r} model, but the test set's language is {language!r}")
        return [t.text for t in self.transcriber.transcribe(waves)]


class FasterWhisperSystem:
    """Whisper weights (a CTranslate2 folder, or a name `asr.pretrained.resolve` knows) run by faster-whisper.

    beam_size defaults to 5, faster-whisper's own default: the reference is
    what a user of faster-whisper gets out of the box, not a handicapped
    version of it. Set 1 for greedy decoding (about twice as fast on a CPU).
    """

    def __init__(self, weights: str | Path = "whisper-base", name: str | None = None, device: str = "auto",
                 beam_size: int = 5, compute_type: str = "default"):
        from asr.pretrained import resolve

        self.path = resolve(weights)
        if not (self.path / "model.bin").is_file():
            raise ValueError(f"{self.path}: faster-whisper needs a CTranslate2 model folder (with model.bin)")
        if beam_size < 1:
            raise ValueError(f"beam_size must be at least 1, got {beam_size}")
        self.name = name or f"faster-whisper {weights}"
        self.beam_size = beam_size
        self.compute_type = compute_type
        kind, _, index = device.partition(":")  # faster-whisper takes "cuda" and an index, not "cuda:1"
        self._device, self._device_index = kind, int(index or 0)

    @cached_property
    def fingerprint(self) -> str:
        import faster_whisper

        settings = {"beam_size": self.beam_size, "compute_type": self.compute_type, "faster_whisper": faster_whisper.__version__}
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
        for file in sorted(self.path.iterdir()):
            if file.is_file():
                digest.update(f"{file.name} {sha256_file(file)}\n".encode())
        return digest.hexdigest()

    @cached_property
    def model(self):
        from faster_whisper import WhisperModel

        return WhisperModel(str(self.path), device=self._device, device_index=self._device_index, compute_type=self.compute_type)

    @cached_property
    def parameters(self) -> int:
        from asr.pretrained import read_ctranslate2

        _, variables = read_ctranslate2(self.path / "model.bin")
        # Like `CheckpointSystem`: learned weights only. The encoder's sinusoidal
        # table is fixed (a buffer in PyTorch); single values are settings. Tied
        # weights (the decoder's embedding and output projection) are stored once
        # under two names, so arrays are counted by the bytes they view.
        learned = {
            (array.__array_interface__["data"][0], array.nbytes): array.size
            for name, array in variables.items()
            if array.size > 1 and name != "encoder/position_encodings/encodings" and not name.endswith("weight_scale")
        }
        return sum(learned.values())

    @property
    def sample_rate(self) -> int:
        return WHISPER_SAMPLE_RATE

    @property
    def device(self) -> str:
        return f"{self.model.model.device} ({self.model.model.compute_type})"

    def load(self) -> None:
        _ = self.model  # a cached property: the weights load once

    def transcribe(self, waves: list[torch.Tensor], language: str | None) -> list[str]:
        if language not in (None, "en") and not self.model.model.is_multilingual:
            raise ValueError(f"{self.name} is an English-only Whisper model, but the test set's language is {language!r}")
        texts = []
        for wave in waves:
            segments, _ = self.model.transcribe(wave.numpy(), language=language, beam_size=self.beam_size)
            texts.append("".join(s.text for s in segments).strip())
        return texts
