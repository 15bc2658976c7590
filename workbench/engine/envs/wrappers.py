"""Gymnasium wrappers of the workbench's env stack (see `envs.make_env` for the order they are applied in).

Each works on any Gymnasium env; the retro-specific parts (levels, movies, frames) live in `envs.py`.
"""
from __future__ import annotations

import cv2
import gymnasium as gym
import numpy as np


class Discretizer(gym.ActionWrapper):
    """Action index -> button mask, for an env with a MultiBinary action space.

    With `action_set` the table is fixed; without it the table is read from the env at every reset
    (`env.unwrapped.action_table`, a level's remapped controls included, else `action_set.buttons`), so a level
    sampler that switches games or controls may switch tables (the labels stay the same).
    """

    def __init__(self, env: gym.Env, action_set=None):
        super().__init__(env)
        self._fixed = action_set
        self._table = action_set.buttons if action_set is not None else self._env_table()
        self.action_space = gym.spaces.Discrete(len(self._table))
        if hasattr(env, "step_frames"):  # pass the fast frame-skip path through (see StickyFrameSkip)
            self.step_frames = lambda actions: env.step_frames([self._table[int(a)] for a in actions])

    def reset(self, **kwargs):
        result = self.env.reset(**kwargs)
        if self._fixed is None:
            self._table = self._env_table()
        return result

    def _env_table(self):
        inner = self.env.unwrapped
        table = getattr(inner, "action_table", None)
        return table if table is not None else inner.action_set.buttons

    def action(self, action):
        return self._table[int(action)]


class StickyFrameSkip(gym.Wrapper):
    """Hold each action `n` frames; on the first frame the previous action stays with probability `p`
    (the Retro Contest's sticky frame skip; the second frame always uses the new action). Rewards are summed;
    the step ends early when the episode does.

    `seed` seeds the stickiness RNG; `reset(seed=s)` reseeds it from `s` (and passes `s` on).

    The frames' actions are known before the first frame is played, so when the inner env offers
    `step_frames(actions)` (play one action per frame, stop at the episode's end, return the last frame's
    observation and info with the summed reward: `envs.RetroLevelEnv` does) it gets them in one call, which
    skips the screen copies and per-frame Python of the frames whose observation nobody looks at.
    """

    def __init__(self, env: gym.Env, n: int = 4, p: float = 0.25, seed: int | None = None):
        super().__init__(env)
        if n < 1 or not 0.0 <= p <= 1.0:
            raise ValueError(f"sticky frame skip needs n >= 1 and 0 <= p <= 1 (got n={n}, p={p})")
        self.n, self.p = n, p
        self.cur = None
        self.rng = np.random.default_rng(None if seed is None else [seed, 1])

    def reset(self, *, seed=None, options=None):
        self.cur = None
        if seed is not None:
            self.rng = np.random.default_rng([seed, 1])
        return self.env.reset(seed=seed, options=options)

    def frame_actions(self, action) -> list:
        """The action of each of the n frames of this step (draws from the stickiness RNG)."""
        # the reference's rule and RNG draw order: frame 0 keeps the previous action when a draw (made only if
        # there is a previous action) is <= p; frame 1 on play the new one, so it becomes the previous one
        first = action if self.cur is None or self.rng.random() > self.p else self.cur
        self.cur = action if self.n > 1 else first
        return [first] + [action] * (self.n - 1)

    def step(self, action):
        actions = self.frame_actions(action)
        step_frames = getattr(self.env, "step_frames", None)
        if step_frames is not None:
            return step_frames(actions)
        total = 0.0
        for frame_action in actions:
            obs, rew, term, trunc, info = self.env.step(frame_action)
            total += rew
            if term or trunc:
                break
        return obs, total, term, trunc, info


class TimeLimit(gym.Wrapper):
    """Truncate (not terminate) after `max_steps` agent steps; 0 or less means no limit."""

    def __init__(self, env: gym.Env, max_steps: int):
        super().__init__(env)
        self.max_steps = max_steps
        self.elapsed = 0

    def reset(self, **kwargs):
        self.elapsed = 0
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, rew, term, trunc, info = self.env.step(action)
        self.elapsed += 1
        if self.max_steps > 0 and self.elapsed >= self.max_steps and not term:
            trunc = True
        return obs, rew, term, trunc, info


class WarpFrame(gym.ObservationWrapper):
    """Resize to size x size with cv2.INTER_AREA, grayscale optional; channels-first uint8 (1 or 3, size, size)."""

    def __init__(self, env: gym.Env, size: int = 84, grayscale: bool = True):
        super().__init__(env)
        self.size, self.grayscale = size, grayscale
        channels = 1 if grayscale else 3
        self.observation_space = gym.spaces.Box(0, 255, (channels, size, size), np.uint8)

    def observation(self, obs):
        return warp_frame(obs, self.size, self.grayscale)


def warp_frame(obs: np.ndarray, size: int = 84, grayscale: bool = True) -> np.ndarray:
    """An RGB screen as the policy sees it: (1 or 3, size, size) uint8 (WarpFrame's transform; replay's saliency
    rebuilds observations from recorded screens with it)."""
    if grayscale:
        gray = cv2.cvtColor(obs, cv2.COLOR_RGB2GRAY)
        return cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA)[None]
    small = cv2.resize(obs, (size, size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(small.transpose(2, 0, 1))


class FrameStack(gym.Wrapper):
    """Stack the last k channels-first observations along axis 0, oldest first: (k * c, h, w).

    One preallocated array shifted in place (no LazyFrames); each returned observation is a fresh copy.
    On reset the first observation fills every slot.
    """

    def __init__(self, env: gym.Env, k: int = 4):
        super().__init__(env)
        space = env.observation_space
        self.k, self.c = k, space.shape[0]
        shape = (k * self.c,) + space.shape[1:]
        self.observation_space = gym.spaces.Box(0, 255, shape, space.dtype)
        self.frames = np.zeros(shape, space.dtype)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        for i in range(self.k):
            self.frames[i * self.c:(i + 1) * self.c] = obs
        return self.frames.copy(), info

    def step(self, action):
        obs, rew, term, trunc, info = self.env.step(action)
        self.frames[:-self.c] = self.frames[self.c:]
        self.frames[-self.c:] = obs
        return self.frames.copy(), rew, term, trunc, info


class RewardScale(gym.Wrapper):
    """Multiply the learning reward by `scale`; the unscaled reward stays in info['raw_reward'] (unless an inner
    wrapper already put the game's raw reward there)."""

    def __init__(self, env: gym.Env, scale: float):
        super().__init__(env)
        self.scale = scale

    def step(self, action):
        obs, rew, term, trunc, info = self.env.step(action)
        info.setdefault("raw_reward", rew)
        return obs, rew * self.scale, term, trunc, info


class AllowBacktracking(gym.Wrapper):
    """Reward only new maximum cumulative reward, so moving back (and the reward lost doing it) costs nothing
    (the Retro Contest baselines' Sonic wrapper)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.cur = 0.0
        self.max = 0.0

    def reset(self, **kwargs):
        self.cur = self.max = 0.0
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, rew, term, trunc, info = self.env.step(action)
        self.cur += rew
        rew = max(0.0, self.cur - self.max)
        self.max = max(self.max, self.cur)
        return obs, rew, term, trunc, info


class EpisodeStats(gym.Wrapper):
    """At episode end add info['episode'] = {'r': raw return, 'l': length, 'level': 'Game-v0:State' (or '' when
    the env has no levels), 'truncated': bool, 'seed': reset seed or None} plus whatever the base env's
    `finish_episode()` adds (the movie's path). Every step also gets info['raw_reward'] (the reward here)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.ret, self.length, self.seed = 0.0, 0, None

    def reset(self, *, seed=None, options=None):
        self.ret, self.length, self.seed = 0.0, 0, seed
        return self.env.reset(seed=seed, options=options)

    def step(self, action):
        obs, rew, term, trunc, info = self.env.step(action)
        self.ret += rew
        self.length += 1
        info["raw_reward"] = rew
        if term or trunc:
            base = self.env.unwrapped
            level = getattr(base, "level", None)
            episode = {"r": self.ret, "l": self.length, "level": "" if level is None else str(level),
                       "truncated": bool(trunc and not term), "seed": self.seed}
            finish = getattr(base, "finish_episode", None)
            if finish is not None:
                episode.update(finish())
            info["episode"] = episode
        return obs, rew, term, trunc, info
