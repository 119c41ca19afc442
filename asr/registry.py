"""Models by name, and loading any model: what `--model` means in every command.

`--model` takes, in this order:

- a path to a checkpoint (`.safetensors`): a full one from `asr train`, or a
  compact export (`asr export`), rebuilt on the pretrained weights it names;
  or an ONNX export (`.onnx`, `asr export --onnx`), run by ONNX Runtime;
- a training run folder: the checkpoint a release recipe chose to ship
  (`shipped.safetensors`, recipes/release_model.py), else its
  `best.safetensors`, else `last.safetensors`;
- a shipped model, by language code (`de`) or name (`whisper-base-ctc-de`):
  `models/<lang>/` in the repository, holding `model.safetensors` (compact),
  `lm/` (its language model, used by default for beam search) and `card.json`
  (data, training, scores; written by `recipes/release.sh`).

ASR_MODELS_DIR points at another folder of shipped models.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from asr.checkpoint import ModelBundle, load_checkpoint
from asr.export import is_compact, load_compact
from asr.onnx_model import load_onnx

CARD = "card.json"
RUN_CHECKPOINTS = ("shipped.safetensors", "best.safetensors", "last.safetensors")


@dataclass(frozen=True)
class ModelRef:
    """A model `--model` named: where its weights are, its language model if it ships one, and its card."""

    name: str
    checkpoint: Path
    lm_dir: Path | None = None
    card: dict = field(default_factory=dict)


def models_dir() -> Path:
    """The folder of shipped models: $ASR_MODELS_DIR, else `models/` at the top of the repository."""
    return Path(os.environ.get("ASR_MODELS_DIR") or Path(__file__).resolve().parents[1] / "models")


def shipped_models() -> list[ModelRef]:
    root = models_dir()
    return [model_folder(card.parent) for card in sorted(root.glob(f"*/{CARD}"))] if root.is_dir() else []


def model_folder(folder: Path) -> ModelRef:
    """The model in a shipped model's folder (`models/de/`, or a copy of one elsewhere), as its card describes it."""
    card = json.loads((folder / CARD).read_text())
    lm_dir = folder / card["lm"] if card.get("lm") else None
    return ModelRef(card.get("name", folder.name), folder / card.get("model", "model.safetensors"), lm_dir, card)


def resolve_model(spec: str | Path) -> ModelRef:
    """The model `spec` names (see the module's docstring), or LookupError saying what it could be."""
    path = Path(spec)
    if path.is_file():
        return ModelRef(path.stem if path.stem not in ("best", "last") else str(path), path)
    if path.is_dir():
        for name in RUN_CHECKPOINTS:
            if (path / name).is_file():
                return ModelRef(path.name, path / name)
        if (path / CARD).is_file():
            ref = model_folder(path)
            if not ref.checkpoint.is_file():
                raise FileNotFoundError(f"{path}: its card names {ref.checkpoint.name}, which is missing")
            return ref
        raise FileNotFoundError(f"{path}: a folder with no {' or '.join(RUN_CHECKPOINTS)} (not a training run)")
    if path.suffix or len(path.parts) > 1:  # meant as a path, not a name
        raise FileNotFoundError(f"{path}: no such checkpoint; train one with `asr train`, give the path of a "
                                ".safetensors checkpoint, or name a shipped model (`asr models` lists them)")
    shipped = shipped_models()
    for ref in shipped:
        folder = ref.checkpoint.parent.name
        if str(spec) in (ref.name, folder, ref.card.get("language")):
            if not ref.checkpoint.is_file():
                raise FileNotFoundError(f"shipped model {ref.name}: {ref.checkpoint} is missing; check out the repository again")
            return ref
    known = ", ".join(f"{r.card.get('language', r.checkpoint.parent.name)} ({r.name})" for r in shipped) or "none here"
    raise LookupError(f"no model {str(spec)!r}: not a checkpoint file, a training run folder or a shipped model "
                      f"(shipped: {known}; `asr models` lists every model)")


def load_model(spec: str | Path) -> ModelBundle:
    """The model `spec` names, loaded on the CPU: full checkpoints as they are, compact exports on their base,
    ONNX exports (`.onnx`) as ONNX Runtime sessions."""
    ref = resolve_model(spec)
    if ref.checkpoint.suffix == ".onnx":
        return load_onnx(ref.checkpoint)
    return load_compact(ref.checkpoint) if is_compact(ref.checkpoint) else load_checkpoint(ref.checkpoint)


def local_runs(root: str | Path = "runs") -> list[ModelRef]:
    """Training run folders under `root` that hold a checkpoint."""
    refs = []
    for folder in sorted({p.parent for name in RUN_CHECKPOINTS for p in Path(root).rglob(name)}):
        refs.append(resolve_model(folder))
    return refs
