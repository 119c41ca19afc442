import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import eval.leaderboard as leaderboard
from eval.cli import LEADERBOARD_EXAMPLE
from asr.checkpoint import save_checkpoint
from asr.cli import main
from eval.leaderboard import ConfigError, load_config, run_leaderboard
from tests.tiny import tiny_bundle, write_tone

MODELS = """
[[models]]
name = "tiny-a"
checkpoint = "a.safetensors"

[[models]]
name = "tiny-b"
checkpoint = "b.safetensors"

[[models]]
name = "reference"
faster_whisper = "fake"
"""

TEST_SETS = """
[[test_sets]]
name = "one"
manifest = "one/test.jsonl"

[[test_sets]]
name = "two"
manifest = "two/test.jsonl"
lang = "de"
"""


class FakeSystem:
    """A reference system behind the `System` interface that writes the references back: WER 0."""

    sample_rate = 16000
    device = "cpu"
    parameters = 1234

    def __init__(self, name: str):
        self.name = name
        self.fingerprint = hashlib.sha256(b"fake v1").hexdigest()

    def load(self) -> None:
        pass

    def transcribe(self, waves, language):
        return ["Abc def" if len(w) < 16000 else "def, abc!" for w in waves]


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """Two tiny checkpoints, two test sets, a fake reference system, and a log of what was transcribed."""
    save_checkpoint(tmp_path / "a.safetensors", tiny_bundle(seed=0))
    save_checkpoint(tmp_path / "b.safetensors", tiny_bundle(seed=1))
    save_checkpoint(tmp_path / "c.safetensors", tiny_bundle(seed=2))
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        lines = []
        for i, (seconds, text) in enumerate([(0.5, "abc def"), (1.5, "def abc"), (0.7, "abc def")]):
            write_tone(tmp_path / name / f"{i}.wav", seconds=seconds, frequency=300 + 100 * i)
            voice = {"speaker": f"voice-{i % 2}"} if name == "two" else {}  # set two names its voices
            lines.append(json.dumps({"audio_filepath": f"{i}.wav", "text": text, "duration": seconds, "lang": "de", **voice}))
        (tmp_path / name / "test.jsonl").write_text("\n".join(lines) + "\n")

    transcribed = []
    real_transcribe = leaderboard.transcribe_test_set
    real_build = leaderboard.build_system

    def spy(system, test_set, batch_size=8):
        transcribed.append(f"{system.name} on {test_set.name}")
        return real_transcribe(system, test_set, batch_size)

    def build(entry, device, batch_size, precision):
        return FakeSystem(entry.name) if entry.faster_whisper == "fake" else real_build(entry, "cpu", batch_size, precision)

    monkeypatch.setattr(leaderboard, "transcribe_test_set", spy)
    monkeypatch.setattr(leaderboard, "build_system", build)
    return tmp_path, transcribed


def _config(folder: Path, models: str = MODELS, top: str = 'baseline = "reference"\nresamples = 300\n') -> Path:
    path = folder / "leaderboard.toml"
    path.write_text(top + models + TEST_SETS)
    return path


def test_leaderboard_ranks_writes_and_caches(workspace):
    folder, transcribed = workspace
    board = run_leaderboard(load_config(_config(folder)))
    assert sorted(transcribed) == sorted(f"{m} on {t}" for m in ("tiny-a", "tiny-b", "reference") for t in ("one", "two"))
    assert board.rows[0].model.name == "reference" and board.rows[0].average_wer == 0  # sorted by average WER
    assert board.rows[0].comparison is None and board.rows[1].comparison is not None
    assert [n.name for n in board.normalizers] == ["de", "de"]
    written = board.write(folder / "runs" / "leaderboard")
    assert [p.name for p in written] == ["leaderboard.md", "leaderboard.csv", "leaderboard.json", "leaderboard.png"]
    markdown = written[0].read_text()
    assert "| 1 | reference |" in markdown and "baseline" in markdown and "Δ avg WER vs reference" in markdown
    assert "one WER %" in markdown and "two CER %" in markdown and "RTFx" in markdown and "1.2 k" in markdown
    rows = list(csv.DictReader(written[1].open()))
    assert [r["model"] for r in rows][0] == "reference" and float(rows[0]["average_wer"]) == 0
    report = json.loads(written[2].read_text())
    assert report["rows"][1]["comparison"]["resamples"] == 300
    assert set(report["rows"][1]["test_sets"]) == {"one", "two"}
    assert written[3].read_bytes().startswith(b"\x89PNG")

    # One more model: only it is transcribed; the rest comes from the cache.
    transcribed.clear()
    more = MODELS + '\n[[models]]\nname = "tiny-c"\ncheckpoint = "c.safetensors"\n'
    board = run_leaderboard(load_config(_config(folder, more)))
    assert transcribed == ["tiny-c on one", "tiny-c on two"]
    assert len(board.cached) == 6 and len(board.rows) == 4

    # Another normaliser rescores the saved transcripts: no inference at all.
    transcribed.clear()
    board = run_leaderboard(load_config(_config(folder, more, 'baseline = "tiny-a"\nnormalizer = "basic"\nresamples = 300\n')))
    assert transcribed == [] and {n.name for n in board.normalizers} == {"basic"}

    # A changed audio file invalidates only its test set.
    write_tone(folder / "two" / "1.wav", seconds=1.6)
    run_leaderboard(load_config(_config(folder, more)))
    assert sorted(transcribed) == sorted(f"{m} on two" for m in ("tiny-a", "tiny-b", "tiny-c", "reference"))


def test_wer_by_speaker_where_a_test_set_names_voices_also_from_older_cache_entries(workspace):
    folder, transcribed = workspace
    config = load_config(_config(folder))
    markdown = run_leaderboard(config).markdown()
    assert "WER % by speaker, two:" in markdown and "| model | voice-0 | voice-1 |" in markdown
    assert "| reference | 0.0 | 0.0 |" in markdown and "by speaker, one" not in markdown
    for entry in config.cache_folder.glob("*.json"):  # as cached before speakers were kept
        saved = json.loads(entry.read_text())
        del saved["transcripts"]["speakers"]
        entry.write_text(json.dumps(saved))
    transcribed.clear()
    assert run_leaderboard(config).markdown() == markdown and transcribed == []


def test_a_damaged_cache_entry_is_transcribed_again(workspace, capsys):
    folder, transcribed = workspace
    config = load_config(_config(folder))
    run_leaderboard(config)
    entry = sorted((folder / "runs" / "leaderboard" / "cache").glob("*.json"))[0]
    entry.write_text("{not json")
    transcribed.clear()
    run_leaderboard(config)
    assert len(transcribed) == 1
    assert "ignoring unreadable cache entry" in capsys.readouterr().err


def test_leaderboard_commands(workspace, capsys):
    folder, _ = workspace
    config = _config(folder)
    assert main(["leaderboard", "--config", str(config), "--output", str(folder / "out")]) == 0
    assert "| 1 | reference |" in capsys.readouterr().out
    assert (folder / "out" / "leaderboard.png").is_file() and (folder / "out" / "cache").is_dir()
    assert leaderboard.main(["--config", str(config), "--output", str(folder / "out")]) == 0
    assert "6 from the cache" in capsys.readouterr().err
    assert main(["leaderboard", "--config", str(folder / "missing.toml")]) == 2
    assert "missing.toml: no such leaderboard file; an example" in capsys.readouterr().err


def test_module_entry_point_teaches():
    result = subprocess.run([sys.executable, "-m", "eval.leaderboard", "--help"], capture_output=True, text=True,
                            cwd=Path(__file__).parent.parent)
    assert result.returncode == 0
    assert "[[models]]" in result.stdout and "faster_whisper" in result.stdout


@pytest.mark.parametrize(
    "top, models, message",
    [
        ('baseline = "nobody"\n', MODELS, "baseline 'nobody' is not one of the models"),
        ('normaliser = "de"\n', MODELS, "unknown key 'normaliser'; known keys: title, output"),
        ('normalizer = "klingon"\n', MODELS, "unknown normaliser 'klingon'"),
        ("batch_size = \"8\"\n", MODELS, "batch_size must be an integer, got '8'"),
        ("resamples = 0\n", MODELS, "resamples must be at least 1"),
        ("", MODELS.replace('name = "tiny-b"', 'nmae = "tiny-b"'), "[[models]] number 2: unknown key 'nmae'"),
        ("", MODELS.replace('name = "tiny-b"\n', ""), "[[models]] number 2: missing key(s) name"),
        ("", MODELS.replace('"b.safetensors"', '"gone.safetensors"'), "model 'tiny-b': checkpoint"),
        ("", MODELS.replace('faster_whisper = "fake"', ""), "give exactly one of checkpoint"),
        ("", MODELS.replace('checkpoint = "a.safetensors"', 'checkpoint = "a.safetensors"\nbeam_size = 2'), "beam_size applies to faster_whisper"),
        ("", MODELS.replace('"tiny-b"', '"tiny-a"'), "model name(s) 'tiny-a' used more than once"),
        ("", MODELS.replace('faster_whisper = "fake"', 'faster_whisper = "fake"\nbeam_size = 0'), "beam_size must be at least 1"),
        ("", MODELS + "[[models]\n", "not valid TOML"),
    ],
)
def test_config_errors_name_the_key(workspace, top, models, message):
    folder, _ = workspace
    with pytest.raises(ConfigError) as error:
        load_config(_config(folder, models, top))
    assert message in str(error.value)
    assert str(folder / "leaderboard.toml") in str(error.value)


def test_missing_manifest_is_named(workspace):
    folder, _ = workspace
    (folder / "two" / "test.jsonl").unlink()
    with pytest.raises(ConfigError, match="test set 'two': manifest .*two/test.jsonl not found"):
        load_config(_config(folder))


def test_example_config_in_the_repository_is_valid():
    root = Path(__file__).parent.parent
    text = (root / "leaderboard.toml").read_text()
    assert "faster_whisper" in text and "[[test_sets]]" in text
    import tomllib

    data = tomllib.loads(text)
    assert data["baseline"] in [m["name"] for m in data["models"]]
    assert tomllib.loads(LEADERBOARD_EXAMPLE)["models"]
