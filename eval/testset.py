"""Test sets: a manifest's utterances, their language and a fingerprint for caching."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from asr.corpora.manifest import Utterance, read_manifest


@dataclass(frozen=True)
class TestSet:
    name: str
    manifest: Path
    utterances: list[Utterance]
    language: str | None  # passed to systems that need it (faster-whisper), and picks the "auto" normaliser
    fingerprint: str  # changes when the manifest, an audio file or the language changes

    __test__ = False  # not a pytest test class, despite the name

    @property
    def audio_seconds(self) -> float:
        return sum(u.duration for u in self.utterances)


def load_test_set(manifest: str | Path, name: str | None = None, language: str | None = None) -> TestSet:
    """Read a manifest; the language is `language`, else the manifest's `lang` (which must be one), else unknown."""
    manifest = Path(manifest)
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest}: no such manifest")
    utterances = read_manifest(manifest)
    if not utterances:
        raise ValueError(f"{manifest}: the manifest lists no utterances")
    if language is None:
        languages = sorted({u.lang for u in utterances if u.lang})
        if len(languages) > 1:
            raise ValueError(f"{manifest}: utterances in several languages ({', '.join(languages)}); score one language at a time")
        language = languages[0] if languages else None
    return TestSet(name or str(manifest), manifest, utterances, language, _fingerprint(manifest, utterances, language))


def _fingerprint(manifest: Path, utterances: list[Utterance], language: str | None) -> str:
    # The manifest's bytes (texts, audio paths) and each audio file's size and
    # modification time: cheap for hours of audio, and a re-synthesised or
    # re-recorded file changes it. Copying the data elsewhere only costs a re-run.
    digest = hashlib.sha256(manifest.read_bytes())
    for u in utterances:
        try:
            stat = u.audio_filepath.stat()
        except FileNotFoundError:
            raise FileNotFoundError(f"{manifest}: audio file {u.audio_filepath} is missing") from None
        digest.update(f"\n{stat.st_size} {stat.st_mtime_ns}".encode())
    digest.update(json.dumps({"language": language}).encode())
    return digest.hexdigest()
