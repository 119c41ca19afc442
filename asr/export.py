"""Compact exports: a fine-tuned model stored as what fine-tuning changed, relative to its pretrained weights.

A full checkpoint of whisper-base + CTC is 80 MB; the model a user needs to
ship differs from the pretrained encoder that `make setup` installs only in its
unfrozen layers and its head. A compact export keeps:

- tensors that are not in the pretrained encoder (the CTC head), in fp16;
- for each fine-tuned weight matrix, the change W - W_base as a rank-r
  product U V (fp16), found by SVD: fine-tuning moves weights along few
  directions, so a small rank keeps nearly all of the change;
- every other changed tensor (biases, layer norms) as its change in fp16;
- nothing for tensors equal to the pretrained ones (the frozen layers).

The header names the pretrained weights and the SHA-256 of their tensors,
checked when the export is loaded, so a different or damaged base is an error,
never a silently different model. The export is a `.safetensors` file with the
same header as a full checkpoint plus a "compact" entry.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from asr.checkpoint import FORMAT, METADATA_KEY, ModelBundle, bundle_header, bundle_from_header
from asr.files import atomic_path
from asr.pretrained import load_pretrained_encoder

ENCODER_PREFIX = "encoder."
LOW_RANK, DELTA, NEW = "low_rank", "delta", "new"


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 of tensors' names, shapes and fp32 values, in name order: the identity of a set of weights."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().to(torch.float32).contiguous().cpu()
        digest.update(f"{name} {tuple(tensor.shape)}\n".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def export_compact(bundle: ModelBundle, base: str, path: str | Path, rank: int = 64) -> dict:
    """Write `bundle` to `path` relative to the pretrained encoder `base`; returns what was stored, for the record."""
    if bundle.architecture != "whisper-encoder-ctc":
        raise ValueError(f"only whisper-encoder-ctc models are exported relative to pretrained weights, not {bundle.architecture}")
    pretrained = load_pretrained_encoder(base)
    base_state = {ENCODER_PREFIX + k: v for k, v in pretrained.state_dict.items()}
    tensors: dict[str, torch.Tensor] = {}
    kinds: dict[str, str] = {}
    for name, value in bundle.model.state_dict().items():
        value = value.detach().float().cpu()
        if name not in base_state:
            tensors[name], kinds[name] = value.half(), NEW
            continue
        change = value - base_state[name]
        if not change.any():
            continue  # frozen: the pretrained tensor itself
        if change.dim() == 2 and rank < min(change.shape) // 2:
            u, s, vh = torch.linalg.svd(change, full_matrices=False)
            tensors[name + ".u"] = (u[:, :rank] * s[:rank]).half().contiguous()
            tensors[name + ".v"] = vh[:rank].half().contiguous()
            kinds[name] = LOW_RANK
        else:
            tensors[name], kinds[name] = change.half(), DELTA
    compact = {"base": base, "base_sha256": weights_digest(pretrained.state_dict), "rank": rank, "tensors": kinds}
    header = {**bundle_header(bundle), "compact": compact}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as partial:
        save_file(tensors, str(partial), metadata={METADATA_KEY: json.dumps(header)})
    return {"base": base, "rank": rank, "stored": {kind: sum(1 for k in kinds.values() if k == kind) for kind in (NEW, DELTA, LOW_RANK)},
            "frozen": len(bundle.model.state_dict()) - len(kinds), "bytes": path.stat().st_size}


def read_header(path: str | Path) -> dict | None:
    """The checkpoint header of a .safetensors file, or None if it has none."""
    with safe_open(str(path), framework="pt", device="cpu") as f:
        return json.loads((f.metadata() or {}).get(METADATA_KEY, "null"))


def is_compact(path: str | Path) -> bool:
    header = read_header(path)
    return bool(header) and "compact" in header


def load_compact(path: str | Path) -> ModelBundle:
    """Rebuild a compact export on its pretrained weights, after checking they are the ones it was made from."""
    path = Path(path)
    with safe_open(str(path), framework="pt", device="cpu") as f:
        header = json.loads((f.metadata() or {}).get(METADATA_KEY, "null"))
        stored = {k: f.get_tensor(k).float() for k in f.keys()}
    if not header or header.get("format") != FORMAT or "compact" not in header:
        raise ValueError(f"{path}: not a compact Transfer ASR export")
    compact = header["compact"]
    pretrained = load_pretrained_encoder(compact["base"])
    if weights_digest(pretrained.state_dict) != compact["base_sha256"]:
        raise ValueError(f"{path}: made from {compact['base']} weights with SHA-256 {compact['base_sha256'][:12]}..., "
                         f"but the installed {compact['base']} ({pretrained.source}) differs; reinstall it with `make setup`")
    bundle = bundle_from_header(header)
    bundle.model.load_state_dict(apply_changes(pretrained.state_dict, stored, compact["tensors"]), strict=True)
    bundle.model.eval()
    return bundle


def apply_changes(base: dict[str, torch.Tensor], stored: dict[str, torch.Tensor], kinds: dict[str, str]) -> dict[str, torch.Tensor]:
    """A whole model's weights: the pretrained encoder's `base` with an export's `stored` changes, as `kinds` says."""
    state = {ENCODER_PREFIX + k: v for k, v in base.items()}
    for name, kind in kinds.items():
        if kind == NEW:
            state[name] = stored[name]
        elif kind == DELTA:
            state[name] = state[name] + stored[name]
        else:
            state[name] = state[name] + stored[name + ".u"] @ stored[name + ".v"]
    return state
