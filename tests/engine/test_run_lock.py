"""One writer per run folder: the folder's writer lock refuses a second writer with the holder's pid and what to
do, is never stale after a SIGKILL, and its holder clears what killed writers left half-written. A damaged
metrics.sqlite is refused with its path named, and nothing is written to it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from run_writers import start_writer, stop_writer

from workbench.cli import main
from workbench.core.paths import DEFAULT_PRESET
from workbench.core.presets import load_preset
from workbench.engine import checkpoint as ckpt
from workbench.engine.run_store import LOCK_NAME, RunLock, RunLockedError, RunStore, RunStoreError, lock_holder

def test_a_second_writer_is_refused_naming_the_run_and_the_holder(tmp_path):
    run = tmp_path / "dup"
    holder = start_writer(run)
    try:
        with pytest.raises(RunLockedError) as refused:
            RunLock.acquire(run, "workbench train --resume")
        message = str(refused.value)
        assert str(run) in message and f"pid {holder.pid}" in message and "workbench train" in message
        assert "Wait for it to end" in message and f"kill {holder.pid}" in message and "watch it in the window" in message
        assert refused.value.holder["pid"] == holder.pid
        assert lock_holder(run)["pid"] == holder.pid
    finally:
        stop_writer(holder)  # SIGKILL
    assert lock_holder(run) is None  # the kernel let go with the process: no stale lock after a SIGKILL
    with RunLock.acquire(run, "workbench train --resume") as lock:
        assert lock.held and lock_holder(run)["pid"] == os.getpid()
    assert lock_holder(run) is None


def test_one_process_cannot_take_its_own_run_twice(tmp_path):
    first = RunLock.acquire(tmp_path, "workbench train")
    with pytest.raises(RunLockedError):
        RunLock.acquire(tmp_path, "the window's run process")
    first.release()
    first.release()  # idempotent
    RunLock.acquire(tmp_path, "the window's run process").release()
    assert (tmp_path / LOCK_NAME).exists()  # the file stays; only the lock goes


def test_the_new_holder_removes_what_killed_writers_left_half_written(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "episodes" / "Level1").mkdir(parents=True)
    stale = [tmp_path / "checkpoints" / f".ckpt_00000003.pt.{dead.pid}.tmp",
             tmp_path / "episodes" / "Level1" / f".w00-e000001.npz.{dead.pid}.tmp",
             tmp_path / f".status.json.{dead.pid}.tmp"]
    live = tmp_path / "episodes" / f".w01-e000002.bk2.{os.getpid()}.tmp"  # a live writer's: not ours to remove
    for path in stale + [live]:
        path.write_bytes(b"half")
    RunLock.acquire(tmp_path, "workbench train").release()
    assert not any(p.exists() for p in stale) and live.exists()


def _run_with_checkpoint(name: str) -> Path:
    from workbench.core.paths import runs_dir

    store = RunStore.create(runs_dir() / name, load_preset(DEFAULT_PRESET))
    store.log_update(1, 256, {"loss": 1.0})
    store.close()
    ckpt.save(store.checkpoints_dir / "ckpt_00000001.pt", {"model": {}, "update": 1, "global_step": 256})
    return store.path


def test_a_damaged_metrics_file_is_refused_with_its_path_and_left_as_it_is(tmp_path, capsys):
    run = _run_with_checkpoint("damaged")
    db = run / "metrics.sqlite"
    for extra in ("-wal", "-shm"):
        Path(f"{db}{extra}").unlink(missing_ok=True)
    damaged = b"this is no SQLite database " * 200
    db.write_bytes(damaged)
    with pytest.raises(RunStoreError, match="metrics.sqlite is damaged") as refused:
        RunStore(run).updates()
    assert str(db) in str(refused.value) and "Move it aside" in str(refused.value)
    assert main(["train", "--resume", "damaged"]) == 2
    err = capsys.readouterr().err
    assert str(db) in err and "damaged" in err
    assert db.read_bytes() == damaged  # nothing was written to it
    assert lock_holder(run) is None  # the refused resume let go of the run


def test_a_second_transfer_of_a_run_is_refused_naming_the_first(tmp_path, capsys):
    run = _run_with_checkpoint("joint")
    first = start_writer(run / "transfer")  # a transfer in progress holds transfer/'s lock
    try:
        assert main(["transfer", str(DEFAULT_PRESET), "--from", "joint", "--budget", "64"]) == 2
        err = capsys.readouterr().err
        assert f"{run / 'transfer'} is being written by another process" in err and f"pid {first.pid}" in err
        assert not (run / "transfer" / "jobs").exists()  # refused before anything was written
    finally:
        stop_writer(first)
