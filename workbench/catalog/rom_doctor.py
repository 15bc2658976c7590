"""Why a file matched no game: what it most likely is (its header, else its name and size), which known games
come closest and which SHA-1s they expect, and whether a common fix (a copier or iNES header, an interleaved .smd
dump) would make it match. stable-retro's importer only says "Imported 0 games"; this says why.
"""
from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Mapping

from workbench.catalog.rom_headers import (
    SMD_HEADER, HeaderInfo, deinterleave_smd, read_header, smd_interleaved,
)
from workbench.catalog.systems import system_of

KNOWN_RELEASES = {
    "69e102855d4389c3fd1a8f3dc7d193f8eee5fe5b": "Sonic The Hedgehog (W) (REV01)",
    "8bca5dcef1af3e00098666fd892dc1c2a76333f9": "Sonic The Hedgehog 2 (W) (REV01)",
    "cfbf98c36c776677290a872547ac47c53d2761d6": "Sonic and Knuckles & Sonic 3 (W)",
}
"""Release names (as ROM sets label them) of the benchmark's base ROMs, so advice can say which revision to find."""
_ROM_SUFFIXES = {".md", ".gen", ".smd", ".bin", ".rom", ".32x", ".sms", ".gg", ".nes", ".unf", ".sfc", ".smc", ".fig",
                 ".gb", ".gbc", ".gba", ".n64", ".v64", ".z64", ".a26", ".pce", ".zip"}
"""File names a ROM usually has; a headerless file named otherwise is not matched against game names."""
_SYSTEM_NAMES = {"Atari2600": "Atari 2600", "GbColor": "Game Boy Color", "GameBoy": "Game Boy", "GbAdvance": "GBA",
                 "Sms": "Master System", "GameGear": "Game Gear", "PCEngine": "PC Engine", "Nes": "NES",
                 "Snes": "SNES", "32x": "32X"}
_SYSTEM_ALIASES = {"GbColor": ("GbColor", "GameBoy"), "GameBoy": ("GameBoy", "GbColor"), "32x": ("32x", "Genesis")}


def _key(text: str) -> str:
    """Comparable form of a title, file name or game id: 'Sonic The Hedgehog (USA) [!].md' -> 'sonicthehedgehog'."""
    text = re.sub(r"[(\[].*?[)\]]", " ", text)
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _game_key(game: str) -> str:
    return _key(re.sub(r"-v\d+$", "", game).rsplit("-", 1)[0])


@dataclass(frozen=True)
class Candidate:
    game: str
    shas: tuple[str, ...]
    score: float

    def expects(self) -> str:
        return " or ".join(f"{sha}" + (f" ({KNOWN_RELEASES[sha]})" if sha in KNOWN_RELEASES else "")
                           for sha in self.shas)


@dataclass
class Diagnosis:
    name: str
    sha1: str
    size: int
    header: HeaderInfo | None
    candidates: list[Candidate] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)
    """Changes to the file that would make it a known ROM, with the game it becomes."""

    def looks_like(self) -> str:
        if self.header is None:
            return f"no ROM header stable-retro's systems use was found ({self.size} bytes)"
        system = _SYSTEM_NAMES.get(self.header.system, self.header.system)
        what = self.header.title or f"{'an' if system[0] in 'AEIOU' else 'a'} {system} ROM"
        return f"looks like {what} ({self.header.describe()})"

    def summary(self) -> str:
        """One sentence for an import result."""
        parts = [self.looks_like()]
        parts += self.header.notes if self.header else []
        if self.fixes:
            parts.append(self.fixes[0])
        elif self.candidates:
            best = self.candidates[0]
            parts.append(f"the closest game stable-retro knows, {best.game}, needs SHA-1 {best.expects()} — "
                         "another revision, region or a modified dump has a different SHA-1")
        return "; ".join(parts)

    def report(self) -> list[str]:
        """Lines for `workbench roms doctor`."""
        lines = [f"{self.name}: {self.size} bytes, SHA-1 {self.sha1}", f"  {self.looks_like()}"]
        lines += [f"  note: {note}" for note in (self.header.notes if self.header else [])]
        lines += [f"  fix: {fix}" for fix in self.fixes]
        if self.candidates:
            lines.append("  closest games stable-retro knows:")
            lines += [f"    {c.game}: SHA-1 {c.expects()}" for c in self.candidates]
        elif not self.fixes:
            lines.append("  no known game has a similar name; `workbench catalog --search WORD` lists them")
        return lines


class KnownGames:
    """The games the importer knows, indexed once for many diagnoses: game id -> its rom.sha, SHA-1 -> game."""

    def __init__(self, games: Mapping[str, tuple[str, ...]], shas: Mapping[str, str]):
        self.games = games
        self.shas = shas
        self._keys: dict[str, list[tuple[str, str]]] = {}
        for game in sorted(games):
            self._keys.setdefault(system_of(game), []).append((game, _game_key(game)))

    def closest(self, names: list[str], system: str | None, n: int = 3) -> list[Candidate]:
        """Known games whose id is most like any of `names` (titles, file names), of `system` when known."""
        systems = _SYSTEM_ALIASES.get(system, (system,)) if system else list(self._keys)
        pool = [pair for s in systems for pair in self._keys.get(s, ())]
        scores: dict[str, float] = {}
        for name in dict.fromkeys(filter(None, (_key(n) for n in names))):
            matcher = difflib.SequenceMatcher(None, "", name)  # seq2 is the one it caches: the name
            for game, key in pool:
                matcher.set_seq1(key)
                if matcher.real_quick_ratio() < 0.6 or matcher.quick_ratio() < 0.6:
                    continue
                score = matcher.ratio() + (0.05 if key.startswith(name) or name.startswith(key) else 0)
                if score >= 0.6 and score > scores.get(game, 0):
                    scores[game] = score
        ranked = sorted(scores, key=lambda g: (-scores[g], g))[:n]
        return [Candidate(g, self.games[g], round(scores[g], 3)) for g in ranked]


def _regroomed(name: str, data: bytes) -> list[tuple[str, bytes]]:
    """(what was done, bytes whose SHA-1 stable-retro would compare) for the usual ways a dump differs."""
    out = []
    if smd_interleaved(data):
        out.append(("converted from an interleaved .smd dump to a plain one", deinterleave_smd(data)))
    if data[:4] == b"NES\x1a" and not name.lower().endswith(".nes"):
        out.append(("named .nes (stable-retro drops the 16-byte iNES header only for .nes files)", data[16:]))
    if len(data) > SMD_HEADER and len(data) % 0x400 == SMD_HEADER:
        out.append(("without its 512-byte copier header", data[SMD_HEADER:]))
    if data[:4] in (b"\x37\x80\x40\x12", b"\x40\x12\x37\x80"):  # N64 in byte-swapped / little-endian order
        swapped = bytearray(data)
        if data[0] == 0x37:
            swapped[0::2], swapped[1::2] = data[1::2], data[0::2]
        else:
            swapped = bytearray(b"".join(bytes(reversed(data[i:i + 4])) for i in range(0, len(data), 4)))
        out.append(("converted to big-endian .z64 byte order", bytes(swapped)))
    return out


def diagnose(name: str, data: bytes, sha1: str | None, known: KnownGames) -> Diagnosis:
    """`data`: the file's bytes as the importer read them (`name` is its file name)."""
    sha1 = sha1 or hashlib.sha1(data).hexdigest()
    header = read_header(name, data)
    diagnosis = Diagnosis(name, sha1, len(data), header)
    for how, fixed in _regroomed(name, data):
        game = known.shas.get(hashlib.sha1(fixed).hexdigest())
        if game is not None:
            diagnosis.fixes.append(f"{how}, it is the ROM of {game}: save it that way and import it again")
    suffix = PurePath(name).suffix.lower()
    if header is None and suffix not in _ROM_SUFFIXES:
        return diagnosis  # a document or picture in a ROM folder: no game names to guess from
    names = [header.title or "", PurePath(name).stem] if header else [PurePath(name).stem]
    diagnosis.candidates = known.closest(names, header.system if header else None)
    return diagnosis
