from __future__ import annotations

import json

import pytest

from asr.corpora.manifest import Utterance, filter_utterances, read_manifest, shard, shuffled, write_manifest


def test_round_trip_stores_relative_paths_and_keeps_extra_keys(tmp_path):
    tmp_path = tmp_path.resolve()  # read_manifest gives resolved paths
    corpus = tmp_path / "corpus"
    utterances = [
        Utterance(corpus / "wav" / "a.wav", "hallo welt", 1.5, speaker="mbrola/mb-de1", lang="de"),
        Utterance(corpus / "b.wav", "grüß gott", 0.25, extra={"snr": 12.5, "tags": ["synthetic"]}),
    ]
    manifest = corpus / "train.jsonl"
    write_manifest(manifest, utterances)

    records = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines()]
    assert [r["audio_filepath"] for r in records] == ["wav/a.wav", "b.wav"]
    assert "speaker" not in records[1] and records[1]["snr"] == 12.5
    assert not (corpus / "train.jsonl.partial").exists()

    assert read_manifest(manifest) == utterances

    # relative paths follow the manifest when the folder moves
    moved = tmp_path / "moved"
    corpus.rename(moved)
    assert read_manifest(moved / "train.jsonl")[0].audio_filepath == (moved / "wav" / "a.wav").resolve()


def test_audio_outside_the_manifest_folder_keeps_its_absolute_path(tmp_path):
    audio = tmp_path / "elsewhere" / "a.wav"
    manifest = tmp_path / "manifests" / "dev.jsonl"
    write_manifest(manifest, [Utterance(audio, "text", 1.0)])
    assert json.loads(manifest.read_text())["audio_filepath"] == str(audio.resolve())
    assert read_manifest(manifest)[0].audio_filepath == audio.resolve()


def test_reading_resolves_relative_paths_against_the_manifest_folder(tmp_path):
    manifest = tmp_path / "sub" / "m.jsonl"
    manifest.parent.mkdir()
    manifest.write_text('{"audio_filepath": "../x.wav", "text": "a", "duration": 2, "speaker": 7}\n\n')
    [utterance] = read_manifest(manifest)
    assert utterance.audio_filepath == (tmp_path / "x.wav").resolve()
    assert utterance.duration == 2.0 and utterance.speaker == "7" and utterance.extra == {}


@pytest.mark.parametrize(
    "bad_line, complaint",
    [
        ("{not json", "not valid JSON"),
        ('["a.wav", "text", 1.0]', "expected a JSON object"),
        ('{"audio_filepath": "a.wav", "duration": 1.0}', "missing required key(s) text"),
        ('{"audio_filepath": "a.wav", "text": "t", "duration": "long"}', "duration must be a number"),
        ('{"audio_filepath": "a.wav", "text": "t", "duration": -1}', "not negative"),
        ('{"audio_filepath": "", "text": "t", "duration": 1}', "audio_filepath must be a non-empty string"),
        ('{"audio_filepath": "a.wav", "text": "t", "duration": 1, "lang": ["de"]}', "lang must be a string"),
    ],
)
def test_malformed_line_names_file_line_and_problem(tmp_path, bad_line, complaint):
    manifest = tmp_path / "broken.jsonl"
    good = '{"audio_filepath": "a.wav", "text": "t", "duration": 1.0}'
    manifest.write_text(f"{good}\n{good}\n{bad_line}\n")
    with pytest.raises(ValueError) as error:
        read_manifest(manifest)
    message = str(error.value)
    assert str(manifest) in message and "line 3" in message and complaint in message


def test_duration_filters_are_inclusive(tmp_path):
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, [Utterance(tmp_path / f"{d}.wav", "t", d) for d in (0.5, 1.0, 5.0, 20.0, 25.0)])
    durations = lambda **limits: [u.duration for u in read_manifest(manifest, **limits)]
    assert durations() == [0.5, 1.0, 5.0, 20.0, 25.0]
    assert durations(min_duration=1.0) == [1.0, 5.0, 20.0, 25.0]
    assert durations(max_duration=20.0) == [0.5, 1.0, 5.0, 20.0]
    assert durations(min_duration=1.0, max_duration=5.0) == [1.0, 5.0]


def test_extra_keys_may_not_shadow_standard_keys(tmp_path):
    with pytest.raises(ValueError, match="clash"):
        Utterance(tmp_path / "a.wav", "t", 1.0, extra={"text": "other"})


@pytest.fixture
def many(tmp_path):
    return [
        Utterance(tmp_path / f"{i}.wav", f"satz nummer {i}", 1.0 + i % 5, speaker=f"s{i % 3}", lang="de")
        for i in range(20)
    ]


def test_speaker_and_text_filters(tmp_path, many):
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, many + [Utterance(tmp_path / "x.wav", "ohne sprecher", 2.0)])
    assert {u.speaker for u in read_manifest(manifest, speakers={"s1"})} == {"s1"}
    assert {u.speaker for u in read_manifest(manifest, exclude_speakers=["s1"])} == {"s0", "s2", None}
    assert len(read_manifest(manifest, text_filter=r"nummer 1\d")) == 10
    assert len(read_manifest(manifest, text_filter=lambda text: "sprecher" in text)) == 1
    # positional duration limits keep working, combined with the new filters
    kept = read_manifest(manifest, 2.0, 3.0, speakers=["s0", "s2"])
    assert kept and all(2.0 <= u.duration <= 3.0 and u.speaker in ("s0", "s2") for u in kept)
    assert filter_utterances(many, max_duration=1.0) == [u for u in many if u.duration == 1.0]


def test_shuffled_is_deterministic_and_a_permutation(many):
    first = shuffled(many, seed=1)
    assert first == shuffled(many, seed=1)
    assert first != shuffled(many, seed=2) and first != many
    assert sorted(first, key=lambda u: u.audio_filepath.name) == sorted(many, key=lambda u: u.audio_filepath.name)
    assert [u.text for u in many] == [f"satz nummer {i}" for i in range(20)]  # the input is left alone


def test_shards_are_disjoint_and_cover_everything(many):
    shards = [shard(many, rank, 3) for rank in range(3)]
    assert sorted((u for s in shards for u in s), key=many.index) == many
    assert [len(s) for s in shards] == [7, 7, 6]
    assert shard(many, 1, 3) == shards[1]  # deterministic
    assert [len(shard(many, rank, 3, even=True)) for rank in range(3)] == [6, 6, 6]
    with pytest.raises(ValueError, match="rank"):
        shard(many, 3, 3)
