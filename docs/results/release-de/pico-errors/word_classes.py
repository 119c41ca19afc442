"""Which reference words a model gets wrong, by test voice and by a word's spelling: ends in a consonant and "en"
(haben, wegen: Pico says a syllabic n, espeak-ng a schwa), has an r after a vowel that ends a syllable (der, klar,
wird: Pico says a vowel, espeak-ng a consonant), or neither. A word is right where the alignment of `asr eval` (jiwer)
matches it to the same hypothesis word. Reads an `asr eval --json` file and the manifest its test set came from.
  python docs/results/release-de/pico-errors/word_classes.py EVAL.json data/release-de/test.jsonl [MODEL]
"""

import collections
import json
import re
import sys
from pathlib import Path

import jiwer

VOWELS = "aeiouäöüy"
CLASSES = {
    "consonant + en": re.compile(rf"[^{VOWELS}]en$"),
    "syllable-final r": re.compile(rf"[{VOWELS}]h?r(?:$|[^{VOWELS}])"),
}


def word_class(word: str) -> str:
    return next((name for name, pattern in CLASSES.items() if pattern.search(word)), "other")


def main(eval_json: str, manifest: str, model: str | None = None) -> None:
    runs = json.loads(Path(eval_json).read_text())["results"]
    run = next(r for r in runs if model in (None, r["model"]))
    rows = [json.loads(line) for line in open(manifest)]
    speakers = {row["audio_filepath"]: row["speaker"] for row in rows}
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for utterance in run["utterances"]:
        reference = utterance["reference"].split()
        right = [False] * len(reference)
        for chunk in jiwer.process_words(utterance["reference"], utterance["hypothesis"]).alignments[0]:
            if chunk.type == "equal":
                right[chunk.ref_start_idx : chunk.ref_end_idx] = [True] * (chunk.ref_end_idx - chunk.ref_start_idx)
        for word, ok in zip(reference, right):
            counts[speakers[utterance["audio"]]][(word_class(word), ok)] += 1
    names = [*CLASSES, "other"]
    print(f"Reference words wrong (substituted or deleted), {run['model']} on {run['test_set']}, from {eval_json}: "
          "% wrong (words of the class).\n")
    print("| test voice | " + " | ".join(names) + " | all |")
    print("|---|" + "---:|" * (len(names) + 1))
    everyone: collections.Counter = collections.Counter()
    for speaker, c in sorted(counts.items()):
        everyone.update(c)
        print(f"| {speaker} | " + " | ".join(_cell(c, name) for name in [*names, None]) + " |")
    print("| all | " + " | ".join(_cell(everyone, name) for name in [*names, None]) + " |")
    # What fixing the two pronunciations alone could reach: each voice's words of those classes as often wrong as
    # its other words.
    at_other_rate = sum(sum(c.values()) * _wrong(c, "other") for c in counts.values()) / sum(everyone.values())
    print(f"\nEvery word as often wrong as its voice's other words: {100 * at_other_rate:.1f} % of all words wrong "
          f"(now {100 * _wrong(everyone, None):.1f} %).")


def _tally(c: collections.Counter, name: str | None) -> tuple[int, int]:
    """(wrong, all) of a class's words (None: of all words)."""
    wrong = sum(n for (k, ok), n in c.items() if not ok and name in (None, k))
    return wrong, sum(n for (k, _), n in c.items() if name in (None, k))


def _wrong(c: collections.Counter, name: str | None) -> float:
    wrong, total = _tally(c, name)
    return wrong / total


def _cell(c: collections.Counter, name: str | None) -> str:
    wrong, total = _tally(c, name)
    return f"{100 * wrong / total:.1f} ({total})"


if __name__ == "__main__":
    main(*sys.argv[1:])
