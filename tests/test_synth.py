from __future__ import annotations

import json
import shutil

import pytest
import soundfile

from asr.manifest import read_manifest
from asr.synth import (
    MAX_DURATION,
    SPLITS,
    VOICES,
    SynthesizerMissing,
    Voice,
    build_corpus,
    read_fortunes,
    rejection_reason,
    split_sentences,
    split_sizes,
)
from asr.text import normalize_transcript

requires_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not on PATH; scripts/setup_system.sh installs it"
)

# 30 gives dev and test 3 utterances each, so every test voice, SVOX Pico included, is synthesized
UTTERANCES = 30


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("synth-de")
    manifests = build_corpus("de", out_dir, UTTERANCES, seed=3, jobs=2)
    return out_dir, {split: read_manifest(path) for split, path in manifests.items()}


def speakers(utterances):
    return {u.speaker for u in utterances}


def test_voice_table_keeps_test_and_dev_voices_apart():
    for lang, table in VOICES.items():
        names = {split: {voice.name for voice in table[split]} for split in SPLITS}
        assert not names["test"] & (names["train"] | names["dev"]), lang
        assert not names["dev"] & names["train"], lang
        assert all(voice.lang == lang for split in SPLITS for voice in table[split])
    assert len(VOICES["de"]["train"]) >= 8
    assert {voice.name for voice in VOICES["de"]["test"]} == {"mbrola/mb-de5", "mbrola/mb-de6", "pico/de-DE"}


def test_missing_voice_names_the_debian_package():
    with pytest.raises(SynthesizerMissing, match=r"mbrola-xx9.*scripts/setup_system\.sh"):
        Voice("mbrola", "mb-xx9", "de").check()


def test_split_sizes():
    assert split_sizes(12) == {"train": 10, "dev": 1, "test": 1}
    assert split_sizes(3) == {"train": 1, "dev": 1, "test": 1}
    assert split_sizes(200) == {"train": 160, "dev": 20, "test": 20}
    with pytest.raises(ValueError):
        split_sizes(2)


def test_read_fortunes_drops_attributions_and_joins_lines(tmp_path):
    source = tmp_path / "zitate"
    source.write_text(
        "Wer nicht wagt,\ngewinnt nicht.  Sagt man.\n\t\t-- Volksmund\n\t\t   (alt)\n%\n%\nZweiter Spruch.\n",
        encoding="utf-8",
    )
    assert read_fortunes(source) == ["Wer nicht wagt, gewinnt nicht. Sagt man.", "Zweiter Spruch."]
    sentences = split_sentences('Er fragt: "Wo?" Sie sagt nichts. Ende')
    assert sentences == ['Er fragt: "Wo?', "Sie sagt nichts.", "Ende"]


@pytest.mark.parametrize(
    "sentence, reason",
    [
        ("Das kostet nur 5 Euro am Tag.", "digits"),
        ("Katzen & Hunde sind Freunde.", "spoken_symbols"),
        ("Das gilt z.B. für alle Menschen.", "abbreviation"),
        ("Äpfel, Birnen, Kirschen usw.", "abbreviation"),
        ("Die SPD regiert wieder einmal.", "acronym"),
        ("Das hab's gleich gesagt.", "apostrophe"),
        ("Ein Café am Ende der Straße.", "uncovered_characters"),
        ("Sehr gut.", "too_few_words"),
        (" ".join(["Wort"] * 21) + ".", "too_many_words"),
        ("Die Größe eines Menschen hängt nicht davon ab.", None),
    ],
)
def test_rejection_reason(sentence, reason):
    assert rejection_reason(sentence, normalize_transcript(sentence, "de"), "de") == reason


@requires_espeak
def test_audio_is_16k_mono_and_durations_match(corpus):
    _, manifests = corpus
    assert sum(len(m) for m in manifests.values()) == UTTERANCES
    for utterances in manifests.values():
        for u in utterances:
            info = soundfile.info(str(u.audio_filepath))
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            assert u.duration == pytest.approx(info.frames / info.samplerate, abs=1e-3)
            assert 0 < u.duration <= MAX_DURATION
            assert u.lang == "de" and u.text == normalize_transcript(u.text, "de")


@requires_espeak
def test_no_sentence_is_in_two_splits(corpus):
    _, manifests = corpus
    texts = {split: {u.text for u in utterances} for split, utterances in manifests.items()}
    assert not texts["train"] & texts["dev"]
    assert not texts["train"] & texts["test"]
    assert not texts["dev"] & texts["test"]


@requires_espeak
def test_voices_stay_in_their_split(corpus):
    _, manifests = corpus
    table = {split: {voice.name for voice in VOICES["de"][split]} for split in SPLITS}
    assert speakers(manifests["test"]) == table["test"]  # Pico and both MBROLA test voices
    assert speakers(manifests["dev"]) <= table["dev"]
    assert not speakers(manifests["dev"]) & (table["train"] | table["test"])
    assert speakers(manifests["train"]) <= table["train"]
    assert len(speakers(manifests["train"])) >= 2


@requires_espeak
def test_dataset_card_matches_the_manifests(corpus):
    out_dir, manifests = corpus
    card = json.loads((out_dir / "dataset_card.json").read_text(encoding="utf-8"))
    for split, utterances in manifests.items():
        assert card["splits"][split]["utterances"] == len(utterances)
        hours = sum(u.duration for u in utterances) / 3600
        assert card["splits"][split]["hours"] == pytest.approx(hours, abs=1e-4)
    assert card["sentences"]["dropped"]["digits"] > 0
    assert set(card["characters"]) <= set("abcdefghijklmnopqrstuvwxyzäöüß")
    assert (out_dir / "README.md").is_file()


@requires_espeak
def test_same_seed_gives_the_same_corpus_whatever_the_jobs(corpus, tmp_path):
    _, first = corpus
    manifests = build_corpus("de", tmp_path, UTTERANCES, seed=3, jobs=1)
    second = {split: read_manifest(path) for split, path in manifests.items()}
    for split in SPLITS:
        assert [(u.text, u.speaker) for u in second[split]] == [(u.text, u.speaker) for u in first[split]]


@requires_espeak
def test_rebuild_synthesizes_only_missing_files(corpus, tmp_path):
    out_dir = tmp_path / "copy"
    shutil.copytree(corpus[0], out_dir)
    wavs = sorted((out_dir / "wav").rglob("*.wav"))
    before = {path: path.stat().st_mtime_ns for path in wavs}
    deleted = wavs[len(wavs) // 2]
    deleted.unlink()

    manifests = build_corpus("de", out_dir, UTTERANCES, seed=3, jobs=2)

    assert deleted.is_file()
    assert {path: path.stat().st_mtime_ns for path in wavs if path != deleted} == {
        path: mtime for path, mtime in before.items() if path != deleted
    }
    assert sorted((out_dir / "wav").rglob("*.wav")) == wavs
    summary = lambda utterances: [(u.audio_filepath.name, u.text, u.speaker, u.duration) for u in utterances]
    for split in SPLITS:
        assert summary(read_manifest(manifests[split])) == summary(corpus[1][split])
