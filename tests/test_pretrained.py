"""Import of pretrained Whisper encoders: the real offline weights against CTranslate2, and
round trips of the three file formats with a tiny random encoder."""

from __future__ import annotations

import json
import struct
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import asr.pretrained as pretrained
from asr.features import LogMelFrontend
from asr.models import WhisperEncoder, WhisperEncoderConfig
from asr.pretrained import (
    PretrainedEncoder,
    PretrainedNotFound,
    WheelModel,
    _join_parts,
    load_pretrained_encoder,
    read_ctranslate2,
    resolve,
)
from conftest import TINY_ENCODER, randomize_

# --- writers for the three formats -------------------------------------------------


def write_openai(path: Path, encoder: WhisperEncoder, drop=(), replace=None, extra=None) -> Path:
    c = encoder.config
    state = {"encoder." + k: v.clone() for k, v in encoder.state_dict().items()}
    state["decoder.token_embedding.weight"] = torch.randn(7, c.n_state)  # must be ignored
    for k in drop:
        del state["encoder." + k]
    state.update(replace or {})
    state.update(extra or {})
    dims = {
        "n_mels": c.n_mels, "n_vocab": 7, "n_audio_ctx": c.n_ctx, "n_audio_state": c.n_state,
        "n_audio_head": c.n_head, "n_audio_layer": c.n_layer, "n_text_ctx": 4, "n_text_state": c.n_state,
        "n_text_head": c.n_head, "n_text_layer": 1,
    }
    torch.save({"dims": dims, "model_state_dict": state}, path)
    return path


_TO_HF = {
    "attn.query": "self_attn.q_proj",
    "attn.key": "self_attn.k_proj",
    "attn.value": "self_attn.v_proj",
    "attn.out": "self_attn.out_proj",
    "attn_ln": "self_attn_layer_norm",
    "mlp.0": "fc1",
    "mlp.2": "fc2",
    "mlp_ln": "final_layer_norm",
}


def hf_tensors(encoder: WhisperEncoder) -> dict[str, torch.Tensor]:
    tensors = {}
    for key, value in encoder.state_dict().items():
        if key == "positional_embedding":
            name = "embed_positions.weight"
        elif key.startswith("ln_post."):
            name = "layer_norm." + key.removeprefix("ln_post.")
        elif key.startswith("blocks."):
            _, index, rest = key.split(".", 2)
            module, param = rest.rsplit(".", 1)
            name = f"layers.{index}.{_TO_HF[module]}.{param}"
        else:
            name = key
        tensors["model.encoder." + name] = value.clone().contiguous()
    tensors["model.decoder.embed_tokens.weight"] = torch.randn(7, encoder.config.n_state)  # must be ignored
    tensors["model.decoder.layers.0.self_attn.k_proj.weight"] = torch.randn(4, 4)
    tensors["proj_out.weight"] = torch.randn(7, encoder.config.n_state)
    return tensors


def write_huggingface(folder: Path, encoder: WhisperEncoder, tensors=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    c = encoder.config
    config = {
        "model_type": "whisper", "num_mel_bins": c.n_mels, "max_source_positions": c.n_ctx, "d_model": c.n_state,
        "encoder_attention_heads": c.n_head, "encoder_layers": c.n_layer, "decoder_layers": 1,
    }
    (folder / "config.json").write_text(json.dumps(config))
    save_file(tensors if tensors is not None else hf_tensors(encoder), str(folder / "model.safetensors"))
    return folder


_CT2_DTYPE_IDS = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2, np.dtype(np.int32): 3, np.dtype(np.float16): 4}


def ct2_variables(encoder: WhisperEncoder, dtype=np.float32) -> dict[str, np.ndarray]:
    s = {k: v.detach().numpy().astype(dtype) for k, v in encoder.state_dict().items()}
    variables = {
        "encoder/conv1/weight": s["conv1.weight"], "encoder/conv1/bias": s["conv1.bias"],
        "encoder/conv2/weight": s["conv2.weight"], "encoder/conv2/bias": s["conv2.bias"],
        "encoder/position_encodings/encodings": s["positional_embedding"],
        "encoder/num_heads": np.array(encoder.config.n_head, dtype=np.int16),
        "encoder/layer_norm/gamma": s["ln_post.weight"], "encoder/layer_norm/beta": s["ln_post.bias"],
        "decoder/embeddings/weight": np.ones((7, 4), dtype=dtype),  # must be ignored
    }
    for i in range(encoder.config.n_layer):
        b, src = f"blocks.{i}.", f"encoder/layer_{i}/"
        variables.update({
            src + "self_attention/layer_norm/gamma": s[b + "attn_ln.weight"],
            src + "self_attention/layer_norm/beta": s[b + "attn_ln.bias"],
            src + "self_attention/linear_0/weight": np.concatenate(
                [s[b + "attn.query.weight"], s[b + "attn.key.weight"], s[b + "attn.value.weight"]]
            ),
            src + "self_attention/linear_0/bias": np.concatenate(
                [s[b + "attn.query.bias"], np.zeros_like(s[b + "attn.query.bias"]), s[b + "attn.value.bias"]]
            ),
            src + "self_attention/linear_1/weight": s[b + "attn.out.weight"],
            src + "self_attention/linear_1/bias": s[b + "attn.out.bias"],
            src + "ffn/layer_norm/gamma": s[b + "mlp_ln.weight"],
            src + "ffn/layer_norm/beta": s[b + "mlp_ln.bias"],
            src + "ffn/linear_0/weight": s[b + "mlp.0.weight"],
            src + "ffn/linear_0/bias": s[b + "mlp.0.bias"],
            src + "ffn/linear_1/weight": s[b + "mlp.2.weight"],
            src + "ffn/linear_1/bias": s[b + "mlp.2.bias"],
        })
    return variables


def ct2_bytes(variables: dict[str, np.ndarray], spec: str = "WhisperSpec", aliases=(), version: int = 6) -> bytes:
    """CTranslate2's ModelSpec._serialize: header, variables in name order, aliases."""
    out = bytearray()

    def string(text: str) -> None:
        encoded = text.encode()
        out.extend(struct.pack("<H", len(encoded) + 1) + encoded + b"\0")

    out.extend(struct.pack("<I", version))
    string(spec)
    out.extend(struct.pack("<I", 3))  # spec revision
    out.extend(struct.pack("<I", len(variables)))
    for name, value in sorted(variables.items()):
        value = np.array(value, order="C")  # not ascontiguousarray: it turns a scalar into shape (1,)
        string(name)
        out.extend(struct.pack("<B", value.ndim))
        for dim in value.shape:
            out.extend(struct.pack("<I", dim))
        out.extend(struct.pack("<B", _CT2_DTYPE_IDS[value.dtype]))
        out.extend(struct.pack("<I", value.nbytes))
        out.extend(value.tobytes())
    out.extend(struct.pack("<I", len(aliases)))
    for alias, target in aliases:
        string(alias)
        string(target)
    return bytes(out)


def write_ctranslate2(folder: Path, variables: dict[str, np.ndarray], **kwargs) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"suppress_ids": []}))
    (folder / "model.bin").write_bytes(ct2_bytes(variables, **kwargs))
    return folder


# --- helpers -------------------------------------------------------------------------


def outputs(encoder: WhisperEncoder, frames: int = 50) -> torch.Tensor:
    feats = torch.randn(2, encoder.config.n_mels, frames, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        return encoder.eval()(feats, torch.tensor([frames, frames - 10]))[0]


def assert_same_encoder(loaded: PretrainedEncoder, original: WhisperEncoder, atol: float = 0.0) -> None:
    assert loaded.config == original.config
    original_state = original.state_dict()
    assert loaded.state_dict.keys() == original_state.keys()
    for key, value in loaded.state_dict.items():
        assert value.dtype == torch.float32 and value.is_contiguous(), key
        torch.testing.assert_close(value, original_state[key], atol=atol, rtol=0, msg=key)
    torch.testing.assert_close(outputs(loaded.build()), outputs(original), atol=max(atol * 50, 1e-6), rtol=0)


@pytest.fixture
def encoder() -> WhisperEncoder:
    # a small positional table keeps the files small; n_state 32, 2 heads, 2 layers as elsewhere
    config = WhisperEncoderConfig(n_mels=80, n_ctx=64, n_state=32, n_head=2, n_layer=2)
    return randomize_(WhisperEncoder(config), seed=11).eval()


# --- real weights against CTranslate2 ------------------------------------------------


@pytest.fixture(scope="module")
def four_seconds_of_features() -> np.ndarray:
    """Features of ~4 s of tones and noise, padded as Whisper does (silence to 30 s): (1, 80, 3000)."""
    g = torch.Generator().manual_seed(0)
    t = torch.arange(64000) / 16000
    wave = 0.3 * torch.sin(2 * np.pi * 220 * t) * (torch.sin(2 * np.pi * 1.5 * t) > 0)
    wave = wave + 0.2 * torch.sin(2 * np.pi * 1200 * t) * (t > 2) + 0.02 * torch.randn(64000, generator=g)
    wave = torch.nn.functional.pad(wave.float(), (0, 480000 - 64000))
    features = LogMelFrontend()(wave)
    assert features.shape == (80, 3000)
    return features[None].numpy().copy()


@pytest.mark.parametrize(
    "name,expected",
    [
        ("whisper-base", WhisperEncoderConfig(n_mels=80, n_ctx=1500, n_state=512, n_head=8, n_layer=6)),
        ("whisper-tiny.en", WhisperEncoderConfig(n_mels=80, n_ctx=1500, n_state=384, n_head=6, n_layer=4)),
    ],
)
def test_real_weights_match_ctranslate2(name, expected, four_seconds_of_features):
    ctranslate2 = pytest.importorskip("ctranslate2")
    try:
        path = resolve(name)
    except PretrainedNotFound as error:
        pytest.skip(f"{name} is not installed: {error}")
    loaded = load_pretrained_encoder(name)
    assert loaded.config == expected
    encoder = loaded.build().eval()
    features = torch.from_numpy(four_seconds_of_features)
    with torch.inference_mode():
        ours, lengths = encoder(features, torch.tensor([3000]))
    assert lengths.tolist() == [1500]

    reference_model = ctranslate2.models.Whisper(str(path), device="cpu", compute_type="float32", intra_threads=2)
    reference = np.array(reference_model.encode(ctranslate2.StorageView.from_array(four_seconds_of_features)))
    assert reference.shape == tuple(ours.shape) == (1, 1500, expected.n_state)
    diff = np.abs(ours.numpy() - reference)
    scale = np.abs(reference).max()
    # the weights are stored in float16; the only differences left are float32 arithmetic
    assert diff.max() < 2e-3 * scale, (diff.max(), scale)
    assert diff.mean() < 1e-4 * scale


# --- format round trips ----------------------------------------------------------------


def test_openai_round_trip(tmp_path, encoder):
    path = write_openai(tmp_path / "tiny.pt", encoder)
    assert resolve(path) == path
    assert_same_encoder(load_pretrained_encoder(path), encoder)
    assert load_pretrained_encoder(str(path)).source == str(path)


def test_huggingface_round_trip(tmp_path, encoder):
    folder = write_huggingface(tmp_path / "hf", encoder)
    assert_same_encoder(load_pretrained_encoder(folder), encoder)


def test_huggingface_sharded_and_unprefixed(tmp_path, encoder):
    # WhisperModel (no "model." prefix) split over two safetensors files
    tensors = {k.removeprefix("model."): v for k, v in hf_tensors(encoder).items()}
    names = sorted(tensors)
    folder = write_huggingface(tmp_path / "hf", encoder, tensors={k: tensors[k] for k in names[::2]})
    (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
    save_file({k: tensors[k] for k in names[1::2]}, str(folder / "model-00002-of-00002.safetensors"))
    assert_same_encoder(load_pretrained_encoder(folder), encoder)


def test_ctranslate2_round_trip(tmp_path, encoder):
    folder = write_ctranslate2(tmp_path / "ct2", ct2_variables(encoder), aliases=[("decoder/projection/weight", "decoder/embeddings/weight")])
    assert_same_encoder(load_pretrained_encoder(folder), encoder)


def test_ctranslate2_float16(tmp_path, encoder):
    folder = write_ctranslate2(tmp_path / "ct2", ct2_variables(encoder, np.float16))
    loaded = load_pretrained_encoder(folder)
    assert_same_encoder(loaded, encoder, atol=1e-3)


def test_ctranslate2_int8_weights_are_dequantised(tmp_path, encoder):
    variables = ct2_variables(encoder)
    quantised = {}
    for name, value in list(variables.items()):
        if name.startswith("encoder/layer_") and name.endswith("linear_0/weight") and "ffn" in name:
            scale = (127.0 / np.abs(value).max(axis=1)).astype(np.float32)
            q = np.clip(np.round(value * scale[:, None]), -127, 127).astype(np.int8)
            variables[name] = q
            variables[name + "_scale"] = scale
            quantised[name] = q.astype(np.float32) / scale[:, None]
    folder = write_ctranslate2(tmp_path / "ct2", variables)
    loaded = load_pretrained_encoder(folder)
    for i in range(encoder.config.n_layer):
        expected = torch.from_numpy(quantised[f"encoder/layer_{i}/ffn/linear_0/weight"])
        torch.testing.assert_close(loaded.state_dict[f"blocks.{i}.mlp.0.weight"], expected, atol=1e-6, rtol=1e-6)
        # and close to the float weights: the quantisation step is at most max|w| / 254 a row
        original = encoder.state_dict()[f"blocks.{i}.mlp.0.weight"]
        assert (loaded.state_dict[f"blocks.{i}.mlp.0.weight"] - original).abs().max() <= original.abs().max() / 250


def test_read_ctranslate2_prefix_and_dtypes(tmp_path, encoder):
    path = write_ctranslate2(tmp_path / "ct2", ct2_variables(encoder)) / "model.bin"
    spec, everything = read_ctranslate2(path)
    assert spec == "WhisperSpec"
    assert "decoder/embeddings/weight" in everything
    spec, encoder_only = read_ctranslate2(path, prefix="encoder/")
    assert all(name.startswith("encoder/") for name in encoder_only)
    assert encoder_only["encoder/num_heads"].dtype == np.int16 and int(encoder_only["encoder/num_heads"]) == 2
    assert encoder_only["encoder/conv1/weight"].shape == (32, 80, 3)


def save_with_ctranslate2(encoder: WhisperEncoder, folder: Path, vocab: int = 8) -> Path:
    """The encoder (and a random one-layer decoder) as CTranslate2's own WhisperSpec writes it."""
    whisper_spec = pytest.importorskip("ctranslate2.specs.whisper_spec")
    c, n = encoder.config, encoder.config.n_state
    s = {k: v.detach().numpy().copy() for k, v in encoder.state_dict().items()}
    rng = np.random.default_rng(0)

    def r(*shape):
        return (rng.standard_normal(shape) * 0.1).astype(np.float32)

    spec = whisper_spec.WhisperSpec(c.n_layer, c.n_head, 1, c.n_head)
    e = spec.encoder
    e.conv1.weight, e.conv1.bias = s["conv1.weight"], s["conv1.bias"]
    e.conv2.weight, e.conv2.bias = s["conv2.weight"], s["conv2.bias"]
    e.position_encodings.encodings = s["positional_embedding"]
    e.layer_norm.gamma, e.layer_norm.beta = s["ln_post.weight"], s["ln_post.bias"]
    for i, layer in enumerate(e.layer):
        b, attention = f"blocks.{i}.", layer.self_attention
        attention.layer_norm.gamma, attention.layer_norm.beta = s[b + "attn_ln.weight"], s[b + "attn_ln.bias"]
        attention.linear[0].weight = np.concatenate([s[b + "attn.query.weight"], s[b + "attn.key.weight"], s[b + "attn.value.weight"]])
        attention.linear[0].bias = np.concatenate([s[b + "attn.query.bias"], np.zeros(n, np.float32), s[b + "attn.value.bias"]])
        attention.linear[1].weight, attention.linear[1].bias = s[b + "attn.out.weight"], s[b + "attn.out.bias"]
        layer.ffn.layer_norm.gamma, layer.ffn.layer_norm.beta = s[b + "mlp_ln.weight"], s[b + "mlp_ln.bias"]
        layer.ffn.linear_0.weight, layer.ffn.linear_0.bias = s[b + "mlp.0.weight"], s[b + "mlp.0.bias"]
        layer.ffn.linear_1.weight, layer.ffn.linear_1.bias = s[b + "mlp.2.weight"], s[b + "mlp.2.bias"]
    d = spec.decoder
    d.embeddings.weight, d.position_encodings.encodings = r(vocab, n), r(16, n)
    d.layer_norm.gamma, d.layer_norm.beta = r(n), r(n)
    d.projection.weight = r(vocab, n)
    for layer in d.layer:
        for attention, widths in [(layer.self_attention, [3 * n, n]), (layer.attention, [n, 2 * n, n])]:
            attention.layer_norm.gamma, attention.layer_norm.beta = r(n), r(n)
            for linear, width in zip(attention.linear, widths):
                linear.weight, linear.bias = r(width, n), r(width)
        layer.ffn.layer_norm.gamma, layer.ffn.layer_norm.beta = r(n), r(n)
        layer.ffn.linear_0.weight, layer.ffn.linear_0.bias = r(4 * n, n), r(4 * n)
        layer.ffn.linear_1.weight, layer.ffn.linear_1.bias = r(n, 4 * n), r(n)
    spec.register_vocabulary([f"<|t{i}|>" for i in range(vocab)])
    spec.validate()
    spec.optimize(quantization="float32")
    folder.mkdir(parents=True, exist_ok=True)
    spec.save(str(folder))
    return folder


def test_model_written_by_ctranslate2(tmp_path):
    """A tiny encoder saved by CTranslate2 itself: it loads back exactly, and CTranslate2 computes what we do."""
    ctranslate2 = pytest.importorskip("ctranslate2")
    encoder = randomize_(WhisperEncoder(TINY_ENCODER), seed=5).eval()
    folder = save_with_ctranslate2(encoder, tmp_path / "ct2")
    assert_same_encoder(load_pretrained_encoder(folder), encoder)

    features = torch.randn(1, 80, 3000, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = encoder(features, torch.tensor([3000]))[0].numpy()
    model = ctranslate2.models.Whisper(str(folder), device="cpu", compute_type="float32", intra_threads=2)
    reference = np.array(model.encode(ctranslate2.StorageView.from_array(features.numpy())))
    assert np.abs(ours - reference).max() < 1e-4


def test_ctranslate2_aliased_variables(tmp_path):
    torch.manual_seed(0)
    encoder = WhisperEncoder(TINY_ENCODER).eval()  # every LayerNorm gamma is 1, every beta 0
    folder = save_with_ctranslate2(encoder, tmp_path / "ct2")
    assert_same_encoder(load_pretrained_encoder(folder), encoder)


# --- strictness ------------------------------------------------------------------------


def test_openai_missing_tensor(tmp_path, encoder):
    path = write_openai(tmp_path / "m.pt", encoder, drop=["blocks.1.mlp.2.bias"])
    with pytest.raises(ValueError, match=r"missing \['blocks\.1\.mlp\.2\.bias'\]"):
        load_pretrained_encoder(path)


def test_openai_wrong_shape(tmp_path, encoder):
    path = write_openai(tmp_path / "m.pt", encoder, replace={"encoder.conv2.bias": torch.zeros(31)})
    with pytest.raises(ValueError, match=r"conv2\.bias: \(31,\) != \(32,\)"):
        load_pretrained_encoder(path)


def test_openai_unexpected_tensor(tmp_path, encoder):
    path = write_openai(tmp_path / "m.pt", encoder, extra={"encoder.blocks.0.attn.key.bias": torch.zeros(32)})
    with pytest.raises(ValueError, match=r"unexpected \['blocks\.0\.attn\.key\.bias'\]"):
        load_pretrained_encoder(path)


def test_openai_dims_disagree_with_weights(tmp_path, encoder):
    path = tmp_path / "m.pt"
    write_openai(path, encoder)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["dims"]["n_audio_layer"] = 3
    torch.save(checkpoint, path)
    with pytest.raises(ValueError, match=r"missing \['blocks\.2\."):
        load_pretrained_encoder(path)


def test_huggingface_missing_tensor(tmp_path, encoder):
    tensors = hf_tensors(encoder)
    del tensors["model.encoder.layers.1.fc2.bias"]
    folder = write_huggingface(tmp_path / "hf", encoder, tensors)
    with pytest.raises(ValueError, match=r"missing \['blocks\.1\.mlp\.2\.bias'\]"):
        load_pretrained_encoder(folder)


def test_huggingface_wrong_shape(tmp_path, encoder):
    tensors = hf_tensors(encoder)
    tensors["model.encoder.embed_positions.weight"] = torch.zeros(65, 32)
    folder = write_huggingface(tmp_path / "hf", encoder, tensors)
    with pytest.raises(ValueError, match=r"positional_embedding: \(65, 32\) != \(64, 32\)"):
        load_pretrained_encoder(folder)


@pytest.mark.parametrize(
    "name,expected",
    [
        ("model.encoder.layers.0.self_attn.k_proj.bias", "blocks.0.attn.key.bias"),
        ("model.encoder.layers.1.adapter.weight", "blocks.1.adapter.weight"),
        ("model.encoder.extra_norm.weight", "extra_norm.weight"),
    ],
)
def test_huggingface_unexpected_tensor(tmp_path, encoder, name, expected):
    tensors = hf_tensors(encoder)
    tensors[name] = torch.zeros(32)
    folder = write_huggingface(tmp_path / "hf", encoder, tensors)
    with pytest.raises(ValueError, match=r"unexpected \['" + expected.replace(".", r"\.") + r"'\]"):
        load_pretrained_encoder(folder)


def test_ctranslate2_unexpected_tensor(tmp_path, encoder):
    variables = ct2_variables(encoder)
    variables["encoder/layer_0/self_attention/relative_position_keys"] = np.zeros((3, 32), np.float32)
    folder = write_ctranslate2(tmp_path / "ct2", variables)
    with pytest.raises(ValueError, match="relative_position_keys"):
        load_pretrained_encoder(folder)


def test_ctranslate2_wrong_shape(tmp_path, encoder):
    variables = ct2_variables(encoder)
    variables["encoder/layer_1/ffn/linear_1/bias"] = np.zeros(33, np.float32)
    folder = write_ctranslate2(tmp_path / "ct2", variables)
    with pytest.raises(ValueError, match=r"blocks\.1\.mlp\.2\.bias: \(33,\) != \(32,\)"):
        load_pretrained_encoder(folder)


def test_ctranslate2_missing_tensor(tmp_path, encoder):
    variables = ct2_variables(encoder)
    del variables["encoder/layer_1/ffn/linear_1/bias"]
    folder = write_ctranslate2(tmp_path / "ct2", variables)
    with pytest.raises(ValueError, match="encoder/layer_1/ffn/linear_1/bias"):
        load_pretrained_encoder(folder)


def test_ctranslate2_key_bias_rejected(tmp_path, encoder):
    variables = ct2_variables(encoder)
    variables["encoder/layer_0/self_attention/linear_0/bias"][40] = 0.5  # in the key third
    folder = write_ctranslate2(tmp_path / "ct2", variables)
    with pytest.raises(ValueError, match="key bias"):
        load_pretrained_encoder(folder)


def test_ctranslate2_other_spec_rejected(tmp_path, encoder):
    folder = write_ctranslate2(tmp_path / "ct2", ct2_variables(encoder), spec="TransformerSpec")
    with pytest.raises(ValueError, match="TransformerSpec"):
        load_pretrained_encoder(folder)


def test_ctranslate2_other_version_rejected(tmp_path, encoder):
    folder = write_ctranslate2(tmp_path / "ct2", ct2_variables(encoder), version=5)
    with pytest.raises(ValueError, match="version 5"):
        load_pretrained_encoder(folder)


@pytest.mark.parametrize("keep", [0, 2, 9, 0.3, 0.5, 0.999])
def test_ctranslate2_truncated(tmp_path, encoder, keep):
    data = ct2_bytes(ct2_variables(encoder))
    cut = keep if isinstance(keep, int) else int(len(data) * keep)
    folder = tmp_path / "ct2"
    folder.mkdir()
    (folder / "model.bin").write_bytes(data[:cut])
    with pytest.raises(ValueError, match="not a complete CTranslate2 model"):
        load_pretrained_encoder(folder)


def test_ctranslate2_truncated_in_alias_table(tmp_path, encoder):
    data = ct2_bytes(ct2_variables(encoder))
    folder = tmp_path / "ct2"
    folder.mkdir()
    (folder / "model.bin").write_bytes(data[:-2])
    with pytest.raises(ValueError, match="not a complete CTranslate2 model"):
        load_pretrained_encoder(folder)


def test_not_a_model_directory(tmp_path):
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(PretrainedNotFound, match="not a Whisper model"):
        load_pretrained_encoder(tmp_path)


# --- resolving names -------------------------------------------------------------------


def test_resolve_unknown_name(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("TRANSFER_ASR_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PretrainedNotFound) as info:
        resolve("whisper-nonexistent")
    message = str(info.value)
    assert "whisper-nonexistent" in message and "whisper-base" in message
    with pytest.raises(PretrainedNotFound):
        load_pretrained_encoder("whisper-nonexistent")


def test_resolve_finds_hugging_face_cache(tmp_path, monkeypatch):
    snapshot = tmp_path / "hub" / "models--Systran--faster-whisper-medium" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.chdir(tmp_path)
    assert resolve("whisper-medium") == snapshot


def test_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("TRANSFER_ASR_CACHE", str(tmp_path / "c"))
    assert pretrained.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("TRANSFER_ASR_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert pretrained.cache_dir() == tmp_path / "xdg" / "transfer-asr"


def test_join_parts(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFER_ASR_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    chunks = [rng.integers(0, 256, size, dtype=np.uint8).tobytes() for size in [1000, 37, 4096, 1, 500, 77, 3, 9, 10, 11, 12]]
    first, second = tmp_path / "pkg1" / "data", tmp_path / "pkg2" / "data"
    first.mkdir(parents=True)
    second.mkdir(parents=True)
    (first / "config.json").write_text('{"a": 1}')
    (first / "vocabulary.txt").write_text("x\ny\n")
    # parts 1..11, spread over two folders: part10 and part11 must come after part9, not after part1
    for number, chunk in enumerate(chunks, start=1):
        folder = first if number % 2 else second
        (folder / f"model.bin.part{number}").write_bytes(chunk)

    target = _join_parts("whisper-test", [first, second])

    assert target == tmp_path / "cache" / "pretrained" / "whisper-test"
    assert (target / "model.bin").read_bytes() == b"".join(chunks)
    assert (target / "config.json").read_text() == '{"a": 1}'
    assert (target / "vocabulary.txt").exists()
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "model.bin", "vocabulary.txt"]

    # joined once: a second call reuses the cache
    (first / "model.bin.part1").write_bytes(b"changed")
    assert _join_parts("whisper-test", [first, second]) == target
    assert (target / "model.bin").read_bytes() == b"".join(chunks)


def test_resolve_joins_split_wheels(tmp_path, monkeypatch, encoder):
    """A model split over two installed packages is found by name, joined into the cache and loads."""
    monkeypatch.setenv("TRANSFER_ASR_CACHE", str(tmp_path / "cache"))
    data = ct2_bytes(ct2_variables(encoder))
    site = tmp_path / "site"
    suffix = uuid.uuid4().hex[:8]
    packages = (f"fake_whisper_part1_{suffix}", f"fake_whisper_part2_{suffix}")
    for number, (package, chunk) in enumerate(zip(packages, [data[:1234], data[1234:]]), start=1):
        folder = site / package / "data"
        folder.mkdir(parents=True)
        (site / package / "__init__.py").write_text("")
        (folder / f"model.bin.part{number}").write_bytes(chunk)
    (site / packages[0] / "data" / "config.json").write_text("{}")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setitem(pretrained.WHEEL_MODELS, "whisper-fake", WheelModel(packages, "data", "pip install fake"))
    monkeypatch.chdir(tmp_path)

    path = resolve("whisper-fake")
    assert path == tmp_path / "cache" / "pretrained" / "whisper-fake"
    assert (path / "model.bin").read_bytes() == data
    assert not list(path.glob("*.partial"))
    assert_same_encoder(load_pretrained_encoder("whisper-fake"), encoder)


def test_resolve_missing_wheel_part(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(
        pretrained.WHEEL_MODELS,
        "whisper-halfinstalled",
        WheelModel(("json", f"no_such_package_{uuid.uuid4().hex[:8]}"), "data", "pip install both-parts"),
    )
    with pytest.raises(PretrainedNotFound, match="pip install both-parts"):
        resolve("whisper-halfinstalled")


def test_real_wheel_folders_hold_what_resolve_expects():
    try:
        path = resolve("whisper-tiny.en")
    except PretrainedNotFound as error:
        pytest.skip(f"whisper-tiny.en is not installed: {error}")
    assert (path / "model.bin").is_file()
    spec, variables = read_ctranslate2(path / "model.bin", prefix="encoder/num_heads")
    assert spec == "WhisperSpec" and int(variables["encoder/num_heads"]) == 6
