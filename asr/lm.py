"""Word n-gram language models for beam-search decoding: build, lexicon, tune.

An LM folder holds what `asr.decoding.BeamDecoder` needs:

- `lm.arpa`: the n-gram model, modified Kneser-Ney smoothing, built by KenLM's
  `lmplz` (the tool the KenLM paper and most CTC systems use; `scripts/build_kenlm.sh`
  builds it from the PyPI `kenlm` sdist's sources);
- `lm.bin`: the same model in KenLM's binary format, which loads in a fraction
  of the time (written when `build_binary` is there too);
- `lexicon.txt`: each LM word the model's alphabet can spell, as flashlight
  wants it: "word w o r d |" (the word delimiter ends every spelling);
- `lm.json`: how it was built; `tuned.json`, once `asr lm tune` has run: the
  LM weight and word insertion score that did best on a dev set.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from asr.files import write_atomically
from asr.text import WORD_DELIMITER, Vocabulary

ARPA, BINARY, LEXICON, INFO, TUNED = "lm.arpa", "lm.bin", "lexicon.txt", "lm.json", "tuned.json"
BUILD_HINT = "build it with `bash scripts/build_kenlm.sh` (part of `make setup`), or set ASR_KENLM_BIN to the folder holding lmplz"


@dataclass(frozen=True)
class LMWeights:
    lm_weight: float = 1.0  # the LM's log10 probabilities are multiplied by this
    word_score: float = 0.0  # added per word: counters the LM's preference for few words


def kenlm_tool(name: str) -> Path | None:
    """KenLM's `lmplz` or `build_binary`: in $ASR_KENLM_BIN, next to this Python (the virtualenv), or on PATH."""
    folders = [os.environ["ASR_KENLM_BIN"]] if os.environ.get("ASR_KENLM_BIN") else []
    folders.append(str(Path(sys.executable).parent))
    for folder in folders:
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    found = shutil.which(name)
    return Path(found) if found else None


def train_sentences(lang: str, seed: int = 0) -> list[str]:
    """Every normalised sentence of the fortunes that `asr data synth` puts in the train split (same seed).

    All of the split's sentences, not only the synthesized ones; never a dev or
    test sentence, so the LM has not seen the test set's text.
    """
    from asr.synth import collect_sentences, fortune_files, split_sentences_by_text

    sentences, _ = collect_sentences(lang, fortune_files(lang))
    return [s.text for s in split_sentences_by_text(sentences, seed)["train"]]


def build_lm(texts: Iterable[str], out_dir: str | Path, vocabulary: Vocabulary, order: int = 4, language: str = "") -> Path:
    """Build `out_dir` (ARPA, binary, lexicon, lm.json) from normalised sentences, one per item."""
    if order < 2:
        raise ValueError(f"order must be at least 2, got {order}")
    lmplz = kenlm_tool("lmplz")
    if lmplz is None:
        raise FileNotFoundError(f"KenLM's lmplz not found; {BUILD_HINT}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = [" ".join(t.split()) for t in texts]
    lines = [line for line in lines if line]
    if not lines:
        raise ValueError("no text to build a language model from")
    with tempfile.TemporaryDirectory() as scratch:
        corpus = Path(scratch) / "corpus.txt"
        corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
        # --discount_fallback: a small corpus lacks the counts-of-counts that
        # Kneser-Ney's discounts are estimated from; KenLM then uses fixed ones.
        command = [str(lmplz), "-o", str(order), "--discount_fallback", "-S", "20%", "-T", scratch,
                   "--text", str(corpus), "--arpa", str(out_dir / ARPA)]
        _run(command)
    binary = kenlm_tool("build_binary")
    if binary is not None:
        _run([str(binary), str(out_dir / ARPA), str(out_dir / BINARY)])
    words = arpa_unigrams(out_dir / ARPA)
    spelled = write_lexicon(words, vocabulary, out_dir / LEXICON)
    info = {"order": order, "language": language, "smoothing": "modified Kneser-Ney (KenLM lmplz, discount fallback)",
            "sentences": len(lines), "words": sum(len(line.split()) for line in lines), "vocabulary": len(words),
            "lexicon": spelled, "alphabet": "".join(vocabulary.tokens[3:])}
    write_atomically(out_dir / INFO, json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    (out_dir / TUNED).unlink(missing_ok=True)  # weights tuned for an older LM do not apply to this one
    return out_dir


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{Path(command[0]).name} failed (exit {result.returncode}):\n{result.stderr[-2000:]}")


def arpa_unigrams(path: str | Path) -> list[str]:
    """The words of an ARPA file's 1-gram section, without <s>, </s> and <unk>."""
    words, inside = [], False
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line == "\\1-grams:":
                inside = True
            elif inside and line.startswith("\\"):
                break
            elif inside and line:
                word = line.split("\t")[1]
                if word not in ("<s>", "</s>", "<unk>"):
                    words.append(word)
    return words


def spelling(word: str, vocabulary: Vocabulary) -> list[str] | None:
    """The word's characters and the word delimiter, or None if the alphabet lacks one of them."""
    known = set(vocabulary.tokens[3:])
    return [*word, WORD_DELIMITER] if word and set(word) <= known else None


def lexicon_lines(words: Iterable[str], vocabulary: Vocabulary) -> list[str]:
    lines, seen = [], set()
    for word in words:
        spelled = spelling(word, vocabulary)
        if spelled is not None and word not in seen:
            seen.add(word)
            lines.append(f"{word} {' '.join(spelled)}")
    return lines


def write_lexicon(words: Iterable[str], vocabulary: Vocabulary, path: str | Path) -> int:
    """Write flashlight's lexicon for the words the vocabulary can spell; returns how many."""
    lines = lexicon_lines(words, vocabulary)
    write_atomically(path, "\n".join(lines) + "\n")
    return len(lines)


def check_lm_dir(lm_dir: str | Path) -> Path:
    lm_dir = Path(lm_dir)
    if not (lm_dir / LEXICON).is_file() or not ((lm_dir / BINARY).is_file() or (lm_dir / ARPA).is_file()):
        raise FileNotFoundError(f"{lm_dir}: not a language model folder (needs {LEXICON} and {ARPA} or {BINARY}); "
                                "make one with `asr lm build --lang de --out DIR`")
    return lm_dir


def lm_path(lm_dir: str | Path) -> Path:
    lm_dir = check_lm_dir(lm_dir)
    return lm_dir / BINARY if (lm_dir / BINARY).is_file() else lm_dir / ARPA


def read_weights(lm_dir: str | Path) -> LMWeights:
    """The tuned weights of an LM folder, or the defaults if it was never tuned."""
    tuned = Path(lm_dir) / TUNED
    if not tuned.is_file():
        return LMWeights()
    data = json.loads(tuned.read_text())
    return LMWeights(float(data["lm_weight"]), float(data["word_score"]))


def tune(
    transcriber, manifest: str | Path, lm_dir: str | Path, lm_weights: list[float], word_scores: list[float],
    beam_size: int = 50, progress: bool = True,
) -> dict:
    """Grid-search LM weight and word score by WER on a dev manifest; write the best to LM_DIR/tuned.json.

    The acoustic model runs once; only the beam search repeats per grid point.
    """
    import jiwer
    import torch

    from asr.audio import load_audio
    from asr.decoding import BeamDecoder, DecodeOptions
    from asr.manifest import read_manifest
    from asr.text import normalize_transcript

    lm_dir = check_lm_dir(lm_dir)
    entries = read_manifest(manifest)
    if not entries:
        raise ValueError(f"{manifest}: no utterances")
    lang = transcriber.bundle.language
    references = [normalize_transcript(e.text, lang) for e in entries]
    emissions = []
    batch = transcriber.options.batch_size
    for first in range(0, len(entries), batch):
        waves = [load_audio(e.audio_filepath, transcriber.sample_rate) for e in entries[first : first + batch]]
        log_probs, lengths = transcriber.log_probs(waves)
        emissions.extend(log_probs[i, : int(lengths[i])] for i in range(len(waves)))
    seconds_per_frame = transcriber.seconds_per_frame
    results = []
    for lm_weight in lm_weights:
        for word_score in word_scores:
            options = DecodeOptions(method="beam", lm_dir=str(lm_dir), lm_weight=lm_weight, word_score=word_score, beam_size=beam_size)
            decoder = BeamDecoder(transcriber.bundle.vocabulary, options)
            hypotheses = [decoder(e[None], torch.tensor([len(e)]), seconds_per_frame)[0].text for e in emissions]
            wer = jiwer.wer(references, [h or "" for h in hypotheses])
            results.append({"lm_weight": lm_weight, "word_score": word_score, "wer": round(wer, 5)})
            if progress:
                print(f"lm_weight {lm_weight:g} word_score {word_score:g}: WER {100 * wer:.2f} %", file=sys.stderr)
    best = min(results, key=lambda r: r["wer"])
    tuned = {**best, "manifest": str(manifest), "utterances": len(entries), "beam_size": beam_size, "grid": results}
    write_atomically(lm_dir / TUNED, json.dumps(tuned, indent=2) + "\n")
    return tuned
