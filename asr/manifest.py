"""NeMo-style manifests: one JSON object per line describing one utterance.

    {"audio_filepath": "wav/train/0001.wav", "text": "hallo welt", "duration": 1.52, "speaker": "mbrola/de1"}

`audio_filepath`, `text` and `duration` (seconds) are required; `speaker` and
`lang` are optional and every other key is carried along untouched in `extra`.
A relative audio path is relative to the manifest's folder, so a corpus folder
can be moved or copied as a whole.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STANDARD_KEYS = ("audio_filepath", "text", "duration", "speaker", "lang")


@dataclass(frozen=True)
class Utterance:
    audio_filepath: Path
    text: str
    duration: float
    speaker: str | None = None
    lang: str | None = None
    # hash=False: a dict cannot be hashed, and equal utterances still hash alike without it
    extra: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        clashes = set(self.extra) & set(STANDARD_KEYS)
        if clashes:
            raise ValueError(f"extra keys {sorted(clashes)} clash with the standard manifest keys")


def read_manifest(
    path: str | Path, min_duration: float | None = None, max_duration: float | None = None
) -> list[Utterance]:
    """The utterances of a manifest whose duration lies within [min_duration, max_duration]."""
    path = Path(path)
    folder = path.resolve().parent
    utterances = []
    with open(path, encoding="utf-8") as file:
        for line_number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                utterance = _parse_record(line, folder)
            except ValueError as error:
                raise ValueError(f"{path}, line {line_number}: {error}") from None
            if min_duration is not None and utterance.duration < min_duration:
                continue
            if max_duration is not None and utterance.duration > max_duration:
                continue
            utterances.append(utterance)
    return utterances


def _parse_record(line: str, folder: Path) -> Utterance:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON ({error})") from None
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    missing = [key for key in ("audio_filepath", "text", "duration") if key not in record]
    if missing:
        raise ValueError(f"missing required key(s) {', '.join(missing)}")

    audio = record["audio_filepath"]
    if not isinstance(audio, str) or not audio:
        raise ValueError(f"audio_filepath must be a non-empty string, got {audio!r}")
    text = record["text"]
    if not isinstance(text, str):
        raise ValueError(f"text must be a string, got {text!r}")
    duration = record["duration"]
    # bool is an int subclass, and true is no duration
    if isinstance(duration, bool) or not isinstance(duration, (int, float)):
        raise ValueError(f"duration must be a number of seconds, got {duration!r}")
    if not math.isfinite(duration) or duration < 0:
        raise ValueError(f"duration must be finite and not negative, got {duration!r}")

    return Utterance(
        audio_filepath=(folder / audio).resolve(),  # an absolute `audio` stays as it is
        text=text,
        duration=float(duration),
        speaker=_optional_label(record, "speaker"),
        lang=_optional_label(record, "lang"),
        extra={key: value for key, value in record.items() if key not in STANDARD_KEYS},
    )


def _optional_label(record: dict, key: str) -> str | None:
    value = record.get(key)
    # NeMo speaker-recognition manifests number their speakers
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key} must be a string, got {value!r}")
    return value


def write_manifest(path: str | Path, utterances: Iterable[Utterance]) -> None:
    """Write a manifest atomically; audio inside the manifest's folder is stored by relative path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = path.resolve().parent
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8") as file:
        for utterance in utterances:
            record = {
                "audio_filepath": _stored_path(Path(utterance.audio_filepath).resolve(), folder),
                "text": utterance.text,
                "duration": utterance.duration,
            }
            if utterance.speaker is not None:
                record["speaker"] = utterance.speaker
            if utterance.lang is not None:
                record["lang"] = utterance.lang
            record.update(utterance.extra)
            file.write(json.dumps(record, ensure_ascii=False) + "\n")
    partial.replace(path)


def _stored_path(audio: Path, folder: Path) -> str:
    # Audio outside the manifest's folder keeps its absolute path: a "../../" path
    # would break as soon as the manifest alone is moved.
    if audio.is_relative_to(folder):
        return audio.relative_to(folder).as_posix()
    return str(audio)
