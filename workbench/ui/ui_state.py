"""Small answers the window remembers between starts (e.g. that the user declined the Atari ROM offer), as JSON
in `user_data_dir()/ui-state.json`. An unreadable file counts as empty (the questions are asked again); it is
only ever replaced whole (atomic write)."""
from __future__ import annotations

import json

from workbench.core.paths import atomic_write_text, user_data_dir

FILE_NAME = "ui-state.json"


def _path():
    return user_data_dir() / FILE_NAME


def load() -> dict:
    try:
        data = json.loads(_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remember(key: str, value) -> None:
    state = load()
    state[key] = value
    atomic_write_text(_path(), json.dumps(state, indent=1, sort_keys=True))
