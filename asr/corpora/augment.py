"""Waveform augmentation: noise, reverberation, speed, gain and the telephone channel.

Synthetic speech is clean, studio-level and full-band; the speech a model meets
is not. Each effect is a plain function on a mono waveform (a 1-D float tensor
at `sample_rate`, 16 kHz unless told), and `augment` applies a random subset of
them as an `AugmentConfig` says:

    config = AugmentConfig.preset("default")         # or AugmentConfig(noise_prob=0.5, ...)
    wave = augment(wave, config, rng)                 # rng: random.Random or torch.Generator

The same config, rng state and input give the same output, so a training run
(on the fly, one generator per worker) or a baked corpus (`augment_corpus`,
`asr data augment`) is reproducible. Every effect is off by default.

Order: speed, reverberation, noise, gain, telephone channel: a speaker in a
room with background noise, picked up at some level and sent down a phone line.
Noise and gain may take samples past ±1; the telephone channel clips (its
codecs saturate) and `write_audio` clips, so only baked copies are rescaled.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio.functional as AF

from asr.audio import SAMPLE_RATE, load_audio, resample, write_audio
from asr.progress import progress as progress_bar
from asr.corpora.manifest import Utterance, read_manifest, write_manifest

NOISE_COLORS = ("white", "pink", "brown")
CODECS = ("mulaw", "alaw", "g722", "none")
TELEPHONE_BAND = (300.0, 3400.0)  # Hz, the narrowband (G.711) telephone channel
WIDEBAND_BAND = (50.0, 7000.0)  # Hz, the wideband (G.722, "HD voice") channel
TELEPHONE_RATE = 8000
G722_DELAY = 22  # samples at 16 kHz that the G.722 encoder-decoder pair delays its output by
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")

Rng = random.Random | torch.Generator


class CodecUnavailable(RuntimeError):
    """A codec whose implementation is not installed here."""


# --- the effects ------------------------------------------------------------------


def gain(wave: torch.Tensor, db: float) -> torch.Tensor:
    """`wave` louder by `db` decibels (quieter if negative); not clipped."""
    return wave * 10 ** (db / 20)


def rms(wave: torch.Tensor) -> float:
    return float(wave.double().pow(2).mean().sqrt()) if len(wave) else 0.0


def colored_noise(length: int, color: str = "white", generator: torch.Generator | None = None) -> torch.Tensor:
    """Gaussian noise of unit RMS whose power falls as 1/f^0 (white), 1/f (pink) or 1/f^2 (brown)."""
    if color not in NOISE_COLORS:
        raise ValueError(f"noise color must be one of {NOISE_COLORS}, got {color!r}")
    noise = torch.randn(length, generator=generator)
    if color != "white" and length > 1:
        spectrum = torch.fft.rfft(noise)
        frequency = torch.arange(len(spectrum), dtype=torch.float32)
        frequency[0] = 1.0  # DC keeps the lowest bin's weight instead of dividing by zero
        spectrum = spectrum / frequency ** (0.5 if color == "pink" else 1.0)
        noise = torch.fft.irfft(spectrum, n=length)
    return noise / max(rms(noise), 1e-12)


def add_noise(
    wave: torch.Tensor,
    snr_db: float,
    rng: Rng | int | None = None,
    noise: torch.Tensor | None = None,
    color: str = "white",
) -> torch.Tensor:
    """`wave` plus noise scaled so that signal power over noise power is `snr_db` decibels.

    `noise` is a recording (looped if shorter than `wave`, started at a random
    offset); without one, `color` noise is generated. The SNR is measured over
    the whole waveform, pauses included. A silent `wave` is returned unchanged.
    """
    generator = _generator(rng)
    signal_power = float(wave.double().pow(2).mean()) if len(wave) else 0.0
    if signal_power == 0.0:
        return wave.clone()
    if noise is None:
        noise = colored_noise(len(wave), color, generator)
    else:
        noise = _fit_length(noise.to(wave.dtype), len(wave), generator)
    noise_power = float(noise.double().pow(2).mean())
    if noise_power == 0.0:
        return wave.clone()
    scale = math.sqrt(signal_power / (noise_power * 10 ** (snr_db / 10)))
    return wave + scale * noise


def _fit_length(noise: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    if len(noise) == 0:
        raise ValueError("the noise recording is empty")
    repeats = -(-(length + len(noise)) // len(noise))  # enough to start anywhere in the first copy
    offset = int(torch.randint(0, len(noise), (), generator=generator))
    return noise.repeat(repeats)[offset : offset + length]


def room_impulse_response(
    rt60: float,
    sample_rate: int = SAMPLE_RATE,
    rng: Rng | int | None = None,
    direct_to_reverberant_db: float = 0.0,
) -> torch.Tensor:
    """A simulated room impulse response: a direct path, then exponentially decaying Gaussian noise.

    The tail's level falls by 60 dB in `rt60` seconds (the statistical model of a
    diffuse reverberant field); the direct path holds `direct_to_reverberant_db`
    more energy than the tail. Peak-normalised to 1 at the direct path.
    """
    if rt60 <= 0:
        raise ValueError(f"rt60 must be positive, got {rt60}")
    generator = _generator(rng)
    length = max(2, int(round(min(1.5 * rt60, 3.0) * sample_rate)))
    t = torch.arange(length, dtype=torch.float32) / sample_rate
    decay = 3 * math.log(10) / rt60  # amplitude e^(-decay t): 20 log10 e^(-decay rt60) = -60 dB
    tail = torch.randn(length, generator=generator) * torch.exp(-decay * t)
    tail[0] = 0.0
    tail_energy = float(tail.double().pow(2).sum())
    direct = math.sqrt(tail_energy * 10 ** (direct_to_reverberant_db / 10))
    rir = tail
    rir[0] = direct
    return rir / direct


def reverberate(
    wave: torch.Tensor,
    rt60: float,
    rng: Rng | int | None = None,
    sample_rate: int = SAMPLE_RATE,
    rir: torch.Tensor | None = None,
) -> torch.Tensor:
    """`wave` as heard in a room with reverberation time `rt60` seconds.

    Convolved with `rir`, or with a `room_impulse_response` drawn from `rng`.
    The result is as long as `wave` (the tail past its end is cut, as in a
    recording that stops) and as loud (same RMS): reverberation is not gain.
    """
    if len(wave) == 0:
        return wave.clone()
    if rir is None:
        rir = room_impulse_response(rt60, sample_rate, rng)
    wet = _convolve(wave, rir.to(wave.dtype))[: len(wave)]
    level = rms(wet)
    return wet * (rms(wave) / level) if level > 0 else wet


def _convolve(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # FFT convolution at a power-of-two length: much faster than an awkward exact length
    n = len(a) + len(b) - 1
    size = 1 << (n - 1).bit_length()
    return torch.fft.irfft(torch.fft.rfft(a, size) * torch.fft.rfft(b, size), size)[:n]


def speed_perturb(wave: torch.Tensor, factor: float, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """`wave` played `factor` times faster: 1/factor as long, pitch up by `factor` (Kaldi's speed perturbation).

    The factor is rounded to a multiple of 100 Hz / `sample_rate` (0.00625 at 16 kHz),
    which keeps the resampling filter small.
    """
    if factor <= 0:
        raise ValueError(f"speed factor must be positive, got {factor}")
    source_rate = int(round(sample_rate * factor / 100)) * 100
    return resample(wave, source_rate, sample_rate)


def mu_law(wave: torch.Tensor, quantization_channels: int = 256) -> torch.Tensor:
    """G.711 mu-law coding and decoding (8 bits): `wave` with the codec's quantisation error."""
    encoded = AF.mu_law_encoding(wave.clamp(-1.0, 1.0), quantization_channels)
    return AF.mu_law_decoding(encoded, quantization_channels).to(wave.dtype)


def a_law(wave: torch.Tensor, quantization_channels: int = 256, a: float = 87.6) -> torch.Tensor:
    """G.711 A-law coding and decoding (8 bits, Europe's telephone companding), in its continuous form."""
    x = wave.clamp(-1.0, 1.0).double()
    magnitude = x.abs()
    log_a = 1 + math.log(a)
    compressed = torch.where(
        magnitude < 1 / a, a * magnitude / log_a, (1 + torch.log((a * magnitude).clamp_min(1e-12))) / log_a
    )
    levels = quantization_channels // 2
    quantized = torch.round(compressed * levels) / levels  # 128 levels a side
    expanded = torch.where(
        quantized < 1 / log_a, quantized * log_a / a, torch.exp(quantized * log_a - 1) / a
    )
    return (torch.sign(x) * expanded).to(wave.dtype)


def g722(wave: torch.Tensor, bit_rate: int = 64000) -> torch.Tensor:
    """G.722 (wideband ADPCM, 16 kHz) coding and decoding, with the codec's delay taken out.

    Needs the PyPI package G722 (a bit-exact ITU-T implementation in C);
    raises CodecUnavailable without it.
    """
    try:
        import G722
    except ImportError:
        raise CodecUnavailable(
            "G.722 needs the PyPI package G722 (pip install G722); use codec 'mulaw' or 'alaw' without it"
        ) from None
    pcm = np.round(wave.clamp(-1.0, 1.0).numpy() * 32767).astype(np.int16)
    # The codec delays by G722_DELAY samples: feed that much silence after the end and drop it at the start.
    padded = np.concatenate([pcm, np.zeros(G722_DELAY, dtype=np.int16)])
    encoded = G722.G722(SAMPLE_RATE, bit_rate).encode(padded)
    decoded = np.asarray(G722.G722(SAMPLE_RATE, bit_rate).decode(encoded), dtype=np.int16)
    out = decoded[G722_DELAY : G722_DELAY + len(wave)].astype(np.float32) / 32768
    return torch.from_numpy(np.pad(out, (0, len(wave) - len(out)))).to(wave.dtype)


def band_limit(wave: torch.Tensor, low: float, high: float, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """`wave` through a band-pass: 4th-order high-pass (two biquads) and 2nd-order low-pass biquad.

    Corners sit a little outside [low, high] so that the band's edges lose about
    3 dB, as in a telephone channel's mask; below, 24 dB an octave.
    """
    for _ in range(2):
        wave = AF.highpass_biquad(wave, sample_rate, low * 0.83)
    if high * 1.09 < sample_rate / 2:
        wave = AF.lowpass_biquad(wave, sample_rate, high * 1.09)
    return wave


def telephone(wave: torch.Tensor, codec: str = "mulaw", sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """`wave` as it comes out of a telephone line, at `sample_rate` and as long as it went in.

    "mulaw" and "alaw" (G.711, the classic narrowband line): band-limited to
    300-3400 Hz, resampled to 8 kHz, companded to 8 bits, resampled back.
    "none": the same without the codec. "g722" (wideband "HD voice"): band-limited
    to 50-7000 Hz and coded with G.722 at 64 kbit/s at 16 kHz.
    """
    if codec not in CODECS:
        raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")
    length = len(wave)
    if codec == "g722":
        narrowed = band_limit(wave, *WIDEBAND_BAND, sample_rate=sample_rate)
        coded = g722(resample(narrowed, sample_rate, SAMPLE_RATE))
        return _exact_length(resample(coded, SAMPLE_RATE, sample_rate), length)
    narrowband = resample(band_limit(wave, *TELEPHONE_BAND, sample_rate=sample_rate), sample_rate, TELEPHONE_RATE)
    if codec == "mulaw":
        narrowband = mu_law(narrowband)
    elif codec == "alaw":
        narrowband = a_law(narrowband)
    else:
        narrowband = narrowband.clamp(-1.0, 1.0)
    return _exact_length(resample(narrowband, TELEPHONE_RATE, sample_rate), length)


def _exact_length(wave: torch.Tensor, length: int) -> torch.Tensor:
    if len(wave) >= length:
        return wave[:length]
    return torch.nn.functional.pad(wave, (0, length - len(wave)))


# --- random subsets of them ------------------------------------------------------------


@dataclass(frozen=True)
class AugmentConfig:
    """Which effects `augment` applies, how often (probability per utterance) and how strongly.

    Every probability is 0 by default: AugmentConfig() leaves audio untouched.
    Ranges are (low, high), drawn uniformly.
    """

    noise_prob: float = 0.0
    snr_db: tuple[float, float] = (5.0, 30.0)
    # Audio files or folders of them to draw noise from; without any, generated colored noise.
    noise_paths: tuple[str, ...] = ()
    noise_colors: tuple[str, ...] = NOISE_COLORS
    reverb_prob: float = 0.0
    rt60: tuple[float, float] = (0.2, 0.9)  # seconds
    direct_to_reverberant_db: tuple[float, float] = (-3.0, 10.0)
    speed_prob: float = 0.0
    speed_factors: tuple[float, ...] = (0.9, 1.1)  # one of them, uniformly
    gain_prob: float = 0.0
    gain_db: tuple[float, float] = (-12.0, 6.0)
    telephone_prob: float = 0.0
    telephone_codecs: tuple[str, ...] = ("mulaw", "alaw")  # one of them, uniformly; "g722" needs G722

    def __post_init__(self) -> None:
        for name in ("noise_prob", "reverb_prob", "speed_prob", "gain_prob", "telephone_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
        for name in ("snr_db", "rt60", "direct_to_reverberant_db", "gain_db"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name} must be (low, high), got ({low}, {high})")
        if self.rt60[0] <= 0:
            raise ValueError(f"rt60 must be positive, got {self.rt60}")
        if self.speed_prob and (not self.speed_factors or min(self.speed_factors) <= 0):
            raise ValueError(f"speed_factors must be positive numbers, got {self.speed_factors}")
        if self.telephone_prob and not self.telephone_codecs:
            raise ValueError("telephone_codecs lists no codec")
        unknown = set(self.telephone_codecs) - set(CODECS)
        if unknown:
            raise ValueError(f"unknown codec(s) {sorted(unknown)}; choose from {CODECS}")
        unknown = set(self.noise_colors) - set(NOISE_COLORS)
        if unknown or (self.noise_prob and not self.noise_colors and not self.noise_paths):
            raise ValueError(f"noise_colors must be some of {NOISE_COLORS}, got {self.noise_colors}")

    @property
    def enabled(self) -> bool:
        return any((self.noise_prob, self.reverb_prob, self.speed_prob, self.gain_prob, self.telephone_prob))

    @classmethod
    def preset(cls, name: str, codec: str = "mulaw") -> AugmentConfig:
        """"off"; "default", a training mix; "telephone", always the telephone channel with `codec`."""
        if name == "off":
            return cls()
        if name == "default":
            return cls(noise_prob=0.5, reverb_prob=0.3, speed_prob=0.5, gain_prob=0.5, telephone_prob=0.3)
        if name == "telephone":
            return cls(telephone_prob=1.0, telephone_codecs=(codec,))
        raise ValueError(f"unknown augmentation preset {name!r}; choose off, default or telephone")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> AugmentConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown augmentation option(s) {sorted(unknown)}; known: {sorted(names)}")
        # JSON has lists where the config has tuples
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    @classmethod
    def from_json(cls, path: str | Path) -> AugmentConfig:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


@dataclass(frozen=True)
class AugmentPlan:
    """The effects drawn for one utterance; None is an effect left out. `seed` drives the noise and the room."""

    seed: int
    speed: float | None = None
    rt60: float | None = None
    direct_to_reverberant_db: float | None = None
    snr_db: float | None = None
    noise: str | None = None  # a color, or the path of a noise recording
    gain_db: float | None = None
    codec: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


def plan_augment(config: AugmentConfig, rng: Rng | int | None = None) -> AugmentPlan:
    """Draw which effects to apply, and their strengths, from `rng`."""
    draw = _Draw(rng)
    seed = draw.bits()
    values: dict = {}
    if draw.chance(config.speed_prob):
        values["speed"] = draw.choice(config.speed_factors)
    if draw.chance(config.reverb_prob):
        values["rt60"] = draw.uniform(*config.rt60)
        values["direct_to_reverberant_db"] = draw.uniform(*config.direct_to_reverberant_db)
    if draw.chance(config.noise_prob):
        values["snr_db"] = draw.uniform(*config.snr_db)
        files = noise_files(config.noise_paths)
        values["noise"] = str(draw.choice(files)) if files else draw.choice(config.noise_colors)
    if draw.chance(config.gain_prob):
        values["gain_db"] = draw.uniform(*config.gain_db)
    if draw.chance(config.telephone_prob):
        values["codec"] = draw.choice(config.telephone_codecs)
    return AugmentPlan(seed=seed, **values)


def apply_plan(wave: torch.Tensor, plan: AugmentPlan, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Apply a drawn plan's effects to `wave`, in the module's order."""
    generator = torch.Generator().manual_seed(plan.seed)
    if plan.speed is not None and plan.speed != 1.0:
        wave = speed_perturb(wave, plan.speed, sample_rate)
    if plan.rt60 is not None:
        rir = room_impulse_response(plan.rt60, sample_rate, generator, plan.direct_to_reverberant_db or 0.0)
        wave = reverberate(wave, plan.rt60, sample_rate=sample_rate, rir=rir)
    if plan.snr_db is not None:
        if plan.noise in NOISE_COLORS:
            wave = add_noise(wave, plan.snr_db, generator, color=plan.noise)
        else:
            wave = add_noise(wave, plan.snr_db, generator, noise=load_noise(plan.noise, sample_rate))
    if plan.gain_db is not None:
        wave = gain(wave, plan.gain_db)
    if plan.codec is not None:
        wave = telephone(wave, plan.codec, sample_rate)
    return wave


def augment(
    wave: torch.Tensor, config: AugmentConfig, rng: Rng | int | None = None, sample_rate: int = SAMPLE_RATE
) -> torch.Tensor:
    """`wave` with a random subset of the config's effects: `apply_plan(wave, plan_augment(config, rng))`.

    Deterministic for a given config, input and state of `rng` (a random.Random,
    a torch.Generator or an int seed); the input is not modified.
    """
    if not config.enabled:
        return wave
    return apply_plan(wave, plan_augment(config, rng), sample_rate)


@functools.lru_cache(maxsize=64)
def noise_files(paths: tuple[str, ...]) -> tuple[Path, ...]:
    """The audio files named by `paths` (files, or folders searched recursively), sorted."""
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"noise path {path}: no such file or folder")
    if paths and not found:
        raise FileNotFoundError(f"no audio files in the noise paths {list(paths)}")
    return tuple(found)


@functools.lru_cache(maxsize=32)
def load_noise(path: str, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """A noise recording, read once per process."""
    return load_audio(path, sample_rate)


class _Draw:
    """Uniform draws from a random.Random or a torch.Generator, whichever the caller has."""

    def __init__(self, rng: Rng | int | None) -> None:
        self.rng = random.Random(rng) if rng is None or isinstance(rng, int) else rng
        if not isinstance(self.rng, (random.Random, torch.Generator)):
            raise TypeError(f"rng must be a random.Random, a torch.Generator or an int seed, got {type(rng).__name__}")

    def random(self) -> float:
        if isinstance(self.rng, random.Random):
            return self.rng.random()
        return float(torch.rand((), generator=self.rng, dtype=torch.float64))

    def bits(self) -> int:
        if isinstance(self.rng, random.Random):
            return self.rng.getrandbits(62)
        return int(torch.randint(0, 2**62, (), generator=self.rng))

    def chance(self, probability: float) -> bool:
        return probability > 0 and self.random() < probability

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.random()

    def choice(self, options: Sequence):
        return options[min(int(self.random() * len(options)), len(options) - 1)]


def _generator(rng: Rng | int | None) -> torch.Generator:
    if isinstance(rng, torch.Generator):
        return rng
    return torch.Generator().manual_seed(_Draw(rng).bits())


# --- baking an augmented copy of a corpus --------------------------------------------------


def augment_corpus(
    manifest: str | Path,
    out_dir: str | Path,
    config: AugmentConfig,
    seed: int = 0,
    copies: int = 1,
    jobs: int = os.cpu_count() or 1,
    progress: bool = True,
) -> Path:
    """Write `copies` augmented copies of every utterance of `manifest` to `out_dir`; returns the new manifest.

    The new manifest (same file name, in `out_dir`) keeps each utterance's text,
    speaker, language and extra keys, with the new duration, the drawn effects
    under "augment" and the source file under "source_audio". WAVs go to
    out_dir/wav/<manifest name>/. Utterance i's copy c is drawn from its own seed (seed, c, i), so
    the result does not depend on `jobs`, and a rerun reuses finished files.
    """
    manifest, out_dir = Path(manifest), Path(out_dir)
    if copies < 1:
        raise ValueError(f"copies must be at least 1, got {copies}")
    utterances = read_manifest(manifest)
    wav_dir = out_dir / "wav" / manifest.stem  # train and test baked into one folder keep apart
    wav_dir.mkdir(parents=True, exist_ok=True)
    tasks = []
    for copy in range(copies):
        for index, utterance in enumerate(utterances):
            plan = plan_augment(config, random.Random(f"{seed}/{copy}/{index}"))
            # the name holds a digest of what shapes the audio: a changed config never reuses an old file
            digest = hashlib.sha1(f"{utterance.audio_filepath}|{plan.to_dict()}".encode()).hexdigest()[:10]
            target = wav_dir / f"{index:06d}-{copy}-{digest}.wav"
            tasks.append((utterance, plan, target))
    with Pool(jobs, initializer=_init_worker) as pool:
        results = list(
            progress_bar(
                pool.imap(_bake_one, tasks, chunksize=4),
                total=len(tasks),
                desc=f"augmenting {manifest.name}",
                unit="utt",
                disable=not progress,
            )
        )
    keep = {target for _, _, target in tasks}
    for path in wav_dir.iterdir():
        if path not in keep and path.suffix in (".wav", ".partial"):
            path.unlink()
    out_manifest = out_dir / manifest.name
    write_manifest(
        out_manifest,
        [
            Utterance(
                target,
                utterance.text,
                duration,
                utterance.speaker,
                utterance.lang,
                {**utterance.extra, "augment": plan.to_dict(), "source_audio": str(utterance.audio_filepath)},
            )
            for (utterance, plan, target), duration in zip(tasks, results)
        ],
    )
    return out_manifest


def _init_worker() -> None:
    torch.set_num_threads(1)


def _bake_one(task: tuple[Utterance, AugmentPlan, Path]) -> float:
    utterance, plan, target = task
    if not target.exists():  # write_audio renames a finished file into place
        wave = apply_plan(load_audio(utterance.audio_filepath), plan)
        peak = float(wave.abs().max()) if len(wave) else 0.0
        if peak > 0.99:  # scale rather than clip: the SNR and the codec's work stay as drawn
            wave = wave * (0.99 / peak)
        write_audio(target, wave)
    return soundfile.info(str(target)).duration
