"""The trainer: PPO on a vector of envs, as an importable object the CLI, the GUI's trainer process and the
transfer jobs all drive.

    trainer = Trainer(settings, levels, run_dir=..., hooks=Hooks(on_update=[...]))
    trainer.run(total_steps)          # blocks; pause()/resume()/stop() from any thread act within one agent step

Data flow per update: `n_steps` vector steps (the envs step in their worker processes while the trainer stores
the previous step), then GAE and `n_epochs` of minibatch PPO (`ppo.PPOLearner`). Inference runs on one thread
while the env workers use the cores; the update uses every core (`device.learner_threads()`). With `ppo.overlap`
the update runs in a learner process (`learner_process.py`) while the next rollout is collected with the weights
from before it (one update of policy lag, as in pipelined PPO/APPO; the learner then runs decoupled PPO, see
`ppo.py`); the env workers then run at nice 10, so the learner's one thread keeps a core while they step.

Rewards: the env stack applies `env.reward_scale` itself (`envs.make_env` -> RewardScale), so the trainer learns
on the env's reward as it comes and reports raw rewards and values divided by the scale.

Recurrent seam (`policy_api`): the buffer stores, for every step, `reset` (the state is zeroed first: after a
trainer-visible episode end, i.e. a trial end for RL²'s TrialEnv), `episode_start` (after an episode end or when
the env says `info["episode_start"]`, RL²'s inner episodes), `prev_action`/`prev_reward` (zeros after a reset),
and the recurrent state at each rollout's start; `PPOLearner` re-runs whole env columns for recurrent policies.

Hooks get typed records (`records.py`), never the trainer's locals: `on_step(StepRecord)` after every vector
step, `on_episode(EpisodeRecord)` per finished episode, `on_rollout(RolloutRecord)`, `on_update(UpdateRecord)`.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import itertools
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from workbench.catalog.presets import preset_to_toml
from workbench.engine import checkpoint as ckpt
from workbench.engine.config import SECTIONS, EnvConfig, PPOConfig, RL2Config, RunConfig, TransferConfig
from workbench.engine.device import keep_freed_memory, learner_threads, resolve_compute
from workbench.engine.learner_process import LearnerProcess
from workbench.engine.policies import PolicySpec, make_policy, spec_for
from workbench.engine.policy_api import ActorCritic
from workbench.engine.ppo import PPOLearner
from workbench.engine.records import EpisodeRecord, RolloutRecord, StepRecord, UpdateRecord
from workbench.engine.rollout import RolloutBuffer
from workbench.engine.run_store import RunStore


OVERLAP_WORKER_NICE = 10
"""Niceness of the env workers with `ppo.overlap`: at 0 the learner's one thread got 1/9 of the CPU beside 8
workers (7.2 s per update instead of 4.4 s); at 10 update and rollout both take about 4.5 s (learner_process.py)."""


@dataclass
class Settings:
    """The engine's settings, one dataclass per preset table (a `catalog.presets.Preset` has the same
    attributes and can be passed wherever a Settings is)."""

    env: EnvConfig = field(default_factory=EnvConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    rl2: RL2Config = field(default_factory=RL2Config)
    transfer: TransferConfig = field(default_factory=TransferConfig)
    run: RunConfig = field(default_factory=RunConfig)

    @classmethod
    def of(cls, config: Any) -> "Settings":
        """Settings from anything with the section attributes (a Preset, a Settings, a dict of dicts)."""
        if isinstance(config, dict):
            return cls(**{name: sec(**config.get(name, {})) for name, sec in SECTIONS.items()})
        return cls(**{name: dataclasses.replace(getattr(config, name, sec())) for name, sec in SECTIONS.items()})

    def to_dict(self) -> dict[str, dict]:
        return {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}


@dataclass
class Hooks:
    """Callbacks the trainer calls with typed records (run on the trainer's thread: keep them short)."""

    on_step: list[Callable[[StepRecord], None]] = field(default_factory=list)
    on_episode: list[Callable[[EpisodeRecord], None]] = field(default_factory=list)
    on_rollout: list[Callable[[RolloutRecord], None]] = field(default_factory=list)
    on_update: list[Callable[[UpdateRecord], None]] = field(default_factory=list)


class Trainer:
    """PPO on `levels` (default: the preset's training levels) or on `env_fns` (picklable zero-argument env
    constructors). `config` is a `catalog.presets.Preset` or a `Settings`.

    - `run_dir`: where the run store lives (None = nothing written: transfer jobs and tests);
    - `resume`: continue the run in `run_dir` from its newest good checkpoint;
    - `init_weights`: a checkpoint whose model weights start the policy (fine-tuning), fresh optimizer;
    - `in_process`: step the envs in this process (`InProcessVecEnv`) instead of `ShmVecEnv` workers;
    - `vec_env`: a ready vector env to step instead (e.g. RL²'s `BanditVecEnv`, all trials in one numpy object);
    - `policy`: a ready policy (e.g. RL²'s recurrent one); default: `spec_for` the observation space;
    - `threads`: torch threads for the update (default: every core; parallel jobs give each a share).
    The vec env starts in the constructor (so `vec_env`, `policy` and `action_labels` exist before `run`) and is
    closed when `run` returns or by `close()`.
    """

    def __init__(self, config: Any, levels: Sequence | None = None, *, run_dir: Path | None = None,
                 env_fns: Sequence[Callable[[], Any]] | None = None, hooks: Hooks | None = None,
                 resume: bool = False, init_weights: Path | None = None, in_process: bool = False,
                 policy: ActorCritic | None = None, device: str | None = None, threads: int | None = None,
                 vec_env: Any = None):
        from workbench.catalog.levels import Level, LevelSet
        from workbench.catalog.presets import Preset

        self.settings = Settings.of(config)
        preset_levels = getattr(config, "levels", None)
        if levels is None:
            levels = preset_levels.train if isinstance(preset_levels, LevelSet) else []
        self.levels = [lv if isinstance(lv, Level) else Level.parse(str(lv)) for lv in levels]
        test = preset_levels.test if isinstance(preset_levels, LevelSet) else []
        self.preset = Preset(name=getattr(config, "name", "run"), description=getattr(config, "description", ""),
                             levels=LevelSet(train=list(self.levels), test=list(test)),
                             **{name: getattr(self.settings, name) for name in SECTIONS})
        self.hooks = hooks or Hooks()
        ppo_cfg, run_cfg = self.settings.ppo, self.settings.run
        self.compute = resolve_compute(device or ppo_cfg.device, ppo_cfg.precision)
        if self.compute.device.type == "cpu":
            keep_freed_memory()
        self.reward_scale = float(self.settings.env.reward_scale) if env_fns is None and vec_env is None else 1.0
        self._stop = threading.Event()
        self._unpaused = threading.Event()
        self._unpaused.set()
        self.global_step = 0
        """Agent steps taken (summed over envs), the rollout in progress included."""
        self.learned_step = 0
        """Agent steps the finished updates learned from (what a checkpoint and an UpdateRecord count)."""
        self.update = 0
        self._recent_returns: list[float] = []
        self._last_update_end: float | None = None
        self.remote: LearnerProcess | None = None
        """With `ppo.overlap`: the learner process (it owns the optimizer; `self.learner`'s is then unused)."""
        self._spare_buffer: RolloutBuffer | None = None
        self.best_return = -float("inf")
        self.state = "created"
        self.store: RunStore | None = None
        self._tb = None

        checkpoint: dict | None = None
        if run_dir is not None:
            run_dir = Path(run_dir)
            if resume:
                self.store = RunStore.open(run_dir)
                _, checkpoint = ckpt.load_latest(self.store.checkpoints_dir)
            else:
                self.store = RunStore.create(run_dir, self.preset)
        elif resume:
            raise ValueError("resume needs the run directory (run_dir)")

        torch.manual_seed(run_cfg.seed)
        self.np_rng = np.random.default_rng(run_cfg.seed)
        self.sampler = torch.Generator().manual_seed(run_cfg.seed + 1)

        self.action_labels: list[str] = []
        if vec_env is not None:
            self.vec_env = vec_env
        else:
            # Overlap: the workers yield to the learner process (see learner_process.py for the measurements).
            self.vec_env = self._make_vec_env(env_fns if env_fns is not None else self._level_env_fns(), in_process,
                                              nice=OVERLAP_WORKER_NICE if ppo_cfg.overlap else 0)
        try:
            obs_space, act_space = self.vec_env.observation_space, self.vec_env.action_space
            self.n_envs = self.vec_env.num_envs
            if not self.action_labels:
                self.action_labels = [str(i) for i in range(int(act_space.n))]
            self.policy_spec = getattr(policy, "spec", None) or self._default_spec(obs_space, int(act_space.n))
            self.policy = (policy or make_policy(self.policy_spec)).to(self.compute.device)
            rl2 = self.settings.run.algorithm == "rl2"
            # Small MLPs gain nothing from intra-op threads and suffer badly when the cores are busy.
            self.threads = threads or (learner_threads() if self.policy_spec.kind == "cnn" else 1)
            self.learner = PPOLearner(self.policy, ppo_cfg, self.compute, self.np_rng,
                                      bptt_steps=self.settings.rl2.bptt_steps if rl2 else None,
                                      decoupled=ppo_cfg.overlap)
            obs_dtype = torch.uint8 if np.dtype(obs_space.dtype) == np.uint8 else torch.float32
            self.buffer = self._new_buffer(obs_space.shape, obs_dtype)
            if self.store is not None and run_cfg.record_episodes:
                from workbench.replay.recorder import EpisodeRecorder  # sidecars + index of recorded episodes

                EpisodeRecorder.attach(self)
            if checkpoint is not None:
                self._restore(checkpoint)
            elif init_weights is not None:
                try:
                    self.policy.load_state_dict(ckpt.load(Path(init_weights))["model"])
                except RuntimeError as exc:
                    raise ValueError(f"the policy in {init_weights} does not fit these levels (different action "
                                     f"set or observation shape?): {str(exc).splitlines()[0]}") from None
            self.actor = self.policy
            """The policy that acts in the envs (with `ppo.overlap` it keeps the weights from before the update in
            flight: the learner process has its own copy, pulled in after each update)."""
            if ppo_cfg.overlap:
                self._spare_buffer = self._new_buffer(obs_space.shape, obs_dtype)
                optimizer_state, rng_state = self.learner.state()
                self.remote = LearnerProcess(self.policy, ppo_cfg, self.compute, rng_state,
                                             [self.buffer, self._spare_buffer], optimizer_state=optimizer_state,
                                             threads=self.threads, bptt_steps=self.learner.bptt_steps)
        except BaseException:
            self.close()
            raise

    def _new_buffer(self, obs_shape, obs_dtype) -> RolloutBuffer:
        buf = RolloutBuffer(self.settings.ppo.n_steps, self.n_envs, obs_shape, obs_dtype)
        if self.policy.recurrent:  # states at every step: truncated-BPTT segments start from them
            buf.states = torch.zeros(buf.n_steps, *self.policy.initial_state(self.n_envs).shape)
        return buf

    # -- construction helpers ----------------------------------------------------------------
    def _default_spec(self, obs_space, n_actions: int) -> PolicySpec:
        if self.settings.run.algorithm == "rl2":
            from workbench.engine.rl2.policy import rl2_spec

            rl2_cfg, n_steps = self.settings.rl2, self.settings.ppo.n_steps
            if rl2_cfg.bptt_steps < n_steps and n_steps % rl2_cfg.bptt_steps:
                raise ValueError(f"ppo.n_steps ({n_steps}) must be a multiple of rl2.bptt_steps "
                                 f"({rl2_cfg.bptt_steps}); change one of them in the preset")
            return rl2_spec(obs_space.shape, n_actions, rl2_cfg.hidden_size)
        return spec_for(obs_space.shape, obs_space.dtype, n_actions)

    def _level_env_fns(self) -> list[Callable]:
        from workbench.engine.actions import resolve_action_set
        from workbench.engine.envs import env_thunk

        if not self.levels:
            raise ValueError("no training levels: add at least one level to the preset")
        env_cfg = self.settings.env
        self.action_labels = list(resolve_action_set(self.levels[0].game, env_cfg).labels)
        record_dir = self.store.episodes_dir if (self.store and self.settings.run.record_episodes) else None
        if self.settings.run.algorithm == "rl2":  # RL²: each env plays trials of K episodes on a drawn level
            from workbench.engine.rl2.trials import level_trial_env_thunk

            k = self.settings.rl2.episodes_per_trial
            return [level_trial_env_thunk(self.levels, env_cfg, k, self.settings.run.seed, i, record_dir)
                    for i in range(self.settings.ppo.n_envs)]
        return [env_thunk(self.levels, env_cfg, self.settings.run.seed, i, record_dir)
                for i in range(self.settings.ppo.n_envs)]

    @staticmethod
    def _make_vec_env(env_fns, in_process: bool, nice: int = 0):
        if in_process:
            from workbench.engine.inproc_vec_env import InProcessVecEnv

            return InProcessVecEnv(env_fns)
        from workbench.engine.vec_env import ShmVecEnv

        return ShmVecEnv(list(env_fns), nice=nice)

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

    def _wait_if_paused(self) -> None:
        if self._unpaused.is_set():
            return
        self._set_state("paused")
        while not self._unpaused.wait(0.5):
            self._set_state("paused")  # heartbeat
        if not self._stop.is_set():
            self._set_state("running")

    def _set_state(self, state: str, error: str | None = None) -> None:
        self.state = state
        if self.store is not None:
            self.store.write_status(state, error, global_step=self.global_step, update=self.update,
                                    total_steps=getattr(self, "_total", None))

    # -- the loop ------------------------------------------------------------------------------
    def run(self, total_steps: int | None = None) -> None:
        """Train until `global_step` reaches `total_steps` (default: ppo.total_steps) or `stop()`. Saves a
        checkpoint at the end (also after stop); records a failure in status.json and re-raises it."""
        self._total = int(total_steps if total_steps is not None else self.settings.ppo.total_steps)
        try:
            self._set_state("running")
            self._open_tensorboard()
            self._loop()
            if self.update and self.store is not None:
                self.save_checkpoint()
            self._set_state("stopped" if self._stop.is_set() else "finished")
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):  # an abort (the polite way is stop()): the weights may be
                self._set_state("stopped")          # mid-update, so the last checkpoint stays the truth
            else:
                self._set_state("failed", f"{exc.__class__.__name__}: {exc}")
            raise
        finally:
            self.close()

    def _loop(self) -> None:
        """Rollout, update, rollout, ... With `ppo.overlap` the update of rollout k runs in the learner process
        while this thread collects rollout k+1 with the weights from before that update (`self.actor`, re-synced
        after every update); the two rollout buffers take turns. Hooks and the run store are only called from this
        thread."""
        cfg = self.settings.ppo
        carry = _Carry.start(self)
        buffers = [self.buffer, self._spare_buffer] if self._spare_buffer is not None else [self.buffer]
        job: _UpdateJob | None = None
        try:
            for i in itertools.count():
                if self.global_step >= self._total or self._stop.is_set():
                    break
                buf = buffers[i % len(buffers)]
                t_start = time.perf_counter()
                if not self._collect(buf, carry):
                    break  # stopped: an unfinished rollout is dropped; the last checkpoint stays the truth
                t_rollout = time.perf_counter()
                for hook in self.hooks.on_rollout:
                    hook(RolloutRecord(self.global_step, self.update + 1 + (job is not None),
                                       cfg.n_steps * self.n_envs / (t_rollout - t_start)))
                if job is not None:
                    self._finish(job)
                    job = None
                self.buffer = buf
                job = self._launch(i % len(buffers), buf, carry.take_episodes(), t_start, t_rollout)
                if self.remote is None:  # no overlap: learn now
                    self._finish(job)
                    job = None
            if job is not None:
                self._finish(job)
                job = None
        finally:
            if job is not None:  # failing: let the update end before the workers and files close
                with contextlib.suppress(Exception):
                    job.future.result()

    def _collect(self, buf: RolloutBuffer, carry: "_Carry") -> bool:
        """Fill `buf` with n_steps vector steps of `self.actor`; False if stopped first."""
        torch.set_num_threads(1)  # the env workers own the cores during the rollout
        if self.remote is not None:
            self.remote.rollout_running(True)
        try:
            return self._collect_steps(buf, carry)
        finally:
            if self.remote is not None:
                self.remote.rollout_running(False)

    def _collect_steps(self, buf: RolloutBuffer, carry: "_Carry") -> bool:
        cfg, dev, policy, n = self.settings.ppo, self.compute.device, self.actor, self.n_envs
        scale = self.reward_scale
        want_steps = bool(self.hooks.on_step)
        policy.eval()
        buf.state0 = None if carry.state is None else carry.state.detach().clone()
        for t in range(cfg.n_steps):
            self._wait_if_paused()
            if self._stop.is_set():
                return False
            state = carry.state
            buf.obs[t].copy_(carry.obs)
            obs = buf.obs[t]  # the stored copy: already in the layout the policy runs in (rollout._obs_storage)
            buf.episode_start[t], buf.reset[t] = carry.episode_start, carry.reset
            buf.prev_action[t], buf.prev_reward[t] = carry.prev_action, carry.prev_reward
            if buf.states is not None:
                buf.states[t] = state.detach().cpu()
            with torch.no_grad(), self.compute.autocast():
                out = policy.step(obs.to(dev), state, carry.prev_action.to(dev), carry.prev_reward.to(dev),
                                  carry.episode_start.to(dev), carry.reset.to(dev))
            logits = out.logits.float().cpu()
            logp_all = torch.log_softmax(logits, -1)
            gumbel = -torch.log(-torch.log(torch.rand(logits.shape, generator=self.sampler).clamp_min(1e-20)))
            actions = torch.argmax(logp_all + gumbel, -1)
            self.vec_env.step_async(actions.numpy())
            # While the envs step: store what the policy did.
            buf.actions[t] = actions
            buf.logprobs[t] = logp_all.gather(1, actions[:, None]).squeeze(1)
            buf.values[t] = out.value.float().cpu()
            state = out.state
            next_obs, rewards, terminated, truncated, infos = self.vec_env.step_wait()
            self.global_step += n
            rewards_t = torch.from_numpy(np.asarray(rewards, np.float32))
            buf.rewards[t] = rewards_t
            term_t = torch.from_numpy(np.asarray(terminated, bool))
            trunc_t = torch.from_numpy(np.asarray(truncated, bool)) & ~term_t
            buf.terminated[t], buf.truncated[t] = term_t, trunc_t
            buf.bootstrap[t] = 0.0
            if trunc_t.any():
                buf.bootstrap[t] = self._final_values(infos, trunc_t, state, actions, rewards_t)
            done = term_t | trunc_t
            carry.episode_start = done | torch.tensor([bool(i.get("episode_start", False)) for i in infos])
            carry.reset = done
            carry.prev_action = torch.where(done, 0, actions)
            carry.prev_reward = torch.where(done, 0.0, rewards_t / scale)
            carry.obs, carry.state = torch.from_numpy(next_obs), state
            finished = [self._episode_record(i, info["episode"]) for i, info in enumerate(infos) if "episode" in info]
            carry.episodes.extend(finished)
            if want_steps:
                probs = logp_all.exp().numpy()
                record = StepRecord(self.global_step, actions.numpy(), probs, buf.values[t].numpy() / scale,
                                    rewards_t.numpy() / scale, term_t.numpy(), trunc_t.numpy())
                for hook in self.hooks.on_step:
                    hook(record)
            for episode in finished:
                for hook in self.hooks.on_episode:
                    hook(episode)
        with torch.no_grad(), self.compute.autocast():
            buf.last_value.copy_(policy.step(carry.obs.to(dev), carry.state, carry.prev_action.to(dev),
                                             carry.prev_reward.to(dev), carry.episode_start.to(dev),
                                             carry.reset.to(dev)).value.float().cpu())
        buf.compute_returns(cfg.gamma, cfg.gae_lambda)
        return True

    def _launch(self, index: int, buf: RolloutBuffer, episodes: list[EpisodeRecord], t_start: float,
                t_rollout: float) -> "_UpdateJob":
        cfg = self.settings.ppo
        learner = self.remote or self.learner
        if cfg.anneal_lr:  # set here: no update is in flight
            total_updates = max(1, -(-self._total // (cfg.n_steps * self.n_envs)))
            learner.set_learning_rate(cfg.learning_rate * max(0.0, 1 - self.update / total_updates))
        job = _UpdateJob(self.global_step, episodes, t_start, t_rollout)
        if self.remote is not None:
            job.future = self.remote.submit(index, buf)
        else:
            torch.set_num_threads(self.threads)
            job.future = concurrent.futures.Future()
            job.future.set_result(self._timed_update(buf))
        return job

    def _timed_update(self, buf: RolloutBuffer) -> tuple[dict[str, float], float]:
        t0 = time.perf_counter()
        metrics = self.learner.update(buf)
        return metrics, time.perf_counter() - t0

    def _finish(self, job: "_UpdateJob") -> None:
        """Account for a finished update (this thread): weights to the actor, metrics, hooks, checkpoint."""
        metrics, update_seconds = job.future.result()
        if self.remote is not None:
            self.remote.pull_weights(self.policy)
        self.update += 1
        self.learned_step = job.global_step
        now = time.perf_counter()
        # Wall time per update: with overlap, from the previous update's end (rollouts run during updates).
        since = max(job.t_start, self._last_update_end or job.t_start)
        self._last_update_end = now
        metrics.update(steps_per_second=self.settings.ppo.n_steps * self.n_envs / (now - since),
                       rollout_seconds=job.t_rollout - job.t_start, update_seconds=update_seconds)
        episodes = job.episodes
        if episodes:
            metrics["mean_return"] = float(np.mean([e.episode_return for e in episodes]))
        self._recent_returns = (self._recent_returns + [e.episode_return for e in episodes])[-100:]
        self._log_update(metrics, episodes)
        if self.store is not None and self.update % max(1, self.settings.run.checkpoint_every) == 0:
            self.save_checkpoint()

    def _final_values(self, infos, trunc_t, state, actions, rewards_t) -> torch.Tensor:
        """V(final observation) of the truncated envs (learning units), for r + γ V(final_obs)."""
        idx = torch.nonzero(trunc_t).squeeze(1)
        final = torch.from_numpy(np.stack([infos[int(i)]["final_obs"] for i in idx]))
        dev = self.compute.device
        sub_state = None if state is None else state[idx.to(state.device)]
        zeros = torch.zeros(len(idx), dtype=torch.bool, device=dev)
        with torch.no_grad(), self.compute.autocast():
            value = self.actor.step(final.to(dev), sub_state, actions[idx].to(dev),
                                     (rewards_t[idx] / self.reward_scale).to(dev), zeros, zeros).value.float().cpu()
        out = torch.zeros(self.n_envs)
        out[idx] = value
        return out

    def _episode_record(self, env_index: int, ep: dict) -> EpisodeRecord:
        movie = ep.get("movie")
        if movie and self.store is not None:
            movie = (Path(self.store.episodes_dir.name) / movie).as_posix()
        return EpisodeRecord(self.global_step, env_index, str(ep.get("level", "")), float(ep["r"]), int(ep["l"]),
                             bool(ep.get("truncated", False)), int(ep.get("seed") or 0), movie)

    # -- logging / checkpoints -----------------------------------------------------------------
    def _open_tensorboard(self) -> None:
        if self.store is None:
            return
        from torch.utils.tensorboard import SummaryWriter

        # purge_step drops events a killed run wrote after its last checkpoint.
        self._tb = SummaryWriter(str(self.store.tb_dir), purge_step=self.global_step or None)

    def _log_update(self, metrics: dict[str, float], episodes: list[EpisodeRecord]) -> None:
        record = UpdateRecord(self.learned_step, self.update, dict(metrics))
        if self.store is not None:
            self.store.log_update(self.update, self.learned_step, metrics, episodes)
            self._set_state("running")
        if self._tb is not None:
            for k, v in metrics.items():
                self._tb.add_scalar(f"train/{k}", v, self.learned_step)
            for e in episodes:
                self._tb.add_scalar("episode/return", e.episode_return, e.global_step)
                self._tb.add_scalar("episode/length", e.length, e.global_step)
        for hook in self.hooks.on_update:
            hook(record)

    def checkpoint_payload(self) -> dict[str, Any]:
        optimizer_state, learner_rng = (self.remote or self.learner).state()
        return {
            "model": self.policy.state_dict(),
            "optimizer": optimizer_state,
            "global_step": self.learned_step,
            "update": self.update,
            "policy_spec": self.policy_spec.to_dict() if isinstance(self.policy_spec, PolicySpec) else None,
            "config": preset_to_toml(self.preset),
            "action_labels": self.action_labels,
            "best_return": self.best_return,
            "rng": {"torch": torch.get_rng_state(), "numpy": learner_rng,
                    "python": random.getstate(), "sampler": self.sampler.get_state()},
        }

    def save_checkpoint(self) -> Path:
        assert self.store is not None, "no run directory to save into"
        recent = self._recent_returns
        mean_return = float(np.mean(recent)) if recent else -float("inf")
        payload = self.checkpoint_payload() | {"mean_return": mean_return}
        path = ckpt.save_numbered(self.store.checkpoints_dir, self.update, payload, self.settings.run.keep_checkpoints)
        if recent and mean_return > self.best_return:
            self.best_return = mean_return
            ckpt.save(self.store.checkpoints_dir / "best.pt", payload | {"best_return": mean_return})
        if self._tb is not None:
            self._tb.flush()
        return path

    def _restore(self, data: dict) -> None:
        self.policy.load_state_dict(data["model"])
        self.learner.optimizer.load_state_dict(data["optimizer"])
        self.global_step, self.update = int(data["global_step"]), int(data["update"])
        self.learned_step = self.global_step
        self.best_return = float(data.get("best_return", -float("inf")))
        rng = data.get("rng") or {}
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if "numpy" in rng:
            self.np_rng.bit_generator.state = rng["numpy"]
        if "python" in rng:
            random.setstate(rng["python"])
        if "sampler" in rng:
            self.sampler.set_state(rng["sampler"])
        assert self.store is not None
        self.store.truncate_after(self.update)

    def close(self) -> None:
        """Stop the env workers and the learner process, and close the run's files (idempotent)."""
        if self.remote is not None:
            self.remote.close()
            self.remote = None
        vec_env = getattr(self, "vec_env", None)
        if vec_env is not None:
            vec_env.close()
            self.vec_env = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self.store is not None:
            self.store.close()


@dataclass
class _Carry:
    """What flows from one vector step to the next (and from one rollout into the next)."""

    obs: torch.Tensor
    state: Any
    episode_start: torch.Tensor
    reset: torch.Tensor
    prev_action: torch.Tensor
    prev_reward: torch.Tensor
    episodes: list[EpisodeRecord]
    """Episodes finished since the last rollout was handed to the learner."""

    @classmethod
    def start(cls, trainer: Trainer) -> "_Carry":
        n = trainer.n_envs
        obs = torch.from_numpy(trainer.vec_env.reset(seed=trainer.settings.run.seed + 1000 * trainer.update))
        return cls(obs, trainer.actor.initial_state(n, trainer.compute.device), torch.ones(n, dtype=torch.bool),
                   torch.ones(n, dtype=torch.bool), torch.zeros(n, dtype=torch.int64), torch.zeros(n), [])

    def take_episodes(self) -> list[EpisodeRecord]:
        episodes, self.episodes = self.episodes, []
        return episodes


@dataclass
class _UpdateJob:
    """An update handed to the learner: its rollout's step count, episodes and timing, and its result."""

    global_step: int
    episodes: list[EpisodeRecord]
    t_start: float
    t_rollout: float
    future: Any = field(default_factory=concurrent.futures.Future)
    """Has `result() -> (metrics, update seconds)`: a done Future, or the learner process's PendingUpdate."""
