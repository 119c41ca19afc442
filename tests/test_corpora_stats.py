from __future__ import annotations

import json

import pytest

from asr.cli import main
from asr.corpora.stats import corpus_stats, duration_histogram, format_stats
from asr.corpora.manifest import Utterance, write_manifest


@pytest.fixture
def utterances(tmp_path):
    return [
        Utterance(tmp_path / "a.wav", "Grüß Gott", 1.2, speaker="anna", lang="de"),
        Utterance(tmp_path / "b.wav", "grüß gott, anna", 3.6, speaker="anna", lang="de"),
        Utterance(tmp_path / "c.wav", "Ein Café", 7.2, speaker="bob", lang="de"),
        Utterance(tmp_path / "d.wav", "no language", 0.5),
    ]


def test_counts(utterances):
    stats = corpus_stats(utterances)
    assert stats.utterances == 4 and stats.speakers == 2
    assert stats.hours == pytest.approx(12.5 / 3600)
    assert stats.utterances_per_speaker == {"anna": 2, "bob": 1}
    assert stats.langs == {"de": 3, "": 1}
    assert stats.duration_seconds == {"min": 0.5, "mean": 3.125, "median": 2.4, "max": 7.2}
    assert stats.characters["ü"] == 2 and stats.characters["G"] == 2 and "," in stats.characters
    assert stats.uncovered_characters == {"é": 1}  # "café" needs a letter German's alphabet lacks
    assert (stats.words, stats.distinct_words) == (9, 7)  # grüß gott anna ein café no language
    assert sum(n for _, _, n in stats.histogram) == 4


def test_histogram_bins():
    assert duration_histogram([0.0, 0.9, 1.0, 2.5, 3.0], bin_seconds=1.0) == [(0.0, 1.0, 2), (1.0, 2.0, 1), (2.0, 3.0, 2)]
    assert duration_histogram([]) == []
    assert len(duration_histogram([0.3, 19.9])) <= 12  # automatic width


def test_report_and_cli(utterances, tmp_path, capsys):
    text = format_stats(corpus_stats(utterances), "m.jsonl")
    assert "utterances: 4" in text and "speakers: 2" in text and "'é' 1" in text and "#" in text
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, utterances)
    assert main(["data", "stats", str(manifest), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)[str(manifest)]
    assert report["utterances"] == 4 and report["speakers"] == 2
    assert report["histogram"][0] == {"from": 0.0, "to": 1.0, "utterances": 1}
    assert main(["data", "stats", str(manifest)]) == 0
    assert "hours: 0.003" in capsys.readouterr().out
    assert main(["data", "stats", str(tmp_path / "missing.jsonl")]) == 2
