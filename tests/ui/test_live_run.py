"""A real run on Airstriker started from the GUI: frames, bars and curve points arrive; pause, resume, stop;
the window is recreated and re-attaches; killing an env worker shows the failed state while the window answers.
Training runs in detached processes (bridge), so each test checks itself that they are gone at the end."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from workbench.core.processes import pid_alive

pytestmark = pytest.mark.slow
WAIT_MS = 120_000  # generous: two cores shared with other test processes


def _env_workers(pid: int) -> list[int]:
    """The run process's env worker processes (multiprocessing spawn children, not its resource tracker)."""
    out = []
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return out
    for child in children:
        try:
            cmd = Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "spawn_main" in cmd:
            out.append(int(child))
    return out


def _wait_gone(qtbot, pid: int) -> None:
    qtbot.waitUntil(lambda: not pid_alive(pid), timeout=30_000)


def test_live_run_draws_and_obeys_pause_resume_stop(qtbot, open_window, tiny_preset, catalog):
    window = open_window(tiny_preset, catalog)
    handle = None
    try:
        assert window.level_panel.level_set.train, "the preset's levels show in the editor"
        window.runs_panel.run_name.setText("live")
        qtbot.mouseClick(window.runs_panel.start_button, qtbot_button())
        handle = window.controller.selected
        assert handle is not None and handle.name.startswith("live")
        live = window.live_view
        qtbot.waitUntil(lambda: live.frames_shown > 3 and live.steps_shown > 3, timeout=WAIT_MS)
        assert window.live_view.image.image.shape[2] == 3 and window.live_view.image.image.dtype == np.uint8
        heights = live.bar_heights()
        assert len(heights) == len(handle.hello.action_labels) and abs(heights.sum() - 1) < 1e-3
        # Airstriker's 126 button combos: the probability of each button is the default view
        bars = live.policy.bars
        assert bars.view == "buttons"
        marginals = dict(live.shown_bars())
        assert set(marginals) == set(bars.buttons()) and len(marginals) < len(handle.hello.action_labels)
        sampled = handle.hello.action_labels[bars.action]
        assert {label for label, _v, lit in bars.rows() if lit} == set(sampled.split("+")) - {"NOOP"}
        assert "entropy" in bars.caption
        live.policy.set_view("actions")  # the top combos, the other view
        shown = live.shown_bars()
        assert shown and {label for label, _ in shown} <= set(handle.hello.action_labels)
        sampled = handle.hello.action_labels[bars.action]
        assert sampled in {label for label, _ in shown}  # the sampled action is always on screen
        qtbot.waitUntil(lambda: window.curves.point_count() > 0, timeout=WAIT_MS)

        live.env.setValue(1)  # watch the other env: summaries follow at once
        qtbot.waitUntil(lambda: live.last_step.env_index == 1, timeout=10_000)

        qtbot.mouseClick(window.runs_panel.pause_button, qtbot_button())
        qtbot.waitUntil(lambda: handle.state == "paused", timeout=30_000)
        assert window.runs_panel.state_of(handle.name) == "paused"
        steps, frames = live.steps_shown, live.frames_shown
        qtbot.wait(600)  # that nothing arrives takes an interval to see; the step in flight may still land
        assert live.steps_shown - steps <= 2 and live.frames_shown - frames <= 1  # nothing streams while paused
        qtbot.mouseClick(window.runs_panel.resume_button, qtbot_button())
        qtbot.waitUntil(lambda: handle.state == "running" and live.steps_shown > steps + 3, timeout=30_000)

        qtbot.mouseClick(window.runs_panel.stop_button, qtbot_button())
        qtbot.waitUntil(lambda: handle.state == "stopped", timeout=60_000)
        _wait_gone(qtbot, handle.pid)
        assert window.runs_panel.state_of(handle.name) == "stopped"
    finally:
        window.close_policy = "stop"
        window.close()
        if handle is not None and handle.pid and pid_alive(handle.pid):
            os.killpg(handle.pid, signal.SIGKILL)


def test_reattach_after_window_recreated_and_worker_death_shows_failed(qtbot, open_window, tiny_preset, catalog):
    first = open_window(tiny_preset, catalog)
    handle = first.start_run("bg")
    pid = handle.pid
    try:
        qtbot.waitUntil(lambda: first.curves.point_count() > 0 and first.live_view.frames_shown > 0,
                        timeout=WAIT_MS)
        first.close_policy = "leave"
        first.close()
        assert pid_alive(pid), "a run left running survives its window"

        second = open_window(tiny_preset, catalog)
        again = second.controller.selected
        assert again is not None and again.name == handle.name and again.process is None
        qtbot.waitUntil(lambda: second.curves.point_count() > 0, timeout=10_000)  # history from the run store
        qtbot.waitUntil(lambda: second.live_view.frames_shown > 2 and second.live_view.steps_shown > 2,
                        timeout=WAIT_MS)

        workers = _env_workers(pid)
        assert workers, "the run process has env workers"
        os.kill(workers[0], signal.SIGKILL)
        qtbot.waitUntil(lambda: again.state == "failed", timeout=60_000)
        assert "worker" in again.error
        assert "failed" in second.runs_panel.error.text()
        # the window still answers
        qtbot.keyClicks(second.catalog_panel.search, "airstriker")
        assert second.catalog_panel.visible_games() == ["Airstriker-Genesis-v0"]
        _wait_gone(qtbot, pid)
        second.close_policy = "stop"
        second.close()
    finally:
        if pid_alive(pid):
            os.killpg(pid, signal.SIGKILL)


def qtbot_button():
    from PySide6.QtCore import Qt

    return Qt.LeftButton
