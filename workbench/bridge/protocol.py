"""Small typed messages between the GUI and a run process (plain dataclasses; pickled over a local socket).

GUI -> run: `Command`. Run -> GUI: `Hello` once per connection, then `StepSummary` (the watched env, at most
`live_bridge.SUMMARY_HZ` = 15 per second), the engine's own `core.records.EpisodeRecord` and `UpdateRecord` as the
trainer made them, `Status` and `RunFailed`. Frames never travel here: they sit in the vec env's `core.frames`
segment, named by `Hello.frame_shm`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from workbench.core.records import EpisodeRecord, UpdateRecord

CommandKind = Literal["pause", "resume", "stop", "watch"]


@dataclass
class Command:
    kind: CommandKind
    env_index: int = 0
    """For 'watch': which env's frame and policy outputs to stream."""


@dataclass
class Hello:
    run_dir: str
    frame_shm: str | None
    """The vec env's `core.frames` segment (None: its envs have no screen)."""
    n_envs: int
    action_labels: list[str]
    levels: list[str]
    watched: int
    state: str


@dataclass
class StepSummary:
    """The watched env's slice of the latest `core.records.StepRecord`."""

    global_step: int
    env_index: int
    probs: np.ndarray
    """(n_actions,) float32"""
    action: int
    value: float
    reward: float


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


Message = Hello | StepSummary | EpisodeRecord | UpdateRecord | Status | RunFailed
