"""Import ROM files the user owns into stable-retro, the way its `scripts/import_path.py` does, but reporting
every file and never replacing a ROM that is already installed.

A file matches a game when its SHA-1 (after `stable_retro.data.groom_rom` strips copier headers) is listed in the
game's rom.sha; it is then saved as the game's `rom.<ext>` in the integration folder holding that rom.sha. A file
that is the base of a game with a rom.delta (the Retro Contest's custom levels) also builds that game
(`contest_deltas`); a file that matches nothing gets `rom_doctor`'s guess of what it is in its reason.
"""
from __future__ import annotations

import functools
import io
import json
import os
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Literal

from workbench.catalog.contest_deltas import PatchedGame, build, patched_games
from workbench.catalog.rom_doctor import KnownGames, diagnose
from workbench.catalog.rom_hashes import file_sha1
from workbench.catalog.systems import integration_dirs, rom_extension_for
from workbench.core.paths import atomic_write_bytes

ImportStatus = Literal["imported", "present", "conflict", "unknown", "unreadable", "failed", "patched", "rejected"]
STATUSES: tuple[ImportStatus, ...] = ("imported", "patched", "present", "conflict", "unknown", "unreadable",
                                      "rejected", "failed")
Progress = Callable[[int, int, str], None]
MAX_ROM_BYTES = 0x2000000  # 32 MiB: the largest game stable-retro supports (groom_rom's limit)
MAX_ZIP_DEPTH = 4
MAX_NESTED_ZIP_BYTES = 512 << 20  # a zip inside a zip is read into memory


@dataclass(frozen=True)
class ImportResult:
    """What happened to one file (a file inside a zip is named `archive.zip/inner/name`)."""

    path: str
    status: ImportStatus
    """'imported'; 'present' (the same ROM is already installed); 'conflict' (a different file is installed
    for that game and was kept); 'unknown' (no game has this SHA-1); 'unreadable'; 'failed' (could not write);
    'patched' (a custom level ROM built from this file and the game's rom.delta); 'rejected' (the game's rom.delta
    did not make its ROM from this file, or is damaged: nothing written)."""
    game: str | None = None
    destination: str | None = None
    reason: str = ""

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class KnownRom:
    game: str
    ext: str
    game_dir: Path


def known_hashes(data_root: Path | None = None, custom_dirs: list[Path] | None = None) -> dict[str, KnownRom]:
    """SHA-1 -> where that ROM belongs; like `stable_retro.data.get_known_hashes()` (where several integration
    folders list the same SHA-1, the later one in search order wins, as there) but for any data root."""
    known: dict[str, KnownRom] = {}
    for _kind, base in integration_dirs(data_root, custom_dirs):
        try:
            names = sorted(os.listdir(base))
        except OSError:
            continue
        for game in names:
            try:
                shas = (base / game / "rom.sha").read_text().split()
            except (OSError, UnicodeDecodeError):
                continue
            ext = rom_extension_for(game)
            if ext is None:
                continue
            for sha in shas:
                known[sha] = KnownRom(game, ext, base / game)
    return known


def known_games(known: dict[str, KnownRom]) -> KnownGames:
    games: dict[str, list[str]] = {}
    for sha, rom in known.items():
        games.setdefault(rom.game, []).append(sha)
    return KnownGames({game: tuple(shas) for game, shas in games.items()}, {k: v.game for k, v in known.items()})


def groom(name: str, stream: BinaryIO) -> tuple[bytes, str]:
    """(bytes to save, SHA-1 to match) via stable-retro's own `groom_rom`; ValueError when it is not a ROM."""
    import stable_retro.data

    try:
        return stable_retro.data.groom_rom(name, stream)
    except ValueError:
        raise
    except Exception as exc:  # groom_rom's SMD path is fragile on odd input; any failure means "not a ROM"
        raise ValueError(f"cannot read it as a ROM ({exc})") from exc


class _Importer:
    def __init__(self, known: dict[str, KnownRom], patched: dict[str, PatchedGame] | None = None):
        self.known = known
        self.results: list[ImportResult] = []
        self.patched = patched or {}
        self._base_shas = {sha for game in self.patched.values() for sha in game.base_shas}
        self.bases: dict[str, tuple[str, bytes]] = {}
        """Base ROMs of patched games seen in this import: SHA-1 -> (first file label, groomed bytes)."""
        self._index: KnownGames | None = None

    # -- one candidate -------------------------------------------------------------------------
    def consider(self, label: str, name: str, stream: BinaryIO) -> ImportResult:
        try:
            data, sha = groom(name, stream)
        except ValueError as exc:
            return self._add(label, "unknown", reason=_not_rom_reason(exc))
        except OSError as exc:
            return self._add(label, "unreadable", reason=exc.strerror or str(exc))
        match = self.known.get(sha)
        if match is None:
            diagnosis = diagnose(label, data, sha, self.index())
            return self._add(label, "unknown", reason=f"SHA-1 {sha} matches no game stable-retro knows; "
                             + diagnosis.summary())
        if sha in self._base_shas:
            self.bases.setdefault(sha, (label, data))
        return self._install(label, data, sha, match)

    def index(self) -> KnownGames:
        """The known games for `rom_doctor` (built on the first file that matches none)."""
        if self._index is None:
            self._index = known_games(self.known)
        return self._index

    # -- custom levels -------------------------------------------------------------------------
    def build_patched(self) -> None:
        """Build every patched game whose base ROM came by in this import (and was not itself imported as a
        finished ROM); the base already installed is tried too, after the files given."""
        done = {r.game for r in self.results if r.status in ("imported", "present")}
        for game in self.patched.values():
            offered = [self.bases[sha] for sha in game.base_shas if sha in self.bases]
            if not offered or game.game in done:
                continue
            installed = game.installed_base()
            if installed is not None and str(installed) not in {label for label, _ in offered}:
                try:
                    if file_sha1(installed) in set(game.base_shas) - set(self.bases):
                        offered.append((str(installed), installed.read_bytes()))
                except OSError:
                    pass  # then only the files given are tried
            result = build(game, offered)
            self._add(result.source, result.status, result.game, result.destination, result.reason)

    def _install(self, label: str, data: bytes, sha: str, match: KnownRom) -> ImportResult:
        dest = match.game_dir / ("rom" + match.ext)
        if dest.exists():
            try:
                installed = file_sha1(dest)
            except OSError as exc:
                return self._add(label, "conflict", match.game, str(dest),
                                 f"{dest} exists but cannot be read ({exc.strerror}); kept it")
            if installed == sha:
                return self._add(label, "present", match.game, str(dest), "this ROM is already installed")
            return self._add(label, "conflict", match.game, str(dest),
                             f"a different file is installed at {dest} (SHA-1 {installed}); kept it — "
                             "delete it first to install this one")
        try:
            atomic_write_bytes(dest, data)
            original = _original_rom_name(match.game_dir)
            if original and not (match.game_dir / original).exists():
                atomic_write_bytes(match.game_dir / original, data)  # FBNeo cores look for the original name
        except OSError as exc:
            return self._add(label, "failed", match.game, str(dest), f"cannot write {dest}: {exc.strerror or exc}")
        return self._add(label, "imported", match.game, str(dest))

    def _add(self, label: str, status: ImportStatus, game: str | None = None, destination: str | None = None,
             reason: str = "") -> ImportResult:
        result = ImportResult(label, status, game, destination, reason)
        self.results.append(result)
        return result

    # -- files and archives -------------------------------------------------------------------
    def file(self, path: Path) -> None:
        label = str(path)
        try:
            with open(path, "rb") as f:
                if path.suffix.lower() != ".zip":
                    self.consider(label, path.name, f)
                    return
                whole = self.consider(label, path.name, f)  # arcade sets are matched as whole archives
                if whole.status != "unknown":
                    return
                self.results.pop()  # a zip that is not a ROM itself is only a container
                f.seek(0)
                self.archive(label, f, depth=1)
        except OSError as exc:
            self._add(label, "unreadable", reason=exc.strerror or str(exc))

    def archive(self, label: str, stream: BinaryIO, depth: int) -> None:
        try:
            with zipfile.ZipFile(stream) as zf:
                entries = [e for e in zf.infolist() if not e.is_dir()]
                if not entries:
                    self._add(label, "unknown", reason="empty zip archive")
                for entry in entries:
                    inner = f"{label}/{entry.filename}"
                    is_zip = entry.filename.lower().endswith(".zip")
                    if entry.file_size > (MAX_NESTED_ZIP_BYTES if is_zip else MAX_ROM_BYTES):
                        self._add(inner, "unknown", reason="too large to be a ROM (stable-retro's largest is 32 MiB)"
                                  if not is_zip else "nested archive too large to open in memory")
                        continue
                    try:
                        with zf.open(entry) as member:
                            if entry.filename.lower().endswith(".zip"):
                                self._nested(inner, entry.filename, member, depth)
                            else:
                                self.consider(inner, entry.filename, member)
                    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError) as exc:
                        # RuntimeError: encrypted entry; NotImplementedError: unsupported compression
                        self._add(inner, "unreadable", reason=f"cannot extract from the archive ({exc})")
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
            self._add(label, "unreadable", reason=f"not a readable zip archive ({exc})")

    def _nested(self, label: str, name: str, member: BinaryIO, depth: int) -> None:
        data = member.read()
        whole = self.consider(label, name, io.BytesIO(data))
        if whole.status != "unknown":
            return
        self.results.pop()
        if depth >= MAX_ZIP_DEPTH:
            self._add(label, "unknown", reason=f"zip archives nested more than {MAX_ZIP_DEPTH} deep are not opened")
            return
        self.archive(label, io.BytesIO(data), depth + 1)


def _not_rom_reason(exc: ValueError) -> str:
    if "too big" in str(exc):
        return "larger than 32 MiB, the largest ROM stable-retro supports"
    return str(exc)


def _original_rom_name(game_dir: Path) -> str | None:
    try:
        name = json.loads((game_dir / "metadata.json").read_text()).get("original_rom_name")
    except (OSError, ValueError, AttributeError):
        return None
    return name if isinstance(name, str) and "/" not in name and name not in ("", ".", "..") else None


def _expand(paths: Iterable[str | os.PathLike]) -> tuple[list[Path], list[ImportResult]]:
    """Files to look at (folders walked recursively, sorted), and results for paths that do not exist."""
    files: list[Path] = []
    missing: list[ImportResult] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for root, dirs, names in os.walk(path, onerror=lambda e: missing.append(
                    ImportResult(str(e.filename), "unreadable", reason=e.strerror or str(e)))):
                dirs.sort()
                files.extend(Path(root) / name for name in sorted(names))
        elif path.exists():
            files.append(path)
        else:
            missing.append(ImportResult(str(path), "unreadable", reason="no such file or folder"))
    return files, missing


def import_roms(paths: Iterable[str | os.PathLike], progress: Progress | None = None,
                data_root: Path | None = None, custom_dirs: list[Path] | None = None) -> list[ImportResult]:
    """Import every ROM found in `paths` (files, folders walked recursively, zip archives also nested).

    Returns one result per file looked at (per entry for archives), in order, then one per custom level game
    (a rom.delta integration) built from a base ROM among them. `progress(done, total, path)` is called after each
    file. `data_root`/`custom_dirs` default to stable-retro's data folder and the custom
    integration folders (tests point them elsewhere).
    """
    files, missing = _expand(paths)
    importer = _Importer(known_hashes(data_root, custom_dirs), patched_games(data_root, custom_dirs))
    importer.results.extend(missing)
    for done, path in enumerate(files, start=1):
        importer.file(path)
        if progress is not None:
            progress(done, len(files), str(path))
    importer.build_patched()
    return importer.results


def ale_rom_files() -> list[Path]:
    """The Atari 2600 ROM files that ship inside ale-py."""
    import importlib.util

    spec = importlib.util.find_spec("ale_py.roms")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(list(spec.submodule_search_locations)[0])
    return sorted(folder.glob("*.bin"))


def import_atari(progress: Progress | None = None, data_root: Path | None = None) -> list[ImportResult]:
    """Import the Atari 2600 ROMs shipped with ale-py (32 of them match stable-retro games)."""
    return import_roms(ale_rom_files(), progress=progress, data_root=data_root)


def diagnose_file(path: Path, data_root: Path | None = None, custom_dirs: list[Path] | None = None) -> dict:
    """`rom_doctor`'s report on one file (a zip is read as a whole, as an arcade set; `import` looks inside):
    {'path', 'sha1', 'game' (the game it already matches, or None), 'summary', 'lines'}. OSError if unreadable."""
    known = known_hashes(data_root, custom_dirs)
    with open(path, "rb") as f:
        try:
            data, sha = groom(path.name, f)
        except ValueError as exc:
            reason = _not_rom_reason(exc)
            return {"path": str(path), "sha1": None, "game": None, "summary": reason,
                    "lines": [f"{path}: {reason}"]}
    match = known.get(sha)
    if match is not None:
        line = f"{path}: SHA-1 {sha} is the ROM of {match.game}; `workbench roms import` installs it"
        return {"path": str(path), "sha1": sha, "game": match.game, "summary": line, "lines": [line]}
    diagnosis = diagnose(str(path), data, sha, known_games(known))
    return {"path": str(path), "sha1": sha, "game": None, "summary": diagnosis.summary(),
            "lines": diagnosis.report()}


def summarize(results: Iterable[ImportResult]) -> dict[str, int]:
    counts = {status: 0 for status in STATUSES}
    for result in results:
        counts[result.status] += 1
    return counts


@functools.lru_cache(maxsize=4)
def ale_importable_games(data_root: Path | None = None) -> frozenset[str]:
    """Game ids whose ROM `import_atari()` would install (depends only on shipped files, so computed once)."""
    from workbench.catalog.rom_hashes import RomHashCache

    known = known_hashes(data_root)
    cache = RomHashCache()
    games = set()
    for path in ale_rom_files():
        try:
            match = known.get(cache.sha1(path))
        except OSError:
            continue
        if match is not None:
            games.add(match.game)
    cache.save()
    return frozenset(games)
