import unicodedata

import pytest

from asr.text import (
    ALPHABETS,
    BLANK,
    SPECIAL_TOKENS,
    UNKNOWN,
    WORD_DELIMITER,
    Vocabulary,
    language_alphabet,
    normalize_transcript,
    uncovered_characters,
)


@pytest.mark.parametrize(
    "lang,text,expected",
    [
        ("en", "Hello, World!  How are you?", "hello world how are you"),
        ("en", "Don't stop—believin’.", "don't stop believin"),
        ("en", "'Quoted' words, rock 'n' roll", "quoted words rock n roll"),
        ("en", "It’s John‘s `car`", "it's john's car"),
        ("en", "snake_case\tand\nnew lines", "snake case and new lines"),
        ("de", "Grüß Gott! Wie geht's? Straßen-Bahn.", "grüß gott wie geht s straßen bahn"),
        ("de", "ÄRGER über ÖL", "ärger über öl"),
        ("it", "L'acqua è bella, dell’arte!", "l'acqua è bella dell'arte"),
        ("it", "«Perché?» disse: «Sì.»", "perché disse sì"),
        ("es", "¿Qué tal? ¡Año Niño!", "qué tal año niño"),
        ("es", "O'Brien dijo: «hola»", "o brien dijo hola"),
        ("en", "  ...  ", ""),
    ],
)
def test_normalize(lang, text, expected):
    assert normalize_transcript(text, lang) == expected


@pytest.mark.parametrize("lang", ["en", "it"])
def test_apostrophe_kept_inside_words_only(lang):
    assert normalize_transcript("l'uomo dell'anno", lang) == "l'uomo dell'anno"
    assert normalize_transcript("'tra virgolette' e poi '", lang) == "tra virgolette e poi"


@pytest.mark.parametrize("lang", ["de", "es"])
def test_apostrophe_dropped_where_alphabet_lacks_it(lang):
    assert "'" not in language_alphabet(lang)
    assert normalize_transcript("l'uomo dell’anno", lang) == "l uomo dell anno"


@pytest.mark.parametrize(
    "lang,text", [("de", "Grüße, Ärger und Öl – Übermut"), ("es", "Año, niño, pingüino, canción"), ("it", "Perché più città")]
)
def test_nfc_and_nfd_give_the_same_result(lang, text):
    composed = unicodedata.normalize("NFC", text)
    decomposed = unicodedata.normalize("NFD", text)
    assert composed != decomposed
    result = normalize_transcript(decomposed, lang)
    assert result == normalize_transcript(composed, lang)
    assert unicodedata.is_normalized("NFC", result)
    assert not uncovered_characters(result, lang)


def test_uncovered_characters():
    assert uncovered_characters(normalize_transcript("Grüße aus Köln", "de"), "de") == set()
    assert uncovered_characters(normalize_transcript("Grüße aus Köln", "en"), "en") == {"ü", "ß", "ö"}
    assert uncovered_characters(normalize_transcript("Room 101, café", "en"), "en") == {"1", "0", "é"}
    assert uncovered_characters("niño", "es") == set()
    assert uncovered_characters("l'acqua", "it") == set()
    assert uncovered_characters("geht's", "de") == {"'"}


def test_unsupported_language():
    with pytest.raises(ValueError, match="fr"):
        normalize_transcript("bonjour", "fr")
    with pytest.raises(ValueError, match="unsupported"):
        uncovered_characters("bonjour", "fr")
    assert set(ALPHABETS) == {"de", "en", "it", "es"}


def test_vocabulary_build_and_round_trip():
    transcripts = [normalize_transcript(t, "de") for t in ["Grüße aus Köln", "Der Bär schläft.", "aus"]]
    vocab = Vocabulary.from_transcripts(transcripts)
    assert vocab.tokens[:3] == SPECIAL_TOKENS
    assert vocab.tokens[vocab.blank_id] == BLANK
    assert vocab.tokens[vocab.delimiter_id] == WORD_DELIMITER
    assert vocab.tokens[vocab.unknown_id] == UNKNOWN
    characters = vocab.tokens[3:]
    assert list(characters) == sorted(set("".join(transcripts).replace(" ", "")))
    assert " " not in vocab.tokens
    assert len(vocab) == 3 + len(characters)

    for text in transcripts + ["köln aus der bär"]:
        ids = vocab.encode(text)
        assert vocab.decode(ids) == text
        assert ids.count(vocab.delimiter_id) == text.count(" ")
        assert vocab.unknown_id not in ids


def test_encode_collapses_whitespace_and_maps_unknown():
    vocab = Vocabulary.from_transcripts(["ab ba"])
    a, b = vocab.tokens.index("a"), vocab.tokens.index("b")
    assert vocab.encode("  ab   ba ") == [a, b, vocab.delimiter_id, b, a]
    assert vocab.encode("abz") == [a, b, vocab.unknown_id]
    assert vocab.decode(vocab.encode("abz")) == "ab" + UNKNOWN


def test_decode_drops_blanks_and_extra_delimiters():
    vocab = Vocabulary.from_transcripts(["ab"])
    a, b = vocab.tokens.index("a"), vocab.tokens.index("b")
    blank, delim = vocab.blank_id, vocab.delimiter_id
    assert vocab.decode([delim, blank, a, blank, delim, delim, b, delim]) == "a b"
    assert vocab.decode([]) == ""
    assert vocab.decode([blank, delim]) == ""


@pytest.mark.parametrize(
    "tokens",
    [
        ("a", "b", "c"),
        (WORD_DELIMITER, BLANK, UNKNOWN, "a"),
        (BLANK, WORD_DELIMITER),
        SPECIAL_TOKENS + ("a", "a"),
        SPECIAL_TOKENS + (BLANK,),
    ],
)
def test_invalid_vocabularies_raise(tokens):
    with pytest.raises(ValueError):
        Vocabulary(tokens)


def test_transcript_holding_the_delimiter_character_is_rejected():
    # '|' is the word delimiter token: as a character it would duplicate it
    with pytest.raises(ValueError):
        Vocabulary.from_transcripts(["a|b"])


def test_words_are_spelt_with_their_longest_pieces_first():
    vocab = Vocabulary(SPECIAL_TOKENS + ("a", "b", "c", "ab", "abc", "bc"))
    assert vocab.has_pieces
    spelt = lambda text: [vocab.tokens[i] for i in vocab.encode(text)]  # noqa: E731
    assert spelt("abc") == ["abc"]
    assert spelt("abab cab") == ["ab", "ab", WORD_DELIMITER, "c", "ab"]
    assert spelt("bca x") == ["bc", "a", WORD_DELIMITER, UNKNOWN]
    assert vocab.decode(vocab.encode("abc cab bcab")) == "abc cab bcab"
    # A longer token that does not match gives way to the longest that does, not to one character.
    gaps = Vocabulary(SPECIAL_TOKENS + ("a", "b", "c", "ab", "abcd"))
    assert [gaps.tokens[i] for i in gaps.encode("abce abcd")] == ["ab", "c", UNKNOWN, WORD_DELIMITER, "abcd"]
    characters = Vocabulary(SPECIAL_TOKENS + ("a", "b", "c"))
    assert not characters.has_pieces and characters.spell("cab") == [5, 3, 4]
    # A character the vocabulary lacks is <unk>, even where its code point is one of the indices ("0" is 48).
    many = Vocabulary(SPECIAL_TOKENS + tuple(chr(c) for c in range(0x100, 0x140)))
    assert len(many) > ord("0") and many.spell("\u01000") == [3, many.unknown_id]


def test_learnt_pieces_are_the_same_each_time_and_shorten_the_targets():
    transcripts = [normalize_transcript(t, "de") for t in [
        "der hund und die katze", "die katze und der hund schlafen", "der bär und die bären schlafen",
        "wo schlafen der hund und die katze", "die hunde und die katzen"] * 20]
    vocab = Vocabulary.from_transcripts(transcripts, pieces=40)
    assert vocab == Vocabulary.from_transcripts(transcripts, pieces=40)  # a resumed run rebuilds the same one
    assert set("".join(transcripts).replace(" ", "")) <= set(vocab.tokens)  # every character stays spellable
    assert {"der", "die", "und"} <= set(vocab.tokens)
    characters = Vocabulary.from_transcripts(transcripts)
    for text in transcripts[:5]:
        assert vocab.decode(vocab.encode(text)) == text
        assert len(vocab.encode(text)) < len(characters.encode(text))
    assert vocab.encode("der")[0] == vocab.tokens.index("der")
