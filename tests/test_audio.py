import math

import numpy as np
import pytest
import soundfile
import torch

from asr.audio import SAMPLE_RATE, AudioError, load_audio, resample, resampling_ratio, write_audio

FORMATS = [("wav", "WAV", "PCM_16"), ("flac", "FLAC", "PCM_16"), ("ogg", "OGG", "VORBIS"), ("mp3", "MP3", "MPEG_LAYER_III")]
RATES = [8000, 44100, 48000]
DURATION = 0.75  # seconds; a whole number of samples at every rate above


def sine(rate: int, seconds: float = DURATION, freq: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(rate * seconds))) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_frequency(wave: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return float(np.argmax(spectrum) * rate / len(wave))


def write_or_skip(path, data, rate, fmt, subtype):
    try:
        soundfile.write(str(path), data, rate, format=fmt, subtype=subtype)
    except Exception as error:  # libsndfile built without this encoder
        pytest.skip(f"soundfile cannot write {fmt}/{subtype} here: {error}")


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("ext,fmt,subtype", FORMATS, ids=[f[0] for f in FORMATS])
def test_load_formats_and_rates(tmp_path, ext, fmt, subtype, rate):
    if fmt not in soundfile.available_formats():
        pytest.skip(f"this libsndfile has no {fmt} support")
    x = sine(rate)
    path = tmp_path / f"tone_{rate}.{ext}"
    write_or_skip(path, np.stack([x, x], axis=1), rate, fmt, subtype)

    wave = load_audio(path)

    assert isinstance(wave, torch.Tensor)
    assert wave.dtype == torch.float32 and wave.ndim == 1
    # torchaudio's resample gives ceil(n * new / old) samples: 0.75 s -> 12000 at 16 kHz
    assert len(wave) == math.ceil(len(x) * SAMPLE_RATE / rate) == int(DURATION * SAMPLE_RATE)
    w = wave.numpy()
    assert dominant_frequency(w, SAMPLE_RATE) == pytest.approx(440.0, abs=3.0)
    rms = float(np.sqrt(np.mean(w[2000:-2000] ** 2)))
    assert rms == pytest.approx(0.5 / math.sqrt(2), rel=0.05)


def test_load_to_other_sample_rate(tmp_path):
    path = tmp_path / "tone.wav"
    soundfile.write(str(path), sine(48000), 48000, subtype="FLOAT")
    wave = load_audio(path, sample_rate=8000)
    assert len(wave) == int(DURATION * 8000)
    assert dominant_frequency(wave.numpy(), 8000) == pytest.approx(440.0, abs=3.0)


def test_same_rate_is_not_resampled(tmp_path):
    x = np.random.default_rng(0).uniform(-0.9, 0.9, 8000).astype(np.float32)
    path = tmp_path / "noise.wav"
    soundfile.write(str(path), x, SAMPLE_RATE, subtype="FLOAT")
    wave = load_audio(path)
    np.testing.assert_array_equal(wave.numpy(), x)
    same = torch.from_numpy(x)
    assert resample(same, SAMPLE_RATE, SAMPLE_RATE) is same


@pytest.mark.parametrize("rate", [16000, 44100])
def test_stereo_is_mixed_down_to_mono(tmp_path, rate):
    x = sine(rate, amplitude=0.8)
    opposite = tmp_path / "opposite.wav"
    soundfile.write(str(opposite), np.stack([x, -x], axis=1), rate, subtype="PCM_16")
    cancelled = load_audio(opposite)
    assert cancelled.ndim == 1 and len(cancelled) == int(DURATION * SAMPLE_RATE)
    assert float(cancelled.abs().max()) < 1e-3

    left_only = tmp_path / "left.wav"
    soundfile.write(str(left_only), np.stack([x, np.zeros_like(x)], axis=1), rate, subtype="FLOAT")
    mixed = load_audio(left_only)
    # the mean of the channels: half the amplitude of the left channel
    assert float(mixed[1000:-1000].abs().max()) == pytest.approx(0.4, abs=0.01)


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nowhere" / "missing.wav"
    with pytest.raises(AudioError) as info:
        load_audio(path)
    assert str(path) in str(info.value)


def test_directory_is_not_audio(tmp_path):
    with pytest.raises(AudioError) as info:
        load_audio(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_corrupt_file_names_the_path(tmp_path):
    path = tmp_path / "corrupt.wav"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(AudioError) as info:
        load_audio(path)
    assert str(path) in str(info.value)
    assert "decode" in str(info.value)


def test_empty_and_sampleless_files(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError) as info:
        load_audio(empty)
    assert str(empty) in str(info.value)

    no_samples = tmp_path / "no_samples.wav"
    soundfile.write(str(no_samples), np.zeros(0, dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(AudioError) as info:
        load_audio(no_samples)
    assert str(no_samples) in str(info.value)
    assert "no audio" in str(info.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_samples_are_refused_by_name(tmp_path, bad):
    path = tmp_path / "broken.wav"
    wave = np.zeros(1600, dtype=np.float32)
    wave[800] = bad
    soundfile.write(str(path), wave, SAMPLE_RATE, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or infinite") as info:
        load_audio(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("as_tensor", [True, False])
def test_write_audio_round_trip_and_atomic(tmp_path, as_tensor):
    x = np.random.default_rng(2).uniform(-0.5, 0.5, 16000).astype(np.float32)
    x[:3] = [1.7, -3.0, 1.0]  # out of range: clipped, never wrapped
    path = tmp_path / "out.wav"
    path.write_bytes(b"old content")  # replaced, not appended to
    write_audio(path, torch.from_numpy(x) if as_tensor else x)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]
    info = soundfile.info(str(path))
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("WAV", "PCM_16", SAMPLE_RATE, 1)
    back = load_audio(path).numpy()
    assert len(back) == len(x)
    np.testing.assert_allclose(back[3:], x[3:], atol=1 / 32768 + 1e-6)
    assert back[0] == pytest.approx(1.0, abs=1e-4)
    assert back[1] == pytest.approx(-1.0, abs=1e-4)


def test_write_audio_other_rate(tmp_path):
    path = tmp_path / "r8k.wav"
    write_audio(path, sine(8000), sample_rate=8000)
    assert soundfile.info(str(path)).samplerate == 8000
    assert not list(tmp_path.glob("*.partial"))
    assert len(load_audio(path)) == int(DURATION * SAMPLE_RATE)


def test_an_odd_rate_is_resampled_at_a_bounded_cost(tmp_path):
    # 191,999 Hz and 16 kHz share no factor: torchaudio's filter for the exact ratio holds 16000 x 192000 values (12 GB).
    soundfile.write(str(tmp_path / "odd.wav"), np.zeros(19_200, dtype=np.float32), 191_999)
    wave = load_audio(tmp_path / "odd.wav")
    assert abs(len(wave) - 19_200 * SAMPLE_RATE / 191_999) <= 1
    assert resampling_ratio(191_999, SAMPLE_RATE) == (12, 1)
    # every common rate keeps its exact ratio
    for rate in (8000, 11025, 22050, 32000, 44100, 48000, 96000, 176400, 192000):
        orig, new = resampling_ratio(rate, SAMPLE_RATE)
        assert orig * SAMPLE_RATE == new * rate
