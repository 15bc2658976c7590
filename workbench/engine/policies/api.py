"""The seam between the trainer and a policy network, shaped so a recurrent policy (RL²) fits without a rewrite.

The trainer only calls these methods. A feed-forward policy ignores `state`, `prev_action`, `prev_reward`,
`episode_start` and `reset`; a recurrent one uses them:

- `reset` (n,) bool: the hidden state is zeroed before this step (start of a trial for RL², start of an
  episode for an ordinary recurrent policy);
- `episode_start` (n,) bool: this observation is the first of an episode (RL²'s "done" input);
- `prev_action` (n,) int64 / `prev_reward` (n,) float32: the previous step's action and raw reward
  (zeros after a reset).

Observations arrive as uint8 tensors (n, C, H, W) or float tensors for vector envs; the policy scales them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass
class PolicyStep:
    logits: torch.Tensor
    """(n, n_actions)"""
    value: torch.Tensor
    """(n,)"""
    state: torch.Tensor | None
    """(n, hidden) recurrent state after this step, None for feed-forward policies."""


class ActorCritic(nn.Module):
    """Base class of the trainer's policies."""

    recurrent: bool = False

    def initial_state(self, n: int, device: torch.device | str = "cpu") -> torch.Tensor | None:
        return None

    def step(
        self,
        obs: torch.Tensor,
        state: torch.Tensor | None,
        prev_action: torch.Tensor,
        prev_reward: torch.Tensor,
        episode_start: torch.Tensor,
        reset: torch.Tensor,
    ) -> PolicyStep:
        """One step for n envs (rollout collection)."""
        raise NotImplementedError

    def evaluate(
        self,
        obs: torch.Tensor,
        state0: torch.Tensor | None,
        prev_action: torch.Tensor,
        prev_reward: torch.Tensor,
        episode_start: torch.Tensor,
        reset: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Re-run a stored segment for the loss. All inputs are time-major (T, n, ...); `state0` is the state at
        the segment's start (None for feed-forward). Returns logits (T, n, A) and values (T, n). A feed-forward
        policy may be called with T=1 and n = minibatch size on shuffled samples."""
        raise NotImplementedError


@dataclass(frozen=True)
class PolicySpec:
    kind: str
    """'cnn' (Nature CNN, uint8 frames (C, H, W)), 'mlp' (float vectors) or another kind a plug-in registers."""
    obs_shape: tuple[int, ...]
    n_actions: int
    hidden: int = 512

    def to_dict(self) -> dict:
        return asdict(self) | {"obs_shape": list(self.obs_shape)}

    @classmethod
    def from_dict(cls, data: dict) -> "PolicySpec":
        return cls(str(data["kind"]), tuple(int(x) for x in data["obs_shape"]), int(data["n_actions"]),
                   int(data.get("hidden", 512)))
