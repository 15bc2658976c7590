"""The trainer: the PPO loop and nothing else. It takes settings, a vec env (the rollout source), a policy, a
learner and hooks, all built elsewhere (`workbench.launcher` is the one place that builds them for a run).

    trainer = Trainer(settings, vec_env, policy, learner, compute, hooks=hooks)
    trainer.run(total_steps)          # blocks; pause()/resume()/stop() from any thread act within one agent step

Per iteration (CleanRL's ppo_atari.py loop, read top to bottom in `_loop`): collect `n_steps` vector steps into
the learner's next buffer (the envs step in their workers while the previous step is stored), compute GAE, hand
the buffer to the learner, and account for the update that finished. Where the update runs is the learner's
business (`ppo.learners`): in this process, the next rollout waits for it; in a learner process it runs while the
next rollout is collected with the weights from before it (one update of policy lag).

Rewards: the env stack applies `env.reward_scale` itself, so the trainer learns on the env's reward as it comes
and reports raw rewards and values divided by `reward_scale` in its records.
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from workbench.core.records import EpisodeRecord, RolloutRecord, StatusRecord, StepRecord, UpdateRecord
from workbench.core.settings import Settings
from workbench.engine.acting import Actor
from workbench.engine.device import Compute
from workbench.engine.hooks import Hooks
from workbench.engine.policies.api import ActorCritic
from workbench.engine.ppo.buffer import RolloutBuffer
from workbench.engine.ppo.learners import Learner, PendingUpdate

PAUSE_HEARTBEAT_S = 0.5


@dataclass
class _InFlight:
    """An update handed to the learner: its buffer, its rollout's step count, episodes and timing."""

    buffer: RolloutBuffer
    pending: PendingUpdate
    global_step: int
    episodes: list[EpisodeRecord]
    t_start: float
    t_rollout: float


class Trainer:
    """PPO on `vec_env` (see the module docstring). `reward_scale`: the envs' `env.reward_scale` (records are
    unscaled); `movie_dir`: the folder (relative to the run folder) the envs' movie paths are relative to.
    `run` closes the vec env, the learner and the hooks when it returns; `close()` does it otherwise."""

    def __init__(self, settings: Settings, vec_env, policy: ActorCritic, learner: Learner, compute: Compute, *,
                 hooks: Hooks | None = None, reward_scale: float = 1.0, action_labels: Sequence[str] = (),
                 movie_dir: str | None = None):
        self.settings, self.vec_env, self.policy, self.learner = settings, vec_env, policy, learner
        self.compute, self.reward_scale, self.movie_dir = compute, reward_scale, movie_dir
        self.hooks = hooks or Hooks()
        self.n_envs = vec_env.num_envs
        self.action_labels = list(action_labels) or [str(i) for i in range(int(vec_env.action_space.n))]
        self.sampler = torch.Generator().manual_seed(settings.run.seed + 1)
        self.acting = Actor(policy, vec_env, compute, self.sampler, reward_scale)
        self.global_step = 0
        """Agent steps taken (summed over envs), the rollout in progress included."""
        self.learned_step = 0
        """Agent steps the finished updates learned from (what a checkpoint and an UpdateRecord count)."""
        self.update = 0
        self.total_steps = settings.ppo.total_steps
        self.state = "created"
        self._stop = threading.Event()
        self._unpaused = threading.Event()
        self._unpaused.set()
        self._last_update_end: float | None = None
        self._closed = False

    # -- control (thread-safe) ---------------------------------------------------------------
    def pause(self) -> None:
        self._unpaused.clear()

    def resume(self) -> None:
        self._unpaused.set()

    def stop(self) -> None:
        self._stop.set()
        self._unpaused.set()

    @property
    def paused(self) -> bool:
        return not self._unpaused.is_set()

    def _status(self, state: str, error: str | None = None, clean_end: bool = False) -> None:
        self.state = state
        self.hooks.call("on_status", StatusRecord(state, self.global_step, self.update, self.total_steps, error,
                                                  clean_end))

    def _wait_if_paused(self) -> None:
        if self._unpaused.is_set():
            return
        self._status("paused")
        while not self._unpaused.wait(PAUSE_HEARTBEAT_S):
            self._status("paused")  # heartbeat: status.json shows a live process
        if not self._stop.is_set():
            self._status("running")

    # -- the loop ------------------------------------------------------------------------------
    def run(self, total_steps: int | None = None) -> str:
        """Train until `global_step` reaches `total_steps` (default: ppo.total_steps) or `stop()`; returns the
        final state ('finished' or 'stopped'). A failure is reported to the hooks and re-raised."""
        self.total_steps = int(total_steps if total_steps is not None else self.settings.ppo.total_steps)
        try:
            self._status("running")
            self._loop()
            self._status("stopped" if self._stop.is_set() else "finished", clean_end=True)
            return self.state
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):  # an abort (the polite way is stop()): the weights may be
                self._status("stopped")             # mid-update, so the last checkpoint stays the truth
            else:
                self._status("failed", f"{exc.__class__.__name__}: {exc}")
            raise
        finally:
            self.close()

    def _loop(self) -> None:
        """Rollout, update, rollout, ... The learner's buffers take turns; an update is accounted for before its
        buffer is refilled and before the next update is submitted (one in flight at a time)."""
        buffers = self.learner.buffers
        in_flight: _InFlight | None = None
        self.acting.start(seed=self.settings.run.seed + 1000 * self.update)
        episodes: list[EpisodeRecord] = []
        index = 0
        while self.global_step < self.total_steps and not self._stop.is_set():
            buf = buffers[index]
            if in_flight is not None and in_flight.buffer is buf:
                self._account(in_flight)
                in_flight = None
            t_start = time.perf_counter()
            if not self._collect(buf, episodes):
                break  # stopped: an unfinished rollout is dropped; the last checkpoint stays the truth
            t_rollout = time.perf_counter()
            feeds = self.update + 1 + (in_flight is not None)
            self.hooks.call("on_rollout", RolloutRecord(self.global_step, feeds,
                                                        buf.n_steps * self.n_envs / (t_rollout - t_start)))
            if in_flight is not None:
                self._account(in_flight)
            self._anneal_learning_rate()
            in_flight = _InFlight(buf, self.learner.submit(index), self.global_step, episodes, t_start, t_rollout)
            episodes = []
            index = (index + 1) % len(buffers)
        if in_flight is not None:
            self._account(in_flight)

    def _collect(self, buf: RolloutBuffer, episodes: list[EpisodeRecord]) -> bool:
        """Fill `buf` with n_steps vector steps of the acting policy; False if stopped first."""
        torch.set_num_threads(1)  # the env workers own the cores during the rollout
        self.learner.rollout_running(True)
        try:
            return self._collect_steps(buf, episodes)
        finally:
            self.learner.rollout_running(False)

    def _collect_steps(self, buf: RolloutBuffer, episodes: list[EpisodeRecord]) -> bool:
        actor, scale, n = self.acting, self.reward_scale, self.n_envs
        want_steps = bool(self.hooks.on_step)
        bootstrap = self.settings.ppo.bootstrap_truncated
        self.policy.eval()
        state = actor.inputs.state
        buf.state0 = None if state is None else state.detach().clone()
        for t in range(buf.n_steps):
            self._wait_if_paused()
            if self._stop.is_set():
                return False
            buf.store_inputs(t, actor.inputs)
            decision = actor.decide(buf.obs[t])  # the stored copy: already in the layout the policy runs in
            actor.send(decision)
            buf.store_decision(t, decision)  # while the envs step
            outcome = actor.receive(decision, bootstrap=bootstrap)  # False: a time limit ends like a real end
            buf.store_outcome(t, outcome)
            self.global_step += n
            finished = [self._episode_record(i, info["episode"]) for i, info in enumerate(outcome.infos)
                        if "episode" in info]
            episodes.extend(finished)
            if want_steps:
                self.hooks.call("on_step", StepRecord(
                    self.global_step, decision.actions.numpy(), decision.logp_all.exp().numpy(),
                    decision.values.numpy() / scale, outcome.rewards.numpy() / scale, outcome.terminated.numpy(),
                    outcome.truncated.numpy()))
            for episode in finished:
                self.hooks.call("on_episode", episode)
        buf.last_value.copy_(actor.value())
        buf.compute_returns(self.settings.ppo.gamma, self.settings.ppo.gae_lambda)
        return True

    def _anneal_learning_rate(self) -> None:
        cfg = self.settings.ppo
        if cfg.anneal_lr:  # set between updates: none is in flight
            total_updates = max(1, -(-self.total_steps // (cfg.n_steps * self.n_envs)))
            self.learner.set_learning_rate(cfg.learning_rate * max(0.0, 1 - self.update / total_updates))

    def _account(self, job: _InFlight) -> None:
        """A finished update: weights to the acting policy, metrics, hooks."""
        metrics, update_seconds = job.pending.result()
        self.learner.pull_weights(self.policy)
        self.update += 1
        self.learned_step = job.global_step
        now = time.perf_counter()
        # Wall time per update: with a learner process, from the previous update's end (rollouts run meanwhile).
        since = max(job.t_start, self._last_update_end or job.t_start)
        self._last_update_end = now
        metrics.update(steps_per_second=job.buffer.n_steps * self.n_envs / (now - since),
                       rollout_seconds=job.t_rollout - job.t_start, update_seconds=update_seconds)
        if job.episodes:
            metrics["mean_return"] = float(np.mean([e.episode_return for e in job.episodes]))
        placement = getattr(self.vec_env, "placement_metrics", None)  # e.g. a cluster's worker restarts
        if placement is not None:
            metrics.update(placement())
        self.hooks.call("on_update", UpdateRecord(self.learned_step, self.update, metrics, job.episodes))

    def _episode_record(self, env_index: int, ep: dict) -> EpisodeRecord:
        movie = ep.get("movie")
        if movie and self.movie_dir:
            movie = f"{self.movie_dir}/{movie}"
        return EpisodeRecord(self.global_step, env_index, str(ep.get("level", "")), float(ep["r"]), int(ep["l"]),
                             bool(ep.get("truncated", False)), int(ep.get("seed") or 0), movie)

    # -- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """What continues this training exactly: weights, the learner's optimizer and shuffler, counters, RNGs."""
        optimizer_state, learner_rng = self.learner.state()
        return {"model": self.policy.state_dict(), "optimizer": optimizer_state, "global_step": self.learned_step,
                "update": self.update,
                "rng": {"torch": torch.get_rng_state(), "numpy": learner_rng, "python": random.getstate(),
                        "sampler": self.sampler.get_state()}}

    def restore(self, data: dict[str, Any]) -> None:
        """Continue from a `state_dict()`'s counters and RNGs (the launcher loads the weights into the policy and
        gives the optimizer and shuffler state to the learner it builds)."""
        self.global_step = self.learned_step = int(data["global_step"])
        self.update = int(data["update"])
        rng = data.get("rng") or {}
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if "python" in rng:
            random.setstate(rng["python"])
        if "sampler" in rng:
            self.sampler.set_state(rng["sampler"])

    def close(self) -> None:
        """Stop the learner and the env workers, then let the hooks close their files (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.learner.close()
        finally:
            try:
                self.vec_env.close()
            finally:
                self.hooks.call("on_close")
