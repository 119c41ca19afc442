"""NeMo-style manifests: one JSON object per line describing one utterance.

    {"audio_filepath": "wav/train/0001.wav", "text": "hallo welt", "duration": 1.52, "speaker": "mbrola/de1"}

`audio_filepath`, `text` and `duration` (seconds) are required; `speaker` and
`lang` are optional and every other key is carried along untouched in `extra`.
A relative audio path is relative to the manifest's folder, so a corpus folder
can be moved or copied as a whole.

Training, evaluation and the `asr` command all read manifests with
`read_manifest`; `filter_utterances`, `shuffled` and `shard` select, order and
split them the same way everywhere:

    utterances = read_manifest("train.jsonl", max_duration=20, exclude_speakers={"pico/de-DE"})
    mine = shard(shuffled(utterances, seed=epoch), rank, world_size)
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asr.files import atomic_path

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


TextFilter = Callable[[str], bool] | str | re.Pattern


def read_manifest(
    path: str | Path,
    min_duration: float | None = None,
    max_duration: float | None = None,
    *,
    speakers: Collection[str] | None = None,
    exclude_speakers: Collection[str] | None = None,
    text_filter: TextFilter | None = None,
) -> list[Utterance]:
    """The utterances of a manifest, in file order, that pass `filter_utterances` with these arguments.

    A malformed line raises ValueError naming the file and the line.
    """
    path = Path(path)
    folder = path.resolve().parent
    utterances = []
    with open(path, encoding="utf-8") as file:
        for line_number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                utterances.append(_parse_record(line, folder))
            except ValueError as error:
                raise ValueError(f"{path}, line {line_number}: {error}") from None
    return filter_utterances(
        utterances,
        min_duration=min_duration,
        max_duration=max_duration,
        speakers=speakers,
        exclude_speakers=exclude_speakers,
        text_filter=text_filter,
    )


def filter_utterances(
    utterances: Iterable[Utterance],
    *,
    min_duration: float | None = None,
    max_duration: float | None = None,
    speakers: Collection[str] | None = None,
    exclude_speakers: Collection[str] | None = None,
    text_filter: TextFilter | None = None,
) -> list[Utterance]:
    """The utterances, in order, that pass every filter given.

    Durations are inclusive bounds in seconds. `speakers` keeps only those
    speakers (an utterance without a speaker is then dropped); `exclude_speakers`
    drops those. `text_filter` is a predicate on the text, or a regular
    expression that must be found in it (`re.search`).
    """
    speakers = None if speakers is None else set(speakers)
    exclude_speakers = set(exclude_speakers or ())
    if isinstance(text_filter, str):
        text_filter = re.compile(text_filter)
    if isinstance(text_filter, re.Pattern):
        text_filter = text_filter.search
    kept = []
    for u in utterances:
        if min_duration is not None and u.duration < min_duration:
            continue
        if max_duration is not None and u.duration > max_duration:
            continue
        if speakers is not None and u.speaker not in speakers:
            continue
        if u.speaker in exclude_speakers:
            continue
        if text_filter is not None and not text_filter(u.text):
            continue
        kept.append(u)
    return kept


def shuffled(utterances: Iterable[Utterance], seed: int) -> list[Utterance]:
    """A new list of the utterances in an order that depends only on their order and `seed`."""
    result = list(utterances)
    random.Random(seed).shuffle(result)
    return result


def shard(utterances: Iterable[Utterance], rank: int, world_size: int, even: bool = False) -> list[Utterance]:
    """Rank `rank`'s share of `world_size`: every world_size-th utterance, starting at `rank`.

    The shards are disjoint and together hold every utterance. With `even`, the
    last len % world_size utterances are left out so every rank gets as many
    (distributed training steps in lockstep).
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, world_size), got rank {rank} of world_size {world_size}")
    utterances = list(utterances)
    if even:
        utterances = utterances[: len(utterances) - len(utterances) % world_size]
    return utterances[rank::world_size]


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
    with atomic_path(path) as partial, open(partial, "w", encoding="utf-8") as file:
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


def _stored_path(audio: Path, folder: Path) -> str:
    # Audio outside the manifest's folder keeps its absolute path: a "../../" path
    # would break as soon as the manifest alone is moved.
    if audio.is_relative_to(folder):
        return audio.relative_to(folder).as_posix()
    return str(audio)
