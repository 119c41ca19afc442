"""bench/gpu_check.sh, the one prepared GPU check, proven end to end on the CPU in its dry mode."""

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_check_runs_end_to_end_on_a_cpu(tmp_path):
    done = subprocess.run(["bash", "bench/gpu_check.sh", "--device", "cpu"], cwd=ROOT, env={**os.environ, "OUT": str(tmp_path)},
                          capture_output=True, text=True, timeout=1200)  # about 75 s on 2 idle cores
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "passed" in (tmp_path / "tests.txt").read_text()
    train = json.loads((tmp_path / "train_throughput.json").read_text())
    assert train["precision"] and "random weights" in train["model"]
    assert {r["batch_size"] for r in json.loads((tmp_path / "transcribe_rtfx.json").read_text())["results"]} == {1, 2}
    load = json.loads((tmp_path / "stream_load.json").read_text())
    assert load  # both servers measured, streams stepped up
