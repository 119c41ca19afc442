"""The language-model folder's format: what `asr lm build` writes and `asr.decoding.BeamDecoder` reads.

An LM folder holds:

- `lm.arpa`: the n-gram model, modified Kneser-Ney smoothing, built by KenLM's
  `lmplz` (the tool the KenLM paper and most CTC systems use; `scripts/build_kenlm.sh`
  builds it from the PyPI `kenlm` sdist's sources);
- `lm.bin`: the same model in KenLM's binary format, which loads in a fraction
  of the time (written when `build_binary` is there too);
- `lexicon.txt`: each LM word the model's alphabet can spell, as flashlight
  wants it: "word w o r d |" (the word delimiter ends every spelling);
- `dictionary.txt.xz` (optional): words of a spell-checker's list that the LM never
  saw, one a line, xz-compressed. The beam search may spell them too, each
  scored as the LM's `<unk>`: with only the LM's words, about one test word in
  eleven was out of reach (German and Italian release corpora), with the word list
  one in thirty;
- `lm.json`: how it was built; `tuned.json`, once `asr lm tune` has run: the
  LM weight and word insertion score that did best on a dev set.
"""

from __future__ import annotations

import json
import lzma
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from asr.files import write_atomically
from asr.text import WORD_DELIMITER, Vocabulary

ARPA, BINARY, LEXICON, INFO, TUNED = "lm.arpa", "lm.bin", "lexicon.txt", "lm.json", "tuned.json"
DICTIONARY = "dictionary.txt.xz"


@dataclass(frozen=True)
class LMWeights:
    lm_weight: float = 1.0  # the LM's log10 probabilities are multiplied by this
    word_score: float = 0.0  # added per word: counters the LM's preference for few words


def spellable_words(words: Iterable[str], vocabulary: Vocabulary) -> list[str]:
    """The words, in order and without repeats, whose every character is in the alphabet."""
    letters = set(vocabulary.tokens[3:])
    return [word for word in dict.fromkeys(words) if word and set(word) <= letters]


def lexicon_lines(words: Iterable[str], vocabulary: Vocabulary) -> list[str]:
    """Flashlight's lexicon lines of the words the alphabet spells: "word w o r d |"."""
    return [f"{word} {' '.join(word)} {WORD_DELIMITER}" for word in spellable_words(words, vocabulary)]


def write_lexicon(words: Iterable[str], vocabulary: Vocabulary, path: str | Path) -> int:
    """Write flashlight's lexicon for the words the vocabulary can spell; returns how many."""
    lines = lexicon_lines(words, vocabulary)
    write_atomically(path, "\n".join(lines) + "\n")
    return len(lines)


def write_dictionary(words: Iterable[str], known: Iterable[str], vocabulary: Vocabulary, path: str | Path) -> int:
    """Write the words the vocabulary can spell and `known` (the LM's words) lacks, xz-compressed; returns how many."""
    known = set(known)
    kept = [word for word in spellable_words(words, vocabulary) if word not in known]
    write_atomically(path, lzma.compress(("\n".join(kept) + "\n").encode("utf-8"), preset=9))
    return len(kept)


def lexicon_words(lm_dir: str | Path) -> list[str]:
    """Every word the beam search may spell with this LM: its own, then its dictionary's."""
    return lm_words(lm_dir) + dictionary_words(lm_dir)


def lm_words(lm_dir: str | Path) -> list[str]:
    """The words the LM itself knows (its lexicon file)."""
    lm_dir = check_lm_dir(lm_dir)
    return [line.split(" ", 1)[0] for line in (lm_dir / LEXICON).read_text(encoding="utf-8").splitlines() if line]


def dictionary_words(lm_dir: str | Path) -> list[str]:
    """The dictionary's words, none of which the LM knows (it scores each as <unk>); [] without a dictionary."""
    path = check_lm_dir(lm_dir) / DICTIONARY
    return lzma.decompress(path.read_bytes()).decode("utf-8").split() if path.is_file() else []


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
