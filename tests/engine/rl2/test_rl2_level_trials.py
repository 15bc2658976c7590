"""Trials over real retro levels: the engine's full env stack, one emulator, K episodes per sampled level."""
from __future__ import annotations

import pickle

import numpy as np
from workbench.core.settings import EnvConfig
from workbench.engine.rl2.trials import level_trial_env_thunk

AIRSTRIKER = "Airstriker-Genesis-v0:Level1"


def _play_trial(env, action=0):
    obs, info = env.reset()
    first = obs
    steps, episodes, done = 0, [], False
    while not done:
        obs, _, terminated, truncated, info = env.step(action)
        steps += 1
        done = terminated or truncated
        if "inner_episode" in info:
            episodes.append(info["inner_episode"])
    return first, info, steps, episodes, truncated


def test_trials_on_airstriker_play_k_short_episodes_through_the_env_stack():
    config = EnvConfig(max_episode_steps=12, frame_stack=2, warp_size=42)
    thunk = level_trial_env_thunk([AIRSTRIKER], config, episodes_per_trial=3, seed=5)
    env = pickle.loads(pickle.dumps(thunk))()  # what a vec env worker receives
    try:
        emulator = env.env.unwrapped
        first, info, steps, episodes, truncated = _play_trial(env)
        assert first.shape == (2, 42, 42) and first.dtype == np.uint8
        assert steps == 36 and truncated  # 3 episodes of 12 steps; the last time limit is the trial's
        assert [e["episode_in_trial"] for e in episodes] == [0, 1, 2]
        assert all(e["truncated"] and e["length"] == 12 and e["task"] == AIRSTRIKER for e in episodes)
        assert info["episode"]["level"] == AIRSTRIKER  # the env stack's own episode statistics come through
        _play_trial(env)
        assert env.env.unwrapped is emulator  # one level: the emulator is kept from trial to trial
    finally:
        env.close()


def test_trials_switch_between_two_atari_games(atari_roms):
    levels = ["Pong-Atari2600-v0:Start", "Breakout-Atari2600-v0:Start"]
    config = EnvConfig(max_episode_steps=5, frame_stack=1, warp_size=32)
    env = level_trial_env_thunk(levels, config, episodes_per_trial=2, seed=0)()
    try:
        seen = set()
        frames = {}
        for _ in range(8):
            _, info, steps, episodes, _ = _play_trial(env, action=1)
            assert steps == 10 and len({e["task"] for e in episodes}) == 1
            seen.add(info["task"])
            # What a vec env worker reports and shows: the level and screen of the env playing now.
            assert str(env.unwrapped.level) == info["task"]
            frames[info["task"]] = env.unwrapped.get_frame().copy()
        assert seen == set(levels)
        assert all(frame.shape == (210, 160, 3) for frame in frames.values())
        assert not np.array_equal(*frames.values())  # Pong's screen is not Breakout's
    finally:
        env.close()
