"""Every game and start state stable-retro knows, and whether its ROM is installed.

Games come from stable-retro's stable, experimental and contrib integrations plus the custom integrations (the
user's saved start states in `user_data_dir()/integrations` and the ones shipped in `workbench/data/integrations`),
searched in stable-retro's own order. Envs see the same games after
`workbench.catalog.integrations.register_custom_integrations()` with `inttype=Integrations.ALL`. A game's ROM counts as
installed when the file stable-retro would load is there and its SHA-1 is listed in the game's rom.sha.
"""
from __future__ import annotations

import difflib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from workbench.catalog.contest_deltas import base_game_of
from workbench.catalog.rom_hashes import RomHashCache
from workbench.catalog.systems import (
    custom_integration_dirs, integration_dirs, retro_data_root, rom_extensions, system_of, systems,
)

RomStatus = Literal["ok", "missing", "mismatch", "unreadable"]


@dataclass(frozen=True)
class GameEntry:
    """One game of the catalog."""

    id: str
    """stable-retro game id, e.g. `Airstriker-Genesis-v0`."""
    system: str
    """Emulated system, e.g. `Genesis`, `Atari2600`."""
    states: tuple[str, ...]
    """Start states (from every integration folder of the game), sorted."""
    default_state: str | None
    """metadata.json's default_state, if any."""
    integration: str
    """Where the game's rom.sha lives: 'stable', 'experimental', 'contrib' or 'custom'."""
    rom_status: RomStatus
    """'ok' (installed, hash verified), 'missing', 'mismatch' (a file with a wrong hash) or 'unreadable'."""
    rom_path: str | None
    """The ROM file stable-retro would load (None when missing)."""
    scenarios: tuple[str, ...]
    """Names of the game's JSON files other than data/metadata (scenario, contest, ...)."""
    needs_patch: bool
    """The integration ships a rom.delta: its ROM is a patched version of another game's ROM (contest levels)."""
    patch_base: str | None = None
    """For a `needs_patch` game: the game whose ROM its rom.delta patches (`workbench roms import` of that ROM
    builds this one), when its id names it."""

    @property
    def playable(self) -> bool:
        return self.rom_status == "ok"

    def to_json(self) -> dict:
        data = asdict(self)
        data["states"] = list(self.states)
        data["scenarios"] = list(self.scenarios)
        data["playable"] = self.playable
        return data


class Catalog:
    """The games stable-retro knows, read from disk when constructed (call `refresh()` after importing ROMs or
    saving start states)."""

    def __init__(self, data_root: Path | None = None, custom_dirs: list[Path] | None = None):
        self.data_root = Path(data_root) if data_root is not None else retro_data_root()
        self.custom_dirs = [Path(p) for p in custom_dirs] if custom_dirs is not None else custom_integration_dirs()
        self._games: dict[str, GameEntry] = {}
        self._lower: dict[str, str] = {}
        self.refresh()

    # -- reading ------------------------------------------------------------------------------
    def refresh(self) -> None:
        folders: dict[str, list[tuple[str, Path, set[str]]]] = {}
        for kind, base in integration_dirs(self.data_root, self.custom_dirs):
            try:
                names = sorted(os.listdir(base))
            except OSError:
                continue  # e.g. no custom integrations yet
            for name in names:
                game_dir = base / name
                if name.startswith(("_", ".")):
                    continue
                try:
                    files = set(os.listdir(game_dir))
                except OSError:
                    continue  # a plain file, or unreadable
                folders.setdefault(name, []).append((kind, game_dir, files))
        hashes = RomHashCache()
        games = {}
        with_sha = {name for name, found in folders.items() if any("rom.sha" in files for _, _, files in found)}
        for name in sorted(folders):
            entry = _entry(name, folders[name], hashes, with_sha)
            if entry is not None:
                games[name] = entry
        hashes.save()
        self._games = games
        self._lower = {name.lower(): name for name in games}

    # -- queries ------------------------------------------------------------------------------
    def games(self) -> list[GameEntry]:
        return list(self._games.values())

    def find(self, game: str) -> GameEntry | None:
        return self._games.get(game)

    def __contains__(self, game: str) -> bool:
        return game in self._games

    def __len__(self) -> int:
        return len(self._games)

    def search(self, text: str = "", system: str | None = None, playable: bool | None = None) -> list[GameEntry]:
        """Games whose id contains every word of `text` (case-insensitive), optionally of one system and
        playable or not."""
        words = text.lower().split()
        found = []
        for entry in self._games.values():
            if system is not None and entry.system.lower() != system.lower():
                continue
            if playable is not None and entry.playable != playable:
                continue
            if all(word in entry.id.lower() for word in words):
                found.append(entry)
        return found

    def is_playable(self, game: str) -> bool:
        entry = self._games.get(game)
        return bool(entry and entry.playable)

    def states(self, game: str) -> list[str]:
        """The game's start states; KeyError for a game the catalog does not know."""
        entry = self._games.get(game)
        if entry is None:
            raise KeyError(f"unknown game {game!r}; `workbench catalog --search TEXT` lists the games")
        return list(entry.states)

    def systems(self) -> list[str]:
        return sorted({entry.system for entry in self._games.values()})

    def action_buttons(self, game: str) -> tuple[str | None, ...]:
        """The button order of the game's system (stable-retro's MultiBinary action); () if unknown."""
        system = systems().get(system_of(game))
        return system.buttons if system else ()

    def suggest_games(self, text: str, n: int = 3) -> list[str]:
        """Known game ids close to `text` (for 'did you mean')."""
        close = difflib.get_close_matches(text.lower(), list(self._lower), n=n, cutoff=0.6)
        return [self._lower[name] for name in close]

    def suggest_states(self, game: str, text: str, n: int = 3) -> list[str]:
        entry = self._games.get(game)
        return difflib.get_close_matches(text, list(entry.states) if entry else [], n=n, cutoff=0.5)


def _entry(name: str, folders: list[tuple[str, Path, set[str]]], hashes: RomHashCache,
           games: set[str]) -> GameEntry | None:
    def first(filename: str) -> tuple[str, Path] | None:
        for kind, game_dir, files in folders:
            if filename in files:
                return kind, game_dir / filename
        return None

    sha_file = first("rom.sha")
    if sha_file is None:
        return None  # not a game: e.g. an experimental folder that only overrides data.json
    kind, sha_path = sha_file
    states = sorted({f[: -len(".state")] for _, _, files in folders for f in files
                     if f.endswith(".state") and not f.startswith("_")})
    default_state = None
    meta = first("metadata.json")
    if meta is not None:
        try:
            value = json.loads(meta[1].read_text()).get("default_state")
            default_state = value if isinstance(value, str) else None
        except (OSError, ValueError, AttributeError):
            pass
    rom_path = None
    for ext in rom_extensions():  # stable-retro's get_romfile_path order: extension first, then folder
        found = first("rom" + ext)
        if found is not None:
            rom_path = found[1]
            break
    status: RomStatus = "missing"
    if rom_path is not None:
        try:
            expected = set(sha_path.read_text().split())
            status = "ok" if hashes.sha1(rom_path) in expected else "mismatch"
        except OSError:
            status = "unreadable"
    needs_patch = first("rom.delta") is not None
    scenarios = sorted({f[:-5] for _, _, files in folders for f in files
                        if f.endswith(".json") and f not in ("data.json", "metadata.json")})
    return GameEntry(
        id=name,
        system=system_of(name),
        states=tuple(states),
        default_state=default_state,
        integration=kind,
        rom_status=status,
        rom_path=str(rom_path) if rom_path else None,
        scenarios=tuple(scenarios),
        needs_patch=needs_patch,
        patch_base=base_game_of(name, games) if needs_patch else None,
    )

