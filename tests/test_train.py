import dataclasses
import json
import random
from pathlib import Path

import pytest
import soundfile
import torch

from asr.checkpoint import load_checkpoint
from asr.corpora.augment import AugmentConfig
from asr.corpora.manifest import Utterance
from asr.features import FRAME_MULTIPLE, FrontendConfig
from asr.text import Vocabulary
from training.config import TrainConfig, augment_config, load_config
from training.data import MicroBatches
from training.train import check_resumable, frozen_at, initial_model, length_bucketed_batches, lr_factor, train, training_subset
from tests.tiny import tiny_bundle, tiny_openai_pt, tone


def make_corpus(folder, copies=3):
    """Two 'words', each a tone of its own pitch: a task a tiny model learns in a few steps."""
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for i, (text, hz) in enumerate([("ab", 300.0), ("ba", 1200.0)] * copies):
        path = folder / f"{i}.wav"
        soundfile.write(str(path), tone(0.6, hz), 16000)
        records.append({"audio_filepath": path.name, "text": text, "duration": 0.6})
    manifest = folder / "train.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in records))
    return manifest


@pytest.fixture
def corpus(tmp_path):
    return make_corpus(tmp_path / "corpus")


def config(tmp_path, corpus, **overrides):
    pretrained = tmp_path / "tiny.pt"
    if not pretrained.exists():
        tiny_openai_pt(pretrained)
    values = dict(train_manifest=str(corpus), out_dir=str(tmp_path / "run"), init=str(pretrained),
                  max_steps=40, warmup_steps=5, batch_seconds=2.0, lr_head=3e-3, lr_encoder=3e-3, device="cpu")
    return TrainConfig(**{**values, **overrides})


def log_records(run_dir):
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def test_fine_tune_learns_and_writes_a_run_folder(tmp_path, corpus):
    output = train(config(tmp_path, corpus, dev_manifest=str(corpus), eval_every=20, log_every=5))
    run = tmp_path / "run"
    bundle = load_checkpoint(output)
    assert bundle.vocabulary.tokens[3:] == ("a", "b")
    assert bundle.metadata["steps"] == 40 and bundle.metadata["train_config"]["max_steps"] == 40
    records = log_records(run)
    losses = [r["loss"] for r in records if "loss" in r]
    assert losses[-1] < 0.5 * losses[0]
    assert [r["step"] for r in records if "dev_wer" in r] == [20, 40]
    assert (run / "best.safetensors").is_file() and (run / "config.toml").is_file()
    assert list((run / "tensorboard").iterdir())
    (tmp_path / "tiny.pt").unlink()  # the pretrained source is no longer needed
    assert load_checkpoint(output).language == "de"


def test_a_model_with_word_pieces_trains_on_them(tmp_path, corpus):
    output = train(config(tmp_path, corpus, pieces=8, dev_manifest=str(corpus), eval_every=40))
    bundle = load_checkpoint(output)
    vocabulary = bundle.vocabulary
    assert {"ab", "ba"} <= set(vocabulary.tokens)
    assert vocabulary.encode("ab ba") == [vocabulary.tokens.index("ab"), vocabulary.delimiter_id, vocabulary.tokens.index("ba")]
    assert bundle.metadata["train_config"]["pieces"] == 8
    losses = [r["loss"] for r in log_records(tmp_path / "run") if "loss" in r]
    assert losses[-1] < 0.5 * losses[0]


def test_a_lone_process_is_the_main_one_whatever_rank_the_environment_holds(tmp_path, corpus, monkeypatch):
    monkeypatch.setenv("RANK", "64")  # a shell variable of that name, without torchrun's WORLD_SIZE
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    train(config(tmp_path, corpus, max_steps=2))
    assert (tmp_path / "run" / "config.toml").is_file() and log_records(tmp_path / "run")[-1]["step"] == 2


def test_frozen_layers_stay_as_pretrained(tmp_path, corpus):
    pretrained = torch.load(tiny_openai_pt(tmp_path / "tiny.pt"), weights_only=True)["model_state_dict"]
    bundle = load_checkpoint(train(config(tmp_path, corpus, freeze_layers=1, max_steps=5)))
    state = bundle.model.state_dict()
    assert torch.equal(state["encoder.blocks.0.mlp.0.weight"], pretrained["encoder.blocks.0.mlp.0.weight"])
    assert torch.equal(state["encoder.conv1.weight"], pretrained["encoder.conv1.weight"])
    assert not torch.equal(state["encoder.blocks.1.mlp.0.weight"], pretrained["encoder.blocks.1.mlp.0.weight"])


def test_gradual_unfreezing_releases_one_layer_at_a_time():
    cfg = TrainConfig(train_manifest="x", out_dir="y", freeze_layers=4, unfreeze_every=10)
    assert [frozen_at(cfg, step, 6) for step in (0, 9, 10, 25, 40, 100)] == [4, 4, 3, 2, 0, 0]


def test_random_init_ignores_pretrained_weights(tmp_path, corpus):
    pretrained = torch.load(tiny_openai_pt(tmp_path / "tiny.pt"), weights_only=True)["model_state_dict"]
    bundle = load_checkpoint(train(config(tmp_path, corpus, random_init=True, max_steps=1)))
    assert bundle.metadata["init"] == "random"
    assert not torch.allclose(bundle.model.state_dict()["encoder.blocks.0.mlp.0.weight"], pretrained["encoder.blocks.0.mlp.0.weight"], atol=1e-2)


def test_vocabulary_transfer_copies_shared_rows(tmp_path, corpus, capsys):
    source = load_checkpoint(train(config(tmp_path, corpus, max_steps=3, out_dir=str(tmp_path / "first"))))
    # A target language with one shared character ("a") and one new one ("c").
    other = tmp_path / "other"
    other.mkdir()
    soundfile.write(str(other / "0.wav"), tone(0.6, 500.0), 16000)
    (other / "train.jsonl").write_text(json.dumps({"audio_filepath": "0.wav", "text": "ac", "duration": 0.6}) + "\n")
    cfg = config(tmp_path, other / "train.jsonl", init=str(tmp_path / "first" / "last.safetensors"), out_dir=str(tmp_path / "second"),
                 max_steps=1, lr_head=0.0, lr_encoder=0.0, weight_decay=0.0)
    target = load_checkpoint(train(cfg))
    assert "new c" in capsys.readouterr().out
    old, new = source.vocabulary.tokens, target.vocabulary.tokens
    for token in ("<blank>", "|", "a"):
        assert torch.equal(target.model.head.weight[new.index(token)], source.model.head.weight[old.index(token)])
    assert torch.equal(target.model.encoder.conv1.weight, source.model.encoder.conv1.weight)


def test_wav2letter_from_scratch(tmp_path, corpus):
    bundle = load_checkpoint(train(config(tmp_path, corpus, init="none", architecture="wav2letter",
                                          model_size="channels=16,wide_channels=32,n_layer=5", max_steps=3)))
    assert bundle.architecture == "wav2letter" and bundle.model.num_layers == 5


def test_dropout_acts_in_training_above_the_frozen_layers_only_and_changes_what_training_learns(tmp_path, corpus):
    model = tiny_bundle().model
    features, lengths = torch.randn(2, 80, 40), torch.tensor([40, 30])
    plain = model.eval()(features, lengths)[0]
    model.set_dropout(0.5, first_layer=1)
    assert torch.equal(model(features, lengths)[0], plain)  # eval mode: no dropout, the exported model's output
    model.train()
    frozen_outputs = []
    model.layers[0].register_forward_hook(lambda module, inputs, output: frozen_outputs.append(output))
    assert not torch.allclose(model(features, lengths)[0], model(features, lengths)[0])
    assert torch.equal(*frozen_outputs)  # the frozen layer below first_layer runs as pretrained

    without = load_checkpoint(train(config(tmp_path, corpus, max_steps=5))).model.state_dict()
    with_dropout = load_checkpoint(train(config(tmp_path, corpus, max_steps=5, dropout=0.3, out_dir=str(tmp_path / "dropout")))).model.state_dict()
    assert not torch.equal(without["head.weight"], with_dropout["head.weight"])


def test_dropout_is_refused_for_an_architecture_without_it(tmp_path, corpus):
    with pytest.raises(ValueError, match="the wav2letter architecture has no dropout"):
        train(config(tmp_path, corpus, init="none", architecture="wav2letter", model_size="channels=16,wide_channels=32,n_layer=5",
                     dropout=0.1, max_steps=1))
    with pytest.raises(ValueError, match=r"dropout must be a probability in \[0, 1\), not 1.0"):
        config(tmp_path, corpus, dropout=1.0)


@pytest.mark.parametrize("model_size, message", [
    ("residual=maybe", "option residual='maybe': give true or false"),
    ("channels=wide", "option channels='wide': give an int"),
])
def test_model_size_values_of_the_wrong_type_are_refused_by_name(tmp_path, corpus, model_size, message):
    cfg = config(tmp_path, corpus, init="none", architecture="wav2letter", model_size=model_size)
    with pytest.raises(ValueError, match=message):
        initial_model(cfg, None, report=False)
    yes = config(tmp_path, corpus, init="none", architecture="wav2letter", model_size="channels=16,wide_channels=32,n_layer=5,residual=no")
    assert not any(initial_model(yes, Vocabulary.from_transcripts(["ab"]), report=False).model.shortcuts)


def test_config_file_with_overrides(tmp_path):
    (tmp_path / "run.toml").write_text('train_manifest = "t.jsonl"\nout_dir = "r"\nmax_steps = 7\nlr_head = 1\n[augment]\nnoise_prob = 0.5\n')
    cfg = load_config(tmp_path / "run.toml", {"max_steps": 9})
    assert (cfg.max_steps, cfg.lr_head) == (9, 1.0)
    assert augment_config(cfg.augment).noise_prob == 0.5
    assert augment_config("telephone").telephone_prob == 1.0
    assert augment_config("gain_prob=0.25").gain_prob == 0.25
    (tmp_path / "run.yaml").write_text("train_manifest: t.jsonl\nout_dir: r\nfreeze_layers: 3\n")
    assert load_config(tmp_path / "run.yaml", {}).freeze_layers == 3
    with pytest.raises(ValueError, match="unknown training options"):
        load_config(None, {"train_manifest": "t", "out_dir": "r", "lr": 1})
    with pytest.raises(ValueError, match="missing required"):
        load_config(None, {"train_manifest": "t"})


@pytest.mark.parametrize("schedule", ["cosine", "tri-stage", "constant"])
def test_schedules_warm_up_then_decay(schedule):
    cfg = TrainConfig(train_manifest="x", out_dir="y", schedule=schedule, warmup_steps=10, max_steps=110)
    factors = [lr_factor(cfg, s) for s in range(110)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a <= b + 1e-12 for a, b in zip(factors[:10], factors[1:10]))
    if schedule == "constant":
        assert factors[-1] == 1.0
    else:
        assert factors[-1] < 0.1 and all(a >= b - 1e-12 for a, b in zip(factors[10:], factors[11:]))


def test_train_fraction_keeps_a_fixed_share_of_the_hours():
    utterances = [Utterance(audio_filepath=f"{i}.wav", text="a", duration=1.0 + i % 3) for i in range(100)]
    cfg = TrainConfig(train_manifest="x", out_dir="y", train_fraction=0.3)
    subset = training_subset(utterances, cfg)
    hours = sum(u.duration for u in subset) / sum(u.duration for u in utterances)
    assert 0.3 <= hours < 0.33 and subset == training_subset(utterances, cfg)


def test_train_voices_keeps_a_fixed_choice_of_speakers():
    utterances = [Utterance(audio_filepath=f"{i}.wav", text="a", duration=1.0, speaker=f"voice-{i % 10}") for i in range(100)]
    cfg = TrainConfig(train_manifest="x", out_dir="y", train_voices=3)
    subset = training_subset(utterances, cfg)
    assert len({u.speaker for u in subset}) == 3 and len(subset) == 30 and subset == training_subset(utterances, cfg)
    halved = training_subset(utterances, TrainConfig(train_manifest="x", out_dir="y", train_voices=3, train_fraction=0.5))
    assert {u.speaker for u in halved} <= {u.speaker for u in subset} and len(halved) == 15
    with pytest.raises(ValueError, match="only 10 speakers"):
        training_subset(utterances, TrainConfig(train_manifest="x", out_dir="y", train_voices=11))


def test_batches_hold_similar_lengths_within_the_budget():
    utterances = [Utterance(audio_filepath=f"{i}.wav", text="a", duration=d) for i, d in enumerate([1, 9, 2, 8, 3, 7, 1.5, 8.5])]
    batches = length_bucketed_batches(utterances, batch_seconds=10, rng=random.Random(0))
    assert sorted(i for b in batches for i in b) == list(range(8))
    for batch in batches:
        durations = [utterances[i].duration for i in batch]
        assert sum(durations) <= 10 or len(batch) == 1
        assert max(durations) - min(durations) <= 2


def test_micro_batches_come_padded_to_a_few_lengths(tmp_path):
    # The CPU kernels are built and kept per input shape (asr.features.FRAME_MULTIPLE): padded, training meets a few.
    utterances = []
    for i in range(12):
        seconds = 0.3 + 0.037 * i  # 12 lengths, 30 to 70 frames
        soundfile.write(str(tmp_path / f"{i}.wav"), tone(seconds, 440.0), 16000)
        utterances.append(Utterance(audio_filepath=str(tmp_path / f"{i}.wav"), text="a", duration=seconds))
    plan = [[i] for i in range(12)]
    batches = MicroBatches(plan, 0, 0, 0, 1, 1, utterances, [torch.tensor([3])] * 12, FrontendConfig(), AugmentConfig(), None, 0)
    frames = [batches[k]["features"].shape[-1] for k in range(len(batches))]
    lengths = [int(batches[k]["feature_lengths"][0]) for k in range(len(batches))]
    assert all(f % FRAME_MULTIPLE == 0 and length <= f < length + FRAME_MULTIPLE for f, length in zip(frames, lengths))
    assert len(set(frames)) <= 3 < len(set(lengths))


def test_a_finished_run_started_again_changes_nothing(tmp_path, corpus, capsys):
    cfg = config(tmp_path, corpus, max_steps=4)
    first = load_checkpoint(train(cfg)).model.state_dict()
    capsys.readouterr()
    second = load_checkpoint(train(cfg)).model.state_dict()
    assert "already finished" in capsys.readouterr().out
    assert all(torch.equal(first[k], second[k]) for k in first)
    more = load_checkpoint(train(config(tmp_path, corpus, max_steps=6)))  # a longer run continues it
    assert more.metadata["steps"] == 6
    # The same run under another path (runs/release/LANG linked to a candidate's run): finished, not refused.
    (tmp_path / "linked").symlink_to(tmp_path / "run")
    capsys.readouterr()
    train(dataclasses.replace(config(tmp_path, corpus, max_steps=6), out_dir=str(tmp_path / "linked")))
    assert "already finished" in capsys.readouterr().out


@pytest.mark.filterwarnings("error::tqdm.TqdmWarning")  # a bar past its total: on a terminal, tqdm raises
def test_a_time_budget_run_started_again_or_given_more_time(tmp_path, corpus, capsys):
    cfg = config(tmp_path, corpus, max_steps=10_000, time_budget=1.0, eval_every=0)
    first = load_checkpoint(train(cfg))
    capsys.readouterr()
    again = load_checkpoint(train(cfg))  # stopped past its budget: the progress bar starts full
    assert "already finished" in capsys.readouterr().out
    assert again.metadata["steps"] == first.metadata["steps"]
    # A second past what the first run used (one step may outlast the first budget on a loaded machine).
    more_time = first.metadata["train_seconds"] + 1.0
    more = load_checkpoint(train(config(tmp_path, corpus, max_steps=10_000, time_budget=more_time, eval_every=0)))
    assert more.metadata["steps"] > first.metadata["steps"]


def test_a_run_its_steps_end_before_its_time_budget_ends_its_progress_at_100_percent(tmp_path, corpus, capsys):
    train(config(tmp_path, corpus, max_steps=3, time_budget=1000.0, eval_every=0))
    last = [line for line in capsys.readouterr().err.splitlines() if line.startswith("training:")][-1]
    assert last.startswith("training: 100% ")


def test_max_steps_0_decays_the_schedule_over_the_steps_the_time_budget_reaches(tmp_path, corpus, monkeypatch, capsys):
    import types

    import training.train

    clock = iter(range(10_000))  # every step takes half a second of training time
    monkeypatch.setattr(training.train, "time", types.SimpleNamespace(monotonic=lambda: next(clock) / 2, time=lambda: 0.0))
    cfg = config(tmp_path, corpus, max_steps=0, time_budget=10.0, warmup_steps=5, log_every=1)
    bundle = load_checkpoint(train(cfg))
    records = log_records(tmp_path / "run")
    # measured over steps 1-5 (the first one's start-up left out): 2 steps a second, 20 in 10 s
    assert [r["max_steps"] for r in records if r.get("event") == "max_steps"] == [20]
    assert bundle.metadata["steps"] == 20
    lrs = [r["lr"] for r in records if "lr" in r]
    assert max(lrs) == pytest.approx(3e-3) and lrs[-1] == pytest.approx(0.0, abs=1e-12)  # warmed up, then decayed to the end
    capsys.readouterr()
    assert load_checkpoint(train(cfg)).metadata["steps"] == 20  # the measured length is the run's: started again, it is done
    assert "already finished" in capsys.readouterr().out
    train(dataclasses.replace(cfg, time_budget=20.0))  # more time alone does not move the schedule's end: it says how
    assert "give --max-steps beyond 20" in capsys.readouterr().out
    with pytest.raises(ValueError, match="give --time-budget"):
        config(tmp_path, corpus, max_steps=0)


def test_training_with_augmentation_runs(tmp_path, corpus):
    bundle = load_checkpoint(train(config(tmp_path, corpus, augment="default", spec_augment=True, max_steps=3)))
    assert bundle.metadata["train_config"]["augment"] == "default"


def test_resume_refuses_a_changed_setting_but_not_one_newer_than_the_run():
    from dataclasses import asdict

    config = TrainConfig(train_manifest="x", out_dir="y")
    saved = asdict(config)
    check_resumable(saved, dataclasses.replace(config, max_steps=99, time_budget=60.0), Path("state.pt"))  # how long: may change
    with pytest.raises(ValueError, match="cannot resume with a different config \\(lr_head: "):
        check_resumable(saved, dataclasses.replace(config, lr_head=0.5), Path("state.pt"))
    del saved["train_voices"]  # a run saved before the setting existed resumes at its default
    check_resumable(saved, config, Path("state.pt"))
    with pytest.raises(ValueError, match="train_voices: 0 -> 3"):
        check_resumable(saved, dataclasses.replace(config, train_voices=3), Path("state.pt"))


def test_auto_data_workers_take_the_cores_beside_a_gpu_and_none_on_a_cpu(monkeypatch):
    from training.data import resolve_workers

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(16)))
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert resolve_workers(-1, torch.device("cuda")) == 14
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # four ranks of torchrun share the 16 cores
    assert resolve_workers(-1, torch.device("cuda")) == 2
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "16")
    assert resolve_workers(-1, torch.device("cuda")) == 1
    assert resolve_workers(-1, torch.device("cpu")) == 0
    assert resolve_workers(3, torch.device("cpu")) == 3
