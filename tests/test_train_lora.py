"""Low-rank adapters (--lora-rank): the checkpoint is a plain model whose change to the pretrained weights has the
adapters' rank in the adapted layers and none in the frozen ones, and a run with adapters resumes exactly."""

import shutil

import pytest
import torch

from asr.checkpoint import load_checkpoint
from asr.pretrained import load_pretrained_encoder
from tests.test_train import config, corpus  # noqa: F401 (corpus is a fixture)
from training.config import TrainConfig
from training.train import train

RANK = 2


def test_adapters_change_unfrozen_matrices_at_their_rank_and_nothing_frozen(tmp_path, corpus):  # noqa: F811
    cfg = config(tmp_path, corpus, freeze_layers=1, lora_rank=RANK, max_steps=15)
    trained = load_checkpoint(train(cfg)).model  # a plain checkpoint: load_checkpoint loads it strictly
    pretrained = load_pretrained_encoder(cfg.init).state_dict
    weights = {name: value for name, value in trained.encoder.state_dict().items() if name in pretrained}

    changed_ranks = {}
    for name, value in weights.items():
        change = value - pretrained[name]
        if name.startswith("blocks.0.") or name.startswith("conv"):
            assert torch.equal(value, pretrained[name]), f"{name} is frozen but changed"
        elif name.startswith("blocks.1.") and name.endswith(".weight") and value.dim() == 2:
            changed_ranks[name] = int(torch.linalg.matrix_rank(change, atol=1e-6))
    assert len(changed_ranks) == 6  # query, key, value, out and the two MLP matrices of the one unfrozen layer
    assert all(1 <= rank <= RANK for rank in changed_ranks.values()), changed_ranks
    # Without adapters the same run changes these matrices at full rank: the bound above comes from the adapters.
    full = load_checkpoint(train(config(tmp_path, corpus, freeze_layers=1, max_steps=15, out_dir=str(tmp_path / "full")))).model
    full_change = full.encoder.state_dict()["blocks.1.mlp.0.weight"] - pretrained["blocks.1.mlp.0.weight"]
    assert int(torch.linalg.matrix_rank(full_change, atol=1e-6)) > RANK


def test_a_run_with_adapters_resumes_exactly(tmp_path, corpus, capsys):  # noqa: F811
    cfg = config(tmp_path, corpus, freeze_layers=1, lora_rank=RANK, max_steps=10, save_every=5, spec_augment=True)
    straight = tmp_path / "straight.safetensors"
    shutil.copy(train(cfg), straight)
    # The same run as it was when stopped after step 5 (a run folder cannot move: it resumes where it was written).
    (tmp_path / "run" / "state" / "step-00000010.pt").unlink()
    capsys.readouterr()
    resumed = train(cfg)
    assert "from step 5 " in capsys.readouterr().out

    a, b = load_checkpoint(straight).model.state_dict(), load_checkpoint(resumed).model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("overrides, message", [
    ({"lora_rank": -1}, "lora_rank must be 0"),
    ({"lora_rank": 4, "unfreeze_every": 10, "freeze_layers": 2}, "do not combine with gradual unfreezing"),
])
def test_adapter_options_are_checked(overrides, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(train_manifest="x", out_dir="y", **overrides)


def test_an_adapter_rank_as_large_as_a_matrix_is_refused(tmp_path, corpus):  # noqa: F811
    with pytest.raises(ValueError, match="adapter rank 32 is not below"):
        train(config(tmp_path, corpus, lora_rank=32))
