"""Importers: real speech corpora into manifests.

    import_librispeech("LibriSpeech/", "data/ls")        # one manifest per subset (dev-clean.jsonl, ...)
    import_commonvoice("cv-corpus-17.0/de/", "data/cv")  # train.jsonl, dev.jsonl, test.jsonl
    import_table("my_corpus.tsv", "data/mine")           # my_corpus.jsonl

Every row's audio is decoded once (with asr.audio.load_audio, so any format
soundfile reads, Common Voice's MP3 included), which gives its duration and
proves it readable. A row that cannot be used (a missing file, audio that does
not decode, an empty transcript, a malformed line) is reported with its file
and line and skipped; `ImportResult` counts them. With `convert=True` the audio
is also written as 16 kHz mono WAV under out_dir/wav/<manifest name>/, which
trains faster than decoding MP3 every epoch; otherwise the manifest points at
the original files by absolute path.

Transcripts are kept as the corpus writes them (LibriSpeech's capitals
included): training normalises them with asr.text.normalize_transcript.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path

import soundfile
import torch

from asr.audio import SAMPLE_RATE, AudioError, load_audio, write_audio
from asr.progress import progress
from asr.corpora.manifest import Utterance, write_manifest
from asr.text import ALPHABETS, normalize_transcript

COMMONVOICE_TABLES = ("train", "dev", "test")
# Common Voice columns kept as extra manifest keys when they hold a value
COMMONVOICE_EXTRA = ("sentence_id", "up_votes", "down_votes", "age", "gender", "accents", "variant", "segment")
PATH_COLUMNS = ("audio_filepath", "path", "audio", "file", "filename", "wav")
TEXT_COLUMNS = ("text", "transcript", "transcription", "sentence")
SPEAKER_COLUMNS = ("speaker", "client_id", "speaker_id")


@dataclass(frozen=True)
class BadRow:
    """A row of a corpus listing that was skipped, and why."""

    source: Path
    line: int
    reason: str  # the kind: "missing file", "unreadable audio", "empty text", "malformed row"
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.source}, line {self.line}: {self.reason}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class ImportResult:
    """One manifest written by an importer."""

    manifest: Path
    rows: int = 0
    utterances: int = 0
    seconds: float = 0.0
    bad_rows: list[BadRow] = field(default_factory=list)

    @property
    def hours(self) -> float:
        return self.seconds / 3600

    def summary(self) -> str:
        counts = Counter(row.reason for row in self.bad_rows)
        skipped = ", ".join(f"{count} {reason}" for reason, count in sorted(counts.items()))
        return (
            f"{self.manifest}: {self.utterances} of {self.rows} rows imported, {self.hours:.3f} h"
            + (f"; {len(self.bad_rows)} skipped ({skipped})" if self.bad_rows else "")
        )


@dataclass(frozen=True)
class _Row:
    """A listing row that names audio and a transcript, before its audio is checked."""

    source: Path
    line: int
    audio: Path
    text: str
    speaker: str | None = None
    lang: str | None = None
    extra: dict = field(default_factory=dict, hash=False)
    wav_name: str = ""  # file name under out_dir/wav/<manifest>/ when converting


# --- the corpora ----------------------------------------------------------------------


def import_librispeech(
    root: str | Path, out_dir: str | Path, lang: str = "en", convert: bool = False, jobs: int = 1, progress: bool = True
) -> list[ImportResult]:
    """LibriSpeech: <subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt and <id>.flac.

    `root` is the folder holding subsets (LibriSpeech/) or one subset; each
    subset becomes <subset>.jsonl. Speaker is the reader's id; extra keys
    "chapter" and "utterance_id".
    """
    root = Path(root)
    transcripts = sorted(root.rglob("*.trans.txt"))
    if not transcripts:
        raise FileNotFoundError(f"{root}: no LibriSpeech transcripts (*/*/*.trans.txt) found")
    subsets: dict[str, list[Path]] = {}
    for path in transcripts:
        subset = path.parent.parent.parent  # <subset>/<speaker>/<chapter>/x.trans.txt
        subsets.setdefault(subset.name, []).append(path)
    results = []
    for name, paths in sorted(subsets.items()):
        rows, bad = [], []
        for path in paths:
            for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                utterance_id, _, text = line.strip().partition(" ")
                parts = utterance_id.split("-")
                if len(parts) != 3:
                    detail = f"expected '<speaker>-<chapter>-<n> TEXT', got {line.strip()[:60]!r}"
                    bad.append(BadRow(path, line_number, "malformed row", detail))
                    continue
                rows.append(
                    _Row(
                        path, line_number, path.parent / f"{utterance_id}.flac", text, speaker=parts[0], lang=lang,
                        extra={"chapter": parts[1], "utterance_id": utterance_id}, wav_name=f"{utterance_id}.wav",
                    )
                )  # fmt: skip
        results.append(_import_rows(rows, bad, Path(out_dir) / f"{name}.jsonl", lang, convert, jobs, progress))
    return results


def import_commonvoice(
    root: str | Path,
    out_dir: str | Path,
    tables: Iterable[str] = COMMONVOICE_TABLES,
    lang: str | None = None,
    convert: bool = False,
    jobs: int = 1,
    progress: bool = True,
) -> list[ImportResult]:
    """Mozilla Common Voice: <table>.tsv (train, dev, test, validated, ...) beside clips/*.mp3.

    Each table becomes <table>.jsonl. `client_id` becomes the speaker and
    `locale` the language (or `lang` where the table has no locale column);
    votes, age, gender, accents, variant and segment are kept when they hold a value.
    """
    root = Path(root)
    results = []
    for table in tables:
        path = root / (table if table.endswith(".tsv") else f"{table}.tsv")
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such Common Voice table")
        rows, bad = [], []
        with open(path, encoding="utf-8", newline="") as file:
            # Common Voice does not quote: a sentence may hold a lone double quote
            reader = csv.reader(file, delimiter="\t", quoting=csv.QUOTE_NONE)
            header = next(reader, None)
            if header is None or "path" not in header or "sentence" not in header:
                raise ValueError(f"{path}: not a Common Voice table (its header has no 'path' and 'sentence' columns)")
            for line_number, values in enumerate(reader, start=2):
                if not any(v.strip() for v in values):
                    continue
                if len(values) != len(header):
                    detail = f"{len(values)} fields, the header has {len(header)}"
                    bad.append(BadRow(path, line_number, "malformed row", detail))
                    continue
                record = dict(zip(header, values))
                extra = {key: record[key] for key in COMMONVOICE_EXTRA if record.get(key, "").strip()}
                clip = record["path"]
                rows.append(
                    _Row(
                        path, line_number, root / "clips" / clip, record["sentence"],
                        speaker=record.get("client_id") or None, lang=record.get("locale") or lang,
                        extra=extra, wav_name=f"{Path(clip).stem}.wav",
                    )
                )  # fmt: skip
        out = Path(out_dir) / f"{Path(table).stem}.jsonl"
        results.append(_import_rows(rows, bad, out, lang, convert, jobs, progress))
    return results


def import_table(
    table: str | Path,
    out_dir: str | Path,
    lang: str | None = None,
    delimiter: str | None = None,
    convert: bool = False,
    jobs: int = 1,
    progress: bool = True,
) -> ImportResult:
    """A plain CSV or TSV of (audio path, transcript) rows; becomes <table stem>.jsonl.

    The delimiter is a tab for .tsv and a comma otherwise, unless given. A first
    row naming a path column (audio_filepath, path, audio, file, filename, wav)
    and a text column (text, transcript, transcription, sentence) is a header,
    and then a speaker column (speaker, client_id, speaker_id) is used too;
    without a header the first two columns are path and text. Relative paths
    are relative to the table's folder.
    """
    table = Path(table)
    if delimiter is None:
        delimiter = "\t" if table.suffix.lower() == ".tsv" else ","
    rows, bad = [], []
    with open(table, encoding="utf-8-sig", newline="") as file:
        lines = list(csv.reader(file, delimiter=delimiter))
    path_column, text_column, speaker_column, first = 0, 1, None, 1
    if lines:
        names = [name.strip().lower() for name in lines[0]]
        found_path = next((names.index(n) for n in PATH_COLUMNS if n in names), None)
        found_text = next((names.index(n) for n in TEXT_COLUMNS if n in names), None)
        if found_path is not None and found_text is not None:
            path_column, text_column, first = found_path, found_text, 2
            speaker_column = next((names.index(n) for n in SPEAKER_COLUMNS if n in names), None)
    folder = table.resolve().parent
    for line_number, values in enumerate(lines[first - 1 :], start=first):
        if not any(v.strip() for v in values):
            continue
        needed = max(path_column, text_column, speaker_column or 0)
        if len(values) <= needed:
            bad.append(BadRow(table, line_number, "malformed row", f"{len(values)} field(s), need {needed + 1}"))
            continue
        audio = values[path_column].strip()
        if not audio:
            bad.append(BadRow(table, line_number, "missing file", "no audio path"))
            continue
        speaker = values[speaker_column].strip() or None if speaker_column is not None else None
        rows.append(
            _Row(table, line_number, folder / audio, values[text_column], speaker=speaker, lang=lang,
                 wav_name=f"{line_number:07d}-{Path(audio).stem}.wav")
        )  # fmt: skip
    return _import_rows(rows, bad, Path(out_dir) / f"{table.stem}.jsonl", lang, convert, jobs, progress)


# --- the common part ------------------------------------------------------------------------


def _import_rows(
    rows: list[_Row], bad: list[BadRow], manifest: Path, lang: str | None, convert: bool, jobs: int, progress: bool
) -> ImportResult:
    """Check each row's text and audio, write the manifest of the good ones, and report the rest."""
    result = ImportResult(manifest, rows=len(rows) + len(bad))
    candidates = []
    for row in rows:
        if _is_empty(row.text, row.lang or lang):
            bad.append(BadRow(row.source, row.line, "empty text"))
        else:
            candidates.append(row)
    wav_dir = manifest.parent / "wav" / manifest.stem
    if convert:
        wav_dir.mkdir(parents=True, exist_ok=True)
        for partial in wav_dir.glob("*.partial"):  # left by an interrupted run
            partial.unlink()
    tasks = [(row.audio, wav_dir / row.wav_name if convert else None) for row in candidates]
    if jobs > 1 and len(tasks) > 1:
        with Pool(jobs, initializer=_init_worker) as pool:
            outcomes = list(_progress(pool.imap(_probe, tasks, chunksize=8), len(tasks), manifest.name, progress))
    else:
        outcomes = list(_progress(map(_probe, tasks), len(tasks), manifest.name, progress))
    utterances = []
    for row, (duration, reason, detail) in zip(candidates, outcomes):
        if reason is not None:
            bad.append(BadRow(row.source, row.line, reason, detail))
            continue
        audio = wav_dir / row.wav_name if convert else row.audio.resolve()
        text = " ".join(row.text.split())
        utterances.append(Utterance(audio, text, duration, speaker=row.speaker, lang=row.lang or lang, extra=row.extra))
        result.seconds += duration
    result.utterances = len(utterances)
    result.bad_rows = sorted(bad, key=lambda b: (str(b.source), b.line))
    write_manifest(manifest, utterances)
    return result


def _is_empty(text: str, lang: str | None) -> bool:
    if lang in ALPHABETS:
        return not normalize_transcript(text, lang)
    return not re.sub(r"[\W_]+", "", text)


def _probe(task: tuple[Path, Path | None]) -> tuple[float, str | None, str]:
    """(duration in seconds, None, "") for audio that decodes, else (0, reason, detail); converts if asked."""
    audio, wav = task
    if not audio.is_file():
        return 0.0, "missing file", str(audio)
    if wav is not None and wav.is_file():  # converted by an earlier run; write_audio renames whole files into place
        return soundfile.info(str(wav)).duration, None, ""
    try:
        rate = soundfile.info(str(audio)).samplerate
        wave = load_audio(audio, SAMPLE_RATE if wav is not None else rate)  # no resampling unless converting
    except (AudioError, RuntimeError, ValueError) as error:
        return 0.0, "unreadable audio", str(error)
    if wav is not None:
        write_audio(wav, wave)
        rate = SAMPLE_RATE
    return len(wave) / rate, None, ""


def _init_worker() -> None:
    torch.set_num_threads(1)


def _progress(iterable, total: int, name: str, enabled: bool):
    return progress(iterable, total=total, desc=f"importing {name}", unit="file", disable=not enabled)
