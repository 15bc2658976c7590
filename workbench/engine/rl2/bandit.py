"""Bernoulli multi-armed bandits, RL²'s first test bed (Duan et al. 2016, section 4.1).

One episode = `n_pulls` pulls of one k-armed bandit; each pull is one step with reward 1 with probability p_i of
the pulled arm. The arm probabilities p_i ~ U[0, 1] are drawn when a new task starts: on the first reset, and on
every reset with `options={"new_task": True}` (what `TrialEnv` passes at each trial start). The observation is a
constant 0, as in the paper: everything the policy learns about the arms, and how far into the trial it is, comes
through its previous action, reward and done inputs (and its memory). `time_input=True` (an addition, not the
paper's) makes it the fraction of the episode's pulls already made (0 before the first), which tells the policy how
much time is left to exploit what it learned and its value head how much reward is still to come.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np


class BernoulliBandit(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, n_arms: int = 5, n_pulls: int = 10, time_input: bool = False):
        if n_arms < 2 or n_pulls < 1:
            raise ValueError(f"a bandit needs at least 2 arms and 1 pull (got n_arms={n_arms}, n_pulls={n_pulls})")
        self.n_arms = n_arms
        self.n_pulls = n_pulls
        self.time_input = time_input
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(n_arms)
        self.arm_probs: np.ndarray | None = None
        self._pulls = 0
        self._return = 0.0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if self.arm_probs is None or seed is not None or (options or {}).get("new_task", False):
            self.arm_probs = self.np_random.uniform(0.0, 1.0, size=self.n_arms)
        self._pulls = 0
        self._return = 0.0
        return self._observation(), {"arm_probs": self.arm_probs.copy()}

    def step(self, action):
        if self.arm_probs is None:
            raise RuntimeError("call reset() before step()")
        self._pulls += 1
        reward = float(self.np_random.random() < self.arm_probs[int(action)])
        # The n-th pull is a real end of the task, not a time limit: nothing follows it.
        terminated = self._pulls >= self.n_pulls
        self._return += reward
        info = {}
        if terminated:  # the engine's env contract: episode statistics at the end
            info["episode"] = {"r": self._return, "l": self._pulls, "level": self.task_name(), "truncated": False,
                               "movie": None}
        return self._observation(), reward, terminated, False, info

    def _observation(self) -> np.ndarray:
        return np.array([self._pulls / self.n_pulls if self.time_input else 0.0], dtype=np.float32)

    def task_name(self) -> str:
        return f"bandit-k{self.n_arms}-n{self.n_pulls}"


def random_expected_total(n_pulls: int) -> float:
    """Expected total reward of uniformly random pulls: each pull pays E[p] = 0.5."""
    return 0.5 * n_pulls


def oracle_expected_total(n_arms: int, n_pulls: int) -> float:
    """Expected total of always pulling the best arm: n * E[max of k uniforms] = n * k / (k + 1)."""
    return n_pulls * n_arms / (n_arms + 1)
