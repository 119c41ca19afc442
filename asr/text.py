"""Transcript text: the language-aware normaliser and the character vocabulary.

A model's output alphabet is built from its training transcripts after
`normalize_transcript`, so training targets, decoding and corpus cleaning all
agree on what a character is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

BLANK = "<blank>"
WORD_DELIMITER = "|"
UNKNOWN = "<unk>"
SPECIAL_TOKENS = (BLANK, WORD_DELIMITER, UNKNOWN)

_LATIN = "abcdefghijklmnopqrstuvwxyz"
ALPHABETS = {
    "en": _LATIN + "'",
    "de": _LATIN + "äöüß",
    "it": _LATIN + "àèéìíîòóùú'",
    "es": _LATIN + "áéíñóúü",
}

# Punctuation becomes a word break; an apostrophe is kept only inside a word
# in the languages whose alphabet has it (English "don't", Italian "l'acqua").
_PUNCTUATION = re.compile(r"[^\w\s']|_")
_STRAY_APOSTROPHE = re.compile(r"(?<!\w)'|'(?!\w)")
_TYPOGRAPHIC = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "´": "'", "`": "'"})


def normalize_transcript(text: str, lang: str) -> str:
    """Lower-case NFC text with punctuation turned into spaces and whitespace collapsed.

    Characters outside the language's alphabet are kept, so a caller can find
    them with `uncovered_characters` and decide (drop the sentence, map to <unk>).
    """
    alphabet = language_alphabet(lang)
    text = unicodedata.normalize("NFC", text).translate(_TYPOGRAPHIC).lower()
    if "'" not in alphabet:
        text = text.replace("'", " ")
    text = _STRAY_APOSTROPHE.sub(" ", _PUNCTUATION.sub(" ", text))
    return " ".join(text.split())


def uncovered_characters(text: str, lang: str) -> set[str]:
    """The characters of normalised `text` that the language's alphabet lacks."""
    alphabet = set(language_alphabet(lang)) | {" "}
    return set(text) - alphabet


def language_alphabet(lang: str) -> str:
    try:
        return ALPHABETS[lang]
    except KeyError:
        raise ValueError(f"unsupported language {lang!r}; choose one of {', '.join(sorted(ALPHABETS))}") from None


@dataclass(frozen=True)
class Vocabulary:
    """CTC output symbols: blank first, then the word delimiter, unknown and characters."""

    tokens: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.tokens[: len(SPECIAL_TOKENS)] != SPECIAL_TOKENS:
            raise ValueError(f"a vocabulary starts with {SPECIAL_TOKENS}, got {self.tokens[:3]}")
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError("a vocabulary lists each token once")
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

    @classmethod
    def from_transcripts(cls, transcripts: Iterable[str]) -> Vocabulary:
        characters = set()
        for text in transcripts:
            characters.update(text.replace(" ", ""))
        return cls(SPECIAL_TOKENS + tuple(sorted(characters)))

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def blank_id(self) -> int:
        return 0

    @property
    def delimiter_id(self) -> int:
        return 1

    @property
    def unknown_id(self) -> int:
        return 2

    def encode(self, text: str) -> list[int]:
        """Token ids of a normalised transcript; spaces become the word delimiter."""
        index = self._index
        return [
            self.delimiter_id if c == " " else index.get(c, self.unknown_id) for c in " ".join(text.split())
        ]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of a collapsed CTC token sequence (no blanks, no repeats)."""
        pieces = []
        for i in ids:
            if i == self.blank_id:
                continue
            pieces.append(" " if i == self.delimiter_id else self.tokens[i])
        return " ".join("".join(pieces).split())
