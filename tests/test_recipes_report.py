"""recipes/report.py turns recorded run folders into docs/RESULTS.md: tables from the runs' own files."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def record_run(run: Path, budgets_steps_wer_cer: list[tuple[int, int, float, float]], hours: float = 1.5) -> None:
    run.mkdir(parents=True)
    lines = [{"event": "start", "step": 0, "train_hours": hours}]
    for budget, steps, wer, cer in budgets_steps_wer_cer:
        lines.append({"step": steps, "dev_wer": wer, "dev_cer": cer, "train_seconds": budget - 1.0})
        lines.append({"event": "end", "reason": "time_budget", "step": steps, "train_seconds": budget + 0.5})
        report = {"command": "asr eval", "machine": "test machine, 2 cores",
                  "results": [{"model": str(run / "last.safetensors"), "wer": wer, "cer": cer}]}
        (run / f"test-{budget}.json").write_text(json.dumps(report))
    (run / "log.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_report_tables_come_from_the_recorded_runs(tmp_path):
    runs = tmp_path / "runs"
    record_run(runs / "transfer" / "whisper-base", [(240, 121, 0.695, 0.168), (480, 420, 0.526, 0.125)])
    record_run(runs / "transfer" / "scratch", [(240, 179, 0.999, 0.682), (480, 366, 0.988, 0.533)])
    record_run(runs / "data_efficiency" / "whisper-base-0.1", [(60, 30, 0.738, 0.199), (240, 220, 0.647, 0.175)], hours=0.17)
    record_run(runs / "data_efficiency" / "scratch-0.1", [(60, 50, 1.0, 1.0), (240, 230, 0.996, 0.586)], hours=0.17)
    record_run(runs / "paper" / "english", [(900, 6528, 1.184, 0.682)], hours=1.43)
    record_run(runs / "paper" / "german-frozen-6", [(240, 2041, 1.125, 0.637)])
    record_run(runs / "paper" / "german-scratch", [(240, 1748, 1.189, 0.723)])
    out = tmp_path / "docs" / "RESULTS.md"
    subprocess.run([sys.executable, str(ROOT / "recipes" / "report.py"), "--runs", str(runs), "--out", str(out)], check=True)
    text = out.read_text()
    assert "Machine: test machine, 2 cores." in text
    assert "| 240 | 121 | 69.5 | 16.8 | 179 | 99.9 | 68.2 |" in text
    assert "| 480 | 420 | 52.6 | 12.5 | 366 | 98.8 | 53.3 |" in text
    assert "1.43 h of synthetic English, 900 s (6528 steps)" in text and "118.4 % WER, 68.2 % CER" in text
    assert "| transferred from English | 6 | 240 | 2041 | 112.5 | 63.7 |" in text
    assert "| from scratch | – (random init) | 240 | 1748 | 118.9 | 72.3 |" in text
    assert "A WER above 100 %" in text
    assert "| 0.17 (10%) | 240 | 220 | 64.7 | 17.5 | 230 | 99.6 | 58.6 |" in text  # the last budget of each run
    assert "(30%)" not in text  # no such runs recorded: no row
    assert "## Augmentation" not in text  # nor section
    assert (out.parent / "learning_curve.png").stat().st_size > 10_000
