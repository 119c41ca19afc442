import gzip

import pytest

import asr.corpora.texts as texts
from asr.corpora.texts import LITERAL, SPLITS, TextSource, read_fortunes, read_manual_page, rejection_reason, sentence_pools
from asr.text import normalize_transcript

PAGE = r""".\" -*- coding: UTF-8 -*-
.TH LS 1 "September 2022" "GNU coreutils 9.1" "Dienstprogramme für Benutzer"
.SH BEZEICHNUNG
ls \- Verzeichnisinhalte auflisten
.SH BESCHREIBUNG
.PP
Auflistung von Informationen über die Dateien im
aktuellen Verzeichnis. Die Einträge werden mit \fB\-\-sort\fP sortiert.
.TP
\fB\-a\fP, \fB\-\-all\fP
Einträge nicht ignorieren, die mit einem Punkt beginnen.
.TP
Das Etikett eines Eintrags ist keine Prosa.
.PP
The default is to list the directory.
.nf
Dies ist ein Beispiel ohne Umbruch.
.fi
.TS
allbox tab(:);
Eine Tabelle ist keine Prosa.
.TE
und ein Satz ohne Anfang.
Ein Satz \(em mit Strich \- und \(Bqdeutschen\(lq Anführungszeichen.
"""


def test_a_manual_page_gives_its_prose_only(tmp_path):
    path = tmp_path / "ls.1.gz"
    with gzip.open(path, "wt", encoding="utf-8") as page:
        page.write(PAGE)
    sentences = read_manual_page(path, "de")
    assert sentences[0] == "Auflistung von Informationen über die Dateien im aktuellen Verzeichnis."
    assert sentences[1] == f"Die Einträge werden mit {LITERAL} sortiert."  # a literal, which the filter then drops
    assert "Einträge nicht ignorieren, die mit einem Punkt beginnen." in sentences
    joined = " ".join(sentences)
    for left_out in ("auflisten", "Etikett", "default", "Beispiel", "Tabelle", "ohne Anfang"):
        assert left_out not in joined
    assert sentences[-1].startswith("Ein Satz - mit Strich - und")
    assert rejection_reason(sentences[1], normalize_transcript(sentences[1], "de"), "de") == "literal"
    # English manual pages keep their English
    assert "The default is to list the directory." in read_manual_page(path, "en")


def _source(name: str, folder, lines: list[str]) -> TextSource:
    folder.mkdir()
    (folder / "text").write_text("\n%\n".join(lines) + "\n", encoding="utf-8")
    return TextSource(name, f"texts-{name}", folder, "*", read_fortunes)


def test_a_second_source_leaves_the_first_ones_splits_alone(tmp_path, monkeypatch):
    first = [f"Das ist der Satz Nummer {word} im ersten Text." for word in "eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf".split()] * 2
    words = "ein zwei drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn vierzehn fünfzehn sechzehn siebzehn achtzehn neunzehn zwanzig".split()
    second = [f"Hier steht der Satz {word} im zweiten Text." for word in words] + first[:3]
    one = _source("one", tmp_path / "one", first)
    two = _source("two", tmp_path / "two", second)

    monkeypatch.setitem(texts.TEXT_SOURCES, "de", (one,))
    alone, _ = sentence_pools("de", seed=1)
    monkeypatch.setitem(texts.TEXT_SOURCES, "de", (one, two))
    both, cards = sentence_pools("de", seed=1)

    for split in SPLITS:
        firsts = {s.text for s in both[split] if "ersten" in s.text}
        assert firsts == {s.text for s in alone[split]}, split
    texts_by_split = {split: {s.text for s in both[split]} for split in SPLITS}
    assert sum(len(t) for t in texts_by_split.values()) == 12 + 20  # each sentence once, in one split
    assert not texts_by_split["train"] & (texts_by_split["dev"] | texts_by_split["test"])
    assert cards[0]["dropped"] == {"duplicate": 12} and cards[1]["dropped"] == {"duplicate": 3}
    assert [card["usable"] for card in cards] == [12, 20]


def test_the_held_out_list_holds_out_its_sentences_on_any_machine_and_trains_on_the_rest(tmp_path, monkeypatch):
    # A source that another machine has more of (another package's manual pages in the same folder): a cut by
    # position would reshuffle its splits; the list keeps every recorded dev and test sentence where it was.
    words = "eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn vierzehn fünfzehn sechzehn".split()
    here = [f"Das ist der Satz Nummer {word} im Text." for word in words]
    there = here + [f"Dort steht noch der Satz {word} im Text." for word in words]
    source = _source("pages", tmp_path / "pages", here)
    monkeypatch.setitem(texts.TEXT_SOURCES, "de", (source,))
    cut, _ = sentence_pools("de", seed=1)  # another seed: cut by position, as the list was recorded
    recorded = {texts.sentence_key(s.text): split for split in ("dev", "test") for s in cut[split]}
    assert recorded  # 16 sentences: one dev, one test
    monkeypatch.setattr(texts, "HELD_OUT_SEED", 1)
    monkeypatch.setattr(texts, "held_out_list", lambda: {"texts-pages": recorded})

    same, cards = sentence_pools("de", seed=1)
    assert {split: [s.text for s in same[split]] for split in SPLITS} == {split: [s.text for s in cut[split]] for split in SPLITS}
    assert cards[0]["held_out"] == "held_out.tsv.xz (2 recorded)"
    (tmp_path / "pages" / "text").write_text("\n%\n".join(there) + "\n", encoding="utf-8")
    more, _ = sentence_pools("de", seed=1)
    for split in ("dev", "test"):
        assert {s.text for s in more[split]} == {s.text for s in cut[split]}, split
    assert {s.text for s in more["train"]} == {s.text for s in cut["train"]} | {normalize_transcript(t, "de") for t in there[16:]}


def test_the_held_out_list_records_every_text_source():
    recorded = texts.held_out_list()
    for lang, sources in texts.TEXT_SOURCES.items():
        for source in sources:
            splits = list(recorded.get(source.package, {}).values())
            assert splits.count("dev") > 100 and splits.count("test") > 100, (lang, source.package)


def test_a_missing_text_package_is_named(tmp_path):
    source = TextSource("manual pages", "manpages-xx", tmp_path / "nothing", "man[1-8]/*", read_manual_page)
    with pytest.raises(texts.TextMissing, match=r"manpages-xx.*scripts/setup_system\.sh"):
        source.files()


def test_a_word_list_is_normalised_without_acronyms_and_possessives(tmp_path, monkeypatch):
    path = tmp_path / "ngerman"
    path.write_text("ABC\nÄrger\nStraße\nA\nPeter's\närger\n", encoding="utf-8")
    monkeypatch.setitem(texts.WORD_LISTS, "de", ("wngerman", path))
    assert texts.word_list("de") == ["ärger", "straße", "a"]
    monkeypatch.setitem(texts.WORD_LISTS, "de", ("wngerman", tmp_path / "missing"))
    with pytest.raises(texts.TextMissing, match=r"wngerman.*scripts/setup_system\.sh"):
        texts.word_list("de")
