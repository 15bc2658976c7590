"""Screenshots of the workbench during a live Airstriker run, in a real X window (run under Xvfb):

    Xvfb :97 -screen 0 1680x1050x24 &  DISPLAY=:97 .venv/bin/python docs/screenshots.py

Writes docs/workbench-live.png (the whole window) and docs/workbench-live-view.png (the live view)."""
from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout` still stops the run in `finally`
    os.environ.setdefault("WORKBENCH_RUNS", tempfile.mkdtemp(prefix="wb-shots-"))
    from PySide6.QtWidgets import QApplication

    from workbench.core.paths import DEFAULT_PRESET
    from workbench.ui.app import style_sheet
    from workbench.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyle("Fusion")
    app.setStyleSheet(style_sheet())
    window = MainWindow(DEFAULT_PRESET)
    window.resize(1680, 1020)
    window.move(0, 0)
    window.show()
    window.catalog_panel.search.setText("airstriker")
    form = window.runs_panel.form
    form.editor("env", "max_episode_steps").setValue(60)  # short episodes: the curve fills quickly
    form.editor("run", "record_episodes").setChecked(False)
    form.editor("ppo", "n_steps").setValue(64)
    handle = window.start_run("airstriker-demo")
    try:
        deadline = time.monotonic() + 600
        report = time.monotonic()
        while time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)
            if time.monotonic() > report:
                report += 10
                history = window.controller.history(handle)
                print(f"{handle.state} step {handle.global_step} episodes {len(history.episodes)} updates "
                      f"{len(history.updates)} frames {window.live_view.frames_shown}", flush=True)
            if len(window.controller.history(handle).episodes) >= 30 and len(
                    window.controller.history(handle).updates) >= 10 and window.live_view.frames_shown > 20:
                break
        window.curves.refresh()
        for _ in range(30):
            app.processEvents()
            time.sleep(0.02)
        screen = app.primaryScreen()
        screen.grabWindow(window.winId()).save(str(DOCS / "workbench-live.png"))
        window.live_view.grab().save(str(DOCS / "workbench-live-view.png"))
        print("episodes", len(window.controller.history(handle).episodes), "frames", window.live_view.frames_shown)
    finally:
        window.close_policy = "stop"
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
