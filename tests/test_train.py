import json
import random

import numpy as np
import pytest
import soundfile
import torch

from asr.checkpoint import load_checkpoint
from asr.manifest import Utterance
from training.train import TrainConfig, length_bucketed_batches, train
from tests.tiny import tiny_openai_pt, tone


@pytest.fixture
def corpus(tmp_path):
    """Two 'words', each a tone of its own pitch: a task a tiny model learns in a few steps."""
    records = []
    for i, (text, hz) in enumerate([("ab", 300.0), ("ba", 1200.0)] * 3):
        path = tmp_path / f"{i}.wav"
        soundfile.write(str(path), tone(0.6, hz), 16000)
        records.append({"audio_filepath": path.name, "text": text, "duration": 0.6})
    manifest = tmp_path / "train.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in records))
    return manifest


def config(tmp_path, corpus, **overrides):
    values = dict(train_manifest=str(corpus), output=str(tmp_path / "model.safetensors"), init=str(tiny_openai_pt(tmp_path / "tiny.pt")),
                  max_steps=40, warmup_steps=5, batch_seconds=2.0, lr_head=3e-3, lr_encoder=3e-3, device="cpu")
    return TrainConfig(**{**values, **overrides})


def test_fine_tune_learns_and_writes_a_self_contained_checkpoint(tmp_path, corpus, capsys):
    output = train(config(tmp_path, corpus))
    bundle = load_checkpoint(output)
    assert bundle.vocabulary.tokens[3:] == ("a", "b")
    assert bundle.metadata["steps"] == 40
    assert bundle.metadata["train_config"]["max_steps"] == 40
    (tmp_path / "tiny.pt").unlink()  # the pretrained source is no longer needed
    assert load_checkpoint(output).language == "de"


def test_loss_falls(tmp_path, corpus, monkeypatch):
    losses = []
    original = torch.nn.functional.ctc_loss

    def recording_ctc_loss(*args, **kwargs):
        loss = original(*args, **kwargs)
        losses.append(loss.item())
        return loss

    monkeypatch.setattr(torch.nn.functional, "ctc_loss", recording_ctc_loss)
    train(config(tmp_path, corpus, max_steps=60))
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


def test_frozen_layers_stay_as_pretrained(tmp_path, corpus):
    pretrained = torch.load(tiny_openai_pt(tmp_path / "tiny.pt"), weights_only=True)["model_state_dict"]
    bundle = load_checkpoint(train(config(tmp_path, corpus, freeze_layers=1, max_steps=5)))
    state = bundle.model.state_dict()
    assert torch.equal(state["encoder.blocks.0.mlp.0.weight"], pretrained["encoder.blocks.0.mlp.0.weight"])
    assert torch.equal(state["encoder.conv1.weight"], pretrained["encoder.conv1.weight"])
    assert not torch.equal(state["encoder.blocks.1.mlp.0.weight"], pretrained["encoder.blocks.1.mlp.0.weight"])


def test_random_init_ignores_pretrained_weights(tmp_path, corpus):
    pretrained = torch.load(tiny_openai_pt(tmp_path / "tiny.pt"), weights_only=True)["model_state_dict"]
    bundle = load_checkpoint(train(config(tmp_path, corpus, random_init=True, max_steps=1)))
    assert bundle.metadata["init"] == "random"
    assert not torch.allclose(bundle.model.state_dict()["encoder.blocks.0.mlp.0.weight"], pretrained["encoder.blocks.0.mlp.0.weight"], atol=1e-2)


def test_batches_hold_similar_lengths_within_the_budget():
    utterances = [Utterance(audio_filepath=f"{i}.wav", text="a", duration=d) for i, d in enumerate([1, 9, 2, 8, 3, 7, 1.5, 8.5])]
    batches = length_bucketed_batches(utterances, batch_seconds=10, rng=random.Random(0))
    assert sorted(i for b in batches for i in b) == list(range(8))
    for batch in batches:
        durations = [utterances[i].duration for i in batch]
        assert sum(durations) <= 10 or len(batch) == 1
        assert max(durations) - min(durations) <= 2
