"""Does watching a run live slow it down? The same short Airstriker run, once headless (no GUI attached) and
once followed by the workbench window (offscreen unless DISPLAY is set: frames, bars, curves all drawn), in
this one process tree; the window has the Compare tab in front with every run ticked and the Transfer view loaded
(`--no-new-views`: the Curves tab, as before). Agent steps/s comes from the run store (updates' global_step over wall time, startup
excluded). The window runs Qt's own event loop, as `workbench gui` does (no busy polling loop of ours adds CPU).
Noise: repeats alternate the order (headless first, then live first, ...) so drifting background load hits both
sides alike; each repeat gives one ratio and the result is their median. Each repeat also prints the CPU seconds
the run's own process tree used on each side (does watching make the trainer work more, or only compete?).

    .venv/bin/python bench/live_overhead.py [--steps 2048] [--repeats 3] [--no-new-views]

Last line: ratio_live_vs_headless=X (median of the repeats' live/headless steps/s ratios; target >= 0.95).
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
_terminated: list[bool] = []
"""SIGTERM arrived. Python exceptions cannot leave Qt's loop, so inside it the loop checks this and ends cleanly."""
_in_qt_loop: list[bool] = []


def _on_sigterm(*_) -> None:
    _terminated.append(True)
    if not _in_qt_loop:
        sys.exit(143)  # the runs are stopped in `finally`


def _preset(steps: int):
    from workbench.core.presets import load_preset
    from workbench.core.paths import DEFAULT_PRESET

    preset = load_preset(DEFAULT_PRESET)
    preset.name = "bench-live"
    preset.ppo.n_envs = 2
    preset.ppo.n_steps = 128
    preset.ppo.total_steps = steps
    preset.env.max_episode_steps = 400
    preset.run.record_episodes = False
    return preset


def steps_per_second(run_dir: Path) -> float:
    from workbench.engine.run_store import RunStore

    rows = RunStore(run_dir).updates()
    if len(rows) < 3:
        raise SystemExit(f"{run_dir}: too few updates to time; raise --steps")
    first, last = rows[0], rows[-1]  # from the first update on: process start-up is not counted
    return (last["global_step"] - first["global_step"]) / (last["wall_time"] - first["wall_time"])


RUN_CPU: list[float] = []
"""The run process tree's CPU seconds of each run, in the order they ran."""


class TreeCPU:
    """CPU seconds used by this process's descendants (the run process and its env workers and learner) while it
    runs: sampled from /proc every 50 ms, keeping each process's last reading (a process's own time is lost only
    for its last 50 ms). Watched and headless runs compared by this tell whether watching makes the trainer do
    more work, or only competes with it for the cores."""

    def __init__(self):
        import threading

        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        while not self._stop.wait(0.05):
            parents: dict[int, list[tuple[int, float]]] = {}
            for entry in os.listdir("/proc"):
                if entry.isdigit():
                    try:
                        fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                    except OSError:
                        continue
                    parents.setdefault(int(fields[1]), []).append((int(entry), (int(fields[11]) + int(fields[12])) / tick))
            todo = [os.getpid()]
            while todo:
                for pid, cpu in parents.get(todo.pop(), []):
                    self.seen[pid] = max(self.seen.get(pid, 0.0), cpu)
                    todo.append(pid)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return sum(self.seen.values())


def headless(preset) -> float:
    from workbench.bridge.supervisor import Supervisor

    supervisor = Supervisor()
    cpu = TreeCPU()
    handle = supervisor.start(preset, "headless")
    try:
        handle.process.wait()  # nobody connects: no frames or messages are streamed
    finally:
        if handle.process.poll() is None:  # interrupted: never leave a run behind
            handle.kill()
            handle.poll()
    RUN_CPU.append(cpu.stop())
    return steps_per_second(handle.run_dir)


def live(preset, app, new_views: bool = True) -> tuple[float, int, float]:
    from gui_latency import open_new_views  # the same views as the latency bench (bench/ is on sys.path)
    from PySide6.QtCore import QEventLoop, QTimer

    from workbench.ui.main_window import MainWindow

    window = MainWindow()
    window.quiet = True
    window.resize(1600, 980)
    window.show()
    window.level_panel.set_level_set(preset.levels)
    window.runs_panel.form.set_values(preset)
    window.preset = preset
    cpu = TreeCPU()
    handle = window.start_run("live")
    if new_views:
        open_new_views(window)
    loop = QEventLoop()
    check = QTimer()
    drawn: list[tuple[float, int]] = []
    """(time, frames shown) while frames arrive: the display rate, run start-up left out."""

    def on_check():
        if window.live_view.frames_shown and handle.state == "running":
            drawn.append((time.monotonic(), window.live_view.frames_shown))
        if _terminated or (handle.state in ("finished", "failed", "stopped") and not handle.process_alive()):
            loop.quit()

    check.timeout.connect(on_check)
    cpu0, wall0 = time.process_time(), time.monotonic()
    try:
        check.start(200)
        _in_qt_loop.append(True)
        loop.exec()
        _in_qt_loop.clear()
        if _terminated:
            raise SystemExit(143)
    finally:
        check.stop()
        gui_share = (time.process_time() - cpu0) / (time.monotonic() - wall0)
        fps = (drawn[-1][1] - drawn[0][1]) / max(drawn[-1][0] - drawn[0][0], 1e-9) if len(drawn) > 1 else 0.0
        window.close_policy = "stop"
        window.close()
        RUN_CPU.append(cpu.stop())
    if handle.state != "finished":
        raise SystemExit(f"live run ended {handle.state}: {handle.error}")
    return steps_per_second(handle.run_dir), fps, gui_share


def main() -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)  # `timeout` still stops the runs cleanly
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-new-views", action="store_true", help="keep the Curves tab in front (as before)")
    args = parser.parse_args()
    os.environ["WORKBENCH_RUNS"] = tempfile.mkdtemp(prefix="wb-bench-live-")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    preset = _preset(args.steps)
    ratios = []
    for i in range(args.repeats):
        if i % 2 == 0:
            a = headless(preset)
            b, fps, gui = live(preset, app, not args.no_new_views)
        else:
            b, fps, gui = live(preset, app, not args.no_new_views)
            a = headless(preset)
        ratios.append(b / a)
        cpu_headless, cpu_live = (RUN_CPU[-2], RUN_CPU[-1]) if i % 2 == 0 else (RUN_CPU[-1], RUN_CPU[-2])
        print(f"repeat {i}: headless {a:.1f} steps/s, live {b:.1f} steps/s ({fps:.1f} frames/s drawn), "
              f"ratio {b / a:.3f}; GUI process CPU {gui:.1%} of one core while live; the run's process tree "
              f"used {cpu_headless:.1f} s CPU headless, {cpu_live:.1f} s live", flush=True)
    print(f"ratios {' '.join(f'{r:.3f}' for r in ratios)}", flush=True)
    print(f"ratio_live_vs_headless={statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
