"""The test-time protocol of "Gotta Learn Fast" (Nichol et al. 2018) on a preset's test levels.

For every test level and seed, one job (its own process, envs stepped in-process) runs three things:

- **fine-tune**: PPO starting from the joint run's weights (fresh optimizer) for `budget` agent steps;
- **scratch**: PPO from a fresh policy for the same budget;
- **zero-shot**: the joint policy plays with no learning (actions sampled from it) until
  `transfer.zero_shot_episodes` episodes finished or `budget` agent steps are spent.

What counts: an episode counts when it started and finished within the first `budget` agent steps of its job
(steps summed over the job's `transfer.n_envs` envs); the episode still running when the budget ends is not
counted (PPO rounds the budget up to whole rollouts; episodes finishing in that overhang are dropped).
**Level score** = mean raw return of the counted episodes, averaged over seeds (NaN when no episode finished);
**benchmark score** = mean over levels; **transfer gain** = fine-tuned score / scratch score.

Output in `<run>/transfer/`: `results.csv` (one row per level + a `mean` row), `results.md` (the same table),
`episodes.csv` (every counted episode: level, mode, seed, index, global_step, return, length) and `jobs/*.json`
(each finished job, written as soon as it finishes so a crash keeps them).
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from workbench.core.paths import atomic_write_text

MODES = ("finetune", "scratch", "zeroshot")


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


@dataclass
class ModeResult:
    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    """global_step (within the job) at which each counted episode finished."""

    @property
    def score(self) -> float:
        return float(np.mean(self.returns)) if self.returns else float("nan")


@dataclass
class JobResult:
    level: str
    seed: int
    modes: dict[str, ModeResult]


def _job_settings(job: Job):
    from workbench.core.settings import Settings

    settings = Settings.of(job.preset)
    settings.ppo.n_envs = max(1, settings.transfer.n_envs)
    settings.ppo.total_steps = job.budget
    settings.ppo.overlap = False  # the parallel jobs already fill the cores; a learner process each would contend
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

    trainer = job.make_trainer(_job_settings(job), [job.level], placement="in_process", threads=job.threads,
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

    settings = _job_settings(job)
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


def run_job(job: Job) -> JobResult:
    """One test level, one seed: fine-tune, scratch, zero-shot (runs in a worker process)."""
    import torch

    torch.set_num_threads(job.threads)
    return JobResult(job.level, job.seed, {
        "finetune": _learn(job, job.checkpoint),
        "scratch": _learn(job, None),
        "zeroshot": _zero_shot(job),
    })


@dataclass
class TransferResult:
    levels: list[str]
    jobs: list[JobResult]
    budget: int
    out_dir: Path

    @property
    def csv_path(self) -> Path:
        return self.out_dir / "results.csv"

    @property
    def md_path(self) -> Path:
        return self.out_dir / "results.md"

    def level_score(self, level: str, mode: str) -> float:
        """Mean over seeds of the mean return of the level's counted episodes."""
        scores = [j.modes[mode].score for j in self.jobs if j.level == level]
        scores = [s for s in scores if not math.isnan(s)]
        return float(np.mean(scores)) if scores else float("nan")

    def benchmark_score(self, mode: str) -> float:
        scores = [self.level_score(lv, mode) for lv in self.levels]
        scores = [s for s in scores if not math.isnan(s)]
        return float(np.mean(scores)) if scores else float("nan")

    def episode_count(self, level: str, mode: str) -> int:
        return sum(len(j.modes[mode].returns) for j in self.jobs if j.level == level)

    def rows(self) -> list[dict]:
        rows = []
        for name in [*self.levels, "mean"]:
            score = (lambda m: self.level_score(name, m)) if name != "mean" else self.benchmark_score
            row = {"level": name, **{m: score(m) for m in MODES}}
            row["gain"] = _ratio(row["finetune"], row["scratch"])
            row |= {f"{m}_episodes": (self.episode_count(name, m) if name != "mean" else
                                      sum(self.episode_count(lv, m) for lv in self.levels)) for m in MODES}
            rows.append(row)
        return rows

    def markdown(self) -> str:
        lines = [f"Transfer results: budget {self.budget} agent steps per level, seeds "
                 f"{sorted({j.seed for j in self.jobs})}. Score = mean return of the episodes finished within "
                 "the budget; gain = fine-tuned / scratch.", "",
                 "| level | fine-tuned | scratch | zero-shot | gain | episodes (ft/sc/zs) |",
                 "|---|---:|---:|---:|---:|---:|"]
        for r in self.rows():
            eps = "/".join(str(r[f"{m}_episodes"]) for m in MODES)
            name = f"**{r['level']}**" if r["level"] == "mean" else r["level"]
            lines.append(f"| {name} | {_fmt(r['finetune'])} | {_fmt(r['scratch'])} | {_fmt(r['zeroshot'])} | "
                         f"{_fmt(r['gain'], 2)} | {eps} |")
        return "\n".join(lines) + "\n"

    def write(self) -> None:
        rows = self.rows()
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.csv_path, buf.getvalue())
        atomic_write_text(self.md_path, self.markdown())
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["level", "mode", "seed", "index", "global_step", "return", "length"])
        for j in self.jobs:
            for mode, res in j.modes.items():
                for k, (ret, length, step) in enumerate(zip(res.returns, res.lengths, res.steps)):
                    writer.writerow([j.level, mode, j.seed, k, step, ret, length])
        atomic_write_text(self.out_dir / "episodes.csv", buf.getvalue())


def _ratio(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b) or b == 0:
        return float("nan")
    return a / b


def _fmt(x: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(x) else f"{x:.{digits}f}"


def run_transfer(preset, run_dir: Path, make_trainer: Callable, budget: int | None = None, jobs: int = 0,
                 checkpoint: Path | None = None, log: Callable[[str], None] = lambda text: None) -> TransferResult:
    """Run the protocol on `preset.levels.test` from the joint run in `run_dir`; writes and returns the table.
    `make_trainer` is `launcher.build_trainer` (each job builds its fine-tune and scratch trainers with it)."""
    from workbench.engine import checkpoint as ckpt
    from workbench.engine.device import learner_threads
    from workbench.engine.run_store import RunStore

    store = RunStore.open(run_dir)
    if checkpoint is None:
        checkpoint, _ = ckpt.load_latest(store.checkpoints_dir)
    else:
        ckpt.load(checkpoint)  # fail now, with the file's name, rather than in every job
    budget = int(budget or preset.transfer.budget_steps)
    levels = [str(lv) for lv in preset.levels.test]
    seeds = list(preset.transfer.seeds) or [0]
    cores = learner_threads()
    workers = max(1, min(jobs or cores, len(levels) * len(seeds)))
    threads = max(1, cores // workers)
    job_list = [Job(preset, level, seed, budget, str(checkpoint), make_trainer, threads)
                for level in levels for seed in seeds]
    out_dir = store.transfer_dir
    (out_dir / "jobs").mkdir(parents=True, exist_ok=True)
    log(f"transfer: {len(levels)} test levels x {len(seeds)} seeds, budget {budget}, {workers} parallel jobs, "
        f"from {checkpoint}")
    results: list[JobResult] = []
    import multiprocessing as mp

    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        futures = {pool.submit(run_job, job): job for job in job_list}
        for future in as_completed(futures):
            job = futures[future]
            res = future.result()
            results.append(res)
            name = f"{job.level.replace(':', '_')}-seed{job.seed}.json"
            atomic_write_text(out_dir / "jobs" / name, json.dumps(dataclasses.asdict(res)))
            log(f"  {job.level} seed {job.seed}: " + ", ".join(f"{m} {_fmt(res.modes[m].score)}" for m in MODES))
    order = {(j.level, j.seed): i for i, j in enumerate(job_list)}
    results.sort(key=lambda r: order[(r.level, r.seed)])
    result = TransferResult(levels, results, budget, out_dir)
    result.write()
    return result
