import pytest

from asr.text import ALPHABETS, normalize_transcript
from eval.normalize import NORMALIZERS, get_normalizer
from eval.scoring import score


@pytest.mark.parametrize(
    "lang, text, expected",
    [
        ("en", "Don't STOP—it's the end!", "don't stop it's the end"),
        ("en", "‘Well-known’ rock ’n’ roll…", "well known rock n roll"),  # hyphens break words, as in the training alphabet
        ("en", "The dog’s bone (and the cat's).", "the dog's bone and the cat's"),
        ("de", "„Geht's dir gut?“, fragte sie.", "geht s dir gut fragte sie"),  # no apostrophe in the German alphabet
        ("de", "Die E-Mail kam um 9 Uhr.", "die e mail kam um 9 uhr"),
        ("de", "Daß die Straße naß ist", "dass die strasse nass ist"),  # case folding: old and Swiss spelling score alike
        ("de", "ÄRGER über O\u0308l", "ärger über öl"),  # decomposed umlauts are composed
        ("it", "L’acqua è così… bella!", "l'acqua è così bella"),
        ("it", "Perché? Dell'Italia, l' ultima", "perché dell'italia l ultima"),  # a stray apostrophe is a break
        ("es", "¿Qué tal, Señor Muñoz? ¡Olé!", "qué tal señor muñoz olé"),
        ("es", "El pingüino de O'Donnell", "el pingüino de o donnell"),
    ],
)
def test_language_normalisers(lang, text, expected):
    assert get_normalizer(lang)(text) == expected


def test_basic_keeps_marks_inside_words_only():
    basic = get_normalizer("basic")
    assert basic("A well-known rock-'n'-roll band's 'hit' - yes -no") == "a well-known rock n roll band's hit yes no"
    assert basic("don’t") == "don't"  # typographic apostrophe
    assert basic("Tele‑fon") == "tele-fon"  # non-breaking hyphen


def test_basic_is_unicode_and_script_aware():
    basic = get_normalizer("basic")
    assert basic("ﬁne Ｗｏｒｌｄ\u00a0\t e\u0301\n") == "fine world é"  # NFKC: ligature, full width, no-break space
    assert basic("नमस्ते, दुनिया!") == "नमस्ते दुनिया"  # vowel signs (combining marks) stay in their word
    assert basic("你好，世界。") == "你好 世界"
    assert basic("ΟΔΟΣ İstanbul") == "οδοσ i̇stanbul"


@pytest.mark.parametrize("lang", sorted(ALPHABETS))
@pytest.mark.parametrize(
    "text",
    [
        "Don't STOP—it's the end!",
        "„Geht's dir gut?“, fragte die E-Mail-Adresse. Daß Straße",
        "L’acqua è così… bella! Dell' Italia",
        "¿Qué tal, Señor Muñoz? ¡Olé! O'Donnell",
        "'quoted' -dash- rock-'n'-roll 3½ ﬁne",
    ],
)
def test_no_drift_from_training_targets(lang, text):
    """A CTC model that writes exactly its training target scores zero: the training normaliser keeps nothing the scorer drops."""
    normalizer = get_normalizer(lang)
    assert normalizer(normalize_transcript(text, lang)) == normalizer(text)


def test_normaliser_is_chosen_by_name():
    assert get_normalizer("auto", "de").name == "de"
    assert get_normalizer("auto", "fi").name == "basic"  # no rules for the language: the basic normaliser
    assert get_normalizer("auto", None).name == "basic"
    assert set(NORMALIZERS) == {"basic", *ALPHABETS}
    with pytest.raises(ValueError, match="unknown normaliser 'klingon'.*basic"):
        get_normalizer("klingon")


def test_the_same_normaliser_on_both_sides_removes_formatting_errors():
    de = get_normalizer("de")
    scores = score([de("Hallo, Welt! Daß")], [de("hallo welt dass")])
    assert scores.wer == 0 and scores.cer == 0
