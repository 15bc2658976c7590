"""How responsive is the window while a run streams? A probe posts a zero-delay event to the Qt main thread every
20 ms and records how long it waits before it runs; first with the window idle (the reference), then while an
Airstriker run streams frames, bars and curves into it — with the Compare tab in front (every run ticked, re-read
as its metrics grow) and the Transfer view loaded; `--no-new-views` keeps the Curves tab in front instead.

    .venv/bin/python bench/gui_latency.py [--seconds 20] [--no-new-views]

Last line: p99_ms=X (99th percentile main-thread event latency while streaming; target < 50).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def probe(app, seconds: float) -> np.ndarray:
    from PySide6.QtCore import QTimer

    latencies: list[float] = []
    posted = [0.0]

    def arrived():
        latencies.append((time.perf_counter() - posted[0]) * 1000)

    def post():
        posted[0] = time.perf_counter()
        QTimer.singleShot(0, arrived)

    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(post)
    timer.start()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    return np.array(latencies)


def open_new_views(window) -> None:
    """The experiment-bench views open as a researcher would have them: the Compare tab in front with every
    run ticked (it re-reads a run whose metrics change), the Transfer view loaded for the selected run."""
    compare = window.compare_view
    window.tabs.setCurrentWidget(compare)
    compare.refresh_runs()
    compare.check_runs([p.name for p in compare.run_dirs()])
    window.transfer_view.load_run(window.controller.selected.run_dir if window.controller.selected else None)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout` still stops the runs in `finally`
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--no-new-views", action="store_true", help="keep the Curves tab in front (as before)")
    args = parser.parse_args()
    os.environ["WORKBENCH_RUNS"] = tempfile.mkdtemp(prefix="wb-bench-latency-")
    from PySide6.QtWidgets import QApplication

    from workbench.core.presets import load_preset
    from workbench.core.paths import DEFAULT_PRESET
    from workbench.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    window = MainWindow(DEFAULT_PRESET)
    window.quiet = True
    window.resize(1600, 980)
    window.show()
    probe(app, 1.0)  # warm-up: first paints, caches
    idle = probe(app, min(5.0, args.seconds))
    print(f"idle window: p50 {np.percentile(idle, 50):.2f} ms, p99 {np.percentile(idle, 99):.2f} ms", flush=True)

    preset = load_preset(DEFAULT_PRESET)
    preset.ppo.total_steps = 10_000_000
    preset.env.max_episode_steps = 200  # many episodes: the curves keep changing
    preset.run.record_episodes = False
    window.preset = preset
    window.runs_panel.form.set_values(preset)
    handle = window.start_run("latency")
    start = time.monotonic()
    while window.live_view.frames_shown < 5 and time.monotonic() - start < 180:  # wait for the stream
        app.processEvents()
        time.sleep(0.005)
    if not args.no_new_views:
        open_new_views(window)
    try:
        frames0 = window.live_view.frames_shown
        streaming = probe(app, args.seconds)
        fps = (window.live_view.frames_shown - frames0) / args.seconds
    finally:
        window.close_policy = "stop"  # never leave the run behind
        window.close()
    print(f"streaming ({fps:.1f} frames/s drawn, run {handle.state}): p50 {np.percentile(streaming, 50):.2f} ms, "
          f"max {streaming.max():.2f} ms, ratio p99 streaming/idle "
          f"{np.percentile(streaming, 99) / max(np.percentile(idle, 99), 1e-3):.2f}")
    print(f"p99_ms={np.percentile(streaming, 99):.2f}")


if __name__ == "__main__":
    main()
