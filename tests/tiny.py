"""Tiny models and audio that tests build for themselves: seconds to make, nothing downloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import torch

from asr.checkpoint import ModelBundle, save_checkpoint
from asr.features import FrontendConfig
from asr.models import WhisperCTC, WhisperCTCConfig, WhisperEncoder, WhisperEncoderConfig
from asr.text import Vocabulary

TINY_ENCODER = WhisperEncoderConfig(n_mels=80, n_ctx=1500, n_state=32, n_head=2, n_layer=2)


def tiny_bundle(vocabulary: Vocabulary | None = None, seed: int = 0, language: str = "de", encoder: WhisperEncoderConfig = TINY_ENCODER) -> ModelBundle:
    torch.manual_seed(seed)
    vocabulary = vocabulary or Vocabulary.from_transcripts(["abc def"])
    config = WhisperCTCConfig(encoder=encoder, vocab_size=len(vocabulary))
    return ModelBundle(
        "whisper-encoder-ctc", config.to_dict(), WhisperCTC(config).eval(), vocabulary, FrontendConfig(), language,
        metadata={"seed": seed, "note": "tiny test model"},
    )


def tiny_checkpoint(path: Path) -> Path:
    save_checkpoint(path, tiny_bundle())
    return path


def tiny_openai_pt(path: Path, seed: int = 0) -> Path:
    """A random tiny encoder saved the way openai/whisper saves its checkpoints."""
    torch.manual_seed(seed)
    encoder = WhisperEncoder(TINY_ENCODER)
    c = TINY_ENCODER
    dims = {"n_mels": c.n_mels, "n_audio_ctx": c.n_ctx, "n_audio_state": c.n_state, "n_audio_head": c.n_head, "n_audio_layer": c.n_layer}
    torch.save({"dims": dims, "model_state_dict": {"encoder." + k: v for k, v in encoder.state_dict().items()}}, path)
    return path


def tone(seconds: float, frequency: float = 440.0, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def write_tone(path: Path, seconds: float = 1.0, frequency: float = 440.0, rate: int = 16000, channels: int = 1) -> Path:
    wave = tone(seconds, frequency, rate)
    soundfile.write(str(path), np.stack([wave] * channels, axis=1) if channels > 1 else wave, rate)
    return path
