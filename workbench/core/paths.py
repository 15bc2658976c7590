"""Where the workbench keeps things on disk.

- the user's data (catalog cache, custom start states): $WORKBENCH_HOME, else $XDG_DATA_HOME/retro-workbench,
  else ~/.local/share/retro-workbench;
- runs: $WORKBENCH_RUNS, else ./runs (one folder per run; the folder is the truth about the run);
- shipped presets: presets/ in the source tree.
"""
from __future__ import annotations

import os
from pathlib import Path

from workbench.core import faults

SOURCE_ROOT = Path(__file__).resolve().parents[2]
PRESETS_DIR = SOURCE_ROOT / "presets"
DEFAULT_PRESET = PRESETS_DIR / "airstriker.toml"
SHM_PREFIX = "wb_"
"""Every shared-memory segment the workbench creates starts with this (tests check none is left)."""


def user_data_dir() -> Path:
    if os.environ.get("WORKBENCH_HOME"):
        return Path(os.environ["WORKBENCH_HOME"])
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "retro-workbench"


def runs_dir() -> Path:
    return Path(os.environ.get("WORKBENCH_RUNS") or Path.cwd() / "runs")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temp file + rename, so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            view, half = memoryview(data), len(data) // 2
            f.write(view[:half])
            faults.point("atomic_write", path.name)  # the fault campaign's "killed mid-write" (tests only)
            f.write(view[half:])
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk or a file-size limit: no half-written temp file stays behind
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
