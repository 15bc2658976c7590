"""The run store: layout, metrics in WAL-mode SQLite readable while written, status, listing, no overwrite."""
from __future__ import annotations

import sqlite3

import pytest

from workbench.core.levels import Level, LevelSet
from workbench.core.presets import Preset
from workbench.core.records import EpisodeRecord
from workbench.engine.run_store import RunStore, RunStoreError, list_runs, new_run_dir, resolve_run
from workbench.core.paths import runs_dir


def preset() -> Preset:
    p = Preset(name="demo", levels=LevelSet(train=[Level("Airstriker-Genesis-v0", "Level1")]))
    p.ppo.n_envs = 3
    return p


def episode(step: int, ret: float) -> EpisodeRecord:
    return EpisodeRecord(step, 0, "Airstriker-Genesis-v0:Level1", ret, 10, False, 0, "episodes/x.bk2")


def test_create_writes_resolved_preset_and_refuses_to_overwrite(tmp_path):
    store = RunStore.create(tmp_path / "r", preset())
    config = RunStore.open(tmp_path / "r").config()
    assert config.ppo.n_envs == 3 and config.levels.train == [Level("Airstriker-Genesis-v0", "Level1")]
    assert store.status()["state"] == "created"
    store.close()
    with pytest.raises(RunStoreError, match="already holds a run"):
        RunStore.create(tmp_path / "r", preset())
    assert RunStore.open(tmp_path / "r").config().ppo.n_envs == 3


def test_metrics_roundtrip_truncate_and_wal(tmp_path):
    store = RunStore.create(tmp_path / "r", preset())
    for update in (1, 2, 3):
        store.log_update(update, 100 * update, {"policy_loss": 0.1 * update},
                         [episode(100 * update - 5, float(update))])
    reader = RunStore.open(tmp_path / "r")
    assert [u["update"] for u in reader.updates()] == [1, 2, 3]
    assert reader.updates()[1]["policy_loss"] == pytest.approx(0.2)
    assert [e["episode_return"] for e in reader.episodes()] == [1.0, 2.0, 3.0]
    assert reader.episodes()[0]["movie_path"] == "episodes/x.bk2"
    assert [u["update"] for u in reader.updates(after=2)] == [3]
    store.truncate_after(1)
    assert [u["update"] for u in reader.updates()] == [1] and len(reader.episodes()) == 1
    mode = sqlite3.connect(tmp_path / "r" / "metrics.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    store.close()


def test_status_list_and_resolve(tmp_path):
    path = new_run_dir("my run")
    assert path.parent == runs_dir() and path.name == "my-run"
    store = RunStore.create(path, preset())
    store.write_status("running", global_step=42)
    store.close()
    runs = list_runs()
    assert [(r.name, r.state, r.global_step) for r in runs] == [("my-run", "running", 42)]
    assert resolve_run("my-run") == path
    with pytest.raises(RunStoreError, match="already exists"):
        new_run_dir("my run")
    with pytest.raises(RunStoreError, match="no run at 'nope'"):
        resolve_run("nope")
