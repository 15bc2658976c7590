"""The rollout buffer: one PPO rollout of T steps x N envs, stored time-major as preallocated torch tensors.

Row t holds what the policy saw and did at step t:
- `obs[t]`, `actions[t]`, `logprobs[t]`, `values[t]` (value in learning units, i.e. of scaled rewards);
- `rewards[t]` the scaled reward (raw reward * env.reward_scale) received after acting;
- `terminated[t]` / `truncated[t]`: the episode ended after this step; on truncation `bootstrap[t]` holds
  V(final observation) so GAE can use r + γ V(final_obs) (time limits are not real ends), or 0 with
  `ppo.bootstrap_truncated = false` (the reference code's reading: the time limit is terminal);
- the recurrent seam (`policy_api`): `episode_start[t]` (obs[t] is an episode's first), `reset[t]` (the state was
  zeroed before step t), `prev_action[t]`, `prev_reward[t]` (raw), and `state0`, the recurrent state at the
  segment's start (None for feed-forward policies). A recurrent update re-runs whole env columns from `state0`.
"""
from __future__ import annotations

import numpy as np
import torch


class RolloutBuffer:
    def __init__(self, n_steps: int, n_envs: int, obs_shape: tuple[int, ...], obs_dtype: torch.dtype):
        t, n = n_steps, n_envs
        self.n_steps, self.n_envs = t, n
        self.obs = _obs_storage(t, n, tuple(obs_shape), obs_dtype)
        self.actions = torch.zeros((t, n), dtype=torch.int64)
        self.logprobs = torch.zeros((t, n))
        self.values = torch.zeros((t, n))
        self.rewards = torch.zeros((t, n))
        self.terminated = torch.zeros((t, n), dtype=torch.bool)
        self.truncated = torch.zeros((t, n), dtype=torch.bool)
        self.bootstrap = torch.zeros((t, n))
        self.episode_start = torch.zeros((t, n), dtype=torch.bool)
        self.reset = torch.zeros((t, n), dtype=torch.bool)
        self.prev_action = torch.zeros((t, n), dtype=torch.int64)
        self.prev_reward = torch.zeros((t, n))
        self.state0: torch.Tensor | None = None
        self.states: torch.Tensor | None = None
        """(T, N, hidden) recurrent state fed to step t (before its reset), kept when the learner cuts columns into
        truncated-BPTT segments (`PPOLearner(bptt_steps=...)`): segment s starts from states[s * bptt_steps]."""
        self.last_value = torch.zeros(n)
        """V(obs after the last step): bootstraps the rollout's unfinished episodes."""
        self.advantages = torch.zeros((t, n))
        self.returns = torch.zeros((t, n))

    # -- filled step by step by the trainer's rollout (`acting.Actor` supplies what is stored) --------------
    def store_inputs(self, t: int, inputs) -> None:
        """What step t acts on (`acting.PolicyInputs`); `obs[t]` is then the policy's input, in its layout."""
        self.obs[t].copy_(inputs.obs)
        self.episode_start[t], self.reset[t] = inputs.episode_start, inputs.reset
        self.prev_action[t], self.prev_reward[t] = inputs.prev_action, inputs.prev_reward
        if self.states is not None:
            self.states[t] = inputs.state.detach().cpu()

    def store_decision(self, t: int, decision) -> None:
        """What the policy did at step t (`acting.Decision`)."""
        self.actions[t] = decision.actions
        self.logprobs[t] = decision.logprobs
        self.values[t] = decision.values

    def store_outcome(self, t: int, outcome) -> None:
        """What the envs gave back at step t (`acting.Outcome`, with its truncation bootstrap)."""
        self.rewards[t] = outcome.rewards
        self.terminated[t], self.truncated[t] = outcome.terminated, outcome.truncated
        self.bootstrap[t] = 0.0 if outcome.bootstrap is None else outcome.bootstrap  # None: truncation is terminal

    def compute_returns(self, gamma: float, gae_lambda: float) -> None:
        adv = compute_gae(self.rewards.numpy(), self.values.numpy(), self.terminated.numpy(),
                          self.truncated.numpy(), self.bootstrap.numpy(), self.last_value.numpy(),
                          gamma, gae_lambda)
        self.advantages.copy_(torch.from_numpy(adv))
        torch.add(self.advantages, self.values, out=self.returns)


def _obs_storage(t: int, n: int, obs_shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """Zeros of shape (T, N, *obs_shape). Frames (C, H, W) are stored channels-last, (T, N, H, W, C) seen through
    a permuted view: every step and minibatch then reaches the CNN already in the layout its convolutions run
    in, instead of transposing 4-channel uint8 frames per call (7.8 ms per 256-frame minibatch here; gathers by
    index keep the layout). The one transposing copy happens when a step's frames are stored."""
    if len(obs_shape) != 3:
        return torch.zeros((t, n, *obs_shape), dtype=dtype)
    c, h, w = obs_shape
    return torch.zeros((t, n, h, w, c), dtype=dtype).permute(0, 1, 4, 2, 3)


def compute_gae(rewards: np.ndarray, values: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
                bootstrap: np.ndarray, last_value: np.ndarray, gamma: float, gae_lambda: float) -> np.ndarray:
    """Generalized advantage estimates, time-major (T, N).

    The value after step t is V(obs[t+1]) (last_value after the final row), except when the episode ended at t:
    terminated -> 0 (a real end), truncated -> bootstrap[t] = V(final observation). The λ-chain is cut at every
    episode end, since obs[t+1] then belongs to the next episode."""
    t_max = rewards.shape[0]
    adv = np.zeros_like(rewards, dtype=np.float32)
    running = np.zeros_like(last_value, dtype=np.float32)
    for t in reversed(range(t_max)):
        next_value = last_value if t == t_max - 1 else values[t + 1]
        next_value = np.where(truncated[t], bootstrap[t], next_value)
        next_value = np.where(terminated[t], 0.0, next_value)
        delta = rewards[t] + gamma * next_value - values[t]
        continues = ~(terminated[t] | truncated[t])
        running = delta + gamma * gae_lambda * continues * running
        adv[t] = running
    return adv
