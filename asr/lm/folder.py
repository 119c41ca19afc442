"""The language-model folder's format: what `asr lm build` writes and `asr.decoding.BeamDecoder` reads.

An LM folder holds:

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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from asr.files import write_atomically
from asr.text import WORD_DELIMITER, Vocabulary

ARPA, BINARY, LEXICON, INFO, TUNED = "lm.arpa", "lm.bin", "lexicon.txt", "lm.json", "tuned.json"


@dataclass(frozen=True)
class LMWeights:
    lm_weight: float = 1.0  # the LM's log10 probabilities are multiplied by this
    word_score: float = 0.0  # added per word: counters the LM's preference for few words


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


def write_weights(lm_dir: str | Path, tuned: dict) -> None:
    """Record the tuned LM weight and word score (and how they were found) in the folder."""
    write_atomically(Path(lm_dir) / TUNED, json.dumps(tuned, indent=2) + "\n")
