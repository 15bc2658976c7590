"""RL²'s recurrent actor-critic: a GRU over (observation features, previous action, previous reward, done flag).

Image observations (C, H, W) go through the Nature CNN torso, vector observations (the bandit) through the
MLP torso (the feed-forward policies' own, from `engine.policies`). Two architectures (`rl2.architecture`):

- `shared` (policy kind "rl2"): one GRU feeds both the policy and the value head;
- `separate` (policy kind "rl2-separate", the paper's: Duan et al. 2016 train a separate baseline network): a
  policy GRU with the policy head and a value GRU with the value head, each with its own torso, over the same
  inputs. The recurrent state is the two GRUs' states side by side, (n, 2 * hidden); no value gradient reaches
  the policy's weights, so the value-loss weight no longer trades off against the policy gradient.

`step` (rollout collection) and `evaluate` (the PPO loss over a stored time-major segment) compute the same cell,
so re-running a segment from its stored start state reproduces the rollout's logits; the state is zeroed wherever
`reset` is set, also inside a segment. A segment with no reset after its first step (every bandit trial, one
trial per rollout) runs each GRU in one fused `torch.gru` call instead of a Python loop over steps.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from workbench.engine.policies.api import ActorCritic, PolicySpec, PolicyStep
from workbench.engine.policies.feedforward import MLPActorCritic, NatureCNN, _init, run_heads

ARCHITECTURES = {"shared": "rl2", "separate": "rl2-separate"}
"""`rl2.architecture` -> policy kind (what a checkpoint's PolicySpec stores)."""


def symlog(x: torch.Tensor) -> torch.Tensor:
    """Game rewards range from 1 to thousands; the reward input keeps its sign and order at a tame scale."""
    return torch.sign(x) * torch.log1p(x.abs())


def rl2_spec(obs_shape: tuple[int, ...], n_actions: int, hidden_size: int = 256,
             architecture: str = "shared") -> PolicySpec:
    """The checkpointable description of an RL² policy (`hidden` = GRU units of each GRU)."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown RL² architecture {architecture!r}; use one of {', '.join(ARCHITECTURES)}")
    return PolicySpec(ARCHITECTURES[architecture], tuple(obs_shape), n_actions, hidden_size)


def _torso(spec: PolicySpec) -> NatureCNN | MLPActorCritic:
    # The feed-forward policies' torsos, so both algorithms see frames the same way; their heads go unused.
    if len(spec.obs_shape) == 3:
        torso: NatureCNN | MLPActorCritic = NatureCNN(PolicySpec("cnn", spec.obs_shape, spec.n_actions, 512))
    elif len(spec.obs_shape) == 1:
        torso = MLPActorCritic(PolicySpec("mlp", spec.obs_shape, spec.n_actions, 64))
    else:
        raise ValueError(f"RL² policy takes (C, H, W) images or flat vectors, not observations of shape "
                         f"{spec.obs_shape}")
    return torso


class _Core(nn.Module):
    """One torso + GRU cell over (features, one-hot previous action, symlog previous reward, done flag)."""

    def __init__(self, spec: PolicySpec):
        super().__init__()
        self.n_actions = spec.n_actions
        self.torso = _torso(spec)
        n_features = self.torso.actor.in_features
        del self.torso.actor, self.torso.critic
        self.cell = nn.GRUCell(n_features + spec.n_actions + 2, spec.hidden)

    def inputs(self, obs, prev_action, prev_reward, episode_start) -> torch.Tensor:
        """The cell's inputs for any leading shape (n,) or (T, n): they do not depend on the state."""
        lead = obs.shape[:obs.dim() - len(self.torso.spec.obs_shape)]
        features = self.torso.features(obs.flatten(0, len(lead) - 1)).view(*lead, -1)
        return torch.cat([
            features,
            F.one_hot(prev_action.long(), self.n_actions).to(features.dtype),
            symlog(prev_reward.to(features.dtype)).unsqueeze(-1),
            episode_start.to(features.dtype).unsqueeze(-1),
        ], dim=-1)

    def step(self, x, state, reset) -> torch.Tensor:
        keep = (~reset.bool()).to(state.dtype).unsqueeze(-1)
        return self.cell(x, state * keep)

    def sequence(self, x, h, reset) -> torch.Tensor:
        """States after each step of a (T, n, F) segment from start state `h`, zeroed where `reset`."""
        if not reset[1:].any():  # resets only at the first step: one fused GRU call over the whole segment
            h0 = (h * (~reset[0].bool()).to(h.dtype).unsqueeze(-1)).unsqueeze(0).contiguous()
            c = self.cell  # torch.gru's gate layout (r, z, n) is GRUCell's: the same weights, the same cell
            out, _ = torch.gru(x.contiguous(), h0, [c.weight_ih, c.weight_hh, c.bias_ih, c.bias_hh], True, 1, 0.0,
                               self.training, False, False)
            return out
        hs = []
        for t in range(x.shape[0]):
            h = self.step(x[t], h, reset[t])
            hs.append(h)
        return torch.stack(hs)


def _rename_old_keys(state_dict, prefix, *_args) -> None:
    """Checkpoints from before the architectures were split kept the torso and cell at the top level."""
    for key in [k for k in state_dict if k.startswith(prefix + "torso.") or k.startswith(prefix + "cell.")]:
        state_dict[prefix + "core." + key[len(prefix):]] = state_dict.pop(key)


class RecurrentActorCritic(ActorCritic):
    """RL²'s policy; `spec.kind` "rl2" = shared GRU, "rl2-separate" = separate policy and value GRUs."""

    recurrent = True

    def __init__(self, spec: PolicySpec):
        super().__init__()
        if spec.kind not in ARCHITECTURES.values():
            raise ValueError(f"not an RL² policy kind: {spec.kind!r}")
        self.spec = spec
        self.n_actions = spec.n_actions
        self.hidden_size = spec.hidden
        self.separate = spec.kind == ARCHITECTURES["separate"]
        self.core = _Core(spec)
        self.value_core = _Core(spec) if self.separate else None
        self.pi = _init(nn.Linear(spec.hidden, spec.n_actions), 0.01)
        self.v = _init(nn.Linear(spec.hidden, 1), 1.0)
        self._register_load_state_dict_pre_hook(_rename_old_keys)

    @property
    def state_size(self) -> int:
        return self.hidden_size * (2 if self.separate else 1)

    def initial_state(self, n: int, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.zeros(n, self.state_size, device=device)

    def _split(self, state):
        return (state[..., :self.hidden_size], state[..., self.hidden_size:]) if self.separate else (state, None)

    def step(self, obs, state, prev_action, prev_reward, episode_start, reset) -> PolicyStep:
        if state is None:
            state = self.initial_state(obs.shape[0], obs.device)
        h_pi, h_v = self._split(state)
        h_pi = self.core.step(self.core.inputs(obs, prev_action, prev_reward, episode_start), h_pi, reset)
        if self.separate:
            h_v = self.value_core.step(self.value_core.inputs(obs, prev_action, prev_reward, episode_start), h_v,
                                       reset)
            (logits,), (value,) = run_heads(h_pi, self.pi), run_heads(h_v, self.v)
            state = torch.cat([h_pi.float(), h_v.float()], dim=-1)
        else:
            logits, value = run_heads(h_pi, self.pi, self.v)
            state = h_pi.float()
        return PolicyStep(logits=logits, value=value.squeeze(-1), state=state)

    def evaluate(self, obs, state0, prev_action, prev_reward, episode_start, reset):
        n = obs.shape[1]
        state0 = self.initial_state(n, obs.device) if state0 is None else state0
        h_pi, h_v = self._split(state0)
        hidden = self.core.sequence(self.core.inputs(obs, prev_action, prev_reward, episode_start), h_pi, reset)
        if self.separate:
            hidden_v = self.value_core.sequence(
                self.value_core.inputs(obs, prev_action, prev_reward, episode_start), h_v, reset)
            (logits,), (value,) = run_heads(hidden, self.pi), run_heads(hidden_v, self.v)
        else:
            logits, value = run_heads(hidden, self.pi, self.v)
        return logits, value.squeeze(-1)
