"""recipes/report.py turns recorded run folders into docs/RESULTS.md: tables from the runs' own files."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def record_run(run: Path, budgets_steps_wer_cer: list[tuple[int, int, float, float]], hours: float = 1.5,
               comparison: dict | None = None, by_speaker: dict | None = None, machine: str = "test machine, 2 cores",
               precision: str | None = None) -> None:
    run.mkdir(parents=True)
    lines = [{"event": "start", "step": 0, "train_hours": hours} | ({"precision": precision} if precision else {})]
    lines += [{"step": step, "loss": 1.0 / step, "train_seconds": step / 10} for step in range(1, 40)]
    for budget, steps, wer, cer in budgets_steps_wer_cer:
        lines.append({"step": steps, "dev_wer": wer, "dev_cer": cer, "train_seconds": budget - 1.0})
        lines.append({"event": "end", "reason": "time_budget", "step": steps, "train_seconds": budget + 0.5})
        report = {"command": "asr eval", "machine": machine,
                  "results": [{"model": str(run / "last.safetensors"), "wer": wer, "cer": cer, "comparison": comparison,
                               "by_speaker": by_speaker or {},
                               "utterances": [{"reference": "ein wort", "hypothesis": "ein wort"}] * 300,
                               "transcripts": {"hypotheses": ["ein wort"] * 300}, "worst": []}]}
        (run / f"test-{budget}.json").write_text(json.dumps(report))
    (run / "log.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_report_tables_come_from_the_recorded_runs(tmp_path):
    runs = tmp_path / "runs"
    record_run(runs / "transfer" / "whisper-base", [(240, 121, 0.695, 0.168), (480, 420, 0.526, 0.125)])
    record_run(runs / "transfer" / "scratch", [(240, 179, 0.999, 0.682), (480, 366, 0.988, 0.533)])
    record_run(runs / "data_efficiency" / "whisper-base-0.1", [(60, 30, 0.738, 0.199), (240, 220, 0.647, 0.175)], hours=0.17)
    record_run(runs / "data_efficiency" / "scratch-0.1", [(60, 50, 1.0, 1.0), (240, 230, 0.996, 0.586)], hours=0.17)
    record_run(runs / "paper" / "english", [(900, 6528, 1.184, 0.682), (3600, 26000, 0.512, 0.171)], hours=4.0, precision="bf16")
    record_run(runs / "paper" / "english-augmented", [(600, 1375, 0.45, 0.14)], precision="bf16")
    stage2_log = runs / "paper" / "english-augmented" / "log.jsonl"  # its schedule, set at its warmup's pace, ran out first
    stage2_log.write_text(stage2_log.read_text().replace('"train_seconds": 600.5', '"train_seconds": 539.5'))
    with_lm = json.loads((runs / "paper" / "english-augmented" / "test-600.json").read_text())
    with_lm["results"][0]["wer"] = 0.30
    with_lm["results"][0]["utterances"] = [{"word_edits": edits, "reference_words": 10} for edits in [2, 3, 4] * 100]
    (runs / "paper" / "english-augmented" / "test_lm-600.json").write_text(json.dumps(with_lm))
    record_run(runs / "paper_probe" / "english-continued-augment-default", [(600, 1375, 0.89, 0.41)])
    record_run(runs / "paper_probe" / "english-probe-residual", [(300, 650, 0.984, 0.617)])
    versus_scratch = {"difference": -0.064, "low": -0.09, "high": -0.038}
    record_run(runs / "paper" / "german-1.0" / "frozen-6", [(240, 2041, 1.125, 0.637)], comparison=versus_scratch)
    record_run(runs / "paper" / "german-1.0" / "scratch", [(240, 1748, 1.189, 0.723)])
    record_run(runs / "whisper_layers" / "german-0.125" / "frozen-2", [(240, 300, 0.61, 0.15)], hours=1.0, comparison=versus_scratch)
    out, records = tmp_path / "docs" / "RESULTS.md", tmp_path / "docs" / "results" / "recipes"
    report = [sys.executable, str(ROOT / "recipes" / "report.py"), "--records", str(records), "--out", str(out)]
    subprocess.run(report + ["--runs", str(runs)], check=True)
    text = out.read_text()
    assert "Machines: test machine, 2 cores (the frozen-layer tables name their own)." in text
    assert "Machine: test machine, 2 cores. Training precision: not recorded." in text  # runs whose logs predate it
    assert "| 240 | 121 | 69.5 | 16.8 | 179 | 99.9 | 68.2 |" in text
    assert "| 480 | 420 | 52.6 | 12.5 | 366 | 98.8 | 53.3 |" in text
    assert "The English source model, 4.00 h of synthetic English" in text
    assert "| 1, augmentation off | 900 | 6528 | 118.4 | 68.2 | – |" in text and "| 1, augmentation off | 3600 | 26000 | 51.2 | 17.1 | – |" in text
    # stage 2's time counts on from stage 1's last; each stage's time is what it trained, not its budget
    # the record keeps the WER's bootstrap interval, from the per-utterance edits it leaves out (0.3 over 300 utterances)
    assert "| 2, augmentation on | 4140 | 1375 | 45.0 | 14.0 | 30.0 [29.1, 30.9] |" in text
    assert "both stages together.\n\nMachine: test machine, 2 cores. Training precision: bf16.\n" in text
    assert "### 1.50 h of German speech (100.0% of the training split)" in text
    assert "| 6 | 2041 | 112.5 | -6.4 [-9.0, -3.8] | 63.7 |" in text
    assert "| – (from scratch) | 1748 | 118.9 | baseline | 72.3 |" in text
    assert "| 8 | – | – | – | – |" in text  # a run not recorded: its row says so
    assert "A WER above 100 %" in text
    assert "## The same table for whisper-base" in text and "### 1.00 h of German speech (12.5% of the training split)" in text
    assert "| 2 | 300 | 61.0 | -6.4 [-9.0, -3.8] | 15.0 |" in text
    assert "data sizes and scoring as the paper's table, and its budgets." in text
    assert ("- **Transfer beats training from scratch** (Wav2Letter, 100.0% of the data, 240 s): holds. Best transferred: "
            "frozen 6 layers at 112.5 % WER against scratch's 118.9 % (Δ -6.4 [-9.0, -3.8] points).") in text
    assert (out.parent / "paper_curves.png").stat().st_size > 10_000
    assert "![English WER and CER against training time](paper_english_curve.png)" in text
    assert (out.parent / "paper_english_curve.png").stat().st_size > 10_000
    assert ("| english-continued-augment-default | the same, augmentation on (`--augment default`) | 599 | 1375 | 89.0 | 41.0 | "
            "89.0 (600 s) |") in text
    assert "| english-probe-residual | the same with shortcuts (`--model-size residual=true`) | 299 | 650 | 98.4 | 61.7 | 98.4 (300 s) |" in text
    assert "| 0.17 (10%) | 240 | 220 | 64.7 | 17.5 | 230 | 99.6 | 58.6 |" in text  # the last budget of each run
    assert "(30%)" not in text  # no such runs recorded: no row
    assert "## Augmentation" not in text  # nor section
    assert (out.parent / "learning_curve.png").stat().st_size > 10_000


def test_records_are_small_and_rebuild_the_same_report(tmp_path):
    runs, records = tmp_path / "runs", tmp_path / "records"
    record_run(runs / "transfer" / "whisper-base", [(240, 121, 0.695, 0.168), (480, 420, 0.526, 0.125)])
    record_run(runs / "transfer" / "scratch", [(240, 179, 0.999, 0.682)])
    report = [sys.executable, str(ROOT / "recipes" / "report.py"), "--records", str(records)]
    subprocess.run(report + ["--runs", str(runs), "--out", str(tmp_path / "first.md")], check=True)
    run_record = records / "transfer" / "whisper-base"
    assert not {"utterances", "transcripts", "worst"} & set(json.loads((run_record / "test-240.json").read_text())["results"][0])
    log = [json.loads(line) for line in (run_record / "log.jsonl").read_text().splitlines()]
    assert len(log) < 10 and [r["event"] for r in log if "event" in r] == ["start", "end", "end"]
    assert sum("dev_wer" in r for r in log) == 2

    shutil.rmtree(runs / "transfer" / "scratch")  # a run folder gone (another machine): its record stays
    subprocess.run(report + ["--runs", str(runs), "--out", str(tmp_path / "second.md")], check=True)
    subprocess.run(report + ["--runs", "none", "--out", str(tmp_path / "third.md")], check=True)
    first = (tmp_path / "first.md").read_text()
    assert first == (tmp_path / "second.md").read_text() == (tmp_path / "third.md").read_text()
    assert "| 240 | 121 | 69.5 | 16.8 | 179 | 99.9 | 68.2 |" in first

    missing = subprocess.run(report + ["--runs", str(tmp_path / "nowhere")], capture_output=True, text=True)
    assert missing.returncode == 2 and "--runs none" in missing.stderr


def test_findings_say_when_a_claim_does_not_hold(tmp_path):
    runs = tmp_path / "runs"
    layers = runs / "whisper_layers"
    straddling = {"difference": -0.01, "low": -0.03, "high": 0.01}
    elsewhere = {"machine": "test machine B, 2 cores (no native bf16)", "precision": "fp32"}
    record_run(layers / "german-0.125" / "frozen-3", [(480, 150, 0.40, 0.10)], hours=1.0, comparison=straddling, **elsewhere)
    record_run(layers / "german-0.125" / "scratch", [(480, 160, 0.41, 0.12)], hours=1.0, **elsewhere)
    record_run(layers / "german-1.0" / "frozen-3", [(480, 300, 0.30, 0.08)], hours=8.0,
               comparison={"difference": -0.5, "low": -0.55, "high": -0.45})
    record_run(layers / "german-1.0" / "scratch", [(480, 300, 0.80, 0.30)], hours=8.0,
               by_speaker={"pico/de-DE": {"wer": 0.9, "cer": 0.4, "utterances": 2}, "mbrola/mb-de5": {"wer": 0.7, "cer": 0.2, "utterances": 2}})
    out = tmp_path / "RESULTS.md"
    subprocess.run([sys.executable, str(ROOT / "recipes" / "report.py"), "--runs", str(runs), "--records",
                    str(tmp_path / "records"), "--out", str(out)], check=True)
    text = out.read_text()
    assert "(whisper-base, 12.5% of the data, 480 s): does not hold (the interval reaches zero)" in text
    assert "(whisper-base, 100.0% of the data, 480 s): holds" in text
    assert "WER % by test voice (frozen layers, at 480 s):" in text and "| run | mbrola/mb-de5 | pico/de-DE |" in text
    assert "| – (from scratch) | 70.0 | 90.0 |" in text and "| 3 | – | – |" in text
    assert ("- **Less data for the same accuracy** (whisper-base, 480 s): holds. Transferred on 12.5% of the data: "
            "40.0 % WER (frozen 3 layers, 150 steps); scratch on 100.0%: 80.0 % (300 steps) "
            "(on different machines: see each table's Machine line).") in text
    assert "Machine: test machine B, 2 cores (no native bf16). Training precision: fp32." in text


def test_release_choices_table_shows_each_change_against_the_recipe(tmp_path):
    runs = tmp_path / "runs"
    choices = runs / "release_choices"
    record_run(choices / "recipe", [(900, 585, 0.45, 0.11)], hours=8.0)
    worse = {"difference": 0.05, "low": 0.02, "high": 0.08}
    record_run(choices / "voices-12", [(900, 590, 0.50, 0.13)], hours=1.33, comparison=worse)
    for run, wer in ((choices / "recipe", 0.52), (choices / "voices-12", 0.60)):
        report = {"command": "asr eval", "machine": "test machine, 2 cores",
                  "results": [{"wer": wer, "cer": 0.2, "comparison": worse if "voices" in run.name else None}]}
        (run / "telephone-900.json").write_text(json.dumps(report))
    out = tmp_path / "RESULTS.md"
    subprocess.run([sys.executable, str(ROOT / "recipes" / "report.py"), "--runs", str(runs), "--records",
                    str(tmp_path / "records"), "--out", str(out)], check=True)
    text = out.read_text()
    assert "| recipe | the recipe (recipes/release/de.toml) | 8.00 | ? | 900 | 585 | 45.0 | baseline | 52.0 | baseline |" in text
    assert "| voices-12 | 12 voices, all their hours | 1.33 | ? | 900 | 590 | 50.0 | +5.0 [+2.0, +8.0] | 60.0 | +5.0 [+2.0, +8.0] |" in text
    assert "augment-off" not in text  # not run: no row
    assert (tmp_path / "records" / "release_choices" / "voices-12" / "telephone-900.json").is_file()


def test_learning_settings_have_their_own_table_against_their_own_recipe_run(tmp_path):
    runs = tmp_path / "runs"
    record_run(runs / "release_choices" / "recipe", [(480, 295, 0.60, 0.15)], hours=8.0)
    learning = runs / "learning_choices"
    record_run(learning / "recipe", [(900, 560, 0.45, 0.11)], hours=8.0)
    better = {"difference": -0.04, "low": -0.06, "high": -0.02}
    record_run(learning / "freeze-0", [(900, 540, 0.41, 0.10)], hours=8.0, comparison=better)
    record_run(learning / "spec-augment-off", [(900, 0, 0.0, 0.0)], hours=8.0)
    (learning / "spec-augment-off" / "test-900.json").unlink()  # trained, not yet scored: no row
    out = tmp_path / "RESULTS.md"
    subprocess.run([sys.executable, str(ROOT / "recipes" / "report.py"), "--runs", str(runs), "--records",
                    str(tmp_path / "records"), "--out", str(out)], check=True)
    text = out.read_text()
    choices, settings = text.index("## The release recipe's choices"), text.index("## The release recipe's learning settings")
    assert choices < settings
    assert "| recipe | the recipe (recipes/release/de.toml) | 8.00 | ? | 480 | 295 | 60.0 | baseline | – | – |" in text[choices:settings]
    table = text[settings:]
    assert "| recipe | the recipe as it was (recipes/release/de.toml then: 2 of 6 layers frozen, encoder learning rate 3e-4, SpecAugment on) | 8.00 | ? | 900 | 560 | 45.0 | baseline | – | – |" in table
    assert "| freeze-0 | no layer frozen | 8.00 | ? | 900 | 540 | 41.0 | -4.0 [-6.0, -2.0] | – | – |" in table
    assert "spec-augment-off" not in table
    augment = runs / "augment_choices"
    record_run(augment / "recipe", [(1500, 450, 0.50, 0.12)], hours=8.0)
    record_run(augment / "speed-0.5", [(1500, 430, 0.52, 0.13)], hours=8.0, comparison={"difference": 0.02, "low": -0.01, "high": 0.05})
    subprocess.run([sys.executable, str(ROOT / "recipes" / "report.py"), "--runs", str(runs), "--records",
                    str(tmp_path / "records"), "--out", str(out)], check=True)
    speed = out.read_text().split("## Speed perturbation in the release recipe")[1]
    assert "| speed-0.5 | speed perturbation (0.9 or 1.1) on half of the utterances, added to the recipe's mix | 8.00 | ? | 1500 | 430 | 52.0 | +2.0 [-1.0, +5.0] | – | – |" in speed
    assert "## The release recipe's freezing" not in out.read_text()  # no run yet: no table
    settings = runs / "settings_choices"
    record_run(settings / "recipe", [(900, 600, 0.50, 0.12)], hours=16.0)
    record_run(settings / "freeze-6", [(900, 800, 0.60, 0.15)], hours=16.0, comparison={"difference": 0.10, "low": 0.08, "high": 0.12})
    subprocess.run([sys.executable, str(ROOT / "recipes" / "report.py"), "--runs", str(runs), "--records",
                    str(tmp_path / "records"), "--out", str(out)], check=True)
    frozen = out.read_text().split("## The release recipe's freezing and learning rate, again")[1]
    assert "| freeze-6 | every layer and the last layer norm frozen: only the CTC head learns | 16.00 | ? | 900 | 800 | 60.0 | +10.0 [+8.0, +12.0] | – | – |" in frozen
    assert "freeze-5" not in frozen  # not run: no row


def test_paper_table_says_when_its_transfers_started_from_an_earlier_source_model(tmp_path):
    runs = tmp_path / "runs"
    record_run(runs / "paper" / "english", [(900, 3900, 0.9, 0.45)])
    record_run(runs / "paper" / "german-1.0" / "scratch", [(180, 900, 0.9, 0.4)])
    record_run(runs / "paper" / "german-1.0" / "frozen-6", [(180, 900, 0.8, 0.4)])

    def stamp(run: Path, start: float) -> None:  # each log line `time` seconds on from `start`
        log = run / "log.jsonl"
        lines = [json.loads(line) for line in log.read_text().splitlines()]
        log.write_text("".join(json.dumps(line | {"time": start + i}) + "\n" for i, line in enumerate(lines)))

    out = tmp_path / "RESULTS.md"
    report = [sys.executable, str(ROOT / "recipes" / "report.py"), "--runs", str(runs), "--records", str(tmp_path / "records"),
              "--out", str(out)]
    for german_start, earlier in ((2000.0, False), (1000.0, True)):
        stamp(runs / "paper" / "english", 1000.0)
        stamp(runs / "paper" / "german-1.0" / "frozen-6", german_start)
        subprocess.run(report, check=True)
        assert ("transferred from an earlier English source model" in out.read_text()) == earlier


def test_whisper_table_says_when_it_was_recorded_at_other_budgets_and_precision(tmp_path):
    runs = tmp_path / "runs"
    record_run(runs / "paper" / "german-1.0" / "scratch", [(180, 900, 0.9, 0.4), (360, 1800, 0.8, 0.3)], precision="bf16")
    record_run(runs / "whisper_layers" / "german-1.0" / "scratch", [(240, 300, 1.0, 0.9), (480, 600, 0.9, 0.5)], precision="fp32")
    out = tmp_path / "RESULTS.md"
    subprocess.run([sys.executable, str(ROOT / "recipes" / "report.py"), "--runs", str(runs),
                    "--records", str(tmp_path / "records"), "--out", str(out)], check=True)
    assert ("data sizes and scoring as the paper's table; recorded at other settings, 240, 480 s in fp32 (the paper's "
            "table: 180, 360 s in bf16)") in out.read_text()


def test_side_by_side_table_only_where_both_tables_were_recorded_alike(tmp_path):
    runs = tmp_path / "runs"
    versus_scratch = {"difference": -0.05, "low": -0.07, "high": -0.03}
    for system, frozen in (("paper", (6, 8)), ("whisper_layers", (2, 3))):
        data = runs / system / "german-0.125"
        record_run(data / "scratch", [(180, 900, 0.93, 0.5), (360, 1800, 0.90, 0.4)], hours=1.0, precision="bf16")
        scale = 1.0 if system == "paper" else 0.5  # whisper-base: half the WER
        record_run(data / f"frozen-{frozen[0]}", [(180, 900, 0.87 * scale, 0.4), (360, 1800, 0.89 * scale, 0.4)], hours=1.0,
                   comparison=versus_scratch, precision="bf16")
        record_run(data / f"frozen-{frozen[1]}", [(180, 900, 0.92 * scale, 0.4), (360, 1800, 0.85 * scale, 0.4)], hours=1.0,
                   comparison=versus_scratch, precision="bf16")
    out = tmp_path / "RESULTS.md"
    report = [sys.executable, str(ROOT / "recipes" / "report.py"), "--runs", str(runs), "--records", str(tmp_path / "records"),
              "--out", str(out)]
    subprocess.run(report, check=True)
    text = out.read_text()
    assert "### Side by side" in text
    assert "| 1.00 | 180 | 93.0 | 87.0 (6 frozen) | 93.0 | 43.5 (2 frozen) |" in text
    assert "| 1.00 | 360 | 90.0 | 85.0 (8 frozen) | 90.0 | 42.5 (3 frozen) |" in text
    # the whisper-base table trained in fp32: a budget bought it other steps, so no row compares
    shutil.rmtree(tmp_path / "records")
    log = runs / "whisper_layers" / "german-0.125" / "scratch" / "log.jsonl"
    log.write_text(log.read_text().replace('"precision": "bf16"', '"precision": "fp32"'))
    subprocess.run(report, check=True)
    assert "### Side by side" not in out.read_text()


def test_dev_curve_puts_two_runs_side_by_side_at_the_steps_both_evaluated(tmp_path):
    def write_log(path: Path, evaluations: list[tuple[int, float]]) -> Path:
        path.write_text("".join(json.dumps({"step": step, "loss": 1.0}) + "\n" + json.dumps(
            {"step": step, "dev_wer": wer, "dev_cer": wer / 4, "train_seconds": step / 2}) + "\n" for step, wer in evaluations))
        return path

    candidate = write_log(tmp_path / "candidate.jsonl", [(1000, 0.36), (2000, 0.30)])
    shipped = write_log(tmp_path / "shipped.jsonl", [(1000, 0.446), (2000, 0.354), (3000, 0.323)])
    dev = tmp_path / "dev.jsonl"
    dev.write_text("{}\n" * 3)
    table = subprocess.run([sys.executable, str(ROOT / "recipes" / "dev_curve.py"), f"candidate={candidate}",
                            f"shipped={shipped}", "--dev", str(dev)], check=True, capture_output=True, text=True).stdout
    assert table.startswith("Dev set (3 utterances")
    assert "| step | candidate: dev WER % | dev CER % | training s | shipped: dev WER % | dev CER % | training s |" in table
    assert "| 2000 | 30.0 | 7.5 | 1000 | 35.4 | 8.8 | 1000 |" in table
    assert "| 3000 |" not in table  # the candidate has not reached it
