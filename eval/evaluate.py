"""Evaluate systems on a test set: transcribe once, keep the raw text, score under a named normaliser.

Inference and scoring are separate steps. `transcribe_test_set` yields
`Transcripts`, the raw references and hypotheses, which are saved (in
`asr eval --json` reports and in the leaderboard's cache) so that rescoring,
under another normaliser or against another baseline, needs no new inference.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass


from asr.audio import load_audio
from asr.progress import progress as progress_bar
from eval.bootstrap import Comparison, paired_bootstrap
from eval.normalize import Normalizer
from eval.scoring import Scores, score
from eval.systems import System
from eval.testset import TestSet


@dataclass(frozen=True)
class Transcripts:
    """What one system wrote for one test set, before any normalisation."""

    system: str
    system_fingerprint: str
    parameters: int
    device: str
    test_set: str
    test_set_fingerprint: str
    language: str | None
    audio: list[str]  # each utterance's audio file, relative to the manifest
    references: list[str]
    hypotheses: list[str]
    audio_seconds: float
    wall_seconds: float  # transcription with audio loading; model loading excluded
    speakers: tuple[str | None, ...] = ()  # each utterance's speaker (the manifest's), for WER by voice; () if unknown

    @property
    def rtfx(self) -> float:
        return self.audio_seconds / max(self.wall_seconds, 1e-9)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Transcripts:
        names = {f.name for f in dataclasses.fields(cls)}
        missing = names - set(data) - {"speakers"}  # transcripts saved before speakers were kept have none
        if missing:
            raise ValueError(f"saved transcripts lack {', '.join(sorted(missing))}")
        return cls(**{k: data[k] for k in names if k in data} | {"speakers": tuple(data.get("speakers") or ())})


# Utterances go to a system several batches a call: `asr.transcribe.Transcriber` keeps two batches in flight, so its
# model does not wait at each batch's end (see the README's figures for bench/transcribe_backends.py).
WINDOW_BATCHES = 4


def transcribe_test_set(system: System, test_set: TestSet, batch_size: int = 8) -> Transcripts:
    """Transcribe every utterance through `asr.audio.load_audio`, `WINDOW_BATCHES` batches of `batch_size` a call."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    system.load()
    rate = system.sample_rate
    utterances = test_set.utterances
    hypotheses: list[str] = [""] * len(utterances)
    # Longest first, so that a batch holds similar lengths: padding is computed and thrown away.
    order = sorted(range(len(utterances)), key=lambda i: -utterances[i].duration)
    window = WINDOW_BATCHES * batch_size
    audio_seconds = 0.0
    started = time.monotonic()
    with progress_bar(total=len(utterances), desc=f"{system.name} on {test_set.name}", unit="utt", leave=False) as progress:
        for first in range(0, len(utterances), window):
            indices = order[first : first + window]
            waves = [load_audio(utterances[i].audio_filepath, rate) for i in indices]
            texts = system.transcribe(waves, test_set.language)
            if len(texts) != len(waves):
                raise RuntimeError(f"{system.name} returned {len(texts)} texts for {len(waves)} waveforms")
            for i, text in zip(indices, texts):
                hypotheses[i] = text
            audio_seconds += sum(len(w) for w in waves) / rate
            progress.update(len(indices))
    wall_seconds = time.monotonic() - started
    folder = test_set.manifest.resolve().parent
    return Transcripts(
        system=system.name,
        system_fingerprint=system.fingerprint,
        parameters=system.parameters,
        device=system.device,
        test_set=test_set.name,
        test_set_fingerprint=test_set.fingerprint,
        language=test_set.language,
        audio=[os.path.relpath(u.audio_filepath, folder) for u in utterances],
        references=[u.text for u in utterances],
        hypotheses=hypotheses,
        audio_seconds=audio_seconds,
        wall_seconds=wall_seconds,
        speakers=tuple(u.speaker for u in utterances),
    )


@dataclass(frozen=True)
class EvalResult:
    transcripts: Transcripts
    normalizer: str
    scores: Scores

    @property
    def name(self) -> str:
        return self.transcripts.system

    def by_speaker(self) -> dict[str, dict]:
        """WER and CER of each speaker's utterances (corpus-level within the speaker), where the test set names
        two speakers or more; else {}."""
        speakers = self.transcripts.speakers
        if len(set(speakers) - {None}) < 2:
            return {}
        groups: dict[str, list] = {}
        for speaker, u in zip(speakers, self.scores.per_utterance):
            groups.setdefault(speaker or "unknown", []).append(u)
        return {
            speaker: {"wer": sum(u.word_edits for u in us) / max(1, sum(u.reference_words for u in us)),
                      "cer": sum(u.character_edits for u in us) / max(1, sum(u.reference_characters for u in us)),
                      "utterances": len(us)}
            for speaker, us in sorted(groups.items())
        }

    def summary(self) -> dict:
        t = self.transcripts
        return {
            "model": t.system, "test_set": t.test_set, "normalizer": self.normalizer, **self.scores.to_dict(),
            "parameters": t.parameters, "device": t.device,
            "audio_seconds": round(t.audio_seconds, 2), "wall_seconds": round(t.wall_seconds, 2), "rtfx": round(t.rtfx, 2),
            "by_speaker": self.by_speaker(),
        }


def score_transcripts(transcripts: Transcripts, normalizer: Normalizer) -> EvalResult:
    """Score saved transcripts: the same normaliser on both sides, then jiwer. No inference."""
    references = [normalizer(r) for r in transcripts.references]
    hypotheses = [normalizer(h) for h in transcripts.hypotheses]
    try:
        scores = score(references, hypotheses)
    except ValueError as error:
        raise ValueError(f"{transcripts.test_set}: {error}") from None
    return EvalResult(transcripts, normalizer.name, scores)


def evaluate(system: System, test_set: TestSet, normalizer: Normalizer, batch_size: int = 8) -> EvalResult:
    return score_transcripts(transcribe_test_set(system, test_set, batch_size), normalizer)


def compare(
    results: Sequence[EvalResult], baselines: Sequence[EvalResult], resamples: int = 10_000, seed: int = 0
) -> Comparison:
    """Paired bootstrap of a system against a baseline: one result of each per test set, same test sets in the same order.

    With several test sets the compared figure is the mean of their WERs.
    """
    if len(results) != len(baselines) or not results:
        raise ValueError(f"compare one result per test set: got {len(results)} and {len(baselines)}")
    paired = []
    for result, baseline in zip(results, baselines):
        if result.transcripts.test_set_fingerprint != baseline.transcripts.test_set_fingerprint:
            raise ValueError(f"{result.name} and {baseline.name} were not scored on the same test set")
        if result.normalizer != baseline.normalizer:
            raise ValueError(f"{result.name} and {baseline.name} were scored under different normalisers "
                             f"({result.normalizer}, {baseline.normalizer})")
        paired.append((
            [u.word_edits for u in result.scores.per_utterance],
            [u.word_edits for u in baseline.scores.per_utterance],
            [u.reference_words for u in baseline.scores.per_utterance],
        ))
    return paired_bootstrap(paired, resamples=resamples, seed=seed)
