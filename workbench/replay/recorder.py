"""`EpisodeRecorder`: a trainer hook (the launcher adds it to runs that record episodes) that writes each
recorded episode's sidecar and indexes it.

The envs record the .bk2 movies themselves (`make_env(..., record_dir=...)`); this hook keeps, per env, the
policy outputs of the running episode from each `StepRecord`, and when an `EpisodeRecord` arrives writes them
next to that episode's movie and adds the episode to the run's index.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from workbench.core.records import EpisodeRecord, StepRecord
from workbench.replay.episode_index import add_episode
from workbench.replay.sidecar import EpisodeMeta, Sidecar, sidecar_path, write_sidecar


class EpisodeRecorder:
    """Trainer hook (`on_step`, `on_episode`): sidecars + index for every episode that has a movie.

    `on_step` must be called for a step before `on_episode` for episodes that ended on it (the trainer's order).
    """

    def __init__(self, run_dir: Path | str, n_envs: int, frame_skip: int = 4,
                 action_labels: Sequence[str] = ()):
        self.run_dir = Path(run_dir)
        self.frame_skip = int(frame_skip)
        self.action_labels = list(action_labels)
        # per env: one (action, probs, value, reward) row per agent step of the running episode
        self._steps: list[list[tuple]] = [[] for _ in range(n_envs)]
        self.written: list[Path] = []
        """Sidecars written so far (newest last)."""

    def on_step(self, record: StepRecord) -> None:
        for i, steps in enumerate(self._steps):
            steps.append((record.actions[i], record.probs[i], record.values[i], record.rewards[i]))

    def on_episode(self, record: EpisodeRecord) -> Path | None:
        steps = self._steps[record.env_index]
        self._steps[record.env_index] = []
        if not record.movie_path:
            return None
        # keep the episode's own steps only: the recorder may have joined mid-episode
        steps = steps[-record.length:] if record.length > 0 else []
        meta = EpisodeMeta(
            level=record.level, episode_return=float(record.episode_return), length=int(record.length),
            truncated=bool(record.truncated), seed=int(record.seed), env_index=int(record.env_index),
            global_step=int(record.global_step), frame_skip=self.frame_skip, movie=str(record.movie_path),
            action_labels=self.action_labels, complete=len(steps) == record.length,
        )
        path = sidecar_path(self.run_dir / record.movie_path)
        write_sidecar(path, build_sidecar(meta, steps))
        add_episode(self.run_dir, meta)
        self.written.append(path)
        return path


def build_sidecar(meta: EpisodeMeta, steps: list[tuple]) -> Sidecar:
    """Pack per-step (action, probs, value, reward) rows; step i ends on frame (i + 1) * frame_skip."""
    n = len(steps)
    n_actions = len(steps[0][1]) if n else len(meta.action_labels)
    actions = np.fromiter((s[0] for s in steps), dtype=np.int16, count=n)
    probs = np.array([s[1] for s in steps], dtype=np.float32).reshape(n, n_actions)
    values = np.fromiter((s[2] for s in steps), dtype=np.float32, count=n)
    rewards = np.fromiter((s[3] for s in steps), dtype=np.float32, count=n)
    # a step the recorder missed at the start still took frame_skip frames
    first = meta.length - n
    frames = (np.arange(first, first + n, dtype=np.int32) + 1) * meta.frame_skip
    return Sidecar(meta, actions, probs, values, rewards, frames)
