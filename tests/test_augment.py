"""Each effect does what it says, measured on a signal where the effect is measurable."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import soundfile
import torch

from asr.corpora.augment import (
    AugmentConfig,
    AugmentPlan,
    a_law,
    add_noise,
    apply_plan,
    augment,
    augment_corpus,
    colored_noise,
    g722,
    gain,
    mu_law,
    plan_augment,
    reverberate,
    rms,
    room_impulse_response,
    speed_perturb,
    telephone,
)
from asr.cli import main
from asr.corpora.manifest import Utterance, read_manifest, write_manifest

SR = 16000


def tone(frequency: float, seconds: float = 1.0, amplitude: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(seconds * SR), dtype=torch.float64) / SR
    return (amplitude * torch.sin(2 * math.pi * frequency * t)).float()


def speechlike(seconds: float = 2.0, seed: int = 0) -> torch.Tensor:
    """Noise bursts with pauses, so that level and SNR depend on where the pauses are."""
    g = torch.Generator().manual_seed(seed)
    wave = torch.randn(int(seconds * SR), generator=g) * 0.1
    wave[: SR // 4] = 0
    wave[SR : SR + SR // 3] = 0
    return wave


def tone_level_db(wave: torch.Tensor, frequency: float) -> float:
    """Energy in a few FFT bins around `frequency`, in dB."""
    window = torch.hann_window(len(wave), dtype=torch.float64)
    spectrum = torch.fft.rfft(wave.double() * window)
    k = int(round(frequency * len(wave) / SR))
    return 10 * math.log10(float(spectrum[k - 3 : k + 4].abs().pow(2).sum()) + 1e-30)


def snr_db(clean: torch.Tensor, noisy: torch.Tensor) -> float:
    error = (noisy.double() - clean.double()).pow(2).sum()
    return 10 * math.log10(float(clean.double().pow(2).sum() / error))


def schroeder_rt60(response: torch.Tensor) -> float:
    """RT60 from the energy decay curve's slope between -5 and -25 dB (T20), extrapolated to 60 dB."""
    energy = response.double().pow(2).flip(0).cumsum(0).flip(0)
    edc = 10 * torch.log10(energy / energy[0])
    region = ((edc <= -5) & (edc >= -25)).nonzero().flatten()
    t = region.double() / SR
    slope = float(((t - t.mean()) * (edc[region] - edc[region].mean())).sum() / (t - t.mean()).pow(2).sum())
    return -60 / slope


# --- gain and noise -------------------------------------------------------------------


@pytest.mark.parametrize("db", [-12.0, -3.0, 0.0, 6.0])
def test_gain_changes_rms_by_the_decibels(db):
    wave = speechlike()
    assert 20 * math.log10(rms(gain(wave, db)) / rms(wave)) == pytest.approx(db, abs=0.01)


@pytest.mark.parametrize("target", [0.0, 5.0, 20.0, 35.0])
@pytest.mark.parametrize("color", ["white", "pink", "brown"])
def test_generated_noise_sits_at_the_snr_asked_for(target, color):
    clean = speechlike()
    noisy = add_noise(clean, target, random.Random(1), color=color)
    assert snr_db(clean, noisy) == pytest.approx(target, abs=0.5)
    assert len(noisy) == len(clean)


def test_noise_colors_have_their_spectral_slope():
    def low_over_high(color):  # power at 100-200 Hz over power at 3.2-6.4 kHz, per Hz
        spectrum = torch.fft.rfft(colored_noise(SR * 4, color, torch.Generator().manual_seed(0))).abs().pow(2)
        freqs = torch.fft.rfftfreq(SR * 4, 1 / SR)
        band = lambda lo, hi: float(spectrum[(freqs >= lo) & (freqs < hi)].mean())
        return 10 * math.log10(band(100, 200) / band(3200, 6400))

    # 5 octaves apart: 0, 15 and 30 dB for 1/f^0, 1/f and 1/f^2 (band centres are ~4.3 octaves apart)
    assert abs(low_over_high("white")) < 1.0
    assert 11 < low_over_high("pink") < 16
    assert 23 < low_over_high("brown") < 31


def test_noise_recording_shorter_than_the_speech_is_looped_at_the_snr():
    clean = speechlike(3.0)
    recording = torch.sin(torch.arange(SR // 2) / 7.0) + 0.1 * torch.randn(SR // 2, generator=torch.Generator().manual_seed(3))
    noisy = add_noise(clean, 10.0, torch.Generator().manual_seed(0), noise=recording)
    assert snr_db(clean, noisy) == pytest.approx(10.0, abs=0.5)


def test_silence_gets_no_noise():
    assert torch.equal(add_noise(torch.zeros(SR), 10.0, 0), torch.zeros(SR))


# --- reverberation ----------------------------------------------------------------------


@pytest.mark.parametrize("rt60", [0.3, 0.8])
def test_impulse_response_decays_60_db_in_rt60(rt60):
    rir = room_impulse_response(rt60, SR, random.Random(0))
    assert schroeder_rt60(rir) == pytest.approx(rt60, rel=0.15)
    assert float(rir[0]) == 1.0  # the direct path


def test_reverb_lengthens_the_decay_and_keeps_length_and_level():
    click = torch.zeros(2 * SR)
    click[SR // 10] = 1.0
    responses = {rt60: reverberate(click, rt60, random.Random(5)) for rt60 in (0.25, 0.5, 1.0)}
    estimates = [schroeder_rt60(responses[rt60][SR // 10 :]) for rt60 in (0.25, 0.5, 1.0)]
    assert estimates[0] < estimates[1] < estimates[2]
    for rt60, estimate in zip((0.25, 0.5, 1.0), estimates):
        assert estimate == pytest.approx(rt60, rel=0.2)

    burst = tone(500, 2.0)
    burst[SR:] = 0  # one second of tone, then one second of silence
    tail = lambda wave: float(wave[SR + SR // 10 :].pow(2).sum() / wave[: SR].pow(2).sum())
    assert tail(burst) == 0.0
    tails = [tail(reverberate(burst, rt60, random.Random(2))) for rt60 in (0.2, 0.6, 1.2)]
    assert 1e-6 < tails[0] < tails[1] < tails[2]
    wet = reverberate(burst, 0.6, random.Random(2))
    assert len(wet) == len(burst) and rms(wet) == pytest.approx(rms(burst), rel=1e-4)


# --- speed ------------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [0.9, 1.0, 1.1, 1.25])
def test_speed_changes_length_and_pitch_by_the_factor(factor):
    wave = tone(1000, 2.0)
    faster = speed_perturb(wave, factor)
    assert len(faster) == pytest.approx(len(wave) / factor, rel=0.002)
    spectrum = torch.fft.rfft(faster * torch.hann_window(len(faster))).abs()
    peak = float(torch.fft.rfftfreq(len(faster), 1 / SR)[spectrum.argmax()])
    assert peak == pytest.approx(1000 * factor, abs=2.0)


# --- telephone channel --------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["mulaw", "alaw", "none"])
def test_telephone_band_keeps_speech_band_and_removes_the_rest(codec):
    change = {f: tone_level_db(telephone(tone(f), codec), f) - tone_level_db(tone(f), f) for f in (100, 1000, 2000, 6000)}
    assert change[100] < -30  # below 300 Hz: gone
    assert change[6000] < -60  # above 3400 Hz (and the 8 kHz Nyquist frequency): gone
    assert abs(change[1000]) < 1.0 and abs(change[2000]) < 1.0
    assert len(telephone(tone(1000, 1.2345), codec)) == int(1.2345 * SR)


@pytest.mark.parametrize("codec, coder", [("mulaw", mu_law), ("alaw", a_law)])
def test_companding_error_is_relative_to_the_level(codec, coder):
    # 8-bit companding: about 38 dB SNR whatever the level, where 8-bit linear PCM
    # would lose 20 dB at a tenth of the level.
    loud, quiet = tone(440, amplitude=0.5), tone(440, amplitude=0.05)
    assert snr_db(loud, coder(loud)) > 35
    assert snr_db(quiet, coder(quiet)) > 35
    assert abs(snr_db(loud, coder(loud)) - snr_db(quiet, coder(quiet))) < 3.5
    linear_quiet = torch.round(quiet * 127) / 127
    assert snr_db(quiet, linear_quiet) < 25


def test_mu_law_error_within_half_a_quantisation_step():
    x = torch.linspace(-1, 1, 20001)
    mu, levels = 255.0, 256
    # y = ln(1 + mu|x|) / ln(1 + mu) is rounded to a step of 2 / (levels - 1); dx/dy sets the step in x
    step_x = (1 + mu * x.abs()) * math.log1p(mu) / mu * 2 / (levels - 1)
    error = (mu_law(x) - x).abs()
    assert bool((error <= 0.5 * step_x * 1.05 + 1e-6).all())
    assert float(error.max()) > 0.005  # it does quantise


def test_g722_codes_wideband():
    pytest.importorskip("G722", reason="G.722 needs the PyPI package G722")
    for f in (1000, 6000):  # wideband: 6 kHz survives
        assert abs(tone_level_db(telephone(tone(f), "g722"), f) - tone_level_db(tone(f), f)) < 1.5
    speech = tone(440) + tone(1300, amplitude=0.2)
    assert len(telephone(speech, "g722")) == len(speech)
    coded = g722(speech)
    assert snr_db(speech, coded) > 30  # ADPCM at 64 kbit/s, aligned: the codec's delay is taken out
    assert snr_db(speech[1:], coded[:-1]) < 20  # one sample off would show
    assert tone_level_db(telephone(tone(20), "g722"), 20) - tone_level_db(tone(20), 20) < -20


# --- random subsets -------------------------------------------------------------------------------


EVERYTHING = AugmentConfig(noise_prob=1, reverb_prob=1, speed_prob=1, gain_prob=1, telephone_prob=1)


def test_config_is_off_by_default_and_checked():
    wave = speechlike()
    assert not AugmentConfig().enabled
    assert augment(wave, AugmentConfig(), random.Random(0)) is wave
    assert AugmentConfig.preset("default").enabled
    with pytest.raises(ValueError, match="probability"):
        AugmentConfig(noise_prob=1.5)
    with pytest.raises(ValueError, match="codec"):
        AugmentConfig(telephone_prob=1, telephone_codecs=("gsm",))
    with pytest.raises(ValueError, match="unknown augmentation option"):
        AugmentConfig.from_dict({"noise_probability": 1})
    config = AugmentConfig.preset("default")
    assert AugmentConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.parametrize("make_rng", [lambda s: random.Random(s), lambda s: torch.Generator().manual_seed(s)])
def test_augment_is_deterministic_for_a_generator(make_rng):
    wave = speechlike()
    first = augment(wave, EVERYTHING, make_rng(7))
    assert torch.equal(first, augment(wave, EVERYTHING, make_rng(7)))
    assert not torch.equal(first, augment(wave, EVERYTHING, make_rng(8)))
    assert torch.equal(wave, speechlike())  # the input is left alone


def test_probabilities_pick_a_subset():
    config = AugmentConfig(noise_prob=0.5, speed_prob=0.25, telephone_prob=0.0)
    plans = [plan_augment(config, random.Random(i)) for i in range(400)]
    assert 150 < sum(p.snr_db is not None for p in plans) < 250
    assert 60 < sum(p.speed is not None for p in plans) < 140
    assert all(p.codec is None and p.rt60 is None for p in plans)
    assert all(5.0 <= p.snr_db <= 30.0 and p.noise in ("white", "pink", "brown") for p in plans if p.snr_db is not None)


def test_plan_applies_effects_in_order():
    plan = AugmentPlan(seed=3, speed=1.1, snr_db=20.0, noise="white", gain_db=-6.0)
    wave = speechlike()
    out = apply_plan(wave, plan)
    assert len(out) == pytest.approx(len(wave) / 1.1, rel=0.002)
    faster = speed_perturb(wave, 1.1)
    # noise at 20 dB on the sped-up speech, then 6 dB down
    assert snr_db(gain(faster, -6.0), out) == pytest.approx(20.0, abs=0.5)


def test_noise_from_files(tmp_path):
    soundfile.write(str(tmp_path / "hum.wav"), 0.3 * np.sin(np.arange(SR) / 10.0), SR)
    config = AugmentConfig(noise_prob=1.0, snr_db=(10.0, 10.0), noise_paths=(str(tmp_path),))
    plan = plan_augment(config, random.Random(0))
    assert plan.noise == str(tmp_path / "hum.wav")
    clean = speechlike()
    assert snr_db(clean, apply_plan(clean, plan)) == pytest.approx(10.0, abs=0.5)


# --- baking ----------------------------------------------------------------------------------------


@pytest.fixture
def small_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    utterances = []
    for i, f in enumerate((150, 1000, 5000)):
        path = corpus / f"u{i}.wav"
        soundfile.write(str(path), (tone(f, 1.0 + i / 4) + tone(1000, 1.0 + i / 4, 0.2)).numpy(), SR)
        utterances.append(Utterance(path, f"text {i}", 1.0 + i / 4, speaker=f"s{i}", lang="de", extra={"id": i}))
    write_manifest(corpus / "test.jsonl", utterances)
    return corpus / "test.jsonl"


def test_telephone_copy_of_a_test_set(small_corpus, tmp_path, capsys):
    out = tmp_path / "phone"
    assert main(["data", "augment", str(small_corpus), "--telephone", "--out", str(out), "--jobs", "1"]) == 0
    phone = read_manifest(out / "test.jsonl")
    source = read_manifest(small_corpus)
    assert [(u.text, u.speaker, u.lang, u.duration) for u in phone] == [(u.text, u.speaker, u.lang, u.duration) for u in source]
    for before, after in zip(source, phone):
        assert after.extra["augment"]["codec"] == "mulaw" and after.extra["id"] == before.extra["id"]
        assert after.extra["source_audio"] == str(before.audio_filepath)
        info = soundfile.info(str(after.audio_filepath))
        assert (info.samplerate, info.channels) == (SR, 1)
    clean, coded = (torch.from_numpy(soundfile.read(str(u.audio_filepath), dtype="float32")[0]) for u in (source[2], phone[2]))
    assert tone_level_db(coded, 5000) - tone_level_db(clean, 5000) < -40  # 5 kHz is gone
    assert abs(tone_level_db(coded, 1000) - tone_level_db(clean, 1000)) < 1.5

    # a rerun reuses every file
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "wav" / "test").iterdir()}
    assert len(mtimes) == 3
    assert main(["data", "augment", str(small_corpus), "--telephone", "--out", str(out), "--jobs", "1"]) == 0
    assert {p: p.stat().st_mtime_ns for p in (out / "wav" / "test").iterdir()} == mtimes


def test_baked_copies_do_not_depend_on_workers(small_corpus, tmp_path):
    config = AugmentConfig.preset("default")
    one = augment_corpus(small_corpus, tmp_path / "one", config, seed=4, copies=2, jobs=1, progress=False)
    two = augment_corpus(small_corpus, tmp_path / "two", config, seed=4, copies=2, jobs=2, progress=False)
    first, second = read_manifest(one), read_manifest(two)
    assert len(first) == 6
    assert [u.extra["augment"] for u in first] == [u.extra["augment"] for u in second]
    for a, b in zip(first, second):
        assert a.audio_filepath.read_bytes() == b.audio_filepath.read_bytes()
