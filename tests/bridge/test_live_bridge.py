"""The live bridge and a GUI's run handle in one process, without a trainer or an emulator: the GUI maps the vec
env's own frame segment, frames are copied only while a GUI is connected and only for the env it watches, and
episodes and updates arrive as the engine's records themselves."""
from __future__ import annotations

import functools
import json
import os
import time

import numpy as np

from toy_envs import Painted
from workbench.bridge import protocol
from workbench.bridge.live_bridge import BRIDGE_FILE, LiveBridge
from workbench.bridge.supervisor import RunHandle
from workbench.core.records import EpisodeRecord, StepRecord, UpdateRecord
from workbench.engine.rl2.bandit_vec import BanditVecEnv
from workbench.engine.vec.in_process import InProcessVecEnv


class Trainer:
    """What the bridge uses of a trainer."""

    action_labels = ["left", "right", "stay"]

    def __init__(self, vec_env):
        self.vec_env = vec_env

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def stop(self) -> None: ...


def _until(predicate, handle: RunHandle, timeout: float = 20.0) -> list:
    messages = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages += handle.poll()
        if predicate(messages):
            return messages
        time.sleep(0.01)
    raise AssertionError(f"timed out; messages so far: {messages}")


def _connected(tmp_path, vec_env):
    bridge = LiveBridge(tmp_path)
    bridge.attach(Trainer(vec_env), ["Corridor"])
    handle = RunHandle(run_dir=tmp_path, pid=os.getpid(), state="running")
    _until(lambda _: handle.hello is not None, handle)
    return bridge, handle


def test_the_gui_reads_the_watched_envs_frames_only_while_connected(tmp_path):
    venv = InProcessVecEnv([functools.partial(Painted, 1), functools.partial(Painted, 2)])
    bridge = handle = None
    try:
        venv.reset(seed=0)
        bridge = LiveBridge(tmp_path)
        bridge.attach(Trainer(venv), ["Corridor"])
        assert venv.watched is None  # no GUI: no env copies frames
        assert json.loads((tmp_path / BRIDGE_FILE).read_text())["frame_shm"] == venv.frame_shm_name()
        handle = RunHandle(run_dir=tmp_path, pid=os.getpid(), state="running")
        _until(lambda _: handle.hello is not None and venv.watched == 0, handle)
        assert handle.hello.frame_shm == venv.frame_shm_name() and handle.hello.n_envs == 2
        handle.watch(1)
        _until(lambda _: venv.watched == 1, handle)
        venv.step([2, 2])
        frame = handle.frame()
        assert frame.shape == (6, 8, 3) and (frame[..., 0] == 2).all()  # env 1's, from the vec env's own segment
        assert handle.frame() is None  # the same frame is not handed out twice
        handle.detach()
        deadline = time.monotonic() + 20
        while venv.watched is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert venv.watched is None  # the last GUI left: frames stop
    finally:
        if handle is not None:
            handle.detach()
        if bridge is not None:
            bridge.close()
        venv.close()


def test_episodes_and_updates_arrive_as_the_engines_records(tmp_path):
    venv = BanditVecEnv(2, 3, 4)
    bridge, handle = _connected(tmp_path, venv)
    try:
        assert handle.hello.frame_shm is None and handle.frame() is None  # a bandit has no screen
        episode = EpisodeRecord(global_step=40, env_index=1, level="bandit-k3-n4", episode_return=2.0, length=4,
                                truncated=False, seed=3)
        update = UpdateRecord(global_step=64, update=2, metrics={"entropy": 1.05, "approx_kl": 0.01})
        bridge.on_step(StepRecord(global_step=8, actions=np.array([2, 0]), probs=np.full((2, 3), 1 / 3, np.float32),
                                  values=np.array([0.5, -0.25], np.float32), rewards=np.array([1.0, 0.0], np.float32),
                                  terminated=np.zeros(2, bool), truncated=np.zeros(2, bool)))
        bridge.on_episode(episode)
        bridge.on_update(update)
        messages = _until(lambda ms: any(isinstance(m, UpdateRecord) for m in ms), handle)
        summary = next(m for m in messages if isinstance(m, protocol.StepSummary))
        assert (summary.env_index, summary.action, summary.value, summary.global_step) == (0, 2, 0.5, 8)
        assert [m for m in messages if isinstance(m, EpisodeRecord)] == [episode]
        assert [m for m in messages if isinstance(m, UpdateRecord)] == [update]
        assert handle.global_step == 64
    finally:
        handle.detach()
        bridge.close()
        venv.close()
