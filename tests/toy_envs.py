"""Tiny synthetic environments: fast, deterministic given a seed, learnable in seconds. Tests and examples use
them to check learning, truncation handling and the process plumbing without an emulator.

They follow the engine's env contract: Gymnasium 5-tuple step, and at an episode's end
`info["episode"] = {"r", "l", "level", "truncated", "movie"}` like the retro envs.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np


class _EpisodeInfo(gym.Env):
    level = "toy"

    def _start(self) -> None:
        self._ret, self._len = 0.0, 0

    def _account(self, reward: float, terminated: bool, truncated: bool, info: dict) -> None:
        self._ret += reward
        self._len += 1
        if terminated or truncated:
            info["episode"] = {"r": self._ret, "l": self._len, "level": self.level, "truncated": bool(truncated)
                               and not terminated, "movie": None}


class Corridor(_EpisodeInfo):
    """Walk right along `length` cells (one-hot position): each newly reached cell pays 1/(length-1), every step
    costs 0.01, the last cell ends the episode (terminated); truncated after `max_steps`. Actions: 0 left,
    1 right, 2 stay. A random policy scores about 0; walking straight right scores 1 - 0.01 * (length - 1)."""

    level = "Corridor"

    def __init__(self, length: int = 16, max_steps: int = 32):
        self.length, self.max_steps = length, max_steps
        self.observation_space = gym.spaces.Box(0.0, 1.0, (length,), np.float32)
        self.action_space = gym.spaces.Discrete(3)
        self.pos = self.best = 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self.length, np.float32)
        obs[self.pos] = 1.0
        return obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = self.best = 0
        self._start()
        return self._obs(), {}

    def step(self, action):
        self.pos = int(np.clip(self.pos + (-1, 1, 0)[int(action)], 0, self.length - 1))
        reward = -0.01
        if self.pos > self.best:
            reward += (self.pos - self.best) / (self.length - 1)
            self.best = self.pos
        terminated = self.pos == self.length - 1
        truncated = not terminated and self._len + 1 >= self.max_steps
        info: dict = {}
        self._account(reward, terminated, truncated, info)
        return self._obs(), reward, terminated, truncated, info


class FlashCue(_EpisodeInfo):
    """Image version for the CNN path: a (4, 84, 84) uint8 frame whose brightness says which of 4 actions pays
    +1 this step. Episodes last `max_steps` and are truncated (never terminated)."""

    level = "FlashCue"

    def __init__(self, max_steps: int = 16, n_actions: int = 4):
        self.max_steps, self.n = max_steps, n_actions
        self.observation_space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
        self.action_space = gym.spaces.Discrete(n_actions)
        self.cue = 0

    def _obs(self) -> np.ndarray:
        return np.full((4, 84, 84), 40 + 60 * self.cue, np.uint8)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.cue = int(self.np_random.integers(self.n))
        self._start()
        return self._obs(), {}

    def step(self, action):
        reward = 1.0 if int(action) == self.cue else 0.0
        self.cue = int(self.np_random.integers(self.n))
        truncated = self._len + 1 >= self.max_steps
        info: dict = {}
        self._account(reward, False, truncated, info)
        return self._obs(), reward, False, truncated, info


def corridor(length: int = 16, max_steps: int = 32) -> Corridor:
    """Picklable thunk target: `functools.partial(corridor, 16, 32)`."""
    return Corridor(length, max_steps)


def flash_cue(max_steps: int = 16) -> FlashCue:
    return FlashCue(max_steps)


class Painted(Corridor):
    """Corridor with a screen: red = which env (`value`), green = steps taken so far, over episodes."""

    def __init__(self, value: int):
        super().__init__(4, 6)
        self.value, self.steps = value, 0

    def step(self, action):
        self.steps += 1
        return super().step(action)

    def get_frame(self) -> np.ndarray:
        frame = np.zeros((6, 8, 3), np.uint8)
        frame[..., 0], frame[..., 1] = self.value, self.steps
        return frame


class JumpCorridor(_EpisodeInfo):
    """A side-scroller in one dimension for JERK: walk right along `length` cells; the cells in `walls` can only be
    entered while jumping. Actions (`engine.baselines.jerk.JERK_MOVES`): 0 no-op, 1 right, 2 left, 3 right+jump,
    4 left+jump. Each newly reached cell pays 1/(length-1) (the return of a finished run is 1); the last cell ends
    the episode (terminated); truncated after `max_steps`. Deterministic: a replayed action sequence gives the same
    rewards."""

    level = "JumpCorridor"

    def __init__(self, length: int = 40, walls: tuple[int, ...] = (12, 27), max_steps: int = 300):
        self.length, self.walls, self.max_steps = length, set(walls), max_steps
        self.observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(5)
        self.pos = self.best = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = self.best = 0
        self._start()
        return np.array([0.0], np.float32), {}

    def step(self, action):
        action = int(action)
        move = {0: 0, 1: 1, 2: -1, 3: 1, 4: -1}[action]
        target = int(np.clip(self.pos + move, 0, self.length - 1))
        if target not in self.walls or action in (3, 4):
            self.pos = target
        reward = 0.0
        if self.pos > self.best:
            reward = (self.pos - self.best) / (self.length - 1)
            self.best = self.pos
        terminated = self.pos == self.length - 1
        truncated = not terminated and self._len + 1 >= self.max_steps
        info: dict = {}
        self._account(reward, terminated, truncated, info)
        return np.array([self.pos / self.length], np.float32), reward, terminated, truncated, info
