"""The env factory on real emulators: Airstriker (ships with stable-retro) and Atari ROMs from ale-py."""
from __future__ import annotations

import gzip
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from workbench.core.levels import Level
from workbench.core.settings import EnvConfig
from workbench.engine.envs.retro import level_dirname, make_env

AIRSTRIKER = Level("Airstriker-Genesis-v0", "Level1")
PONG = Level("Pong-Atari2600-v0", "Start")
BREAKOUT = Level("Breakout-Atari2600-v0", "Start")


def play(env, steps, rng):
    """Random actions; returns the infos of finished episodes."""
    episodes = []
    for _ in range(steps):
        _, _, term, trunc, info = env.step(int(rng.integers(env.action_space.n)))
        if term or trunc:
            episodes.append(info["episode"])
            env.reset()
    return episodes


def test_make_env_builds_the_learning_stack():
    env = make_env([AIRSTRIKER], EnvConfig(max_episode_steps=20, reward_scale=0.5), seed=1)
    try:
        assert env.observation_space.shape == (4, 84, 84) and env.action_space.n == 126
        obs, info = env.reset()
        assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8 and info["level"] == str(AIRSTRIKER)
        assert env.unwrapped.level == AIRSTRIKER
        assert env.unwrapped.get_frame().shape == (224, 320, 3)
        episodes = play(env, 20, np.random.default_rng(0))
        assert len(episodes) == 1
        assert episodes[0]["l"] == 20 and episodes[0]["truncated"] and episodes[0]["level"] == str(AIRSTRIKER)
    finally:
        env.close()


def test_same_seed_same_episode_and_fixed_sampling_follows_the_worker_index(isolated_dirs):
    home, _ = isolated_dirs
    later = save_later_state(home)
    levels = [AIRSTRIKER, later]
    config = EnvConfig(level_sampling="fixed", max_episode_steps=30, sticky_prob=0.5)
    actions = np.random.default_rng(2).integers(126, size=30)
    runs = []
    for worker_index in (0, 1, 3, 1):  # one emulator per process: one env at a time
        env = make_env(levels, config, seed=5, worker_index=worker_index)
        try:
            obs, _ = env.reset()
            run = [(env.unwrapped.level, obs)]
            for action in actions:
                obs, reward, term, trunc, _ = env.step(int(action))
                run.append((reward, term, trunc, obs))
            runs.append(run)
        finally:
            env.close()
    assert [run[0][0] for run in runs] == [AIRSTRIKER, later, later, later]
    for a, b in zip(runs[1], runs[3]):  # same seed and worker: the same episode, frame for frame
        np.testing.assert_array_equal(a[-1], b[-1])
        assert a[:-1] == b[:-1]
    assert any(not np.array_equal(a[-1], b[-1]) for a, b in zip(runs[1], runs[2]))  # other worker, other seed


def save_later_state(home: Path) -> Level:
    """A custom start state 120 frames into Airstriker, saved where the user's start states go."""
    import stable_retro

    env = stable_retro.make(AIRSTRIKER.game, state=AIRSTRIKER.state, render_mode=None)
    env.reset()
    for _ in range(120):
        env.step(np.zeros(12, np.uint8))
    state = env.em.get_state()
    env.close()
    folder = home / "integrations" / AIRSTRIKER.game
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / "Later.state", "wb") as f:
        f.write(state)
    return Level(AIRSTRIKER.game, "Later")


def test_per_episode_sampling_on_one_game_loads_states_without_a_new_emulator(isolated_dirs):
    home, _ = isolated_dirs
    later = save_later_state(home)
    env = make_env([AIRSTRIKER, later], EnvConfig(level_sampling="per_episode", max_episode_steps=2), seed=3)
    try:
        emulator = env.unwrapped.retro
        env.reset()
        first_frames = {}
        for _ in range(12):
            level = env.unwrapped.level
            first_frames.setdefault(level, env.unwrapped.get_frame().copy())
            env.step(0)
            _, _, _, trunc, info = env.step(0)
            assert trunc and info["episode"]["level"] == str(level)
            env.reset()
        assert set(first_frames) == {AIRSTRIKER, later}
        assert env.unwrapped.retro is emulator  # same game: the same emulator, another start state
        assert not np.array_equal(first_frames[AIRSTRIKER], first_frames[later])
    finally:
        env.close()


def test_per_episode_sampling_across_two_atari_games(atari_roms):
    config = EnvConfig(level_sampling="per_episode", max_episode_steps=3, frame_skip=2)
    env = make_env([PONG, BREAKOUT], config, seed=0, worker_index=2)
    try:
        assert env.action_space.n == 18 and env.observation_space.shape == (4, 84, 84)
        env.reset()
        played = Counter()
        games = set()
        rng = np.random.default_rng(0)
        for _ in range(10):
            games.add(env.unwrapped.retro.gamename)
            episodes = []
            while not episodes:
                episodes = play(env, 1, rng)
            played[episodes[0]["level"]] += 1
            assert env.observation_space.shape == (4, 84, 84)
        assert set(played) == {str(PONG), str(BREAKOUT)}
        assert games == {PONG.game, BREAKOUT.game}
        # the draws come from the env's own seeded RNG: the same seed draws the same levels
        draws = np.random.default_rng([2, 0]).integers(2, size=11)
        assert played == Counter(str([PONG, BREAKOUT][d]) for d in draws[:10])
    finally:
        env.close()


def replay_final_frame(path: Path):
    """Play a .bk2 back with stable-retro's Movie; returns (last frame, total reward, frames)."""
    import stable_retro

    movie = stable_retro.Movie(str(path))
    movie.step()
    env = stable_retro.make(movie.get_game(), state=stable_retro.State.NONE, render_mode=None,
                            use_restricted_actions=stable_retro.Actions.ALL, players=movie.players,
                            inttype=stable_retro.data.Integrations.ALL)
    try:
        env.initial_state = movie.get_state()
        env.reset()
        total, frames, obs = 0.0, 0, None
        while movie.step():
            obs, reward, *_ = env.step([movie.get_key(i, 0) for i in range(env.num_buttons)])
            total += reward
            frames += 1
        return obs, total, frames
    finally:
        env.close()


def test_recorded_movies_replay_exactly_and_are_never_overwritten(tmp_path):
    config = EnvConfig(max_episode_steps=40, sticky_prob=0.5)
    env = make_env([AIRSTRIKER], config, seed=9, worker_index=3, record_dir=tmp_path)
    rng = np.random.default_rng(1)
    try:
        env.reset()
        episodes = []
        while len(episodes) < 2:
            _, _, term, trunc, info = env.step(int(rng.integers(126)))
            if term or trunc:
                episodes.append(info["episode"])
                final = env.unwrapped.get_frame().copy()
                env.reset()
        env.step(0)  # an unfinished third episode: discarded at close
    finally:
        env.close()
    folder = level_dirname(AIRSTRIKER)
    assert [e["movie"] for e in episodes] == [f"{folder}/w03-e000000.bk2", f"{folder}/w03-e000001.bk2"]
    assert sorted(p.name for p in (tmp_path / folder).iterdir()) == ["w03-e000000.bk2", "w03-e000001.bk2"]
    frame, total, frames = replay_final_frame(tmp_path / episodes[1]["movie"])
    np.testing.assert_array_equal(frame, final)
    assert total == episodes[1]["r"] and frames == 4 * episodes[1]["l"]

    # a worker killed mid-episode leaves its temp movie: the next run for that worker drops it
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / folder / f".w03-e000002.bk2.{dead.pid}.tmp.bk2"
    stale.write_bytes(b"half a movie")
    again = make_env([AIRSTRIKER], config, seed=9, worker_index=3, record_dir=tmp_path)
    assert not stale.exists()
    try:
        again.reset()
        while True:
            _, _, term, trunc, info = again.step(0)
            if term or trunc:
                break
    finally:
        again.close()
    assert info["episode"]["movie"] == f"{folder}/w03-e000002.bk2"


def test_bad_levels_get_a_message_with_the_fix():
    config = EnvConfig()
    with pytest.raises(ValueError, match="unknown game 'NoSuchGame-Genesis-v0'"):
        make_env([Level("NoSuchGame-Genesis-v0", "Level1")], config)
    with pytest.raises(ValueError, match="has no start state 'Level9'.*Level1"):
        make_env([Level(AIRSTRIKER.game, "Level9")], config)
    with pytest.raises(ValueError, match="no scenario 'contest'"):
        make_env([AIRSTRIKER], EnvConfig(scenario="contest"))
    with pytest.raises(ValueError, match="different action space"):
        make_env([AIRSTRIKER, PONG], config)

    import stable_retro

    try:
        stable_retro.data.get_romfile_path("SonicTheHedgehog-Genesis-v0", stable_retro.data.Integrations.ALL)
    except FileNotFoundError:
        with pytest.raises(ValueError, match="not imported"):
            make_env([Level("SonicTheHedgehog-Genesis-v0", "GreenHillZone.Act1")], config)


def test_fast_frame_skip_path_plays_exactly_like_frame_by_frame_steps(tmp_path):
    import gymnasium as gym

    from workbench.engine.envs.wrappers import StickyFrameSkip

    config = EnvConfig(max_episode_steps=25, sticky_prob=0.5)
    actions = np.random.default_rng(4).integers(126, size=60)
    runs = []
    for fast in (True, False):
        env = make_env([AIRSTRIKER], config, seed=2, record_dir=tmp_path / str(fast))
        sticky = env
        while not isinstance(sticky, StickyFrameSkip):
            sticky = sticky.env
        if not fast:
            sticky.env = gym.Wrapper(sticky.env)  # hides step_frames: one env.step per frame
        assert (getattr(sticky.env, "step_frames", None) is not None) == fast
        try:
            run = [env.reset()[0]]
            for a in actions:
                obs, reward, term, trunc, info = env.step(int(a))
                run.append((obs, reward, term, trunc, {k: v for k, v in info.items() if k != "episode"}))
                if term or trunc:
                    run.append(info["episode"])
                    run.append(env.reset()[0])
        finally:
            env.close()
        runs.append(run)
    assert len(runs[0]) == len(runs[1]) and sum(isinstance(x, dict) for x in runs[0]) == 2
    for a, b in zip(*runs):
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)
        elif isinstance(a, dict):
            assert a["r"] == b["r"] and a["l"] == b["l"] and a["movie"] == b["movie"]
        else:
            np.testing.assert_array_equal(a[0], b[0])
            assert a[1:] == b[1:]
    frames = [replay_final_frame(tmp_path / str(fast) / level_dirname(AIRSTRIKER) / "w00-e000001.bk2")
              for fast in (True, False)]
    np.testing.assert_array_equal(frames[0][0], frames[1][0])
    assert frames[0][1:] == frames[1][1:]
