"""How fast does the compare view redraw? Five runs of 10,000 episodes each (three levels, 100 updates with the
trainer's metrics, written through the run store as a trainer writes them) ticked in the compare view at
1600×900: each redraw recomputes every curve (smoothing, per-level split) and repaints the plot. Reference in the
same run: the Curves tab drawing one of those runs.

    .venv/bin/python bench/compare_redraw.py [--runs 5] [--episodes 10000] [--redraws 20]

Last line: compare_redraw_ms=X (median redraw + repaint; target < 100).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

METRICS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "explained_variance",
           "steps_per_second", "mean_return")
LEVELS = ("Airstriker-Genesis-v0:Level1", "Airstriker-Genesis-v0:Level1.Sec08", "Airstriker-Genesis-v0:Level1.Sec20")


def write_run(root: Path, name: str, episodes: int, seed: int, lr: float) -> Path:
    from workbench.core.paths import DEFAULT_PRESET
    from workbench.core.presets import load_preset
    from workbench.core.records import EpisodeRecord
    from workbench.engine.run_store import RunStore

    preset = load_preset(DEFAULT_PRESET)
    preset.ppo.learning_rate = lr
    store = RunStore.create(root / name, preset)
    rng = np.random.default_rng(seed)
    updates = 100
    per = episodes // updates
    step = 0
    for u in range(updates):
        batch = []
        for _ in range(per):
            step += 40
            batch.append(EpisodeRecord(step, 0, LEVELS[int(rng.integers(3))], float(rng.normal(u * 10, 50)), 40,
                                       False))
        store.log_update(u + 1, step, {k: float(rng.normal()) for k in METRICS}, batch)
    store.close()
    return root / name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=10_000)
    parser.add_argument("--redraws", type=int, default=20)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="wb-bench-compare-"))
    dirs = [write_run(root, f"run{i}", args.episodes, i, 1e-4 * (i + 1)) for i in range(args.runs)]

    from PySide6.QtWidgets import QApplication

    from workbench.ui.compare_view import CompareView
    from workbench.ui.curves_view import CurvesView
    from workbench.ui.run_history import RunHistory

    app = QApplication.instance() or QApplication([])
    view = CompareView(runs_root=root)
    view.resize(1600, 900)
    view.show()
    view.refresh_runs()
    start = time.perf_counter()
    view.check_runs([d.name for d in dirs])
    view.plot.viewport().repaint()
    first_ms = (time.perf_counter() - start) * 1000
    app.processEvents()
    times = []
    for i in range(args.redraws):
        view.smoothing.blockSignals(True)
        view.smoothing.setValue(10 + i)  # a new window: every curve is recomputed
        view.smoothing.blockSignals(False)
        t0 = time.perf_counter()
        view.redraw()
        view.plot.viewport().repaint()
        times.append((time.perf_counter() - t0) * 1000)
        app.processEvents()
    points = sum(len(c.getData()[0]) for c in view.curves.values())
    view.shutdown()

    curves = CurvesView()
    curves.resize(1600, 900)
    curves.show()
    history = RunHistory.load(dirs[0])
    ref = []
    for _ in range(5):
        t0 = time.perf_counter()
        curves.show_history(history)
        curves.returns.viewport().repaint()
        ref.append((time.perf_counter() - t0) * 1000)
    print(f"{args.runs} runs x {args.episodes} episodes ({len(view.curves)} curves, {points:,} points): first draw "
          f"(reads the runs) {first_ms:.0f} ms; redraw median {statistics.median(times):.1f} ms, "
          f"p95 {np.percentile(times, 95):.1f} ms; reference: the Curves tab drawing one run "
          f"{statistics.median(ref):.1f} ms", flush=True)
    print(f"compare_redraw_ms={statistics.median(times):.1f}")


if __name__ == "__main__":
    main()
