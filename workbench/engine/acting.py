"""The acting loop: a policy playing a vec env, with the bookkeeping every player of a policy shares.

    actor = Actor(policy, vec_env, compute, sampler, reward_scale)
    actor.start(seed)                        # reset the envs; zero the recurrent state
    decision = actor.decide()                # inference on actor.inputs, one sampled action per env
    actor.send(decision)                     # the envs step in their workers ...
    outcome = actor.receive(decision)        # ... and this updates actor.inputs for the next step

What flows from one step to the next (`PolicyInputs`) is the recurrent seam of `policies.api`: the state is zeroed
(`reset`) after an episode end the vec env reports (a trial end for RL²'s TrialEnv), `episode_start` marks an
episode's first observation (also RL²'s inner episodes, `info["episode_start"]`), `prev_action` / `prev_reward`
(raw reward, zeros after a reset). Rollout collection (`trainer`), transfer's zero-shot play and RL²'s within-trial
evaluation all use this class, so an RL² policy keeps its memory wherever it plays.

Actions are drawn with the Gumbel-max trick from `sampler` (one uniform draw per action and env): the same
distribution as sampling from softmax(logits), reproducible from the generator's state in a checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from workbench.engine.device import Compute
from workbench.engine.policies.api import ActorCritic


@dataclass
class PolicyInputs:
    """What the policy acts on at the next step, for every env."""

    obs: torch.Tensor
    state: Any
    """Recurrent state (None for feed-forward policies)."""
    episode_start: torch.Tensor
    reset: torch.Tensor
    prev_action: torch.Tensor
    prev_reward: torch.Tensor
    """The previous step's raw (unscaled) reward."""


@dataclass
class Decision:
    """The policy's output for one vector step and the actions sampled from it (CPU tensors)."""

    actions: torch.Tensor
    """(n,) int64"""
    logp_all: torch.Tensor
    """(n, n_actions) float32 log-probabilities."""
    values: torch.Tensor
    """(n,) float32, in learning units (of the env's scaled reward)."""
    state: Any
    """The recurrent state after this step."""

    @property
    def logprobs(self) -> torch.Tensor:
        return self.logp_all.gather(1, self.actions[:, None]).squeeze(1)


@dataclass
class Outcome:
    """What the envs did with a decision."""

    rewards: torch.Tensor
    """(n,) float32 as the env gives them (learning units)."""
    terminated: torch.Tensor
    truncated: torch.Tensor
    """(n,) bool; truncated excludes terminated."""
    infos: list[dict]
    bootstrap: torch.Tensor | None
    """V(final observation) for truncated envs (zeros elsewhere), when `receive(bootstrap=True)`."""

    @property
    def done(self) -> torch.Tensor:
        return self.terminated | self.truncated


class Actor:
    """`policy` acting in `vec_env` (see the module docstring). `greedy` takes the most likely action instead of
    sampling; `reward_scale` is the env's scale, so `prev_reward` gets the raw reward the policy trained on."""

    def __init__(self, policy: ActorCritic, vec_env, compute: Compute, sampler: torch.Generator | None = None,
                 reward_scale: float = 1.0, greedy: bool = False):
        self.policy, self.vec_env, self.compute = policy, vec_env, compute
        self.sampler = sampler if sampler is not None else torch.Generator()
        self.reward_scale, self.greedy = reward_scale, greedy
        self.n = vec_env.num_envs
        self.inputs: PolicyInputs | None = None

    def start(self, seed: int | None = None) -> PolicyInputs:
        """Reset the envs (env i gets seed + i) and begin every env at an episode start."""
        n = self.n
        obs = torch.from_numpy(np.asarray(self.vec_env.reset(seed=seed)))
        self.inputs = PolicyInputs(obs, self.policy.initial_state(n, self.compute.device),
                                   torch.ones(n, dtype=torch.bool), torch.ones(n, dtype=torch.bool),
                                   torch.zeros(n, dtype=torch.int64), torch.zeros(n))
        return self.inputs

    def _forward(self, obs: torch.Tensor, state, prev_action, prev_reward, episode_start, reset):
        dev = self.compute.device
        with torch.no_grad(), self.compute.autocast():
            return self.policy.step(obs.to(dev), state, prev_action.to(dev), prev_reward.to(dev),
                                    episode_start.to(dev), reset.to(dev))

    def decide(self, obs: torch.Tensor | None = None) -> Decision:
        """The policy on `self.inputs` (`obs`: the same observations in another layout, e.g. the rollout
        buffer's stored copy) and one action per env."""
        x = self.inputs
        out = self._forward(x.obs if obs is None else obs, x.state, x.prev_action, x.prev_reward,
                            x.episode_start, x.reset)
        logp_all = torch.log_softmax(out.logits.float().cpu(), -1)
        if self.greedy:
            actions = torch.argmax(logp_all, -1)
        else:
            uniform = torch.rand(logp_all.shape, generator=self.sampler).clamp_min(1e-20)
            actions = torch.argmax(logp_all - torch.log(-torch.log(uniform)), -1)
        return Decision(actions, logp_all, out.value.float().cpu(), out.state)

    def send(self, decision: Decision) -> None:
        self.vec_env.step_async(decision.actions.numpy())

    def receive(self, decision: Decision, bootstrap: bool = False) -> Outcome:
        """Wait for the envs' step and carry its results into `self.inputs`; with `bootstrap`, also the values
        of the final observations of the episodes the time limit cut (r + γ V(final_obs) for GAE)."""
        next_obs, rewards, terminated, truncated, infos = self.vec_env.step_wait()
        rewards_t = torch.from_numpy(np.asarray(rewards, np.float32))
        term_t = torch.from_numpy(np.asarray(terminated, bool))
        trunc_t = torch.from_numpy(np.asarray(truncated, bool)) & ~term_t
        values = None
        if bootstrap:
            values = torch.zeros(self.n)
            if trunc_t.any():
                values = self._final_values(infos, trunc_t, decision, rewards_t)
        done = term_t | trunc_t
        x = self.inputs
        x.episode_start = done | torch.tensor([bool(info.get("episode_start", False)) for info in infos])
        x.reset = done
        x.prev_action = torch.where(done, 0, decision.actions)
        x.prev_reward = torch.where(done, 0.0, rewards_t / self.reward_scale)
        x.obs, x.state = torch.from_numpy(np.asarray(next_obs)), decision.state
        return Outcome(rewards_t, term_t, trunc_t, infos, values)

    def step(self, bootstrap: bool = False) -> tuple[Decision, Outcome]:
        decision = self.decide()
        self.send(decision)
        return decision, self.receive(decision, bootstrap)

    def value(self) -> torch.Tensor:
        """V(self.inputs): the value of the observations the next step would act on (bootstraps a rollout's
        unfinished episodes)."""
        x = self.inputs
        return self._forward(x.obs, x.state, x.prev_action, x.prev_reward, x.episode_start,
                             x.reset).value.float().cpu()

    def _final_values(self, infos, truncated: torch.Tensor, decision: Decision, rewards: torch.Tensor):
        """V(final observation) of the truncated envs; the recurrent state is the one after the last step."""
        idx = torch.nonzero(truncated).squeeze(1)
        final = torch.from_numpy(np.stack([infos[int(i)]["final_obs"] for i in idx]))
        state = decision.state
        sub_state = None if state is None else state[idx.to(state.device)]
        zeros = torch.zeros(len(idx), dtype=torch.bool)
        value = self._forward(final, sub_state, decision.actions[idx], rewards[idx] / self.reward_scale, zeros,
                              zeros).value.float().cpu()
        out = torch.zeros(self.n)
        out[idx] = value
        return out
