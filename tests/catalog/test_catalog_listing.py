"""The catalog over the real stable-retro data, and over a test-local data root."""
from __future__ import annotations

import json
import os
import shutil

import pytest
import stable_retro
import stable_retro.data as retro_data

from workbench.catalog import rom_hashes
from workbench.catalog.catalog import Catalog
from workbench.catalog.systems import retro_data_root, system_of


def test_real_catalog_matches_stable_retro():
    catalog = Catalog()
    ids = {entry.id for entry in catalog.games()}
    assert len(ids) >= 1000
    assert ids == set(retro_data.list_games(retro_data.Integrations.ALL))
    assert retro_data_root() == type(retro_data_root())(retro_data.path())
    air = catalog.find("Airstriker-Genesis-v0")
    assert air.system == "Genesis" and air.integration == "stable" and air.default_state == "Level1"
    assert "Level1" in air.states and air.playable and catalog.is_playable("Airstriker-Genesis-v0")
    assert air.rom_path == retro_data.get_romfile_path("Airstriker-Genesis-v0", retro_data.Integrations.ALL)
    sonic = catalog.find("SonicTheHedgehog-Genesis-v0")
    assert catalog.states("SonicTheHedgehog-Genesis-v0") == retro_data.list_states(
        "SonicTheHedgehog-Genesis-v0", retro_data.Integrations.ALL)
    assert "contest" in sonic.scenarios
    kinds = {entry.integration for entry in catalog.games()}
    assert {"stable", "experimental", "contrib"} <= kinds
    assert all(e.needs_patch for e in catalog.games() if e.integration == "contrib")


def test_action_buttons_are_the_systems_button_order():
    catalog = Catalog()
    for game in ("Airstriker-Genesis-v0", "Pong-Atari2600-v0", "SuperMarioBros-Nes-v0"):
        assert catalog.action_buttons(game) == tuple(stable_retro.get_system_info(system_of(game))["buttons"])
    assert catalog.action_buttons("Airstriker-Genesis-v0") != catalog.action_buttons("Pong-Atari2600-v0")


def test_search_filters_and_suggestions():
    catalog = Catalog()
    found = catalog.search("sonic HEDGEHOG", system="genesis")
    assert found and all("sonic" in e.id.lower() and "hedgehog" in e.id.lower() and e.system == "Genesis"
                         for e in found)
    assert [e.id for e in catalog.search("airstriker", playable=True)] == ["Airstriker-Genesis-v0"]
    assert all(not e.playable for e in catalog.search("", system="Snes", playable=False))
    assert catalog.search("no such game at all") == []
    assert "SonicTheHedgehog-Genesis-v0" in catalog.suggest_games("SonicTheHedgehog-Genesis")
    assert catalog.suggest_states("SonicTheHedgehog-Genesis-v0", "GreenHillZone.act1")[0] == "GreenHillZone.Act1"
    assert catalog.find("Nope-Genesis-v0") is None and "Nope-Genesis-v0" not in catalog
    with pytest.raises(KeyError, match="unknown game"):
        catalog.states("Nope-Genesis-v0")


def test_rom_status_follows_the_file_and_hashes_are_cached(retro_root, custom_dir, airstriker_rom, monkeypatch):
    rom = retro_root / "stable" / "Airstriker-Genesis-v0" / "rom.md"
    catalog = Catalog(retro_root, [custom_dir])
    assert len(catalog) == 3 and catalog.find("Airstriker-Genesis-v0").rom_status == "missing"
    shutil.copy(airstriker_rom, rom)
    catalog.refresh()
    assert catalog.is_playable("Airstriker-Genesis-v0")
    cached = json.loads(rom_hashes.cache_file().read_text())["files"]
    assert str(rom.resolve()) in cached

    def no_hashing(path):
        raise AssertionError(f"hashed {path} again although it did not change")

    monkeypatch.setattr(rom_hashes, "file_sha1", no_hashing)
    assert Catalog(retro_root, [custom_dir]).is_playable("Airstriker-Genesis-v0")  # served from the cache
    monkeypatch.undo()

    data = bytearray(rom.read_bytes())
    data[1000] ^= 0xFF  # same size, new content and mtime: the cache entry must not be trusted
    rom.write_bytes(bytes(data))
    os.utime(rom, ns=(rom.stat().st_atime_ns, rom.stat().st_mtime_ns + 1_000_000))
    assert Catalog(retro_root, [custom_dir]).find("Airstriker-Genesis-v0").rom_status == "mismatch"
    rom.chmod(0o000)
    if not os.access(rom, os.R_OK):  # root reads anything
        assert Catalog(retro_root, [custom_dir]).find("Airstriker-Genesis-v0").rom_status == "unreadable"


def test_custom_integrations_add_states_and_games(retro_root, custom_dir):
    # a custom folder with only a new start state extends the stable game (how saved start states appear)
    (custom_dir / "Airstriker-Genesis-v0").mkdir()
    (custom_dir / "Airstriker-Genesis-v0" / "Boss.state").write_bytes(b"\x1f\x8b")
    (custom_dir / "Airstriker-Genesis-v0" / "_hidden.state").write_bytes(b"")
    # a whole custom game (its own rom.sha)
    mine = custom_dir / "MyHack-Genesis-v0"
    shutil.copytree(retro_root / "stable" / "Airstriker-Genesis-v0", mine)
    (mine / "metadata.json").write_text('{"default_state": "Level1"}')
    catalog = Catalog(retro_root, [custom_dir])
    assert catalog.states("Airstriker-Genesis-v0") == ["Boss", "Level1"]
    assert catalog.find("Airstriker-Genesis-v0").integration == "stable"
    hack = catalog.find("MyHack-Genesis-v0")
    assert hack.integration == "custom" and hack.states == ("Level1",) and hack.system == "Genesis"
    # folders that are not games are skipped
    (custom_dir / "notes.txt").write_text("x")
    (retro_root / "experimental" / "OnlyData-Genesis").mkdir()
    (retro_root / "experimental" / "OnlyData-Genesis" / "data.json").write_text("{}")
    assert len(Catalog(retro_root, [custom_dir])) == 4
