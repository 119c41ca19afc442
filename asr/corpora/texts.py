"""What the synthetic corpora say: a language's sentences from Debian's text packages, filtered and split by text.

Sources, each a Debian package: the fortunes (proverbs, quotations, jokes;
fortunes-de, -it, -es, and fortunes for English) and, for German, Italian and
Spanish, the translated manual pages (manpages-de, -it, -es: instructions and
explanations, a register fortunes lack). Only prose is taken from a manual
page: no command lines, no option tags, no sentence with a literal (a name
set in bold or italics), no text that does not end as a sentence does.

A sentence is kept only where the synthesizer will say what its transcript
says (`rejection_reason`): no digits, symbols, abbreviations, acronyms or
characters outside the language's alphabet. Numbers are not spelled out:
that needs a number-to-words package for each language and inflected German
("mit 3 Kindern" is "drei", "am 3. Mai" is "dritten"); a wrong expansion is a
wrong label, and a dropped sentence costs nothing here. Each source is cut 80/10/10 by
text on its own, so adding a source never moves another's sentences between
splits; a sentence an earlier source has is a duplicate. A split's pool is its
sentences of every source, shuffled together, the same whatever the size of
the corpus built from it.

The dev and test sentences of seed 0's cut are a recorded list (`held_out.tsv.xz`),
not a property of the machine: which packages put manual pages in a language's
folder differs from one machine to the next (apt, dpkg, procps, vim and others
ship German pages of their own), and a cut by position then moves sentences
between splits, so that a test sentence on one machine is a train sentence that
the shipped models and their LMs learnt on another. With the list, a sentence is
held out where the list says so and trains otherwise: a machine with more text
trains on more, one with less holds out less.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import lzma
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from asr.text import language_alphabet, normalize_transcript, uncovered_characters

SPLITS = ("train", "dev", "test")
SPLIT_FRACTIONS = {"train": 0.8, "dev": 0.1, "test": 0.1}
# Each line: a source's package, "dev" or "test", a sentence's key (`sentence_key`); seed 0's cut as the release
# corpora were built (scripts/record_held_out.py made it). Another seed cuts anew, by position.
HELD_OUT_LIST = Path(__file__).with_name("held_out.tsv.xz")
HELD_OUT_SEED = 0
MIN_WORDS, MAX_WORDS = 3, 20

FORTUNES = Path("/usr/share/games/fortunes")
MANUAL_PAGES = Path("/usr/share/man")
SETUP_HINT = "run scripts/setup_system.sh to install it"


class TextMissing(LookupError):
    """A text package that is not installed, named with its Debian package."""


@dataclass(frozen=True)
class Sentence:
    spoken: str  # as the synthesizer reads it, punctuation and capitals kept for prosody
    text: str  # the normalised transcript


# --- sources ----------------------------------------------------------------------------------


_ATTRIBUTION = re.compile(r"\s*(--|—|―)")


def read_fortunes(path: Path, lang: str) -> list[str]:
    """The fortunes of a strfile source, each on one line, without attributions ("-- Goethe")."""
    # errors="replace": a stray byte becomes U+FFFD, which the character check rejects
    text = path.read_text(encoding="utf-8", errors="replace")
    fortunes = []
    for block in re.split(r"^%[ \t]*$", text, flags=re.MULTILINE):
        lines = []
        for line in block.splitlines():
            if _ATTRIBUTION.match(line):
                break  # an attribution may run over several lines and ends the fortune
            lines.append(line)
        fortune = " ".join(" ".join(lines).split())
        if fortune:
            fortunes.append(fortune)
    return fortunes


# A literal, which the synthesizer would read out as the word it is not: a bold or italic span
# (a command, an option, a file), marked so that a sentence containing one is dropped.
LITERAL = "\ufffc"
_FONT_SPAN = re.compile(r"\\f(?:[BI]|\[(?:B|I|BI|CB|CI|CW)\]|\((?:BI|CB|CI|CW)).*?(?=\\f|$)")
_ESCAPES = [
    (re.compile(r"\\f(?:\[[^\]]*\]|\(..|.)"), ""),  # the remaining font changes (back to roman)
    (re.compile(r"\\\*(?:\[[^\]]*\]|\(..|.)"), " "),  # strings
    (re.compile(r"\\\((?:lq|rq|Fo|Fc|Bq|bq)"), '"'),  # quotation marks
    (re.compile(r"\\\((?:em|en|hy)|\\-"), "-"),
    (re.compile(r"\\\[[^\]]*\]|\\\(.."), LITERAL),  # any other special character
    (re.compile(r"\\[&,/:%]|\\c$"), ""),  # zero-width marks
    (re.compile(r"\\[ ~0|^]"), " "),
    (re.compile(r"\\e"), LITERAL),
]
# Paragraphs whose next text line is an item's tag (an option, a term), not prose.
_TAG_MACROS = {".TP", ".TQ"}
# Blocks that are not prose: tables (tbl), examples, unfilled text (command lines, listings).
_BLOCKS = {".TS": ".TE", ".EX": ".EE", ".nf": ".fi", ".EQ": ".EN"}
# Untranslated paragraphs are common in translated manual pages: a sentence with English
# function words (none of them a word of German, Italian or Spanish) is English.
_ENGLISH_WORDS = {"the", "is", "of", "and", "to", "that", "are", "be", "this", "with", "which", "by", "from", "it",
                  "for", "when", "you", "can", "if", "or", "not", "on", "its", "these", "those"}  # fmt: skip


def read_manual_page(path: Path, lang: str) -> list[str]:
    """The prose sentences of a (gzipped) manual page in troff.

    Macro lines end a paragraph; the line after .TP (an item's tag), tables,
    examples and unfilled blocks are left out; a bold or italic span becomes
    LITERAL, any other special character too. A sentence is kept if it starts with
    a capital letter, ends as a sentence does and (but in English) is not English.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as source:
        lines = source.read().splitlines()
    paragraphs, current, tag_next, block_end = [], [], False, None
    for line in lines:
        if line.startswith((".", "'")):
            macro = line.split(maxsplit=1)[0]
            if current:
                paragraphs.append(" ".join(current))
                current = []
            if block_end is None:
                block_end = _BLOCKS.get(macro)
            elif macro == block_end:
                block_end = None
            tag_next = macro in _TAG_MACROS
            continue
        if block_end is not None:
            continue
        if tag_next:
            tag_next = False
            continue
        line = _FONT_SPAN.sub(LITERAL, line)
        for pattern, replacement in _ESCAPES:
            line = pattern.sub(replacement, line)
        current.append(line)
    if current:
        paragraphs.append(" ".join(current))
    sentences = []
    for paragraph in paragraphs:
        for sentence in split_sentences(" ".join(paragraph.split())):
            words = sentence.lower().split()
            if not (sentence[0].isupper() and re.search(r"[.!?…][\"'»«“”)]*$", sentence)):
                continue
            if lang != "en" and sum(w.strip(",;:.!?()") in _ENGLISH_WORDS for w in words) >= 2:
                continue
            sentences.append(sentence)
    return sentences


@dataclass(frozen=True)
class TextSource:
    name: str
    package: str  # the Debian package that installs it
    folder: Path
    pattern: str  # its files under `folder`
    read: Callable[[Path, str], list[str]]  # (a file, its language) -> its passages (a fortune, a sentence), each on one line

    def files(self) -> list[Path]:
        """The source's files, sorted. Symlinks are skipped (the fortunes' ".u8" names and a manual page's
        aliases repeat other files), as are fortunes' ".dat" strfile indexes and subfolders (the offensive
        "off" collections)."""
        files = sorted(p for p in self.folder.glob(self.pattern) if p.is_file() and not p.is_symlink() and p.suffix != ".dat")
        if not files:
            raise TextMissing(f"no {self.name} in {self.folder}, from the Debian package {self.package}; {SETUP_HINT}")
        return files


def _fortunes(folder: Path, package: str) -> TextSource:
    return TextSource("fortunes", package, folder, "*", read_fortunes)


def _manual_pages(lang: str) -> TextSource:
    return TextSource("manual pages", f"manpages-{lang}", MANUAL_PAGES / lang, "man[1-8]/*", read_manual_page)


# language -> its text sources, in order: a sentence belongs to the first that has it.
TEXT_SOURCES = {
    "de": (_fortunes(FORTUNES / "de", "fortunes-de"), _manual_pages("de")),
    "en": (_fortunes(FORTUNES, "fortunes"),),
    "es": (_fortunes(FORTUNES / "es", "fortunes-es"), _manual_pages("es")),
    "it": (_fortunes(FORTUNES / "it", "fortunes-it"), _manual_pages("it")),
}


# Spell-checkers' word lists (Debian's wngerman, witalian, wspanish, wamerican): the words a
# beam search may spell beyond its LM's (`asr lm build`); no sentences, so no split to leak.
WORD_LISTS = {
    "de": ("wngerman", Path("/usr/share/dict/ngerman")),
    "en": ("wamerican", Path("/usr/share/dict/american-english")),
    "es": ("wspanish", Path("/usr/share/dict/spanish")),
    "it": ("witalian", Path("/usr/share/dict/italian")),
}


def word_list(lang: str) -> list[str]:
    """The language's spell-checker word list, normalised as transcripts are, in order, without repeats.
    Left out: acronyms ("ABC": said letter by letter, not as the word "abc") and possessives such as
    "Peter's", which normalise to two words."""
    package, path = WORD_LISTS[lang]
    if not path.is_file():
        raise TextMissing(f"no word list {path}, from the Debian package {package}; {SETUP_HINT}")
    lines = path.read_text(encoding="utf-8").splitlines()
    words = (normalize_transcript(line, lang) for line in lines if not (len(line) > 1 and line.isupper()))
    return list(dict.fromkeys(word for word in words if word and " " not in word))


# --- sentences --------------------------------------------------------------------------------


def split_sentences(passage: str) -> list[str]:
    # closing quotes after the full stop go with the break
    return [s for s in re.split(r"(?<=[.!?…])[\"'»«“”)]*\s+", passage) if s]


# Characters a synthesizer reads aloud as words (espeak-ng says "und" for "&")
# that the normalised transcript turns into spaces.
_SPOKEN_SYMBOLS = re.compile(r"[&%§$€£+=@#*/\\<>|~^_{}\[\]]")
# "z.B.", "www.debian.org", "F. Schiller": the synthesizer expands or spells them.
_DOTTED = re.compile(r"\w\.\w|(?<!\w)\w\.")
# "hab's": where the alphabet has no apostrophe the transcript says "hab s", the synthesizer "habs".
_INNER_APOSTROPHE = re.compile(r"\w['’ʼ´`]\w")
# Abbreviations a sentence may end with; the synthesizer expands them, the transcript cannot.
_ABBREVIATIONS = {
    "de": {
        "bzw", "bzgl", "ca", "dr", "etc", "evtl", "fr", "ggf", "hr", "inkl",
        "jh", "mio", "mrd", "nr", "prof", "sog", "str", "usw", "vgl",
    },
    "en": {"co", "dr", "etc", "inc", "jr", "ltd", "mr", "mrs", "ms", "prof", "sr", "st", "vs"},
    "es": {"dr", "etc", "pág", "sr", "sra", "srta", "ud", "uds"},
    "it": {"avv", "dott", "ecc", "ing", "prof", "sig", "sigg"},
}  # fmt: skip


def rejection_reason(sentence: str, text: str, lang: str) -> str | None:
    """Why a sentence (and its normalised `text`) cannot be used, or None if it can.

    The synthesizer reads `sentence`, so anything it would say differently from
    the transcript (literals, numbers, symbols, abbreviations, spelled-out acronyms,
    apostrophes the alphabet lacks) is rejected rather than risk a wrong label.
    """
    if LITERAL in sentence:
        return "literal"
    if any(c.isdigit() for c in sentence):
        return "digits"
    if _SPOKEN_SYMBOLS.search(sentence):
        return "spoken_symbols"
    abbreviations = _ABBREVIATIONS.get(lang, set())
    if _DOTTED.search(sentence) or any(w.lower() in abbreviations for w in re.findall(r"(\w+)\.", sentence)):
        return "abbreviation"
    if any(len(word) > 1 and word.isupper() for word in re.findall(r"\w+", sentence)):
        return "acronym"
    if "'" not in language_alphabet(lang) and _INNER_APOSTROPHE.search(sentence):
        return "apostrophe"
    if uncovered_characters(text, lang):
        return "uncovered_characters"
    n_words = len(text.split())
    if n_words < MIN_WORDS:
        return "too_few_words"
    if n_words > MAX_WORDS:
        return "too_many_words"
    return None


def collect_sentences(lang: str, source: TextSource, files: list[Path], seen: set[str]) -> tuple[list[Sentence], Counter]:
    """The usable sentences of a source's files in reading order, less those in `seen` (which grows), and counts of
    the rejected by reason."""
    sentences, dropped = [], Counter()
    for path in files:
        for passage in source.read(path, lang):
            for spoken in split_sentences(passage):
                text = normalize_transcript(spoken, lang)
                reason = rejection_reason(spoken, text, lang)
                if reason is None and text in seen:
                    reason = "duplicate"
                if reason is not None:
                    dropped[reason] += 1
                    continue
                seen.add(text)
                sentences.append(Sentence(spoken, text))
    return sentences, dropped


def split_sizes(total: int) -> dict[str, int]:
    """Utterances per split: about 10 % each for dev and test, at least one, the rest for train."""
    held_out = {split: max(1, round(total * SPLIT_FRACTIONS[split])) for split in ("dev", "test")}
    train = total - sum(held_out.values())
    if train < 1:
        raise ValueError(f"a corpus needs at least 3 utterances, one per split; got {total}")
    return {"train": train, **held_out}


def sentence_key(text: str) -> str:
    """A normalised sentence's key in the held-out list: 48 bits of its SHA-256, unique among a language's sentences."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@functools.cache
def held_out_list() -> dict[str, dict[str, str]]:
    """Source package -> {sentence key: "dev" or "test"}, as recorded in HELD_OUT_LIST."""
    recorded: dict[str, dict[str, str]] = {}
    with lzma.open(HELD_OUT_LIST, "rt", encoding="utf-8") as lines:
        for line in lines:
            package, split, key = line.split()
            recorded.setdefault(package, {})[key] = split
    return recorded


def split_sentences_by_text(sentences: list[Sentence], seed: int, held_out: dict[str, str] | None = None
                            ) -> dict[str, list[Sentence]]:
    """Shuffle the sentences and split them: by `held_out` (sentence key -> "dev" or "test"; every other sentence
    trains) where given, else cut 80/10/10. A sentence lands in exactly one split.

    The split does not depend on the number of utterances asked for, so a bigger
    build with the same seed extends a smaller one instead of reshuffling it.
    """
    shuffled = sorted(sentences, key=lambda s: s.text)  # independent of file reading order
    random.Random(seed).shuffle(shuffled)
    if held_out is not None:
        split: dict[str, list[Sentence]] = {"dev": [], "test": [], "train": []}
        for sentence in shuffled:
            split[held_out.get(sentence_key(sentence.text), "train")].append(sentence)
        return split
    n_dev = n_test = int(len(shuffled) * SPLIT_FRACTIONS["dev"])
    return {
        "dev": shuffled[:n_dev],
        "test": shuffled[n_dev : n_dev + n_test],
        "train": shuffled[n_dev + n_test :],
    }


def sentence_pools(lang: str, seed: int = 0) -> tuple[dict[str, list[Sentence]], list[dict]]:
    """Split name -> its sentences of every source, shuffled together; and per source its package, files,
    usable sentences per split, how they were split and the dropped by reason (for the dataset card).

    With HELD_OUT_SEED, a source in the held-out list is split by it; any other source, or seed, is cut by position."""
    if lang not in TEXT_SOURCES:
        raise ValueError(f"no texts for language {lang!r}; choose one of {', '.join(sorted(TEXT_SOURCES))}")
    pools: dict[str, list[Sentence]] = {split: [] for split in SPLITS}
    seen: set[str] = set()
    cards = []
    for source in TEXT_SOURCES[lang]:
        files = source.files()
        sentences, dropped = collect_sentences(lang, source, files, seen)
        held_out = held_out_list().get(source.package) if seed == HELD_OUT_SEED else None
        split = split_sentences_by_text(sentences, seed, held_out)
        for name in SPLITS:
            pools[name] += split[name]
        cards.append({"name": source.name, "package": source.package, "folder": str(source.folder), "files": len(files),
                      "usable": len(sentences), "per_split": {name: len(split[name]) for name in SPLITS},
                      "held_out": f"{HELD_OUT_LIST.name} ({len(held_out)} recorded)" if held_out else "cut by position",
                      "dropped": dict(sorted(dropped.items()))})  # fmt: skip
    for name in SPLITS:
        random.Random(f"{seed}/{name}").shuffle(pools[name])
    return pools, cards


def train_sentences(lang: str, seed: int = 0) -> list[str]:
    """Every normalised sentence that `build_corpus` (same seed) puts in the train split's pool.

    All of the split's sentences, not only the synthesized ones; never a dev or
    test sentence, so a language model built from them has not seen the test set's text.
    """
    return [s.text for s in sentence_pools(lang, seed)[0]["train"]]
