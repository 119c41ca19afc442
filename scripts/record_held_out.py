"""Write asr/corpora/held_out.tsv.xz: the dev and test sentences of seed 0's 80/10/10 cut by position of every
language's text sources, as installed here. It was run once, on the machine whose texts built the release corpora
(German manual pages: 1080 files), so that every machine holds out those sentences and no others. It refuses to
replace the list: a new one moves sentences between splits, and the shipped models trained on the old train split.
  .venv/bin/python scripts/record_held_out.py
"""

import lzma
import sys

from asr.corpora.texts import (HELD_OUT_LIST, HELD_OUT_SEED, TEXT_SOURCES, collect_sentences, sentence_key,
                               split_sentences_by_text)


def main() -> None:
    if HELD_OUT_LIST.exists():
        sys.exit(f"{HELD_OUT_LIST} is there: a new list would hold out sentences the shipped models trained on. Delete "
                 "it first only to start every corpus and model anew.")
    lines = []
    for lang, sources in sorted(TEXT_SOURCES.items()):
        seen: set[str] = set()
        for source in sources:
            files = source.files()
            sentences, _ = collect_sentences(lang, source, files, seen)
            split = split_sentences_by_text(sentences, HELD_OUT_SEED)
            lines += sorted(f"{source.package}\t{name}\t{sentence_key(s.text)}" for name in ("dev", "test") for s in split[name])
            print(f"{lang} {source.package}: {len(files)} files, {len(split['dev'])} dev and {len(split['test'])} test sentences")
    keys = [(line.split("\t")[0], line.rsplit("\t", 1)[1]) for line in lines]
    assert len(set(keys)) == len(keys), "two held-out sentences of a source share a key"
    HELD_OUT_LIST.write_bytes(lzma.compress(("\n".join(lines) + "\n").encode()))
    print(f"{HELD_OUT_LIST}: {len(lines)} sentences, {HELD_OUT_LIST.stat().st_size} bytes")


if __name__ == "__main__":
    main()
