"""What a cluster's nodes need reaches them from the driver: a start state saved only on the driver, and a ROM
a node lacks, are shipped (checked by SHA-1) to the nodes before their envs start; a file damaged on the way is
refused naming the node; a node that cannot import the project is named, with the fix, before anything runs."""
from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import pytest

from ray_cluster import ROOT, add_node, install_and_play, node_env, node_homes
from workbench.catalog.integrations import SHIPPED_INTEGRATIONS, user_integrations_dir
from workbench.core.levels import Level, LevelSet
from workbench.core.paths import DEFAULT_PRESET
from workbench.core.presets import load_preset
from workbench.engine.cluster.assets import Assets, ShippedFile
from workbench.engine.cluster.session import ClusterError, connect
from workbench.launcher import build_run

GAME = "Airstriker-Genesis-v0"


@pytest.mark.slow
def test_a_start_state_only_the_driver_has_reaches_every_node_that_plays_it(ray_cluster, tmp_path):
    mine = user_integrations_dir() / GAME / "DriverOnly.state"  # saved from a replay, on this machine only
    mine.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(SHIPPED_INTEGRATIONS / GAME / "Level1.Sec12.state", mine)
    sha1 = hashlib.sha1(mine.read_bytes()).hexdigest()
    preset = load_preset(DEFAULT_PRESET)
    preset.levels = LevelSet(train=[Level(GAME, "DriverOnly")] * 2, test=[])
    preset.ppo.n_envs, preset.ppo.n_steps, preset.ppo.n_minibatches, preset.ppo.n_epochs = 2, 8, 1, 1
    preset.ppo.overlap, preset.run.record_episodes, preset.name = False, False, "ship"
    run = build_run(preset, tmp_path / "ship", cluster=ray_cluster.address)
    try:
        assert run.train(16).state == "finished"
        nodes = {node for node, _ in run.trainer.vec_env.actor_pids()}
    finally:
        run.close()
    assert len(nodes) == 2
    shipped = [home / "integrations" / GAME / "DriverOnly.state" for home in node_homes()]
    arrived = [p for p in shipped if p.is_file()]
    assert len(arrived) >= 2  # both nodes of the session's cluster (any node added by other tests, too)
    assert all(hashlib.sha1(p.read_bytes()).hexdigest() == sha1 for p in arrived)


def test_a_file_damaged_on_the_way_is_refused_naming_the_node_and_file():
    data = (SHIPPED_INTEGRATIONS / GAME / "Level1.Sec04.state").read_bytes()
    damaged = Assets([ShippedFile("state", GAME, "Damaged", hashlib.sha1(data).hexdigest(), len(data),
                                  bytes([data[0] ^ 0xFF]) + data[1:])])
    with pytest.raises(RuntimeError, match=rf"node .+: the state {GAME}:Damaged arrived damaged"):
        damaged.install()
    assert not (user_integrations_dir() / GAME / "Damaged.state").exists()


@pytest.mark.slow
def test_a_node_without_the_project_installed_is_named_with_the_fix(ray_cluster, tmp_path):
    """The node's Python finds no stable-retro (the project's install is what brings it): a fake package first
    on its path raises what an import of a missing one raises. (Ray puts the driver's working directory, this
    checkout, on every local worker's path, so on one machine the workbench package itself cannot be hidden.)"""
    fake = tmp_path / "site"
    (fake / "stable_retro").mkdir(parents=True)
    (fake / "stable_retro" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'stable_retro'\")\n")
    node = add_node(ray_cluster, cpus=1, env=node_env(PYTHONPATH=f"{fake}:{ROOT}:{ROOT / 'tests'}"))
    try:
        ray_cluster.wait_for_nodes()
        with pytest.raises(ClusterError) as caught:
            connect(ray_cluster.address)
    finally:
        ray_cluster.remove_node(node)
    message = str(caught.value)
    assert "\n" not in message
    assert f"cluster node {node.node_ip_address} ({node.node_id[:8]}) cannot import stable_retro" in message
    assert "No module named 'stable_retro'" in message
    assert "install the project there" in message and "pip install -e ." in message


def test_a_node_that_does_not_answer_the_probe_is_named_alone(ray_cluster, tmp_path, monkeypatch):
    """A node whose workers hang (here: importing stable-retro never returns) is named, within the probe's time,
    and the nodes that answered are not."""
    from workbench.engine.cluster import session

    hang = tmp_path / "site"
    (hang / "stable_retro").mkdir(parents=True)
    (hang / "stable_retro" / "__init__.py").write_text("import time\ntime.sleep(600)\n")
    monkeypatch.setattr(session, "PROBE_TIMEOUT_S", 20.0)
    node = add_node(ray_cluster, cpus=1, env=node_env(PYTHONPATH=f"{hang}:{ROOT}:{ROOT / 'tests'}"))
    try:
        ray_cluster.wait_for_nodes()
        start = time.monotonic()
        with pytest.raises(ClusterError) as caught:
            connect(ray_cluster.address)
        waited = time.monotonic() - start
    finally:
        ray_cluster.remove_node(node, allow_graceful=False)
    message = str(caught.value)
    assert waited < 20.0 + 15.0
    assert message == (f"cluster node {node.node_ip_address} ({node.node_id[:8]}) did not answer a probe task "
                       "within 20 s: check `ray status` there")


def test_a_node_lost_just_before_a_connect_is_left_out_not_an_error(ray_cluster):
    """A node killed an instant before the check is still listed alive (the head declares it dead seconds later):
    its probe cannot be scheduled once it is, and the session goes on with the nodes that are left."""
    node = add_node(ray_cluster, cpus=1)
    ray_cluster.wait_for_nodes()
    ray_cluster.remove_node(node, allow_graceful=False)
    with connect(ray_cluster.address) as session:
        ids = [n.node_id for n in session.nodes]
    assert node.node_id not in ids and len(ids) >= 2  # the fixture's two nodes answered
    assert all(n.versions and n.versions.get("workbench") for n in session.nodes)


@pytest.mark.slow
def test_a_node_without_the_rom_gets_it_from_the_driver_before_its_env_starts(ray_cluster, tmp_path):
    import ray
    import stable_retro.data as rd
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from workbench.engine.cluster.assets import collect_assets

    src = Path(rd.path()) / "stable" / GAME  # the node's own stable-retro data, with no ROM in it
    bare = tmp_path / "retro-data" / "stable" / GAME
    shutil.copytree(src, bare, ignore=lambda _, names: [n for n in names if n.startswith("rom.") and n != "rom.sha"])
    assert (bare / "rom.sha").is_file() and not list(bare.glob("rom.md"))
    node = add_node(ray_cluster, cpus=1, env=node_env(RETRO_DATA_PATH=str(tmp_path / "retro-data")))
    session = None
    try:
        ray_cluster.wait_for_nodes()
        session = connect(ray_cluster.address)  # the node has the project: it passes the probe
        level = f"{GAME}:Level1"
        assets = collect_assets([Level.parse(level)])
        driver_rom = Path(rd.get_romfile_path(GAME, rd.Integrations.ALL))
        task = ray.remote(num_cpus=1)(install_and_play).options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False))
        out = ray.get(task.remote(assets, level), timeout=120)
    finally:
        if session is not None:
            session.close()
        ray_cluster.remove_node(node)
    assert out["written"] == [f"rom {GAME}:{driver_rom.name}"] and out["again"] == []
    assert out["rom"] == str(bare / driver_rom.name)  # installed into that node's stable-retro data
    assert out["sha1"] == hashlib.sha1(driver_rom.read_bytes()).hexdigest()
