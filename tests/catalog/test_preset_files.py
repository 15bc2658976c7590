"""Presets: the shipped files, reading, writing, and every kind of problem a preset can have."""
from __future__ import annotations

from pathlib import Path

import pytest

from workbench.catalog.catalog import Catalog
from workbench.core.levels import Level, LevelSet
from workbench.catalog.level_checks import check_preset_file, validate_preset
from workbench.core.presets import (
    Preset, PresetError, list_presets, load_preset, parse_preset, preset_to_toml, read_preset_file, save_preset,
)
from workbench.core.settings import EnvConfig
from workbench.core.paths import DEFAULT_PRESET, PRESETS_DIR

SONIC = PRESETS_DIR / "sonic-benchmark.toml"
ATARI = PRESETS_DIR / "atari-transfer.toml"
SONIC_GAMES = ["SonicTheHedgehog-Genesis-v0", "SonicTheHedgehog2-Genesis-v0", "SonicAndKnuckles3-Genesis-v0"]


@pytest.fixture(scope="module")
def catalog():
    return Catalog()


def _csv_levels(name: str) -> list[Level]:
    lines = (Path("/work/shared/data") / f"sonic-{name}.csv").read_text().split()[1:]
    return [Level(game + "-v0", state) for game, state in (line.split(",") for line in lines)]


def test_sonic_benchmark_preset(catalog):
    preset = load_preset(SONIC)
    assert (len(preset.levels.train), len(preset.levels.test)) == (47, 11)
    if Path("/work/shared/data/sonic-train.csv").exists():
        assert preset.levels.train == _csv_levels("train") and preset.levels.test == _csv_levels("test")
    env, ppo = preset.env, preset.ppo
    assert (env.action_set, env.scenario, env.frame_skip, env.sticky_prob, env.max_episode_steps) == (
        "sonic", "contest", 4, 0.25, 4500)
    assert (env.reward_scale, env.allow_backtracking, env.level_sampling) == (0.01, True, "per_episode")
    assert (ppo.n_steps, ppo.n_minibatches, ppo.n_epochs, ppo.gamma, ppo.gae_lambda) == (4096, 8, 3, 0.99, 0.95)
    assert (ppo.ent_coef, ppo.learning_rate, ppo.clip_range, ppo.vf_coef, ppo.max_grad_norm) == (
        0.01, 2e-4, 0.1, 0.5, 0.5)
    assert preset.transfer.budget_steps == 1_000_000
    result = check_preset_file(SONIC, catalog)
    assert result.missing_roms == SONIC_GAMES  # the Sonic ROMs are commercial: never installed in CI
    assert [p.severity for p in result.problems] == ["error"] * 3
    assert all("ROM missing" in p.message and "workbench roms import PATH" in p.message for p in result.problems)


def test_default_and_atari_presets_are_clean(catalog, atari_roms):
    assert DEFAULT_PRESET.exists() and load_preset(DEFAULT_PRESET).levels.train[0] == Level("Airstriker-Genesis-v0", "Level1")
    assert check_preset_file(DEFAULT_PRESET, catalog).problems == []
    atari = check_preset_file(ATARI, Catalog())
    assert atari.problems == [] and atari.preset.env.action_set == "atari18"
    assert len(atari.preset.levels.train) >= 4 and atari.preset.levels.test
    assert not set(atari.preset.levels.train) & set(atari.preset.levels.test)
    assert {SONIC, ATARI, DEFAULT_PRESET} <= set(list_presets())


def test_round_trip_of_shipped_presets():
    for path in (SONIC, ATARI, DEFAULT_PRESET):
        preset = load_preset(path)
        again, problems = parse_preset(preset_to_toml(preset))
        assert problems == [] and again == preset


def test_save_is_atomic_and_never_overwrites_by_accident(tmp_path):
    preset = Preset("mine", "odd \"quotes\" \\ and\ttabs\nand ünïcode", LevelSet([Level("Airstriker-Genesis-v0", "Level1")]))
    path = save_preset(preset, tmp_path / "mine.toml")
    assert load_preset(path) == preset
    before = path.read_bytes()
    with pytest.raises(PresetError, match="already exists"):
        save_preset(Preset("other"), path)
    assert path.read_bytes() == before
    save_preset(Preset("other", levels=preset.levels.copy()), path, overwrite=True)
    assert load_preset(path).name == "other"
    assert [p.name for p in tmp_path.iterdir()] == ["mine.toml"]  # no temp files left


def _problems(text: str, catalog) -> list:
    from workbench.core.presets import _Lines

    preset, problems = parse_preset(text, "p.toml")
    return problems + validate_preset(preset, catalog, "p.toml", _Lines(text))


GOOD = """name = "t"
[levels]
train = ["Airstriker-Genesis-v0:Level1"]
test = []
[env]
frame_skip = 4
"""


def test_malformed_toml_gives_file_line_reason(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text(GOOD.replace("frame_skip = 4", "frame_skip = = 4"))
    with pytest.raises(PresetError) as err:
        load_preset(path)
    assert str(err.value).startswith(f"{path}:6: malformed TOML")
    result = check_preset_file(path)
    assert not result.ok and result.problems[0].line == 6 and result.preset is None
    path.write_bytes(b'name = "\xff"\n')
    with pytest.raises(PresetError, match=r":1: not UTF-8"):
        load_preset(path)
    with pytest.raises(PresetError, match="no such preset file"):
        load_preset(tmp_path / "missing.toml")


def test_schema_problems_name_the_line_and_suggest(catalog):
    text = GOOD.replace("frame_skip = 4", "frame_skp = 4\nsticky_prob = \"high\"\naction_set = \"atari\"") + \
        "[ppo]\nn_envs = 2.5\n[tranfer]\nbudget_steps = 1\n"
    problems = _problems(text, catalog)
    by_line = {p.line: p.message for p in problems}
    assert "unknown setting env.frame_skp; did you mean 'frame_skip'" in by_line[6]
    assert "must be a number" in by_line[7]
    assert "'atari18'" in by_line[8]
    assert "must be an integer" in by_line[10]
    assert "unknown table 'tranfer'" in by_line[11] and "did you mean 'transfer'" in by_line[11]


def test_strict_load_raises_the_first_error(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(GOOD.replace("frame_skip = 4", "frame_skp = 4"))
    with pytest.raises(PresetError) as err:
        load_preset(path)
    assert str(err.value) == f"{path}:6: unknown setting env.frame_skp; did you mean 'frame_skip' or 'frame_stack'?"


def test_level_problems(catalog):
    text = """[levels]
train = [
    "Airstriker-Genesis-v0:Level1",
    "Airstriker-Genesis:Level1",
    "Airstriker-Genesis-v0:Levl1",
    "SonicTheHedgehog-Genesis-v0:GreenHillZone.Act1",
    "no colon here",
]
test = ["Airstriker-Genesis-v0:Level1"]
"""
    problems = _problems(text, catalog)
    messages = {p.line: (p.severity, p.message) for p in problems}
    assert messages[4][0] == "error" and "did you mean 'Airstriker-Genesis-v0'" in messages[4][1]
    assert "unknown start state 'Levl1'" in messages[5][1] and "'Level1'" in messages[5][1]
    assert "ROM missing: SonicTheHedgehog-Genesis-v0" in messages[6][1]
    assert "is not a level" in messages[7][1]
    assert messages[9] == ("warning", "Airstriker-Genesis-v0:Level1 is both a train and a test level; its test "
                                      "score will not measure transfer")
    empty = _problems("[levels]\ntrain = []\n", catalog)
    assert [(p.severity, p.line) for p in empty] == [("error", 2)] and "levels.train is empty" in empty[0].message


def test_missing_atari_rom_points_to_import_atari(retro_root, custom_dir):
    small = Catalog(retro_root, [custom_dir])  # Pong is known here but its ROM is not installed
    problems = _problems('[levels]\ntrain = ["Pong-Atari2600-v0:Start"]\n', small)
    assert len(problems) == 1 and "workbench roms import --atari" in problems[0].message


def test_action_spaces_must_match(catalog):
    mixed = '[levels]\ntrain = ["Airstriker-Genesis-v0:Level1"]\ntest = ["Pong-Atari2600-v0:Start"]\n'
    problems = [p for p in _problems(mixed, catalog) if "action" in p.message]
    assert len(problems) == 1 and "action space differs between levels" in problems[0].message
    assert "Airstriker-Genesis-v0" in problems[0].message and "Pong-Atari2600-v0" in problems[0].message
    atari = '[levels]\ntrain = ["Pong-Atari2600-v0:Start", "Breakout-Atari2600-v0:Start"]\n'
    for action_set in ("auto", "atari18"):
        text = atari + f'[env]\naction_set = "{action_set}"\n'
        assert not [p for p in _problems(text, catalog) if "action" in p.message]
    wrong = _problems(mixed + '[env]\naction_set = "atari18"\n', catalog)
    assert any("Airstriker-Genesis-v0" in p.message and "BUTTON" in p.message and p.line == 5 for p in wrong)


def test_settings_out_of_range_and_scenarios(catalog):
    preset = Preset("x", levels=LevelSet([Level("Airstriker-Genesis-v0", "Level1")]),
                    env=EnvConfig(sticky_prob=1.5, frame_skip=0, scenario="contest"))
    preset.ppo.gamma = float("nan")
    preset.transfer.seeds = []
    messages = " | ".join(p.message for p in validate_preset(preset, catalog))
    for part in ("env.sticky_prob = 1.5 must be between 0 and 1", "env.frame_skip = 0 must be at least 1",
                 "ppo.gamma = nan", "transfer.seeds is empty", "has no scenario 'contest'"):
        assert part in messages


def test_copy_is_deep():
    preset = load_preset(DEFAULT_PRESET)
    twin = preset.copy()
    twin.levels.append("test", [Level("Pong-Atari2600-v0", "Start")])
    twin.transfer.seeds.append(7)
    twin.env.frame_skip = 2
    assert preset == load_preset(DEFAULT_PRESET) and twin != preset


COMMENTED = """# My Airstriker preset: two sections, tuned by hand
name = "mine"  # shown in the window title
description = "for the comment test"

[levels]
# the training levels
train = [
    "Airstriker-Genesis-v0:Level1",  # the first one
    "Airstriker-Genesis-v0:Level1.Sec04",
]
test = []

# PPO, tuned on two cores
[ppo]
n_envs = 8  # one per core would be 2
learning_rate = 2.5e-4  # halve it for long runs
retired_setting = 3

# the environment
[env]
frame_skip = 4  # Atari-style
"""


def test_saving_an_edited_preset_keeps_its_comments(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(COMMENTED)
    preset, _, _ = read_preset_file(path)
    edited = preset.copy()
    edited.ppo.learning_rate = 1e-5
    edited.levels.remove("train", [1])
    edited.levels.append("test", [Level("Airstriker-Genesis-v0", "Level1.Sec08")])
    save_preset(edited, path, overwrite=True)
    text = path.read_text()
    for comment in ("# My Airstriker preset: two sections, tuned by hand", "# shown in the window title",
                    "# the training levels", "# the first one", "# PPO, tuned on two cores",
                    "# one per core would be 2", "# halve it for long runs", "# the environment", "# Atari-style"):
        assert comment in text
    assert "learning_rate = 1e-05  # halve it for long runs" in text
    assert "retired_setting" not in text and "Level1.Sec04" not in text  # dropped keys and levels are gone
    assert text.index("# PPO, tuned") < text.index("[ppo]") < text.index("n_steps =") < text.index("# the environment")
    again = load_preset(path)
    assert again == edited and again.levels.test == [Level("Airstriker-Genesis-v0", "Level1.Sec08")]
    assert preset_to_toml(load_preset(path)) == text  # nothing left to change: saving again changes nothing
