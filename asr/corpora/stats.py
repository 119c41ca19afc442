"""What a manifest holds: hours, utterances, speakers, characters and a duration histogram.

    stats = corpus_stats(read_manifest("data/synth-de/train.jsonl"))
    print(format_stats(stats))          # or stats.to_dict() for JSON
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from asr.corpora.manifest import Utterance
from asr.text import ALPHABETS, normalize_transcript, uncovered_characters

BAR_WIDTH = 40


@dataclass(frozen=True)
class CorpusStats:
    utterances: int
    hours: float
    speakers: int
    utterances_per_speaker: dict[str, int]
    langs: dict[str, int]  # language -> utterances ("" for none given)
    duration_seconds: dict[str, float]  # min, mean, median, max
    # [low, high) seconds -> utterances; the last bin also holds its upper edge
    histogram: list[tuple[float, float, int]]
    characters: dict[str, int]  # character -> occurrences in the texts as written, spaces left out
    # characters of the normalised texts outside their language's alphabet (asr.text.ALPHABETS)
    uncovered_characters: dict[str, int]
    words: int
    distinct_words: int

    def to_dict(self) -> dict:
        result = asdict(self)
        result["histogram"] = [{"from": low, "to": high, "utterances": n} for low, high, n in self.histogram]
        return result


def corpus_stats(utterances: Iterable[Utterance], bin_seconds: float | None = None) -> CorpusStats:
    """Count a corpus. Histogram bins are `bin_seconds` wide (default: about 10 bins of 0.5, 1, 2 or 5 s)."""
    utterances = list(utterances)
    durations = [u.duration for u in utterances]
    speakers = Counter(u.speaker for u in utterances if u.speaker is not None)
    characters: Counter = Counter()
    uncovered: Counter = Counter()
    words: Counter = Counter()
    for u in utterances:
        characters.update(u.text.replace(" ", ""))
        if u.lang in ALPHABETS:
            normalised = normalize_transcript(u.text, u.lang)
            bad = uncovered_characters(normalised, u.lang)
            uncovered.update(c for c in normalised if c in bad)
            words.update(normalised.split())
        else:
            words.update(u.text.lower().split())
    summary = (
        {
            "min": min(durations),
            "mean": statistics.fmean(durations),
            "median": statistics.median(durations),
            "max": max(durations),
        }
        if durations
        else {}
    )
    return CorpusStats(
        utterances=len(utterances),
        hours=sum(durations) / 3600,
        speakers=len(speakers),
        utterances_per_speaker=dict(speakers.most_common()),
        langs=dict(Counter(u.lang or "" for u in utterances).most_common()),
        duration_seconds=summary,
        histogram=duration_histogram(durations, bin_seconds),
        characters=dict(sorted(characters.items())),
        uncovered_characters=dict(sorted(uncovered.items())),
        words=sum(words.values()),
        distinct_words=len(words),
    )


def duration_histogram(durations: list[float], bin_seconds: float | None = None) -> list[tuple[float, float, int]]:
    """Counts of durations in bins [k*w, (k+1)*w) from 0 to the longest; the last bin includes its upper edge."""
    if not durations:
        return []
    longest = max(durations)
    if bin_seconds is None:
        bin_seconds = next((w for w in (0.5, 1.0, 2.0, 5.0, 10.0, 30.0) if longest / w <= 12), 60.0)
    if bin_seconds <= 0:
        raise ValueError(f"bin_seconds must be positive, got {bin_seconds}")
    bins = max(1, math.ceil(longest / bin_seconds))
    counts = [0] * bins
    for d in durations:
        counts[min(int(d // bin_seconds), bins - 1)] += 1
    return [(k * bin_seconds, (k + 1) * bin_seconds, n) for k, n in enumerate(counts)]


def format_stats(stats: CorpusStats, name: str = "") -> str:
    """A plain-text report: totals, speakers, durations with a histogram, characters."""
    lines = [name] if name else []
    d = stats.duration_seconds
    lines.append(f"utterances: {stats.utterances}")
    lines.append(f"hours: {stats.hours:.3f}")
    lines.append(f"speakers: {stats.speakers}")
    if stats.langs:
        lines.append("languages: " + ", ".join(f"{lang or '(none)'} {n}" for lang, n in stats.langs.items()))
    if d:
        lines.append(f"duration (s): min {d['min']:.2f}, mean {d['mean']:.2f}, median {d['median']:.2f}, max {d['max']:.2f}")
        most = max(n for _, _, n in stats.histogram)
        for low, high, n in stats.histogram:
            bar = "#" * (round(BAR_WIDTH * n / most) if most else 0)
            lines.append(f"  {low:6.1f}-{high:<6.1f} s {n:7d} {bar}")
    lines.append(f"words: {stats.words}, distinct: {stats.distinct_words}")
    lines.append(f"characters ({len(stats.characters)}): " + "".join(stats.characters))
    if stats.uncovered_characters:
        lines.append(
            "outside the language's alphabet after normalisation: "
            + ", ".join(f"{c!r} {n}" for c, n in stats.uncovered_characters.items())
        )
    if stats.speakers:
        top = list(stats.utterances_per_speaker.items())[:10]
        more = f", ... ({stats.speakers - len(top)} more)" if stats.speakers > len(top) else ""
        lines.append("utterances per speaker: " + ", ".join(f"{s} {n}" for s, n in top) + more)
    return "\n".join(lines)
