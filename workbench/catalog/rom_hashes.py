"""SHA-1 of ROM files the way stable-retro checks them, cached by (path, size, mtime).

Hashing every installed ROM is the slow part of listing the catalog; the cache makes the second listing fast and
is invalidated per file as soon as the file is replaced or touched.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from workbench.core.paths import atomic_write_text, user_data_dir

_CACHE_VERSION = 1
NES_HEADER_BYTES = 16


def cache_file() -> Path:
    return user_data_dir() / "cache" / "rom-hashes.json"


def file_sha1(path: Path) -> str:
    """What stable-retro's `verify_hash` compares with rom.sha: the whole file, but an iNES ROM without its
    16-byte header."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        if str(path).lower().endswith(".nes"):
            f.read(NES_HEADER_BYTES)
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class RomHashCache:
    """Load once, ask many times, save if anything new was hashed."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path is not None else cache_file()
        self._entries: dict[str, list] = {}
        self._dirty = False
        try:
            data = json.loads(self.path.read_text())
            if data.get("version") == _CACHE_VERSION and isinstance(data.get("files"), dict):
                self._entries = data["files"]
        except (OSError, ValueError, AttributeError):
            pass  # no cache yet, or a damaged one: it is only a cache, rebuild it

    def sha1(self, path: Path) -> str:
        """SHA-1 of `path` (OSError if unreadable)."""
        key = str(Path(path).resolve())
        st = os.stat(key)
        cached = self._entries.get(key)
        if isinstance(cached, list) and len(cached) == 3 and cached[:2] == [st.st_size, st.st_mtime_ns]:
            return str(cached[2])
        sha = file_sha1(Path(key))
        self._entries[key] = [st.st_size, st.st_mtime_ns, sha]
        self._dirty = True
        return sha

    def save(self) -> None:
        if not self._dirty:
            return
        # drop files that are gone so the cache does not grow forever
        self._entries = {k: v for k, v in self._entries.items() if os.path.exists(k)}
        try:
            atomic_write_text(self.path, json.dumps({"version": _CACHE_VERSION, "files": self._entries}))
            self._dirty = False
        except OSError:
            pass  # a read-only home only costs speed
