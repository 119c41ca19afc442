"""Compact exports: a fine-tuned model stored as what fine-tuning changed, relative to its pretrained weights.

A full checkpoint of whisper-base + CTC is 80 MB; the model a user needs to
ship differs from the pretrained encoder that `make setup` installs only in its
unfrozen layers and its head. A compact export keeps:

- tensors that are not in the pretrained encoder (the CTC head), in fp16;
- for each fine-tuned weight matrix, the change W - W_base quantized to 4 (or 8)
  bits, symmetric, with an fp16 scale for each group of 32 values along a row:
  the change is small beside the weight, so its rounding error barely moves
  the model (the German release model: greedy test WER 42.8 % against 42.9 %
  in full, at 3.6 MB);
- or, with a rank, that change truncated to its best rank-r approximation
  (SVD), stored as two fp16 factors U V. This is another model, not a rounding
  of the same one: it lost the German model 2.9 points of greedy WER at rank
  128, and it won the Italian model 2.0 points with its LM at rank 64 (its
  4 fine-tuned layers' change, cut to its main directions, generalised better
  to voices never heard); the release recipe chooses per language;
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
QUANTIZED = {4: "int4", 8: "int8"}  # kind of a matrix change stored at so many bits
GROUP = 32  # values of a row sharing one scale


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 of tensors' names, shapes and fp32 values, in name order: the identity of a set of weights."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().to(torch.float32).contiguous().cpu()
        digest.update(f"{name} {tuple(tensor.shape)}\n".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def export_compact(bundle: ModelBundle, base: str, path: str | Path, bits: int = 4, rank: int | None = None,
                   fine_tuned_weight: float = 1.0) -> dict:
    """Write `bundle` to `path` relative to the pretrained encoder `base`, each changed matrix's change at `bits` (4 or
    8; 16: whole, in fp16), or truncated to `rank`; returns what was stored, for the record, with the norm of what the
    export leaves out of the matrices' changes (rounding or truncation) relative to theirs.

    With `fine_tuned_weight` below 1, each encoder tensor's change is scaled by it first: the encoder becomes a weighted
    average of the fine-tuned and the pretrained one (WiSE-FT, Wortsman et al., 2022), which keeps more of what the
    pretrained encoder knew of voices the fine-tuning data lacks; the head is kept as trained."""
    if bundle.architecture != "whisper-encoder-ctc":
        raise ValueError(f"only whisper-encoder-ctc models are exported relative to pretrained weights, not {bundle.architecture}")
    if bits not in (*QUANTIZED, 16):
        raise ValueError(f"bits must be 4, 8 or 16, not {bits}")
    if rank is not None and rank < 1:
        raise ValueError(f"rank must be at least 1, not {rank}")
    if not 0 < fine_tuned_weight <= 1:
        raise ValueError(f"the fine-tuned weight must be in (0, 1], not {fine_tuned_weight}")
    pretrained = load_pretrained_encoder(base)
    base_state = {ENCODER_PREFIX + k: v for k, v in pretrained.state_dict.items()}
    tensors: dict[str, torch.Tensor] = {}
    kinds: dict[str, str] = {}
    left_out = changes = 0.0  # squared norms of what the export leaves out of the matrices' changes and of the changes
    for name, value in bundle.model.state_dict().items():
        value = value.detach().float().cpu()
        if name not in base_state:
            tensors[name], kinds[name] = value.half(), NEW
            continue
        change = (value - base_state[name]) * fine_tuned_weight
        if not change.any():
            continue  # frozen: the pretrained tensor itself
        if change.dim() == 2 and rank is not None and rank < min(change.shape) // 2:
            u, s, vh = torch.linalg.svd(change, full_matrices=False)
            tensors[name + ".u"] = (u[:, :rank] * s[:rank]).half().contiguous()
            tensors[name + ".v"] = vh[:rank].half().contiguous()
            kinds[name], kept = LOW_RANK, tensors[name + ".u"].float() @ tensors[name + ".v"].float()
        elif change.dim() == 2 and bits in QUANTIZED and change.shape[1] % GROUP == 0:
            tensors[name + ".q"], tensors[name + ".scale"] = quantize(change, bits)
            kinds[name], kept = QUANTIZED[bits], dequantize(tensors[name + ".q"], tensors[name + ".scale"], bits)
        else:
            tensors[name], kinds[name] = change.half(), DELTA
            continue
        left_out += (kept - change).square().sum().item()
        changes += change.square().sum().item()
    compact = {"base": base, "base_sha256": weights_digest(pretrained.state_dict), "bits": bits, "group": GROUP, "rank": rank,
               "fine_tuned_weight": fine_tuned_weight, "tensors": kinds}
    header = {**bundle_header(bundle), "compact": compact}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as partial:
        save_file(tensors, str(partial), metadata={METADATA_KEY: json.dumps(header)})
    return {"base": base, "bits": bits, "rank": rank, "fine_tuned_weight": fine_tuned_weight, "left_out": (left_out / changes) ** 0.5 if changes else 0.0,
            "stored": {kind: sum(1 for k in kinds.values() if k == kind) for kind in set(kinds.values())},
            "frozen": len(bundle.model.state_dict()) - len(kinds), "bytes": path.stat().st_size}


def quantize(matrix: torch.Tensor, bits: int, group: int = GROUP) -> tuple[torch.Tensor, torch.Tensor]:
    """`matrix` as integers in [-(2^(bits-1) - 1), 2^(bits-1) - 1] times an fp16 scale per `group` values of a row
    (a row's length: one scale a row); 4-bit values are stored two to a byte (offset to 0..15, the first in the low
    nibble)."""
    rows, cols = matrix.shape
    groups = matrix.reshape(rows, cols // group, group)
    top = 2 ** (bits - 1) - 1
    amax = groups.abs().amax(-1, keepdim=True)
    scale = (amax / top).half()
    # An fp16 scale rounded below amax / top would clamp the largest value by `top` times the rounding: more than half
    # a step where the scale is subnormal in fp16 (int8: amax under 0.008), whose rounding is coarse. The next fp16 up.
    scale = torch.where(scale.float() * top < amax, torch.nextafter(scale, torch.full_like(scale, float("inf"))), scale)
    divisor = scale.float().masked_fill(scale == 0, 1)  # a group of zeros stays zeros
    levels = (groups / divisor).round().clamp(-top, top).reshape(rows, cols)
    if bits == 8:
        return levels.to(torch.int8), scale.squeeze(-1)
    nibbles = (levels + 8).to(torch.uint8)
    return (nibbles[:, 0::2] | nibbles[:, 1::2] << 4).contiguous(), scale.squeeze(-1)


def dequantize(stored: torch.Tensor, scale: torch.Tensor, bits: int) -> torch.Tensor:
    """The matrix `quantize` stored, in fp32 (the group size is the row's length over its number of scales)."""
    if bits == 8:
        levels = stored.float()
    else:
        levels = torch.stack([stored & 0xF, stored >> 4], dim=-1).reshape(stored.shape[0], -1).float() - 8
    rows, cols = levels.shape
    return (levels.reshape(rows, scale.shape[1], -1) * scale.float().unsqueeze(-1)).reshape(rows, cols)


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
        stored = {k: f.get_tensor(k) for k in f.keys()}
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
    bits = {kind: b for b, kind in QUANTIZED.items()}
    for name, kind in kinds.items():
        if kind == NEW:
            state[name] = stored[name].float()
        elif kind == DELTA:
            state[name] = state[name] + stored[name].float()
        elif kind in bits:
            state[name] = state[name] + dequantize(stored[name + ".q"], stored[name + ".scale"], bits[kind])
        else:
            state[name] = state[name] + stored[name + ".u"].float() @ stored[name + ".v"].float()
    return state
