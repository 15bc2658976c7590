"""Typed records the trainer passes to its hooks (GUI bridge, episode recorder, loggers).

Plain, picklable dataclasses: they cross process boundaries as they are. Arrays are numpy, never torch.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class StepRecord:
    """One vectorised agent step, after the actions were chosen and the envs stepped."""

    global_step: int
    """Agent steps so far, summed over envs (after this step)."""
    actions: np.ndarray
    """(n_envs,) int64 sampled actions."""
    probs: np.ndarray
    """(n_envs, n_actions) float32 action probabilities the actions were drawn from."""
    values: np.ndarray
    """(n_envs,) float32 value estimates of the observations the actions were chosen on (unscaled reward units)."""
    rewards: np.ndarray
    """(n_envs,) float32 raw (unscaled) rewards received."""
    terminated: np.ndarray
    """(n_envs,) bool."""
    truncated: np.ndarray
    """(n_envs,) bool."""


@dataclass
class EpisodeRecord:
    """One finished episode of one env."""

    global_step: int
    env_index: int
    level: str
    """`Game-v0:State` of the level played."""
    episode_return: float
    """Sum of raw (unscaled) rewards."""
    length: int
    """Agent steps."""
    truncated: bool
    """True when the time limit ended it (not a real end)."""
    seed: int = 0
    movie_path: str | None = None
    """The episode's .bk2, when recording is on (relative to the run directory)."""


@dataclass
class RolloutRecord:
    """A rollout was collected."""

    global_step: int
    update: int
    steps_per_second: float
    """Agent steps per second over the last rollout + update cycle."""


@dataclass
class UpdateRecord:
    """A PPO update finished."""

    global_step: int
    update: int
    metrics: dict[str, float] = field(default_factory=dict)
    """policy_loss, value_loss, entropy, approx_kl, clip_fraction, explained_variance, learning_rate,
    steps_per_second, ... (scalar floats)."""
