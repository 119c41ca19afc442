import math

import numpy as np
import pytest
import torch

from asr.features import FrontendConfig, LogMelFrontend


def make_audio(samples: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(samples) / 16000
    tone = 0.4 * torch.sin(2 * math.pi * 440 * t) + 0.2 * torch.sin(2 * math.pi * 3000 * t)
    return (tone + 0.05 * torch.randn(samples, generator=g)).float()




@pytest.fixture(scope="module")
def frontend():
    return LogMelFrontend()


@pytest.mark.parametrize("samples", [400, 4000, 16000, 16123, 48000])
def test_matches_faster_whisper(frontend, samples):
    feature_extractor = pytest.importorskip("faster_whisper.feature_extractor")
    wave = make_audio(samples, seed=samples)
    reference = feature_extractor.FeatureExtractor(feature_size=80)(wave.numpy(), padding=0)
    ours = frontend(wave)
    assert ours.shape == reference.shape == (80, samples // 160)
    assert np.abs(ours.numpy() - reference).max() < 1e-4


def test_matches_faster_whisper_on_quiet_start(frontend):
    # the 8-decade floor relative to the peak must be applied the same way
    feature_extractor = pytest.importorskip("faster_whisper.feature_extractor")
    wave = make_audio(24000)
    wave[:12000] *= 1e-6
    reference = feature_extractor.FeatureExtractor(feature_size=80)(wave.numpy(), padding=0)
    ours = frontend(wave).numpy()
    assert np.abs(ours - reference).max() < 1e-4
    assert ours.max() - ours.min() == pytest.approx(2.0, abs=1e-4)  # 8 decades / 4


@pytest.mark.parametrize("samples", [320, 399, 400, 401, 1599, 1600, 1601, 16000, 33333])
def test_frames_are_samples_over_hop(frontend, samples):
    features = frontend(make_audio(samples))
    assert features.shape == (80, samples // 160)
    assert features.dtype == torch.float32


def test_scaling(frontend):
    features = frontend(make_audio(16000))
    assert torch.isfinite(features).all()
    # log10 power clipped at 8 decades below the peak, then (x + 4) / 4
    assert float(features.max() - features.min()) <= 2.0 + 1e-5
    silence = frontend(torch.zeros(16000))
    assert torch.allclose(silence, torch.full_like(silence, (-10 + 4) / 4))


@pytest.mark.parametrize("samples", [0, 1, 100, 200, 399])
def test_short_waveform_works(frontend, samples):
    features = frontend(make_audio(samples))
    assert features.shape[0] == 80
    assert features.shape[1] >= 1
    assert torch.isfinite(features).all()
    # a short waveform is padded to one 400-sample window, never more
    assert features.shape[1] == 400 // 160


def test_seconds_per_frame():
    assert LogMelFrontend().seconds_per_frame == pytest.approx(0.01)
    assert LogMelFrontend(FrontendConfig(sample_rate=8000, hop_length=160)).seconds_per_frame == pytest.approx(0.02)


def test_128_mels():
    frontend = LogMelFrontend(FrontendConfig(n_mels=128))
    assert frontend(make_audio(8000)).shape == (128, 50)


def test_batch_pads_and_reports_lengths(frontend):
    waves = [make_audio(8000, 1), make_audio(16000, 2), make_audio(100, 3), make_audio(4800, 4)]
    padded, lengths = frontend.batch(waves)
    assert lengths.dtype == torch.long
    assert lengths.tolist() == [50, 100, 2, 30]
    assert padded.shape == (4, 80, 120)  # 100 frames, rounded up to a multiple of FRAME_MULTIPLE (24)
    for i, wave in enumerate(waves):
        alone = frontend(wave)
        n = int(lengths[i])
        # per utterance, not per batch: the padding does not change the peak
        assert torch.equal(padded[i, :, :n], alone)
        assert torch.count_nonzero(padded[i, :, n:]) == 0


def test_batch_of_one(frontend):
    wave = make_audio(3200)
    padded, lengths = frontend.batch([wave])
    assert padded.shape == (1, 80, 24) and lengths.tolist() == [20]
    assert torch.equal(padded[0, :, :20], frontend(wave)) and torch.count_nonzero(padded[0, :, 20:]) == 0
