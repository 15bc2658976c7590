"""The window and a run that another process writes (a terminal's `workbench train`): the runs list shows it as
running elsewhere with the writer's pid, offers Watch instead of Resume, and watching follows its curves from its
run folder while that process trains."""
from __future__ import annotations

from run_writers import start_writer, stop_writer

from workbench.bridge.supervisor import ELSEWHERE
from workbench.core.paths import DEFAULT_PRESET, runs_dir
from workbench.core.presets import load_preset
from workbench.engine import checkpoint
from workbench.engine.run_store import RunStore

WAIT_MS = 30_000


def test_a_run_written_elsewhere_is_shown_so_and_can_be_watched_not_resumed(qtbot, open_window, catalog, tmp_path):
    store = RunStore.create(runs_dir() / "terminal-run", load_preset(DEFAULT_PRESET))
    store.write_status("stopped", update=1, global_step=64)
    store.log_update(1, 64, {"loss": 1.0, "mean_return": 1.0})
    store.close()
    checkpoint.save(store.checkpoints_dir / "ckpt_00000001.pt", {"model": {}, "update": 1})
    writer = start_writer(store.path, updates=True)
    try:
        window = open_window(None, catalog)
        panel = window.runs_panel
        qtbot.waitUntil(lambda: panel.state_of("terminal-run") == ELSEWHERE, timeout=WAIT_MS)
        handle = window.controller.selected
        assert handle is not None and handle.name == "terminal-run"
        assert panel.resume_button.text() == "Watch" and panel.resume_button.isEnabled()
        assert not panel.resume_action.isEnabled()  # no "Resume from last checkpoint" for it
        assert f"pid {writer.pid}" in panel.error.text() and "workbench train" in panel.error.text()

        panel.resume_button.click()
        qtbot.waitUntil(lambda: panel.state_of("terminal-run") == "running", timeout=WAIT_MS)
        assert handle.watching and not (store.path / "launch.json").exists()  # watched, not resumed
        points = window.curves.point_count()
        qtbot.waitUntil(lambda: window.curves.point_count() > points, timeout=WAIT_MS)  # its curves grow
        assert panel.resume_button.text() == "Resume" and not panel.stop_button.isEnabled()
    finally:
        stop_writer(writer)
    qtbot.waitUntil(lambda: panel.state_of("terminal-run") == "failed", timeout=WAIT_MS)
    assert window.controller.supervisor.active() == []
