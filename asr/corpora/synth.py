"""Synthetic speech corpora: the sentences of asr.corpora.texts read by Debian's synthesizers.

The splits are disjoint twice over. By text: a sentence belongs to one split
only. By voice: the test voices are heard nowhere else and the dev voice is in
neither train nor test, so dev and test scores measure how a model copes with
speakers (and, for test, a whole engine) it never heard, not how well it
memorised the training voices. Where two engines carry the same recorded
person (CMU ARCTIC "slt" is in festival, flite and RHVoice), that person is
kept in one split too.

    build_corpus("de", Path("data/synth-de"), utterances=2000)
    build_corpus("de", Path("data/synth-de"), hours=2.0)

writes data/synth-de/{train,dev,test}.jsonl, wav/<split>/*.wav, dataset_card.json
and README.md. A second call with the same arguments reuses every WAV already
written, so an interrupted build resumes where it stopped.

Engines: espeak-ng (its own voice variants, and MBROLA diphone voices driven by
it), SVOX Pico, festival, flite and RHVoice, each where Debian has a voice for
the language. Speaking rate and pitch are drawn per utterance for every voice.
"""

from __future__ import annotations

import functools
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

from asr.files import write_atomically
from asr.audio import SAMPLE_RATE, load_audio, write_audio
from asr.progress import progress as progress_bar
from asr.corpora.manifest import Utterance, read_manifest, write_manifest
from asr.corpora.texts import HELD_OUT_LIST, SETUP_HINT, SPLIT_FRACTIONS, SPLITS, Sentence, sentence_pools, split_sizes

MAX_DURATION = 20.0  # seconds; longer synthesized utterances are left out of the manifests


@dataclass(frozen=True)
class Variation:
    """The ranges a split's speaking rate, pitch and formants are drawn from, per utterance.

    Rate is a factor on the engine's normal speed; pitch is in semitones from the
    voice's own pitch, so both mean the same for every engine. Formants (vocal-tract
    length) are shifted in semitones too: the engine speaks at a compensating pitch
    and rate and the audio is resampled, so that one voice sounds like a range of
    speakers of different sizes (+-1.5 semitones: about +-9 %).
    """

    rate: tuple[float, float] = (0.8, 1.25)
    pitch: tuple[float, float] = (-3.0, 3.0)
    formant: tuple[float, float] = (-1.5, 1.5)


# Dev and test always use the default ranges, so that a corpus built with a wider
# train variation is scored on the same held-out speech as one without.
HELD_OUT_VARIATION = Variation()

# With --hours, a corpus that needs more audio than its sentences give once has
# them read again, each time by another voice of the split, up to this many times.
MAX_READINGS = 4

ESPEAK_WORDS_PER_MINUTE = 175  # espeak-ng's default -s
# Some MBROLA voices (de5, de7) clip at espeak-ng's default amplitude of 100.
ESPEAK_AMPLITUDE = 70
# Louder utterances are scaled down to this peak rather than clipped when written.
MAX_PEAK = 0.95

# MBROLA voices whose espeak-ng 1.51 voice asks for phonemes the database does not have: database -> (the espeak-ng
# voice whose phonemes it speaks, renames from espeak-ng's names to the database's). espeak-ng reads every diphone a
# database lacks as silence; the dataset card counts them per sentence (`missing_diphones_per_sentence`). These
# voices speak through a .pho file: espeak-ng writes it, the names are changed, mbrola reads it. Missing diphones per
# sentence, espeak-ng's way -> this way, on 10 dev sentences (docs/results/mbrola-phonemes, recipes/mbrola_phonemes_check.py):
# - Spanish: espeak-ng marks unstressed vowels ("e/", "o/") that es1, es2, mx1, mx2 and vz1 name without the mark
#   (14.6-14.9 -> 0-0.4; left out of the corpus while that made them unusable); its table for es4 makes every l the
#   database's palatal L and asks for glides it lacks (3.6 -> 0: es4 speaks es1's phonemes);
# - Italian: it1 and it2 call tS, dZ, j, ss and ts2 ch, gh, J, SS and TS, and have no U1 (6.7 -> 0.7 for it1, whose
#   T-O2 is missing too: its O2 is read as O; 6.0 -> 0.6 for it2);
# - German: de8 is Bavarian with its own inventory (/usr/share/doc/mbrola-de8/README.txt), and espeak-ng's table for
#   it still asks for i (each half of a long i), the rounded Y and Y:, OY and UR, which it names i:, the unrounded I
#   and i: (as Bavarian says "mIAsn" for "müssen"), aI and UA; loanwords' w, oU, eI, E2 and l/2 get its nearest sounds
#   (5.4 -> 0.04 on 50 dev sentences).
# - The test voices (since 2026-12-07; every test score before that date heard them espeak-ng's way): es3's table
#   names r h, the trill R2, the jota and g H, and makes theta t and ñ n, where the database (its diphones, not its
#   README) has r, R, H, g, z and no ñ, ll or ch: 5.8 missing diphones a sentence, every r and trill a silence. es3
#   speaks es1's table (mb-es3-trill below: es3's own voice, pitch and all) with its names: theta z, jota H, the trill
#   R, ll and y Y, and the nearest sounds for ñ (n) and ch (t). it3 and it4 lack the unstressed i/ and the long ss and
#   ts2 (3.2 and 3.6 a sentence, a silence in most words with an unstressed i).
_UNMARKED_VOWELS = {f"{vowel}/": vowel for vowel in "aeiou"}
_ITALIAN_NAMES = {"tS": "ch", "dZ": "gh", "j": "J", "ss": "SS", "ts2": "TS", "U1": "U2"}
_ITALIAN_UNMARKED = {"i/": "i", "ss": "s", "ts2": "ts"}
MBROLA_PHONEMES = {
    **{database: (f"mb-{database}", _UNMARKED_VOWELS) for database in ("es1", "es2", "mx1", "mx2", "vz1")},
    "es4": ("mb-es1", {**_UNMARKED_VOWELS, "w": "u"}),
    "es3": ("mb-es3-trill", {**_UNMARKED_VOWELS, "T": "z", "x": "H", "R2": "R", "rr": "R", "L": "Y", "jj": "Y",
                              "J": "n", "tS": "t", "w": "u"}),
    "it1": ("mb-it1", {**_ITALIAN_NAMES, "O2": "O"}),
    "it2": ("mb-it2", _ITALIAN_NAMES),
    "it3": ("mb-it3", _ITALIAN_UNMARKED),
    "it4": ("mb-it4", _ITALIAN_UNMARKED),
    "de8": ("mb-de8", {"i": "i:", "Y": "I", "Y:": "i:", "OY": "aI", "UR": "UA",
                       "w": "v", "oU": "OU", "eI": "AI", "E2": "E", "l/2": "l"}),
}
# espeak-ng voices of this project's own, in a copy of espeak-ng's data folder (`espeak_ng_path`): name -> (the
# espeak-ng MBROLA voice it copies, the table it takes instead of that voice's, phonemes left out of the table so that
# espeak-ng writes its own names for them). espeak-ng 1.51 writes the Spanish trill R2, which the tables of es1 and es2
# (es_phtrans), mx1, mx2 and vz1 map to nothing, so those training voices (and es4, through es1's) drop it: "perro" is
# read "peo". Spoken with the trill they trained a worse model at equal steps (+2.5 [+0.4, +4.5] points greedy:
# docs/RESULTS.md, the Spanish trill), so only the test voice es3 speaks it.
ESPEAK_NG_VOICES = {"mb-es3-trill": ("mb-es3", "es_phtrans", ("R2",))}
# MBROLA databases speaking another language, with an accent: (language, database) -> (the espeak-ng voice whose
# phonemes it speaks, renames to the database's names), as MBROLA_PHONEMES. Italian trains on one MBROLA voice (it1)
# beside espeak-ng's variants, while four of its five test voices are diphone voices; Spanish's diphones speaking
# Italian add diphone speakers (`asr data synth --accented-voices`). espeak-ng writes Italian phonemes in SAMPA for
# mb-it3 (its phoneme names only: nothing of that test voice's recording is used); the renames fold what Spanish lacks
# into its nearest sounds (open vowels into closed, v into b, z and the affricates ts and dz into s, S into s, dZ into
# tS) and the glide j into i. Missing diphones per sentence on 20 Italian dev sentences: es1 and es2 0.1, mx1 0.85,
# mx2 1.15 (es4 3.2 and vz1 5.8: left out); Whisper base's WER on them 54, 61, 63 and 45 % against 49 % on it1
# (ad hoc, 2026-12-06).
_ITALIAN_IN_SPANISH = {
    **{f"{vowel}{mark}": vowel for vowel in "aeiou" for mark in ("1", "/")},
    "E": "e", "E1": "e", "O": "o", "O1": "o",
    "v": "b", "z": "s", "ts": "s", "ts2": "s", "dz": "s", "S": "s", "dZ": "tS", "j": "i", "nf": "m",
}  # fmt: skip
ACCENTED_MBROLA = {("it", database): ("mb-it3", _ITALIAN_IN_SPANISH) for database in ("es1", "es2", "mx1", "mx2")}
# SVOX Pico voices speaking another language, with an accent: (language, Pico voice) -> renames of the IPA espeak-ng
# writes for that language to the symbols of the voice's X-SAMPA (pico2wave's <phoneme> markup; a symbol renamed to ""
# is left out). Pico reads a third of the Italian test split and half of the German and Spanish ones, and its voices
# of those languages are test voices, so no training voice sounds like Pico; its French voice, which no corpus holds,
# speaks them through espeak-ng's phonemes. Its X-SAMPA (probed one symbol at a time: pico2wave reads a word holding
# a symbol it lacks as one and the same sound, whichever the symbol) has French's sounds alone: no h, x, ç, theta,
# tap or trill, length, or lax i and u; each folds into its nearest French sound.
# Spanish's IPA needs no rename Italian's lacks. German's needs one: espeak-ng 1.51 writes its diphthong of u and the
# vocalised r (Schurken, durch: SAMPA UR) as "??", its IPA table lacking the phoneme, said here as French u. (A
# rename added to Italian's would change the digest of every Italian Pico file, so German's are a dict of their own.)
_IPA_IN_FRENCH = {
    **{symbol: symbol for symbol in "aeiouybdfjklmnpstvwz"},
    "ˈ": '"', "ˌ": "%", "ː": "", "\u032a": "", "ʔ": "", "h": "",
    "ɑ": "a", "ɐ": "a", "ʌ": "a", "æ": "E", "ɛ": "E", "ə": "@", "ɜ": "@", "ɚ": "@", "ɪ": "i", "ɔ": "O", "ɒ": "O",
    "ʊ": "u", "ʏ": "y", "ø": "2", "œ": "9",
    "ɡ": "g", "g": "g", "ʃ": "S", "ʒ": "Z", "ɲ": "J", "ŋ": "N", "ɾ": "R", "r": "R", "ɹ": "R", "ʁ": "R", "x": "R",
    "ç": "S", "θ": "s", "ð": "d", "β": "b", "ɣ": "g", "ʝ": "j", "ʎ": "lj", "ɫ": "l", "ʋ": "v",
}  # fmt: skip
ACCENTED_PICO = {
    ("it", "fr-FR"): _IPA_IN_FRENCH, ("es", "fr-FR"): _IPA_IN_FRENCH, ("de", "fr-FR"): {**_IPA_IN_FRENCH, "?": "u"},
}
# Standard German vocalises an r that ends a syllable after a vowel ("klar", "der", "wird", "vorher": [ɐ̯]), as the
# pronouncing dictionaries (Duden, Siebs) and SVOX Pico's German say it; espeak-ng 1.51 does so only in an unstressed
# "-er" and in its diphthong UR, and says a consonant R everywhere else, so every German training voice (espeak-ng's
# variants and the MBROLA voices it drives) says "der" as Pico's test voice never does, and a model trained on them
# hears Pico's "der" as "de" and "klar" as "kla". `asr data synth --vocalised-r` has the train split's MBROLA voices
# that have the diphones for it say such an r as the vowel 6 (SAMPA's ɐ): in their .pho files, an R after a vowel
# and before no vowel. The Bavarian de8 lacks them (2.9 missing diphones a sentence, against 0.2 for de1-de3 and 0 for
# de7, on 40 dev sentences) and keeps its consonant; dev and test voices speak as they always did. At 500 steps it
# tied the recipe (docs/RESULTS.md, German: standard German's vocalised r), so the release corpus does without.
GERMAN_VOWELS = {"a", "a:", "e:", "E", "E:", "I", "i", "i:", "O", "o:", "U", "u:", "Y", "y:", "2:", "9", "aI", "aU",
                 "OY", "@", "6"}  # fmt: skip
VOCALISED_R_DATABASES = ("de1", "de2", "de3", "de7")
# The dataset card counts the diphones each MBROLA voice lacks over this many of the sentences it reads.
DIPHONE_CHECK_SENTENCES = 50
# mbrola's volume ratio that matches espeak-ng's level at ESPEAK_AMPLITUDE (it1 and de5: 1.187 times mbrola's own)
MBROLA_VOLUME_RATIO = 1.19

# For --hours: a first guess of how long a sentence takes to say, refined by
# what has been synthesized so far.
CHARACTERS_PER_SECOND = 18.0

MBROLA_VOICES = Path("/usr/share/mbrola")
PICO_LANGUAGES = Path("/usr/share/pico/lang")
FESTIVAL_VOICES = Path("/usr/share/festival/voices")
RHVOICE_VOICES = Path("/usr/share/RHVoice/voices")

# festival voice -> (its folder under FESTIVAL_VOICES, Debian package)
FESTIVAL_PACKAGES = {
    "kal_diphone": ("english", "festvox-kallpc16k"),
    "ked_diphone": ("english", "festvox-kdlpc16k"),
    "rab_diphone": ("english", "festvox-rablpc16k"),
    "don_diphone": ("english", "festvox-don"),
    "cmu_us_slt_arctic_hts": ("us", "festvox-us-slt-hts"),
    "lp_diphone": ("italian", "festvox-italp16k"),
    "pc_diphone": ("italian", "festvox-itapc16k"),
    "el_diphone": ("spanish", "festvox-ellpc11k"),
}
RHVOICE_PACKAGES = {"en": "rhvoice-english"}

# festival and flite have no pitch control that works for all their voices (the
# HTS voice ignores festival's, flite's needs each voice's own mean). Their pitch
# is shifted by resampling, which moves the formants too (a shorter or longer
# vocal tract), and their rate control makes up for the change of speed.
PITCH_BY_RESAMPLING = ("festival", "flite")
# Rates on a 100 Hz grid keep torchaudio's resampling kernel small.
_PITCH_RATE_STEP = 100


class SynthesizerMissing(LookupError):
    """A synthesizer, voice or text source that is not installed, with the Debian package to install."""


class SynthesisError(RuntimeError):
    """A synthesizer that failed on a sentence."""


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker: an engine, the engine's name for the voice, and its language."""

    # "espeak-ng", "mbrola" (MBROLA diphones driven by espeak-ng), "pico" (SVOX Pico),
    # "festival", "flite" or "rhvoice"
    engine: str
    # espeak-ng's -v, pico2wave's -l, festival's voice_<id>, flite's -voice, RHVoice's -p
    voice_id: str
    lang: str
    # The recorded person, where another voice has the same one; such voices share a split.
    person: str | None = None
    # An MBROLA voice of VOCALISED_R_DATABASES saying standard German's vocalised r (`vocalise_r`).
    vocalised_r: bool = False

    def __post_init__(self) -> None:
        if self.vocalised_r and self.mbrola_database not in VOCALISED_R_DATABASES:
            raise ValueError(f"{self.name}: only German's MBROLA training voices {', '.join(VOCALISED_R_DATABASES)} say "
                             "a vocalised r (the Bavarian de8 lacks the diphones; dev and test voices stay as they are)")

    @property
    def name(self) -> str:
        """The speaker label in manifests, e.g. "mbrola/mb-de5"."""
        return f"{self.engine}/{self.voice_id}"

    @property
    def identity(self) -> str:
        """Who is speaking: the recorded person where known, else the voice."""
        return self.person or self.name

    @property
    def mbrola_database(self) -> str | None:
        return self.voice_id.removeprefix("mb-") if self.engine == "mbrola" else None

    @property
    def renamed_phonemes(self) -> tuple[str, dict[str, str]] | None:
        """(espeak-ng voice, renames) of an MBROLA voice spoken through a renamed .pho file (ACCENTED_MBROLA,
        MBROLA_PHONEMES), else None: espeak-ng drives the database itself."""
        database = self.mbrola_database
        if database is None:
            return None
        return ACCENTED_MBROLA.get((self.lang, database)) or MBROLA_PHONEMES.get(database)

    @property
    def pico_phonemes(self) -> dict[str, str] | None:
        """Renames of espeak-ng's IPA to the X-SAMPA of a Pico voice speaking another language (ACCENTED_PICO), else
        None: Pico reads the text itself."""
        return ACCENTED_PICO.get((self.lang, self.voice_id)) if self.engine == "pico" else None

    @property
    def synthesis_note(self) -> str:
        """How this voice is synthesized where it is not the engine's own way (so a WAV's digest changes with it)."""
        if self.vocalised_r:
            return f"|pho {self.renamed_phonemes!r} volume {MBROLA_VOLUME_RATIO} vocalised r"
        if self.renamed_phonemes:
            return f"|pho {self.renamed_phonemes!r} volume {MBROLA_VOLUME_RATIO}"
        return f"|ipa {self.pico_phonemes!r}" if self.pico_phonemes else ""

    @property
    def pitch_method(self) -> str:
        return "resampling" if self.engine in PITCH_BY_RESAMPLING else "engine"

    def requirements(self) -> list[tuple[str | Path, str]]:
        """(program on PATH or data file or folder, Debian package that installs it) for this voice."""
        if self.engine == "espeak-ng":
            return [("espeak-ng", "espeak-ng")]
        if self.engine == "mbrola":
            database = self.mbrola_database
            return [
                ("espeak-ng", "espeak-ng"),
                ("mbrola", "mbrola"),
                (MBROLA_VOICES / database / database, f"mbrola-{database}"),
            ]
        if self.engine == "pico":
            language_data = PICO_LANGUAGES / f"{self.voice_id}_ta.bin"
            espeak_ng = [("espeak-ng", "espeak-ng")] if self.pico_phonemes else []
            return [("pico2wave", "libttspico-utils"), (language_data, "libttspico-data"), *espeak_ng]
        if self.engine == "festival":
            folder, package = FESTIVAL_PACKAGES.get(self.voice_id, ("unknown", f"festvox package of {self.voice_id}"))
            return [("text2wave", "festival"), (FESTIVAL_VOICES / folder / self.voice_id, package)]
        if self.engine == "flite":
            return [("flite", "flite")]  # flite's voices are built into the program
        if self.engine == "rhvoice":
            package = RHVOICE_PACKAGES.get(self.lang, f"rhvoice voice package for {self.lang}")
            return [("RHVoice-test", "rhvoice"), (RHVOICE_VOICES / self.voice_id, package)]
        raise ValueError(f"unknown synthesis engine {self.engine!r}")

    def check(self) -> None:
        """Raise SynthesizerMissing, naming the Debian package, if this voice cannot run here."""
        for needed, package in self.requirements():
            present = needed.exists() if isinstance(needed, Path) else shutil.which(needed) is not None
            if not present:
                raise SynthesizerMissing(
                    f"voice {self.name} needs {needed}, from the Debian package {package}; {SETUP_HINT}"
                )

    def synthesize(self, text: str, path: Path, rate: float, pitch: float) -> None:
        """Write `text` spoken at `rate` times normal speed, `pitch` semitones up, as a WAV file at `path`.

        festival and flite take no pitch here (it must be 0); `render` shifts theirs.
        """
        if self.renamed_phonemes or self.vocalised_r:
            speak_mbrola_renamed(self, text, path, rate, pitch)
        elif self.engine in ("espeak-ng", "mbrola"):
            speak_espeak_ng(self.voice_id, text, path, rate, pitch)
        elif self.pico_phonemes:
            markup, _ = pico_phoneme_markup(self.lang, text, self.pico_phonemes)
            speak_pico(self.voice_id, markup, path, rate, pitch)
        elif self.engine == "pico":
            speak_pico(self.voice_id, text, path, rate, pitch)
        elif self.engine == "rhvoice":
            speak_rhvoice(self.voice_id, text, path, rate, pitch)
        elif self.engine in PITCH_BY_RESAMPLING:
            if pitch:
                raise ValueError(f"{self.engine} has no pitch control; Voice.render shifts its pitch")
            speak = speak_festival if self.engine == "festival" else speak_flite
            speak(self.voice_id, text, path, rate)
        else:
            raise ValueError(f"unknown synthesis engine {self.engine!r}")

    def render(self, text: str, rate: float, pitch: float, formant: float = 0.0) -> torch.Tensor:
        """`text` at `rate` times normal speed, `pitch` semitones up and formants `formant` semitones up,
        as a mono waveform at SAMPLE_RATE. Engines without pitch control shift pitch and formants
        together (by resampling), so for them `formant` is ignored and `pitch` moves both."""
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw.wav"  # pico2wave insists on the .wav suffix
            shift = pitch if self.pitch_method == "resampling" else formant
            # Audio read at SAMPLE_RATE / f and played at SAMPLE_RATE is f times higher
            # and f times faster; the engine speaks f times slower, and lower by the
            # same interval where it can, to make up for it.
            load_rate = resampling_rate_for_pitch(shift)
            engine_pitch = 0.0 if self.pitch_method == "resampling" else pitch - shift
            self.synthesize(text, raw, rate * load_rate / SAMPLE_RATE, engine_pitch)
            return load_audio(raw, load_rate)


def resampling_rate_for_pitch(semitones: float) -> int:
    """The rate to read audio at so that, played at SAMPLE_RATE, it sounds `semitones` higher."""
    rate = SAMPLE_RATE / 2 ** (semitones / 12)
    return int(round(rate / _PITCH_RATE_STEP)) * _PITCH_RATE_STEP


def _espeak_ng_command(voice_id: str, rate: float, pitch: float) -> list[str]:
    # -p runs from 0 to 99 around the voice's own pitch at 50, one octave per 50 steps
    pitch_value = min(99, max(0, round(50 + pitch * 50 / 12)))
    data = [f"--path={espeak_ng_path()}"] if voice_id in ESPEAK_NG_VOICES else []
    command = ["espeak-ng", *data, "-v", voice_id, "-a", str(ESPEAK_AMPLITUDE)]
    # text on stdin: a sentence starting with "-" would otherwise read as an option
    return command + ["-s", str(round(ESPEAK_WORDS_PER_MINUTE * rate)), "-p", str(pitch_value), "--stdin"]


@functools.cache
def espeak_ng_path() -> Path:
    """A folder for espeak-ng's --path: its espeak-ng-data is espeak-ng's own (linked, file by file where it adds to a
    folder) with ESPEAK_NG_VOICES beside the voices and tables. Built once into the temporary folder, and reused."""
    version = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True).stdout
    system = Path(version.split("Data at:")[1].strip())
    digest = hashlib.sha1(f"{version}|{ESPEAK_NG_VOICES!r}".encode()).hexdigest()[:10]  # anew for another espeak-ng
    home = Path(tempfile.gettempdir()) / f"transfer-asr-espeak-ng-{os.getuid()}-{digest}"
    if home.is_dir():
        return home
    building = Path(tempfile.mkdtemp(prefix=f"{home.name}.", dir=home.parent))
    data = building / "espeak-ng-data"
    added_to = (data / "voices", data / "voices" / "mb", data / "mbrola_ph")  # folders of links and files of our own
    for folder in (data, *added_to):
        folder.mkdir()
        for entry in (system / folder.relative_to(data)).iterdir():
            if folder / entry.name not in added_to:
                (folder / entry.name).symlink_to(entry)
    for name, (copied, table, left_out) in ESPEAK_NG_VOICES.items():
        (data / "mbrola_ph" / f"{name}_phtrans").write_bytes(mbrola_table_without(system / "mbrola_ph" / table, left_out))
        voice = (system / "voices" / "mb" / copied).read_text().splitlines()
        voice = [_with_table(line, f"{name}_phtrans") if line.startswith("mbrola ") else line for line in voice]
        (data / "voices" / "mb" / name).write_text("\n".join(voice) + "\n")
    try:
        building.rename(home)
    except OSError:  # another process built it first
        shutil.rmtree(building)
    return home


def _with_table(mbrola_line: str, table: str) -> str:
    """A voice file's line "mbrola DATABASE TABLE [RATE]" with another table."""
    fields = mbrola_line.split()
    return " ".join(fields[:2] + [table] + fields[3:])


def mbrola_table_without(table: Path, phonemes: tuple[str, ...]) -> bytes:
    """espeak-ng's compiled MBROLA table `table` (a 4-byte header, then 24-byte rows, each starting with the
    phoneme's name in 4 bytes) without the rows of `phonemes`."""
    data = table.read_bytes()
    if (len(data) - 4) % 24:
        raise ValueError(f"{table} is not an MBROLA table as espeak-ng 1.51 writes them (4 + 24 n bytes)")
    rows = [data[start : start + 24] for start in range(4, len(data), 24)]
    names = {phoneme.encode().ljust(4, b"\0") for phoneme in phonemes}
    return data[:4] + b"".join(row for row in rows if row[:4] not in names)


def speak_espeak_ng(voice_id: str, text: str, path: Path, rate: float, pitch: float) -> None:
    _run(_espeak_ng_command(voice_id, rate, pitch) + ["-w", str(path)], path, stdin=text)


def rename_phonemes(pho: str, renames: dict[str, str]) -> str:
    """An MBROLA .pho text with each line's phoneme (its first field) renamed where `renames` names it."""
    lines = []
    for line in pho.splitlines():
        phoneme, separator, rest = line.partition("\t")
        lines.append(renames.get(phoneme, phoneme) + separator + rest)
    return "\n".join(lines) + "\n"


def vocalise_r(pho: str) -> str:
    """A German MBROLA .pho text with each R after a vowel and before no vowel (a syllable's last sound) said as the
    vowel 6, as standard German says it."""
    lines = pho.splitlines()
    phonemes = [line.partition("\t")[0] for line in lines]
    for i, phoneme in enumerate(phonemes):
        after = phonemes[i + 1] if i + 1 < len(phonemes) else "_"
        if phoneme == "R" and i and phonemes[i - 1] in GERMAN_VOWELS and after not in GERMAN_VOWELS:
            lines[i] = "6" + lines[i][len("R"):]
    return "\n".join(lines) + "\n"


def speak_mbrola_renamed(voice: Voice, text: str, path: Path, rate: float, pitch: float) -> None:
    """`speak_espeak_ng` for an MBROLA voice with `renamed_phonemes` or a `vocalised_r`: espeak-ng's phonemes, renamed
    or vocalised, read by mbrola."""
    pho = path.with_suffix(".pho")
    write_mbrola_phonemes(voice, text, pho, rate, pitch)
    run_mbrola(voice.mbrola_database, pho, path)


def write_mbrola_phonemes(voice: Voice, text: str, pho: Path, rate: float, pitch: float, repaired: bool = True) -> None:
    """The .pho file espeak-ng gives MBROLA `voice` for `text`, renamed as its `renamed_phonemes` say and with its
    `vocalised_r` (`repaired`), or as espeak-ng's own voice for the database writes it."""
    own = (voice.voice_id, {})
    espeak_voice, renames = (voice.renamed_phonemes or own) if repaired else own
    _run(_espeak_ng_command(espeak_voice, rate, pitch) + ["-q", "--pho", "--phonout", str(pho)], pho, stdin=text)
    renamed = rename_phonemes(pho.read_text(), renames)
    pho.write_text(vocalise_r(renamed) if repaired and voice.vocalised_r else renamed)


def run_mbrola(database: str, pho: Path, path: Path) -> int:
    """Read `pho` with MBROLA `database` into the WAV `path`; returns how many diphones it lacked."""
    # -e: a missing diphone is read as silence, as espeak-ng does, rather than failing the sentence
    command = ["mbrola", "-e", "-v", str(MBROLA_VOLUME_RATIO), str(MBROLA_VOICES / database / database), str(pho), str(path)]
    return _run(command, path).count(" unknown, replaced")


def missing_diphones_per_sentence(voice: Voice, sentences: list[str]) -> float:
    """How many diphones an MBROLA voice lacks and reads as silence, per sentence of `sentences`, as the corpus
    builder speaks them (at normal rate and pitch)."""
    missing = 0
    with tempfile.TemporaryDirectory() as tmp:
        pho, wav = Path(tmp) / "sentence.pho", Path(tmp) / "sentence.wav"
        for text in sentences:
            write_mbrola_phonemes(voice, text, pho, 1.0, 0.0)
            missing += run_mbrola(voice.mbrola_database, pho, wav)
    return missing / max(1, len(sentences))


def speak_pico(language: str, text: str, path: Path, rate: float, pitch: float) -> None:
    # pico2wave has no options for these, but its markup takes both as percentages of
    # normal. The text cannot break the markup: sentences with <, > or & are never kept.
    speed_level, pitch_level = round(100 * rate), round(100 * 2 ** (pitch / 12))
    markup = f'<speed level="{speed_level}"><pitch level="{pitch_level}">{text}</pitch></speed>'
    _run(["pico2wave", "-l", language, "-w", str(path), markup], path)


def pico_phoneme_markup(lang: str, text: str, renames: dict[str, str]) -> tuple[str, int]:
    """`text` as pico2wave markup that speaks the IPA espeak-ng writes for it in `lang`, renamed to a Pico voice's
    X-SAMPA: a <phoneme> element a word, espeak-ng's clauses apart by commas. Also returns how many IPA symbols
    `renames` lacks (left out)."""
    result = subprocess.run(["espeak-ng", "-v", lang, "-q", "--ipa", "--stdin"], input=text.encode("utf-8"),
                            capture_output=True)
    if result.returncode != 0:
        raise SynthesisError(f"espeak-ng -v {lang} --ipa failed (exit status {result.returncode}): "
                             f"{result.stderr.decode('utf-8', errors='replace').strip()}")
    # espeak-ng marks a word it reads in another language's rules, "(en)ˈhaʊs(it)"; its phonemes are renamed alike
    ipa = re.sub(r"\([a-z-]+\)", "", result.stdout.decode("utf-8"))
    unknown, clauses = 0, []
    for line in ipa.splitlines():
        words = []
        for word in line.split():
            unknown += sum(symbol not in renames for symbol in word)
            xsampa = "".join(renames.get(symbol, "") for symbol in word)
            if xsampa.strip('"%'):
                words.append(f"<phoneme alphabet='xsampa' ph='{xsampa}'/>")
        if words:
            clauses.append(" ".join(words))
    return ", ".join(clauses) + ".", unknown


def speak_rhvoice(voice_id: str, text: str, path: Path, rate: float, pitch: float) -> None:
    # -r and -t are percentages of the voice's normal rate and pitch
    command = ["RHVoice-test", "-p", voice_id, "-r", str(round(100 * rate)), "-t", str(round(100 * 2 ** (pitch / 12)))]
    _run(command + ["-o", str(path)], path, stdin=text)


def speak_festival(voice_id: str, text: str, path: Path, rate: float) -> None:
    # Diphone voices stretch durations by Duration_Stretch; HTS voices ignore it and take hts_engine's -r.
    command = ["text2wave", "-o", str(path), "-eval", f"(voice_{voice_id})"]
    if voice_id.endswith("_hts"):
        command += ["-eval", f'(set! hts_engine_params (append hts_engine_params (list (list "-r" {rate:.4f}))))']
    else:
        command += ["-eval", f"(Parameter.set 'Duration_Stretch {1 / rate:.4f})"]
    # festival reads 8-bit text: ISO-8859-1 covers the letters of every language it speaks here
    _run(command, path, stdin=_eight_bit(text).encode("latin-1"))


def speak_flite(voice_id: str, text: str, path: Path, rate: float) -> None:
    source = path.with_suffix(".txt")
    source.write_text(_eight_bit(text, limit=128), encoding="ascii")
    command = ["flite", "-voice", voice_id, "--setf", f"duration_stretch={1 / rate:.4f}"]
    _run(command + ["-f", str(source), "-o", str(path)], path)


_PLAIN_PUNCTUATION = str.maketrans(
    {"„": '"', "“": '"', "”": '"', "«": '"', "»": '"', "‚": "'", "‘": "'", "’": "'", "‹": "'", "›": "'",
     "–": "-", "—": "-", "―": "-", "…": "..."}
)  # fmt: skip


def _eight_bit(text: str, limit: int = 256) -> str:
    """`text` with typographic punctuation made plain and any other character past `limit` made a space."""
    return "".join(c if ord(c) < limit else " " for c in text.translate(_PLAIN_PUNCTUATION))


def _run(command: list[str], output: Path, stdin: str | bytes | None = None) -> str:
    """Run a synthesizer that writes `output`; returns what it said on stderr (its warnings)."""
    data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
    result = subprocess.run(command, input=data, capture_output=True)
    error = result.stderr.decode("utf-8", errors="replace")
    if result.returncode != 0 or not output.is_file():
        program = " ".join(command[:3])
        raise SynthesisError(f"{program} failed (exit status {result.returncode}): {error.strip()}")
    return error


def _voices(engine: str, lang: str, ids: tuple[str, ...], person: str | None = None) -> list[Voice]:
    return [Voice(engine, voice_id, lang, person) for voice_id in ids]


def _espeak_voices(lang: str, variants: tuple[str, ...]) -> list[Voice]:
    return [Voice("espeak-ng", f"{lang}+{variant}", lang) for variant in variants]


def _mbrola_voices(lang: str, databases: tuple[str, ...]) -> list[Voice]:
    return [Voice("mbrola", f"mb-{database}", lang) for database in databases]


# espeak-ng's voice variants that sound like people (its novelty ones, "croak",
# "whisper", the robots, are left out); with the per-utterance rate, pitch and
# formant draws they make dozens of distinct training speakers.
ESPEAK_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6",
    "adam", "Alex", "Alicia", "Andrea", "Andy", "Annie", "antonio", "aunty", "belinda", "benjamin",
    "boris", "caleb", "david", "Denis", "Diogo", "ed", "edward", "Gene", "gustave", "Henrique", "Hugo",
    "iven", "Jacky", "john", "Lee", "linda", "marcelo", "Marco", "Mario", "max", "Michael", "michel",
    "miguel", "Mike", "norbert", "pablo", "paul", "pedro", "quincy", "rob", "robert", "sandro",
    "shelby", "steph", "travis", "victor", "zac", "anika", "grandpa",
)  # fmt: skip

# language -> split -> voices. Test voices never appear in train or dev, the dev
# voices in neither train nor test, and a recorded person (Voice.person) in one
# split only. Debian has no German voice for festival, flite or RHVoice, so German
# has espeak-ng, all eight MBROLA voices and Pico; Spanish has all seven MBROLA
# voices. Left out on purpose:
# - festival's Italian voices are in test, not train: they come from the same
#   Padova and Trento groups as the test voices MBROLA it3 (Piero Cosi's diphones,
#   festival's "pc") and it4, and may well be the same people;
# - flite's "kal" (8 kHz) and "awb_time" (a talking clock): kal16 and awb are there.
# The dev voice is never an espeak-ng variant: a model hears dozens of those in
# training, so it decodes one more almost as well as its training voices (Italian's
# first release: 6.6 % greedy dev WER on espeak-ng's m7, 63 % on the test voices),
# and dev would then choose checkpoints and decoding for voices it has memorised.
VOICES: dict[str, dict[str, list[Voice]]] = {
    "de": {
        "train": _espeak_voices("de", ESPEAK_VARIANTS) + _mbrola_voices("de", ("de1", "de2", "de3", "de7", "de8")),
        "dev": _mbrola_voices("de", ("de4",)),
        "test": _mbrola_voices("de", ("de5", "de6")) + [Voice("pico", "de-DE", "de")],
    },
    "it": {
        "train": _espeak_voices("it", ESPEAK_VARIANTS) + _mbrola_voices("it", ("it1",)),
        "dev": _mbrola_voices("it", ("it2",)),
        "test": [Voice("mbrola", "mb-it3", "it", "ifd-padova-cosi")]
        + [Voice("festival", "pc_diphone", "it", "ifd-padova-cosi")]
        + _mbrola_voices("it", ("it4",))
        + [Voice("festival", "lp_diphone", "it"), Voice("pico", "it-IT", "it")],
    },
    "es": {
        "train": _espeak_voices("es", ESPEAK_VARIANTS) + _mbrola_voices("es", ("es1", "es2", "es4", "mx1", "mx2", "vz1")),
        "dev": [Voice("festival", "el_diphone", "es")],
        "test": [Voice("pico", "es-ES", "es")] + _mbrola_voices("es", ("es3",)),
    },
    "en": {
        "train": _espeak_voices("en", ESPEAK_VARIANTS)
        + _mbrola_voices("en", ("us1", "us2", "us3", "en1"))
        + _voices("festival", "en", ("rab_diphone", "ked_diphone", "don_diphone"))
        + [Voice("festival", "kal_diphone", "en", "kal"), Voice("flite", "kal16", "en", "kal")]
        + _voices("flite", "en", ("awb", "rms"))
        + _voices("rhvoice", "en", ("alan", "bdl", "evgeniy-eng", "lyubov")),
        "dev": _voices("rhvoice", "en", ("clb",)),
        "test": [Voice("pico", "en-US", "en"), Voice("pico", "en-GB", "en")]
        + [Voice("festival", "cmu_us_slt_arctic_hts", "en", "arctic-slt")]
        + _voices("flite", "en", ("slt",), "arctic-slt")
        + _voices("rhvoice", "en", ("slt",), "arctic-slt"),
    },
}


@dataclass(frozen=True)
class SynthesisJob:
    sentence: Sentence
    voice: Voice
    rate: float
    pitch: float
    formant: float
    path: Path


def mbrola_language(database: str) -> str:
    """The language whose corpus has this MBROLA database as a voice of its own (not an accented one)."""
    return next(lang for lang, splits in VOICES.items() for voices in splits.values() for voice in voices
                if voice.voice_id == f"mb-{database}")


# language -> voices of other languages speaking it (ACCENTED_MBROLA, ACCENTED_PICO), for the train split alone where
# `asr data synth --accented-voices` asks for them.
ACCENTED_VOICES = {
    lang: [Voice("mbrola", f"mb-{database}", lang) for (of, database) in ACCENTED_MBROLA if of == lang]
    + [Voice("pico", pico_voice, lang) for (of, pico_voice) in ACCENTED_PICO if of == lang]
    for lang in {lang for lang, _ in [*ACCENTED_MBROLA, *ACCENTED_PICO]}
}


def turns(voices: list[Voice]) -> list[Voice]:
    """The order voices take turns in: engines alternate, and each engine's voices take turns within it.

    So every engine reads an equal share of a split, however many voices it has
    (espeak-ng's dozens of variants do not drown MBROLA's few recorded speakers),
    and neighbours in the order are never the same voice.
    """
    engines: dict[str, list[Voice]] = {}
    for voice in voices:
        engines.setdefault(voice.engine, []).append(voice)
    longest = max(len(group) for group in engines.values())
    return [group[i % len(group)] for i in range(longest) for group in engines.values()]


def variation_card(variation: Variation) -> dict[str, list[float]]:
    """`variation` as the dataset card states it."""
    return {"speaking_rate_factor_range": list(variation.rate), "pitch_semitone_range": list(variation.pitch),
            "formant_semitone_range": list(variation.formant)}


def describe_variation(card: dict) -> str:
    """The ranges of a dataset card's `variation_card` in words."""
    (slow, fast), (low, high) = card["speaking_rate_factor_range"], card["pitch_semitone_range"]
    formant_low, formant_high = card["formant_semitone_range"]
    return (f"speaking rate x{slow:g}-{fast:g}, pitch {low:+g} to {high:+g} semitones, "
            f"formants {formant_low:+g} to {formant_high:+g} semitones")


def plan_split(
    split: str, sentences: list[Sentence], voices: list[Voice], seed: int, wav_dir: Path, readings: int = 1,
    variation: Variation = HELD_OUT_VARIATION,
) -> list[SynthesisJob]:
    """One job per sentence and reading: voices take turns, rate, pitch and formants are drawn per utterance.

    Reading r of sentence i is spoken by the voice i + r places on in `turns(voices)`,
    so the readings of a sentence are by different voices.
    """
    order = turns(voices)
    jobs = []
    for reading in range(readings):
        for position, sentence in enumerate(sentences):
            index = reading * len(sentences) + position
            # one generator per utterance: its draws do not depend on how many
            # utterances are built or on which worker synthesizes it
            rng = random.Random(f"{seed}/{split}/{index}")
            rate, pitch, formant = (rng.uniform(*variation.rate), rng.uniform(*variation.pitch),
                                     rng.uniform(*variation.formant))
            voice = order[(position + reading) % len(order)]
            # The file name holds a digest of everything that shapes the audio, so a
            # rebuild with other settings never mistakes an old WAV for its own.
            shape = f"{voice.name}{voice.synthesis_note}|{rate!r}|{pitch!r}|{formant!r}|{sentence.spoken}"
            digest = hashlib.sha1(shape.encode()).hexdigest()[:10]
            path = wav_dir / split / f"{split}-{index:06d}-{digest}.wav"
            jobs.append(SynthesisJob(sentence, voice, rate, pitch, formant, path))
    return jobs


def trim_silence(wave: torch.Tensor, threshold: float = 1e-3, padding: float = 0.1) -> torch.Tensor:
    """Cut leading and trailing silence to `padding` seconds (the engines append 0.3-0.7 s)."""
    loud = torch.nonzero(wave.abs() > threshold).flatten()
    if len(loud) == 0:
        return wave[:0]
    pad = round(padding * SAMPLE_RATE)
    first, last = int(loud[0]), int(loud[-1])
    return wave[max(0, first - pad) : last + 1 + pad]




def synthesize_job(job: SynthesisJob) -> tuple[SynthesisJob, float, str | None]:
    """Write the job's WAV unless it exists already; returns the job, the WAV's duration in seconds, and
    the error of an engine that failed on this sentence (then the duration is 0 and no WAV is written)."""
    # write_audio renames a finished file into place, so an existing WAV is complete
    if not job.path.exists():
        try:
            wave = trim_silence(job.voice.render(job.sentence.spoken, job.rate, job.pitch, job.formant))
            if len(wave) == 0:
                raise SynthesisError(f"{job.voice.name} produced only silence for {job.sentence.spoken!r}")
        except SynthesisError as error:  # one sentence an engine cannot say must not stop the build
            return job, 0.0, str(error)
        peak = float(wave.abs().max())
        if peak > MAX_PEAK:  # resampling can overshoot what an engine wrote at full scale
            wave = wave * (MAX_PEAK / peak)
        write_audio(job.path, wave)
    return job, soundfile.info(str(job.path)).duration, None


def _init_worker() -> None:
    # every worker resamples one short file at a time; more torch threads would only fight over the cores
    torch.set_num_threads(1)


def remove_stale_files(folder: Path, keep: set[Path]) -> None:
    """Delete WAVs of earlier builds that this build does not use, and half-written files."""
    for path in folder.iterdir():
        if path not in keep and path.suffix in (".wav", ".partial"):
            path.unlink()


def estimated_seconds(job: SynthesisJob) -> float:
    """A guess at a job's duration before it is synthesized."""
    return len(job.sentence.spoken) / CHARACTERS_PER_SECOND / job.rate + 0.2


def _kept_seconds(jobs: list[SynthesisJob], durations: dict[Path, float]) -> float:
    return sum(durations[job.path] for job in jobs if durations[job.path] <= MAX_DURATION)


def prefix_reaching(jobs: list[SynthesisJob], durations: dict[Path, float], seconds: float) -> int | None:
    """The fewest leading jobs whose kept audio lasts at least `seconds`, or None if all of them fall short."""
    total = 0.0
    for count, job in enumerate(jobs, start=1):
        duration = durations[job.path]
        if duration <= MAX_DURATION:
            total += duration
        if total >= seconds:
            return count
    return None


def _more_jobs(plan: list[SynthesisJob], done: int, durations: dict[Path, float], seconds: float) -> int:
    """How many jobs after the first `done` should, by the estimate so far, reach `seconds` of audio."""
    synthesized = plan[:done]
    have = _kept_seconds(synthesized, durations)
    # measured over estimated so far: the estimate learns each split's voices and texts
    guessed = sum(estimated_seconds(job) for job in synthesized)
    correction = sum(durations[job.path] for job in synthesized) / guessed if guessed else 1.0
    wanted = (seconds - have) * 1.02 + 1.0  # aim a little past the target: one more round costs more
    count, expected = 0, 0.0
    while done + count < len(plan) and expected < wanted:
        expected += estimated_seconds(plan[done + count]) * correction
        count += 1
    return count


def build_corpus(
    lang: str,
    out_dir: Path,
    utterances: int | None = None,
    seed: int = 0,
    jobs: int = os.cpu_count() or 1,
    hours: float | None = None,
    progress: bool = True,
    voices: dict[str, list[Voice]] | None = None,
    sentences: tuple[dict[str, list[Sentence]], list[dict]] | None = None,
    train_variation: Variation = HELD_OUT_VARIATION,
) -> dict[str, Path]:
    """Synthesize a corpus of `utterances` utterances or `hours` hours; returns split name -> manifest path.

    With `utterances`, the splits get 80/10/10 of them. With `hours`, each split
    is synthesized until it holds its share (80/10/10) of the hours, and is cut
    at the first utterance that reaches it: the corpus is as long as asked for
    (plus at most one utterance a split), not an estimate.

    `voices` (split -> voices; default VOICES[lang]) may name fewer splits or
    voices, and `sentences` (the pools and text-source cards of
    `sentence_pools`) may come from elsewhere: a machine without the Debian
    texts or every voice builds its train split so (recipes/gpu_release).

    `train_variation`: wider ranges of rate, pitch and formants for the train
    split alone (more distinct-sounding speakers from the same voices); dev and
    test keep HELD_OUT_VARIATION.
    """
    if (utterances is None) == (hours is None):
        raise ValueError("give either utterances or hours")
    if hours is not None and not hours > 0:
        raise ValueError(f"hours must be positive, got {hours}")
    if lang not in VOICES:
        raise ValueError(f"no voices for language {lang!r}; choose one of {', '.join(sorted(VOICES))}")
    voices = VOICES[lang] if voices is None else voices
    splits = [split for split in SPLITS if split in voices]
    for split in splits:
        for voice in voices[split]:
            voice.check()

    pools, text_sources = sentence_pools(lang, seed) if sentences is None else sentences
    out_dir = Path(out_dir)
    wav_dir = out_dir / "wav"

    if utterances is not None:
        sizes = split_sizes(utterances)
        for split in splits:
            if sizes[split] > len(pools[split]):
                raise ValueError(
                    f"{split} needs {sizes[split]} sentences but the {lang} texts give only "
                    f"{len(pools[split])}; ask for fewer utterances"
                )
        candidates = {split: pools[split][: sizes[split]] for split in splits}
    else:
        candidates = pools
    # Job i of a split is the same whatever the size of the build, so a plan over the
    # whole pool holds every smaller build's jobs as its first ones.
    readings = 1 if hours is None else MAX_READINGS
    variations = {split: train_variation if split == "train" else HELD_OUT_VARIATION for split in splits}
    plans = {
        split: plan_split(split, candidates[split], voices[split], seed, wav_dir, readings, variations[split])
        for split in splits
    }
    for split in splits:
        (wav_dir / split).mkdir(parents=True, exist_ok=True)
        remove_stale_files(wav_dir / split, {job.path for job in plans[split]})

    durations: dict[Path, float] = {}
    failed: set[Path] = set()
    bar = progress_bar(total=0, desc=f"synthesizing {lang}", unit="utt", disable=not progress)
    with Pool(jobs, initializer=_init_worker) as pool:

        def run(batch: list[SynthesisJob]) -> None:
            bar.total += len(batch)
            bar.refresh()
            for job, duration, error in pool.imap_unordered(synthesize_job, batch):
                durations[job.path] = duration
                if error:
                    failed.add(job.path)
                    bar.write(f"skipped: {error}")
                bar.update(1)
                bar.set_postfix(hours=f"{sum(durations.values()) / 3600:.3f}", refresh=False)

        if hours is None:
            run([job for split in splits for job in plans[split]])
        else:
            targets = {split: hours * 3600 * SPLIT_FRACTIONS[split] for split in splits}
            done = dict.fromkeys(splits, 0)
            while True:
                batch = []
                for split in splits:
                    if prefix_reaching(plans[split][: done[split]], durations, targets[split]) is not None:
                        continue
                    more = _more_jobs(plans[split], done[split], durations, targets[split])
                    if more == 0:
                        have = _kept_seconds(plans[split], durations) / 3600
                        raise ValueError(
                            f"{split} needs {targets[split] / 3600:.3f} h but all {len(plans[split])} of its "
                            f"{lang} sentences give only {have:.3f} h; ask for fewer hours"
                        )
                    batch += plans[split][done[split] : done[split] + more]
                    done[split] += more
                if not batch:
                    break
                run(batch)
            plans = {split: plans[split][: prefix_reaching(plans[split], durations, targets[split])] for split in splits}
            for split in splits:  # the few synthesized past the target
                remove_stale_files(wav_dir / split, {job.path for job in plans[split]})
    bar.close()

    manifests, split_cards, characters, words = {}, {}, set(), set()
    for split in splits:
        # a too-long WAV stays on disk so that a resumed build does not synthesize it again
        kept = [job for job in plans[split] if job.path not in failed and durations[job.path] <= MAX_DURATION]
        for job in kept:
            characters.update(job.sentence.text.replace(" ", ""))
            words.update(job.sentence.text.split())
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
            "synthesis_failed": sum(job.path in failed for job in plans[split]),
        }

    card = {
        "lang": lang,
        "seed": seed,
        "size": (
            {"utterances": utterances}
            if hours is None
            else {
                "hours": hours,
                "how": "each split synthesized until it holds its 80/10/10 share of the hours, "
                "cut at the first utterance that reaches it",
            }
        )
        # a build of fewer splits (recipes/gpu_release: train alone) says so: its hours are the share of those
        | ({} if splits == list(SPLITS) else {"splits_built": splits}),
        "sample_rate": SAMPLE_RATE,
        "max_duration_seconds": MAX_DURATION,
        **variation_card(HELD_OUT_VARIATION),
        **({} if train_variation == HELD_OUT_VARIATION else {"train_variation": variation_card(train_variation)}),
        "splits": split_cards,
        "voices": {
            split: [voice_card(voice, [job.sentence.spoken for job in plans[split] if job.voice == voice]) for voice in voices[split]]
            for split in splits
        },
        "characters": "".join(sorted(characters)),
        "distinct_words": len(words),
        "text_sources": text_sources,
        "numbers": "sentences with digits are dropped, not spelled out (see sentences.dropped.digits)",
        "sentences": {
            "usable": sum(len(pools[split]) for split in splits),
            "per_split_pool": {split: len(pools[split]) for split in splits},
            "dropped": dict(sorted(sum((Counter(source["dropped"]) for source in text_sources), Counter()).items())),
        },
        # Utterances an engine failed on (a crash, silence): left out, each reported as it happened.
        "synthesis_failed": len(failed),
    }
    card = with_splits_built_before(card, out_dir, words)
    card_json = json.dumps(card, ensure_ascii=False, indent=2) + "\n"
    write_atomically(out_dir / "dataset_card.json", card_json)
    write_atomically(out_dir / "README.md", corpus_readme(card))
    return manifests


# What makes two builds' splits parts of one corpus (train_variation only shapes the train split).
_SAME_CORPUS = ("lang", "seed", "sample_rate", "max_duration_seconds", "speaking_rate_factor_range", "pitch_semitone_range",
                "formant_semitone_range", "text_sources")


def with_splits_built_before(card: dict, out_dir: Path, words: set[str]) -> dict:
    """`card` with the splits of the same corpus that `out_dir`'s dataset card already describes and this build
    left alone: a corpus built in parts (`asr data synth --splits dev,test`, then train) keeps one card of all its
    splits. A card of another corpus (language, seed, size, variation or texts) is replaced. `words`: the built
    splits' distinct words."""
    try:
        earlier = json.loads((out_dir / "dataset_card.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return card

    def identity(c: dict) -> dict:
        return {**{key: c.get(key) for key in _SAME_CORPUS}, "size": {k: v for k, v in c["size"].items() if k != "splits_built"}}

    kept = [split for split in earlier.get("splits", {}) if split not in card["splits"] and (out_dir / f"{split}.jsonl").is_file()]
    if not kept or identity(earlier) != identity(card):
        return card
    for split in kept:
        words = words | {word for u in read_manifest(out_dir / f"{split}.jsonl") for word in u.text.split()}
    splits = [split for split in SPLITS if split in card["splits"] or split in kept]
    size = {k: v for k, v in card["size"].items() if k != "splits_built"}
    if all("synthesis_failed" in earlier["splits"][split] for split in kept):
        failed_before = sum(earlier["splits"][split]["synthesis_failed"] for split in kept)
    else:  # a card written before failures were counted per split: its count over all its splits
        failed_before = earlier.get("synthesis_failed", 0)
    return card | {
        "size": size | ({} if splits == list(SPLITS) else {"splits_built": splits}),
        "splits": {split: card["splits"].get(split) or earlier["splits"][split] for split in splits},
        "voices": {split: card["voices"].get(split) or earlier["voices"][split] for split in splits},
        "characters": "".join(sorted(set(card["characters"]) | set(earlier["characters"]))),
        "distinct_words": len(words),
        "sentences": card["sentences"] | {
            "usable": card["sentences"]["usable"] + sum(earlier["sentences"]["per_split_pool"][split] for split in kept),
            "per_split_pool": {split: card["sentences"]["per_split_pool"].get(split, earlier["sentences"]["per_split_pool"].get(split))
                               for split in splits},
        },
        "synthesis_failed": card["synthesis_failed"] + failed_before,
    }


def voice_card(voice: Voice, sentences: list[str]) -> dict:
    """What the dataset card says of a voice; of an MBROLA voice also the diphones it lacks, and of an accented Pico
    voice the IPA symbols it has no rename for, in the first DIPHONE_CHECK_SENTENCES of the `sentences` it reads."""
    card = {
        "name": voice.name,
        "engine": voice.engine,
        "voice": voice.voice_id,
        "person": voice.person,
        "pitch_shift": voice.pitch_method,
        "debian_packages": sorted({package for _, package in voice.requirements()}),
    }
    checked = sentences[:DIPHONE_CHECK_SENTENCES]
    if voice.vocalised_r:
        card["vocalised_r"] = True
    if voice.engine == "mbrola":
        card["missing_diphones_per_sentence"] = round(missing_diphones_per_sentence(voice, checked), 2)
    if voice.pico_phonemes:
        unmapped = sum(pico_phoneme_markup(voice.lang, text, voice.pico_phonemes)[1] for text in checked)
        card["unmapped_phonemes_per_sentence"] = round(unmapped / max(1, len(checked)), 2)
    return card


def held_out_note(text_sources: list[dict]) -> str:
    """How the card's text sources chose their dev and test sentences, for the corpus README."""
    listed = [source["package"] for source in text_sources if source.get("held_out", "").startswith(HELD_OUT_LIST.name)]
    if not listed:
        return ""
    return (f", and the dev and test sentences of {', '.join(listed)} are the ones every machine holds out "
            f"(asr/corpora/{HELD_OUT_LIST.name})")


def corpus_readme(card: dict) -> str:
    size = card["size"]
    asked = f"{size['utterances']} utterances" if "utterances" in size else f"{size['hours']:g} hours ({size['how']})"
    lines = [
        f"# Synthetic speech corpus ({card['lang']})",
        "",
        f"Built by `asr.corpora.synth.build_corpus` with seed {card['seed']}, asked for {asked}: sentences from the "
        f"Debian packages {', '.join(source['package'] for source in card['text_sources'])}, read by speech synthesizers, "
        f"{card['sample_rate']} Hz mono 16-bit WAV. No sentence is in two splits"
        f"{held_out_note(card['text_sources'])}; the test voices are heard only in test and the dev voices only in dev. "
        "Details in dataset_card.json.",
        "",
        "| split | utterances | hours | voices |",
        "|---|---|---|---|",
    ]
    for split, info in card["splits"].items():
        voices = ", ".join(f"{name} ({count})" for name, count in info["voices"].items())
        lines.append(f"| {split} | {info['utterances']} | {info['hours']:.3f} | {voices} |")
    dropped = ", ".join(f"{reason} {count}" for reason, count in card["sentences"]["dropped"].items())
    resampled = sorted({v["engine"] for vs in card["voices"].values() for v in vs if v["pitch_shift"] == "resampling"})
    lines += [
        "",
        f"{describe_variation(card).capitalize()}, drawn per utterance"
        + (f" ({', '.join(resampled)}: pitch shifted by resampling)" if resampled else "")
        + (f"; the train split's wider: {describe_variation(card['train_variation'])}" if "train_variation" in card else "")
        + f"; utterances over {card['max_duration_seconds']:g} s are left out.",
        "",
        f"Usable sentences: {card['sentences']['usable']}. Dropped: {dropped}. Numbers: {card['numbers']}.",
        "",
        "MBROLA diphones missing (read as silence) per sentence: "
        + (", ".join(f"{v['name']} {v['missing_diphones_per_sentence']:g}" for vs in card["voices"].values() for v in vs
                     if "missing_diphones_per_sentence" in v) or "no MBROLA voice")
        + ".",
        "",
        f"Characters: `{card['characters']}`; {card['distinct_words']} distinct words.",
        "",
    ]
    return "\n".join(lines)
