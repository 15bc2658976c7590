"""Test-only helpers: a local multi-node Ray cluster (`ray.cluster_utils.Cluster`: every node a real raylet with
its own worker processes) small enough for a 2-core machine."""
from __future__ import annotations

import hashlib
import itertools
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OBJECT_STORE = 80 * 1024 * 1024
NODE_CPUS = 2
FAST_FAILURE_DETECTION = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 1000,
                          "health_check_failure_threshold": 12}
"""A removed node is declared dead in about 12 s. Not faster: a raylet that misses its checks is declared dead and
exits, and the driver exits with the head's raylet (exit code 1, nothing printed): at 2 s that hit a loaded CI
machine (the head stalled while the nodes' workers imported torch)."""


_homes = itertools.count()
_root: Path | None = None


def nodes_root() -> Path:
    """Where the test nodes keep their own folders (made on first use; `remove_nodes_root` at the end)."""
    global _root
    if _root is None:
        _root = Path(tempfile.mkdtemp(prefix="wb-ray-nodes-"))
    return _root


def remove_nodes_root() -> None:
    import shutil

    if _root is not None:
        shutil.rmtree(_root, ignore_errors=True)


def node_env(**extra: str) -> dict[str, str]:
    """A node's own user-data folder and shipped-file cache (as on another machine: nothing the driver saved
    there), plus `extra`."""
    home = nodes_root() / f"node{next(_homes)}"
    return {"WORKBENCH_HOME": str(home), "WORKBENCH_CLUSTER_CACHE": str(home / "cluster-cache"), **extra}


def start_cluster(nodes: int = 2):
    from ray.cluster_utils import Cluster

    paths = [str(ROOT), str(ROOT / "tests"), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))  # the raylets' workers inherit it
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": NODE_CPUS, "object_store_memory": OBJECT_STORE, "include_dashboard": False,
        "_system_config": FAST_FAILURE_DETECTION, "env_vars": node_env()})
    for _ in range(nodes - 1):
        add_node(cluster)
    cluster.wait_for_nodes()
    return cluster


def node_homes() -> list[Path]:
    return sorted(nodes_root().glob("node*"))


def add_node(cluster, cpus: int = NODE_CPUS, env: dict | None = None, **kwargs):
    return cluster.add_node(num_cpus=cpus, object_store_memory=OBJECT_STORE, env_vars=env or node_env(), **kwargs)


def wait_for(predicate, timeout_s: float = 120.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return out


def busy_workers(node, title: str) -> list[int]:
    """Pids of `node`'s worker processes now running a task or actor call whose process title starts with
    `title` (Ray names a worker `ray::<function>` while it runs one, `ray::IDLE` otherwise)."""
    raylets = [p.pid for kind, p in node.live_processes() if kind == "raylet"]
    busy = []
    for raylet in raylets:
        for pid in _children(raylet):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            if cmd.startswith(title):
                busy.append(pid)
    return busy


def install_and_play(assets, level: str) -> dict:
    """Runs as a task on a node (this module is importable there, a test module is not): what `Assets.install()`
    wrote, the ROM stable-retro then finds, and a few steps of the level."""
    import stable_retro.data as rd

    from workbench.core.levels import Level as Lv
    from workbench.core.settings import EnvConfig
    from workbench.engine.envs.retro import make_env

    written = assets.install()
    again = assets.install()
    rom = rd.get_romfile_path(Lv.parse(level).game, rd.Integrations.ALL)
    env = make_env([Lv.parse(level)], EnvConfig(), 0, 0)
    try:
        env.reset(seed=0)
        for _ in range(3):
            env.step(0)
    finally:
        env.close()
    return {"written": written, "again": again, "rom": rom,
            "sha1": hashlib.sha1(open(rom, "rb").read()).hexdigest()}
