"""What only ShmVecEnv has, with real worker processes and the real Airstriker emulator: it matches the envs
stepped alone, reports levels and reset infos, shares frames with other processes, survives dying and hanging
workers, and pickles any env thunk. The interface all vec envs share is checked in test_vec_env_contract.py."""
from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from workbench.core.levels import Level
from workbench.core.settings import EnvConfig
from workbench.engine.envs.retro import env_thunk, make_env
from toy_envs import Corridor
from workbench.core.paths import SHM_PREFIX
from workbench.engine.vec.shm import ShmVecEnv, WorkerDiedError

AIRSTRIKER = Level("Airstriker-Genesis-v0", "Level1")
CONFIG = EnvConfig(max_episode_steps=12, level_sampling="fixed")


def our_segments() -> set[str]:
    return {name for name in os.listdir("/dev/shm") if name.startswith(SHM_PREFIX)}


@pytest.mark.slow
def test_matches_single_process_envs_with_auto_reset_and_final_obs():
    actions = np.random.default_rng(0).integers(126, size=(30, 2))
    with ShmVecEnv([env_thunk([AIRSTRIKER], CONFIG, 0, i) for i in range(2)]) as venv:
        assert venv.num_envs == 2 and venv.observation_space.shape == (4, 84, 84)
        assert venv.action_space.n == 126
        obs = venv.reset(seed=40)
        assert [info["level"] for info in venv.reset_infos] == [str(AIRSTRIKER)] * 2
        steps = [venv.step(a) for a in actions]
    # the reference: env 1 alone in this process, seeded as the vec env seeds it (40 + 1)
    single = make_env([AIRSTRIKER], CONFIG, 0, 1)
    try:
        expected, _ = single.reset(seed=41)
        np.testing.assert_array_equal(obs[1], expected)
        ends = 0
        for k, (a, (obs, rewards, terminated, truncated, infos)) in enumerate(zip(actions, steps)):
            o, r, term, trunc, info = single.step(int(a[1]))
            assert (rewards[1], terminated[1], truncated[1]) == (r, term, trunc), k
            assert infos[1]["level"] == str(AIRSTRIKER)
            if term or trunc:
                ends += 1
                np.testing.assert_array_equal(infos[1]["final_obs"], o)
                assert infos[1]["episode"]["l"] == 12 and infos[1]["episode"]["truncated"]
                o, _ = single.reset()  # same-step auto-reset: the returned obs is the next episode's first
                assert "reset_info" not in infos[1] and venv.reset_infos[1]["level"] == str(AIRSTRIKER)
            else:
                assert "final_obs" not in infos[1]
            np.testing.assert_array_equal(obs[1], o, err_msg=f"step {k}")
        assert ends == 2
    finally:
        single.close()


@pytest.mark.slow
def test_the_watched_frame_is_read_from_another_process():
    with ShmVecEnv([env_thunk([AIRSTRIKER], CONFIG, 0, i) for i in range(2)]) as venv:
        venv.reset(seed=0)
        venv.watch(1)
        for _ in range(3):
            venv.step([6, 9])
        frame = venv.frame()
        # another process (as the GUI is) reads the same frame through the segment's name
        script = textwrap.dedent(f"""
            import numpy as np
            from workbench.core.frames import FrameReader
            with FrameReader({venv.frame_shm_name()!r}) as reader:
                counter, frame = reader.read()
                print(counter, reader.watched, frame.shape, int(frame.astype(np.int64).sum()))
        """)
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert out.stdout.split() == ["3", "1", "(224,", "320,", "3)", str(int(frame.astype(np.int64).sum()))], \
            out.stderr
        assert any(name == venv.frame_shm_name() for name in our_segments()), "the reader's exit left it in place"


@pytest.mark.slow
def test_a_killed_worker_raises_and_close_cleans_up():
    venv = ShmVecEnv([env_thunk([AIRSTRIKER], CONFIG, 0, i) for i in range(2)])
    try:
        venv.reset()
        ours = {name for name in our_segments() if name.startswith(f"{SHM_PREFIX}{os.getpid()}_")}
        assert len(ours) == 4  # observations, actions, rewards + flags, frames
        pid = venv._processes[1].pid
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(WorkerDiedError) as caught:
            for _ in range(3):
                venv.step([0, 0])
        assert caught.value.env_index == 1 and caught.value.exitcode == -signal.SIGKILL
        assert "SIGKILL" in str(caught.value)
        with pytest.raises(WorkerDiedError):
            venv.step([0, 0])  # stays broken
    finally:
        venv.close()
        venv.close()  # idempotent
    assert not ours & our_segments()


def test_sending_to_a_worker_that_is_already_gone_names_the_worker():
    """The pipe to a dead worker is broken: sending the step must say which worker died, not BrokenPipeError."""
    venv = ShmVecEnv([env_thunk([AIRSTRIKER], CONFIG, 0, i) for i in range(2)])
    try:
        venv.reset()
        os.kill(venv._processes[0].pid, signal.SIGKILL)
        venv._processes[0].join(10)
        with pytest.raises(WorkerDiedError) as caught:
            venv.step_async([0, 0])
        assert caught.value.env_index == 0 and caught.value.exitcode == -signal.SIGKILL
    finally:
        venv.close()


@pytest.mark.slow
def test_an_exception_in_a_worker_env_comes_back_with_its_traceback():
    with ShmVecEnv([env_thunk([AIRSTRIKER], CONFIG, 0, i) for i in range(2)]) as venv:
        venv.reset()
        with pytest.raises(WorkerDiedError) as caught:
            venv.step([0, 500])  # not an action of the 126: the Discretizer's table lookup fails
        assert caught.value.env_index == 1 and "IndexError" in caught.value.error_text
        assert "Traceback" in caught.value.error_text and "IndexError" in str(caught.value)
    with pytest.raises(WorkerDiedError, match="unknown game 'NoSuchGame-Genesis-v0'"):
        ShmVecEnv([env_thunk([Level("NoSuchGame-Genesis-v0", "Level1")], CONFIG)])


def test_workers_lower_their_priority_when_asked():
    """The trainer with `ppo.overlap` starts its env workers at nice +10 (its learner process keeps a core)."""
    with ShmVecEnv([Corridor, Corridor], nice=3) as venv:
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        assert [os.getpriority(os.PRIO_PROCESS, p.pid) for p in venv._processes] == [min(19, mine + 3)] * 2
    with ShmVecEnv([Corridor]) as venv:
        assert os.getpriority(os.PRIO_PROCESS, venv._processes[0].pid) == os.getpriority(os.PRIO_PROCESS, 0)


def test_any_picklable_env_thunk_works():
    with ShmVecEnv([functools.partial(Corridor, 4, 6), lambda: Corridor(4, 5)]) as venv:
        np.testing.assert_array_equal(venv.reset(seed=0), [[1, 0, 0, 0]] * 2)
        for _ in range(5):
            _, _, _, truncated, infos = venv.step(np.array([2, 2]))
        assert truncated.tolist() == [False, True]  # the lambda's own max_steps reached the worker
        assert infos[1]["level"] == "Corridor" and infos[1]["episode"]["l"] == 5


class Stuck(Corridor):
    """Hangs in step (a deadlocked emulator, say)."""

    def step(self, action):
        import time

        time.sleep(60)
        return super().step(action)


@pytest.mark.slow
def test_a_worker_that_stops_answering_raises_within_the_timeout():
    venv = ShmVecEnv([Corridor, Stuck], timeout_s=1.0)
    try:
        venv.reset()
        with pytest.raises(WorkerDiedError, match="env worker 1 stopped answering: no answer within 1 s"):
            venv.step([0, 0])
    finally:
        venv.close()  # terminates the stuck worker
    assert not any(p.is_alive() for p in venv._processes)
