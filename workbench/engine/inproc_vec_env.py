"""An in-process vector env with the same API as `vec_env.ShmVecEnv` (same-step auto-reset,
`infos[i]["final_obs"]`): for jobs that already run in their own process with one or two envs (transfer
per-level jobs) and for fast tests, where worker processes would only add start-up time."""
from __future__ import annotations

from typing import Callable, Sequence

import gymnasium as gym
import numpy as np


class InProcessVecEnv:
    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]]):
        self.envs = [fn() for fn in env_fns]
        self.num_envs = len(self.envs)
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space
        self._obs = np.zeros((self.num_envs, *self.observation_space.shape), self.observation_space.dtype)
        self._actions: np.ndarray | None = None
        self._watched = 0
        self._last_frame: np.ndarray | None = None

    def reset(self, seed: int | None = None) -> np.ndarray:
        for i, env in enumerate(self.envs):
            self._obs[i], _ = env.reset(seed=None if seed is None else seed + i)
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
                info = dict(info, final_obs=obs)
                obs, _ = env.reset()
            self._obs[i] = obs
            infos.append(info)
        self._actions = None
        return self._obs.copy(), rewards, terminated, truncated, infos

    def step(self, actions: np.ndarray):
        self.step_async(actions)
        return self.step_wait()

    def watch(self, index: int) -> None:
        self._watched = index

    def frame(self) -> np.ndarray | None:
        env = self.envs[self._watched]
        render = getattr(env.unwrapped, "get_screen", None)
        return render() if render else None

    def close(self) -> None:
        for env in self.envs:
            env.close()
        self.envs = []
