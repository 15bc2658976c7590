"""What a ROM file's own header says about it (system, title, region, revision), for the systems stable-retro
emulates. Only reading: `rom_doctor` turns this into advice. Layouts are the cartridges' documented headers (Sega's
at 0x100, iNES, the SNES internal header, Nintendo's Game Boy / GBA headers, N64's); Atari 2600 and PC Engine
cartridges have none, so only size and name hint at them.
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import PurePath

SMD_HEADER = 512
"""Copier header in front of Genesis (.smd), SNES (.smc) and PC Engine dumps."""


@dataclass
class HeaderInfo:
    system: str
    """stable-retro's system name: Genesis, 32x, Nes, Snes, Sms, GameGear, GameBoy, GbColor, GbAdvance, N64,
    Atari2600, PCEngine."""
    evidence: str
    """What it was read from, e.g. 'Genesis header' or 'size only'."""
    title: str | None = None
    region: str | None = None
    revision: str | None = None
    serial: str | None = None
    notes: list[str] = field(default_factory=list)
    """Problems the header shows (bad checksum, size that disagrees with the header, copier header...)."""

    def describe(self) -> str:
        parts = [self.evidence]
        if self.serial:
            parts.append(f"serial {self.serial}")
        if self.revision:
            parts.append(self.revision)
        if self.region:
            parts.append(f"region {self.region}")
        return ", ".join(parts)


def _text(raw: bytes) -> str:
    """Header text as printed: printable ASCII, runs of spaces collapsed."""
    return re.sub(r"\s+", " ", "".join(chr(b) if 32 <= b < 127 else " " for b in raw)).strip()


def _printable(raw: bytes) -> bool:
    return bool(raw.strip(b" \x00")) and all(32 <= b < 127 or b == 0 for b in raw)


# -- Sega ----------------------------------------------------------------------------------------------------------
def genesis(data: bytes) -> HeaderInfo | None:
    if len(data) < 0x200 or b"SEGA" not in data[0x100:0x105]:  # some games start the field with a space
        return None
    console = _text(data[0x100:0x110])
    system = "32x" if "32X" in console else "Genesis"
    title = _text(data[0x150:0x180]) or _text(data[0x120:0x150])
    serial = _text(data[0x180:0x18E])
    revision = None
    rev = re.search(r"-\s*(\d{2})$", serial)
    if rev:
        revision = f"REV{rev.group(1)}"
    info = HeaderInfo(system, f"{'32X' if system == '32x' else 'Genesis'} header", title or None,
                      _text(data[0x1F0:0x1F3]) or None, revision, serial or None)
    stored = struct.unpack(">H", data[0x18E:0x190])[0]
    body = data[0x200:] + (b"\x00" if len(data) % 2 else b"")
    computed = sum(struct.unpack(f">{len(body) // 2}H", body)) & 0xFFFF
    if stored != computed:
        info.notes.append(f"its header checksum 0x{stored:04x} does not match the data (0x{computed:04x}): a "
                          "modified, hacked or bad dump, or a game that never set it")
    return info


def smd_interleaved(data: bytes) -> bool:
    """A Super Magic Drive dump: 512-byte header (0xAA 0xBB at 8), then 16 KiB blocks split in odd/even bytes."""
    return len(data) > SMD_HEADER and (len(data) - SMD_HEADER) % 0x4000 == 0 and data[8:10] == b"\xaa\xbb"


def deinterleave_smd(data: bytes) -> bytes:
    out = bytearray()
    for start in range(SMD_HEADER, len(data), 0x4000):
        block = data[start:start + 0x4000]
        half = len(block) // 2
        mixed = bytearray(len(block))
        mixed[1::2], mixed[0::2] = block[:half], block[half:]
        out += mixed
    return bytes(out)


_SMS_REGIONS = {3: ("Sms", "Japan"), 4: ("Sms", "export"), 5: ("GameGear", "Japan"), 6: ("GameGear", "export"),
                7: ("GameGear", "international")}


def sms(data: bytes) -> HeaderInfo | None:
    for offset in (0x7FF0, 0x3FF0, 0x1FF0):
        if data[offset:offset + 8] == b"TMR SEGA":
            system, region = _SMS_REGIONS.get(data[offset + 0xF] >> 4, ("Sms", None))
            code = data[offset + 0xC:offset + 0xF]
            product = f"{code[2] >> 4:x}{code[1]:02x}{code[0]:02x}".lstrip("0") or "0"
            return HeaderInfo(system, f"{'Game Gear' if system == 'GameGear' else 'Master System'} header",
                              region=region, revision=f"version {data[offset + 0xE] & 0xF}", serial=product)
    return None


# -- Nintendo ------------------------------------------------------------------------------------------------------
def ines(data: bytes) -> HeaderInfo | None:
    if data[:4] != b"NES\x1a" or len(data) < 16:
        return None
    prg, chr_, f6, f7 = data[4] * 0x4000, data[5] * 0x2000, data[6], data[7]
    nes2 = (f7 & 0x0C) == 0x08
    mapper = (f6 >> 4) | (f7 & 0xF0) | ((data[8] & 0x0F) << 8 if nes2 else 0)
    info = HeaderInfo("Nes", f"{'NES 2.0' if nes2 else 'iNES'} header: mapper {mapper}, {prg // 1024} KiB PRG, "
                      f"{chr_ // 1024} KiB CHR")
    expected = 16 + (512 if f6 & 0x04 else 0) + prg + chr_
    if f6 & 0x04:
        info.notes.append("it has a 512-byte trainer, which stable-retro's dumps do not")
    if len(data) != expected:
        info.notes.append(f"the header promises {expected} bytes, the file has {len(data)}: an over- or under-dump")
    return info


_SNES_REGIONS = {0: "Japan", 1: "USA", 2: "Europe", 3: "Sweden", 6: "France", 7: "Netherlands", 8: "Spain",
                 9: "Germany", 10: "Italy", 11: "China", 13: "Korea", 15: "Canada", 16: "Brazil", 17: "Australia"}


def snes(data: bytes) -> HeaderInfo | None:
    best: tuple[int, int] | None = None
    copier = SMD_HEADER if len(data) % 0x400 == SMD_HEADER else 0
    for base in (0x7FC0, 0xFFC0, 0x40FFC0):
        at = base + copier
        if at + 0x20 > len(data):
            continue
        title, mode = data[at:at + 21], data[at + 0x15]
        complement, checksum = struct.unpack("<HH", data[at + 0x1C:at + 0x20])
        score = (4 if complement ^ checksum == 0xFFFF else 0) + (2 if _printable(title) else 0)
        score += 1 if (mode & 0xE0) == 0x20 and (mode & 1) == (base != 0x7FC0) else 0
        if score >= 5 and (best is None or score > best[0]):
            best = (score, at)
    if best is None:
        return None
    at = best[1]
    info = HeaderInfo("Snes", "SNES header", _text(data[at:at + 21]) or None,
                      _SNES_REGIONS.get(data[at + 0x19], f"code {data[at + 0x19]}"), f"version 1.{data[at + 0x1B]}")
    if copier:
        info.notes.append("it starts with a 512-byte copier header (.smc)")
    return info


_NINTENDO_LOGO_START = bytes.fromhex("ceed6666cc0d000b")


def game_boy(data: bytes) -> HeaderInfo | None:
    if len(data) < 0x150 or data[0x104:0x10C] != _NINTENDO_LOGO_START:
        return None
    cgb = data[0x143] in (0x80, 0xC0)
    system = "GbColor" if data[0x143] == 0xC0 else "GameBoy"
    title = _text(data[0x134:0x13F if cgb else 0x144])
    check = 0
    for byte in data[0x134:0x14D]:
        check = (check - byte - 1) & 0xFF
    info = HeaderInfo(system, "Game Boy Color header" if cgb else "Game Boy header", title or None,
                      "Japan" if data[0x14A] == 0 else "overseas", f"version {data[0x14C]}")
    if check != data[0x14D]:
        info.notes.append(f"its header checksum 0x{data[0x14D]:02x} does not match (0x{check:02x}): a bad dump")
    return info


def gba(data: bytes) -> HeaderInfo | None:
    if len(data) < 0xC0 or data[0xB2] != 0x96:
        return None
    code = _text(data[0xAC:0xB0])
    check = (-sum(data[0xA0:0xBD]) - 0x19) & 0xFF
    info = HeaderInfo("GbAdvance", "GBA header", _text(data[0xA0:0xAC]) or None, None,
                      f"version {data[0xBC]}", code or None)
    if check != data[0xBD]:
        info.notes.append(f"its header complement 0x{data[0xBD]:02x} does not match (0x{check:02x}): a bad dump")
    return info


_N64_ORDER = {b"\x80\x37\x12\x40": "big-endian .z64", b"\x37\x80\x40\x12": "byte-swapped .v64",
              b"\x40\x12\x37\x80": "little-endian .n64"}


def n64(data: bytes) -> HeaderInfo | None:
    order = _N64_ORDER.get(data[:4])
    if order is None or len(data) < 0x40:
        return None
    head = bytearray(data[:0x40])
    if order.startswith("byte"):
        head[0::2], head[1::2] = data[1:0x40:2], data[0:0x40:2]
    elif order.startswith("little"):
        head = bytearray(b"".join(bytes(reversed(head[i:i + 4])) for i in range(0, 0x40, 4)))
    return HeaderInfo("N64", f"N64 header ({order})", _text(bytes(head[0x20:0x34])) or None,
                      revision=f"version {head[0x3F]}", serial=_text(bytes(head[0x3B:0x3F])) or None)


# -- headerless --------------------------------------------------------------------------------------------------
ATARI_SIZES = {2048, 4096, 8192, 12288, 16384, 32768, 65536}


def headerless(name: str, data: bytes) -> HeaderInfo | None:
    ext = PurePath(name).suffix.lower()
    if ext in (".a26", ".bin") and len(data) in ATARI_SIZES:
        return HeaderInfo("Atari2600", f"by size only: {len(data) // 1024} KiB, an Atari 2600 cartridge size; "
                          "they have no header")
    if ext == ".pce":
        info = HeaderInfo("PCEngine", "by file extension only; PC Engine cartridges have no header")
        if len(data) % 0x2000 == SMD_HEADER:
            info.notes.append("it starts with a 512-byte copier header")
        return info
    return None


def read_header(name: str, data: bytes) -> HeaderInfo | None:
    """The best reading of `data`'s header, or None when nothing recognisable is there."""
    if smd_interleaved(data):
        info = genesis(deinterleave_smd(data))
        if info is not None:
            # stable-retro 1.0.1's parse_smd compares an int with b"E" and so never de-interleaves
            info.notes.insert(0, "it is an interleaved Super Magic Drive dump (.smd), which stable-retro hashes "
                              "as it is: it needs a plain (.md / .bin) dump")
            return info
    for reader in (ines, genesis, game_boy, gba, n64, snes, sms):
        info = reader(data)
        if info is not None:
            return info
    if len(data) > SMD_HEADER and (info := genesis(data[SMD_HEADER:])) is not None:
        info.notes.insert(0, "it starts with a 512-byte copier header")
        return info
    return headerless(name, data)
