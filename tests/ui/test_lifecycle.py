"""The window's lifecycle with a real run process: closing the window while a run goes asks, and both answers do
what they say (left running: the process survives and the next window re-attaches; stopped: it ends and says
stopped); a stopped run resumed from the runs list continues from its checkpoint in a new process and the live
view follows it. The test checks itself that no run process is left."""
from __future__ import annotations

import os
import signal

import pytest
from PySide6.QtCore import Qt, QTimer

from workbench.engine.run_store import RunStore
from workbench.core.processes import pid_alive
from workbench.ui.main_window import MainWindow

pytestmark = pytest.mark.slow
WAIT_MS = 120_000  # generous: two cores shared with other test processes


def _kill(pids) -> None:
    for pid in pids:
        if pid and pid_alive(pid):
            os.killpg(pid, signal.SIGKILL)


def _answer_close_question(window: MainWindow, text: str) -> None:
    """Click the button labelled `text` of the close question once it is open (runs inside its event loop)."""
    def click():
        box = window.close_question
        if box is None:
            QTimer.singleShot(20, click)
            return
        next(b for b in box.buttons() if b.text() == text).click()

    QTimer.singleShot(0, click)


def test_close_asks_leave_keeps_it_resume_continues_it_stop_ends_it(qtbot, open_window, tiny_preset, catalog):
    """One run through the whole lifecycle (one run process start keeps the test short): closing the window
    asks, "Leave running" keeps it training; the next window re-attaches; Stop, then Resume continues it from
    its checkpoint in a new process the live view follows; closing again with "Stop runs" ends it."""
    first = open_window(tiny_preset, catalog)
    handle = first.start_run("asked")
    pids = [handle.pid]
    try:
        qtbot.waitUntil(lambda: handle.state == "running" and handle.live
                        and first.curves.point_count() > 0, timeout=WAIT_MS)
        assert first.close_policy == "ask"
        _answer_close_question(first, "Leave running")
        first.close()
        assert not first.isVisible()
        assert pid_alive(handle.pid) and handle.state == "running"  # still training, window gone

        window = open_window(tiny_preset, catalog)
        run = window.controller.selected
        assert run is not None and run.name == handle.name and run.process is None  # re-attached
        qtbot.waitUntil(lambda: run.live and window.live_view.frames_shown > 0, timeout=WAIT_MS)
        panel = window.runs_panel
        assert not panel.resume_button.isEnabled()  # running: nothing to resume
        qtbot.mouseClick(panel.stop_button, Qt.LeftButton)
        qtbot.waitUntil(lambda: run.state == "stopped" and not pid_alive(run.pid), timeout=60_000)
        stopped_at = RunStore(run.run_dir).updates()[-1]["global_step"]
        qtbot.waitUntil(panel.resume_button.isEnabled, timeout=5_000)
        assert panel.resume_action.isEnabled()  # the runs list's own (context menu) action

        frames = window.live_view.frames_shown
        qtbot.mouseClick(panel.resume_button, Qt.LeftButton)
        again = window.controller.selected
        pids.append(again.pid)
        assert again is not run and again.name == run.name and again.pid != run.pid
        assert [h.name for h in window.controller.handles()].count(run.name) == 1  # one row, not two
        qtbot.waitUntil(lambda: again.state == "running" and window.live_view.frames_shown > frames + 3
                        and window.live_view.steps_shown > 0, timeout=WAIT_MS)
        qtbot.waitUntil(lambda: RunStore(run.run_dir).updates()[-1]["global_step"] > stopped_at,
                        timeout=WAIT_MS)  # trained on from the checkpoint, in the same run folder
        assert panel.state_of(run.name) == "running"

        _answer_close_question(window, "Stop runs")
        window.close()
        assert not window.isVisible()
        assert not pid_alive(again.pid)  # closing waited for it to stop
        assert RunStore(run.run_dir).status()["state"] == "stopped"
    finally:
        _kill(pids)
