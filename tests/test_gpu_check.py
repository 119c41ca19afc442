"""bench/gpu_check.sh, the one prepared GPU check, proven end to end on the CPU in its dry mode."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_check_runs_end_to_end_on_a_cpu(tmp_path):
    done = subprocess.run(["bash", "bench/gpu_check.sh", "--device", "cpu"], cwd=ROOT, env={**os.environ, "OUT": str(tmp_path)},
                          capture_output=True, text=True, timeout=1800)  # about 75 s on 2 idle cores
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "passed" in (tmp_path / "tests.txt").read_text()
    train = json.loads((tmp_path / "train_throughput.json").read_text())
    assert train["precision"] and "random weights" in train["model"]
    assert {r["batch_size"] for r in json.loads((tmp_path / "transcribe_rtfx.json").read_text())["results"]} == {1, 2}
    load = json.loads((tmp_path / "stream_load.json").read_text())
    assert load  # both servers measured, streams stepped up
    gil = json.loads((tmp_path / "gil_contention.json").read_text())
    assert [row["setting"] for row in gil["rows"][:3]] == ["alone", "beside a busy process", "beside a busy thread"]
    assert all(row["median_ms"] > 0 for row in gil["rows"])
    old_gil = json.loads((tmp_path / "stream_load-gil5.json").read_text())["results"]["batched"]
    assert "--gil-switch-ms 5" in old_gil["server"] and old_gil["rows"]


def test_gpu_site_makes_the_subcommands_of_an_uninstalled_checkout_found(tmp_path):
    # The lent machine's Python has no transfer-asr installed: `asr serve` and `asr train` exist only as entry points.
    # A copy of the tracked packages stands for its checkout (this one holds the editable install's metadata), and
    # `python -S` for its Python (no site-packages, so not this machine's installed copy either).
    checkout = tmp_path / "checkout"
    tracked = subprocess.run(["git", "ls-files", "pyproject.toml", "README.md", "asr", "training", "serving", "eval", "bench/gpu_site.sh"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in tracked:
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, checkout / name)
    subcommands = (f"{sys.executable} -S -c \"from importlib.metadata import entry_points; "
                   "print(sorted(e.name for e in entry_points(group='transfer_asr.commands')))\"")
    before = subprocess.run(["bash", "-c", f"PYTHONPATH=$PWD {subcommands}"], cwd=checkout, capture_output=True, text=True)
    assert before.stdout.strip() == "[]"
    script = f"PY={sys.executable} WHEELS=none SITE={tmp_path}/site PROJECT={tmp_path}/project; source bench/gpu_site.sh; {subcommands}"
    done = subprocess.run(["bash", "-c", script], cwd=checkout, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().split("\n")[-1] == "['eval', 'serving', 'training']"
