"""The Retro Contest presets: the benchmark's 47 training levels and protocol, tested on the contest's custom
levels; `preset check` names the base ROMs the custom levels are built from."""
from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from workbench.catalog.catalog import Catalog
from workbench.catalog.contest_levels import custom_levels
from workbench.catalog.level_checks import check_preset_file
from workbench.core.paths import PRESETS_DIR
from workbench.core.presets import load_preset

CONTEST = PRESETS_DIR / "sonic-contest.toml"
LEADERBOARD = PRESETS_DIR / "sonic-contest-leaderboard.toml"
BENCHMARK = PRESETS_DIR / "sonic-benchmark.toml"


@pytest.fixture(scope="module")
def catalog():
    return Catalog()


@pytest.mark.parametrize("path, n_test, group", [(CONTEST, 11, "contest"), (LEADERBOARD, 5, "leaderboard")])
def test_contest_presets_train_like_the_benchmark_and_test_on_the_custom_levels(catalog, path, n_test, group):
    preset, benchmark = load_preset(path), load_preset(BENCHMARK)
    assert preset.levels.train == benchmark.levels.train and len(preset.levels.train) == 47
    assert len(preset.levels.test) == n_test
    assert (preset.env, preset.ppo, preset.transfer) == (benchmark.env, benchmark.ppo, benchmark.transfer)
    rows = {row.level: row for row in custom_levels(catalog)}
    assert len(rows) == 16
    assert {str(level) for level in preset.levels.test} == {lv for lv, row in rows.items() if row.group == group}
    for level in preset.levels.test:
        entry = catalog.find(level.game)
        assert entry.needs_patch and level.state in entry.states and "contest" in entry.scenarios


def test_preset_check_names_the_base_rom_of_each_custom_game(catalog):
    result = check_preset_file(CONTEST, catalog)
    assert result.missing_roms[:3] == ["SonicTheHedgehog-Genesis-v0", "SonicTheHedgehog2-Genesis-v0",
                                       "SonicAndKnuckles3-Genesis-v0"]  # never installed in CI
    custom = [p.message for p in result.errors if "Custom" in p.message.split(" is not installed")[0]]
    assert len(custom) == 4
    assert any(m.startswith("ROM missing: SonicAndKnuckles3CustomKevin-Genesis is not installed (3 levels need it); "
                            "base ROM SonicAndKnuckles3-Genesis-v0 is missing") for m in custom)
    assert all("workbench roms import PATH" in m and "rom.delta" in m for m in custom)


def test_an_installed_base_is_named_with_the_command_that_builds_from_it(catalog):
    base = catalog.find("SonicTheHedgehog-Genesis-v0")
    installed = replace(base, rom_status="ok", rom_path="/roms/sonic1/rom.md")

    with_sonic1 = copy.copy(catalog)  # the real catalog, as if Sonic 1 were installed
    with_sonic1._games = {**catalog._games, base.id: installed}
    result = check_preset_file(CONTEST, with_sonic1)
    kevin = next(p.message for p in result.errors if "SonicTheHedgehogCustomKevin-Genesis is not" in p.message)
    assert kevin.endswith("it is built from the installed base ROM of SonicTheHedgehog-Genesis-v0 and its "
                          "rom.delta: run `workbench roms import /roms/sonic1/rom.md`")
    row = next(r for r in custom_levels(with_sonic1) if r.level.startswith("SonicTheHedgehogCustomKevin"))
    assert row.needs == "the installed SonicTheHedgehog-Genesis-v0 ROM builds it: `workbench roms import " \
        "/roms/sonic1/rom.md`"
