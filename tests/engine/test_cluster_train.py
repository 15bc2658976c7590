"""`workbench train --cluster`: the env workers as Ray actors on a real local two-node cluster, each fixed on one
training level (the report's regime), the learner on the driver. A short joint run with actors on both nodes
writes the same run folder as a local run (checkpoints, metrics, TensorBoard, recorded episodes; the same
numbers for the same seed); an env actor killed mid-run is restarted, its env rebuilt, the restart counted in
the metrics, and the run finishes."""
from __future__ import annotations

import os
import signal
import sqlite3

import pytest

from workbench.cli import main
from workbench.core.levels import Level, LevelSet
from workbench.core.paths import DEFAULT_PRESET, runs_dir
from workbench.core.presets import load_preset, save_preset
from workbench.engine.hooks import Hooks
from workbench.engine.run_store import RunStore
from workbench.launcher import build_run

TRAIN = ["Airstriker-Genesis-v0:Level1", "Airstriker-Genesis-v0:Level1.Sec08"]
STEPS = 2 * 16 * 3  # 3 updates of 2 envs x 16 steps


def _preset(record: bool = False):
    preset = load_preset(DEFAULT_PRESET)
    preset.levels = LevelSet(train=[Level.parse(x) for x in TRAIN], test=[])
    preset.env.level_sampling = "fixed"  # worker i plays level i for the whole run
    preset.env.max_episode_steps = 10  # episodes end inside the run: episode records and movies
    preset.ppo.n_envs, preset.ppo.n_steps, preset.ppo.n_minibatches, preset.ppo.n_epochs = 2, 16, 1, 1
    preset.ppo.precision, preset.ppo.overlap = "fp32", False
    preset.run.checkpoint_every, preset.run.record_episodes = 1, record
    preset.name = "cluster"
    return preset


def _updates(run):
    with sqlite3.connect(run / "metrics.sqlite") as db:
        import json

        return [(u, step, json.loads(m)) for u, step, m in
                db.execute('SELECT "update", global_step, metrics FROM updates ORDER BY "update"')]


@pytest.mark.slow
def test_a_joint_run_with_actors_on_both_nodes_writes_the_same_run_folder_as_a_local_one(ray_cluster, tmp_path):
    preset = _preset(record=True)
    run = build_run(preset, tmp_path / "ray-run", cluster=ray_cluster.address)
    try:
        venv = run.trainer.vec_env
        assert type(venv).__name__ == "RayVecEnv"
        assert len({node for node, _ in venv.actor_pids()}) == 2  # one actor on each node
        assert run.train(STEPS).state == "finished"
    finally:
        run.close()
    local = build_run(_preset(record=True), tmp_path / "local-run")
    try:
        assert type(local.trainer.vec_env).__name__ == "ShmVecEnv"
        assert local.train(STEPS).state == "finished"
    finally:
        local.close()
    ray_dir, local_dir = tmp_path / "ray-run", tmp_path / "local-run"
    assert RunStore.open(ray_dir).status()["state"] == "finished"
    for folder in (ray_dir, local_dir):
        assert sorted(p.name for p in (folder / "checkpoints").glob("*.pt"))
        assert list((folder / "tb").rglob("events.out.tfevents.*"))
    ray_updates, local_updates = _updates(ray_dir), _updates(local_dir)
    assert [u[:2] for u in ray_updates] == [u[:2] for u in local_updates] == [(1, 32), (2, 64), (3, 96)]
    for (_, _, mine), (_, _, theirs) in zip(ray_updates, local_updates):
        assert mine["worker_restarts"] == 0 and mine["workers_up"] == 2
        for key in ("policy_loss", "value_loss", "entropy"):  # the same rollouts, the same update
            assert mine[key] == pytest.approx(theirs[key], rel=1e-5, abs=1e-6), key
    with sqlite3.connect(ray_dir / "metrics.sqlite") as db:
        ray_eps = db.execute("SELECT level, length FROM episodes ORDER BY global_step, env_index").fetchall()
    with sqlite3.connect(local_dir / "metrics.sqlite") as db:
        local_eps = db.execute("SELECT level, length FROM episodes ORDER BY global_step, env_index").fetchall()
    assert ray_eps == local_eps and {lv for lv, _ in ray_eps} == set(TRAIN)  # each worker on its own level
    movies = sorted(p.relative_to(ray_dir / "episodes") for p in (ray_dir / "episodes").rglob("*.bk2"))
    assert movies and movies == sorted(p.relative_to(local_dir / "episodes")
                                       for p in (local_dir / "episodes").rglob("*.bk2"))


@pytest.mark.slow
def test_a_killed_env_actor_is_restarted_and_the_run_finishes(ray_cluster, tmp_path, capsys):
    killed = []

    def kill_one(record) -> None:
        if record.update == 1:  # after the first update: kill env actor 1's process, as the OOM killer would
            node, pid = run.trainer.vec_env.actor_pids()[1]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    run = build_run(_preset(), tmp_path / "kill-run", cluster=ray_cluster.address, hooks=Hooks(on_update=[kill_one]))
    try:
        assert run.train(STEPS).state == "finished"
        new_pid = run.trainer.vec_env.actor_pids()[1][1]
    finally:
        run.close()
    assert killed and new_pid != killed[0]  # a new process holds the rebuilt env
    updates = _updates(tmp_path / "kill-run")
    assert [u[0] for u in updates] == [1, 2, 3]
    assert updates[0][2]["worker_restarts"] == 0 and updates[-1][2]["worker_restarts"] == 1
    assert RunStore.open(tmp_path / "kill-run").status()["state"] == "finished"


def test_train_cli_on_the_cluster_and_a_bad_address(ray_cluster, tmp_path, capsys):
    file = save_preset(_preset(), tmp_path / "c.toml")
    assert main(["train", str(file), "--steps", "32", "--run-name", "cli", "--cluster", ray_cluster.address]) == 0
    err = capsys.readouterr().err
    assert "2 Ray actors on Ray cluster" in err and "worker_restarts" in err
    assert (runs_dir() / "cli" / "checkpoints").is_dir()
    code = main(["train", str(file), "--steps", "32", "--run-name", "nowhere", "--cluster", "127.0.0.1:9"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "127.0.0.1:9" in err[0] and "ray start --head" in err[0]
    assert not (runs_dir() / "nowhere").exists()  # refused before any folder was made
