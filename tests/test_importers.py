"""Importers on small fixtures laid out like the real corpora, bad rows included."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from asr.cli import main
from asr.corpora.importers import import_commonvoice, import_librispeech, import_table
from asr.corpora.manifest import read_manifest

CV_HEADER = "client_id\tpath\tsentence_id\tsentence\tsentence_domain\tup_votes\tdown_votes\tage\tgender\taccents\tvariant\tlocale\tsegment"


def write_audio_file(path, seconds, rate=16000, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(str(path), (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), rate, **kwargs)
    return path


def reasons(result):
    return [(row.line, row.reason) for row in result.bad_rows]


@pytest.fixture
def librispeech(tmp_path):
    root = tmp_path / "LibriSpeech"
    chapter = root / "dev-clean" / "84" / "121123"
    write_audio_file(chapter / "84-121123-0000.flac", 1.5)
    write_audio_file(chapter / "84-121123-0001.flac", 0.75)
    (chapter / "84-121123-0003.flac").write_bytes(b"fLaC but not really")
    (chapter / "84-121123.trans.txt").write_text(
        "84-121123-0000 GO DO YOU HEAR\n"
        "84-121123-0001 BUT IN LESS THAN FIVE MINUTES\n"
        "84-121123-0002 THE STAIRCASE GROANED\n"  # no audio file
        "84-121123-0003 A CORRUPT FILE\n"
        "84-121123-0004 \n"  # no transcript
        "garbage\n"
    )
    other = root / "test-clean" / "1089" / "134686"
    write_audio_file(other / "1089-134686-0000.flac", 2.0)
    (other / "1089-134686.trans.txt").write_text("1089-134686-0000 HE HOPED THERE WOULD BE STEW\n")
    return root


def test_librispeech(librispeech, tmp_path):
    results = {r.manifest.stem: r for r in import_librispeech(librispeech, tmp_path / "out", progress=False)}
    assert set(results) == {"dev-clean", "test-clean"}
    dev = results["dev-clean"]
    assert (dev.rows, dev.utterances) == (6, 2)
    assert dev.hours == pytest.approx(2.25 / 3600)
    assert reasons(dev) == [(3, "missing file"), (4, "unreadable audio"), (5, "empty text"), (6, "malformed row")]
    assert all(row.source.name == "84-121123.trans.txt" for row in dev.bad_rows)
    assert "2 of 6 rows imported" in dev.summary() and "1 empty text" in dev.summary()

    utterances = read_manifest(tmp_path / "out" / "dev-clean.jsonl")
    assert [(u.text, u.speaker, u.lang, u.duration) for u in utterances] == [
        ("GO DO YOU HEAR", "84", "en", 1.5),
        ("BUT IN LESS THAN FIVE MINUTES", "84", "en", 0.75),
    ]
    assert utterances[0].extra == {"chapter": "121123", "utterance_id": "84-121123-0000"}
    assert utterances[0].audio_filepath == (librispeech / "dev-clean/84/121123/84-121123-0000.flac").resolve()

    # one subset given directly
    [single] = import_librispeech(librispeech / "test-clean", tmp_path / "one", progress=False)
    assert single.manifest.name == "test-clean.jsonl" and single.utterances == 1


@pytest.fixture
def commonvoice(tmp_path):
    root = tmp_path / "cv" / "de"
    clips = root / "clips"
    write_audio_file(clips / "common_voice_de_1.mp3", 2.0, rate=48000, format="MP3")
    write_audio_file(clips / "common_voice_de_2.mp3", 3.0, rate=48000, format="MP3")
    write_audio_file(clips / "common_voice_de_3.mp3", 1.0, rate=48000, format="MP3")
    (clips / "common_voice_de_4.mp3").write_bytes(b"\x00" * 100)
    row = lambda client, clip, sentence, extra="": f"{client}\t{clip}\tsid\t{sentence}\t\t2\t0\t{extra}\tde\t"
    (root / "train.tsv").write_text(
        "\n".join([
            CV_HEADER,
            row("aaa", "common_voice_de_1.mp3", "Ich habe \"Hunger\".", "twenties\tmale_masculine\tDeutschland\t"),
            row("bbb", "common_voice_de_2.mp3", "Guten Morgen!", "\t\t\t"),
            row("ccc", "common_voice_de_9.mp3", "Die Datei fehlt.", "\t\t\t"),
            row("ddd", "common_voice_de_4.mp3", "Kaputt.", "\t\t\t"),
            row("eee", "common_voice_de_3.mp3", " ... ", "\t\t\t"),
            "too\tfew\tfields",
        ]) + "\n"
    )  # fmt: skip
    (root / "dev.tsv").write_text(CV_HEADER + "\n" + row("fff", "common_voice_de_3.mp3", "Eins zwei drei.", "\t\t\t") + "\n")
    (root / "test.tsv").write_text(CV_HEADER + "\n")
    return root


def test_commonvoice(commonvoice, tmp_path):
    results = {r.manifest.stem: r for r in import_commonvoice(commonvoice, tmp_path / "out", progress=False)}
    train = results["train"]
    assert (train.rows, train.utterances) == (6, 2)
    assert reasons(train) == [(4, "missing file"), (5, "unreadable audio"), (6, "empty text"), (7, "malformed row")]
    utterances = read_manifest(train.manifest)
    assert [u.text for u in utterances] == ['Ich habe "Hunger".', "Guten Morgen!"]  # the lone quotes survive
    assert [u.speaker for u in utterances] == ["aaa", "bbb"] and {u.lang for u in utterances} == {"de"}
    assert [u.duration for u in utterances] == pytest.approx([2.0, 3.0], abs=0.06)  # MP3 frames pad a little
    assert utterances[0].extra == {"sentence_id": "sid", "up_votes": "2", "down_votes": "0", "age": "twenties",
                                   "gender": "male_masculine", "accents": "Deutschland"}  # fmt: skip
    assert utterances[0].audio_filepath.suffix == ".mp3"
    assert results["dev"].utterances == 1 and results["test"].utterances == 0


def test_commonvoice_converted_to_16k_wav(commonvoice, tmp_path):
    [dev] = import_commonvoice(commonvoice, tmp_path / "out", tables=["dev"], convert=True, jobs=2, progress=False)
    [utterance] = read_manifest(dev.manifest)
    assert utterance.audio_filepath == (tmp_path / "out" / "wav" / "dev" / "common_voice_de_3.wav").resolve()
    info = soundfile.info(str(utterance.audio_filepath))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert utterance.duration == pytest.approx(info.duration)
    # the manifest's relative path keeps the corpus folder movable
    assert '"audio_filepath": "wav/dev/common_voice_de_3.wav"' in dev.manifest.read_text()


def test_csv_with_and_without_header(tmp_path):
    write_audio_file(tmp_path / "audio" / "a.wav", 1.0)
    write_audio_file(tmp_path / "audio" / "b.flac", 0.5, rate=22050)
    with_header = tmp_path / "corpus.csv"
    with_header.write_text(
        'speaker,transcript,file\nanna,"Hallo, Welt",audio/a.wav\nbob,Tschüss,audio/b.flac\ncarl,,audio/a.wav\n'
        "dora,Wo bin ich,audio/none.wav\n\n"
    )
    result = import_table(with_header, tmp_path / "out", lang="de", progress=False)
    assert reasons(result) == [(4, "empty text"), (5, "missing file")]
    utterances = read_manifest(result.manifest)
    assert [(u.text, u.speaker, u.lang) for u in utterances] == [("Hallo, Welt", "anna", "de"), ("Tschüss", "bob", "de")]
    assert [u.duration for u in utterances] == pytest.approx([1.0, 0.5], abs=1e-3)

    headerless = tmp_path / "list.tsv"
    headerless.write_text(f"{tmp_path / 'audio' / 'a.wav'}\thallo welt\naudio/b.flac\n")
    result = import_table(headerless, tmp_path / "out", progress=False)
    assert result.utterances == 1 and reasons(result) == [(2, "malformed row")]


def test_cli_reports_bad_rows_with_their_lines(librispeech, tmp_path, capsys):
    assert main(["data", "import", "librispeech", str(librispeech), "--out", str(tmp_path / "out"), "--jobs", "1"]) == 0
    captured = capsys.readouterr()
    assert "84-121123.trans.txt, line 3: missing file" in captured.err
    assert "line 4: unreadable audio" in captured.err and "line 5: empty text" in captured.err
    assert "dev-clean.jsonl: 2 of 6 rows imported" in captured.out and "4 skipped" in captured.out
    assert main(["data", "import", "commonvoice", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2
