"""The Retro Contest's custom levels: integrations whose ROM is another game's ROM patched with the folder's
`rom.delta` (VCDIFF), built here when the base ROM is imported (stable-retro ships the deltas, nothing applies them).

No file names a delta's base; the game id does: `SonicTheHedgehogCustomKevin-Genesis` patches
`SonicTheHedgehog-Genesis-v0`. Where the base game's rom.sha lists several ROMs (Sonic & Knuckles 3 lists two), each
copy the user has is tried and the one whose output's SHA-1 is in the folder's rom.sha wins. Nothing else is written.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Literal, Sequence

from workbench.catalog.rom_hashes import file_sha1
from workbench.catalog.systems import integration_dirs, rom_extension_for, system_of
from workbench.catalog.vcdiff import DeltaError, apply_delta
from workbench.core.paths import atomic_write_bytes

BuildStatus = Literal["patched", "present", "conflict", "rejected", "failed"]
_CUSTOM_NAME = re.compile(r"^(?P<base>.+?)Custom[A-Z][A-Za-z0-9]*$")
_VERSION = re.compile(r"-v\d+$")


def base_game_of(game: str, games: Collection[str]) -> str | None:
    """The game whose ROM `game`'s delta patches, among `games` (ids): `SonicAndKnuckles3CustomKevin-Genesis` ->
    `SonicAndKnuckles3-Genesis-v0`; None when the name does not say (no `Custom<Name>` part) or it is unknown."""
    system = system_of(game)
    name = _VERSION.sub("", game)[: -len(system) - 1]
    match = _CUSTOM_NAME.match(name)
    if match is None:
        return None
    for candidate in (f"{match['base']}-{system}-v0", f"{match['base']}-{system}"):
        if candidate in games:
            return candidate
    return None


@dataclass(frozen=True)
class PatchedGame:
    """A game whose ROM is built from another game's ROM and a delta."""

    game: str
    folder: Path
    """The integration folder holding rom.delta and rom.sha; the built ROM is saved here."""
    target_shas: tuple[str, ...]
    ext: str
    base_game: str | None
    base_shas: tuple[str, ...]
    """The base game's rom.sha: the ROMs the delta may have been made from."""
    base_folder: Path | None

    @property
    def delta(self) -> Path:
        return self.folder / "rom.delta"

    @property
    def destination(self) -> Path:
        return self.folder / ("rom" + self.ext)

    def installed_base(self) -> Path | None:
        """The base ROM file where the importer saves it, when it is there (its hash is not checked here)."""
        if self.base_folder is None or self.base_game is None:
            return None
        ext = rom_extension_for(self.base_game)
        path = self.base_folder / f"rom{ext}"
        return path if ext and path.is_file() else None


def _shas(path: Path) -> tuple[str, ...]:
    try:
        return tuple(path.read_text().split())
    except (OSError, UnicodeDecodeError):
        return ()


def patched_games(data_root: Path | None = None, custom_dirs: list[Path] | None = None) -> dict[str, PatchedGame]:
    """Every game with a rom.delta, by id (first folder in stable-retro's search order wins, as for any file)."""
    sha_folders: dict[str, Path] = {}
    delta_folders: dict[str, Path] = {}
    for _kind, base in integration_dirs(data_root, custom_dirs):
        try:
            names = sorted(os.listdir(base))
        except OSError:
            continue
        for name in names:
            folder = base / name
            if name not in sha_folders and (folder / "rom.sha").is_file():
                sha_folders[name] = folder
            if name not in delta_folders and (folder / "rom.delta").is_file() and (folder / "rom.sha").is_file():
                delta_folders[name] = folder
    found = {}
    for game, folder in delta_folders.items():
        ext = rom_extension_for(game)
        if ext is None:
            continue
        base = base_game_of(game, sha_folders)
        base_folder = sha_folders.get(base) if base else None
        found[game] = PatchedGame(game, folder, _shas(folder / "rom.sha"), ext, base,
                                  _shas(base_folder / "rom.sha") if base_folder else (), base_folder)
    return found


@dataclass(frozen=True)
class BuildResult:
    """What happened to one patched game."""

    game: str
    status: BuildStatus
    """'patched' (built and saved), 'present' (already built), 'conflict' (a different file is there and was
    kept), 'rejected' (no base given made the ROM rom.sha lists, or the delta is damaged: nothing written), 'failed'
    (could not read the delta or write the ROM)."""
    source: str
    """The base file it was built from (or the ones tried, joined by ', ')."""
    destination: str
    reason: str = ""


def build(game: PatchedGame, bases: Sequence[tuple[str, bytes]]) -> BuildResult:
    """Build `game`'s ROM from the first of `bases` ((file label, groomed ROM bytes)) its delta turns into a ROM
    whose SHA-1 the game lists; write it atomically. Never replaces an existing file."""
    labels = ", ".join(label for label, _ in bases)
    dest = game.destination

    def result(status: BuildStatus, reason: str = "", source: str = labels) -> BuildResult:
        return BuildResult(game.game, status, source, str(dest), reason)

    if dest.exists():
        try:
            installed = file_sha1(dest)
        except OSError as exc:
            return result("conflict", f"{dest} exists but cannot be read ({exc.strerror}); kept it")
        if installed in game.target_shas:
            return result("present", "this custom level ROM is already built")
        return result("conflict", f"a different file is installed at {dest} (SHA-1 {installed}); kept it — delete "
                      "it and import the base ROM again to build this one")
    try:
        delta = game.delta.read_bytes()
    except OSError as exc:
        return result("failed", f"cannot read {game.delta}: {exc.strerror or exc}")
    why = []
    for label, data in bases:
        try:
            out = apply_delta(data, delta)
        except DeltaError as exc:
            if not exc.wrong_base:
                return result("rejected", f"{game.delta} cannot be applied to {label}: {exc}; nothing written")
            why.append(f"{game.delta} does not apply to {label} (SHA-1 {hashlib.sha1(data).hexdigest()}): {exc}")
            continue
        sha = hashlib.sha1(out).hexdigest()
        if sha not in game.target_shas:
            why.append(f"{game.delta} applied to {label} makes a ROM with SHA-1 {sha}, not the "
                       f"{' or '.join(game.target_shas) or '(none listed)'} that {game.folder / 'rom.sha'} lists")
            continue
        try:
            atomic_write_bytes(dest, out)
        except OSError as exc:
            return result("failed", f"cannot write {dest}: {exc.strerror or exc}", label)
        return result("patched", f"built from {label} with {game.delta}", label)
    if not bases:
        return result("rejected", f"no copy of {game.base_game or 'its base game'} to build it from")
    return result("rejected", "; ".join(why) + "; nothing written")
