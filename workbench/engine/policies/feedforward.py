"""Feed-forward actor-critics: the Nature CNN for stacked frames and an MLP for vector observations. Both
implement `policies.api.ActorCritic` and ignore the recurrent inputs."""
from __future__ import annotations

import math
import torch
from torch import nn
from torch.nn import functional as F

from workbench.engine.policies.api import ActorCritic, PolicySpec, PolicyStep


HEADS_IN_FP32 = True
"""Under bf16 autocast, run the policy and value heads in fp32: the log-probabilities and values they give are
compared against the PPO clip range (ratio, value clip) and against test tolerances, and bf16 keeps 8 bits of
mantissa (a value of 30 moves in steps of 0.125). The trunk stays bf16. `bench/precision_heads.py` measures the
cost (set False there for the side-by-side run)."""


def run_heads(h: torch.Tensor, *heads: nn.Module) -> list[torch.Tensor]:
    """Each head on the features `h`, in fp32 when autocast is on (see HEADS_IN_FP32)."""
    if HEADS_IN_FP32 and torch.is_autocast_enabled(h.device.type):
        with torch.autocast(h.device.type, enabled=False):
            h = h.float()
            return [head(h) for head in heads]
    return [head(h) for head in heads]


def _bf16_inference(x: torch.Tensor) -> bool:
    """Acting (no gradient) on the CPU under bf16 autocast: the case `NatureCNN._features_bf16` serves."""
    return (x.device.type == "cpu" and not torch.is_grad_enabled() and torch.is_autocast_enabled("cpu")
            and torch.get_autocast_dtype("cpu") is torch.bfloat16)


def _init(layer: nn.Module, gain: float = math.sqrt(2), bias: float = 0.0) -> nn.Module:
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.constant_(layer.bias, bias)
    return layer


class _FeedForward(ActorCritic):
    """Shared head logic: a trunk to features, an actor head (gain 0.01) and a critic head (gain 1)."""

    trunk: nn.Module

    def __init__(self, spec: PolicySpec, features: int):
        super().__init__()
        self.spec = spec
        self.actor = _init(nn.Linear(features, spec.n_actions), 0.01)
        self.critic = _init(nn.Linear(features, 1), 1.0)

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, value = run_heads(self.features(obs), self.actor, self.critic)
        return logits, value.squeeze(-1)

    def step(self, obs, state, prev_action, prev_reward, episode_start, reset) -> PolicyStep:
        logits, value = self(obs)
        return PolicyStep(logits, value, None)

    def evaluate(self, obs, state0, prev_action, prev_reward, episode_start, reset):
        t, n = obs.shape[:2]
        logits, value = self(obs.reshape(t * n, *obs.shape[2:]))
        return logits.reshape(t, n, -1), value.reshape(t, n)


class NatureCNN(_FeedForward):
    """Mnih et al. 2015: 3 convolutions + 512 units, on uint8 frames (n, C, H, W) scaled to [0, 1].

    Frames are run channels-last: about 2x faster than NCHW on the CPU (a (n, H, W, C) array permuted to
    (n, C, H, W) is already channels-last, so this costs no copy)."""

    def __init__(self, spec: PolicySpec):
        super().__init__(spec, spec.hidden)
        c, h, w = spec.obs_shape
        convs = nn.Sequential(
            _init(nn.Conv2d(c, 32, 8, stride=4)), nn.ReLU(),
            _init(nn.Conv2d(32, 64, 4, stride=2)), nn.ReLU(),
            _init(nn.Conv2d(64, 64, 3, stride=1)), nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = convs(torch.zeros(1, c, h, w)).shape[1]
        self.trunk = nn.Sequential(convs, _init(nn.Linear(n_flat, spec.hidden)), nn.ReLU())
        self.to(memory_format=torch.channels_last)
        self._bf16_cache: tuple | None = None

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        if _bf16_inference(obs):
            return self._features_bf16(obs)
        # Layout change on the uint8 frames (a quarter of the bytes), one float conversion that keeps it, and
        # the /255 folded into the first convolution's weights: saves two full passes over the float input.
        # Under autocast the pixels go straight to its dtype (0..255 are exact in bf16 and fp16), the value the
        # convolution would cast an fp32 copy to, without writing that copy.
        device = obs.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else torch.float32
        x = obs.contiguous(memory_format=torch.channels_last).to(dtype)
        convs, *head = self.trunk
        first, *rest = convs  # iterating, not slicing: a slice of a Sequential builds a new module every call
        h = F.conv2d(x, first.weight * (1.0 / 255.0), first.bias, first.stride)
        for layer in rest + head:
            h = layer(h)
        return h

    def _features_bf16(self, obs: torch.Tensor) -> torch.Tensor:
        """`features` for acting under CPU bf16 autocast, with the trunk's weights cast once per weight change.
        Autocast casts every weight to bf16 on every call (its cast cache lasts one autocast context, i.e. one
        forward): a third of a batch-8 forward. The same casts and kernels, so the same numbers bit for bit
        (tests/engine/test_precision.py); uint8 pixels are exact in bf16."""
        layers = self._bf16_weights()
        with torch.autocast("cpu", enabled=False):
            h = obs.contiguous(memory_format=torch.channels_last).to(torch.bfloat16)
            for weight, bias, stride in layers[:-1]:
                h = F.relu(F.conv2d(h, weight, bias, stride))
            weight, bias, _ = layers[-1]
            return F.relu(F.linear(h.flatten(1), weight, bias))

    def _bf16_weights(self) -> list[tuple[torch.Tensor, torch.Tensor, tuple]]:
        convs, linear, _ = self.trunk
        layers = [m for m in convs if isinstance(m, nn.Conv2d)] + [linear]
        # in-place updates (optimizer steps, load_state_dict) bump a tensor's version: that is the cache's key
        key = tuple((p.data_ptr(), p._version) for m in layers for p in (m.weight, m.bias))
        cached = self._bf16_cache
        if cached is None or cached[0] != key:
            with torch.no_grad():
                weights = [layers[0].weight * (1.0 / 255.0)] + [m.weight for m in layers[1:]]
                cast = [(w.to(torch.bfloat16), m.bias.to(torch.bfloat16), getattr(m, "stride", None))
                        for w, m in zip(weights, layers)]
            self._bf16_cache = cached = (key, cast)
        return cached[1]


class MLPActorCritic(_FeedForward):
    """Two tanh layers on float vector observations (toy and classic-control envs)."""

    def __init__(self, spec: PolicySpec):
        hidden = spec.hidden
        super().__init__(spec, hidden)
        n_in = int(math.prod(spec.obs_shape))
        self.trunk = nn.Sequential(
            nn.Flatten(), _init(nn.Linear(n_in, hidden)), nn.Tanh(), _init(nn.Linear(hidden, hidden)), nn.Tanh())

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        return self.trunk(obs.to(torch.float32))
