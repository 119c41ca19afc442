"""Text normalisation for scoring: reference and hypothesis pass through the same function before WER.

There are two normalisers in the project, on purpose:

- `asr.text.normalize_transcript` makes *training targets*. It defines a
  model's alphabet, so it is frozen into every checkpoint and cannot change
  without retraining.
- The normalisers here decide which differences between two transcripts are
  *not errors*: case, punctuation, Unicode forms, typographic apostrophes.
  They must treat every system alike: our CTC models, whose output is already
  in the training alphabet, and external systems (faster-whisper) that write
  cased and punctuated text.

They are kept from drifting by one rule, tested for every language:
a language's scoring normaliser gives the same text for a transcript and for
its training normalisation, ``normalize(t) == normalize(normalize_transcript(t))``.
So a CTC model that writes exactly its training target scores zero, and no
mark the model's alphabet cannot hold (a hyphen; an apostrophe in German)
counts against it. To keep the rule, a language's normaliser takes the marks
it keeps inside words from that language's training alphabet.

The normaliser is chosen by name (`NORMALIZERS`) and the name is recorded with
every result; results under different normalisers are never compared.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from asr.text import ALPHABETS

# Marks that may join two parts of one word: "don't", "l'acqua", "e-mail".
WORD_MARKS = "'-"

# Spellings of the apostrophe and the hyphen that NFKC leaves alone. Mapped before
# NFKC, because NFKC turns the acute accent into a space and a combining mark.
_VARIANTS = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "´": "'", "`": "'", "′": "'", "‐": "-", "‑": "-"})


@dataclass(frozen=True)
class Normalizer:
    """NFKC, case folding, punctuation to word breaks, whitespace collapsed.

    `word_marks` are kept between two letters or digits and are word breaks
    everywhere else; every other non-letter, non-digit, non-mark character is
    a word break. Case folding maps German "ß" to "ss": "daß" and "dass" (the
    spelling reform, Swiss spelling) are the same word for scoring.
    """

    name: str
    word_marks: str
    description: str

    def __call__(self, text: str) -> str:
        text = unicodedata.normalize("NFKC", text.translate(_VARIANTS))
        # Case folding can un-normalise ("İ" folds to "i" + a combining dot), so normalise again.
        text = unicodedata.normalize("NFKC", text.casefold())
        kept = []
        for i, c in enumerate(text):
            if _in_word(c) or c.isspace():
                kept.append(c)
            elif c in self.word_marks and 0 < i < len(text) - 1 and _in_word(text[i - 1]) and _in_word(text[i + 1]):
                kept.append(c)
            else:
                kept.append(" ")
        return " ".join("".join(kept).split())


def _in_word(c: str) -> bool:
    # Letters, digits and combining marks: the vowel signs of Devanagari or Thai are part of their word.
    return unicodedata.category(c)[0] in "LNM"


def _for_language(lang: str, alphabet: str) -> Normalizer:
    breaking = [m for m in WORD_MARKS if m not in alphabet]
    names = {"'": "apostrophes", "-": "hyphens"}
    description = "basic"
    if breaking:
        description += f", except that {' and '.join(names[m] for m in breaking)} break words as in the {lang!r} training alphabet"
    return Normalizer(lang, "".join(m for m in WORD_MARKS if m in alphabet), description)


NORMALIZERS: dict[str, Normalizer] = {
    "basic": Normalizer("basic", WORD_MARKS, "NFKC, case folding, punctuation removed except apostrophes and hyphens inside words"),
    **{lang: _for_language(lang, alphabet) for lang, alphabet in ALPHABETS.items()},
}


def get_normalizer(name: str, language: str | None = None) -> Normalizer:
    """The normaliser called `name`; "auto" is the language's own, or "basic" for a language without one."""
    if name == "auto":
        return NORMALIZERS.get(language or "", NORMALIZERS["basic"])
    try:
        return NORMALIZERS[name]
    except KeyError:
        raise ValueError(f"unknown normaliser {name!r}; choose auto or one of {', '.join(NORMALIZERS)}") from None
