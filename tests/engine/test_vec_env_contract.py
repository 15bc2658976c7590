"""Every vector env keeps the one interface (`engine.vec.base.VecEnv`): `ShmVecEnv`, `InProcessVecEnv`, RL²'s
`BanditVecEnv` and `RayVecEnv` (env actors on a real local two-node Ray cluster) checked by the same tests: shapes and dtypes, seeding, same-step auto-reset with `final_obs`,
returned arrays that are the caller's, frames of the watched env only (readable by segment name), close twice."""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from toy_envs import Painted, corridor, flash_cue
from workbench.core.frames import FrameReader
from workbench.engine.rl2.bandit_vec import BanditVecEnv
from workbench.engine.vec.base import VecEnv
from workbench.engine.vec.in_process import InProcessVecEnv
from workbench.engine.vec.shm import ShmVecEnv

KINDS = ["shm", "in_process", "bandit", "ray"]
WITH_FRAMES = ["shm", "in_process", "ray"]
EPISODE = 3
"""Steps of action 1 after which every env's episode ends (terminated): Corridor(4) walked right, or 3 pulls."""
FIRST_OBS = {"bandit": [0.0], "env": [1, 0, 0, 0]}
LAST_OBS = {"bandit": [1.0], "env": [0, 0, 0, 1]}


def _of(kind: str, env_fns):
    if kind == "ray":
        from workbench.engine.cluster.vec import RayVecEnv

        return RayVecEnv(env_fns)
    return ShmVecEnv(env_fns) if kind == "shm" else InProcessVecEnv(env_fns)


@pytest.fixture(scope="module", autouse=True)
def _ray(request):
    """A driver connection to the session's two-node cluster, for the Ray kind (only when a Ray test runs)."""
    if not any(item.name.endswith("[ray]") or "ray_actor" in item.name for item in request.session.items
               if item.module is request.module):
        yield
        return
    import ray

    cluster = request.getfixturevalue("ray_cluster")
    ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR")
    try:
        yield
    finally:
        ray.shutdown()


def short_episodes(kind: str, n: int = 2):
    if kind == "bandit":
        return BanditVecEnv(n, 2, EPISODE, seed=0, time_input=True)  # the time fraction tells last from first
    return _of(kind, [functools.partial(corridor, 4, 6)] * n)


def random_envs(kind: str, n: int = 2):
    """Envs whose observations and rewards depend on the seed."""
    if kind == "bandit":
        return BanditVecEnv(n, 3, 4)
    return _of(kind, [functools.partial(flash_cue, 5)] * n)


@pytest.fixture(params=KINDS)
def kind(request):
    return request.param


def test_conforms_with_shaped_typed_arrays_the_caller_owns(kind):
    venv = short_episodes(kind)
    try:
        assert isinstance(venv, VecEnv)
        n, shape, dtype = venv.num_envs, venv.observation_space.shape, venv.observation_space.dtype
        assert n == 2
        first = venv.reset(seed=0)
        assert first.shape == (n, *shape) and first.dtype == dtype
        kept_first = first.copy()
        outs, kept = [], []
        for _ in range(EPISODE):
            obs, rewards, terminated, truncated, infos = out = venv.step(np.ones(n, np.int64))
            assert obs.shape == (n, *shape) and obs.dtype == dtype
            assert rewards.shape == (n,) and rewards.dtype == np.float32
            assert terminated.shape == truncated.shape == (n,)
            assert terminated.dtype == truncated.dtype == np.bool_
            assert isinstance(infos, list) and len(infos) == n and all(isinstance(i, dict) for i in infos)
            outs.append(out)
            kept.append([np.array(a) for a in out[:4]])
        # every step changed the observations: an array that was a view of the env's state would show it
        np.testing.assert_array_equal(first, kept_first)
        for out, copies in zip(outs, kept):
            for array, copy in zip(out[:4], copies):
                np.testing.assert_array_equal(array, copy)
        assert not np.shares_memory(outs[0][0], outs[1][0])
    finally:
        venv.close()


def test_the_same_seed_gives_the_same_episodes(kind):
    def play(seed):
        venv = random_envs(kind)
        try:
            trace = [venv.reset(seed=seed)]
            for t in range(8):
                obs, rewards, terminated, truncated, _ = venv.step(np.full(venv.num_envs, t % 3))
                trace += [obs, rewards, terminated, truncated]
            return trace
        finally:
            venv.close()

    a, b, other = play(7), play(7), play(8)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, y) for x, y in zip(a, other)), "another seed, the same episodes"


@pytest.mark.parametrize("kind", WITH_FRAMES)
def test_seed_s_gives_env_i_the_seed_s_plus_i(kind):
    venv = random_envs(kind)
    try:
        obs = venv.reset(seed=7)
    finally:
        venv.close()
    for i in range(2):
        expected, _ = flash_cue(5).reset(seed=7 + i)
        np.testing.assert_array_equal(obs[i], expected)


def test_an_ended_episode_resets_in_the_same_step_with_its_final_obs(kind):
    venv = short_episodes(kind)
    group = "bandit" if kind == "bandit" else "env"
    try:
        obs = venv.reset(seed=0)
        np.testing.assert_array_equal(obs, [FIRST_OBS[group]] * 2)
        for t in range(1, EPISODE + 1):
            obs, _, terminated, truncated, infos = venv.step(np.ones(2, np.int64))
            assert terminated.all() == (t == EPISODE) and not truncated.any()
            assert all(("final_obs" in info) == (t == EPISODE) for info in infos)
        for info in infos:
            np.testing.assert_array_equal(info["final_obs"], LAST_OBS[group])
        np.testing.assert_array_equal(obs, [FIRST_OBS[group]] * 2)  # already the next episode's first
        finals = [np.array(info["final_obs"]) for info in infos]
        venv.step(np.ones(2, np.int64))
        for info, final in zip(infos, finals):
            np.testing.assert_array_equal(info["final_obs"], final)  # not overwritten by the next step
    finally:
        venv.close()


def test_frames_come_only_from_the_watched_env(kind):
    if kind == "bandit":
        venv = BanditVecEnv(2, 2, 3)
    else:
        venv = _of(kind, [functools.partial(Painted, 1), functools.partial(Painted, 2)])
    try:
        venv.reset(seed=0)
        name = venv.frame_shm_name()
        assert venv.watched is None and venv.frame() is None
        with pytest.raises(IndexError):
            venv.watch(2)
        if kind == "bandit":  # no screen: nothing to watch, no segment
            venv.watch(1)
            venv.step([0, 0])
            assert name is None and venv.watched is None and venv.frame() is None
            return
        with FrameReader(name) as reader:
            venv.step([2, 2])
            assert venv.frame() is None and reader.read() is None  # nothing watched: nobody copied a frame
            venv.watch(1)
            assert venv.watched == reader.watched == 1
            for _ in range(2):
                venv.step([2, 2])
            frame = venv.frame()
            assert frame.shape == (6, 8, 3) and frame.dtype == np.uint8
            assert (frame[..., 0] == 2).all() and (frame[..., 1] == 3).all()  # env 1's newest (3 steps so far)
            counter, same = reader.read()
            np.testing.assert_array_equal(same, frame)
            assert reader.read(only_new=True) is None and counter == 2  # two steps while watched: two frames
            venv.watch(0)
            assert venv.frame() is None and reader.read() is None  # env 0 published nothing while unwatched
            venv.step([2, 2])
            assert (venv.frame()[..., 0] == 1).all() and (reader.read()[1][..., 1] == 4).all()
            venv.watch(None)
            assert venv.watched is None and venv.frame() is None and reader.read() is None
    finally:
        venv.close()


@pytest.mark.slow
@pytest.mark.parametrize("kind", WITH_FRAMES)
def test_the_watched_airstriker_env_publishes_its_full_size_screen(kind):
    from workbench.core.levels import Level
    from workbench.core.settings import EnvConfig
    from workbench.engine.envs.retro import env_thunk

    # one emulator per process: one env, so the in-process vec env can hold it too
    venv = _of(kind, [env_thunk([Level.parse("Airstriker-Genesis-v0:Level1")], EnvConfig(), 0, 0)])
    try:
        venv.watch(0)
        venv.reset(seed=0)
        frames = [venv.frame()]
        for _ in range(20):
            venv.step([6])
        frames.append(venv.frame())
        for frame in frames:
            assert frame.shape == (224, 320, 3) and frame.dtype == np.uint8 and frame.any()
        assert not np.array_equal(frames[0], frames[1])  # the newest screen, not the first one kept
        with FrameReader(venv.frame_shm_name()) as reader:
            counter, same = reader.read()
        assert counter == 21  # the reset's frame and one per step
        np.testing.assert_array_equal(same, frames[1])
    finally:
        venv.close()


def test_close_twice_releases_everything(kind):
    venv = short_episodes(kind)
    name = venv.frame_shm_name()
    venv.reset(seed=0)
    venv.close()
    venv.close()
    assert venv.watched is None and venv.frame() is None and venv.frame_shm_name() is None
    if name is not None:
        assert not Path(f"/dev/shm/{name}").exists()


def test_seeds_and_auto_reset_hold_with_several_envs_on_each_ray_actor():
    """`envs_per_actor=2`: each actor holds a shared-memory vec env of two subprocess envs on its node; env i
    still gets the seed s + i and the same-step auto-reset with its final observation (kind 'ray' above: one env
    per actor)."""
    from workbench.engine.cluster.vec import RayVecEnv

    venv = RayVecEnv([functools.partial(flash_cue, 3)] * 4, envs_per_actor=2)
    local = [flash_cue(3) for _ in range(4)]
    try:
        assert venv.groups == [[0, 1], [2, 3]]
        obs = venv.reset(seed=7)
        for i, env in enumerate(local):
            np.testing.assert_array_equal(obs[i], env.reset(seed=7 + i)[0])
        for t in range(4):  # 3-step episodes, truncated: one auto-reset in the middle
            obs, rewards, _, truncated, infos = venv.step(np.full(4, t % 4))
            for i, env in enumerate(local):
                expected, reward, _, trunc, _ = env.step(t % 4)
                assert truncated[i] == trunc and rewards[i] == reward
                if trunc:
                    np.testing.assert_array_equal(infos[i]["final_obs"], expected)
                    expected, _ = env.reset()
                np.testing.assert_array_equal(obs[i], expected)
    finally:
        venv.close()


def test_a_ray_actor_that_cannot_come_back_fails_naming_its_node_and_pid():
    """Restarts used up (here none allowed): the step fails with the actor, its envs, node and pid named."""
    import os
    import signal

    from workbench.engine.cluster.vec import EnvActorLost, RayVecEnv

    venv = RayVecEnv([functools.partial(corridor, 4, 6)] * 2, max_restarts=0)
    try:
        venv.reset(seed=0)
        node, pid = venv.actor_pids()[1]
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(EnvActorLost, match=rf"env actor 1 \(envs 1\.\.1\) on node {node[:8]}, pid {pid} died"):
            venv.step(np.ones(2, np.int64))
    finally:
        venv.close()
