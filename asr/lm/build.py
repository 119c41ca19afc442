"""Building a word n-gram language model folder (see `asr.lm.folder`) from text, with KenLM's lmplz."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from asr.files import write_atomically
from asr.lm.folder import ARPA, BINARY, DICTIONARY, INFO, LEXICON, TUNED, write_dictionary, write_lexicon
from asr.text import Vocabulary

BUILD_HINT = "build it with `bash scripts/build_kenlm.sh` (part of `make setup`), or set ASR_KENLM_BIN to the folder holding lmplz"


def kenlm_tool(name: str) -> Path | None:
    """KenLM's `lmplz` or `build_binary`: in $ASR_KENLM_BIN, next to this Python (the virtualenv), or on PATH."""
    folders = [os.environ["ASR_KENLM_BIN"]] if os.environ.get("ASR_KENLM_BIN") else []
    folders.append(str(Path(sys.executable).parent))
    for folder in folders:
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    found = shutil.which(name)
    return Path(found) if found else None


def build_lm(texts: Iterable[str], out_dir: str | Path, vocabulary: Vocabulary, order: int = 4, language: str = "",
             prune: int = 0, dictionary: Iterable[str] = (), dictionary_source: str = "") -> Path:
    """Build `out_dir` (ARPA, binary, lexicon, lm.json) from normalised sentences, one per item.

    `dictionary`: more words the beam search may spell (a spell-checker's word
    list, normalised), scored as the LM's <unk>; those the LM has are left out.

    `prune` drops the bigrams and longer n-grams seen that many times or fewer:
    1 removes the singletons, most of a small corpus's n-grams, for an LM
    small enough to ship. The binary is a trie with 8-bit quantized
    probabilities and backoffs, KenLM's smallest format, which loads in well under a second.
    """
    if order < 2:
        raise ValueError(f"order must be at least 2, got {order}")
    if prune < 0:
        raise ValueError(f"prune must be 0 or more, got {prune}")
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
        if prune:
            command += ["--prune", "0", *[str(prune)] * (order - 1)]
        _run(command)
    binary = kenlm_tool("build_binary")
    if binary is not None:
        _run([str(binary), "-q", "8", "-b", "8", "trie", str(out_dir / ARPA), str(out_dir / BINARY)])
    words = arpa_unigrams(out_dir / ARPA)
    spelled = write_lexicon(words, vocabulary, out_dir / LEXICON)
    dictionary = list(dictionary)
    (out_dir / DICTIONARY).unlink(missing_ok=True)
    extra = write_dictionary(dictionary, words, vocabulary, out_dir / DICTIONARY) if dictionary else 0
    info = {"order": order, "language": language, "smoothing": "modified Kneser-Ney (KenLM lmplz, discount fallback)",
            "pruned": f"n-grams of order 2 and up seen {prune} times or fewer" if prune else "no",
            "sentences": len(lines), "words": sum(len(line.split()) for line in lines), "vocabulary": len(words),
            "lexicon": spelled, "dictionary": {"source": dictionary_source, "words": extra} if dictionary else None,
            "alphabet": "".join(vocabulary.tokens[3:])}
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
