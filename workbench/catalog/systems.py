"""Where stable-retro keeps its data, and what its emulator cores say about each system.

Read straight from stable-retro's files so that listing the catalog does not have to import (and start) the
emulator package.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path


INTEGRATION_KINDS = ("contrib", "experimental", "custom", "stable")
"""stable-retro's search order for a game's files (`Integrations.ALL.paths`): the first folder that has a file
wins, so contrib and experimental data override stable, and custom integrations sit just before stable."""

_VERSION_SUFFIX = re.compile(r"-v\d+$")


@dataclass(frozen=True)
class System:
    """One emulated system, as its stable-retro core describes it."""

    name: str
    buttons: tuple[str | None, ...]
    """The env's MultiBinary button order (None = an unused slot)."""
    extensions: tuple[str, ...]
    """ROM file extensions with the dot, the first one is what an imported ROM is saved as."""
    combos: tuple[tuple[tuple[str, ...], ...], ...]
    """Button groups whose product is stable-retro's DISCRETE action set."""


def _package_dir() -> Path:
    spec = importlib.util.find_spec("stable_retro")
    if spec is None or spec.origin is None:
        raise RuntimeError("stable-retro is not installed; run `make run` (or pip install stable-retro)")
    return Path(spec.origin).parent


def retro_data_root() -> Path:
    """stable-retro's data folder (holds stable/, experimental/, contrib/): $RETRO_DATA_PATH as stable-retro
    itself honours it, else the folder inside the installed package."""
    if os.environ.get("RETRO_DATA_PATH"):
        return Path(os.environ["RETRO_DATA_PATH"])
    return _package_dir() / "data"


def custom_integration_dirs() -> list[Path]:
    """The custom integration folders, in the order `register_custom_integrations()` gives them to stable-retro:
    the user's (start states saved from replays; custom games) and the ones shipped with the workbench."""
    from workbench.catalog.integrations import SHIPPED_INTEGRATIONS, user_integrations_dir

    return [user_integrations_dir(), SHIPPED_INTEGRATIONS]


def integration_dirs(data_root: Path | None = None,
                     custom_dirs: list[Path] | None = None) -> list[tuple[str, Path]]:
    """(kind, folder) in stable-retro's search order (`Integrations.ALL.paths`)."""
    root = Path(data_root) if data_root is not None else retro_data_root()
    custom = [Path(p) for p in custom_dirs] if custom_dirs is not None else custom_integration_dirs()
    return ([("contrib", root / "contrib"), ("experimental", root / "experimental")]
            + [("custom", folder) for folder in custom] + [("stable", root / "stable")])


@functools.lru_cache(maxsize=1)
def systems() -> dict[str, System]:
    """Every system stable-retro has a core for, by name (Genesis, Atari2600, Nes, ...)."""
    found: dict[str, System] = {}
    for info_file in sorted((_package_dir() / "cores").glob("*.json")):
        for name, core in json.loads(info_file.read_text()).items():
            found[name] = System(
                name=name,
                buttons=tuple(core.get("buttons", ())),
                extensions=tuple("." + ext for ext in core.get("ext", ())),
                combos=tuple(tuple(tuple(combo) for combo in group) for group in core.get("actions", ())),
            )
    return found


def rom_extensions() -> list[str]:
    """ROM file extensions in stable-retro's lookup order (`EMU_EXTENSIONS`)."""
    seen: dict[str, None] = {}
    for system in systems().values():
        for ext in system.extensions:
            seen.setdefault(ext, None)
    return list(seen)


def system_of(game: str) -> str:
    """The system part of a game id: `Airstriker-Genesis-v0` -> `Genesis` (stable-retro's own rule)."""
    return _VERSION_SUFFIX.sub("", game).split("-")[-1]


def rom_extension_for(game: str) -> str | None:
    """The file extension an imported ROM of `game` is saved with, as stable-retro's importer chooses it."""
    system = systems().get(system_of(game))
    if system and system.extensions:
        return system.extensions[0]
    if system_of(game).lower() == "arcade":
        return ".zip"
    return None
