"""docs/RESULTS.md from the recorded recipe runs: tables and the learning curve, nothing typed by hand.

Each run folder under --runs (untracked, with its checkpoints) is first recorded into --records (committed):
its log.jsonl (training and dev metrics; every tenth training line) and its test-<budget>.json
(`asr eval --json` on the held-out-voice test set: the scores, without the transcripts). The report is then
built from the records alone, so it can be regenerated from a fresh clone.

    python recipes/report.py --runs runs/recipes --out docs/RESULTS.md
    python recipes/report.py --runs none          # rebuild from docs/results/recipes only
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

from eval.bootstrap import wer_interval

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def record(runs: Path, records: Path) -> int:
    """Copies what the report reads of every run under `runs` into `records`; returns how many runs."""
    count = 0
    for log_path in sorted(runs.rglob("log.jsonl")):
        run = log_path.parent
        target = records / run.relative_to(runs)
        target.mkdir(parents=True, exist_ok=True)
        lines = log_path.read_text().splitlines()
        # events and dev metrics all kept; the per-step training lines thinned for a small record
        kept = [line for i, line in enumerate(lines) if '"event"' in line or '"dev_' in line or i % 10 == 0]
        (target / "log.jsonl").write_text("".join(line + "\n" for line in kept))
        for path in [*run.glob("test-*.json"), *run.glob("telephone-*.json"), *run.glob("test_lm-*.json")]:
            report = json.loads(path.read_text())
            for result in report["results"]:
                utterances = result.get("utterances") or []
                if utterances and all("word_edits" in u for u in utterances):  # what the record leaves out, summed up
                    result["wer_interval"] = wer_interval([u["word_edits"] for u in utterances],
                                                          [u["reference_words"] for u in utterances])
                for long in ("utterances", "transcripts", "worst"):  # the hypotheses: in the run folder's own report
                    result.pop(long, None)
            (target / path.name).write_text(json.dumps(report, indent=1) + "\n")
        count += 1
    return count


def test_results(run: Path, test_set: str = "test") -> dict[int, dict]:
    """Budget (s) -> the result of the model at that budget on the test set (`test`; `telephone`, its telephone
    variant; `test_lm`, the test set decoded with beam search and an LM), from the run's <test_set>-<budget>.json."""
    results = {}
    for path in run.glob(f"{test_set}-*.json"):
        report = json.loads(path.read_text())
        results[int(path.stem.removeprefix(f"{test_set}-"))] = {**report["results"][0], "machine": report["machine"], "command": report["command"]}
    return dict(sorted(results.items()))


def log(run: Path) -> list[dict]:
    path = run / "log.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def end_at(run: Path, budget: int) -> dict | None:
    """The run's log event of where it stopped at `budget` seconds, or None where its log has none."""
    ends = [r for r in log(run) if r.get("event") == "end" and r["train_seconds"] <= budget + 10]
    return max(ends, key=lambda r: r["step"]) if ends else None


def steps_at(run: Path, budget: int) -> str:
    """Optimizer steps the run had taken when it stopped at `budget` seconds."""
    end = end_at(run, budget)
    return str(end["step"]) if end else "?"


def seconds_at(run: Path, budget: int) -> float:
    """Seconds the run had trained when it stopped at `budget`: fewer than the budget where its schedule, set at the
    pace of its warmup (--max-steps 0), ran out first."""
    end = end_at(run, budget)
    return end["train_seconds"] if end else budget


def pct(value: float) -> str:
    return f"{100 * value:.1f}"


def pct_interval(result: dict) -> str:
    """A test result's WER in percent, with its 95 % bootstrap interval where its record has one."""
    bounds = result.get("wer_interval")
    return pct(result["wer"]) + (f" [{pct(bounds[0])}, {pct(bounds[1])}]" if bounds else "")


def interval(comparison: dict) -> str:
    """A paired-bootstrap comparison as "Δ [low, high]", in WER points."""
    return f"{100 * comparison['difference']:+.1f} [{100 * comparison['low']:+.1f}, {100 * comparison['high']:+.1f}]"


def transfer_section(runs: Path, out_dir: Path) -> list[str]:
    models = {"whisper-base": "whisper-base, fine-tuned (3 of 6 layers frozen)", "scratch": "same architecture, random init"}
    found = {m: test_results(runs / "transfer" / m) for m in models if (runs / "transfer" / m).exists()}
    if not found:
        return []
    budgets = sorted({b for r in found.values() for b in r})
    lines = ["## Transfer vs. baseline", "",
             "The pretrained whisper-base encoder fine-tuned to German against the same architecture trained from random "
             "weights, on the same data with the same wall-clock budget; WER and CER on the held-out-voice test set "
             "(voices never heard in training) at equal training-time checkpoints.", "",
             "| training time (s) | " + " | ".join(f"{m} steps | {m} WER % | {m} CER %" for m in found) + " |",
             "|---:|" + "---:|---:|---:|" * len(found)]
    for budget in budgets:
        cells = [f"{steps_at(runs / 'transfer' / m, budget)} | {pct(found[m][budget]['wer'])} | {pct(found[m][budget]['cer'])}"
                 if budget in found[m] else "– | – | –" for m in found]
        lines.append(f"| {budget} | " + " | ".join(cells) + " |")
    lines += [""] + [f"- **{m}**: {models[m]}" for m in found] + [""]

    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for (model, results), color in zip(found.items(), ("tab:blue", "tab:red")):
        records = log(runs / "transfer" / model)
        for axis, metric in zip(axes, ("wer", "cer")):
            dev = [(r["train_seconds"], r[f"dev_{metric}"]) for r in records if f"dev_{metric}" in r]
            if dev:
                axis.plot(*zip(*dev), marker=".", linestyle="--", color=color, alpha=0.6, label=f"{model} (dev)")
            axis.plot(list(results), [r[metric] for r in results.values()], marker="o", color=color, label=f"{model} (test)")
    for axis, metric in zip(axes, ("WER", "CER")):
        axis.set_xlabel("training time (s)")
        axis.set_ylabel(metric)
        axis.set_ylim(0, 1.05)
        axis.grid(alpha=0.3)
        axis.set_title(f"German {metric} against training time")
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(out_dir / "learning_curve.png", dpi=120)
    plt.close(figure)
    lines += ["![WER and CER against training time](learning_curve.png)", ""]
    return lines


def data_efficiency_section(runs: Path) -> list[str]:
    root = runs / "data_efficiency"
    if not root.exists():
        return []
    models = ("whisper-base", "scratch")
    lines = ["## Data efficiency", "",
             "The same comparison trained on a fixed random 10 %, 30 % and 100 % of the training hours, equal budget each.", "",
             "| training hours | training time (s) | " + " | ".join(f"{m} steps | {m} WER % | {m} CER %" for m in models) + " |",
             "|---:|---:|" + "---:|---:|---:|" * len(models)]
    for fraction in ("0.1", "0.3", "1.0"):
        runs_of = {m: root / f"{m}-{fraction}" for m in models}
        results = {m: test_results(run) for m, run in runs_of.items()}
        budgets = {max(r) for r in results.values() if r}
        if not budgets:
            continue
        budget = max(budgets)
        hours = next((h for run in runs_of.values() if (h := _train_hours(run))), "?")
        cells = [f"{steps_at(runs_of[m], budget)} | {pct(results[m][budget]['wer'])} | {pct(results[m][budget]['cer'])}"
                 if budget in results[m] else "– | – | –" for m in models]
        lines.append(f"| {hours} ({float(fraction):.0%}) | {budget} | " + " | ".join(cells) + " |")
    return lines + [""]


def _train_hours(run: Path) -> str | None:
    for line in log(run):
        if line.get("event") == "start":
            return f"{line['train_hours']:.2f}"
    return None


def augmentation_section(runs: Path) -> list[str]:
    root = runs / "augmentation"
    rows = {name: test_results(root / name) for name in ("off", "default") if (root / name).exists()}
    if not rows:
        return []
    lines = ["## Augmentation against telephone speech", "",
             "whisper-base fine-tuned with and without on-the-fly augmentation (`--augment default`: noise, reverberation, "
             "speed, gain and a telephone channel), equal budgets, scored on the held-out test voices passed through a "
             "telephone channel (300-3400 Hz, 8 kHz, mu-law).", "",
             "| training augmentation | training time (s) | steps | telephone test WER % | CER % |", "|---|---:|---:|---:|---:|"]
    for name, results in rows.items():
        if results:
            budget = max(results)
            r = results[budget]
            lines.append(f"| {name} | {budget} | {steps_at(root / name, budget)} | {pct(r['wer'])} | {pct(r['cer'])} |")
    return lines + [""]


def frozen_layers_tables(root: Path, frozen: tuple[int, ...], out_dir: Path, figure_name: str) -> list[str]:
    """One table per data size (root/german-<fraction>/): each run's test WER at every budget with the paired-bootstrap
    interval of its difference from the from-scratch run, CER and steps; and the dev learning curves as a figure."""
    lines, curves, wer_above_100 = [], {}, False
    for data in sorted(root.glob("german-*"), key=lambda p: float(p.name.removeprefix("german-"))):
        names = {f"frozen-{n}": str(n) for n in frozen} | {"scratch": "– (from scratch)"}
        results = {name: test_results(data / name) for name in names}
        budgets = sorted({b for r in results.values() for b in r})
        if not budgets:
            continue
        fraction = float(data.name.removeprefix("german-"))
        hours = next((h for name in names if (h := _train_hours(data / name))), "?")
        lines += [f"### {hours} h of German speech ({fraction:.1%} of the training split)", "",
                  where_trained([data / name for name in names], results.values()), "",
                  "| frozen layers | " + " | ".join(f"{b} s: steps | WER % | Δ WER vs scratch [95 % CI] | CER %" for b in budgets) + " |",
                  "|---|" + "---:|---:|---|---:|" * len(budgets)]
        for name, label in names.items():
            cells = []
            for budget in budgets:
                r = results[name].get(budget)
                if r is None:
                    cells.append("– | – | – | –")
                    continue
                c = r.get("comparison")
                delta = interval(c) if c else "baseline"
                cells.append(f"{steps_at(data / name, budget)} | {pct(r['wer'])} | {delta} | {pct(r['cer'])}")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
            wer_above_100 |= any(r["wer"] > 1 for r in results[name].values())
            curves[(fraction, label)] = [(r["train_seconds"], r["dev_wer"]) for r in log(data / name) if "dev_wer" in r]
        lines.append("")
        last = budgets[-1]
        lines += voice_table({label: results[name].get(last) for name, label in names.items()}, f"frozen layers, at {last} s")
    if wer_above_100:
        lines += ["A WER above 100 %: substitutions, deletions and insertions together outnumber the reference words "
                  "(nearly every word has a wrong character, and extra words are inserted); CER then tells the models apart.", ""]
    if curves:
        fractions = sorted({f for f, _ in curves})
        figure, axes = plt.subplots(1, len(fractions), figsize=(5.5 * len(fractions), 4), squeeze=False)
        for axis, fraction in zip(axes[0], fractions):
            for (f, label), points in curves.items():
                if f == fraction and points:
                    axis.plot(*zip(*points), marker=".", label=f"frozen {label}" if label[0].isdigit() else label)
            axis.set_title(f"{fraction:.1%} of the German training split")
            axis.set_xlabel("training time (s)")
            axis.set_ylabel("dev WER")
            axis.grid(alpha=0.3)
            axis.legend()
        figure.tight_layout()
        figure.savefig(out_dir / figure_name, dpi=120)
        plt.close(figure)
        lines += [f"![dev WER against training time]({figure_name})", ""]
    return lines


def trained_precision(run: Path) -> str | None:
    """The precision the run trained in, from its log's first start event; None where its log predates the field."""
    return next((start.get("precision") for start in log(run)[:1]), None)


def where_trained(runs: list[Path], results) -> str:
    """The machine the runs were scored on and the precision they trained in, from their records: tables recorded on
    different machines sit side by side in this report, and a budget buys several times the steps with native bf16."""
    machines = sorted({r["machine"] for by_budget in results for r in by_budget.values()})
    precisions = sorted({trained_precision(run) or "not recorded" for run in runs if log(run)})
    return f"Machine: {'; '.join(machines)}. Training precision: {', '.join(precisions)}."


def voice_table(results: dict[str, dict | None], what: str) -> list[str]:
    """WER by test voice, one row a run: which runs carry over to the voices (engines) training never heard.
    From the test reports' by_speaker; nothing where they have none."""
    voices = sorted({v for r in results.values() if r for v in r.get("by_speaker") or {}})
    if not voices:
        return []
    lines = [f"WER % by test voice ({what}):", "", "| run | " + " | ".join(voices) + " |", "|---|" + "---:|" * len(voices)]
    for label, r in results.items():
        by_voice = (r or {}).get("by_speaker") or {}
        lines.append(f"| {label} | " + " | ".join(pct(by_voice[v]["wer"]) if v in by_voice else "–" for v in voices) + " |")
    return lines + [""]


def best_transferred(data: Path, frozen: tuple[int, ...], budget: int) -> tuple[int, dict] | None:
    """(frozen layers, test result) of the transferred run under data with the lowest test WER at budget."""
    scored = [(n, results[budget]) for n in frozen if budget in (results := test_results(data / f"frozen-{n}"))]
    return min(scored, key=lambda item: item[1]["wer"], default=None)


def findings(root: Path, frozen: tuple[int, ...], system: str) -> list[str]:
    """The paper's two claims, tested on the recorded runs under root/german-<fraction>/, in plain sentences:
    a transferred model beats the one trained from scratch at equal wall-clock time (paired bootstrap), and
    transfer on less data reaches what scratch reaches on all of it."""
    wer, folders = {}, {}  # (fraction, run name, budget) -> result; fraction -> its folder
    for data in root.glob("german-*"):
        fraction = float(data.name.removeprefix("german-"))
        folders[fraction] = data
        for name in [f"frozen-{n}" for n in frozen] + ["scratch"]:
            for budget, result in test_results(data / name).items():
                wer[fraction, name, budget] = result
    settings = sorted({(f, b) for f, _, b in wer})
    lines = []
    for fraction, budget in settings:
        scratch = wer.get((fraction, "scratch", budget))
        transferred = best_transferred(folders[fraction], frozen, budget)
        if scratch is None or transferred is None:
            continue
        layers, best = transferred
        c = best.get("comparison")
        if c is None:
            continue
        verdict = "holds" if c["high"] < 0 else "does not hold (the interval reaches zero)" if c["low"] < 0 else "does not hold"
        lines.append(f"- **Transfer beats training from scratch** ({system}, {fraction:.1%} of the data, {budget} s): {verdict}. "
                     f"Best transferred: frozen {layers} layers at {pct(best['wer'])} % WER against scratch's "
                     f"{pct(scratch['wer'])} % (Δ {interval(c)} points).")
    fractions = sorted({f for f, _ in settings})
    for budget in sorted({b for _, b in settings}):
        if len(fractions) < 2:
            break
        small, full = fractions[0], fractions[-1]
        transferred = best_transferred(folders[small], frozen, budget)
        scratch = wer.get((full, "scratch", budget))
        if transferred and scratch:
            layers, best = transferred
            verdict = "holds" if best["wer"] < scratch["wer"] else "does not hold"
            steps = (steps_at(folders[small] / f"frozen-{layers}", budget), steps_at(folders[full] / "scratch", budget))
            # A budget buys the steps of its machine: where the two ran on different ones, the steps say how unequal.
            caveat = "" if best["machine"] == scratch["machine"] else " (on different machines: see each table's Machine line)"
            lines.append(f"- **Less data for the same accuracy** ({system}, {budget} s): {verdict}. Transferred on {small:.1%} "
                         f"of the data: {pct(best['wer'])} % WER (frozen {layers} layers, {steps[0]} steps); "
                         f"scratch on {full:.1%}: {pct(scratch['wer'])} % ({steps[1]} steps){caveat}.")
    return (["Which of the paper's claims hold here, from the runs above:", "", *lines, ""]) if lines else []


def english_stages(root: Path) -> list[tuple[str, Path, int]]:
    """The English source model's recorded stages: (what, run, seconds of training before it). Stage 2 starts from
    stage 1's model at its last budget (recipes/run.sh paper_source)."""
    stages, offset = [], 0
    for what, name in (("1, augmentation off", "english"), ("2, augmentation on", "english-augmented")):
        test = test_results(root / name)
        if not test:
            break
        stages.append((what, root / name, offset))
        offset += seconds_at(root / name, max(test))
    return stages


def english_curve(stages: list[tuple[str, Path, int]], out_dir: Path) -> list[str]:
    """The English source model's learning curve over its stages: dev WER and CER from the logs, test scores at each
    budget, against the training time of both stages together."""
    figure, axis = plt.subplots(figsize=(6, 4))
    for metric, color in (("wer", "tab:blue"), ("cer", "tab:orange")):
        dev = [(offset + r["train_seconds"], r[f"dev_{metric}"]) for _, run, offset in stages for r in log(run) if "dev_wer" in r]
        test = [(offset + seconds_at(run, budget), r[metric]) for _, run, offset in stages for budget, r in test_results(run).items()]
        if dev:
            axis.plot(*zip(*dev), marker=".", linestyle="--", color=color, alpha=0.6, label=f"dev {metric.upper()}")
        axis.plot(*zip(*test), marker="o", color=color, label=f"test {metric.upper()}")
    for _, _, offset in stages[1:]:
        axis.axvline(offset, color="grey", linewidth=0.8)
    axis.set_xlabel("training time (s)")
    axis.set_title("English source model (Wav2Letter)")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(out_dir / "paper_english_curve.png", dpi=120)
    plt.close(figure)
    return ["![English WER and CER against training time](paper_english_curve.png)", ""]


WAV2LETTER_FROZEN = (0, 6, 8, 10)  # of its 11 layers, as the paper
WHISPER_FROZEN = (0, 2, 3, 4, 5)  # of its 6


def paper_section(runs: Path, out_dir: Path) -> list[str]:
    root = runs / "paper"
    if not root.exists():
        return []
    lines = ["## The paper's system: Wav2Letter, English to German", "",
             "Wav2Letter trained from scratch on synthetic English, then trained on German with its lower layers frozen "
             "(Kunze et al., 2017), against Wav2Letter trained on German from scratch: the same data and the same "
             "wall-clock budget for every German run, each scored at every budget (one run, resumed exactly) on the "
             "first 300 utterances of the German release test set (voices never heard in training).", "",
             "How this setting differs from the paper's: the speech is synthetic (Debian's synthesizers, dozens of voices, "
             "test voices never heard in training) where the paper used recorded corpora (LibriSpeech for English, some "
             "hundreds of hours of German); budgets are minutes to an hour on a 2-core CPU where the paper trained for days "
             "on a GPU; the model is narrower (128 and 256 channels against 250 and 2000) and, unlike the paper's, has "
             "shortcuts around its layers and layer norm; WER is greedy decoding without a language model.", ""]
    stages = english_stages(root)
    if stages:
        lines += [f"The English source model, {_train_hours(root / 'english')} h of synthetic English (the train split's "
                  "pitch and formants drawn from wider ranges than the held-out voices': `EN_VARIATION` in recipes/run.sh), "
                  "trained in two stages (`recipes/paper_wav2letter/english*.toml`); on its own held-out voices, against the "
                  "training time of both stages together.", "",
                  where_trained([run for _, run, _ in stages], [test_results(run) for _, run, _ in stages]), "",
                  "| stage | training time (s) | steps in the stage | WER % | CER % | WER % with the LM |",
                  "|---|---:|---:|---:|---:|---:|"]
        any_lm = False
        for what, run, offset in stages:
            with_lm = test_results(run, "test_lm")
            any_lm = any_lm or bool(with_lm)
            lines += [f"| {what} | {offset + seconds_at(run, b):.0f} | {steps_at(run, b)} | {pct(r['wer'])} | {pct(r['cer'])} | "
                      f"{pct_interval(with_lm[b]) if b in with_lm else '–'} |" for b, r in test_results(run).items()]
        lines.append("")
        if any_lm:
            lines += ["WER with the LM: beam search with a 4-gram LM of the English train split's sentences, its weights "
                      "tuned on 300 dev utterances, with its 95 % bootstrap interval over the test utterances; greedy "
                      "decoding everywhere else.", ""]
        lines += english_curve(stages, out_dir)
    lines += english_probes(runs / "paper_probe")
    if stages and transferred_before(root, stages[-1][1]):
        lines += ["**The German runs below were transferred from an earlier English source model than the one above**: "
                  "they started before its last stage ended (the earlier source models are among the runs that chose "
                  "its recipe). `rm -r runs/recipes/paper/german-*/frozen-*; bash recipes/run.sh paper` transfers from "
                  "this one; the from-scratch runs stay as they are.", ""]
    return (lines + frozen_layers_tables(root, WAV2LETTER_FROZEN, out_dir, "paper_curves.png")
            + findings(root, WAV2LETTER_FROZEN, "Wav2Letter"))


def transferred_before(root: Path, source: Path) -> bool:
    """Whether a transfer run under root (german-*/frozen-*) started before the source model's run ended: it was
    transferred from an earlier model. Logs without times (older records) say nothing."""
    source_end = max((r["time"] for r in log(source) if "time" in r), default=None)
    starts = [first["time"] for run in root.glob("german-*/frozen-*") if (first := next(iter(log(run)), {})).get("time")]
    return source_end is not None and any(start < source_end for start in starts)


ENGLISH_PROBES = {
    # Its model was lost with its machine; the stage 1 above is a shorter run of the same config.
    "english-stage1-3600": "stage 1 alone to 3600 s, an earlier run (test WER at 900, 1800 and 3600 s)",
    "english-augment-from-scratch": "from scratch with on-the-fly augmentation (`--augment default`) throughout",
    "english-continued-augment-off": "english-stage1-3600's model trained 600 s more, augmentation off",
    "english-continued-augment-default": "the same, augmentation on (`--augment default`)",
    "english-stage1-one-core": "stage 1 from scratch on one core of a 2-core AVX2 CPU (fp32), beside the next run",
    "english-stage1-normalize-input": "the same with each mel band normalised over the utterance first "
                                      "(`--model-size normalize_input=true`), on the other core",
    "english-probe-plain": "stage 1 from scratch for 300 s, the plain stack, on a 2-core AVX2 CPU (fp32) alone; "
                           "dev: its first 200 utterances",
    "english-probe-residual": "the same with shortcuts (`--model-size residual=true`)",
    "english-probe-residual-lr3e-3": "the same with shortcuts and the learning rates at 3e-3 (1e-3 elsewhere)",
    "english-probe-residual-wide": "the same with shortcuts at twice the width (`channels=256,wide_channels=512`)",
    "english-4h-stage1": "the source model's stage 1 as first recorded: 4 h of train speech at the held-out voices' "
                         "pitch and formant ranges (-3 to +3, -1.5 to +1.5 semitones); test: the first 525 utterances "
                         "of the test set above (the same audio)",
    "english-4h-stage2": "its stage 2, 1500 s from english-4h-stage1's 900-s model (test WER with the LM after the "
                         "semicolon)",
    "english-10h-stage2-1500": "stage 2 as first recorded on the train split above: 1500 s (the learning rate decaying "
                               "over that budget) from the same stage 1 config's 900-s model (test WER with the LM "
                               "after the semicolon)",
}


def english_probes(root: Path) -> list[str]:
    """Runs that chose the English source model's recipe: each one's last dev scores, steps and time (and its
    test scores where it has any), from its log."""
    rows = []
    for name, what in ENGLISH_PROBES.items():
        dev = [r for r in log(root / name) if "dev_wer" in r]
        if not dev:
            continue
        test = test_results(root / name)
        with_lm = test_results(root / name, "test_lm")
        at_test = ", ".join(f"{pct(r['wer'])} ({budget} s)" + (f"; {pct(with_lm[budget]['wer'])}" if budget in with_lm else "")
                            for budget, r in test.items()) or "–"
        rows.append(f"| {name} | {what} | {dev[-1]['train_seconds']:.0f} | {dev[-1]['step']} | "
                    f"{pct(dev[-1]['dev_wer'])} | {pct(dev[-1]['dev_cer'])} | {at_test} |")
    if not rows:
        return []
    return ["The runs that chose the English source model's recipe (`recipes/paper_wav2letter/english*.toml`): the "
            "english-stage1 and -continued ones, earlier and on the plain stack (the paper's, with layer norm), chose its "
            "two stages; the english-probe ones chose the shortcuts around each layer of unchanged shape, which the model "
            "above has; the english-4h ones are the source model as first recorded, before its train split grew to 8 h "
            "with wider pitch and formant ranges (`EN_HOURS`, `EN_VARIATION` in recipes/run.sh); "
            "english-10h-stage2-1500, its dev WER still falling at its end, chose stage 2's longer budget "
            "(`EN_AUGMENTED_BUDGETS`). Dev set (a voice never "
            "heard in training) at each run's end, test set at each budget scored:", "",
            "| run | what | training time (s) | steps | dev WER % | dev CER % | test WER % (at) |",
            "|---|---|---:|---:|---:|---:|---:|", *rows, ""]


def recorded_setting(root: Path) -> tuple[list[int], list[str]]:
    """The budgets a frozen-layers table was scored at and the precisions its runs trained in, where their logs say."""
    runs = [run for data in root.glob("german-*") for run in data.iterdir() if run.is_dir()]
    budgets = sorted({b for run in runs for b in test_results(run)})
    return budgets, sorted({precision for run in runs if (precision := trained_precision(run))})


def alike(root: Path, other: Path) -> str:
    """How far the table under root was recorded as the one under other was: the end of a sentence. Tables recorded
    in different sessions can differ in budgets and precision (bf16 buys several times the steps of a budget)."""
    (budgets, precisions), (other_budgets, other_precisions) = recorded_setting(root), recorded_setting(other)
    if not other_budgets or (budgets, precisions) == (other_budgets, other_precisions):
        return ", and its budgets."
    return (f"; recorded at other settings, {', '.join(map(str, budgets))} s in {', '.join(precisions)} (the paper's "
            f"table: {', '.join(map(str, other_budgets))} s in {', '.join(other_precisions)}), each table on the German "
            "release corpus as built when it ran: compare their shapes, not their rows.")


def side_by_side(paper: Path, whisper: Path) -> list[str]:
    """The 2017 system and today's pretrained encoder at each data size and budget both tables hold: each one from
    scratch and its best transferred run, test WER. Only where both were recorded alike (budgets and precision):
    otherwise a budget bought each a different number of steps and their rows do not compare."""
    if recorded_setting(paper) != recorded_setting(whisper):
        return []
    rows = []
    for data in sorted(paper.glob("german-*"), key=lambda p: float(p.name.removeprefix("german-"))):
        other = whisper / data.name
        budgets = sorted(set(test_results(data / "scratch")) & set(test_results(other / "scratch")))
        for budget in budgets:
            cells = []
            for root, frozen in ((data, WAV2LETTER_FROZEN), (other, WHISPER_FROZEN)):
                best = best_transferred(root, frozen, budget)
                cells += [pct(test_results(root / "scratch")[budget]["wer"]),
                          f"{pct(best[1]['wer'])} ({best[0]} frozen)" if best else "–"]
            rows.append(f"| {_train_hours(data / 'scratch') or '?'} | {budget} | " + " | ".join(cells) + " |")
    if not rows:
        return []
    return ["### Side by side", "",
            "Test WER % of each system from scratch and of its best transferred run (frozen layers in brackets), from the "
            "two tables above:", "",
            "| hours of German | budget (s) | Wav2Letter from scratch | Wav2Letter from English | "
            "whisper-base from random weights | whisper-base pretrained |",
            "|---:|---:|---:|---:|---:|---:|", *rows, ""]


def whisper_layers_section(runs: Path, out_dir: Path) -> list[str]:
    root = runs / "whisper_layers"
    if not root.exists():
        return []
    lines = ["## The same table for whisper-base", "",
             "The pretrained whisper-base encoder fine-tuned to German with 0, 2, 3, 4 or 5 of its 6 layers frozen, "
             "against the same architecture from random weights; data sizes and scoring as the paper's table"
             + alike(root, runs / "paper"), ""]
    return (lines + frozen_layers_tables(root, WHISPER_FROZEN, out_dir, "whisper_layers_curves.png")
            + findings(root, WHISPER_FROZEN, "whisper-base") + side_by_side(runs / "paper", root))


RELEASE_CHOICES = {
    "recipe": "the recipe (recipes/release/de.toml)",
    "augment-off": "on-the-fly augmentation off",
    "hours-1": "1/8 of the hours",
    "hours-4": "half of the hours",
    "voices-12": "12 voices, all their hours",
    "voices-all-sixth": "every voice, a sixth of the hours (twice what the 12 voices hold, as run on 2026-12-02)",
    "voices-all-equal-hours": "every voice, the 12 voices' hours",
}
LEARNING_CHOICES = {
    "recipe": "the recipe as it was (recipes/release/de.toml then: 2 of 6 layers frozen, encoder learning rate 3e-4, SpecAugment on)",
    "freeze-0": "no layer frozen",
    "lr-encoder-1e-3": "encoder learning rate 1e-3",
    "spec-augment-off": "SpecAugment off",
    "freeze-4": "4 layers frozen",
    "lr-encoder-1e-4": "encoder learning rate 1e-4",
}
AUGMENT_CHOICES = {
    "recipe": "the recipe as it was (recipes/release/de.toml: 4 of 6 layers frozen, encoder learning rate 1e-4, SpecAugment off; "
              "noise 0.3, gain 0.3, reverberation 0.1, telephone channel 0.25)",
    "speed-0.5": "speed perturbation (0.9 or 1.1) on half of the utterances, added to the recipe's mix",
}
SETTINGS_CHOICES = {
    "recipe": "the recipe as it was (recipes/release/de.toml: 4 of 6 layers frozen, encoder learning rate 1e-4, SpecAugment off, "
              "on-the-fly augmentation)",
    "freeze-3": "3 layers frozen",
    "freeze-5": "5 layers frozen",
    "freeze-6": "every layer and the last layer norm frozen: only the CTC head learns",
    "lr-encoder-3e-5": "encoder learning rate 3e-5",
}
CHOICES_INTRO = ("on the German release corpus, equal wall-clock budgets (the cosine schedule ends with the budget); greedy "
                 "WER on the first 300 utterances of the held-out-voice test set and of its telephone variant, Δ against "
                 "the recipe's own model with a paired bootstrap (negative: the change helps).")


def release_choices_section(runs: Path) -> list[str]:
    return against_the_recipe_table(
        runs / "release_choices", RELEASE_CHOICES, "## The release recipe's choices",
        "The German release recipe against itself with one choice changed, " + CHOICES_INTRO)


def learning_choices_section(runs: Path) -> list[str]:
    return against_the_recipe_table(
        runs / "learning_choices", LEARNING_CHOICES, "## The release recipe's learning settings",
        "The same for how the recipe learns (freezing, the encoder's learning rate, SpecAugment), in runs of their own "
        "beside their own run of the recipe, " + CHOICES_INTRO)


def augment_choices_section(runs: Path) -> list[str]:
    return against_the_recipe_table(
        runs / "augment_choices", AUGMENT_CHOICES, "## Speed perturbation in the release recipe",
        "The recipe as it was then (4 frozen layers) against itself with speed perturbation added to its on-the-fly augmentation, in runs "
        "of their own, " + CHOICES_INTRO)


def settings_choices_section(runs: Path) -> list[str]:
    return against_the_recipe_table(
        runs / "settings_choices", SETTINGS_CHOICES, "## The release recipe's freezing and learning rate, again",
        "The recipe as it was then (4 frozen layers) against itself with another number of frozen layers (fewer trainable layers make "
        "faster steps, so more of them in the budget) or another learning rate for the encoder, in runs of their own, "
        + CHOICES_INTRO)


def pico_as_a_third_engine(language: str, flag: str) -> str:
    """What the "pico" run of a Pico-in-training section changed."""
    return (f"the same hours with SVOX Pico's French voice speaking espeak-ng's {language} phonemes as a third engine "
            f"(`asr data synth --accented-voices {flag}`): each engine a third")


def wider_ranges(language: str, code: str, women_test_voices: str) -> tuple[str, str, dict[str, str]]:
    """The section of a language's comparison of wider pitch and formant ranges in its train split."""
    return (
        f"## {language}: wider pitch and formant ranges in training",
        "Each utterance's pitch and formant (vocal-tract length) shifts are drawn per split; the release corpora draw "
        f"the train split's from the held-out voices' ranges (-3 to +3 and -1.5 to +1.5 semitones), while "
        f"{women_test_voices} and the diphone training voices are mostly men's. The {language} release recipe against "
        "itself on a train split of the same hours, texts and voices with the shifts drawn from the English source "
        "corpus's wider ranges (`asr data synth --train-pitch=-3,6 --train-formant=-1.5,3`), at equal steps (the "
        "recipe's run is the one of its Pico comparison above, copied; recipes/run.sh trains one anew); greedy WER on "
        f"the first 300 utterances of the {language} held-out-voice test set and of its telephone variant, Δ against "
        "the recipe's own model with a paired bootstrap (negative: the change helps).",
        {
            "recipe": f"the {language} recipe (recipes/release/{code}.toml) on its train split: "
                      "pitch -3 to +3, formants -1.5 to +1.5 semitones",
            "wide": "the same hours, texts and voices, pitch -3 to +6, formants -1.5 to +3 semitones",
        },
    )


# Sections of train splits or training options trained at equal steps (recipes/run.sh's at_equal_steps): the folder of
# their runs -> (heading, introduction, run name -> what it changed), the recipe's own run first.
EQUAL_STEPS_SECTIONS = {
    "italian_voices": (
        "## Italian: more diphone voices, spoken with an accent",
        "Italian trains on one MBROLA voice (it1, half of its hours: engines take turns) beside espeak-ng's variants, "
        "while four of its five test voices are diphone voices. The Italian release recipe against itself on a corpus "
        "of the same hours whose MBROLA half is read by five voices, four of them Spanish diphones speaking Italian, "
        "at equal steps (these two trained side by side, one thread each; recipes/run.sh trains one after the other); "
        "greedy WER on the first 300 utterances of the Italian held-out-voice test set and of its telephone variant, "
        "Δ against the recipe's own model with a paired bootstrap (negative: the change helps).",
        {
            "recipe": "the Italian recipe (recipes/release/it.toml) on its corpus: espeak-ng's variants and one MBROLA "
                      "voice (it1)",
            "accented-voices": "the same hours with Spanish MBROLA voices (es1, es2, mx1, mx2) speaking Italian beside "
                               "it1 (`asr data synth --accented-voices`): five diphone voices instead of one",
        },
    ),
    "spanish_trill": (
        "## Spanish: the trill its diphone voices dropped",
        "espeak-ng 1.51 writes the Spanish trill as R2, which its tables for the Spanish MBROLA voices map to nothing: "
        "half of the Spanish train split (engines take turns) said \"peo\" for \"perro\". The Spanish release recipe "
        "against itself on the same train split with the trill spoken, at equal steps (these two trained side by side, "
        "one thread each; recipes/run.sh trains one after the other); greedy WER on the first 300 utterances of the "
        "Spanish held-out-voice test set (its MBROLA es3 speaking every r and trill since the same day) and of its "
        "telephone variant, Δ against the recipe's own model with a paired bootstrap (negative: the change helps).",
        {
            "recipe": "the Spanish recipe (recipes/release/es.toml) on its corpus: its MBROLA voices (es1, es2, es4, "
                      "mx1, mx2, vz1) drop the trill",
            "trill": "the same train split with the trill spoken (built by the checkout d593f8e): the same sentences, "
                     "voices, rates and pitches",
        },
    ),
    "italian_pico": (
        "## Italian: Pico in training",
        "Pico reads a third of the Italian test split (its Italian voice, a test voice), festival's two diphone voices "
        "another; no training voice is either engine. The Italian release recipe against itself on a train split of "
        "the same hours in which Pico's French voice, a voice no corpus holds, speaks Italian through espeak-ng's "
        "phonemes (pico2wave's X-SAMPA markup), at equal steps (these two trained side by side, one thread each; "
        "recipes/run.sh trains one after the other); greedy WER on the first 300 utterances of the Italian "
        "held-out-voice test set and of its telephone variant, Δ against the recipe's own model with a paired "
        "bootstrap (negative: the change helps).",
        {
            "recipe": "the Italian recipe as it was (recipes/release/it.toml then) on its train split: espeak-ng's "
                      "variants and five MBROLA voices (it1 and Spanish es1, es2, mx1, mx2 speaking Italian), each "
                      "engine half of it",
            "pico": pico_as_a_third_engine("Italian", "mbrola,pico"),
        },
    ),
    "spanish_pico": (
        "## Spanish: Pico in training",
        "Pico reads half of the Spanish test split (its Spanish voice, a test voice) and no training voice is Pico. "
        "The Spanish release recipe against itself on a train split of the same hours in which Pico's French voice "
        "speaks Spanish through espeak-ng's phonemes, as it speaks Italian in Italian's since the comparison above, "
        "at equal steps (these two trained side by side, one thread each; recipes/run.sh trains one after the other); greedy WER on "
        "the first 300 utterances of the Spanish held-out-voice test set and of its telephone variant, Δ against the "
        "recipe's own model with a paired bootstrap (negative: the change helps).",
        {
            "recipe": "the Spanish recipe as it was (recipes/release/es.toml then) on its train split: espeak-ng's "
                      "variants and six MBROLA voices, each engine half of it",
            "pico": pico_as_a_third_engine("Spanish", "pico"),
        },
    ),
    "german_pico": (
        "## German: Pico in training",
        "Pico reads half of the German test split (its German voice, a test voice), where the shipped model's greedy "
        "WER is 52.8 % against 19-23 % on the MBROLA test voices (docs/results/release-de/full-test), and no training "
        "voice is Pico. The German release "
        "recipe against itself on a train split of the same hours (its 20 h corpus) in which Pico's French voice "
        "speaks German through espeak-ng's phonemes, at equal steps (these two trained side by side, one thread each; "
        "recipes/run.sh trains one after the other); greedy WER on the first 300 utterances of the German "
        "held-out-voice test set and of its telephone variant, Δ against the recipe's own model with a paired "
        "bootstrap (negative: the change helps).",
        {
            "recipe": "the German recipe (recipes/release/de.toml) on its train split: espeak-ng's variants and five "
                      "MBROLA voices, each engine half of it",
            "pico": pico_as_a_third_engine("German", "pico"),
        },
    ),
    "german_variation": wider_ranges("German", "de", "two of German's three test voices are women's (MBROLA de5, Pico)"),
    "spanish_variation": wider_ranges("Spanish", "es", "one of Spanish's two test voices is a woman's (Pico)"),
    "german_training_options": (
        "## German: training options at equal steps (schedule, augmentation strength, dropout, freezing)",
        "The German release recipe (cosine schedule, the on-the-fly augmentation's probabilities as below, no dropout, "
        "3 of 6 layers frozen) "
        "against itself with one training option changed, on its train split (the 20 h corpus), at equal steps (the "
        "recipe's run is the one of German's Pico comparison above, copied, the others trained two side by side, one "
        "thread each; recipes/run.sh trains one after the other); greedy "
        "WER on the first 300 utterances of the German held-out-voice test set and of its telephone variant, Δ "
        "against the recipe's own model with a paired bootstrap (negative: the change helps).",
        {
            "recipe": "the German recipe (recipes/release/de.toml): cosine schedule after 200 warmup steps; noise 0.3, "
                      "gain 0.3, reverberation 0.1, telephone channel 0.25; no dropout",
            "tri-stage": "the tri-stage schedule: held at the peak for 40 % of the steps after warmup, then down to 5 % "
                         "(`--schedule tri-stage`)",
            "augment-2x": "twice the augmentation's probabilities: noise 0.6, gain 0.6, reverberation 0.2, telephone "
                          "channel 0.5",
            "augment-half": "half the augmentation's probabilities: noise 0.15, gain 0.15, reverberation 0.05, "
                            "telephone channel 0.125",
            "dropout-0.1-every-layer": "dropout 0.1 on every layer's residual branches, the 3 frozen layers' too, and on "
                                       "the head's input (`--dropout 0.1` as the checkout 6a552b8 trained it)",
            "dropout-0.1": "dropout 0.1 on the trained layers' residual branches and on the head's input "
                           "(`--dropout 0.1`)",
            "freeze-2": "2 of 6 layers frozen, not 3 (`--freeze-layers 2`): a layer more trained, each step slower",
        },
    ),
    "german_freezing_longer": (
        "## German: 2 frozen layers at more steps",
        "The one option of the table above that gained at 500 steps, 2 of the encoder's 6 layers frozen instead of the "
        "recipe's 3, against the recipe at twice the steps (these two trained side by side, one thread each; "
        "recipes/run.sh trains one after the other), on the German release corpus's train split; greedy WER on the "
        "first 300 utterances of the German held-out-voice test set and of its telephone variant, Δ against the "
        "recipe's own model with a paired bootstrap (negative: the change helps).",
        {
            "recipe": "the German recipe (recipes/release/de.toml): 3 of 6 layers frozen",
            "freeze-2": "2 of 6 layers frozen (`--freeze-layers 2`)",
        },
    ),
    "german_vocalised_r": (
        "## German: standard German's vocalised r in training",
        "Standard German, and SVOX Pico reading half of the German test split, say an r that ends a syllable as a "
        "vowel (\"klar\", \"der\", \"wird\": [ɐ]); espeak-ng, which drives every German training voice, says a consonant "
        "there, and the recipe's model hears Pico's \"der\" as \"de\" and \"klar\" as \"kla\". The German release recipe "
        "against itself on a train split of the same sentences, voices, rates and pitches whose MBROLA voices (all but "
        "the Bavarian de8: 4 of the 5, about 40 % of the hours) say that r as a vowel, at equal steps (the recipe's run "
        "is section 16's, the other trained with two threads, a test run beside it for its first minutes); greedy WER "
        "on the first 300 utterances of the German held-out-voice test set and of its telephone variant, Δ against the "
        "recipe's own model with a paired bootstrap (negative: the change helps).",
        {
            "recipe": "the German recipe (recipes/release/de.toml) on its train split: every voice says a consonant r",
            "vocalised-r": "the same train split with the MBROLA voices de1, de2, de3 and de7 saying a syllable's "
                           "last r as a vowel (`asr data synth --vocalised-r`)",
        },
    ),
}


def against_the_recipe_table(root: Path, choices: dict[str, str], heading: str, intro: str, budget_in_steps: bool = False) -> list[str]:
    """One row a run of `root` named in `choices` (run name -> what it changed), in that order; none where no run
    was scored. A budget is seconds of training, or with `budget_in_steps` optimizer steps."""
    if not root.exists():
        return []
    lines = [heading, "", intro, "",
             "| run | what changed | hours | voices | training time (s) | steps | test WER % | Δ [95 % CI] | telephone WER % | Δ [95 % CI] |",
             "|---|---|---:|---:|---:|---:|---:|---|---:|---|"]

    def cell(result: dict | None) -> str:
        if result is None:
            return "– | –"
        c = result.get("comparison")
        delta = interval(c) if c else "baseline"
        return f"{pct(result['wer'])} | {delta}"

    clean_at_end = {}
    for name, what in choices.items():
        run = root / name
        clean, telephone = test_results(run), test_results(run, "telephone")
        if not clean and not telephone:
            continue
        budget = max({*clean, *telephone})
        start = next((r for r in log(run) if r.get("event") == "start"), {})
        hours = f"{start['train_hours']:.2f}" if "train_hours" in start else "?"
        if budget_in_steps:
            end = next((r for r in log(run) if r.get("event") == "end" and r["step"] == budget), None)
            seconds, steps = (f"{end['train_seconds']:.0f}" if end else "?"), budget
        else:
            seconds, steps = budget, steps_at(run, budget)
        lines.append(f"| {name} | {what} | {hours} | {start.get('speakers', '?')} | {seconds} | {steps} | "
                     f"{cell(clean.get(budget))} | {cell(telephone.get(budget))} |")
        clean_at_end[name] = clean.get(budget)
    if not clean_at_end:  # runs started, none scored yet
        return []
    return lines + [""] + voice_table(clean_at_end, "clean test set")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="runs/recipes",
                        help="folder of the recipe runs to record first ('none': only rebuild from --records)")
    parser.add_argument("--records", default="docs/results/recipes", help="folder of the committed run records")
    parser.add_argument("--out", default="docs/RESULTS.md", help="Markdown file to write")
    args = parser.parse_args()
    runs, out = Path(args.records), Path(args.out)
    if args.runs != "none":
        if not Path(args.runs).is_dir():
            parser.error(f"--runs {args.runs}: no such folder (give --runs none to rebuild from {runs} alone)")
        print(f"recorded {record(Path(args.runs), runs)} runs of {args.runs} in {runs}")
    out.parent.mkdir(parents=True, exist_ok=True)
    machines = sorted({json.loads(path.read_text())["machine"] for path in runs.rglob("test-*.json")}) or ["unknown"]
    lines = ["# Results", "",
             "Generated by `python recipes/report.py` from the runs `bash recipes/run.sh` made, as recorded in "
             "`docs/results/recipes/` (each run's log and test-set scores); do not edit by hand.", "",
             f"Machines: {'; '.join(machines)} (the frozen-layer tables name their own). Budgets are wall-clock seconds of training per model (dev evaluation not counted); "
             "where the machine was shared with other jobs a budget buys fewer steps, so each table gives the steps too.", "",
             "Reproduce: `bash recipes/run.sh [SECTION ...]` (sections: transfer, data_efficiency, augmentation, "
             "paper_source, paper, whisper_layers, release_choices, learning_choices, augment_choices, settings_choices, italian_voices, spanish_trill, italian_pico, spanish_pico, german_pico, german_variation, spanish_variation, german_training_options, german_freezing_longer, german_vocalised_r); the budgets and data sizes used are in the tables, set "
             "by BUDGET and SHORT (sections 1-3), PAPER_BUDGETS, PAPER_FRACTIONS, EN_HOURS and EN_BUDGETS (the two "
             "frozen-layer tables), CHOICE_BUDGET (the release recipe's choices, learning settings, speed perturbation, and its freezing and learning rate again) "
             "and IT_STEPS, ES_STEPS and DE_STEPS (the train-split comparisons of Italian, Spanish and German, and German's "
             "training options and vocalised r), DE_LONG_STEPS (German's freezing at more steps).", ""]
    lines += transfer_section(runs, out.parent) + data_efficiency_section(runs) + augmentation_section(runs)
    lines += paper_section(runs, out.parent) + whisper_layers_section(runs, out.parent) + release_choices_section(runs)
    lines += learning_choices_section(runs) + augment_choices_section(runs) + settings_choices_section(runs)
    for folder, (heading, intro, choices) in EQUAL_STEPS_SECTIONS.items():
        lines += against_the_recipe_table(runs / folder, choices, heading, intro, budget_in_steps=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
