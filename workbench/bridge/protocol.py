"""Small typed messages between the GUI and a run process (plain dataclasses; pickled over a local socket).

GUI -> run: `Command`. Run -> GUI: `Hello` once per connection, then `StepSummary` (the watched env, at most
~60 per second), `Episode`, `Update`, `Status` and `RunFailed`. Frames never travel here: they sit in shared
memory (`bridge.frames`), named by `Hello.frame_shm`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

CommandKind = Literal["pause", "resume", "stop", "watch"]


@dataclass
class Command:
    kind: CommandKind
    env_index: int = 0
    """For 'watch': which env's frame and policy outputs to stream."""


@dataclass
class Hello:
    run_dir: str
    frame_shm: str
    n_envs: int
    action_labels: list[str]
    levels: list[str]
    watched: int
    state: str
    frame_format: str = "vec_env"
    """'vec_env': the env workers' own frame segment (`engine.vec_env.FrameReader`); 'bridge': `bridge.frames`."""


@dataclass
class StepSummary:
    """The watched env's latest step."""

    global_step: int
    env_index: int
    probs: np.ndarray
    """(n_actions,) float32"""
    action: int
    value: float
    reward: float


@dataclass
class Episode:
    global_step: int
    env_index: int
    level: str
    episode_return: float
    length: int
    truncated: bool


@dataclass
class Update:
    global_step: int
    update: int
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class Status:
    state: str
    """'starting', 'running', 'paused', 'finished', 'failed' or 'stopped'."""
    global_step: int = 0
    error: str = ""


@dataclass
class RunFailed:
    error: str
    """The error text (last lines of the traceback)."""


Message = Hello | StepSummary | Episode | Update | Status | RunFailed
