"""Levels with remapped controls (`GAME:STATE@controls=...`): written and read back, rejected with the fix when
they are not a permutation of the action set, and played by the real emulator with action i doing the action
set's `controls[i]` (the RL² game task `presets/rl2-freeway-controls.toml` is built on them)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from workbench.catalog.actions import agent_action_labels
from workbench.catalog.catalog import Catalog
from workbench.catalog.level_checks import check_preset_file, level_problems
from workbench.core.levels import Level, LevelSet
from workbench.core.paths import PRESETS_DIR
from workbench.core.settings import EnvConfig
from workbench.engine.envs.retro import make_env

AIRSTRIKER = "Airstriker-Genesis-v0:Level1"
FREEWAY = "Freeway-Atari2600-v0:Start"


def test_a_level_with_controls_round_trips_and_a_bad_mapping_says_how_to_write_one():
    level = Level.parse(FREEWAY + "@controls=2,0,1,3,4,5")
    assert (level.game, level.state, level.controls) == ("Freeway-Atari2600-v0", "Start", (2, 0, 1, 3, 4, 5))
    assert str(level) == FREEWAY + "@controls=2,0,1,3,4,5" and Level.parse(str(level)) == level
    assert Level.parse(FREEWAY) != level and str(Level.parse(FREEWAY)) == FREEWAY
    for bad in ("2,0,0", "1,2,3", "a,b", ""):
        with pytest.raises(ValueError, match="permutation of 0..n-1"):
            Level.parse(f"{FREEWAY}@controls={bad}")


def test_controls_of_the_wrong_length_are_a_level_problem_naming_the_action_set():
    env = EnvConfig(action_set="buttons")
    short = Level.parse(AIRSTRIKER + "@controls=1,0")
    found = level_problems(LevelSet([short], []), env, Catalog())
    (problem,) = found[short]
    assert problem.severity == "error" and problem.setting == "env.action_set"
    assert "remaps 2 actions" in problem.message and "permutation of 0..10" in problem.message
    with pytest.raises(ValueError, match="remap 2 actions"):
        make_env([short], env)


def _frames(env, actions) -> list[np.ndarray]:
    env.reset(seed=0)
    return [env.step(a)[0].copy() for a in actions]


def test_agent_action_i_plays_the_action_sets_action_controls_i():
    # Airstriker's 'buttons' set: NOOP, B, A, UP, DOWN, LEFT, RIGHT, C, Y, X, Z. Reversed: agent a plays 10 - a.
    env_config = dataclasses.replace(EnvConfig(), action_set="buttons", sticky_prob=0.0, warp_size=0, frame_stack=1)
    actions = [5] * 30 + [6] * 30 + [1] * 20  # left, right, fire
    plain = make_env([Level.parse(AIRSTRIKER)], env_config)  # one emulator per process: one env at a time
    try:
        moved = _frames(plain, actions)
        assert any(not np.array_equal(a, b) for a, b in zip(moved, _frames(plain, [10 - a for a in actions])))
    finally:
        plain.close()
    remapped = make_env([Level.parse(AIRSTRIKER + "@controls=10,9,8,7,6,5,4,3,2,1,0")], env_config)
    try:
        same = _frames(remapped, [10 - a for a in actions])  # the remapped level, the inverse actions
        assert all(np.array_equal(a, b) for a, b in zip(moved, same))
    finally:
        remapped.close()


def test_a_level_sampler_switches_the_controls_with_the_level():
    env_config = dataclasses.replace(EnvConfig(), action_set="buttons", sticky_prob=0.0, warp_size=0, frame_stack=1)
    levels = [Level.parse(AIRSTRIKER), Level.parse(AIRSTRIKER + "@controls=10,9,8,7,6,5,4,3,2,1,0")]
    env = make_env(levels, env_config, seed=3)
    try:
        seen = set()
        for _ in range(12):
            env.reset()
            inner = env.unwrapped
            table = inner.action_table
            expected = inner.action_set.buttons[list(inner.level.controls)] if inner.level.controls else \
                inner.action_set.buttons
            assert np.array_equal(table, expected)
            seen.add(inner.level)
        assert seen == set(levels)
    finally:
        env.close()


def test_the_freeway_progress_scenario_pays_the_climb_and_up_is_where_the_controls_put_it(atari_roms):
    preset = check_preset_file(PRESETS_DIR / "rl2-freeway-controls.toml", Catalog())
    assert preset.problems == []
    assert not set(preset.preset.levels.train) & set(preset.preset.levels.test)
    env_config = dataclasses.replace(preset.preset.env, sticky_prob=0.0)
    level = preset.preset.levels.test[0]
    up = level.controls.index(2)  # 'buttons' is NOOP, BUTTON, UP, DOWN, LEFT, RIGHT
    env = make_env([level], env_config)
    try:
        returns = []
        for action in range(6):
            env.reset(seed=0)
            total, done = 0.0, False
            while not done:
                _, _, terminated, truncated, info = env.step(action)
                total += info["raw_reward"]
                done = terminated or truncated
            returns.append(total)
        # 40 steps of UP from the start: ~0.94 of a crossing (160 of the 171 frames); nothing else climbs
        assert 0.85 < returns[up] < 1.0
        assert all(abs(r) < 1e-9 for i, r in enumerate(returns) if i != up)
    finally:
        env.close()


def test_a_runs_action_labels_follow_one_shared_shuffle_and_are_plain_indices_for_several():
    env_config = EnvConfig(action_set="buttons")
    plain = Level.parse(AIRSTRIKER)
    labels = agent_action_labels([plain], env_config)
    assert labels[:4] == ("NOOP", "B", "A", "UP")
    reverse = Level.parse(AIRSTRIKER + "@controls=10,9,8,7,6,5,4,3,2,1,0")
    assert agent_action_labels([reverse], env_config) == labels[::-1]
    other = Level.parse(AIRSTRIKER + "@controls=1,0,2,3,4,5,6,7,8,9,10")
    assert agent_action_labels([reverse, other], env_config) == tuple(f"#{i}" for i in range(11))
