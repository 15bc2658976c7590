"""`level_problems`, the one level-set check: `preset check`, the GUI's editor and the launcher's
`require_playable` report the same problems with the same words."""
from __future__ import annotations

import pytest

from workbench.catalog.catalog import Catalog
from workbench.catalog.level_checks import level_problems, require_playable, validate_preset
from workbench.core.levels import Level, LevelSet
from workbench.core.presets import Preset
from workbench.core.settings import EnvConfig
from workbench.ui.level_validation import validate_levels

AIR = Level("Airstriker-Genesis-v0", "Level1")
PONG = Level("Pong-Atari2600-v0", "Start")


@pytest.fixture(scope="module")
def catalog(atari_roms):
    return Catalog()  # after the import: a catalog is a snapshot, and a fresh venv has no Atari ROMs yet


def test_one_message_in_every_place(retro_root, custom_dir):
    small = Catalog(retro_root, [custom_dir])  # knows Airstriker, Pong and Mario, without their ROMs
    levels = LevelSet([PONG, Level("Pong-Atari2600-v0", "Strat")], [Level("NoSuch-Genesis-v0", "Level1")])
    found = level_problems(levels, EnvConfig(), small)
    rom = "ROM missing: Pong-Atari2600-v0 is not installed (2 levels need it); run `workbench roms import --atari`"
    assert [p.message for p in found[PONG]] == [rom + " (ale-py ships it)"]
    assert found[Level("Pong-Atari2600-v0", "Strat")][0].message.startswith(
        "unknown start state 'Strat' of Pong-Atari2600-v0; did you mean 'Start'")
    checked = [p.message for p in validate_preset(Preset("p", levels=levels), small)]
    shown = {msg for msgs in validate_levels(levels, small, EnvConfig()).values() for _, msg in msgs}
    assert set(checked) == shown and checked.count(rom + " (ale-py ships it)") == 1  # a game's problem: once
    with pytest.raises(ValueError) as err:
        require_playable(levels.train, EnvConfig(), "p.toml", "train", catalog=small)
    assert str(err.value) == f"p.toml: level {PONG}: {rom} (ale-py ships it)"


def test_require_playable_names_the_file_in_one_line(catalog):
    env = EnvConfig()
    require_playable([AIR], env, "p.toml", "train", catalog=catalog)  # playable: no error
    with pytest.raises(ValueError, match=r"^p\.toml: the preset has no test levels; add some under \[levels\] "
                                         r"test = \[\.\.\.\]$"):
        require_playable([], env, "p.toml", "test", catalog=catalog)
    with pytest.raises(ValueError, match=r"^p\.toml: level Airstriker-Genesis-v0:Levl1: unknown start state 'Levl1'"):
        require_playable([Level("Airstriker-Genesis-v0", "Levl1")], env, "p.toml", "train", catalog=catalog)
    with pytest.raises(ValueError) as err:
        require_playable([AIR], EnvConfig(scenario="contest"), "p.toml", "train", catalog=catalog)
    assert str(err.value).startswith("p.toml: Airstriker-Genesis-v0 has no scenario 'contest'")
    assert "\n" not in str(err.value)


def test_differing_action_spaces_flag_the_odd_levels_out(catalog, atari_roms):
    levels = LevelSet([AIR, Level("Airstriker-Genesis-v0", "Level1.Sec04")], [PONG])
    found = level_problems(levels, EnvConfig(), catalog)
    assert list(found) == [PONG]  # the training levels' action space is the reference
    (problem,) = found[PONG]
    assert problem.setting == "env.action_set" and problem.message.startswith(
        "action space differs between levels with env.action_set = 'auto': Airstriker-Genesis-v0 gets 'discrete'")
    with pytest.raises(ValueError, match=r"^p\.toml: action space differs"):
        require_playable([AIR, PONG], EnvConfig(), "p.toml", "train", catalog=catalog)
    unusable = level_problems(levels, EnvConfig(action_set="sonic"), catalog)[PONG][0]  # Pong has no B button
    assert unusable.message.startswith("Pong-Atari2600-v0: action set 'sonic' needs button 'B'")


def test_without_a_catalog_only_what_needs_none(atari_roms):
    found = level_problems(LevelSet([AIR], [AIR, Level("NoSuch-Genesis-v0", "X")]), EnvConfig(), None)
    assert list(found) == [AIR] and found[AIR][0].severity == "warning"
    assert list(level_problems(LevelSet(), EnvConfig(), None)) == [None]  # the empty train list
