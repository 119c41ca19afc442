"""What `asr.corpora.synth.MBROLA_PHONEMES` changes: each voice there, espeak-ng's way against the renamed way.

For the first --sentences sentences of a corpus's dev split, each MBROLA voice of
MBROLA_PHONEMES speaks them both ways (espeak-ng driving the database with its
own phoneme names, as the corpus builder did before; and through the renamed
.pho file, as it does now), at normal rate and pitch. Per way: the diphones the
database lacks and reads as silence, per sentence, and zero-shot Whisper base's
WER on the audio (faster-whisper, beam 5), a listener that never heard these
voices. Prints a table and writes JSON.

    python recipes/mbrola_phonemes_check.py --out docs/results/mbrola-phonemes/check.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import jiwer

from asr.audio import load_audio
from asr.corpora.manifest import read_manifest
from asr.corpora.synth import MBROLA_PHONEMES, SAMPLE_RATE, Voice, mbrola_language, run_mbrola, write_mbrola_phonemes
from asr.cpu import cpu_model
from eval.normalize import get_normalizer
from eval.systems import FasterWhisperSystem



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=20, help="dev sentences per voice (default: 20)")
    parser.add_argument("--corpus", default="data/release-{lang}", help="corpus folder, {lang} filled in (default: %(default)s)")
    parser.add_argument("--databases", default=",".join(sorted(MBROLA_PHONEMES)),
                        help="comma-separated MBROLA databases of MBROLA_PHONEMES (default: all of them)")
    parser.add_argument("--out", default="docs/results/mbrola-phonemes/check.json")
    args = parser.parse_args()

    whisper = FasterWhisperSystem("whisper-base", beam_size=5, device="cpu", compute_type="int8")
    whisper.load()
    rows = []
    print("| voice | missing diphones a sentence, espeak-ng's way | renamed | Whisper base WER %, espeak-ng's way | renamed |")
    print("|---|---:|---:|---:|---:|")
    databases = args.databases.split(",")
    unknown = sorted(set(databases) - set(MBROLA_PHONEMES))
    if unknown:
        parser.error(f"--databases: {', '.join(unknown)} not in MBROLA_PHONEMES ({', '.join(sorted(MBROLA_PHONEMES))})")
    for database in databases:
        lang = mbrola_language(database)
        normalize = get_normalizer("auto", lang)
        dev = read_manifest(Path(args.corpus.format(lang=lang)) / "dev.jsonl")[: args.sentences]
        texts = [u.text for u in dev]
        voice = Voice("mbrola", f"mb-{database}", lang)
        missing = {"espeak-ng": 0, "renamed": 0}
        heard = {"espeak-ng": [], "renamed": []}
        with tempfile.TemporaryDirectory() as tmp:
            pho, wav = Path(tmp) / "s.pho", Path(tmp) / "s.wav"
            for text in texts:
                waves = {}
                for way, repaired in (("espeak-ng", False), ("renamed", True)):
                    write_mbrola_phonemes(voice, text, pho, 1.0, 0.0, repaired=repaired)
                    missing[way] += run_mbrola(database, pho, wav)
                    waves[way] = load_audio(wav, SAMPLE_RATE)
                for way, wave in waves.items():
                    segments, _ = whisper.model.transcribe(wave.numpy(), language=lang, beam_size=5)
                    heard[way].append(normalize(" ".join(segment.text for segment in segments)))
        references = [normalize(text) for text in texts]
        row = {"voice": voice.name, "language": lang, "espeak_ng_voice": MBROLA_PHONEMES[database][0],
               "renames": MBROLA_PHONEMES[database][1], "sentences": len(texts)}
        for way in missing:
            row[way] = {"missing_diphones_per_sentence": round(missing[way] / len(texts), 2),
                        "whisper_base_wer": round(jiwer.wer(references, heard[way]), 4)}
        rows.append(row)
        print(f"| {voice.name} | {row['espeak-ng']['missing_diphones_per_sentence']:.2f} | {row['renamed']['missing_diphones_per_sentence']:.2f} "
              f"| {100 * row['espeak-ng']['whisper_base_wer']:.1f} | {100 * row['renamed']['whisper_base_wer']:.1f} |", flush=True)
    report = {"command": "python " + " ".join(sys.argv), "machine": f"{cpu_model()}, {os.cpu_count()} cores",
              "load_average_1min_at_end": round(os.getloadavg()[0], 2), "listener": "faster-whisper base int8, beam 5, zero-shot",
              "voices": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
