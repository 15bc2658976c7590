"""The ROM doctor on headers built here byte by byte (no real ROM): what a file that matches no game most likely
is, and which SHA-1s the closest known games expect."""
from __future__ import annotations

import functools
import hashlib
import random
import shutil
import struct

import pytest

from workbench.catalog.rom_doctor import KnownGames, diagnose
from workbench.catalog.rom_headers import SMD_HEADER, deinterleave_smd, read_header
from workbench.catalog.roms import diagnose_file, import_roms, known_games, known_hashes
from workbench.catalog.systems import retro_data_root

SONIC1_SHA = "69e102855d4389c3fd1a8f3dc7d193f8eee5fe5b"


@functools.lru_cache(maxsize=1)
def _known() -> KnownGames:
    return known_games(known_hashes(custom_dirs=[]))


def _diagnose(name: str, data: bytes, extra_shas: dict[str, str] | None = None):
    known = _known()
    return diagnose(name, data, None, KnownGames(known.games, {**known.shas, **(extra_shas or {})}))


def genesis_rom(title: bytes = b"SONIC THE               HEDGEHOG", serial: bytes = b"GM 00001009-00",
                region: bytes = b"JUE", size: int = 0x80000, good_checksum: bool = True) -> bytes:
    rom = bytearray(random.Random(5).randbytes(size))
    rom[0x100:0x110] = b"SEGA MEGA DRIVE "
    rom[0x110:0x120] = b"(C)SEGA 1991.APR"
    rom[0x120:0x150] = title.ljust(48)
    rom[0x150:0x180] = title.ljust(48)
    rom[0x180:0x18E] = serial.ljust(14)
    rom[0x1F0:0x200] = region.ljust(16)
    checksum = sum(struct.unpack(f">{(size - 0x200) // 2}H", bytes(rom[0x200:]))) & 0xFFFF
    rom[0x18E:0x190] = struct.pack(">H", checksum if good_checksum else checksum ^ 0x1234)
    return bytes(rom)


def interleave_smd(rom: bytes) -> bytes:
    header = bytearray(SMD_HEADER)
    header[0], header[8], header[9] = len(rom) // 0x4000, 0xAA, 0xBB
    out = bytearray(header)
    for start in range(0, len(rom), 0x4000):
        block = rom[start:start + 0x4000]
        out += block[1::2] + block[0::2]
    return bytes(out)


def test_genesis_header_names_title_revision_region_and_the_sha_the_benchmark_needs():
    found = _diagnose("sonic1.md", genesis_rom())
    header = found.header
    assert (header.system, header.title, header.revision, header.region, header.serial) == (
        "Genesis", "SONIC THE HEDGEHOG", "REV00", "JUE", "GM 00001009-00")
    assert header.notes == []
    assert found.candidates[0].game == "SonicTheHedgehog-Genesis-v0"
    summary = found.summary()
    assert summary.startswith("looks like SONIC THE HEDGEHOG (Genesis header, serial GM 00001009-00, REV00, "
                              "region JUE)")
    assert f"SonicTheHedgehog-Genesis-v0, needs SHA-1 {SONIC1_SHA} (Sonic The Hedgehog (W) (REV01))" in summary
    assert any(SONIC1_SHA in line for line in found.report())


def test_genesis_bad_checksum_and_smd_dump_are_explained():
    bad = _diagnose("hack.bin", genesis_rom(b"SONIC THE HEDGEHOG 2", b"GM 00001051-01", good_checksum=False))
    assert bad.header.title == "SONIC THE HEDGEHOG 2" and bad.header.revision == "REV01"
    assert "header checksum" in bad.header.notes[0]
    assert bad.candidates[0].game == "SonicTheHedgehog2-Genesis-v0"

    plain = genesis_rom()
    smd = interleave_smd(plain)
    assert deinterleave_smd(smd) == plain
    found = _diagnose("sonic.smd", smd, {hashlib.sha1(plain).hexdigest(): "SynthSonic-Genesis-v0"})
    assert found.header.title == "SONIC THE HEDGEHOG" and "Super Magic Drive" in found.header.notes[0]
    assert found.fixes and "interleaved .smd" in found.fixes[0] and "SynthSonic-Genesis-v0" in found.fixes[0]


def test_ines_header_and_a_nes_file_with_the_wrong_extension():
    prg_chr = random.Random(2).randbytes(2 * 0x4000 + 0x2000)
    header = b"NES\x1a" + bytes([2, 1, 0x10, 0x00]) + bytes(8)
    found = _diagnose("Super Mario Bros. (World).nes", header + prg_chr)
    assert found.header.system == "Nes" and found.header.evidence == "iNES header: mapper 1, 32 KiB PRG, 8 KiB CHR"
    assert found.header.notes == [] and found.candidates[0].game == "SuperMarioBros-Nes-v0"
    assert "looks like a NES ROM (iNES header" in found.summary()

    short = _diagnose("smb.nes", header + prg_chr[:-100])
    assert "the header promises 40976 bytes, the file has 40876" in short.header.notes[0]
    renamed = _diagnose("smb.bin", header + prg_chr, {hashlib.sha1(prg_chr).hexdigest(): "SynthMario-Nes-v0"})
    assert "named .nes" in renamed.fixes[0] and "SynthMario-Nes-v0" in renamed.summary()


def snes_rom(title: bytes = b"SUPER MARIOWORLD", copier: bool = False) -> bytes:
    rom = bytearray(random.Random(3).randbytes(0x80000))
    at = 0x7FC0
    rom[at:at + 21] = title.ljust(21)
    rom[at + 0x15], rom[at + 0x16], rom[at + 0x17], rom[at + 0x19], rom[at + 0x1B] = 0x20, 0x02, 0x09, 0x01, 0x00
    checksum = 0x5A5A
    rom[at + 0x1C:at + 0x20] = struct.pack("<HH", checksum ^ 0xFFFF, checksum)
    return (bytes(SMD_HEADER) if copier else b"") + bytes(rom)


def test_snes_internal_header():
    found = _diagnose("smw.sfc", snes_rom())
    assert (found.header.system, found.header.title, found.header.region, found.header.revision) == (
        "Snes", "SUPER MARIOWORLD", "USA", "version 1.0")
    assert found.candidates[0].game == "SuperMarioWorld-Snes-v0"
    with_copier = _diagnose("smw.sfc", snes_rom(copier=True), {
        hashlib.sha1(snes_rom()).hexdigest(): "SynthWorld-Snes-v0"})
    assert with_copier.header.title == "SUPER MARIOWORLD" and "copier header" in with_copier.header.notes[0]
    assert "without its 512-byte copier header" in with_copier.fixes[0]


def test_atari_2600_by_size_and_name():
    found = _diagnose("Pitfall! (1982) (Activision).a26", random.Random(4).randbytes(4096))
    assert found.header.system == "Atari2600" and "4 KiB" in found.header.evidence
    assert found.candidates[0].game == "Pitfall-Atari2600-v0"
    assert found.summary().startswith("looks like an Atari 2600 ROM (by size only: 4 KiB")
    assert all(c.game.endswith("-Atari2600-v0") for c in found.candidates)


def test_game_boy_gba_sms_and_n64_headers():
    gb = bytearray(0x8000)
    gb[0x104:0x10C] = bytes.fromhex("ceed6666cc0d000b")
    gb[0x134:0x13A] = b"TETRIS"
    gb[0x14A] = 1
    check = 0
    for byte in gb[0x134:0x14D]:
        check = (check - byte - 1) & 0xFF
    gb[0x14D] = check
    found = _diagnose("tetris.gb", bytes(gb))
    assert (found.header.system, found.header.title, found.header.notes) == ("GameBoy", "TETRIS", [])
    assert found.candidates[0].game == "Tetris-GameBoy-v0"

    gba = bytearray(0x200)
    gba[0xA0:0xAC], gba[0xAC:0xB0], gba[0xB2] = b"POKEMON RUBY", b"AXVE", 0x96
    gba[0xBD] = (-sum(gba[0xA0:0xBD]) - 0x19) & 0xFF
    assert (read_header("r.gba", bytes(gba)).title, read_header("r.gba", bytes(gba)).serial) == ("POKEMON RUBY", "AXVE")

    sms = bytearray(0x8000)
    sms[0x7FF0:0x7FF8], sms[0x7FFF] = b"TMR SEGA", 0x4C
    assert (read_header("s.sms", bytes(sms)).system, read_header("s.sms", bytes(sms)).region) == ("Sms", "export")

    n64 = bytearray(0x1000)
    n64[:4], n64[0x20:0x34] = b"\x80\x37\x12\x40", b"SUPER MARIO 64".ljust(20)
    assert read_header("m.z64", bytes(n64)).title == "SUPER MARIO 64"
    swapped = bytearray(len(n64))
    swapped[0::2], swapped[1::2] = n64[1::2], n64[0::2]
    info = read_header("m.v64", bytes(swapped))
    assert info.title == "SUPER MARIO 64" and "byte-swapped" in info.evidence


def test_random_bytes_have_no_header():
    found = _diagnose("junk.dat", random.Random(9).randbytes(1000))
    assert found.header is None and found.summary().startswith("no ROM header") and found.candidates == []
    named = _diagnose("Sonic The Hedgehog 2 (World).bin", random.Random(9).randbytes(1000))
    assert named.header is None and named.candidates[0].game == "SonicTheHedgehog2-Genesis-v0"


def test_import_and_doctor_command_explain_an_unknown_file(retro_root, custom_dir, tmp_path):
    real = retro_data_root() / "stable" / "SonicTheHedgehog-Genesis-v0"
    shutil.copytree(real, retro_root / "stable" / real.name, ignore=shutil.ignore_patterns("rom.md"))
    rom = tmp_path / "Sonic The Hedgehog (USA, Europe).md"
    rom.write_bytes(genesis_rom())
    (result,) = import_roms([rom], data_root=retro_root, custom_dirs=[custom_dir])
    assert result.status == "unknown" and "matches no game stable-retro knows" in result.reason
    assert "looks like SONIC THE HEDGEHOG" in result.reason and SONIC1_SHA in result.reason
    report = diagnose_file(rom, data_root=retro_root, custom_dirs=[custom_dir])
    assert report["game"] is None and report["sha1"] == hashlib.sha1(genesis_rom()).hexdigest()
    assert any(f"SonicTheHedgehog-Genesis-v0: SHA-1 {SONIC1_SHA}" in line for line in report["lines"])


@pytest.mark.parametrize("size", [0, 1, 0x100, 0x1FF, 0x200, 0x7FF0])
def test_tiny_files_do_not_break_the_readers(size):
    data = random.Random(size).randbytes(size)
    for name in ("x.md", "x.nes", "x.sfc", "x.gb", "x.a26", "x.pce", "x.smd"):
        _diagnose(name, data).summary()
