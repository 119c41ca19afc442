"""The log-mel frontend: Whisper's own features, so the pretrained encoder sees what it was trained on.

Whisper computes an 80- (or 128-) band log-mel spectrogram from 25 ms Hann
windows every 10 ms, takes log10, clips each utterance to 8 decades below its
peak and rescales to about [-1, 1]. torchaudio's MelSpectrogram with Slaney
mel scale and norm reproduces librosa's filters that Whisper uses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torchaudio.transforms

from asr.audio import SAMPLE_RATE

# A model's input is padded to a multiple of this many mel frames (240 ms). The CPU kernels (oneDNN's, and ONNX
# Runtime's memory plans) are built and kept per input shape, so a server that met every window length grew without
# bound (about 0.5 GB over 300 random lengths, measured); padded, it meets a few shapes. Training's micro-batches too:
# the German release corpus's first 400 took bf16 steps 1.05 times as fast padded (56 shapes, not 318) on a 2-core
# AMX Xeon (bench/results/train_padding-amx.json), for 2.9 % more frames over its epoch. 24 divides whisper's
# 3000-frame (30 s) input limit and its 288-frame streaming window, so neither is padded; the padding mask keeps the
# results the same.
FRAME_MULTIPLE = 24


@dataclass(frozen=True)
class FrontendConfig:
    sample_rate: int = SAMPLE_RATE
    n_fft: int = 400
    hop_length: int = 160
    n_mels: int = 80

    def to_dict(self) -> dict:
        return asdict(self)


class LogMelFrontend(torch.nn.Module):
    def __init__(self, config: FrontendConfig = FrontendConfig()):
        super().__init__()
        self.config = config
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=config.sample_rate,
            n_fft=config.n_fft,
            hop_length=config.hop_length,
            n_mels=config.n_mels,
            power=2.0,
            norm="slaney",
            mel_scale="slaney",
        )

    @property
    def seconds_per_frame(self) -> float:
        return self.config.hop_length / self.config.sample_rate

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """Features (n_mels, frames) of one mono waveform.

        One waveform at a time: the clipping to 8 decades below the peak is
        per utterance, and padding would change the peak.
        """
        if len(wave) < self.config.n_fft:  # shorter than one window: pad with silence
            wave = torch.nn.functional.pad(wave, (0, self.config.n_fft - len(wave)))
        # Whisper drops the last STFT frame, so frames = samples // hop.
        power = self.mel(wave.float())[:, :-1]
        log_spec = torch.clamp(power, min=1e-10).log10()
        log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
        return (log_spec + 4.0) / 4.0

    def batch(self, waves: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (batch, n_mels, frames) zero-padded to the longest, rounded up to FRAME_MULTIPLE frames, and each
        one's frame count."""
        feats = [self(w) for w in waves]
        lengths = torch.tensor([f.shape[-1] for f in feats], dtype=torch.long)
        frames = int(lengths.max())
        padded = feats[0].new_zeros(len(feats), self.config.n_mels, frames + -frames % FRAME_MULTIPLE)
        for i, f in enumerate(feats):
            padded[i, :, : f.shape[-1]] = f
        return padded, lengths
