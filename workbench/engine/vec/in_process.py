"""An in-process vector env with the same interface as `ShmVecEnv` (`vec.base.VecEnv`: same-step auto-reset,
`infos[i]["final_obs"]`, frames of the watched env in a `core.frames` segment): for jobs that already run in their
own process with one or two envs (transfer per-level jobs) and for fast tests, where worker processes would only
add start-up time.

The frame segment is made on the first `watch(i)` or `frame_shm_name()` (most users never show frames); after
each step or reset the watched env's full-size frame (`env.unwrapped.get_frame()`, as a `ShmVecEnv` worker takes
it) is copied into it, and only while an env is watched."""
from __future__ import annotations

from typing import Callable, Sequence

import gymnasium as gym
import numpy as np

from workbench.core.frames import DEFAULT_SLOT_BYTES, FrameSegment


class InProcessVecEnv:
    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]]):
        self.envs = [fn() for fn in env_fns]
        self.num_envs = len(self.envs)
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space
        self._obs = np.zeros((self.num_envs, *self.observation_space.shape), self.observation_space.dtype)
        self._actions: np.ndarray | None = None
        self._get_frame = [getattr(env.unwrapped, "get_frame", None) for env in self.envs]
        self._frames: FrameSegment | None = None
        self.closed = False

    def reset(self, seed: int | None = None) -> np.ndarray:
        for i, env in enumerate(self.envs):
            self._obs[i], _ = env.reset(seed=None if seed is None else seed + i)
        self._publish_frame()
        return self._obs.copy()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self):
        assert self._actions is not None, "step_wait without step_async"
        n = self.num_envs
        rewards = np.zeros(n, np.float32)
        terminated = np.zeros(n, bool)
        truncated = np.zeros(n, bool)
        infos: list[dict] = []
        for i, env in enumerate(self.envs):
            obs, r, term, trunc, info = env.step(self._actions[i])
            rewards[i], terminated[i], truncated[i] = r, term, trunc
            if term or trunc:
                info = dict(info, final_obs=np.array(obs))  # a copy: the env may reuse its buffer
                obs, _ = env.reset()
            self._obs[i] = obs
            infos.append(info)
        self._actions = None
        self._publish_frame()
        return self._obs.copy(), rewards, terminated, truncated, infos

    def step(self, actions: np.ndarray):
        self.step_async(actions)
        return self.step_wait()

    # -- frames ----------------------------------------------------------------------------------
    def watch(self, index: int | None) -> None:
        """Copy env `index`'s full-size frame into the frame segment after each step (None: stop)."""
        if index is not None and not 0 <= index < self.num_envs:
            raise IndexError(f"env index {index} out of range 0..{self.num_envs - 1}")
        if self.closed or (index is None and self._frames is None):
            return
        self._segment().watch(index)

    @property
    def watched(self) -> int | None:
        return None if self._frames is None else self._frames.watched

    def frame(self) -> np.ndarray | None:
        """A copy of the watched env's newest full-size frame, or None (nothing watched or stepped yet)."""
        result = None if self._frames is None else self._frames.latest()
        return None if result is None else result[1]

    def frame_shm_name(self) -> str | None:
        return None if self.closed else self._segment().name

    def _segment(self) -> FrameSegment:
        if self._frames is None:
            sizes = [int(np.asarray(get()).nbytes) for get in self._get_frame if get is not None]
            self._frames = FrameSegment.create(self.num_envs, max(sizes + [DEFAULT_SLOT_BYTES]))
        return self._frames

    def _publish_frame(self) -> None:
        index = self.watched
        if index is not None and self._get_frame[index] is not None:
            self._frames.write(index, np.asarray(self._get_frame[index]()))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for env in self.envs:
            env.close()
        self.envs = []
        if self._frames is not None:
            self._frames.close()
