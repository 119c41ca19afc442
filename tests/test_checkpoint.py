import json

import pytest
import torch
from safetensors.torch import save_file

import asr.pretrained
from asr.checkpoint import FORMAT, ModelBundle, load_checkpoint, save_checkpoint
from asr.features import FrontendConfig
from asr.models import WhisperCTC
from conftest import randomize_


def run(model, seed=0, frames=37):
    feats = torch.randn(1, 80, frames, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return model(feats, torch.tensor([frames]))[0]


def test_round_trip(tmp_path, make_bundle):
    bundle = make_bundle(seed=3, language="de")
    randomize_(bundle.model, seed=4)  # LayerNorms and the positional table too
    bundle.frontend = FrontendConfig(n_mels=80, hop_length=160)
    bundle.metadata = {"epochs": 3, "wer": {"dev": 0.25}, "pretrained": "whisper-base", "unicode": "Grüße"}
    path = tmp_path / "deep" / "dir" / "model.safetensors"

    save_checkpoint(path, bundle)
    loaded = load_checkpoint(path)

    assert sorted(p.name for p in path.parent.iterdir()) == ["model.safetensors"]  # no .partial
    assert isinstance(loaded, ModelBundle) and isinstance(loaded.model, WhisperCTC)
    assert loaded.architecture == "whisper-encoder-ctc"
    assert loaded.model_config == bundle.model_config
    assert loaded.vocabulary == bundle.vocabulary
    assert loaded.frontend == bundle.frontend
    assert loaded.language == "de"
    assert loaded.metadata == bundle.metadata
    assert not loaded.model.training
    original_state = bundle.model.state_dict()
    loaded_state = loaded.model.state_dict()
    assert original_state.keys() == loaded_state.keys()
    for key, value in original_state.items():
        assert torch.equal(value, loaded_state[key]), key
    torch.testing.assert_close(run(loaded.model), run(bundle.model.eval()), atol=0, rtol=0)


def test_a_checkpoint_is_as_readable_as_any_file_the_process_makes(tmp_path, make_bundle):
    # safetensors alone writes its files readable by their owner only: a server running as another user could not
    # load an exported model
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, make_bundle(seed=1))
    (tmp_path / "plain.txt").write_text("made by open()")
    assert path.stat().st_mode & 0o777 == (tmp_path / "plain.txt").stat().st_mode & 0o777


def test_overwrite_keeps_one_whole_file(tmp_path, make_bundle):
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, make_bundle(seed=1))
    second = make_bundle(seed=2)
    second.metadata = {"step": 2}
    save_checkpoint(path, second)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
    loaded = load_checkpoint(path)
    assert loaded.metadata == {"step": 2}
    torch.testing.assert_close(run(loaded.model), run(second.model), atol=0, rtol=0)


def test_metadata_is_json_in_the_file(tmp_path, make_bundle):
    from safetensors import safe_open

    path = tmp_path / "m.safetensors"
    save_checkpoint(path, make_bundle())
    with safe_open(str(path), framework="pt") as f:
        header = json.loads(f.metadata()["transfer_asr"])
    assert header["format"] == FORMAT
    assert header["vocabulary"][:3] == ["<blank>", "|", "<unk>"]


def test_missing_checkpoint(tmp_path):
    path = tmp_path / "nope.safetensors"
    with pytest.raises(FileNotFoundError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert str(path) in message and "train" in message


def test_safetensors_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "weights.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(ValueError, match="not a Transfer ASR checkpoint"):
        load_checkpoint(path)
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other), metadata={"transfer_asr": json.dumps({"format": "something/9"})})
    with pytest.raises(ValueError, match="not a Transfer ASR checkpoint"):
        load_checkpoint(other)


@pytest.mark.parametrize("content", [b"", b"garbage" * 10, b"\xff" * 8 + b"{}", bytes(range(256)) * 4])
def test_garbage_file(tmp_path, content):
    path = tmp_path / "garbage.safetensors"
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_truncated_checkpoint(tmp_path, make_bundle):
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, make_bundle())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError):
        load_checkpoint(path)


def test_loading_needs_no_pretrained_source(tmp_path, make_bundle, monkeypatch):
    bundle = make_bundle()
    bundle.metadata = {"pretrained": "whisper-base"}
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, bundle)

    def unavailable(*args, **kwargs):
        raise AssertionError("loading a checkpoint must not look for pretrained weights")

    monkeypatch.setattr(asr.pretrained, "resolve", unavailable)
    monkeypatch.setattr(asr.pretrained, "load_pretrained_encoder", unavailable)
    monkeypatch.setattr(asr.pretrained, "_from_wheels", unavailable)
    loaded = load_checkpoint(path)
    torch.testing.assert_close(run(loaded.model), run(bundle.model), atol=0, rtol=0)
