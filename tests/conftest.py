"""Shared fixtures: tiny randomly initialised models, so the tests need no real weights and stay fast."""

from __future__ import annotations

import pytest
import torch

from asr.checkpoint import ModelBundle
from asr.models import WhisperEncoder, WhisperEncoderConfig
from asr.text import Vocabulary, normalize_transcript
from tests.tiny import TINY_ENCODER, tiny_bundle


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
        return tiny_bundle(vocabulary, seed=seed, language=language, encoder=encoder)

    return make


@pytest.fixture
def make_server():
    """Start in-process servers of the tone model (tests/test_serving.py's ServerThread); all stopped afterwards."""
    from serving.options import BatchOptions, ServerOptions
    from asr.decoding import DecodeOptions
    from tests.test_serving import CHUNKING, UNLIMITED, ServerThread

    servers = []

    def make(limits=UNLIMITED, batching=BatchOptions(max_wait_ms=5), bundle=None, chunking=CHUNKING,
             decoding=DecodeOptions(), **options):
        server = ServerThread(ServerOptions(listen="127.0.0.1:0", chunking=chunking, batching=batching, limits=limits, **options), bundle, decoding)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
