"""Transcript text: the language-aware normaliser and the CTC vocabulary.

A model's output symbols are built from its training transcripts after
`normalize_transcript`, so training targets, decoding and corpus cleaning all
agree on what a character is. Besides the characters, a vocabulary may hold
word pieces (several characters emitted as one symbol), learnt from the same
transcripts; words stay separated by the word delimiter either way.
"""

from __future__ import annotations

import re
import unicodedata
import io
from collections.abc import Iterable
from dataclasses import dataclass

BLANK = "<blank>"
WORD_DELIMITER = "|"
UNKNOWN = "<unk>"
SPECIAL_TOKENS = (BLANK, WORD_DELIMITER, UNKNOWN)
UNKNOWN_ID = SPECIAL_TOKENS.index(UNKNOWN)

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
    """CTC output symbols: blank first, then the word delimiter, unknown, and characters or word pieces.

    A word is spelt longest piece first: at each position the longest token that
    matches (WordPiece's rule), so a vocabulary of characters spells character
    by character and every word has exactly one spelling.
    """

    tokens: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.tokens[: len(SPECIAL_TOKENS)] != SPECIAL_TOKENS:
            raise ValueError(f"a vocabulary starts with {SPECIAL_TOKENS}, got {self.tokens[:3]}")
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError("a vocabulary lists each token once")
        if any(not t or " " in t for t in self.tokens):
            raise ValueError("a vocabulary's tokens are non-empty and hold no spaces")
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})
        symbols = self.tokens[len(SPECIAL_TOKENS):]
        has_pieces = any(len(t) > 1 for t in symbols)
        # "." takes a character no token starts with, which spells as <unk>.
        object.__setattr__(self, "_pieces", re.compile(_longest_first(symbols) + "|.") if has_pieces else None)
        # A vocabulary of characters spells a word with one str.translate: each character to its token's index.
        object.__setattr__(self, "_characters", _Spelling(
            {ord(t): chr(i) for i, t in enumerate(symbols, start=len(SPECIAL_TOKENS)) if len(t) == 1}))

    @classmethod
    def from_transcripts(cls, transcripts: Iterable[str], pieces: int = 0) -> Vocabulary:
        """The transcripts' characters, and with `pieces` the multi-character pieces of a BPE model of (at most) that
        many symbols learnt from them (sentencepiece; its word-start marks dropped, as the delimiter marks words)."""
        transcripts = list(transcripts)
        characters = set()
        for text in transcripts:
            characters.update(text.replace(" ", ""))
        learnt = _learn_pieces(transcripts, pieces) if pieces else set()
        return cls(SPECIAL_TOKENS + tuple(sorted(characters | learnt)))

    @property
    def has_pieces(self) -> bool:
        return self._pieces is not None

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
        return UNKNOWN_ID

    def spell(self, word: str) -> list[int]:
        """Token ids of one word: its longest pieces first, a character the vocabulary lacks as <unk>."""
        if self._pieces is None:
            return list(map(ord, word.translate(self._characters)))
        index = self._index
        return [index.get(piece, self.unknown_id) for piece in self._pieces.findall(word)]

    def encode(self, text: str) -> list[int]:
        """Token ids of a normalised transcript; spaces become the word delimiter."""
        ids: list[int] = []
        for word in text.split():
            if ids:
                ids.append(self.delimiter_id)
            ids.extend(self.spell(word))
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Text of a collapsed CTC token sequence (no blanks, no repeats)."""
        pieces = []
        for i in ids:
            if i == self.blank_id:
                continue
            pieces.append(" " if i == self.delimiter_id else self.tokens[i])
        return " ".join("".join(pieces).split())


class _Spelling(dict):
    """A str.translate table from characters to token indices that maps a character it lacks to <unk>'s."""

    def __missing__(self, code_point: int) -> str:
        return chr(UNKNOWN_ID)


def _learn_pieces(transcripts: list[str], size: int) -> set[str]:
    import sentencepiece

    model = io.BytesIO()
    # One thread, so that the same transcripts always give the same pieces: a resumed run rebuilds its vocabulary.
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(transcripts), model_writer=model, vocab_size=size, model_type="bpe",
        character_coverage=1.0, num_threads=1, minloglevel=2,
        hard_vocab_limit=False)  # `size` at most: a small corpus has fewer pieces to learn
    processor = sentencepiece.SentencePieceProcessor(model_proto=model.getvalue())
    pieces = (processor.id_to_piece(i).lstrip("\u2581") for i in range(processor.get_piece_size())
              if not (processor.is_control(i) or processor.is_unknown(i)))
    return {p for p in pieces if len(p) > 1}


def _longest_first(tokens: Iterable[str]) -> str:
    """A regular expression that matches the longest of `tokens` at a position: their prefix tree, each
    continuation greedy and optional where a token ends. 2.5 times faster than trying the tokens in turn, which
    makes the German LM's lexicon of 365,000 words spell in 0.6 s."""
    tree: dict = {}
    for token in tokens:
        node = tree
        for character in token:
            node = node.setdefault(character, {})
        node[""] = {}  # a token ends here

    def alternatives(node: dict) -> str:
        branches = []
        for character, child in sorted(node.items()):
            if not character:
                continue
            rest = alternatives(child)
            optional = "?" if "" in child else ""
            branches.append(re.escape(character) + (f"(?:{rest}){optional}" if rest else ""))
        return "|".join(branches)

    return alternatives(tree)
