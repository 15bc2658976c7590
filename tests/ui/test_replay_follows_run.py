"""The Replay list of a run started from the window fills as its episodes are recorded, without Refresh."""
from __future__ import annotations

import os
import signal

import pytest

from workbench.core.presets import load_preset, save_preset
from workbench.core.processes import pid_alive

pytestmark = pytest.mark.slow


def test_replay_list_refreshes_as_episodes_arrive(qtbot, open_window, tiny_preset, catalog):
    preset = load_preset(tiny_preset)
    preset.run.record_episodes = True
    save_preset(preset, tiny_preset, overwrite=True)
    window = open_window(tiny_preset, catalog)
    handle = None
    try:
        viewer = window.replay_viewer
        window.tabs.setCurrentWidget(viewer)
        handle = window.start_run("follow")
        assert handle is not None
        qtbot.waitUntil(lambda: viewer.model.run_dir == handle.run_dir, timeout=10_000)
        assert viewer.visible_entries() == []  # nothing recorded yet
        qtbot.waitUntil(lambda: len(viewer.visible_entries()) >= 2, timeout=120_000)
        movies = {e.movie_path for e in viewer.visible_entries()}
        assert all(m.is_file() for m in movies)
        viewer.table.selectRow(0)
        chosen = viewer.visible_entries()[0].movie_path
        qtbot.waitUntil(lambda: len(viewer.visible_entries()) > len(movies), timeout=120_000)
        selected = viewer.table.selectionModel().selectedRows()
        assert selected and viewer.model.entries[viewer.proxy.mapToSource(selected[0]).row()].movie_path == chosen
    finally:
        window.close_policy = "stop"
        window.close()
        if handle is not None and handle.pid and pid_alive(handle.pid):
            os.killpg(handle.pid, signal.SIGKILL)
