"""One transfer job: a test level and a seed, run in its own process (envs stepped in-process); on a cluster
each of its modes is a job of its own (`split_by_mode`: a (level, mode, seed) job, `Job.only`), merged back into
one `JobResult` per (level, seed) (`merge_results`).

- **fine-tune**: PPO starting from the joint run's weights (fresh optimizer) for `budget` agent steps;
- **scratch**: PPO from a fresh policy for the same budget;
- **zero-shot**: the joint policy plays without learning until `transfer.zero_shot_episodes` episodes finished
  or `budget` agent steps are spent;
- **jerk** (with `transfer.jerk`, where `baselines.jerk.jerk_applies`): the scripted JERK for `budget` agent steps.

Counting, the same for every mode: an episode counts when it started and finished within the first `budget`
agent steps of its mode (steps summed over the job's `transfer.n_envs` envs); the episode still running when the
budget ends is not counted (PPO rounds the budget up to whole rollouts; episodes finishing in that overhang are
dropped).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

MODES = ("finetune", "scratch", "zeroshot", "jerk")
MODE_LABELS = {"finetune": "fine-tuned", "scratch": "scratch", "zeroshot": "zero-shot", "jerk": "JERK"}


@dataclass
class Job:
    preset: object
    """The preset (core.presets.Preset): env settings, PPO settings, transfer settings."""
    level: str
    seed: int
    budget: int
    checkpoint: str
    make_trainer: Callable
    """`launcher.build_trainer` (passed in: the engine does not import the layer that builds runs)."""
    threads: int = 1
    jerk: bool = True
    """Score JERK too, where it applies."""
    modes: tuple[str, ...] | None = None
    """The modes asked for (None: every mode); a mode not asked for gets a note, not a score or an error."""
    only: str | None = None
    """A (level, mode, seed) part of the job: play this one mode of those `job_plan` gives (see `split_by_mode`)."""

    @property
    def job_id(self) -> str:
        """The job's name, unique within a transfer: its result file is `jobs/<job_id>.json`."""
        base = f"{self.level.replace(':', '_')}-seed{self.seed}"
        return base if self.only is None else f"{base}-{self.only}"

    @property
    def key(self) -> tuple[str, int]:
        return self.level, self.seed


@dataclass
class ModeResult:
    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    """global_step (within the mode's run) at which each counted episode finished."""

    @property
    def score(self) -> float:
        return float(np.mean(self.returns)) if self.returns else float("nan")


@dataclass
class JobResult:
    level: str
    seed: int
    modes: dict[str, ModeResult]
    notes: dict[str, str] = field(default_factory=dict)
    """Per mode: why it was not played (e.g. JERK on a game without jump)."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time of each mode."""

    @classmethod
    def from_dict(cls, data: dict) -> "JobResult":
        return cls(data["level"], int(data["seed"]), {m: ModeResult(**r) for m, r in data["modes"].items()},
                   dict(data.get("notes") or {}), dict(data.get("seconds") or {}))


def job_settings(job: Job):
    from workbench.core.settings import Settings

    settings = Settings.of(job.preset)
    settings.ppo.n_envs = max(1, settings.transfer.n_envs)
    settings.ppo.total_steps = job.budget
    settings.ppo.overlap = False  # the parallel jobs already fill the cores; a learner process each would contend
    settings.env.level_sampling = "fixed"  # one level: nothing to draw
    settings.run.seed = job.seed
    settings.run.record_episodes = False
    return settings


def _learn(job: Job, init_weights: str | None) -> ModeResult:
    from workbench.engine.hooks import Hooks

    result = ModeResult()

    def on_episode(ep) -> None:
        if ep.global_step <= job.budget:
            result.returns.append(ep.episode_return)
            result.lengths.append(ep.length)
            result.steps.append(ep.global_step)

    trainer = job.make_trainer(job_settings(job), [job.level], placement="in_process", threads=job.threads,
                               hooks=Hooks(on_episode=[on_episode]),
                               init_weights=Path(init_weights) if init_weights else None)
    trainer.run(job.budget)
    return result


def _zero_shot(job: Job) -> ModeResult:
    """The joint policy playing without learning, through the same acting loop as training (a recurrent policy
    keeps its state across steps), in fp32 so the score does not depend on the CPU's bf16 support."""
    import torch

    from workbench.core.levels import Level
    from workbench.engine import checkpoint as ckpt
    from workbench.engine.acting import Actor
    from workbench.engine.device import resolve_compute
    from workbench.engine.envs.retro import env_thunk
    from workbench.engine.policies.api import PolicySpec
    from workbench.engine.policies.registry import make_policy
    from workbench.engine.vec.in_process import InProcessVecEnv

    settings = job_settings(job)
    data = ckpt.load(Path(job.checkpoint))
    policy = make_policy(PolicySpec.from_dict(data["policy_spec"]))
    policy.load_state_dict(data["model"])
    policy.eval()
    n = settings.ppo.n_envs
    venv = InProcessVecEnv([env_thunk([Level.parse(job.level)], settings.env, job.seed, i) for i in range(n)])
    result = ModeResult()
    actor = Actor(policy, venv, resolve_compute("cpu", "fp32"), torch.Generator().manual_seed(job.seed),
                  reward_scale=settings.env.reward_scale)
    try:
        actor.start(seed=job.seed)
        steps = 0
        while steps < job.budget and len(result.returns) < settings.transfer.zero_shot_episodes:
            _, outcome = actor.step()
            steps += n
            for info in outcome.infos:
                if "episode" in info and steps <= job.budget:
                    result.returns.append(float(info["episode"]["r"]))
                    result.lengths.append(int(info["episode"]["l"]))
                    result.steps.append(steps)
    finally:
        venv.close()
    return result


def _jerk(job: Job) -> ModeResult:
    """JERK on the level for the budget (one env: JERK is a single-trajectory algorithm)."""
    from workbench.core.levels import Level
    from workbench.engine.baselines.jerk import JERK_MOVES, Jerk, jerk_env

    env = jerk_env(Level.parse(job.level), job_settings(job).env, seed=job.seed)
    try:
        episodes = Jerk(env, JERK_MOVES, job.budget, seed=job.seed).run()
    finally:
        env.close()
    return ModeResult([e.ret for e in episodes], [e.length for e in episodes], [e.global_step for e in episodes])


def job_plan(job: Job) -> tuple[list[str], dict[str, str]]:
    """The modes the (level, seed) job plays, in order, and a note for each mode it does not play (not asked
    for; JERK off or not applying to the game). The same for the whole job and for each of its parts."""
    from workbench.core.levels import Level
    from workbench.engine.baselines.jerk import jerk_applies

    asked = MODES if job.modes is None else tuple(job.modes)
    plays, notes = [], {}
    for mode in MODES:
        if mode not in asked:
            notes[mode] = f"{MODE_LABELS[mode]} not asked for (--modes)"
        elif mode != "jerk":
            plays.append(mode)
    if "jerk" in asked:
        applies, why = jerk_applies(Level.parse(job.level).game)
        if not job.jerk:
            notes["jerk"] = "JERK not asked for (transfer.jerk = false)"
        elif not applies:
            notes["jerk"] = why
        else:
            plays.append("jerk")
    return plays, notes


def split_by_mode(job: Job) -> list[Job]:
    """The (level, mode, seed) parts of a (level, seed) job, one per mode it plays (at least one part, so the
    notes of a job that plays nothing still reach the table)."""
    plays, _ = job_plan(job)
    return [dataclasses.replace(job, only=mode) for mode in plays] or [job]


def merge_results(parts: list[JobResult]) -> JobResult:
    """One (level, seed) result from its parts (each holds some modes)."""
    first = parts[0]
    merged = JobResult(first.level, first.seed, {})
    for part in parts:
        assert (part.level, part.seed) == (first.level, first.seed), "parts of different jobs"
        merged.modes.update(part.modes)
        merged.notes.update(part.notes)
        merged.seconds.update(part.seconds)
    merged.modes = {m: merged.modes[m] for m in MODES if m in merged.modes}
    for mode in merged.modes:  # a mode one part played is no note of another part's
        merged.notes.pop(mode, None)
    return merged


def run_job(job: Job) -> JobResult:
    """One test level, one seed: every mode it plays (`job_plan`), or the one mode `job.only` (runs in a worker
    process or a cluster task)."""
    import torch

    torch.set_num_threads(job.threads)
    result = JobResult(job.level, job.seed, {})
    modes, result.notes = job_plan(job)
    if job.only is not None:
        modes = [m for m in modes if m == job.only]
    players: dict[str, Callable[[], ModeResult]] = {
        "finetune": lambda: _learn(job, job.checkpoint), "scratch": lambda: _learn(job, None),
        "zeroshot": lambda: _zero_shot(job), "jerk": lambda: _jerk(job)}
    plays = [(mode, players[mode]) for mode in modes]
    for mode, play in plays:
        start = time.perf_counter()
        result.modes[mode] = play()
        result.seconds[mode] = round(time.perf_counter() - start, 1)
    return result
