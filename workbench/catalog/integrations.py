"""The custom integration folders stable-retro searches besides its own: start states saved as new levels.

stable-retro finds a game's files by searching integration folders in order; a custom folder may hold only
extra `NAME.state` files for a game, and the ROM, data and scenario are still found in the stable integration.
Two custom folders are registered:

- `workbench/data/integrations/` (shipped with the package: Airstriker start states, see SHIPPED_LEVELS);
- `user_data_dir()/integrations/` (states the user saves from a replay: `replay.start_states`).

A saved state is then the level `Game-v0:NAME` in the catalog and in level sets; any process that makes envs
calls `register_custom_integrations()` first (`engine.envs.retro.make_env` does).
"""
from __future__ import annotations

from pathlib import Path

from workbench.core.paths import user_data_dir

SHIPPED_INTEGRATIONS = Path(__file__).resolve().parents[1] / "data" / "integrations"
SHIPPED_STATES = {"Level1.Sec04": 240, "Level1.Sec08": 480, "Level1.Sec12": 720, "Level1.Sec20": 1200}
"""Airstriker start states shipped in the package: name -> replay frame they were cut at (see
`make_airstriker_states`: a fixed fire-and-weave input sequence from Level1; 3, 3, 2 and 1 lives left)."""
SHIPPED_LEVELS = {
    "train": ["Airstriker-Genesis-v0:Level1", "Airstriker-Genesis-v0:Level1.Sec08",
              "Airstriker-Genesis-v0:Level1.Sec20"],
    "test": ["Airstriker-Genesis-v0:Level1.Sec04", "Airstriker-Genesis-v0:Level1.Sec12"],
}
"""A fresh install's Airstriker level split: the stable Level1 plus the shipped start states."""

def user_integrations_dir() -> Path:
    return user_data_dir() / "integrations"


_registered_user_dir: str | None = None


def register_custom_integrations() -> list[str]:
    """Make stable-retro search the user's and the shipped start-state folders, in that order (idempotent,
    per process; the user's states win a name clash). Returns stable-retro's custom paths.

    The user folder follows $WORKBENCH_HOME: when it changed since the last call, the old one is dropped.
    Folders are read at each env creation, so states saved later in the session are found without calling again.
    """
    global _registered_user_dir
    import stable_retro.data as rd

    user = user_integrations_dir()
    user.mkdir(parents=True, exist_ok=True)
    rd.Integrations._init()
    paths = rd.Integrations.CUSTOM_PATHS
    if _registered_user_dir is not None and _registered_user_dir != str(user) and _registered_user_dir in paths:
        paths.remove(_registered_user_dir)
    if str(user) not in paths:
        paths.insert(0, str(user))
    if str(SHIPPED_INTEGRATIONS) not in paths:
        paths.append(str(SHIPPED_INTEGRATIONS))
    _registered_user_dir = str(user)
    rd.add_integrations(rd.Integrations.CUSTOM_ONLY)  # the default inttype (retro.make's) searches them too
    return list(paths)


def custom_states(game: str) -> list[str]:
    """Start-state names of `game` found in the shipped and user folders (not the stable ones)."""
    names = set()
    for root in (SHIPPED_INTEGRATIONS, user_integrations_dir()):
        folder = root / game
        if folder.is_dir():
            names.update(p.name[: -len(".state")] for p in folder.glob("*.state") if not p.name.startswith("_"))
    return sorted(names)


def state_exists(game: str, name: str) -> bool:
    import stable_retro.data as rd

    register_custom_integrations()
    return rd.get_file_path(game, f"{name}.state", rd.Integrations.ALL) is not None


def integration_file(game: str, name: str) -> str | None:
    """Path of one of a game's integration files (stable, experimental, contrib or custom), or None."""
    import stable_retro

    register_custom_integrations()
    return stable_retro.data.get_file_path(game, name, stable_retro.data.Integrations.ALL)
