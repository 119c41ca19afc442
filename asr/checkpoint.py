"""Model checkpoints: one self-contained safetensors file.

The weights are the tensors; everything needed to rebuild and run the model
(architecture, its config, the vocabulary, the frontend, the language, and how
it was trained) is JSON in the file's metadata. Loading never needs the
pretrained source the model started from (a compact export, `asr.export`, does).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from asr.features import FrontendConfig
from asr.files import atomic_path
from asr.models import build_model
from asr.text import Vocabulary

FORMAT = "transfer-asr/1"
METADATA_KEY = "transfer_asr"


@dataclass
class ModelBundle:
    """A model with everything that interprets its input and output."""

    architecture: str
    model_config: dict
    model: torch.nn.Module
    vocabulary: Vocabulary
    frontend: FrontendConfig
    language: str
    metadata: dict = field(default_factory=dict)


def bundle_header(bundle: ModelBundle) -> dict:
    """Everything but the weights: what rebuilds the model and interprets its input and output."""
    return {
        "format": FORMAT,
        "architecture": bundle.architecture,
        "model_config": bundle.model_config,
        "vocabulary": list(bundle.vocabulary.tokens),
        "frontend": bundle.frontend.to_dict(),
        "language": bundle.language,
        "metadata": bundle.metadata,
    }


def bundle_from_header(header: dict) -> ModelBundle:
    """The bundle a header describes, its model freshly built (weights not loaded)."""
    return ModelBundle(
        architecture=header["architecture"],
        model_config=header["model_config"],
        model=build_model(header["architecture"], header["model_config"]),
        vocabulary=Vocabulary(tuple(header["vocabulary"])),
        frontend=FrontendConfig(**header["frontend"]),
        language=header["language"],
        metadata=header["metadata"],
    )


def save_checkpoint(path: str | Path, bundle: ModelBundle) -> None:
    """Write atomically: the file at `path` is always a whole checkpoint, old or new."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = bundle_header(bundle)
    tensors = {k: v.detach().cpu().contiguous() for k, v in bundle.model.state_dict().items()}
    with atomic_path(path) as partial:
        save_file(tensors, str(partial), metadata={METADATA_KEY: json.dumps(header)})


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> ModelBundle:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint; train one with `asr train` or give the path of a .safetensors checkpoint")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            header = json.loads((f.metadata() or {}).get(METADATA_KEY, "null"))
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as error:  # safetensors raises its own untyped errors on a damaged file
        raise ValueError(f"{path}: not a readable checkpoint ({error})") from None
    if not header or header.get("format") != FORMAT:
        raise ValueError(f"{path}: not a Transfer ASR checkpoint (format {FORMAT!r} expected)")
    if "compact" in header:
        raise ValueError(f"{path}: a compact export (relative to {header['compact']['base']}); load it with asr.registry.load_model")
    bundle = bundle_from_header(header)
    bundle.model.load_state_dict(tensors, strict=True)
    bundle.model.to(device).eval()
    return bundle
