"""Synthetic speech corpora: sentences from the fortunes packages read by Debian's synthesizers.

The splits are disjoint twice over. By text: a sentence belongs to one split
only. By voice: the test voices are heard nowhere else and the dev voice is in
neither train nor test, so dev and test scores measure how a model copes with
speakers (and, for test, a whole engine) it never heard, not how well it
memorised the training voices.

    build_corpus("de", Path("data/synth-de"), utterances=2000)

writes data/synth-de/{train,dev,test}.jsonl, wav/<split>/*.wav, dataset_card.json
and README.md. A second call with the same arguments reuses every WAV already
written, so an interrupted build resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import soundfile
import torch
from tqdm import tqdm

from asr.audio import SAMPLE_RATE, load_audio, write_audio
from asr.manifest import Utterance, write_manifest
from asr.text import language_alphabet, normalize_transcript, uncovered_characters

SPLITS = ("train", "dev", "test")
SPLIT_FRACTIONS = {"train": 0.8, "dev": 0.1, "test": 0.1}
MIN_WORDS, MAX_WORDS = 3, 20
MAX_DURATION = 20.0  # seconds; longer synthesized utterances are left out of the manifests

# Drawn per utterance. Rate is a factor on the engine's normal speed; pitch is
# in semitones from the voice's own pitch, so both mean the same for every engine.
RATE_RANGE = (0.8, 1.25)
PITCH_RANGE = (-3.0, 3.0)

ESPEAK_WORDS_PER_MINUTE = 175  # espeak-ng's default -s
# Some MBROLA voices (de5, de7) clip at espeak-ng's default amplitude of 100.
ESPEAK_AMPLITUDE = 70

FORTUNES = Path("/usr/share/games/fortunes")
MBROLA_VOICES = Path("/usr/share/mbrola")
PICO_LANGUAGES = Path("/usr/share/pico/lang")
SETUP_HINT = "run scripts/setup_system.sh to install it"

# language -> (folder of fortune files, Debian package that installs them)
FORTUNE_SOURCES = {
    "de": (FORTUNES / "de", "fortunes-de"),
    "en": (FORTUNES, "fortunes"),
    "es": (FORTUNES / "es", "fortunes-es"),
    "it": (FORTUNES / "it", "fortunes-it"),
}


class SynthesizerMissing(RuntimeError):
    """A synthesizer, voice or text source that is not installed, with the Debian package to install."""


class SynthesisError(RuntimeError):
    """A synthesizer that failed on a sentence."""


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker: an engine, the engine's name for the voice, and its language."""

    engine: str  # "espeak-ng", "mbrola" (MBROLA diphones driven by espeak-ng) or "pico" (SVOX Pico)
    voice_id: str  # espeak-ng's -v argument, or pico2wave's -l language
    lang: str

    @property
    def name(self) -> str:
        """The speaker label in manifests, e.g. "mbrola/mb-de5"."""
        return f"{self.engine}/{self.voice_id}"

    def requirements(self) -> list[tuple[str | Path, str]]:
        """(program on PATH or data file, Debian package that installs it) for this voice."""
        if self.engine == "espeak-ng":
            return [("espeak-ng", "espeak-ng")]
        if self.engine == "mbrola":
            database = self.voice_id.removeprefix("mb-")
            return [
                ("espeak-ng", "espeak-ng"),
                ("mbrola", "mbrola"),
                (MBROLA_VOICES / database / database, f"mbrola-{database}"),
            ]
        if self.engine == "pico":
            language_data = PICO_LANGUAGES / f"{self.voice_id}_ta.bin"
            return [("pico2wave", "libttspico-utils"), (language_data, "libttspico-data")]
        raise ValueError(f"unknown synthesis engine {self.engine!r}")

    def check(self) -> None:
        """Raise SynthesizerMissing, naming the Debian package, if this voice cannot run here."""
        for needed, package in self.requirements():
            present = needed.is_file() if isinstance(needed, Path) else shutil.which(needed) is not None
            if not present:
                raise SynthesizerMissing(
                    f"voice {self.name} needs {needed}, from the Debian package {package}; {SETUP_HINT}"
                )

    def synthesize(self, text: str, path: Path, rate: float, pitch: float) -> None:
        """Write `text` spoken at `rate` times normal speed, `pitch` semitones up, as a WAV file at `path`."""
        if self.engine in ("espeak-ng", "mbrola"):
            speak_espeak_ng(self.voice_id, text, path, rate, pitch)
        elif self.engine == "pico":
            speak_pico(self.voice_id, text, path, rate, pitch)
        else:
            raise ValueError(f"unknown synthesis engine {self.engine!r}")


def speak_espeak_ng(voice_id: str, text: str, path: Path, rate: float, pitch: float) -> None:
    # -p runs from 0 to 99 around the voice's own pitch at 50, one octave per 50 steps
    pitch_value = min(99, max(0, round(50 + pitch * 50 / 12)))
    command = ["espeak-ng", "-v", voice_id, "-a", str(ESPEAK_AMPLITUDE)]
    command += ["-s", str(round(ESPEAK_WORDS_PER_MINUTE * rate)), "-p", str(pitch_value), "-w", str(path)]
    # text on stdin: a sentence starting with "-" would otherwise read as an option
    _run(command + ["--stdin"], path, stdin=text)


def speak_pico(language: str, text: str, path: Path, rate: float, pitch: float) -> None:
    # pico2wave has no options for these, but its markup takes both as percentages of
    # normal. The text cannot break the markup: sentences with <, > or & are never kept.
    speed_level, pitch_level = round(100 * rate), round(100 * 2 ** (pitch / 12))
    markup = f'<speed level="{speed_level}"><pitch level="{pitch_level}">{text}</pitch></speed>'
    _run(["pico2wave", "-l", language, "-w", str(path), markup], path)


def _run(command: list[str], output: Path, stdin: str | None = None) -> None:
    result = subprocess.run(command, input=stdin, capture_output=True, text=True)
    if result.returncode != 0 or not output.is_file():
        program = " ".join(command[:3])
        raise SynthesisError(f"{program} failed (exit status {result.returncode}): {result.stderr.strip()}")


def _espeak_voices(lang: str, variants: tuple[str, ...]) -> list[Voice]:
    return [Voice("espeak-ng", f"{lang}+{variant}", lang) for variant in variants]


def _mbrola_voices(lang: str, databases: tuple[str, ...]) -> list[Voice]:
    return [Voice("mbrola", f"mb-{database}", lang) for database in databases]


# language -> split -> voices. Test voices never appear in train or dev, and the
# dev voices in neither train nor test. Only German has a spare MBROLA voice for
# dev; the other languages hold back an espeak-ng variant, a weaker separation.
VOICES: dict[str, dict[str, list[Voice]]] = {
    "de": {
        "train": _espeak_voices("de", ("m1", "m3", "m5", "f2", "f4", "klatt3"))
        + _mbrola_voices("de", ("de1", "de2", "de3", "de7", "de8")),
        "dev": _mbrola_voices("de", ("de4",)),
        "test": _mbrola_voices("de", ("de5", "de6")) + [Voice("pico", "de-DE", "de")],
    },
    "it": {
        "train": _espeak_voices("it", ("m1", "m3", "m5", "f2", "f4", "klatt3")),
        "dev": _espeak_voices("it", ("m7",)),
        "test": _mbrola_voices("it", ("it3", "it4")) + [Voice("pico", "it-IT", "it")],
    },
    "es": {
        "train": _espeak_voices("es", ("m1", "m3", "m5", "f2", "f4", "klatt3")),
        "dev": _espeak_voices("es", ("m7",)),
        "test": [Voice("pico", "es-ES", "es")],
    },
    "en": {
        "train": _espeak_voices("en", ("m1", "m3", "m5", "f2", "f4", "klatt3")),
        "dev": _espeak_voices("en", ("m7",)),
        "test": [Voice("pico", "en-US", "en"), Voice("pico", "en-GB", "en")],
    },
}


@dataclass(frozen=True)
class Sentence:
    spoken: str  # as the synthesizer reads it, punctuation and capitals kept for prosody
    text: str  # the normalised transcript


def fortune_files(lang: str) -> list[Path]:
    """The fortune text files of a language.

    Symlinks are skipped (the ".u8" names and the top folder's links into it/
    repeat other files), as are the binary ".dat" strfile indexes and every
    subfolder, which includes the offensive "off" collections.
    """
    folder, package = FORTUNE_SOURCES[lang]
    files = sorted(p for p in folder.glob("*") if p.is_file() and not p.is_symlink() and p.suffix != ".dat")
    if not files:
        raise SynthesizerMissing(f"no fortune files in {folder}, from the Debian package {package}; {SETUP_HINT}")
    return files


_ATTRIBUTION = re.compile(r"\s*(--|—|―)")


def read_fortunes(path: Path) -> list[str]:
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


def split_sentences(fortune: str) -> list[str]:
    # closing quotes after the full stop go with the break
    return [s for s in re.split(r"(?<=[.!?…])[\"'»«“”)]*\s+", fortune) if s]


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
}


def rejection_reason(sentence: str, text: str, lang: str) -> str | None:
    """Why a sentence (and its normalised `text`) cannot be used, or None if it can.

    The synthesizer reads `sentence`, so anything it would say differently from
    the transcript (numbers, symbols, abbreviations, spelled-out acronyms,
    apostrophes the alphabet lacks) is rejected rather than risk a wrong label.
    """
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


def collect_sentences(lang: str, files: list[Path]) -> tuple[list[Sentence], Counter]:
    """The usable, distinct sentences of `files` in reading order, and counts of the rejected by reason."""
    sentences, seen, dropped = [], set(), Counter()
    for path in files:
        for fortune in read_fortunes(path):
            for spoken in split_sentences(fortune):
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


def split_sentences_by_text(sentences: list[Sentence], seed: int) -> dict[str, list[Sentence]]:
    """Shuffle and cut the sentences 80/10/10; a sentence lands in exactly one split.

    The cut does not depend on the number of utterances asked for, so a bigger
    build with the same seed extends a smaller one instead of reshuffling it.
    """
    shuffled = sorted(sentences, key=lambda s: s.text)  # independent of file reading order
    random.Random(seed).shuffle(shuffled)
    n_dev = n_test = int(len(shuffled) * SPLIT_FRACTIONS["dev"])
    return {
        "dev": shuffled[:n_dev],
        "test": shuffled[n_dev : n_dev + n_test],
        "train": shuffled[n_dev + n_test :],
    }


@dataclass(frozen=True)
class SynthesisJob:
    sentence: Sentence
    voice: Voice
    rate: float
    pitch: float
    path: Path


def plan_split(
    split: str, sentences: list[Sentence], voices: list[Voice], seed: int, wav_dir: Path
) -> list[SynthesisJob]:
    """One job per sentence: voices take turns, rate and pitch are drawn per utterance."""
    jobs = []
    for index, sentence in enumerate(sentences):
        # one generator per utterance: its rate and pitch do not depend on how
        # many utterances are built or on which worker synthesizes it
        rng = random.Random(f"{seed}/{split}/{index}")
        rate, pitch = rng.uniform(*RATE_RANGE), rng.uniform(*PITCH_RANGE)
        voice = voices[index % len(voices)]
        # The file name holds a digest of everything that shapes the audio, so a
        # rebuild with other settings never mistakes an old WAV for its own.
        digest = hashlib.sha1(f"{voice.name}|{rate!r}|{pitch!r}|{sentence.spoken}".encode()).hexdigest()[:10]
        path = wav_dir / split / f"{split}-{index:06d}-{digest}.wav"
        jobs.append(SynthesisJob(sentence, voice, rate, pitch, path))
    return jobs


def trim_silence(wave: torch.Tensor, threshold: float = 1e-3, padding: float = 0.1) -> torch.Tensor:
    """Cut leading and trailing silence to `padding` seconds (the engines append 0.3-0.7 s)."""
    loud = torch.nonzero(wave.abs() > threshold).flatten()
    if len(loud) == 0:
        return wave[:0]
    pad = round(padding * SAMPLE_RATE)
    first, last = int(loud[0]), int(loud[-1])
    return wave[max(0, first - pad) : last + 1 + pad]


def synthesize_job(job: SynthesisJob) -> tuple[SynthesisJob, float]:
    """Write the job's WAV unless it exists already; returns the job and the WAV's duration in seconds."""
    # write_audio renames a finished file into place, so an existing WAV is complete
    if not job.path.exists():
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw.wav"  # pico2wave insists on the .wav suffix
            job.voice.synthesize(job.sentence.spoken, raw, job.rate, job.pitch)
            wave = trim_silence(load_audio(raw))
        if len(wave) == 0:
            raise SynthesisError(f"{job.voice.name} produced only silence for {job.sentence.spoken!r}")
        write_audio(job.path, wave)
    return job, soundfile.info(str(job.path)).duration


def _init_worker() -> None:
    # every worker resamples one short file at a time; more torch threads would only fight over the cores
    torch.set_num_threads(1)


def remove_stale_files(folder: Path, keep: set[Path]) -> None:
    """Delete WAVs of earlier builds that this build does not use, and half-written files."""
    for path in folder.iterdir():
        if path not in keep and path.suffix in (".wav", ".partial"):
            path.unlink()


def build_corpus(
    lang: str, out_dir: Path, utterances: int, seed: int = 0, jobs: int = os.cpu_count()
) -> dict[str, Path]:
    """Synthesize a corpus of about `utterances` utterances; returns split name -> manifest path."""
    if lang not in VOICES:
        raise ValueError(f"no voices for language {lang!r}; choose one of {', '.join(sorted(VOICES))}")
    voices = VOICES[lang]
    for split in SPLITS:
        for voice in voices[split]:
            voice.check()

    files = fortune_files(lang)
    sentences, dropped = collect_sentences(lang, files)
    pools = split_sentences_by_text(sentences, seed)
    sizes = split_sizes(utterances)
    for split in SPLITS:
        if sizes[split] > len(pools[split]):
            raise ValueError(
                f"{split} needs {sizes[split]} sentences but the {lang} fortunes give only "
                f"{len(pools[split])}; ask for fewer utterances"
            )

    out_dir = Path(out_dir)
    wav_dir = out_dir / "wav"
    plans = {split: plan_split(split, pools[split][: sizes[split]], voices[split], seed, wav_dir) for split in SPLITS}
    for split in SPLITS:
        (wav_dir / split).mkdir(parents=True, exist_ok=True)
        remove_stale_files(wav_dir / split, {job.path for job in plans[split]})

    all_jobs = [job for split in SPLITS for job in plans[split]]
    durations = {}
    with Pool(jobs, initializer=_init_worker) as pool:
        results = pool.imap_unordered(synthesize_job, all_jobs)
        for job, duration in tqdm(results, total=len(all_jobs), desc=f"synthesizing {lang}", unit="utt"):
            durations[job.path] = duration

    manifests, split_cards, characters = {}, {}, set()
    for split in SPLITS:
        # a too-long WAV stays on disk so that a resumed build does not synthesize it again
        kept = [job for job in plans[split] if durations[job.path] <= MAX_DURATION]
        characters.update(*(job.sentence.text.replace(" ", "") for job in kept))
        manifests[split] = out_dir / f"{split}.jsonl"
        write_manifest(
            manifests[split],
            [
                Utterance(job.path, job.sentence.text, durations[job.path], speaker=job.voice.name, lang=lang)
                for job in kept
            ],
        )
        voice_counts = Counter(job.voice.name for job in kept)
        split_cards[split] = {
            "manifest": manifests[split].name,
            "utterances": len(kept),
            "hours": round(sum(durations[job.path] for job in kept) / 3600, 4),
            "dropped_longer_than_max_duration": len(plans[split]) - len(kept),
            "voices": {voice.name: voice_counts[voice.name] for voice in voices[split]},
        }

    card = {
        "lang": lang,
        "seed": seed,
        "sample_rate": SAMPLE_RATE,
        "max_duration_seconds": MAX_DURATION,
        "speaking_rate_factor_range": list(RATE_RANGE),
        "pitch_semitone_range": list(PITCH_RANGE),
        "splits": split_cards,
        "characters": "".join(sorted(characters)),
        "text_source": {"package": FORTUNE_SOURCES[lang][1], "files": [str(path) for path in files]},
        "sentences": {
            "usable": len(sentences),
            "per_split_pool": {split: len(pools[split]) for split in SPLITS},
            "dropped": dict(sorted(dropped.items())),
        },
    }
    card_json = json.dumps(card, ensure_ascii=False, indent=2) + "\n"
    (out_dir / "dataset_card.json").write_text(card_json, encoding="utf-8")
    (out_dir / "README.md").write_text(corpus_readme(card), encoding="utf-8")
    return manifests


def corpus_readme(card: dict) -> str:
    lines = [
        f"# Synthetic speech corpus ({card['lang']})",
        "",
        f"Built by `asr.synth.build_corpus` with seed {card['seed']}: sentences from the Debian package "
        f"{card['text_source']['package']}, read by speech synthesizers, "
        f"{card['sample_rate']} Hz mono 16-bit WAV. No sentence is in two splits; the test voices "
        "are heard only in test and the dev voices only in dev. Details in dataset_card.json.",
        "",
        "| split | utterances | hours | voices |",
        "|---|---|---|---|",
    ]
    for split, info in card["splits"].items():
        voices = ", ".join(info["voices"])
        lines.append(f"| {split} | {info['utterances']} | {info['hours']:.3f} | {voices} |")
    dropped = ", ".join(f"{reason} {count}" for reason, count in card["sentences"]["dropped"].items())
    lines += [
        "",
        f"Speaking rate x{card['speaking_rate_factor_range'][0]}-{card['speaking_rate_factor_range'][1]}, "
        f"pitch {card['pitch_semitone_range'][0]:+g} to {card['pitch_semitone_range'][1]:+g} semitones, "
        f"drawn per utterance; utterances over {card['max_duration_seconds']:g} s are left out.",
        "",
        f"Usable sentences: {card['sentences']['usable']}. Dropped: {dropped}.",
        "",
        f"Characters: `{card['characters']}`",
        "",
    ]
    return "\n".join(lines)
