"""Output files of a transcription: txt, json, srt, vtt, tsv.

The formats follow openai/whisper's writers (whisper/utils.py) so that tools
which read whisper's output read ours: same timestamps, same cue layout, same
TSV columns, and JSON with the same keys (`probability` is our word confidence).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from asr.files import write_atomically

if TYPE_CHECKING:  # annotations only: `asr --help` builds its parser without importing torch
    from asr.transcribe import Segment, Transcription

FORMATS = ("txt", "json", "srt", "vtt", "tsv")


def format_timestamp(seconds: float, always_include_hours: bool = False, decimal_marker: str = ".") -> str:
    """`[HH:]MM:SS.mmm`, as whisper writes it; hours only when asked for or needed."""
    assert seconds >= 0, "non-negative timestamp expected"
    # Round once, to whole milliseconds, then split: 59.9996 s gives 01:00.000, not 00:59.1000.
    milliseconds = round(seconds * 1000.0)
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    seconds, milliseconds = divmod(milliseconds, 1_000)
    hours_marker = f"{hours:02d}:" if always_include_hours or hours > 0 else ""
    return f"{hours_marker}{minutes:02d}:{seconds:02d}{decimal_marker}{milliseconds:03d}"


def _cue_text(segment: Segment) -> str:
    # "-->" inside a cue's text would read as a timing line to SRT/VTT parsers; whisper writes "->".
    return segment.text.strip().replace("-->", "->")


def to_txt(result: Transcription) -> str:
    return "".join(f"{s.text.strip()}\n" for s in result.segments)


def to_vtt(result: Transcription) -> str:
    lines = ["WEBVTT\n\n"]  # the header, then a blank line before the first cue
    for s in result.segments:
        lines.append(f"{format_timestamp(s.start)} --> {format_timestamp(s.end)}\n{_cue_text(s)}\n\n")
    return "".join(lines)


def to_srt(result: Transcription) -> str:
    # SRT wants cues numbered from 1, hours always, and a comma before the milliseconds.
    def stamp(t: float) -> str:
        return format_timestamp(t, always_include_hours=True, decimal_marker=",")

    return "".join(
        f"{i}\n{stamp(s.start)} --> {stamp(s.end)}\n{_cue_text(s)}\n\n" for i, s in enumerate(result.segments, start=1)
    )


def to_tsv(result: Transcription) -> str:
    # Integer milliseconds, as whisper: no locale can print the decimal point as a comma.
    lines = ["start\tend\ttext\n"]
    for s in result.segments:
        lines.append(f"{round(1000 * s.start)}\t{round(1000 * s.end)}\t{s.text.strip().replace(chr(9), ' ')}\n")
    return "".join(lines)


def to_json(result: Transcription) -> str:
    def ms(t: float) -> float:
        return round(t, 3)  # model times carry float noise (frame counts * frame length)

    data = {
        "text": result.text,
        "language": result.language,
        "duration": ms(result.duration),
        "segments": [
            {
                "id": i,
                "start": ms(s.start),
                "end": ms(s.end),
                "text": s.text,
                "words": [
                    {"word": w.word, "start": ms(w.start), "end": ms(w.end), "probability": w.confidence}
                    for w in s.words
                ],
            }
            for i, s in enumerate(result.segments)
        ],
    }
    if result.alternatives:  # beam search's n-best list, past the best
        data["alternatives"] = [{"text": text, "score": round(score, 3)} for text, score in result.alternatives]
    # ensure_ascii=False: the file is UTF-8, so keep non-English text readable.
    return json.dumps(data, ensure_ascii=False) + "\n"


_WRITERS: dict[str, Callable[[Transcription], str]] = {
    "txt": to_txt,
    "json": to_json,
    "srt": to_srt,
    "vtt": to_vtt,
    "tsv": to_tsv,
}


def render(result: Transcription, fmt: str) -> str:
    """The text of one output file in format `fmt`."""
    return _WRITERS[_check_formats([fmt])[0]](result)


def _check_formats(formats: Iterable[str]) -> list[str]:
    """Formats in order, once each, "all" expanded; ValueError for an unknown one."""
    out: list[str] = []
    for fmt in formats:
        if fmt not in FORMATS and fmt != "all":
            raise ValueError(f"unknown output format {fmt!r}; choose from {', '.join(FORMATS)} or all")
        for f in FORMATS if fmt == "all" else (fmt,):
            if f not in out:
                out.append(f)
    return out


def write_transcription(
    result: Transcription, audio_path: str | Path, output_dir: str | Path, formats: str | Iterable[str]
) -> list[Path]:
    """Write `<output_dir>/<audio stem>.<ext>` for each format; return the paths written.

    Each file is written atomically: a reader (or a crash) never sees half a file.
    """
    selected = _check_formats([formats] if isinstance(formats, str) else formats)  # all checked before any is written
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in selected:
        path = output_dir / f"{Path(audio_path).stem}.{fmt}"
        written.append(write_atomically(path, _WRITERS[fmt](result)))
    return written
