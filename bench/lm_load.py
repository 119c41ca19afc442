"""How long beam search with a shipped model's LM takes to set up: the lexicon trie and KenLM, per language.

Three ways, in one run on the same LM folders: this project's decoder with the
LM's words and its dictionary (the shipped default), the same without the
dictionary, and torchaudio's own `ctc_decoder(lexicon=FILE)` over the same
words (the peer; `asr.decoding.build_lexicon` says why it is not used). Each build is timed afresh: a
process builds an LM folder's lexicon once (`asr.decoding.shared_lexicon`), and this is what that once costs.

    python bench/lm_load.py [--models de,it,es] [--repeats 3] [--out bench/results/lm_load-cpu.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from asr.decoding import UNK_WORD, build_lexicon, flashlight_decoder
from asr.files import write_atomically
from asr.lm import folder as lm_folder
from asr.registry import resolve_model
from asr.text import WORD_DELIMITER, ALPHABETS, SPECIAL_TOKENS, Vocabulary
from eval.report import describe_machine


def seconds(build, repeats: int) -> float:
    """Median wall seconds of `build()`, the built object dropped outside the timing."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        built = build()
        times.append(time.perf_counter() - started)
        del built
    return statistics.median(times)


def torchaudio_decoder(lm_dir: Path, vocabulary: Vocabulary, scratch: Path):
    """torchaudio's ctc_decoder reading a lexicon file of the same words, as it documents."""
    lexicon = scratch / "lexicon.txt"
    lines = [f"{UNK_WORD} {vocabulary.tokens[vocabulary.unknown_id]} {WORD_DELIMITER}",
             *lm_folder.lexicon_lines(lm_folder.lexicon_words(lm_dir), vocabulary)]
    lexicon.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return flashlight_decoder().ctc_decoder(
        lexicon=str(lexicon), tokens=list(vocabulary.tokens), lm=str(lm_folder.lm_path(lm_dir)),
        blank_token=vocabulary.tokens[vocabulary.blank_id], sil_token=WORD_DELIMITER, unk_word=UNK_WORD)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="de,it,es", help="shipped models, comma-separated (default: de,it,es)")
    parser.add_argument("--repeats", type=int, default=3, help="builds timed per way, median kept (torchaudio's: 1)")
    parser.add_argument("--out", default="bench/results/lm_load-cpu.json")
    args = parser.parse_args()

    rows = []
    for name in args.models.split(","):
        ref = resolve_model(name)
        lang = ref.card["language"]
        vocabulary = Vocabulary(SPECIAL_TOKENS + tuple(sorted(ALPHABETS[lang])))
        with tempfile.TemporaryDirectory() as scratch:
            without = Path(scratch) / "lm-without-dictionary"
            shutil.copytree(ref.lm_dir, without, ignore=shutil.ignore_patterns(lm_folder.DICTIONARY))
            row = {
                "model": name, "lm_words": len(lm_folder.lexicon_words(without)), "words": len(lm_folder.lexicon_words(ref.lm_dir)),
                "seconds": seconds(lambda: build_lexicon(ref.lm_dir, vocabulary), args.repeats),
                "seconds_without_dictionary": seconds(lambda: build_lexicon(without, vocabulary), args.repeats),
                "torchaudio_seconds": seconds(lambda: torchaudio_decoder(ref.lm_dir, vocabulary, Path(scratch)), 1),
            }
        rows.append(row)
        print(f"{name}: {row['words']} words ({row['lm_words']} the LM's): {row['seconds']:.2f} s; "
              f"{row['seconds_without_dictionary']:.2f} s without the dictionary; torchaudio's ctc_decoder "
              f"{row['torchaudio_seconds']:.2f} s", flush=True)
    result = {"command": "python bench/lm_load.py " + " ".join(f"--{k} {v}" for k, v in vars(args).items()),
              "machine": describe_machine(), "rows": rows}
    write_atomically(args.out, json.dumps(result, indent=2) + "\n")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
