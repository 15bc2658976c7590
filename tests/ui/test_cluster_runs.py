"""A cluster run in the window: started with a Ray cluster's address typed next to the run name, its env workers
are Ray actors on a real local two-node cluster; it is watched (live frames, curves), paused, resumed and stopped
like a local run, and the runs list shows the cluster's address and how many workers are up (and restarts, from status.json
as any cluster run writes it)."""
from __future__ import annotations

import json

from PySide6.QtCore import Qt

from workbench.core.paths import DEFAULT_PRESET, runs_dir
from workbench.core.presets import load_preset
from workbench.core.records import StatusRecord
from workbench.engine.run_store import RunStore

WAIT_MS = 120_000


def _ended_writer(store: RunStore) -> None:
    """status.json names a writer process that has ended (as a run's own process leaves it), not this one."""
    status = json.loads((store.path / "status.json").read_text())
    (store.path / "status.json").write_text(json.dumps(dict(status, pid=2 ** 22 + 1)))  # above any pid_max


def test_the_runs_list_shows_where_each_run_works(qtbot, open_window, catalog):
    store = RunStore.create(runs_dir() / "on-cluster", load_preset(DEFAULT_PRESET))
    store.placement = lambda: {"kind": "ray", "address": "10.0.0.5:6379", "workers": 188, "workers_up": 187,
                               "restarts": 3, "nodes": 12}
    store.on_status(StatusRecord("stopped", 640, 10, 1000))  # as a stopped cluster run leaves it
    store.close()
    _ended_writer(store)
    local = RunStore.create(runs_dir() / "on-this-machine", load_preset(DEFAULT_PRESET))
    local.on_status(StatusRecord("stopped", 64, 1, 1000))
    local.close()
    _ended_writer(local)
    window = open_window(None, catalog)
    panel = window.runs_panel
    qtbot.waitUntil(lambda: panel.where_of("on-cluster") != "", timeout=10_000)
    assert panel.where_of("on-cluster") == "10.0.0.5:6379 · 187/188 workers up · 3 restarts"
    assert panel.where_of("on-this-machine") == "local"


def test_a_cluster_run_is_started_watched_paused_resumed_and_stopped_from_the_window(qtbot, open_window, tiny_preset, catalog,
                                                                      ray_cluster):
    window = open_window(tiny_preset, catalog)
    panel = window.runs_panel
    panel.cluster.setText(ray_cluster.address)
    handle = window.start_run("clustered")
    try:
        assert json.loads((handle.run_dir / "launch.json").read_text())["cluster"] == ray_cluster.address
        qtbot.waitUntil(lambda: handle.state == "running" and handle.live and window.live_view.frames_shown > 0
                        and window.curves.point_count() > 0, timeout=WAIT_MS)
        qtbot.waitUntil(lambda: "workers up" in panel.where_of(handle.name), timeout=30_000)
        assert panel.where_of(handle.name) == f"{ray_cluster.address} · 2/2 workers up"
        qtbot.mouseClick(panel.pause_button, Qt.LeftButton)
        qtbot.waitUntil(lambda: handle.state == "paused", timeout=WAIT_MS)
        qtbot.mouseClick(panel.resume_button, Qt.LeftButton)
        qtbot.waitUntil(lambda: handle.state == "running", timeout=WAIT_MS)
        qtbot.mouseClick(panel.stop_button, Qt.LeftButton)
        qtbot.waitUntil(lambda: handle.state == "stopped", timeout=WAIT_MS)
    finally:
        if handle.state not in ("stopped", "failed", "finished"):
            handle.stop()
    status = RunStore(handle.run_dir).status()
    assert status["state"] == "stopped" and status["placement"]["workers"] == 2
    assert RunStore(handle.run_dir).updates()  # its metrics, on this machine
