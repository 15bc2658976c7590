"""Custom start states: a replay's frame saved as a new level of its game, in the user's integration folder
(`catalog.integrations` makes stable-retro find it)."""
from __future__ import annotations

import gzip
import re
from pathlib import Path

from workbench.catalog.integrations import register_custom_integrations, state_exists, user_integrations_dir
from workbench.core.paths import atomic_write_bytes
from workbench.replay.errors import ReplayError

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def save_start_state(game: str, name: str, state: bytes, folder: Path | None = None) -> Path:
    """Save emulator state bytes as the start state `game:name`; returns the written file.

    Refuses a bad name or one the game already has (stable, shipped or saved): nothing is overwritten.
    `folder` defaults to the user's integrations folder (only `make_airstriker_states` writes the shipped one).
    """
    if not _NAME_RE.match(name):
        raise ReplayError(f"{name!r} is not a usable start-state name; use letters, digits, '.', '_' or '-' "
                          "(up to 64 characters), e.g. Level1.Boss")
    if state_exists(game, name):
        raise ReplayError(f"{game} already has a start state named {name!r}; choose another name")
    root = Path(folder) if folder is not None else user_integrations_dir()
    path = root / game / f"{name}.state"
    if path.exists():
        raise ReplayError(f"{path} already exists; choose another name")
    atomic_write_bytes(path, gzip.compress(state, compresslevel=6))
    register_custom_integrations()
    return path
