"""Shared fixtures: tiny randomly initialised models, so the tests need no real weights and stay fast."""

from __future__ import annotations

import pytest
import torch

from asr.checkpoint import ModelBundle
from asr.features import FrontendConfig
from asr.models import WhisperCTC, WhisperCTCConfig, WhisperEncoder, WhisperEncoderConfig
from asr.text import Vocabulary, normalize_transcript

TINY_ENCODER = WhisperEncoderConfig(n_mels=80, n_ctx=1500, n_state=32, n_head=2, n_layer=2)


def randomize_(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random values in every parameter and buffer (LayerNorms included), so loaders can't pass by luck."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            tensor.copy_(torch.randn(tensor.shape, generator=g) * 0.2)
    return module


@pytest.fixture
def tiny_encoder_config() -> WhisperEncoderConfig:
    return TINY_ENCODER


@pytest.fixture
def tiny_encoder() -> WhisperEncoder:
    torch.manual_seed(0)
    return randomize_(WhisperEncoder(TINY_ENCODER), seed=1).eval()


@pytest.fixture
def vocabulary() -> Vocabulary:
    return Vocabulary.from_transcripts([normalize_transcript("The quick brown fox jumps over the lazy dog's back", "en")])


@pytest.fixture
def make_bundle(vocabulary):
    def make(seed: int = 0, encoder: WhisperEncoderConfig = TINY_ENCODER, language: str = "en") -> ModelBundle:
        torch.manual_seed(seed)
        config = WhisperCTCConfig(encoder=encoder, vocab_size=len(vocabulary))
        model = WhisperCTC(config).eval()
        return ModelBundle(
            architecture="whisper-encoder-ctc",
            model_config=config.to_dict(),
            model=model,
            vocabulary=vocabulary,
            frontend=FrontendConfig(),
            language=language,
            metadata={"seed": seed, "note": "tiny test model"},
        )

    return make
