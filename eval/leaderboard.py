"""The WER leaderboard: models x test sets, from a TOML file, cached, written as Markdown, CSV, JSON and PNG.

    asr leaderboard --config leaderboard.toml
    python -m eval.leaderboard --config leaderboard.toml

Models are checkpoints of this project or reference systems behind the
`eval.systems.System` interface (faster-whisper running Whisper zero-shot).
Each row gets WER and CER per test set, their averages, RTFx, the parameter
count, and the difference of its average WER to a baseline row with a paired
bootstrap 95 % interval; rows are sorted by average WER.

What is cached is inference: the raw transcripts of a model on a test set,
under the model's fingerprint (content hash of its weights and decoding
settings) and the test set's (manifest, audio sizes and times, language).
Scores are recomputed from them on every run, under the normaliser the
config names, in milliseconds; so adding a model transcribes only with that
model, and changing the normaliser transcribes nothing.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import io
import json
import sys
import tomllib
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm

from eval.bootstrap import Comparison
from eval.cli import LEADERBOARD_DESCRIPTION, LEADERBOARD_EXAMPLE, add_leaderboard_arguments
from eval.chart import wer_chart
from eval.evaluate import EvalResult, Transcripts, compare, score_transcripts, transcribe_test_set
from asr.files import write_atomically
from eval.normalize import Normalizer, get_normalizer
from eval.report import describe_machine, format_difference, format_p, format_parameters
from asr.decoding import DecodeOptions
from asr.lm.boosting import parse_boosts
from asr.registry import resolve_model
from eval.systems import CheckpointSystem, FasterWhisperSystem, System
from eval.testset import TestSet, load_test_set


CACHE_FORMAT = "transfer-asr/transcripts/1"


class ConfigError(ValueError):
    """A leaderboard file that cannot be used, with the file and the key at fault."""


@dataclass(frozen=True)
class ModelEntry:
    name: str
    checkpoint: Path | None = None
    faster_whisper: str | None = None
    beam_size: int = 5
    compute_type: str = "default"
    decoding: DecodeOptions = DecodeOptions()  # checkpoints only
    backend: str = "torch"  # checkpoints: torch, or onnx (the int8 ONNX export)

    @property
    def kind(self) -> str:
        if self.checkpoint is not None:
            return "checkpoint (CTC)" if self.decoding.method == "greedy" else f"checkpoint (CTC, {self.decoding.label})"
        return f"faster-whisper {self.faster_whisper}, beam {self.beam_size} (zero-shot)"


@dataclass(frozen=True)
class TestSetEntry:
    name: str
    manifest: Path
    lang: str | None = None


@dataclass(frozen=True)
class LeaderboardConfig:
    path: Path
    models: list[ModelEntry]
    test_sets: list[TestSetEntry]
    output: Path
    cache: Path | None = None  # default: `output`/cache
    title: str = "WER leaderboard"
    baseline: str | None = None
    normalizer: str = "auto"
    device: str = "auto"
    precision: str = "auto"  # checkpoints: auto, fp32 or bf16 (asr.transcribe.resolve_precision)
    batch_size: int = 8
    resamples: int = 10_000
    seed: int = 0

    @property
    def cache_folder(self) -> Path:
        return self.cache or self.output / "cache"


_TOP_KEYS = {"title": str, "output": str, "cache": str, "baseline": str, "normalizer": str, "device": str,
             "precision": str, "batch_size": int, "resamples": int, "seed": int, "models": list, "test_sets": list}
_MODEL_KEYS = {"name": str, "checkpoint": str, "model": str, "backend": str, "faster_whisper": str, "beam_size": int, "compute_type": str,
               "decoder": str, "lm": str, "lexicon_free": bool, "lm_weight": float, "word_score": float, "boosts": list}
_DECODER_KEYS = {"decoder", "lm", "lexicon_free", "lm_weight", "word_score", "boosts"}
_TEST_SET_KEYS = {"name": str, "manifest": str, "lang": str}
_KINDS = {str: "a string", int: "an integer", list: "an array", bool: "true or false", float: "a number"}


def load_config(path: str | Path) -> LeaderboardConfig:
    """Read and check a leaderboard file; paths in it are relative to its folder. Every error names the key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such leaderboard file; an example:\n\n{LEADERBOARD_EXAMPLE}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    _check(data, _TOP_KEYS, {"models", "test_sets"}, f"{path}")
    folder = path.resolve().parent

    models = []
    for number, table in enumerate(data["models"], start=1):
        where = f"{path}: [[models]] number {number}"
        _check(table, _MODEL_KEYS, {"name"}, where)
        where = f"{path}: model {table['name']!r}"
        if sum(key in table for key in ("checkpoint", "model", "faster_whisper")) != 1:
            raise ConfigError(f"{where}: give exactly one of checkpoint (a .safetensors file), model (a shipped model's "
                              "language or name) and faster_whisper (Whisper weights)")
        if "model" in table:  # a shipped model: by default, beam search with its own LM
            try:
                ref = resolve_model(table["model"])
            except LookupError as error:
                raise ConfigError(f"{where}: {error}") from None
            table = {**table, "checkpoint": str(ref.checkpoint)}
            if ref.lm_dir and table.get("decoder", "beam") == "beam" and "lm" not in table and not table.get("lexicon_free"):
                table = {**table, "decoder": "beam", "lm": str(ref.lm_dir)}
        if "checkpoint" in table:
            extra = {"compute_type"} & set(table) | ({"beam_size"} & set(table) if table.get("decoder") != "beam" else set())
            if extra:
                raise ConfigError(f"{where}: {', '.join(sorted(extra))} applies to faster_whisper models (or decoder = \"beam\") only")
            checkpoint = folder / table["checkpoint"]
            if not checkpoint.is_file():
                raise ConfigError(f"{where}: checkpoint {checkpoint} not found")
            try:
                decoding = DecodeOptions(
                    method=table.get("decoder", "greedy"), lm_dir=str(folder / table["lm"]) if "lm" in table else None,
                    lexicon_free=table.get("lexicon_free", False), lm_weight=table.get("lm_weight"),
                    word_score=table.get("word_score"), beam_size=table.get("beam_size", DecodeOptions.beam_size),
                    boosts=parse_boosts([str(b) for b in table.get("boosts", [])]),
                )
            except ValueError as error:
                raise ConfigError(f"{where}: {error}") from None
            if table.get("backend", "torch") not in ("torch", "onnx"):
                raise ConfigError(f"{where}: backend must be torch or onnx, got {table['backend']!r}")
            models.append(ModelEntry(table["name"], checkpoint=checkpoint, decoding=decoding, backend=table.get("backend", "torch")))
        else:
            extra = (_DECODER_KEYS | {"backend"}) & set(table)
            if extra:
                raise ConfigError(f"{where}: {', '.join(sorted(extra))} applies to checkpoint models only")
            if table.get("beam_size", 1) < 1:
                raise ConfigError(f"{where}: beam_size must be at least 1, got {table['beam_size']}")
            weights = table["faster_whisper"]
            # A path relative to this file, or a name that `asr.pretrained.resolve` knows.
            weights = str(folder / weights) if (folder / weights).exists() else weights
            models.append(ModelEntry(table["name"], faster_whisper=weights, beam_size=table.get("beam_size", 5),
                                     compute_type=table.get("compute_type", "default")))

    test_sets = []
    for number, table in enumerate(data["test_sets"], start=1):
        _check(table, _TEST_SET_KEYS, {"name", "manifest"}, f"{path}: [[test_sets]] number {number}")
        manifest = folder / table["manifest"]
        if not manifest.is_file():
            raise ConfigError(f"{path}: test set {table['name']!r}: manifest {manifest} not found")
        test_sets.append(TestSetEntry(table["name"], manifest, table.get("lang")))

    for kind, entries in (("model", models), ("test set", test_sets)):
        if not entries:
            raise ConfigError(f"{path}: no {kind}s listed")
        names = [e.name for e in entries]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"{path}: {kind} name(s) {', '.join(map(repr, duplicates))} used more than once")
    baseline = data.get("baseline")
    if baseline is not None and baseline not in [m.name for m in models]:
        raise ConfigError(f"{path}: baseline {baseline!r} is not one of the models: {', '.join(m.name for m in models)}")
    normalizer = data.get("normalizer", "auto")
    try:
        get_normalizer(normalizer)
    except ValueError as error:
        raise ConfigError(f"{path}: normalizer: {error}") from None
    for key in ("batch_size", "resamples"):
        if data.get(key, 1) < 1:
            raise ConfigError(f"{path}: {key} must be at least 1, got {data[key]}")
    return LeaderboardConfig(
        path=path, models=models, test_sets=test_sets, output=folder / data.get("output", "runs/leaderboard"),
        cache=folder / data["cache"] if "cache" in data else None,
        **{k: data[k] for k in ("title", "baseline", "normalizer", "device", "precision", "batch_size", "resamples", "seed") if k in data},
    )


def _check(table: object, keys: dict[str, type], required: set[str], where: str) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table, got {table!r}")
    for key, value in table.items():
        if key not in keys:
            raise ConfigError(f"{where}: unknown key {key!r}; known keys: {', '.join(keys)}")
        kind = keys[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)  # lm_weight = 1 means 1.0
        if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
            raise ConfigError(f"{where}: {key} must be {_KINDS[kind]}, got {value!r}")
    missing = sorted(required - set(table))
    if missing:
        raise ConfigError(f"{where}: missing key(s) {', '.join(missing)}")


def build_system(entry: ModelEntry, device: str, batch_size: int, precision: str = "auto") -> System:
    if entry.checkpoint is not None:
        return CheckpointSystem(entry.checkpoint, entry.name, device=device, batch_size=batch_size, decoding=entry.decoding,
                                precision=precision, backend=entry.backend)
    return FasterWhisperSystem(entry.faster_whisper, entry.name, device=device, beam_size=entry.beam_size, compute_type=entry.compute_type)


class TranscriptCache:
    """Transcripts of (system, test set) pairs, one JSON file each, named by the hash of both fingerprints."""

    def __init__(self, folder: Path):
        self.folder = folder

    def path(self, system: System, test_set: TestSet) -> Path:
        key = hashlib.sha256(f"{system.fingerprint}\n{test_set.fingerprint}".encode()).hexdigest()
        return self.folder / f"{key[:32]}.json"

    def get(self, system: System, test_set: TestSet) -> Transcripts | None:
        path = self.path(system, test_set)
        if not path.is_file():
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            if entry.get("format") != CACHE_FORMAT:
                return None
            return Transcripts.from_dict(entry["transcripts"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            _log(f"warning: ignoring unreadable cache entry {path} ({error})")
            return None

    def put(self, transcripts: Transcripts, system: System, test_set: TestSet) -> None:
        entry = {
            "format": CACHE_FORMAT,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": describe_machine(),
            "transcripts": transcripts.to_dict(),
        }
        write_atomically(self.path(system, test_set), json.dumps(entry, ensure_ascii=False) + "\n")


MAX_SPEAKER_COLUMNS = 10


@dataclass(frozen=True)
class Row:
    model: ModelEntry
    results: list[EvalResult]  # one per test set, in the config's order
    comparison: Comparison | None  # average WER against the baseline; None for the baseline itself
    per_test_set: list[Comparison]  # the same, test set by test set; empty for the baseline

    @property
    def average_wer(self) -> float:
        return sum(r.scores.wer for r in self.results) / len(self.results)

    @property
    def average_cer(self) -> float:
        return sum(r.scores.cer for r in self.results) / len(self.results)

    @property
    def rtfx(self) -> float:
        """Audio seconds over transcription seconds, over all test sets."""
        return sum(r.transcripts.audio_seconds for r in self.results) / max(sum(r.transcripts.wall_seconds for r in self.results), 1e-9)

    @property
    def parameters(self) -> int:
        return self.results[0].transcripts.parameters


@dataclass(frozen=True)
class Leaderboard:
    config: LeaderboardConfig
    test_sets: list[TestSet]
    normalizers: list[Normalizer]  # one per test set
    rows: list[Row]  # best average WER first
    evaluated: list[str]  # "model on test set" for each pair transcribed in this run
    cached: list[str]
    command: str
    machine: str

    def table(self) -> str:
        c = self.config
        header = ["#", "model"]
        for t in self.test_sets:
            header += [f"{t.name} WER %", f"{t.name} CER %"]
        header += ["avg WER %", "avg CER %"]
        if c.baseline:
            header += [f"Δ avg WER vs {c.baseline} [95 % CI]", "p"]
        header += ["RTFx", "params"]
        lines = ["| " + " | ".join(header) + " |", "|---:|---|" + "---:|" * (len(header) - 2)]
        for rank, row in enumerate(self.rows, start=1):
            cells = [str(rank), row.model.name]
            for r in row.results:
                cells += [f"{100 * r.scores.wer:.1f}", f"{100 * r.scores.cer:.1f}"]
            cells += [f"{100 * row.average_wer:.1f}", f"{100 * row.average_cer:.1f}"]
            if c.baseline:
                x = row.comparison
                cells += ["baseline", ""] if x is None else [format_difference(x), format_p(x.p_value)]
            cells += [f"{row.rtfx:.1f}", format_parameters(row.parameters)]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def markdown(self) -> str:
        c = self.config
        notes = ["", "Models:"]
        notes += [f"- {row.model.name}: {row.model.kind}" for row in self.rows]
        notes += ["", "Test sets (normaliser applied to references and hypotheses alike):"]
        for t, n in zip(self.test_sets, self.normalizers):
            notes.append(f"- {t.name}: `{_relative(t.manifest)}`, {len(t.utterances)} utterances, {t.audio_seconds / 60:.1f} min, "
                         f"language {t.language or 'not given'}, normaliser `{n.name}`")
        notes += [
            "",
            "WER and CER are corpus-level (all edits over all reference words or characters); the averages are means over test sets.",
        ]
        if c.baseline:
            notes += [
                "",
                f"Δ is a model's average WER minus {c.baseline}'s, in points (negative: fewer errors); the interval and the "
                f"two-sided p come from a paired bootstrap over utterances, each test set resampled on its own "
                f"({c.resamples} resamples, seed {c.seed}).",
            ]
        notes += [
            "",
            "RTFx is seconds of audio per second of transcription (model loading excluded), measured when the result was "
            "computed; a cached result keeps its figure (its device is in leaderboard.json). Params: learned parameters "
            "(for faster-whisper, encoder and decoder).",
            "",
            f"Made by `{self.command}` on {self.machine}.",
        ]
        if c.baseline and len(self.test_sets) > 1:
            notes += ["", f"Δ WER vs {c.baseline} per test set [95 % CI], p:", "",
                      "| model | " + " | ".join(t.name for t in self.test_sets) + " |",
                      "|---|" + "---|" * len(self.test_sets)]
            for row in self.rows:
                if row.per_test_set:
                    cells = [f"{format_difference(x)}, p {format_p(x.p_value)}" for x in row.per_test_set]
                    notes.append(f"| {row.model.name} | " + " | ".join(cells) + " |")
        for i, test_set in enumerate(self.test_sets):
            by_speaker = [row.results[i].by_speaker() for row in self.rows]
            speakers = sorted({s for b in by_speaker for s in b})
            if 0 < len(speakers) <= MAX_SPEAKER_COLUMNS:  # a column each: a few voices; many are in the JSON
                notes += ["", f"WER % by speaker, {test_set.name}:", "",
                          "| model | " + " | ".join(speakers) + " |", "|---|" + "---:|" * len(speakers)]
                for row, b in zip(self.rows, by_speaker):
                    cells = [f"{100 * b[s]['wer']:.1f}" if s in b else "–" for s in speakers]
                    notes.append(f"| {row.model.name} | " + " | ".join(cells) + " |")
        return f"# {c.title}\n\n{self.table()}\n" + "\n".join(notes) + "\n"

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        header = ["rank", "model", "kind", "parameters", "rtfx", "average_wer", "average_cer"]
        for t in self.test_sets:
            header += [f"{t.name} wer", f"{t.name} cer"]
        writer.writerow(header + ["delta_wer", "delta_low", "delta_high", "p_value"])
        for rank, row in enumerate(self.rows, start=1):
            cells = [rank, row.model.name, row.model.kind, row.parameters, round(row.rtfx, 2), row.average_wer, row.average_cer]
            for r in row.results:
                cells += [r.scores.wer, r.scores.cer]
            x = row.comparison
            writer.writerow(cells + ([x.difference, x.low, x.high, x.p_value] if x else ["", "", "", ""]))
        return out.getvalue()

    def to_json(self) -> str:
        c = self.config
        report = {
            "title": c.title, "command": self.command, "machine": self.machine, "baseline": c.baseline,
            "bootstrap": {"resamples": c.resamples, "seed": c.seed, "stratified_by": "test set"},
            "test_sets": [
                {"name": t.name, "manifest": str(t.manifest), "language": t.language, "normalizer": n.name,
                 "utterances": len(t.utterances), "audio_seconds": round(t.audio_seconds, 2), "fingerprint": t.fingerprint}
                for t, n in zip(self.test_sets, self.normalizers)
            ],
            "rows": [
                {
                    "rank": rank, "model": row.model.name, "kind": row.model.kind,
                    "fingerprint": row.results[0].transcripts.system_fingerprint, "parameters": row.parameters,
                    "rtfx": round(row.rtfx, 2), "average_wer": row.average_wer, "average_cer": row.average_cer,
                    "comparison": row.comparison.to_dict() if row.comparison else None,
                    "test_sets": {
                        t.name: {**r.summary(), "comparison": x.to_dict() if x else None}
                        for t, r, x in zip(self.test_sets, row.results, row.per_test_set or [None] * len(row.results))
                    },
                }
                for rank, row in enumerate(self.rows, start=1)
            ],
            "evaluated_this_run": self.evaluated,
            "from_cache": self.cached,
        }
        return json.dumps(report, indent=2, ensure_ascii=False) + "\n"

    def chart(self) -> bytes:
        return wer_chart(
            self.config.title,
            [row.model.name for row in self.rows],
            [t.name for t in self.test_sets],
            [[r.scores.wer for r in row.results] for row in self.rows],
            [row.average_wer for row in self.rows],
        )

    def write(self, folder: Path) -> list[Path]:
        return [
            write_atomically(folder / "leaderboard.md", self.markdown()),
            write_atomically(folder / "leaderboard.csv", self.csv()),
            write_atomically(folder / "leaderboard.json", self.to_json()),
            write_atomically(folder / "leaderboard.png", self.chart()),
        ]


def run_leaderboard(config: LeaderboardConfig, command: str = "") -> Leaderboard:
    """Score every model on every test set, transcribing only the pairs the cache lacks."""
    test_sets = [load_test_set(t.manifest, t.name, t.lang) for t in config.test_sets]
    normalizers = [get_normalizer(config.normalizer, t.language) for t in test_sets]
    cache = TranscriptCache(config.cache_folder)
    results: dict[str, list[EvalResult]] = {}
    evaluated, cached = [], []
    for entry in config.models:
        system = build_system(entry, config.device, config.batch_size, config.precision)
        scored = []
        for test_set, normalizer in zip(test_sets, normalizers):
            pair = f"{entry.name} on {test_set.name}"
            transcripts = cache.get(system, test_set)
            if transcripts is None:
                _log(f"evaluating {pair}")
                transcripts = transcribe_test_set(system, test_set, config.batch_size)
                cache.put(transcripts, system, test_set)
                evaluated.append(pair)
            else:
                _log(f"cached     {pair}")
                cached.append(pair)
                if not transcripts.speakers:  # cached before speakers were kept; the key fixes the manifest's order
                    transcripts = dataclasses.replace(transcripts, speakers=tuple(u.speaker for u in test_set.utterances))
            scored.append(score_transcripts(transcripts, normalizer))
        results[entry.name] = scored

    rows = []
    baseline = results.get(config.baseline) if config.baseline else None
    for entry in config.models:
        comparison, per_test_set = None, []
        if baseline is not None and entry.name != config.baseline:
            comparison = compare(results[entry.name], baseline, config.resamples, config.seed)
            per_test_set = [compare([r], [b], config.resamples, config.seed) for r, b in zip(results[entry.name], baseline)]
        rows.append(Row(entry, results[entry.name], comparison, per_test_set))
    rows.sort(key=lambda row: (row.average_wer, row.model.name))
    _log(f"{len(evaluated)} evaluated, {len(cached)} from the cache ({config.cache_folder})")
    return Leaderboard(config, test_sets, normalizers, rows, evaluated, cached, command, describe_machine())


def _log(message: str) -> None:
    tqdm.write(message, file=sys.stderr)  # between progress bars, not through them


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def run_from_args(args: argparse.Namespace, command: str) -> int:
    """Run a leaderboard from parsed arguments; print the table; 2 on a bad file or input."""
    from asr.audio import AudioError
    from asr.pretrained import PretrainedNotFound

    try:
        config = load_config(args.config)
        if args.output:
            config = replace(config, output=Path(args.output))
        if args.device:
            config = replace(config, device=args.device)
        if args.precision:
            config = replace(config, precision=args.precision)
        board = run_leaderboard(config, command)
    except (FileNotFoundError, ValueError, AudioError, PretrainedNotFound) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    written = board.write(config.output)
    print(board.markdown())
    _log("written: " + ", ".join(map(str, written)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.leaderboard", description=LEADERBOARD_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog="example leaderboard.toml:\n\n" + LEADERBOARD_EXAMPLE,
    )
    add_leaderboard_arguments(parser)
    args = parser.parse_args(argv)
    return run_from_args(args, "python -m eval.leaderboard " + " ".join(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
