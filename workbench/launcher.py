"""The one place a run is built: preset + run folder -> a ready trainer with its hooks (Sample Factory's habit:
components wired once, placement separate from logic). `workbench train`, the GUI's run process and the
transfer jobs all build through here.

    run = build_run(preset, run_dir)                 # a new run in run_dir (or resume=True to continue it)
    outcome = run.train(total_steps)                 # train, then what follows (RL²'s within-trial curve)

    trainer = build_trainer(settings, levels, placement="in_process", init_weights=...)   # no run folder

What is decided here and nowhere else:
- settings and levels are checked first (`core.settings.validate`, `catalog.level_checks`): what
  `workbench preset check` refuses never reaches an env worker;
- placement: env workers as processes with shared memory (`ShmVecEnv`, the default), in this process
  (`InProcessVecEnv`: transfer jobs that already run in parallel), or as Ray actors across a cluster's nodes
  (`engine.cluster.vec.RayVecEnv`, with `cluster=`; transfer jobs as Ray tasks: `transfer_placement`). Ray is
  imported only then; the learner in this process or in a learner
  process (`ppo.overlap`, with the env workers at nice 10 so its thread keeps a core);
- the policy (Nature CNN / MLP by observation, RL²'s recurrent one for run.algorithm = "rl2");
- the run folder's hooks: run store (metrics.sqlite, status.json), TensorBoard, checkpoints, episode recorder.
"""
from __future__ import annotations

import math
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import torch

from workbench.catalog.actions import agent_action_labels
from workbench.catalog.level_checks import require_playable
from workbench.core.levels import Level, LevelSet
from workbench.core.presets import Preset, preset_to_toml
from workbench.core.settings import SECTIONS, Settings, check
from workbench.engine import checkpoint as ckpt
from workbench.engine.device import keep_freed_memory, learner_threads, resolve_compute
from workbench.engine.hooks import Hooks
from workbench.engine.policies.api import PolicySpec
from workbench.engine.policies.registry import make_policy, spec_for
from workbench.engine.ppo.learner_process import OVERLAP_WORKER_NICE
from workbench.engine.ppo.learners import make_learner
from workbench.engine.run_store import RunLock, RunStore, new_run_dir
from workbench.engine.tensorboard_log import TensorBoardLog
from workbench.engine.trainer import Trainer

Placement = Literal["processes", "in_process", "ray"]
EPISODES_DIR = "episodes"


def build_trainer(settings: Any, levels: Sequence[Level | str] | None = None, *,
                  env_fns: Sequence[Callable] | None = None, vec_env=None,
                  placement: Placement = "processes", device: str | None = None, threads: int | None = None,
                  hooks: Hooks | None = None, init_weights: Path | None = None, resume_from: dict | None = None,
                  record_dir: Path | None = None, movie_dir: str | None = None, file: str | None = None,
                  cluster: str | None = None, envs_per_actor: int = 1,
                  cpus_per_actor: float = 1.0) -> Trainer:
    """A trainer for `levels` with `settings` (a Settings or Preset); instead of levels, `env_fns` (picklable
    zero-argument Gymnasium env constructors, placed like level envs) or a ready `vec_env` (e.g. RL²'s bandits).

    `init_weights`: a checkpoint whose weights start the policy (fine-tuning; fresh optimizer); `resume_from`: a
    loaded checkpoint to continue exactly (weights, optimizer, counters, RNGs); `record_dir`: where the envs
    write episode movies; `file`: named in error messages; `cluster` ('auto' or HOST:PORT, or a joined
    `ClusterSession`): the env workers are Ray actors on that cluster (`envs_per_actor` envs and `cpus_per_actor`
    CPUs each), the learner stays here. Raises `SettingsError`/`ValueError` naming the problem before any process
    starts (`ClusterError` for the cluster)."""
    settings = Settings.of(settings)
    check(settings, file)
    levels = [lv if isinstance(lv, Level) else Level.parse(str(lv)) for lv in (levels or [])]
    from_levels = vec_env is None and env_fns is None
    if from_levels:
        require_playable(levels, settings.env, file or "the preset", "train")
    compute = resolve_compute(device or settings.ppo.device, settings.ppo.precision)
    if compute.device.type == "cpu":
        keep_freed_memory()
    torch.manual_seed(settings.run.seed)  # the policy's initial weights come from this seed
    own_vec_env = vec_env is None
    if own_vec_env:
        nice = OVERLAP_WORKER_NICE if settings.ppo.overlap else 0  # the workers yield to the learner process
        fns = list(env_fns) if env_fns is not None else _env_fns(settings, levels, record_dir)
        if cluster is not None:
            vec_env = _ray_vec_env(fns, cluster, levels if from_levels else [], envs_per_actor, cpus_per_actor)
        else:
            vec_env = _vec_env(fns, placement, nice)
    learner = None
    try:
        obs_space, n_actions = vec_env.observation_space, int(vec_env.action_space.n)
        policy = make_policy(_policy_spec(settings, obs_space, n_actions)).to(compute.device)
        if resume_from is not None:
            policy.load_state_dict(resume_from["model"])
        elif init_weights is not None:
            _load_weights(policy, Path(init_weights))
        # Small MLPs gain nothing from intra-op threads and suffer badly when the cores are busy.
        threads = threads or (learner_threads() if policy.spec.kind == "cnn" else 1)
        rng = (resume_from or {}).get("rng") or {}
        learner = make_learner(policy, settings, compute, vec_env.num_envs, obs_space,
                               separate_process=settings.ppo.overlap, threads=threads,
                               optimizer_state=(resume_from or {}).get("optimizer"), rng_state=rng.get("numpy"))
        labels = agent_action_labels(levels, settings.env) if from_levels else ()
        # level envs (and a vec env with a `reward_scale`, e.g. the bandits) scale their own rewards
        scale = float(settings.env.reward_scale) if from_levels else float(getattr(vec_env, "reward_scale", 1.0))
        trainer = Trainer(settings, vec_env, policy, learner, compute, hooks=hooks, reward_scale=scale,
                          action_labels=labels, movie_dir=movie_dir)
        if resume_from is not None:
            trainer.restore(resume_from)
        return trainer
    except BaseException:
        if learner is not None:
            learner.close()
        if own_vec_env:
            vec_env.close()
        raise


@dataclass
class Run:
    """A trainer wired to its run folder, holding the folder's writer lock until `close()` (or the process's end)."""

    trainer: Trainer
    store: RunStore
    preset: Preset
    resumed: bool = False
    lock: RunLock | None = None

    @property
    def path(self) -> Path:
        return self.store.path

    def train(self, total_steps: int | None = None, on_evaluate: Callable[[], None] | None = None) -> "Outcome":
        """Train to `total_steps` (default ppo.total_steps), then what a finished run of its algorithm does next:
        an RL² run plays `rl2.eval_trials` trials for its within-trial curve (`on_evaluate()` first). A failing
        evaluation does not undo the training: its error is in the outcome, for the caller to report."""
        from workbench.engine.rl2.evaluate import evaluate_after_training

        state = self.trainer.run(total_steps)
        outcome = Outcome(state, self.trainer.global_step, self.trainer.update)
        try:
            outcome.curve = evaluate_after_training(self.path, state, device=str(self.trainer.compute.device),
                                                    on_start=on_evaluate)
        except Exception as exc:  # noqa: BLE001 - the run itself finished and is saved
            outcome.evaluation_error = exc
        return outcome

    def close(self) -> None:
        try:
            self.trainer.close()
        finally:
            if self.lock is not None:
                self.lock.release()


@dataclass
class Outcome:
    state: str
    """'finished' or 'stopped'."""
    global_step: int
    update: int
    curve: Any = None
    """RL²: (WithinTrialCurve, path of rl2_eval.json), or None."""
    evaluation_error: Exception | None = None
    """Why the after-training evaluation failed (the training itself is finished and saved)."""


def build_run(preset: Preset | None, run_dir: Path | None = None, *, run_name: str | None = None,
              resume: bool = False, hooks: Hooks | None = None, device: str | None = None,
              file: str | None = None, env_fns: Sequence[Callable] | None = None,
              placement: Placement = "processes", lock: RunLock | None = None,
              writer: str = "workbench train", cluster: str | None = None, envs_per_actor: int = 1,
              cpus_per_actor: float = 1.0) -> Run:
    """The trainer of `preset` writing a new run folder (`run_dir`, or one made under the runs folder from
    `run_name` / the preset's name), or continuing the run in `run_dir` from its newest good checkpoint (`resume`,
    its own config.toml as the preset). `hooks` (progress, live bridge) are called after the run folder's own;
    `env_fns` replaces the preset's levels with your own envs (see `build_trainer`); `cluster` ('auto' or
    HOST:PORT) places the env workers as Ray actors there (joined before any folder is made: `ClusterError`).

    One writer per run folder: the folder's `RunLock` is taken (as `writer`, named to whoever is refused) before
    anything in it is written and held until the trainer closes (the end of `run.train()`, or `close()`); or
    `lock`, already held by the caller (the window's run process, until its exit), is used. A second
    writer gets `RunLockedError` naming the holder's pid. A failure after the folder became a run (a worker that
    dies at start, ...) leaves status.json failed with its cause.
    Errors name the file and the fix; no folder is made or touched before the settings and levels are known to
    be good."""
    checkpoint = None
    own_lock = lock is None
    if isinstance(cluster, str):  # join the cluster before any folder is made: a bad address touches nothing
        from workbench.engine.cluster.session import connect

        cluster = connect(cluster)
    try:
        return _build_run(preset, run_dir, run_name=run_name, resume=resume, hooks=hooks, device=device,
                          file=file, env_fns=env_fns, placement=placement, lock=lock, writer=writer,
                          cluster=cluster, envs_per_actor=envs_per_actor, cpus_per_actor=cpus_per_actor,
                          checkpoint=checkpoint, own_lock=own_lock)
    except BaseException:
        if cluster is not None and not isinstance(cluster, str):
            cluster.close()  # the vec env that would have closed it was never made (or closed it already)
        raise


def _build_run(preset, run_dir, *, run_name, resume, hooks, device, file, env_fns, placement, lock, writer,
               cluster, envs_per_actor, cpus_per_actor, checkpoint, own_lock) -> Run:
    if resume:
        path = RunStore.open(run_dir).path
        lock = lock or RunLock.acquire(path, writer)
        try:
            store = RunStore(path)
            preset = store.config()
            file = file or str(store.path / "config.toml")
            check(preset, file)
            if env_fns is None:
                require_playable(preset.levels.train, preset.env, file, "train")
            _, checkpoint = ckpt.load_latest(store.checkpoints_dir)
            store.check_metrics()
        except BaseException:
            if own_lock:
                lock.release()
            raise
    else:
        assert preset is not None, "a new run needs its preset"
        check(preset, file)
        if env_fns is None:
            require_playable(preset.levels.train, preset.env, file or "the preset", "train")
        if run_dir is None:
            run_dir = new_run_dir(run_name, prefix=preset.name or "run")
        lock = lock or RunLock.acquire(Path(run_dir), writer)
        try:
            store = RunStore.create(Path(run_dir), preset)
        except BaseException:
            if own_lock:
                lock.release()
            raise
    settings = Settings.of(preset)
    own = Hooks()
    own.add(store)
    trainer = None
    try:
        record_dir = store.episodes_dir if settings.run.record_episodes else None
        trainer = build_trainer(settings, preset.levels.train, env_fns=env_fns, placement=placement, device=device,
                                hooks=own, resume_from=checkpoint, record_dir=record_dir, movie_dir=EPISODES_DIR,
                                file=file, cluster=cluster, envs_per_actor=envs_per_actor,
                                cpus_per_actor=cpus_per_actor)
        if checkpoint is not None:  # what a killed run logged after its checkpoint is done again
            store.truncate_after(trainer.update)
        store.placement = getattr(trainer.vec_env, "placement_info", None)  # a cluster run says where it runs
        own.add(TensorBoardLog(store.tb_dir, purge_step=trainer.global_step,
                               flush_every=settings.run.checkpoint_every))
        extra = ckpt.policy_extra(trainer.policy.spec, preset_to_toml(_resolved(preset, trainer)),
                                  trainer.action_labels)
        # which writer made each checkpoint, from which update on: a folder's checkpoints form one chain
        extra["lineage"] = list((checkpoint or {}).get("lineage") or []) + [
            {"writer": secrets.token_hex(6), "pid": os.getpid(), "from_update": trainer.update,
             "started": time.time()}]
        best = float((checkpoint or {}).get("best_return", -math.inf))
        checkpointer = ckpt.Checkpointer(store.checkpoints_dir, trainer.state_dict, extra,
                                         settings.run.checkpoint_every, settings.run.keep_checkpoints, best)
        checkpointer.update = trainer.update
        # before the store's on_status: a run that says "finished" has its final checkpoint
        own.on_status.insert(0, checkpointer.on_status)
        own.on_update.append(checkpointer.on_update)
        if record_dir is not None:
            from workbench.replay.recorder import EpisodeRecorder

            own.add(EpisodeRecorder(store.path, trainer.n_envs, settings.env.frame_skip, trainer.action_labels))
        own.extend(hooks)
        if own_lock:  # the writer's life is the trainer's: its close (end of run()) lets go of the folder
            own.on_close.append(lock.release)
        return Run(trainer, store, preset, resumed=checkpoint is not None, lock=lock)
    except BaseException as exc:
        try:
            if trainer is not None:
                trainer.close()
            else:
                store.close()
            if isinstance(exc, KeyboardInterrupt):
                store.mark_failed("interrupted before training began", keep_recorded=False, state="stopped")
            else:
                store.mark_failed(f"{type(exc).__name__}: {exc}", keep_recorded=False)
        finally:
            if own_lock:
                lock.release()
        raise


@dataclass
class TransferPlacement:
    """Where `run_transfer`'s jobs run: `runner` (None: local processes) and what closes with it."""

    runner: Any = None
    session: Any = None
    """The `engine.cluster.session.ClusterSession`, on a cluster."""

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


def transfer_placement(cluster: str | None, jobs: int = 0, levels: Sequence[Level] = (), *,
                       cpus_per_job: float = 1.0, gpus_per_job: float = 0.0,
                       max_retries: int = 3) -> TransferPlacement:
    """Local processes (`cluster` None: `jobs` at once, Ray never imported), or every (level, mode, seed) job as
    a task on the Ray cluster at `cluster` ('auto' or HOST:PORT), with the ROMs and start states of `levels`
    shipped to its nodes. Raises `engine.cluster.session.ClusterError` (one line: the address or node, the fix)."""
    if cluster is None:
        from workbench.engine.transfer.protocol import LocalProcesses

        return TransferPlacement(LocalProcesses(jobs))
    from workbench.engine.cluster.assets import collect_assets
    from workbench.engine.cluster.session import connect
    from workbench.engine.cluster.transfer_tasks import RayJobRunner

    session = connect(cluster)
    try:
        assets = collect_assets(list(levels)) if levels else None
        return TransferPlacement(RayJobRunner(session, cpus_per_job=cpus_per_job, gpus_per_job=gpus_per_job,
                                              max_retries=max_retries, assets=assets), session)
    except BaseException:
        session.close()
        raise


def _resolved(preset: Preset, trainer: Trainer) -> Preset:
    """The preset as it ran (its levels and every setting)."""
    return Preset(name=preset.name, description=preset.description,
                  levels=LevelSet(list(preset.levels.train), list(preset.levels.test)),
                  source_text=preset.source_text,  # the user's comments stay in what the checkpoint keeps
                  **{name: getattr(trainer.settings, name) for name in SECTIONS})


def _env_fns(settings: Settings, levels: list[Level], record_dir: Path | None) -> list[Callable]:
    if not levels:
        raise ValueError("no training levels: add at least one level to the preset")
    n = settings.ppo.n_envs
    if settings.run.algorithm == "rl2":  # each env plays trials of K episodes on a drawn level
        from workbench.engine.rl2.trials import level_trial_env_thunk

        k = settings.rl2.episodes_per_trial
        return [level_trial_env_thunk(levels, settings.env, k, settings.run.seed, i, record_dir) for i in range(n)]
    from workbench.engine.envs.retro import env_thunk

    return [env_thunk(levels, settings.env, settings.run.seed, i, record_dir) for i in range(n)]


def _ray_vec_env(env_fns: list[Callable], cluster, levels: list[Level], envs_per_actor: int,
                 cpus_per_actor: float = 1.0):
    """Env actors on the cluster, the ROMs and start states of `levels` shipped to its nodes; the connection
    closes with the vec env."""
    from workbench.engine.cluster.assets import collect_assets
    from workbench.engine.cluster.session import connect
    from workbench.engine.cluster.vec import RayVecEnv

    session = connect(cluster) if isinstance(cluster, str) else cluster  # or a session build_run opened
    try:
        assets = collect_assets(levels) if levels else None
        return RayVecEnv(env_fns, envs_per_actor=envs_per_actor, cpus_per_actor=cpus_per_actor, assets=assets,
                         session=session)
    except BaseException:
        session.close()
        raise


def _vec_env(env_fns: list[Callable], placement: Placement, nice: int):
    if placement == "in_process":
        from workbench.engine.vec.in_process import InProcessVecEnv

        return InProcessVecEnv(env_fns)
    if placement == "processes":
        from workbench.engine.vec.shm import ShmVecEnv

        return ShmVecEnv(env_fns, nice=nice)
    if placement == "ray":
        raise ValueError("placement 'ray' needs a cluster address (cluster='auto' or HOST:PORT)")
    raise ValueError(f"unknown placement {placement!r}; use 'processes' or 'in_process'")


def _policy_spec(settings: Settings, obs_space, n_actions: int) -> PolicySpec:
    if settings.run.algorithm == "rl2":
        from workbench.engine.rl2.policy import rl2_spec

        return rl2_spec(obs_space.shape, n_actions, settings.rl2.hidden_size, settings.rl2.architecture)
    return spec_for(obs_space.shape, obs_space.dtype, n_actions)


def _load_weights(policy, path: Path) -> None:
    try:
        policy.load_state_dict(ckpt.load(path)["model"])
    except RuntimeError as exc:
        raise ValueError(f"the policy in {path} does not fit these levels (different action set or observation "
                         f"shape?): {str(exc).splitlines()[0]}") from None

