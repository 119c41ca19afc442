"""The report of `asr eval`: a table, the comparison with a baseline, the worst utterances; Markdown and JSON.

The JSON report holds every system's raw transcripts, so `asr eval --rescore`
can rebuild the whole report (under another normaliser, say) without inference.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path

from eval.bootstrap import Comparison
from eval.evaluate import EvalResult, Transcripts, compare, score_transcripts
from eval.normalize import get_normalizer


MAX_SPEAKER_ROWS = 30


@dataclass(frozen=True)
class EvalReport:
    results: list[EvalResult]
    baseline: int | None  # index of the baseline in `results`
    comparisons: dict[int, Comparison]  # by index of the compared result
    resamples: int
    seed: int
    command: str
    machine: str

    def table(self) -> str:
        header = "| model | WER % | CER % | sub | del | ins | words | utterances | RTFx |"
        rule = "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        if self.baseline is not None:
            header += " Δ WER vs baseline [95 % CI] | relative | p |"
            rule += "---|---:|---:|"
        lines = [header, rule]
        for i, r in enumerate(self.results):
            s = r.scores
            cells = [r.name, f"{100 * s.wer:.1f}", f"{100 * s.cer:.1f}", s.substitutions, s.deletions, s.insertions,
                     s.reference_words, s.utterances, f"{r.transcripts.rtfx:.1f}"]
            if i == self.baseline:
                cells += ["baseline", "", ""]
            elif self.baseline is not None:
                c = self.comparisons[i]
                cells += [format_difference(c), format_relative(c), format_p(c.p_value)]
            lines.append("| " + " | ".join(map(str, cells)) + " |")
        return "\n".join(lines)

    def markdown(self, worst: int = 5) -> str:
        first = self.results[0]
        normalizer = get_normalizer(first.normalizer)
        t = first.transcripts
        parts = [
            self.table(),
            "",
            f"Test set `{t.test_set}`: {first.scores.utterances} utterances, {t.audio_seconds / 60:.1f} min, "
            f"language {t.language or 'not given'}. Normaliser `{normalizer.name}` ({normalizer.description}), "
            f"applied to references and hypotheses. WER and CER are corpus-level (all edits over all reference words "
            f"or characters).",
        ]
        if self.comparisons:
            parts += ["", f"Δ is the model's WER minus the baseline's, in points (negative: fewer errors); the interval "
                      f"and the two-sided p come from a paired bootstrap over utterances ({self.resamples} resamples, "
                      f"seed {self.seed})."]
        parts += self.speaker_table()
        parts += ["", f"Made by `{self.command}` on {self.machine}."]
        if worst:
            for r in self.results:
                parts += ["", f"### Worst utterances: {r.name}", ""]
                for index, u in r.scores.worst(worst):
                    parts += [
                        f"Utterance {index + 1}, `{r.transcripts.audio[index]}`: {u.word_edits} word edits, {u.reference_words} reference words",
                        "",
                        "```",
                        *u.alignment.splitlines(),
                        "```",
                        "",
                    ]
        return "\n".join(parts).rstrip() + "\n"

    def speaker_table(self) -> list[str]:
        """WER by speaker (voice), one column a model: where a test set mixes voices, which ones a model fails on."""
        by_speaker = [r.by_speaker() for r in self.results]
        speakers = sorted({s for b in by_speaker for s in b})
        if not speakers:
            return []
        if len(speakers) > MAX_SPEAKER_ROWS:  # a corpus of many speakers (Common Voice): the JSON report has them
            return ["", f"{len(speakers)} speakers: WER by speaker is in the JSON report (--json)."]
        lines = ["", "WER % by speaker:", "", "| speaker | utterances | " + " | ".join(r.name for r in self.results) + " |",
                 "|---|---:|" + "---:|" * len(self.results)]
        for speaker in speakers:
            count = next(b[speaker]["utterances"] for b in by_speaker if speaker in b)
            cells = [f"{100 * b[speaker]['wer']:.1f}" if speaker in b else "–" for b in by_speaker]
            lines.append(f"| {speaker} | {count} | " + " | ".join(cells) + " |")
        return lines

    def to_json(self, worst: int = 5) -> str:
        results = []
        for i, r in enumerate(self.results):
            results.append({
                **r.summary(),
                "baseline": i == self.baseline,
                "comparison": self.comparisons[i].to_dict() if i in self.comparisons else None,
                "worst": [
                    {"index": k, "audio": r.transcripts.audio[k], "word_edits": u.word_edits,
                     "reference_words": u.reference_words, "alignment": u.alignment}
                    for k, u in r.scores.worst(worst)
                ],
                "utterances": [
                    {"audio": a, "reference": u.reference, "hypothesis": u.hypothesis, "word_edits": u.word_edits,
                     "reference_words": u.reference_words, "character_edits": u.character_edits,
                     "reference_characters": u.reference_characters}
                    for a, u in zip(r.transcripts.audio, r.scores.per_utterance)
                ],
                "transcripts": r.transcripts.to_dict(),
            })
        report = {
            "command": self.command,
            "machine": self.machine,
            "normalizer": self.results[0].normalizer,
            "bootstrap": {"resamples": self.resamples, "seed": self.seed},
            "results": results,
        }
        return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def build_report(results: list[EvalResult], baseline: int | None, resamples: int, seed: int, command: str, machine: str) -> EvalReport:
    comparisons = {}
    if baseline is not None:
        comparisons = {
            i: compare([r], [results[baseline]], resamples=resamples, seed=seed) for i, r in enumerate(results) if i != baseline
        }
    return EvalReport(results, baseline, comparisons, resamples, seed, command, machine)


def rescore_report(path: str | Path, normalizer: str | None, resamples: int, seed: int, command: str) -> EvalReport:
    """Rebuild a saved JSON report from its transcripts, under `normalizer` (default: the one it used)."""
    path = Path(path)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        saved = [(Transcripts.from_dict(r["transcripts"]), bool(r["baseline"])) for r in report["results"]]
        used = report["normalizer"]
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such report") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: not a report written by `asr eval --json` ({error})") from None
    chosen = get_normalizer(normalizer or used, saved[0][0].language)
    results = [score_transcripts(t, chosen) for t, _ in saved]
    baseline = next((i for i, (_, is_baseline) in enumerate(saved) if is_baseline), None)
    return build_report(results, baseline, resamples, seed, command, report.get("machine", "unknown machine"))


def describe_machine() -> str:
    """The machine a figure was measured on, with whether its CPU has native bf16 (figures differ by far with it)."""
    import torch

    from asr.cpu import cpu_has_amx, cpu_has_native_bf16, cpu_model

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    bf16 = "native bf16, AMX" if cpu_has_amx() else "native bf16" if cpu_has_native_bf16() else "no native bf16"
    return f"{platform.system()} {platform.machine()}, {cpu_model()}, {os.cpu_count()} cores ({bf16}), {gpu}, torch {torch.__version__}"


def format_difference(c: Comparison, decimals: int = 1) -> str:
    """"-3.2 [-5.0, -1.4]": WER points, system minus baseline, with the interval."""
    return f"{100 * c.difference:+.{decimals}f} [{100 * c.low:+.{decimals}f}, {100 * c.high:+.{decimals}f}]"


def format_relative(c: Comparison) -> str:
    return "" if c.relative is None else f"{100 * c.relative:+.0f} %"


def format_p(p: float) -> str:
    return f"{p:.3f}" if p >= 0.001 else "< 0.001"


def format_parameters(n: int) -> str:
    return f"{n / 1e6:.1f} M" if n >= 1e5 else f"{n / 1e3:.1f} k"
