"""Audio input: every waveform in Transfer ASR enters through `load_audio`.

Files are read with soundfile (WAV, FLAC, OGG, MP3 and everything else
libsndfile reads), mixed down to mono and resampled to the model's rate with
torchaudio. torchaudio.load is not used because it needs FFmpeg.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio.functional

from asr.files import atomic_path

SAMPLE_RATE = 16000


class AudioError(ValueError):
    """An audio file that cannot be used, with the file's name and the reason."""


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Read an audio file as a mono float32 waveform at `sample_rate`."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    try:
        samples, file_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        raise AudioError(
            f"{path}: cannot decode audio ({error}); formats libsndfile reads "
            f"(WAV, FLAC, OGG, MP3, ...) are supported"
        ) from None
    if samples.shape[0] == 0:
        raise AudioError(f"{path}: the file holds no audio samples")
    return resample(torch.from_numpy(samples.mean(axis=1)), file_rate, sample_rate)


def resample(wave: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    if orig_rate == new_rate:
        return wave
    return torchaudio.functional.resample(wave, orig_rate, new_rate)


def write_audio(path: str | Path, wave: torch.Tensor | np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write a mono waveform as 16-bit PCM WAV, atomically: a reader never sees half a file."""
    path = Path(path)
    if isinstance(wave, torch.Tensor):
        wave = wave.detach().cpu().numpy()
    with atomic_path(path) as partial:
        soundfile.write(str(partial), np.clip(wave, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
