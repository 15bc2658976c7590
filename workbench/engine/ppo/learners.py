"""Where the PPO update runs: the `Learner` seam between the trainer's loop and `update.PPOLearner`.

    learner = make_learner(policy, settings, compute, n_envs, obs_space, separate_process=True)
    pending = learner.submit(0)              # learn from learner.buffers[0]
    ...                                      # (the trainer collects into another buffer meanwhile)
    metrics, seconds = pending.result()
    learner.pull_weights(policy)             # the acting policy takes the new weights

Two placements, one interface, so the loop has no branch on which it holds:
- `InProcessLearner`: the update runs inside `submit` (one rollout buffer: the next rollout waits for it);
- `learner_process.LearnerProcess`: the update runs in a spawned process while the trainer collects the next
  rollout into the second buffer (one update of policy lag, corrected by decoupled PPO; see update.py).
A learner owns its rollout buffers (the process one shares them), its optimizer and the minibatch shuffler;
`state()` gives both for a checkpoint, and a resumed run passes them back to `make_learner`.
"""
from __future__ import annotations

import time
from typing import Protocol, Sequence

import numpy as np
import torch

from workbench.core.settings import Settings
from workbench.engine.device import Compute
from workbench.engine.policies.api import ActorCritic
from workbench.engine.ppo.buffer import RolloutBuffer
from workbench.engine.ppo.update import PPOLearner


class PendingUpdate(Protocol):
    def result(self) -> tuple[dict[str, float], float]:
        """Wait for the update; (metrics, update seconds)."""


class Learner(Protocol):
    buffers: Sequence[RolloutBuffer]
    """The rollout buffers the trainer collects into, in turn."""

    def submit(self, index: int) -> PendingUpdate:
        """Learn from `buffers[index]` (one update in flight at a time)."""

    def pull_weights(self, policy: ActorCritic) -> None:
        """Copy the newest finished update's weights into `policy` (a no-op when it is the learner's own)."""

    def set_learning_rate(self, lr: float) -> None:
        """The learning rate of the next submitted update."""

    def rollout_running(self, running: bool) -> None:
        """A rollout is (not) using the cores: a learner that runs beside it adapts its threads."""

    def state(self) -> tuple[dict, dict]:
        """(Adam state dict, shuffler rng state) for a checkpoint; waits for an update in flight."""

    def close(self) -> None:
        """Release what the learner holds (idempotent)."""


class _Done:
    def __init__(self, result: tuple[dict[str, float], float]):
        self._result = result

    def result(self) -> tuple[dict[str, float], float]:
        return self._result


class InProcessLearner:
    """The update on this thread, using `threads` intra-op threads (the rollout before it used one)."""

    def __init__(self, learner: PPOLearner, buffers: Sequence[RolloutBuffer], threads: int):
        self.learner, self.buffers, self.threads = learner, list(buffers), threads

    def submit(self, index: int) -> _Done:
        torch.set_num_threads(self.threads)
        start = time.perf_counter()
        metrics = self.learner.update(self.buffers[index])
        return _Done((metrics, time.perf_counter() - start))

    def pull_weights(self, policy: ActorCritic) -> None:
        if policy is not self.learner.policy:
            policy.load_state_dict(self.learner.policy.state_dict())

    def set_learning_rate(self, lr: float) -> None:
        self.learner.set_learning_rate(lr)

    def rollout_running(self, running: bool) -> None:
        pass  # nothing runs beside the rollout

    def state(self) -> tuple[dict, dict]:
        return self.learner.state()

    def close(self) -> None:
        pass


def new_buffers(count: int, settings: Settings, n_envs: int, obs_space, policy: ActorCritic) -> list[RolloutBuffer]:
    obs_dtype = torch.uint8 if np.dtype(obs_space.dtype) == np.uint8 else torch.float32
    buffers = []
    for _ in range(count):
        buf = RolloutBuffer(settings.ppo.n_steps, n_envs, obs_space.shape, obs_dtype)
        if policy.recurrent:  # states at every step: truncated-BPTT segments start from them
            buf.states = torch.zeros(buf.n_steps, *policy.initial_state(n_envs).shape)
        buffers.append(buf)
    return buffers


def make_learner(policy: ActorCritic, settings: Settings, compute: Compute, n_envs: int, obs_space, *,
                 separate_process: bool, threads: int, optimizer_state: dict | None = None,
                 rng_state: dict | None = None) -> Learner:
    """The learner of `policy` for rollouts of `n_envs` envs: in a learner process when `separate_process`
    (`ppo.overlap`), else in this one. `optimizer_state` / `rng_state` continue a checkpoint (fresh Adam and a
    shuffler seeded with run.seed otherwise)."""
    rng = np.random.default_rng(settings.run.seed)
    if rng_state is not None:
        rng.bit_generator.state = rng_state
    bptt = settings.rl2.bptt_steps if settings.run.algorithm == "rl2" else None
    if separate_process:
        from workbench.engine.ppo.learner_process import LearnerProcess

        return LearnerProcess(policy, settings.ppo, compute, rng.bit_generator.state,
                              new_buffers(2, settings, n_envs, obs_space, policy), optimizer_state=optimizer_state,
                              threads=threads, bptt_steps=bptt)
    learner = PPOLearner(policy, settings.ppo, compute, rng, bptt_steps=bptt, decoupled=False)
    if optimizer_state is not None:
        learner.optimizer.load_state_dict(optimizer_state)
    return InProcessLearner(learner, new_buffers(1, settings, n_envs, obs_space, policy), threads)
