"""Result files: written atomically, and content hashes for caching."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_CHUNK = 16 << 20


def write_atomically(path: str | Path, data: str | bytes) -> Path:
    """Write `path` so that a reader (or a run interrupted half-way) never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as file:
        file.write(data.encode("utf-8") if isinstance(data, str) else data)
        file.flush()
        os.fsync(file.fileno())
    partial.replace(path)
    return path


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's content, read in chunks: model files are hundreds of megabytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
