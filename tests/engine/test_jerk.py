"""JERK, the report's scripted baseline: it reaches the goal of a corridor that needs jumps, its replays of the
best sequence are exact without sticky actions, it respects the budget, and it applies to Sonic only."""
from __future__ import annotations

import pytest

from toy_envs import JumpCorridor
from workbench.engine.baselines.jerk import JERK_MOVES, Jerk, jerk_applies


def test_jerk_reaches_the_goal_and_replays_the_best_sequence_exactly():
    env = JumpCorridor(length=40, walls=(12, 27), max_steps=300)
    jerk = Jerk(env, JERK_MOVES, budget=6000, seed=3)
    episodes = jerk.run()
    assert episodes and all(e.global_step <= 6000 for e in episodes)
    assert [e.global_step for e in episodes] == sorted(e.global_step for e in episodes)
    goal = [e for e in episodes if e.ret == pytest.approx(1.0)]
    assert goal, [e.ret for e in episodes]  # reached the last cell (past both walls) at least once
    assert any(not e.replay for e in goal)
    # replays happened, and each reproduced the cumulative reward its sequence had when it was found
    assert len(jerk.replays) >= 3 and any(e.replay for e in episodes)
    for expected, got in jerk.replays:
        assert got == expected
    # once solved, the best solution's replays score the full return
    best_scores, _ = max(jerk.solutions, key=lambda s: sum(s[0]) / len(s[0]))
    assert best_scores[0] == pytest.approx(1.0)


def test_jerk_stops_at_the_budget_and_counts_only_finished_episodes():
    env = JumpCorridor(length=400, walls=(), max_steps=1000)  # an episode longer than the budget
    jerk = Jerk(env, JERK_MOVES, budget=150, seed=0)
    assert jerk.run() == [] and jerk.steps == 150


def test_jerk_applies_to_sonic_only():
    assert jerk_applies("SonicTheHedgehog-Genesis-v0") == (True, "")
    ok, why = jerk_applies("Airstriker-Genesis-v0")
    assert not ok and "Airstriker-Genesis-v0" in why and "jump" in why
    ok, why = jerk_applies("Pong-Atari2600-v0")
    assert not ok and "Atari" in why
