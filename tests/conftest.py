"""Shared fixtures. Every test runs with its own user-data and runs folders, offscreen Qt, and a check that it
left no child processes, threads or shared-memory segments behind."""
from __future__ import annotations

import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHM_DIR = Path("/dev/shm")


def _our_segments() -> set[str]:
    from workbench.core.paths import SHM_PREFIX

    if not SHM_DIR.exists():
        return set()
    return {p.name for p in SHM_DIR.iterdir() if p.name.startswith(SHM_PREFIX)}


def _parent_pid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _belongs_to_someone_else(segment: str) -> bool:
    """`wb_<pid>_...` segments of a live process outside this test session's process tree (another session's
    run on a shared machine) are not this test's leaks; a dead creator's segments are."""
    parts = segment.split("_")
    if len(parts) < 3 or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    me = os.getpid()
    seen = 0
    while pid and pid != 1 and seen < 64:
        if pid == me:
            return False
        parent = _parent_pid(pid)
        if parent is None:
            return seen > 0  # the chain left our tree through a live process we can't see
        pid, seen = parent, seen + 1
    return Path(f"/proc/{parts[1]}").exists()


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("wbhome")
    runs = tmp_path_factory.mktemp("wbruns")
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    monkeypatch.setenv("WORKBENCH_RUNS", str(runs))
    yield home, runs


@pytest.fixture(autouse=True)
def no_leaks():
    threads_before = set(threading.enumerate())
    segments_before = _our_segments()
    yield
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = multiprocessing.active_children()
        threads = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()
                   and not t.daemon]
        segments = {s for s in _our_segments() - segments_before if not _belongs_to_someone_else(s)}
        if not children and not threads and not segments:
            return
        time.sleep(0.1)
    for child in children:
        child.kill()
    pytest.fail(f"test leaked: processes={children} threads={threads} shared memory={sorted(segments)}")


@pytest.fixture(scope="session")
def atari_roms():
    """Import the Atari 2600 ROMs that ship inside ale-py into stable-retro (what `workbench roms import --atari`
    does), once per test session; returns the import results."""
    from workbench.catalog.roms import import_atari

    return import_atari()


@pytest.fixture(scope="session")
def ray_cluster():
    """A real local Ray cluster of two nodes (a head and one more), 2 CPUs and a small object store each, started
    for the session and torn down after it; `tests/ray_cluster.py` holds the helpers. Its workers import this
    checkout and the tests' helper modules (PYTHONPATH), as a node with the project installed would."""
    from ray_cluster import remove_nodes_root, start_cluster

    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.shutdown()
        remove_nodes_root()
