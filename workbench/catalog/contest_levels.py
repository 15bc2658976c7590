"""The custom levels (games whose ROM is built from a rom.delta: the Retro Contest's test and leaderboard levels)
and what each still needs, as `workbench catalog` and `workbench roms status` list them."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Iterable

from workbench.catalog.contest_deltas import PatchedGame, patched_games

if TYPE_CHECKING:
    from workbench.catalog.catalog import Catalog, GameEntry


@dataclass(frozen=True)
class CustomLevel:
    level: str
    """`Game:State`, as a preset lists it."""
    group: str
    """'leaderboard' for the contest's leaderboard games, else 'contest' (the levels it was scored on)."""
    rom_status: str
    base_game: str | None
    base_shas: tuple[str, ...]
    needs: str
    """What is missing to play it, as one short instruction; '' when playable."""

    def to_json(self) -> dict:
        data = asdict(self)
        data["base_shas"] = list(self.base_shas)
        return data


def _short(shas: tuple[str, ...]) -> str:
    return " or ".join(f"{sha[:8]}…" for sha in shas) or "none listed"


def what_it_needs(entry: "GameEntry", catalog: "Catalog", patched: PatchedGame | None) -> str:
    if entry.playable:
        return ""
    base = entry.patch_base
    if entry.rom_status != "missing":
        return f"delete {entry.rom_path} ({entry.rom_status}), then import the {base or 'base'} ROM again"
    if base is None:
        return "a base ROM its id does not name (its rom.delta patches another game's ROM)"
    base_entry = catalog.find(base)
    if base_entry is not None and base_entry.playable:
        return f"the installed {base} ROM builds it: `workbench roms import {base_entry.rom_path}`"
    return f"your {base} ROM (SHA-1 {_short(patched.base_shas if patched else ())})"


def custom_levels(catalog: "Catalog", games: Iterable["GameEntry"] | None = None) -> list[CustomLevel]:
    """One row per start state of each rom.delta game among `games` (default: the whole catalog)."""
    patched = patched_games(catalog.data_root, catalog.custom_dirs)
    rows = []
    for entry in catalog.games() if games is None else games:
        if not entry.needs_patch:
            continue
        game = patched.get(entry.id)
        needs = what_it_needs(entry, catalog, game)
        group = "leaderboard" if "leaderboard" in entry.id.lower() else "contest"
        for state in entry.states:
            rows.append(CustomLevel(f"{entry.id}:{state}", group, entry.rom_status, entry.patch_base,
                                    game.base_shas if game else (), needs))
    return rows
