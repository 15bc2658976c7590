"""`workbench transfer --cluster`: every (level, mode, seed) job a Ray task on a real local multi-node cluster; the
table equals a local run's for the same seeds, also when a node running jobs is killed mid-run (its jobs run again
elsewhere, none counted twice), and an address where no cluster answers is refused in one line within seconds."""
from __future__ import annotations

import csv
import json
import threading
import time

import pytest

from ray_cluster import add_node, busy_workers, wait_for
from workbench.cli import main
from workbench.core.levels import Level, LevelSet
from workbench.core.paths import PRESETS_DIR, runs_dir
from workbench.core.presets import load_preset, save_preset

LEVELS = ["Airstriker-Genesis-v0:Level1.Sec04", "Airstriker-Genesis-v0:Level1.Sec12"]
MODES = "finetune,scratch"
SEEDS = "0,1"
BUDGET = "48"


def _preset(tmp_path):
    preset = load_preset(PRESETS_DIR / "airstriker.toml")
    preset.levels = LevelSet(train=[Level.parse("Airstriker-Genesis-v0:Level1")],
                             test=[Level.parse(x) for x in LEVELS])
    preset.env.max_episode_steps = 12  # episodes that finish inside a tiny budget
    preset.ppo.n_envs, preset.ppo.n_steps, preset.ppo.n_minibatches, preset.ppo.n_epochs = 1, 24, 1, 1
    preset.ppo.precision = "fp32"
    preset.ppo.overlap = False
    preset.transfer.n_envs = 1
    preset.run.record_episodes = False
    return save_preset(preset, tmp_path / "air2.toml")


@pytest.fixture(scope="module")
def joint_run(tmp_path_factory):
    """One tiny joint run, and the local transfer table of it (the reference every cluster table must equal)."""
    tmp = tmp_path_factory.mktemp("joint")
    mp = pytest.MonkeyPatch()
    mp.setenv("WORKBENCH_RUNS", str(tmp / "runs"))
    mp.setenv("WORKBENCH_HOME", str(tmp / "home"))
    try:
        file = _preset(tmp)
        assert main(["train", str(file), "--steps", "24", "--run-name", "joint"]) == 0
        folder = runs_dir() / "joint"
        assert main(["transfer", str(file), "--from", str(folder), "--budget", BUDGET, "--jobs", "2",
                     "--seeds", SEEDS, "--modes", MODES]) == 0
        local = _table(folder / "transfer")
        yield file, folder, local
    finally:
        mp.undo()


def _table(folder):
    rows = {r["level"]: r for r in csv.DictReader(open(folder / "results.csv"))}
    episodes = sorted(tuple(r.values()) for r in csv.DictReader(open(folder / "episodes.csv")))
    return rows, episodes


def _copy_run(src, dst):
    import shutil

    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("transfer", "*.lock"))
    return dst


@pytest.mark.slow
def test_the_cluster_table_equals_the_local_one_with_a_node_killed_mid_run_and_no_job_twice(joint_run, ray_cluster,
                                                                                           tmp_path, capsys):
    file, folder, (local_rows, local_episodes) = joint_run
    run = _copy_run(folder, tmp_path / "joint-cluster")
    doomed = add_node(ray_cluster)  # a third node, killed while it runs jobs
    ray_cluster.wait_for_nodes()
    outcome = {}

    def transfer():
        outcome["rc"] = main(["transfer", str(file), "--from", str(run), "--budget", BUDGET, "--seeds", SEEDS,
                              "--modes", MODES, "--cluster", ray_cluster.address])

    thread = threading.Thread(target=transfer)
    thread.start()
    try:
        # tasks spread over the three nodes: kill the added one while it runs some
        lost = wait_for(lambda: busy_workers(doomed, "ray::_task"), what="a job running on the added node")
        ray_cluster.remove_node(doomed, allow_graceful=False)
    finally:
        thread.join(timeout=280)
    assert not thread.is_alive() and outcome.get("rc") == 0
    assert lost  # the jobs it ran were lost with it and run again elsewhere
    err = capsys.readouterr().err
    assert "8 jobs" in err and "Ray cluster" in err and "3 nodes" in err  # (level, mode, seed): 2 x 2 x 2
    rows, episodes = _table(run / "transfer")
    assert episodes == local_episodes and len(episodes) > 0  # every (level, mode, seed) once, none twice
    assert rows == local_rows  # the same table, cell by cell
    assert rows["mean"]["finetune"] not in ("", "nan") and rows["mean"]["gain"] not in ("", "nan")
    # the same per-(level, seed) job files as a local run: the per-mode parts merged into them
    names = sorted(p.name for p in (run / "transfer" / "jobs").glob("*.json"))
    assert names == sorted(p.name for p in (folder / "transfer" / "jobs").glob("*.json")) and len(names) == 4


def test_an_address_where_no_cluster_answers_is_refused_in_one_line(joint_run, capsys):
    file, folder, _ = joint_run
    start = time.monotonic()
    code = main(["transfer", str(file), "--from", str(folder), "--budget", BUDGET, "--cluster", "127.0.0.1:9"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and time.monotonic() - start < 15
    assert len(err) == 1 and "127.0.0.1:9" in err[0] and "ray start --head" in err[0]
    assert json.loads((folder / "transfer" / "manifest.json").read_text())  # the earlier table is untouched


def test_a_job_that_fails_on_a_node_fails_the_transfer_in_one_line_naming_it(ray_cluster, tmp_path):
    from workbench.engine.cluster.session import ClusterError, connect
    from workbench.engine.cluster.transfer_tasks import RayJobRunner
    from workbench.engine.transfer.jobs import Job
    from workbench.launcher import build_trainer

    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    preset = load_preset(PRESETS_DIR / "airstriker.toml")
    job = Job(preset, LEVELS[0], 0, 8, str(broken), build_trainer, only="finetune")
    with connect(ray_cluster.address) as session:
        with pytest.raises(ClusterError) as caught:
            list(RayJobRunner(session, max_retries=0).run([job]))
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"transfer job {job.job_id} failed on the cluster: ")
    assert "broken.pt" in message  # the cause, from the node: the checkpoint it could not load
