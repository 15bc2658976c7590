"""Typed records the trainer passes to its hooks (run store, TensorBoard, checkpoints, episode recorder, live
bridge), and the bridge sends to the window as they are.

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
    """The update this rollout will feed."""
    steps_per_second: float
    """Agent steps per second while this rollout was collected (the update is not counted)."""


@dataclass
class UpdateRecord:
    """A PPO update finished."""

    global_step: int
    update: int
    metrics: dict[str, float] = field(default_factory=dict)
    """policy_loss, value_loss, entropy, approx_kl, clip_fraction, explained_variance, learning_rate,
    steps_per_second (over the whole rollout + update cycle), ... (scalar floats)."""
    episodes: list[EpisodeRecord] = field(default_factory=list)
    """The episodes this update's rollout finished (the run store logs them with the update)."""


@dataclass
class StatusRecord:
    """The trainer's state changed (or a heartbeat while paused)."""

    state: str
    """'running', 'paused', 'stopped', 'finished' or 'failed'."""
    global_step: int
    update: int
    total_steps: int
    error: str | None = None
    clean_end: bool = False
    """The loop ended between updates (finished, or stopped by `stop()`): the weights are consistent, a
    checkpoint now is a good one. False for failures and aborts (the last checkpoint stays the truth)."""
