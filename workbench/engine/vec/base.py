"""The interface every vector env of the engine has (`ShmVecEnv`, `InProcessVecEnv`, RL²'s `BanditVecEnv`): what
the trainer, the evaluations and the live bridge rely on. `tests/engine/test_vec_env_contract.py` checks each
implementation against it."""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np


@runtime_checkable
class VecEnv(Protocol):
    num_envs: int
    observation_space: gym.spaces.Box
    """The space of one env's observation; `reset`/`step` return (num_envs, *shape) arrays of its dtype."""
    action_space: gym.Space

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Start every env's episode; seed s gives env i the seed s + i (an implementation with one generator for
        all envs seeds it with s). Returns the first observations."""

    def step_async(self, actions: np.ndarray) -> None:
        """Hand over one action per env; `step_wait` returns their outcome."""

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """(obs, rewards float32, terminated bool, truncated bool, infos), all (num_envs,)-first arrays the caller
        owns (copies: valid after the next step). Auto-reset is same-step: when env i's episode ends, obs[i] is
        the next episode's first observation, terminated[i]/truncated[i] say how the old one ended and
        `infos[i]["final_obs"]` is its last observation."""

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[dict]]:
        """`step_async` then `step_wait`."""

    def watch(self, index: int | None) -> None:
        """Publish env `index`'s full-size frame after every step or reset from now on (None: no env's). Frames
        cost a copy per step, so only the watched env makes them. IndexError outside 0..num_envs-1."""

    @property
    def watched(self) -> int | None:
        """The watched env (None: none, and always None for a vec env without frames)."""

    def frame(self) -> np.ndarray | None:
        """A copy of the watched env's newest full-size frame (H, W, 3) uint8; None when nothing is watched, the
        watched env has published no frame yet, or the envs have no screen."""

    def frame_shm_name(self) -> str | None:
        """The `core.frames` segment holding the frames, for a `FrameReader` in any process; None for a vec env
        without frames."""

    def close(self) -> None:
        """Release the envs (and worker processes, shared memory); safe to call twice."""
