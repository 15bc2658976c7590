"""Transfer jobs as Ray tasks: the cluster's `JobRunner` (see `engine.transfer.protocol`).

Each (level, mode, seed) part is one task asking for its CPU share (`cpus_per_job`, and `gpus_per_job`); Ray
retries a task lost with its node (`max_retries`, system failures only: a job that raises is an error, not a
retry). The driver writes every result file (nodes need not share its disk); the protocol keys them by job id,
so a retried task is counted once. The joint checkpoint, and the ROMs and start states of the test levels
(`assets`), travel in Ray's object store and are written on each node before its job starts.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

from workbench.core.paths import atomic_write_bytes
from workbench.engine.cluster.session import ClusterError, ClusterSession, import_ray
from workbench.engine.transfer.jobs import Job, JobResult, run_job


def node_cache_dir() -> Path:
    """Where a node keeps what the driver shipped to it (checkpoints, ROMs, start states), by SHA-1."""
    return Path(os.environ.get("WORKBENCH_CLUSTER_CACHE") or Path(tempfile.gettempdir()) / "workbench-cluster")


def _materialize(blob: bytes, sha1: str, suffix: str) -> Path:
    path = node_cache_dir() / f"{sha1}{suffix}"
    if not (path.is_file() and hashlib.sha1(path.read_bytes()).hexdigest() == sha1):
        if hashlib.sha1(blob).hexdigest() != sha1:
            raise RuntimeError(f"the shipped file for {path.name} arrived damaged (SHA-1 differs)")
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, blob)
    return path


def _task(job: Job, checkpoint_blob: bytes, checkpoint_sha1: str, assets) -> JobResult:
    """Runs on a node: the checkpoint and assets in place, then the job."""
    if assets is not None:
        assets.install()
    path = _materialize(checkpoint_blob, checkpoint_sha1, ".pt")
    try:
        return run_job(dataclasses.replace(job, checkpoint=str(path)))
    except Exception as exc:  # name the driver's file, not the node's copy of it
        import socket

        text = str(exc).replace(str(path), f"{job.checkpoint} (its copy on node {socket.gethostname()})")
        raise RuntimeError(f"{type(exc).__name__}: {text}") from None


class RayJobRunner:
    per_mode = True

    def __init__(self, session: ClusterSession, cpus_per_job: float = 1, gpus_per_job: float = 0,
                 max_retries: int = 3, assets=None):
        self.session = session
        self.cpus_per_job = cpus_per_job
        self.gpus_per_job = gpus_per_job
        self.max_retries = max_retries
        self.assets = assets
        """`assets.Assets` the jobs' levels need (ROMs, start states), or None."""

    def slots(self, n_jobs: int) -> tuple[int, int]:
        at_once = max(1, int(self.session.cpus // max(self.cpus_per_job, 1e-9))) if self.session.nodes else 1
        return min(at_once, n_jobs), max(1, int(self.cpus_per_job))

    def describe(self) -> str:
        return f"{self.session.describe()}, {self.cpus_per_job:g} CPU per job"

    def _result(self, ray, ref, job: Job) -> JobResult:
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # the job itself raised: an error, not a retry
            cause = str(exc.cause if getattr(exc, "cause", None) is not None else exc).strip().splitlines()
            raise ClusterError(f"transfer job {job.job_id} failed on the cluster: "
                               f"{cause[-1] if cause else type(exc).__name__}") from None
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                ray.exceptions.OwnerDiedError) as exc:
            raise ClusterError(f"transfer job {job.job_id} was lost {self.max_retries + 1} times (its worker or "
                               f"node died each time: {type(exc).__name__}); check `ray status` and the nodes' "
                               "/tmp/ray/session_latest/logs") from None

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, JobResult]]:
        ray = import_ray()
        task = ray.remote(_task).options(num_cpus=self.cpus_per_job, num_gpus=self.gpus_per_job,
                                        max_retries=self.max_retries, retry_exceptions=False,
                                        scheduling_strategy="SPREAD")  # across the nodes, not packed on the head
        blobs: dict[str, tuple] = {}
        refs = {}
        finished = False
        try:
            for job in jobs:
                if job.checkpoint not in blobs:
                    data = Path(job.checkpoint).read_bytes()
                    blobs[job.checkpoint] = (ray.put(data), hashlib.sha1(data).hexdigest())
                blob, sha1 = blobs[job.checkpoint]
                refs[task.remote(job, blob, sha1, self.assets)] = job
            pending = list(refs)
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for ref in ready:
                    yield refs[ref], self._result(ray, ref, refs[ref])
            finished = True
        finally:
            # the caller stopped early (an error, Ctrl-C): no orphaned task keeps the cluster busy
            for ref in [] if finished else refs:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - finished already, or the cluster is gone
                    pass
