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
