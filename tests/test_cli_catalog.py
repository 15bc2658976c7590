"""`workbench catalog`, `workbench roms`, `workbench preset check` as a user runs them."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from workbench.catalog.systems import retro_data_root
from workbench.cli import main
from workbench.core.paths import DEFAULT_PRESET, PRESETS_DIR, SOURCE_ROOT
from workbench.core.presets import load_preset, save_preset
from bad_settings import BAD_SETTINGS, IDS, apply

SONIC_MISSING = "SonicTheHedgehog-Genesis-v0, SonicTheHedgehog2-Genesis-v0, SonicAndKnuckles3-Genesis-v0"


def _workbench(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True,
                          cwd=SOURCE_ROOT, env={**os.environ, **(env or {})}, timeout=120)


def test_catalog_json_lists_every_game_and_playable_ones(capsys, atari_roms):
    assert main(["catalog", "--json"]) == 0
    games = json.loads(capsys.readouterr().out)
    assert len(games) >= 1000 and {"id", "system", "states", "default_state", "integration", "playable"} <= set(games[0])
    assert main(["catalog", "--playable", "--json"]) == 0
    playable = json.loads(capsys.readouterr().out)
    assert len(playable) >= 33 and all(g["playable"] for g in playable)
    assert "Airstriker-Genesis-v0" in {g["id"] for g in playable}
    assert main(["catalog", "--system", "Atari2600", "--playable"]) == 0
    table = capsys.readouterr().out
    assert table.startswith("GAME") and "Pong-Atari2600-v0" in table and "Airstriker" not in table
    assert main(["catalog", "--system", "Amiga"]) == 2
    assert "no system named 'Amiga'" in capsys.readouterr().err


def test_preset_check_of_the_sonic_benchmark(capsys):
    assert main(["preset", "check", str(PRESETS_DIR / "sonic-benchmark.toml")]) == 1
    out = capsys.readouterr().out
    assert "47 train levels, 11 test levels" in out
    assert f"Missing ROMs: {SONIC_MISSING}" in out
    assert main(["preset", "check", str(DEFAULT_PRESET)]) == 0
    assert "0 errors, 0 warnings" in capsys.readouterr().out


def test_broken_preset_exits_nonzero_with_file_line_reason(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "b"\n[levels]\ntrain = ["Airstriker-Genesis-v0:Level1"\n')
    result = _workbench("preset", "check", str(broken))
    assert result.returncode == 1
    assert f"{broken}:3: error: malformed TOML: Unclosed array" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('[levels]\ntrain = ["Airstriker-Genesis-v0:Level1"]\ntest = ["Pong-Atari2600-v0:Start"]\n'
                     "[env]\naction_set = 7\n")
    result = _workbench("preset", "check", str(wrong))
    assert result.returncode == 1 and f"{wrong}:5: error: env.action_set = 7" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    missing = _workbench("preset", "check", str(tmp_path / "nope.toml"))
    assert missing.returncode == 1 and "no such preset file" in missing.stdout


@pytest.mark.parametrize("edits, message", BAD_SETTINGS, ids=IDS)
def test_preset_check_refuses_settings_that_cannot_run(tmp_path, capsys, edits, message):
    preset = load_preset(DEFAULT_PRESET)
    apply(preset, edits)
    path = save_preset(preset, tmp_path / "bad.toml")
    assert main(["preset", "check", str(path)]) == 1
    out = capsys.readouterr().out
    errors = [line for line in out.splitlines() if ": error: " in line]
    assert len(errors) == 1 and errors[0].startswith(f"{path}:") and errors[0].endswith(f": error: {message}")
    assert "1 error, 0 warnings" in out


def test_roms_import_into_a_test_data_root(tmp_path):
    root = tmp_path / "retro"
    source = retro_data_root() / "stable" / "Airstriker-Genesis-v0"
    shutil.copytree(source, root / "stable" / "Airstriker-Genesis-v0", ignore=shutil.ignore_patterns("rom.md"))
    roms = tmp_path / "roms"
    roms.mkdir()
    shutil.copy(source / "rom.md", roms / "airstriker.bin")
    (roms / "junk.bin").write_bytes(b"junk" * 100)
    env = {"RETRO_DATA_PATH": str(root)}
    result = _workbench("roms", "import", str(roms), "--json", env=env)
    assert result.returncode == 0, result.stderr
    by_file = {os.path.basename(r["path"]): r for r in json.loads(result.stdout)}
    assert by_file["airstriker.bin"]["status"] == "imported" and by_file["junk.bin"]["status"] == "unknown"
    assert (root / "stable" / "Airstriker-Genesis-v0" / "rom.md").exists()
    again = _workbench("roms", "import", str(roms), env=env)
    assert again.returncode == 0 and "present" in again.stdout and "1 present, 1 unknown" in again.stdout
    status = _workbench("roms", "status", env=env)
    assert "1 of 1 games playable" in status.stdout and str(root) in status.stdout
    listing = _workbench("catalog", "--json", env=env)
    assert [g["id"] for g in json.loads(listing.stdout)] == ["Airstriker-Genesis-v0"]


def test_roms_import_needs_something_to_import(capsys):
    assert main(["roms", "import"]) == 2
    assert "--atari" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["roms"])


CONTEST_BASES = ("SonicTheHedgehog-Genesis-v0", "SonicTheHedgehog2-Genesis-v0", "SonicAndKnuckles3-Genesis-v0")


def test_catalog_search_custom_lists_the_16_custom_levels_and_what_they_need(capsys):
    assert main(["catalog", "--search", "Custom"]) == 0
    out = capsys.readouterr().out
    assert "6 games" in out and "16 custom levels" in out
    rows = [line for line in out.splitlines() if line.startswith("Sonic") and ".Custom " in line and ":" in line]
    assert len(rows) == 16
    assert sum(" leaderboard " in row for row in rows) == 5 and sum(" contest " in row for row in rows) == 11
    for row in rows:  # each names its base ROM, unless it is already playable
        assert " yes " in row or any(f"your {base} ROM (SHA-1 " in row or f"the installed {base} ROM" in row
                                     for base in CONTEST_BASES), row


def test_preset_check_of_the_sonic_contest_names_the_missing_base_roms(capsys):
    assert main(["preset", "check", str(PRESETS_DIR / "sonic-contest.toml")]) == 1
    out = capsys.readouterr().out
    assert "47 train levels, 11 test levels (7 games)" in out
    assert "Custom levels are built by `workbench roms import` from their base ROM:" in out
    assert ("  SonicTheHedgehog-Genesis-v0 (missing): SonicTheHedgehogCustomKevin-Genesis (4 levels), "
            "SonicTheHedgehogCustomCathy-Genesis (1 level)") in out
    assert "  SonicTheHedgehog2-Genesis-v0 (missing): SonicTheHedgehog2CustomKevin-Genesis (3 levels)" in out
    assert "  SonicAndKnuckles3-Genesis-v0 (missing): SonicAndKnuckles3CustomKevin-Genesis (3 levels)" in out
    assert ("ROM missing: SonicTheHedgehogCustomKevin-Genesis is not installed (4 levels need it); base ROM "
            "SonicTheHedgehog-Genesis-v0 is missing") in out
    assert main(["preset", "check", str(PRESETS_DIR / "sonic-contest-leaderboard.toml")]) == 1
    out = capsys.readouterr().out
    assert "47 train levels, 5 test levels (5 games)" in out
    assert "  SonicTheHedgehog2-Genesis-v0 (missing): SonicTheHedgehog2CustomLeaderboard-Genesis (2 levels)" in out


def test_roms_import_builds_a_custom_level_and_status_lists_it(tmp_path):
    import hashlib
    import random

    import pyxdelta

    rng = random.Random(1)
    base = rng.randbytes(64 * 1024)
    target = bytearray(base)
    target[100:400] = rng.randbytes(300)
    files = tmp_path / "files"
    files.mkdir()
    (files / "base.md").write_bytes(base)
    (files / "target.md").write_bytes(bytes(target))
    root = tmp_path / "retro"
    (root / "stable" / "Synth-Genesis-v0").mkdir(parents=True)
    (root / "stable" / "Synth-Genesis-v0" / "rom.sha").write_text(hashlib.sha1(base).hexdigest())
    custom = root / "contrib" / "SynthCustomKevin-Genesis"
    custom.mkdir(parents=True)
    assert pyxdelta.run(str(files / "base.md"), str(files / "target.md"), str(custom / "rom.delta"))
    (custom / "rom.sha").write_text(hashlib.sha1(target).hexdigest())
    (custom / "Zone.Custom.state").write_bytes(b"state")
    (files / "target.md").unlink()
    env = {"RETRO_DATA_PATH": str(root)}
    before = _workbench("roms", "status", env=env)
    assert "1 custom level (0 playable)" in before.stdout
    assert "SynthCustomKevin-Genesis:Zone.Custom  contest  missing  your Synth-Genesis-v0 ROM (SHA-1 " in before.stdout
    result = _workbench("roms", "import", str(files / "base.md"), env=env)
    assert result.returncode == 0, result.stderr
    base_file = files / "base.md"
    assert f"patched    {base_file} -> SynthCustomKevin-Genesis (built from {base_file}" in result.stdout
    assert "1 imported, 1 patched" in result.stdout
    assert (custom / "rom.md").read_bytes() == bytes(target)
    after = _workbench("roms", "status", "--json", env=env)
    (level,) = json.loads(after.stdout)["custom_levels"]
    assert level == {"level": "SynthCustomKevin-Genesis:Zone.Custom", "group": "contest", "rom_status": "ok",
                     "base_game": "Synth-Genesis-v0", "base_shas": [hashlib.sha1(base).hexdigest()], "needs": ""}
    listing = _workbench("catalog", "--search", "custom", "--json", env=env)
    (game,) = json.loads(listing.stdout)
    assert game["playable"] and game["patch_base"] == "Synth-Genesis-v0"


def test_roms_doctor_says_what_an_unknown_file_looks_like(tmp_path, capsys):
    import struct

    rom = bytearray(0x40000)
    rom[0x100:0x110], rom[0x150:0x180] = b"SEGA GENESIS    ", b"SONIC THE HEDGEHOG".ljust(48)
    rom[0x180:0x18E], rom[0x1F0:0x1F3] = b"GM 00001009-00", b"JUE"
    rom[0x18E:0x190] = struct.pack(">H", 0)  # the body is zeros: checksum 0 is right
    path = tmp_path / "sonic.gen"
    path.write_bytes(bytes(rom))
    assert main(["roms", "doctor", str(path), str(tmp_path / "missing.md")]) == 1
    out = capsys.readouterr().out
    assert "looks like SONIC THE HEDGEHOG (Genesis header, serial GM 00001009-00, REV00, region JUE)" in out
    assert ("SonicTheHedgehog-Genesis-v0: SHA-1 69e102855d4389c3fd1a8f3dc7d193f8eee5fe5b "
            "(Sonic The Hedgehog (W) (REV01))") in out
    assert f"{tmp_path / 'missing.md'}: cannot read it" in out
