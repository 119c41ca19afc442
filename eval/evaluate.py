"""Evaluate checkpoints on a manifest: transcribe with the one path in `asr`, then score."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from asr.audio import load_audio
from asr.manifest import read_manifest
from asr.text import normalize_transcript
from asr.transcribe import Transcriber, TranscribeOptions
from eval.scoring import Scores, score


@dataclass(frozen=True)
class EvalResult:
    model: str
    manifest: str
    scores: Scores
    audio_seconds: float
    wall_seconds: float
    references: list[str]
    hypotheses: list[str]

    @property
    def rtfx(self) -> float:
        return self.audio_seconds / self.wall_seconds

    def summary(self) -> dict:
        return {
            "model": self.model, "manifest": self.manifest, **self.scores.to_dict(),
            "audio_seconds": round(self.audio_seconds, 2), "wall_seconds": round(self.wall_seconds, 2), "rtfx": round(self.rtfx, 2),
        }


def evaluate(model: str | Path, manifest: str | Path, device: str = "auto", batch_size: int = 8) -> EvalResult:
    transcriber = Transcriber(model, device=device, options=TranscribeOptions(batch_size=batch_size))
    utterances = read_manifest(manifest)
    if not utterances:
        raise ValueError(f"{manifest}: the manifest lists no utterances")
    language = transcriber.bundle.language
    references, hypotheses, audio_seconds = [], [], 0.0
    started = time.monotonic()
    for first in tqdm(range(0, len(utterances), batch_size), desc=f"eval {Path(model).name}", unit="batch", leave=False):
        batch = utterances[first : first + batch_size]
        waves = [load_audio(u.audio_filepath, transcriber.sample_rate) for u in batch]
        for utterance, result in zip(batch, transcriber.transcribe(waves)):
            references.append(normalize_transcript(utterance.text, language))
            hypotheses.append(normalize_transcript(result.text, language))
            audio_seconds += result.duration
    return EvalResult(str(model), str(manifest), score(references, hypotheses), audio_seconds, time.monotonic() - started, references, hypotheses)


def markdown_table(results: list[EvalResult]) -> str:
    lines = ["| model | WER % | CER % | utterances | RTFx |", "|---|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r.model} | {100 * r.scores.wer:.1f} | {100 * r.scores.cer:.1f} | {r.scores.utterances} | {r.rtfx:.1f} |")
    return "\n".join(lines)
