"""Audio input: every waveform in Transfer ASR enters through `load_audio`.

Files are read with soundfile (WAV, FLAC, OGG, MP3 and everything else
libsndfile reads), mixed down to mono and resampled to the model's rate with
torchaudio. torchaudio.load is not used because it needs FFmpeg.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio.functional

from asr.files import atomic_path

SAMPLE_RATE = 16000


# What a file's header may declare: telephone to studio rates, up to 7.1 surround.
MIN_FILE_RATE, MAX_FILE_RATE = 8000, 192000
MAX_FILE_CHANNELS = 8
# The longest input period of the resampling filter (resampling_ratio): 441 is the 44.1-kHz family's.
RESAMPLING_PERIOD = 1000


class AudioError(ValueError):
    """An audio file that cannot be used, with the file's name and the reason."""


class AudioTooLong(AudioError):
    """An audio file longer than the caller allows."""


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE, max_seconds: float | None = None) -> torch.Tensor:
    """Read an audio file as a mono float32 waveform at `sample_rate`.

    The header's rate, channels and length are checked before anything is
    decoded, and at most `max_seconds` are decoded: a small file whose header
    claims 1 Hz, or hours of audio, cannot make the reader allocate gigabytes.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    try:
        info = soundfile.info(str(path))
        if not MIN_FILE_RATE <= info.samplerate <= MAX_FILE_RATE:
            raise AudioError(f"{path}: its header says {info.samplerate} Hz; audio files must be {MIN_FILE_RATE} to {MAX_FILE_RATE} Hz")
        if not 1 <= info.channels <= MAX_FILE_CHANNELS:
            raise AudioError(f"{path}: its header says {info.channels} channels; audio files may have 1 to {MAX_FILE_CHANNELS}")
        if max_seconds is not None and info.frames > max_seconds * info.samplerate:
            raise AudioTooLong(f"{path}: {info.frames / info.samplerate:.1f} s of audio, more than the {max_seconds:g} s allowed")
        frames = -1 if max_seconds is None else int(max_seconds * info.samplerate) + 1
        samples, file_rate = soundfile.read(str(path), frames=frames, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        if isinstance(error, AudioError):
            raise
        raise AudioError(
            f"{path}: cannot decode audio ({error}); formats libsndfile reads "
            f"(WAV, FLAC, OGG, MP3, ...) are supported"
        ) from None
    if samples.shape[0] == 0:
        raise AudioError(f"{path}: the file holds no audio samples")
    if not np.isfinite(samples).all():  # only float files can; the model would make an empty transcript of them
        raise AudioError(f"{path}: the audio holds NaN or infinite samples (a broken float file); re-export it, as 16-bit PCM for example")
    if max_seconds is not None and samples.shape[0] > max_seconds * file_rate:  # a header that understated the length
        raise AudioTooLong(f"{path}: more than the {max_seconds:g} s of audio allowed")
    return resample(torch.from_numpy(samples.mean(axis=1)), file_rate, sample_rate)


def resampling_ratio(orig_rate: int, new_rate: int) -> tuple[int, int]:
    """The (input, output) sample counts of one period of the resampling filter: the rates' ratio in lowest terms.

    torchaudio's filter has a phase per output sample of the period, each as
    long as the input period: 16000 x 48000 values for 47,999 Hz, gigabytes for
    one request of odd audio. A ratio without small terms is replaced by the
    nearest one with an input period of at most RESAMPLING_PERIOD samples (to
    16 kHz from anything between 8 and 192 kHz: a change of speed of at most 5
    parts in 10,000, and at most 2 million filter values); every common rate,
    the 44.1-kHz family's included, keeps its exact ratio.
    """
    ratio = Fraction(new_rate, orig_rate).limit_denominator(RESAMPLING_PERIOD)
    return ratio.denominator, ratio.numerator


def resample(wave: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    orig, new = resampling_ratio(orig_rate, new_rate)
    if orig == new:
        return wave
    return torchaudio.functional.resample(wave, orig, new)


def write_audio(path: str | Path, wave: torch.Tensor | np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write a mono waveform as 16-bit PCM WAV, atomically: a reader never sees half a file."""
    path = Path(path)
    if isinstance(wave, torch.Tensor):
        wave = wave.detach().cpu().numpy()
    with atomic_path(path) as partial:
        soundfile.write(str(partial), np.clip(wave, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
