import json

import pytest

import asr.writers as writers
from asr.decoding import Word
from asr.transcribe import Segment, Transcription
from asr.writers import (
    FORMATS,
    format_timestamp,
    render,
    to_json,
    to_srt,
    to_tsv,
    to_txt,
    to_vtt,
    write_transcription,
)


def make_result() -> Transcription:
    first = [Word("hello", 0.5, 0.9, 0.91), Word("world", 1.0, 1.4, 0.875)]
    second = [Word("café", 3661.5, 3661.9, 0.5), Word("-->", 3662.0, 3662.25, 0.25)]
    return Transcription(
        text="hello world café -->",
        words=first + second,
        segments=[Segment(0.5, 1.4, "hello world", first), Segment(3661.5, 3662.25, "café -->", second)],
        duration=3663.0,
        language="en",
        source="talk.wav",
    )


EMPTY = Transcription(text="", words=[], segments=[], duration=0.0, language="en")


def test_format_timestamp():
    assert format_timestamp(0) == "00:00.000"
    assert format_timestamp(61.25) == "01:01.250"
    assert format_timestamp(3661.5) == "01:01:01.500"
    assert format_timestamp(1.5, always_include_hours=True, decimal_marker=",") == "00:00:01,500"
    assert format_timestamp(59.9996) == "01:00.000"  # rounds before splitting


def test_txt():
    assert to_txt(make_result()) == "hello world\ncafé -->\n"


def test_vtt():
    assert to_vtt(make_result()) == (
        "WEBVTT\n\n"
        "00:00.500 --> 00:01.400\nhello world\n\n"
        "01:01:01.500 --> 01:01:02.250\ncafé ->\n\n"
    )


def test_srt():
    assert to_srt(make_result()) == (
        "1\n00:00:00,500 --> 00:00:01,400\nhello world\n\n"
        "2\n01:01:01,500 --> 01:01:02,250\ncafé ->\n\n"
    )


def test_tsv():
    assert to_tsv(make_result()) == "start\tend\ttext\n500\t1400\thello world\n3661500\t3662250\tcafé -->\n"


def test_json_round_trips():
    data = json.loads(to_json(make_result()))
    assert data["text"] == "hello world café -->"
    assert data["language"] == "en"
    assert data["duration"] == 3663.0
    assert [s["id"] for s in data["segments"]] == [0, 1]
    assert data["segments"][1]["start"] == 3661.5
    assert data["segments"][0]["words"][1] == {"word": "world", "start": 1.0, "end": 1.4, "probability": 0.875}
    assert [w["probability"] for w in data["segments"][1]["words"]] == [0.5, 0.25]


def test_json_rounds_times_to_milliseconds():
    words = [Word("a", 0.1 + 0.2, 1 / 3, 0.9)]
    result = Transcription("a", words, [Segment(0.1 + 0.2, 1 / 3, "a", words)], 2 / 3, "en")
    data = json.loads(to_json(result))
    assert data["duration"] == 0.667
    assert data["segments"][0]["start"] == 0.3
    assert data["segments"][0]["words"][0]["end"] == 0.333


def test_render_matches_format_functions():
    assert render(make_result(), "srt") == to_srt(make_result())


def test_all_writes_five_files(tmp_path):
    out = tmp_path / "new" / "dir"
    paths = write_transcription(make_result(), "/audio/talk.wav", out, ["all"])
    assert paths == [out / f"talk.{ext}" for ext in FORMATS]
    assert (out / "talk.srt").read_text(encoding="utf-8") == to_srt(make_result())
    assert (out / "talk.txt").read_bytes() == "hello world\ncafé -->\n".encode("utf-8")
    assert sorted(p.name for p in out.iterdir()) == sorted(f"talk.{ext}" for ext in FORMATS)  # no .partial left


def test_selected_formats_and_overwrite(tmp_path):
    (tmp_path / "talk.vtt").write_text("old", encoding="utf-8")
    paths = write_transcription(make_result(), "talk.flac", tmp_path, ["vtt", "tsv", "vtt"])
    assert paths == [tmp_path / "talk.vtt", tmp_path / "talk.tsv"]
    assert (tmp_path / "talk.vtt").read_text(encoding="utf-8").startswith("WEBVTT\n\n00:00.500")
    assert not list(tmp_path.glob("*.partial"))


def test_single_format_string(tmp_path):
    assert write_transcription(make_result(), "talk.wav", tmp_path, "json") == [tmp_path / "talk.json"]


def test_unknown_format_raises_and_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match=r"'docx'.*txt, json, srt, vtt, tsv"):
        write_transcription(make_result(), "talk.wav", tmp_path / "out", ["txt", "docx"])
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="docx"):
        render(make_result(), "docx")


def test_empty_transcription(tmp_path):
    write_transcription(EMPTY, "silence.wav", tmp_path, ["all"])
    assert (tmp_path / "silence.txt").read_text(encoding="utf-8") == ""
    assert (tmp_path / "silence.vtt").read_text(encoding="utf-8") == "WEBVTT\n\n"
    assert (tmp_path / "silence.srt").read_text(encoding="utf-8") == ""
    assert (tmp_path / "silence.tsv").read_text(encoding="utf-8") == "start\tend\ttext\n"
    data = json.loads((tmp_path / "silence.json").read_text(encoding="utf-8"))
    assert data == {"text": "", "language": "en", "duration": 0.0, "segments": []}


def test_failed_write_leaves_no_partial(tmp_path, monkeypatch):
    (tmp_path / "talk.txt").write_text("previous", encoding="utf-8")

    def broken(_result):
        raise RuntimeError("disk full")

    monkeypatch.setitem(writers._WRITERS, "txt", broken)
    with pytest.raises(RuntimeError):
        write_transcription(make_result(), "talk.wav", tmp_path, ["txt"])
    assert (tmp_path / "talk.txt").read_text(encoding="utf-8") == "previous"  # the old file survives whole
    assert not list(tmp_path.glob("*.partial"))
