"""Acoustic models: Whisper's audio encoder with a CTC head, and the registry that builds them.

The encoder follows openai/whisper's AudioEncoder, parameter names included,
so its checkpoints load without renaming. Unlike Whisper it runs on inputs of
any length up to its positional table (30 s) with a padding mask: no padding
to 30 s, and a batch may mix lengths.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class WhisperEncoderConfig:
    """Whisper audio-encoder dimensions; the defaults are Whisper base."""

    n_mels: int = 80
    n_ctx: int = 1500
    n_state: int = 512
    n_head: int = 8
    n_layer: int = 6


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> torch.Tensor:
    """Whisper's sinusoidal positional table, for an encoder trained from scratch."""
    log_timescale_increment = torch.log(torch.tensor(max_timescale)) / (channels // 2 - 1)
    inv_timescales = torch.exp(-log_timescale_increment * torch.arange(channels // 2))
    scaled_time = torch.arange(length)[:, None] * inv_timescales[None, :]
    return torch.cat([torch.sin(scaled_time), torch.cos(scaled_time)], dim=1)


def conv1d_time_major(x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """`conv` applied to (batch, frames, channels) `x`, returning (batch, frames out, channels out): one matrix
    product of the kernel's taps side by side, time-major throughout, so that no transpose runs between the two."""
    kernel, stride, padding = conv.kernel_size[0], conv.stride[0], conv.padding[0]
    frames = (x.shape[1] + 2 * padding - kernel) // stride + 1
    x = F.pad(x, (0, 0, padding, padding))
    taps = torch.cat([x[:, k : k + stride * (frames - 1) + 1 : stride] for k in range(kernel)], dim=-1)
    return taps @ conv.weight.permute(2, 1, 0).reshape(-1, conv.out_channels) + conv.bias


class MultiHeadAttention(nn.Module):
    def __init__(self, n_state: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.query = nn.Linear(n_state, n_state)
        self.key = nn.Linear(n_state, n_state, bias=False)
        self.value = nn.Linear(n_state, n_state)
        self.out = nn.Linear(n_state, n_state)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        batch, frames, state = x.shape
        q, k, v = (
            proj(x).view(batch, frames, self.n_head, -1).transpose(1, 2)
            for proj in (self.query, self.key, self.value)
        )
        return self.out(attention(q, k, v, mask).transpose(1, 2).reshape(batch, frames, state))


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax attention of (batch, heads, frames, head size) queries, keys and values; `mask` is added to the scores.

    torch's fused kernel, except for training in bf16 on a CPU: there two matrix products and a softmax trained the
    demo's settings at 114 audio s/s against the fused kernel's 98 (100 steps, 3 runs against 4, interleaved, on a
    2-core Zen 5 EPYC; `bench/train_precision.py`'s settings, ad hoc), with the same dev WER; in fp32 the two ran
    training at the same speed and the fused kernel transcribed some 5 % faster. Without gradients the fused kernel
    is the faster in bf16 too, and the more exact (it keeps the scores in fp32): on a 2-core AMX Xeon the German
    model's bf16 forward pass ran 8 clips of 10 s 1.24 times as fast with it, 4 of 30 s 2.16 times and streaming
    windows 1.07 times (bench/results/attention_cpu-amx.json).
    """
    if q.device.type != "cpu" or q.dtype != torch.bfloat16 or not torch.is_grad_enabled():
        return F.scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None else mask.to(q.dtype))
    scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-1, -2)
    if mask is not None:
        scores = scores + mask.to(scores.dtype)
    return scores.softmax(-1) @ v  # the softmax kernel exponentiates and sums bf16 scores in fp32


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Dropout where training asks for it; with p 0 nothing at all runs (torch would still draw a mask and advance
    the random generator)."""
    return F.dropout(x, p, training) if p and training else x


class ResidualAttentionBlock(nn.Module):
    def __init__(self, n_state: int, n_head: int):
        super().__init__()
        self.attn = MultiHeadAttention(n_state, n_head)
        self.attn_ln = nn.LayerNorm(n_state)
        self.mlp = nn.Sequential(nn.Linear(n_state, 4 * n_state), nn.GELU(), nn.Linear(4 * n_state, n_state))
        self.mlp_ln = nn.LayerNorm(n_state)
        self.dropout = 0.0  # on each residual branch's output in training (Whisper trained without): WhisperCTC.set_dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = x + dropout(self.attn(self.attn_ln(x), mask), self.dropout, self.training)
        return x + dropout(self.mlp(self.mlp_ln(x)), self.dropout, self.training)


class WhisperEncoder(nn.Module):
    def __init__(self, config: WhisperEncoderConfig):
        super().__init__()
        self.config = config
        self.conv1 = nn.Conv1d(config.n_mels, config.n_state, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(config.n_state, config.n_state, kernel_size=3, stride=2, padding=1)
        self.register_buffer("positional_embedding", sinusoids(config.n_ctx, config.n_state))
        self.blocks = nn.ModuleList(ResidualAttentionBlock(config.n_state, config.n_head) for _ in range(config.n_layer))
        self.ln_post = nn.LayerNorm(config.n_state)

    @staticmethod
    def output_lengths(feature_lengths: torch.Tensor) -> torch.Tensor:
        """Encoder frames for each input's mel frames: conv2 halves the rate (20 ms a frame)."""
        return (feature_lengths + 1) // 2

    # ONNX Runtime quantizes MatMuls to int8 but runs a Conv in fp32 (its ConvInteger ran slower still), so an ONNX
    # export computes the two input convolutions as matrix products: the int8 model ran 1.09 times as fast on an AMX
    # Xeon (RTFx 117.9 against 108.4), agreeing with fp32 on as many frames (96.47 % against 96.48; model alone, one
    # thread, bench/results/onnx_quantization-de-amx-stem.json). Set False on an encoder to export Conv operators.
    onnx_stem_as_matmul = True

    def forward(self, features: torch.Tensor, feature_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, n_mels, frames) features -> (batch, frames/2, n_state) states and their lengths."""
        if self.onnx_stem_as_matmul and torch.onnx.is_in_onnx_export():
            x = F.gelu(conv1d_time_major(features.transpose(1, 2), self.conv1))
            x = x * (torch.arange(x.shape[1], device=x.device)[None, :] < feature_lengths[:, None])[:, :, None]
            x = F.gelu(conv1d_time_major(x, self.conv2))
        else:
            x = F.gelu(self.conv1(features))
            # conv2 looks one frame ahead: zero conv1's output past each input's end, as
            # running that input alone would, so padding never changes a result.
            x = x * (torch.arange(x.shape[-1], device=x.device)[None, :] < feature_lengths[:, None])[:, None, :]
            x = F.gelu(self.conv2(x)).transpose(1, 2)
        frames = x.shape[1]
        if frames > self.config.n_ctx:
            raise ValueError(
                f"input of {frames} encoder frames exceeds the positional table of {self.config.n_ctx} "
                f"({self.config.n_ctx * 0.02:.0f} s); split long audio into chunks"
            )
        x = x + self.positional_embedding[:frames].to(x.dtype)
        lengths = self.output_lengths(feature_lengths)
        mask = None
        # An ONNX export always has the mask: its graph must serve padded batches whatever it was traced with.
        if torch.onnx.is_in_onnx_export() or bool((lengths < frames).any()):
            valid = torch.arange(frames, device=x.device)[None, :] < lengths[:, None]
            # Added to the attention scores: -inf at padded keys. Not a boolean mask: ONNX exports that as a Where on
            # every score and another after the softmax, 12 % of the int8 model's time (ONNX Runtime's profile).
            mask = torch.zeros(valid.shape, device=x.device).masked_fill(~valid, float("-inf"))[:, None, None, :]
        for block in self.blocks:
            x = block(x, mask)
        return self.ln_post(x), lengths


@dataclass(frozen=True)
class WhisperCTCConfig:
    encoder: WhisperEncoderConfig
    vocab_size: int

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> WhisperCTCConfig:
        return cls(encoder=WhisperEncoderConfig(**data["encoder"]), vocab_size=data["vocab_size"])


class WhisperCTC(nn.Module):
    """Whisper encoder + a linear layer over the character vocabulary, trained with CTC."""

    def __init__(self, config: WhisperCTCConfig):
        super().__init__()
        self.config = config
        self.encoder = WhisperEncoder(config.encoder)
        self.head = nn.Linear(config.encoder.n_state, config.vocab_size)
        self.dropout = 0.0  # on the head's input in training: set_dropout

    @property
    def layers(self) -> nn.ModuleList:
        """The transformer layers, which freezing (and training's adapters) count from the bottom."""
        return self.encoder.blocks

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def freeze_lower(self, num_layers: int) -> None:
        """Freeze exactly the first `num_layers` transformer layers and the stem below them; train the rest.

        The transfer-learning recipe: lower layers hold language-independent
        acoustics; the upper layers and the head learn the new language.
        Calling it again with a smaller number unfreezes (gradual unfreezing).
        """
        stem = [self.encoder.conv1, self.encoder.conv2]
        top = [self.encoder.ln_post]  # frozen only with every layer below it
        _freeze(self.layers, stem, top, num_layers)

    def set_dropout(self, p: float, first_layer: int = 0) -> None:
        """Dropout of probability `p` in training on the residual branches of the layers from `first_layer` up (the
        trained ones: frozen layers run as pretrained, as wav2vec 2.0's fine-tuning leaves its frozen feature encoder)
        and on the head's input; a training setting, not part of the model's config or checkpoint."""
        for index, layer in enumerate(self.layers):
            layer.dropout = p if index >= first_layer else 0.0
        self.dropout = p

    def forward(self, features: torch.Tensor, feature_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities (batch, frames, vocab) and the valid frames of each."""
        states, lengths = self.encoder(features, feature_lengths)
        return self.head(dropout(states, self.dropout, self.training)).float().log_softmax(dim=-1), lengths

    @staticmethod
    def seconds_per_output_frame(seconds_per_feature_frame: float) -> float:
        return 2 * seconds_per_feature_frame


def _freeze(layers: nn.ModuleList, stem: list[nn.Module], top: list[nn.Module], num_layers: int) -> None:
    if not 0 <= num_layers <= len(layers):
        raise ValueError(f"can freeze 0 to {len(layers)} layers, not {num_layers}")
    for module in [*stem, *layers, *top]:
        module.requires_grad_(True)
    frozen = [*(stem if num_layers else []), *layers[:num_layers], *(top if num_layers == len(layers) else [])]
    for module in frozen:
        module.requires_grad_(False)


@dataclass(frozen=True)
class Wav2LetterConfig:
    """Wav2Letter (Collobert et al., 2016) as Kunze et al. (2017) transferred it: 1-D convolutions only.

    `n_layer` convolutions: a strided input layer, `n_layer - 3` narrow ones, a
    wide one with a long kernel and a 1x1 one; then the output layer. The
    defaults are the paper's depth at an eighth of its width (250 and 2000
    channels there), for CPU budgets: at 256 and 1024 channels, fitting four
    utterances took twice the steps, each 4.6 times slower.
    """

    n_mels: int = 80
    channels: int = 128
    wide_channels: int = 256
    n_layer: int = 11
    kernel: int = 7
    wide_kernel: int = 31
    # Ours, not the paper's: each mel band's mean and variance over the utterance's frames taken out first (cepstral
    # mean and variance normalisation), so that a voice's or a channel's spectral tilt is not something to learn.
    normalize_input: bool = False
    # Ours, not the paper's: each layer whose output has its input's shape adds its input to it (as Jasper and
    # QuartzNet do), so that the gradient reaches the lower layers of the deep stack undiminished.
    residual: bool = False


class Wav2LetterBlock(nn.Module):
    """A convolution, then layer norm over channels (per frame, so padding never leaks in), then GELU.

    The norm is ours, not the paper's: an 11-layer plain convnet leaves CTC's
    all-blank plateau slowly. Fitting four utterances, the loss after 100 Adam
    steps was 1.78 without it and 0.53 with it.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size=kernel, stride=stride, padding=kernel // 2)
        self.norm = nn.LayerNorm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.norm(self.conv(x).transpose(1, 2)).transpose(1, 2))


def normalize_per_band(features: torch.Tensor, lengths: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """(batch, band, frame) features with each band at zero mean and unit variance over each input's own frames."""
    valid = (torch.arange(features.shape[-1], device=features.device)[None, :] < lengths[:, None])[:, None, :]
    count = lengths.clamp(min=1)[:, None, None].to(features.dtype)
    mean = (features * valid).sum(-1, keepdim=True) / count
    variance = (((features - mean) * valid) ** 2).sum(-1, keepdim=True) / count
    return (features - mean) * torch.rsqrt(variance + eps)


@dataclass(frozen=True)
class Wav2LetterCTCConfig:
    encoder: Wav2LetterConfig
    vocab_size: int

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Wav2LetterCTCConfig:
        return cls(encoder=Wav2LetterConfig(**data["encoder"]), vocab_size=data["vocab_size"])


class Wav2LetterCTC(nn.Module):
    def __init__(self, config: Wav2LetterCTCConfig):
        super().__init__()
        self.config = config
        c = config.encoder
        if c.n_layer < 4:
            raise ValueError(f"Wav2Letter needs at least 4 layers, not {c.n_layer}")
        shapes = [(c.n_mels, c.channels, 2 * c.kernel - 1, 2)]  # stride 2: 20 ms frames, as Whisper's encoder
        shapes += [(c.channels, c.channels, c.kernel, 1)] * (c.n_layer - 3)
        shapes += [(c.channels, c.wide_channels, c.wide_kernel, 1), (c.wide_channels, c.wide_channels, 1, 1)]
        self.layers = nn.ModuleList(Wav2LetterBlock(i, o, k, stride) for i, o, k, stride in shapes)
        self.shortcuts = [c.residual and i == o and stride == 1 for i, o, _, stride in shapes]
        self.head = nn.Linear(c.wide_channels, config.vocab_size)

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def freeze_lower(self, num_layers: int) -> None:
        _freeze(self.layers, [], [], num_layers)

    @staticmethod
    def output_lengths(feature_lengths: torch.Tensor) -> torch.Tensor:
        return (feature_lengths + 1) // 2

    def forward(self, features: torch.Tensor, feature_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = feature_lengths
        x = features
        if self.config.encoder.normalize_input:
            x = normalize_per_band(x, lengths)
        for layer, shortcut in zip(self.layers, self.shortcuts):
            # Zero what lies past each input's end, so padding never changes a result.
            x = x * (torch.arange(x.shape[-1], device=x.device)[None, :] < lengths[:, None])[:, None, :]
            x = x + layer(x) if shortcut else layer(x)
            if layer.conv.stride[0] == 2:
                lengths = self.output_lengths(lengths)
        return self.head(x.transpose(1, 2)).float().log_softmax(dim=-1), lengths

    @staticmethod
    def seconds_per_output_frame(seconds_per_feature_frame: float) -> float:
        return 2 * seconds_per_feature_frame


@dataclass(frozen=True)
class Architecture:
    encoder_config: type  # the dataclass of the encoder's dimensions
    config_from_dict: Callable[[dict], object]
    build: Callable[[object], nn.Module]


ARCHITECTURES: dict[str, Architecture] = {
    "whisper-encoder-ctc": Architecture(WhisperEncoderConfig, WhisperCTCConfig.from_dict, WhisperCTC),
    "wav2letter": Architecture(Wav2LetterConfig, Wav2LetterCTCConfig.from_dict, Wav2LetterCTC),
}


def build_model(architecture: str, config: dict) -> nn.Module:
    """A randomly initialised model of a registered architecture from its config dict."""
    try:
        entry = ARCHITECTURES[architecture]
    except KeyError:
        raise ValueError(f"unknown architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}") from None
    return entry.build(entry.config_from_dict(config))
