"""`run_transfer`: every (test level, seed) job of a preset from a joint run, in parallel worker processes; writes
the table (`table.TransferResult`) into `<run>/transfer/`."""
from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Callable

from workbench.core.paths import atomic_write_text
from workbench.engine.transfer.jobs import MODES, Job, JobResult, run_job
from workbench.engine.transfer.table import TransferResult, _fmt


def run_transfer(preset, run_dir: Path, make_trainer: Callable, budget: int | None = None, jobs: int = 0,
                 checkpoint: Path | None = None, log: Callable[[str], None] = lambda text: None,
                 seeds: list[int] | None = None) -> TransferResult:
    """Run the protocol on `preset.levels.test` from the joint run in `run_dir`; writes and returns the table.
    `make_trainer` is `launcher.build_trainer` (each job builds its fine-tune and scratch trainers with it);
    `seeds` replaces `preset.transfer.seeds`."""
    from workbench.core.settings import joint_regime
    from workbench.engine import checkpoint as ckpt
    from workbench.engine.device import learner_threads
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
    budget = int(budget or preset.transfer.budget_steps)
    levels = [str(lv) for lv in preset.levels.test]
    seeds = list(seeds if seeds is not None else preset.transfer.seeds) or [0]
    cores = learner_threads()
    workers = max(1, min(jobs or cores, len(levels) * len(seeds)))
    threads = max(1, cores // workers)
    job_list = [Job(preset, level, seed, budget, str(checkpoint), make_trainer, threads,
                    bool(preset.transfer.jerk)) for seed in seeds for level in levels]
    out_dir = store.transfer_dir
    (out_dir / "jobs").mkdir(parents=True, exist_ok=True)
    result = TransferResult(levels, [], budget, out_dir, seeds, regime)
    result.write_manifest()
    log(f"transfer: {len(levels)} test levels x {len(seeds)} seeds, budget {budget}, {workers} parallel jobs, "
        f"from {checkpoint}")
    results: list[JobResult] = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        futures = {pool.submit(run_job, job): job for job in job_list}
        for future in as_completed(futures):
            job = futures[future]
            res = future.result()
            results.append(res)
            name = f"{job.level.replace(':', '_')}-seed{job.seed}.json"
            atomic_write_text(out_dir / "jobs" / name, json.dumps(dataclasses.asdict(res)))
            log(f"  {job.level} seed {job.seed}: " + ", ".join(
                f"{m} {_fmt(res.modes[m].score)} ({len(res.modes[m].returns)} episodes, {res.seconds[m]:.0f} s)"
                for m in MODES if m in res.modes))
    order = {(j.level, j.seed): i for i, j in enumerate(job_list)}
    results.sort(key=lambda r: order[(r.level, r.seed)])
    result.jobs = results
    result.write()
    return result
