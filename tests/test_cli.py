import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from asr.cli import expand_inputs, main
from tests.tiny import tiny_checkpoint, write_tone


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("model") / "tiny.safetensors")


def test_transcribe_every_format_and_rate(tmp_path, checkpoint, capsys):
    audio = tmp_path / "audio"
    audio.mkdir()
    write_tone(audio / "a.wav", rate=8000)
    write_tone(audio / "b.flac", rate=44100, channels=2)
    write_tone(audio / "c.ogg", rate=48000)
    write_tone(audio / "d.mp3", rate=22050)
    out = tmp_path / "out"
    code = main(["transcribe", str(audio), "--model", str(checkpoint), "--format", "all", "--output-dir", str(out), "--device", "cpu"])
    assert code == 0
    for stem in "abcd":
        for ext in ("txt", "json", "srt", "vtt", "tsv"):
            assert (out / f"{stem}.{ext}").is_file()
        assert json.loads((out / f"{stem}.json").read_text())["duration"] == pytest.approx(1.0, abs=0.01)
    assert "RTFx" in capsys.readouterr().err


def test_bad_files_are_named_and_the_rest_go_on(tmp_path, checkpoint, capsys):
    good = write_tone(tmp_path / "good.wav")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF not really a wave file")
    code = main(["transcribe", str(good), str(corrupt), str(tmp_path / "missing.wav"), "--model", str(checkpoint),
                 "--output-dir", str(tmp_path / "out"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1
    assert "corrupt.wav" in err and "missing.wav" in err
    assert (tmp_path / "out" / "good.txt").is_file()
    assert not (tmp_path / "out" / "corrupt.txt").exists()


def test_long_audio_is_chunked(tmp_path, checkpoint):
    soundfile.write(str(tmp_path / "long.wav"), np.random.default_rng(0).normal(0, 0.1, 16000 * 70).astype(np.float32), 16000)
    code = main(["transcribe", str(tmp_path / "long.wav"), "--model", str(checkpoint), "--format", "json",
                 "--output-dir", str(tmp_path), "--device", "cpu"])
    assert code == 0
    assert json.loads((tmp_path / "long.json").read_text())["duration"] == pytest.approx(70.0)


def test_inputs_from_globs_and_manifests(tmp_path):
    for name in ("x.wav", "y.flac", "notes.txt"):
        write_tone(tmp_path / name) if name != "notes.txt" else (tmp_path / name).write_text("hi")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"audio_filepath": "x.wav", "text": "a", "duration": 1.0}) + "\n")
    files, problems = expand_inputs([str(tmp_path / "*.flac"), str(manifest), str(tmp_path / "nothing*.wav")])
    assert [f.name for f in files] == ["y.flac", "x.wav"]
    assert len(problems) == 1 and "nothing*.wav" in problems[0]
    (tmp_path / "empty").mkdir()
    assert "a folder with no audio files" in expand_inputs([str(tmp_path / "empty")])[1][0]


def test_clashing_output_names_stop_before_work(tmp_path, checkpoint, capsys):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    write_tone(tmp_path / "one" / "same.wav")
    write_tone(tmp_path / "two" / "same.wav")
    assert main(["transcribe", str(tmp_path), "--model", str(checkpoint), "--device", "cpu", "--output-dir", str(tmp_path)]) == 2
    assert "same output files" in capsys.readouterr().err


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("transcribe", "data", "train", "eval"):
        assert command in out


def test_help_does_not_import_what_only_running_a_command_needs():
    # Every `asr` call builds the whole parser first: what the leaderboard runs on (matplotlib, the
    # transcriber) must wait until a command runs. (torch comes in with `asr serve`'s defaults.)
    import subprocess
    import sys

    code = ("import sys\nfrom asr.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('matplotlib', 'eval.leaderboard', 'eval.chart') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_the_asr_command_flushes_its_output_and_keeps_mains_exit_code(tmp_path):
    # `asr` leaves with os._exit, past the interpreter's teardown: piped output must be out by then.
    buffered = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    listed = subprocess.run([sys.executable, "-m", "asr", "models", "--runs", str(tmp_path)], capture_output=True, text=True,
                            env=buffered)
    assert listed.returncode == 0 and "pretrained encoders" in listed.stdout and listed.stdout.endswith("  none\n")
    failed = subprocess.run([sys.executable, "-m", "asr", "transcribe", str(tmp_path / "none.wav"), "--model", str(tmp_path / "no.safetensors")],
                            capture_output=True, text=True)
    assert failed.returncode != 0 and "none.wav: no such file" in failed.stderr
