"""RL²'s recurrent actor-critic: a GRU over (observation features, previous action, previous reward, done flag).

Image observations (C, H, W) go through the Nature CNN torso, vector observations (the bandit) through the
MLP torso (the feed-forward policies' own, from `engine.policies`). `step` (rollout collection) and `evaluate`
(the PPO loss over a stored time-major segment) run the same per-step cell, so re-running a segment from its stored start state reproduces the rollout's logits; the state is
zeroed wherever `reset` is set, also inside a segment.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from workbench.engine.policies.api import ActorCritic, PolicySpec, PolicyStep
from workbench.engine.policies.feedforward import MLPActorCritic, NatureCNN, _init, run_heads


def symlog(x: torch.Tensor) -> torch.Tensor:
    """Game rewards range from 1 to thousands; the reward input keeps its sign and order at a tame scale."""
    return torch.sign(x) * torch.log1p(x.abs())


def rl2_spec(obs_shape: tuple[int, ...], n_actions: int, hidden_size: int = 256) -> PolicySpec:
    """The checkpointable description of an RL² policy (`hidden` = GRU units)."""
    return PolicySpec("rl2", tuple(obs_shape), n_actions, hidden_size)


class RecurrentActorCritic(ActorCritic):
    recurrent = True

    def __init__(self, spec: PolicySpec):
        super().__init__()
        self.spec = spec
        self.n_actions = spec.n_actions
        self.hidden_size = spec.hidden
        # The feed-forward policies' torsos, so both algorithms see frames the same way; their heads go unused.
        if len(spec.obs_shape) == 3:
            self.torso: NatureCNN | MLPActorCritic = NatureCNN(PolicySpec("cnn", spec.obs_shape, spec.n_actions, 512))
        elif len(spec.obs_shape) == 1:
            self.torso = MLPActorCritic(PolicySpec("mlp", spec.obs_shape, spec.n_actions, 64))
        else:
            raise ValueError(f"RL² policy takes (C, H, W) images or flat vectors, not observations of shape "
                             f"{spec.obs_shape}")
        n_features = self.torso.actor.in_features
        del self.torso.actor, self.torso.critic
        self.cell = nn.GRUCell(n_features + spec.n_actions + 2, spec.hidden)
        self.pi = _init(nn.Linear(spec.hidden, spec.n_actions), 0.01)
        self.v = _init(nn.Linear(spec.hidden, 1), 1.0)

    def initial_state(self, n: int, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.zeros(n, self.hidden_size, device=device)

    def _features(self, obs: torch.Tensor) -> torch.Tensor:
        return self.torso.features(obs)

    def _cell(self, features, state, prev_action, prev_reward, episode_start, reset) -> torch.Tensor:
        inputs = torch.cat([
            features,
            F.one_hot(prev_action.long(), self.n_actions).to(features.dtype),
            symlog(prev_reward.to(features.dtype)).unsqueeze(-1),
            episode_start.to(features.dtype).unsqueeze(-1),
        ], dim=-1)
        keep = (~reset.bool()).to(state.dtype).unsqueeze(-1)
        return self.cell(inputs, state * keep)

    def step(self, obs, state, prev_action, prev_reward, episode_start, reset) -> PolicyStep:
        if state is None:
            state = self.initial_state(obs.shape[0], obs.device)
        h = self._cell(self._features(obs), state, prev_action, prev_reward, episode_start, reset)
        logits, value = run_heads(h, self.pi, self.v)
        return PolicyStep(logits=logits, value=value.squeeze(-1), state=h.float())

    def evaluate(self, obs, state0, prev_action, prev_reward, episode_start, reset):
        steps, n = obs.shape[:2]
        h = self.initial_state(n, obs.device) if state0 is None else state0
        # The torso has no memory: run it over the whole segment at once; only the cell walks through time.
        features = self._features(obs.flatten(0, 1)).view(steps, n, -1)
        hs = []
        for t in range(steps):
            h = self._cell(features[t], h, prev_action[t], prev_reward[t], episode_start[t], reset[t])
            hs.append(h)
        hidden = torch.stack(hs)
        logits, value = run_heads(hidden, self.pi, self.v)
        return logits, value.squeeze(-1)

