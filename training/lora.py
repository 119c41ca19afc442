"""Low-rank adapters (LoRA, Hu et al., 2021): fine-tune a weight matrix W as W + s * B @ A.

Only A (rank x in) and B (out x rank) learn; W keeps its pretrained values, so the change fine-tuning makes to a
matrix has at most `rank` dimensions. A compact export that truncates a fully fine-tuned change to rank 64 scored
better on the Italian and Spanish test voices than the whole change (docs/results/release-it/export-rank64): the
unseen voices prefer a change that stays close to the pretrained weights. Adapters train for that constraint
instead of imposing it afterwards. Measured for Spanish (docs/results/release-es/lora-rank64): 3.4 points worse with
the LM than whole matrices exported at rank 64, and no faster on a CPU (the input gradients, most of the backward
pass, remain), so the release recipes do not use them.

The adapters are a training concern only: `merged_state_dict` gives the model with each W + s * B @ A folded in, which is what
checkpoints store (a plain model that every part of `asr` loads; `asr export --rank R` keeps its change exactly), while
the training state keeps W, A and B apart, so that a run resumes exactly.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrize

# s = ALPHA_PER_RANK: alpha = 2 * rank, as in the usual LoRA recipes for Whisper (r 32, alpha 64).
ALPHA_PER_RANK = 2.0


class LowRankChange(nn.Module):
    """The parametrization W -> W + s * B @ A; B starts at zero, so training starts from the pretrained W."""

    def __init__(self, out_features: int, in_features: int, rank: int):
        super().__init__()
        self.down = nn.Parameter(torch.empty(rank, in_features))
        self.up = nn.Parameter(torch.zeros(out_features, rank))
        nn.init.kaiming_uniform_(self.down, a=math.sqrt(5))  # nn.Linear's own initialisation, as LoRA's reference code
        self.scale = ALPHA_PER_RANK

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight + self.scale * (self.up @ self.down).to(weight.dtype)


def add_adapters(layers: nn.ModuleList, first_layer: int, rank: int) -> int:
    """Adapt every linear layer of `layers[first_layer:]` at `rank`; their weight matrices stop learning (their
    biases, layer norms and everything outside these layers learn as before). Returns the number of matrices adapted."""
    adapted = 0
    for layer in layers[first_layer:]:
        for module in layer.modules():
            if isinstance(module, nn.Linear):
                if rank >= min(module.weight.shape):
                    raise ValueError(f"adapter rank {rank} is not below the size of a {tuple(module.weight.shape)} matrix: "
                                     "train without adapters instead")
                out_features, in_features = module.weight.shape
                change = LowRankChange(out_features, in_features, rank).to(module.weight.device)
                parametrize.register_parametrization(module, "weight", change)
                module.parametrizations.weight.original.requires_grad_(False)
                adapted += 1
    if not adapted:
        raise ValueError("the layers above the frozen ones hold no linear layer to adapt: low-rank adapters are for "
                         "transformer encoders such as whisper-base's")
    return adapted


def adapter_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The adapters' A and B matrices (they learn at their own rate, --lr-adapters)."""
    return [p for module in model.modules() if isinstance(module, LowRankChange) for p in module.parameters()]


def freeze_adapted_weights(model: nn.Module) -> None:
    """Keep adapted matrices frozen after something (freezing or unfreezing layers) set them trainable."""
    for module in model.modules():
        if parametrize.is_parametrized(module, "weight"):
            module.parametrizations.weight.original.requires_grad_(False)


def merged_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """`model`'s weights with every adapter folded in (W + s * B @ A), under the names of the plain model."""
    state = {name: value for name, value in model.state_dict().items() if ".parametrizations.weight." not in name}
    with torch.no_grad():
        for name, module in model.named_modules():
            if parametrize.is_parametrized(module, "weight"):
                state[f"{name}.weight"] = module.weight.detach().clone()
    return state
