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
    from workbench.paths import SHM_PREFIX

    if not SHM_DIR.exists():
        return set()
    return {p.name for p in SHM_DIR.iterdir() if p.name.startswith(SHM_PREFIX)}


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
        segments = _our_segments() - segments_before
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
