"""`run_transfer`: every (test level, seed) job of a preset from a joint run, placed by a job runner (local worker
processes by default; `engine.cluster.transfer_tasks.RayJobRunner` puts each (level, mode, seed) part on a Ray
cluster); writes the table (`table.TransferResult`) into `<run>/transfer/`.

A job runner is placement only (Sample Factory's habit): `runner.run(jobs)` yields `(job, JobResult)` as each job
finishes, and `runner.per_mode` says whether it wants a (level, seed) job split into its modes. Each result is
written at once to `jobs/<job id>.json` (atomically), keyed by the job's id: a job whose result is already in is
never counted twice, whatever the runner retried. Parts are merged into the same per-(level, seed) files a
local run writes when the transfer ends.
"""
from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Iterator, Protocol, Sequence

from workbench.core.paths import atomic_write_text
from workbench.engine.transfer.jobs import MODES, Job, JobResult, merge_results, run_job, split_by_mode
from workbench.engine.transfer.table import TransferResult, _fmt


class JobRunner(Protocol):
    per_mode: bool
    """Split every (level, seed) job into its (level, mode, seed) parts before `run`."""

    def slots(self, n_jobs: int) -> tuple[int, int]:
        """(jobs at once, torch threads per job) for `n_jobs` jobs."""

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, JobResult]]:
        """Every job's result, each once, in the order they finish."""

    def describe(self) -> str:
        """Where the jobs run, in words (for the log)."""


class LocalProcesses:
    """The default: jobs in spawned worker processes on this machine."""

    per_mode = False

    def __init__(self, jobs: int = 0):
        self.jobs = jobs

    def slots(self, n_jobs: int) -> tuple[int, int]:
        from workbench.engine.device import learner_threads

        cores = learner_threads()
        workers = max(1, min(self.jobs or cores, n_jobs))
        return workers, max(1, cores // workers)

    def describe(self) -> str:
        return "local processes"

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, JobResult]]:
        workers, _ = self.slots(len(jobs))
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(run_job, job): job for job in jobs}
            for future in as_completed(futures):
                yield futures[future], future.result()


def run_transfer(preset, run_dir: Path, make_trainer: Callable, budget: int | None = None, jobs: int = 0,
                 checkpoint: Path | None = None, log: Callable[[str], None] = lambda text: None,
                 seeds: list[int] | None = None, modes: Sequence[str] | None = None,
                 runner: JobRunner | None = None) -> TransferResult:
    """Run the protocol on `preset.levels.test` from the joint run in `run_dir`; writes and returns the table.
    `make_trainer` is `launcher.build_trainer` (each job builds its fine-tune and scratch trainers with it);
    `seeds` replaces `preset.transfer.seeds`; `modes` plays only these modes (the others get a note);
    `runner` places the jobs (default: `jobs` local processes at once)."""
    from workbench.core.settings import joint_regime
    from workbench.engine import checkpoint as ckpt
    from workbench.engine.run_store import RunStore

    store = RunStore.open(run_dir)
    if checkpoint is None:
        checkpoint, _ = ckpt.load_latest(store.checkpoints_dir)
    else:
        ckpt.load(checkpoint)  # fail now, with the file's name, rather than in every job
    try:
        regime = joint_regime(store.config())
    except Exception:  # noqa: BLE001 - the table still says what it can; the run's config.toml is the user's
        regime = ""
    if modes is not None:
        unknown = [m for m in modes if m not in MODES]
        if unknown or not modes:
            raise ValueError(f"unknown transfer mode(s) {', '.join(unknown) or '(none given)'}; "
                             f"choose from {', '.join(MODES)}")
    runner = runner or LocalProcesses(jobs)
    budget = int(budget or preset.transfer.budget_steps)
    levels = [str(lv) for lv in preset.levels.test]
    seeds = list(seeds if seeds is not None else preset.transfer.seeds) or [0]
    asked = None if modes is None else tuple(m for m in MODES if m in modes)
    whole = [Job(preset, level, seed, budget, str(checkpoint), make_trainer, 1, bool(preset.transfer.jerk),
                 asked) for seed in seeds for level in levels]
    placed = [part for job in whole for part in split_by_mode(job)] if runner.per_mode else whole
    workers, threads = runner.slots(len(placed))
    placed = [dataclasses.replace(job, threads=threads) for job in placed]
    out_dir = store.transfer_dir
    jobs_dir = out_dir / "jobs"
    jobs_dir.mkdir(parents=True, exist_ok=True)
    if runner.per_mode:  # files an earlier transfer left for these jobs are not this one's results
        for job in [*whole, *placed]:
            (jobs_dir / f"{job.job_id}.json").unlink(missing_ok=True)
    result = TransferResult(levels, [], budget, out_dir, seeds, regime)
    result.write_manifest()
    log(f"transfer: {len(levels)} test levels x {len(seeds)} seeds, budget {budget}, {len(placed)} jobs, "
        f"{workers} at once on {runner.describe()}, from {checkpoint}")
    done: dict[str, JobResult] = {}
    for job, res in runner.run(placed):
        if job.job_id in done:  # a retried job whose first result also came back: counted once
            log(f"  {job.job_id}: a second result, ignored (already counted)")
            continue
        done[job.job_id] = res
        atomic_write_text(jobs_dir / f"{job.job_id}.json", json.dumps(dataclasses.asdict(res)))
        log(f"  {job.level} seed {job.seed}: " + ", ".join(
            f"{m} {_fmt(res.modes[m].score)} ({len(res.modes[m].returns)} episodes, {res.seconds[m]:.0f} s)"
            for m in MODES if m in res.modes))
    missing = [job.job_id for job in placed if job.job_id not in done]
    if missing:
        raise RuntimeError(f"transfer jobs without a result: {', '.join(missing)}")
    results: list[JobResult] = []
    for job in whole:
        parts = [done[p.job_id] for p in placed if p.key == job.key]
        merged = merge_results(parts)
        results.append(merged)
        if runner.per_mode:  # the same per-(level, seed) files a local run leaves
            atomic_write_text(jobs_dir / f"{job.job_id}.json", json.dumps(dataclasses.asdict(merged)))
            for part in placed:
                if part.key == job.key and part.only is not None:
                    (jobs_dir / f"{part.job_id}.json").unlink(missing_ok=True)
    result.jobs = results
    result.write()
    return result
