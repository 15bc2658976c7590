"""Compare runs, and from a curve to the frame, on real runs the engine wrote (tiny Airstriker runs trained
through launcher.build_run, episodes recorded)."""
from __future__ import annotations

import csv

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from engine_runs import tiny_airstriker, train_run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two runs of one preset that differ in exactly one setting (the learning rate)."""
    root = tmp_path_factory.mktemp("compare_runs")
    a = train_run(root / "lr-small", tiny_airstriker(**{"ppo.learning_rate": 1e-4}))
    b = train_run(root / "lr-large", tiny_airstriker(**{"ppo.learning_rate": 1e-3}))
    return root, a, b


def _levels(run_dir):
    from workbench.engine.run_store import RunStore

    return {e["level"] for e in RunStore(run_dir).episodes()}


def _click(qtbot, plot_widget, x: float, y: float) -> None:
    """A real mouse click on the plot at data point (x, y)."""
    vb = plot_widget.getPlotItem().vb
    scene = vb.mapViewToScene(QPointF(x, y))
    qtbot.mouseClick(plot_widget.viewport(), Qt.LeftButton, pos=plot_widget.mapFromScene(scene))


def test_two_runs_draw_one_curve_per_run_and_level_and_the_diff_lists_what_differs(qtbot, two_runs, tmp_path):
    from workbench.ui.compare_view import OVERALL, CompareView

    root, a, b = two_runs
    view = CompareView(runs_root=root)
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    view.refresh_runs()
    assert {p.name for p in view.run_dirs()} == {"lr-small", "lr-large"}
    view.check_runs(["lr-small", "lr-large"])
    expected = {(run.name, level) for run in (a, b) for level in _levels(run)}
    assert len(_levels(a)) > 1  # episodes of several training levels
    assert view.curve_keys() == expected | {("lr-small", OVERALL), ("lr-large", OVERALL)}
    assert sorted(view.legend_names()) == ["lr-large", "lr-small"]  # one legend entry per run
    assert list(view.diff) == ["ppo.learning_rate"]
    assert view.diff_table.rowCount() == 1 and view.diff_table.item(0, 0).text() in ("0.0001", "0.001")

    # the overall curve of a run is its smoothed returns in step order
    from workbench.engine.run_store import RunStore
    from workbench.ui.run_compare import smoothed

    episodes = RunStore(a).episodes()
    steps = np.array([e["global_step"] for e in episodes], float)
    order = np.argsort(steps, kind="stable")
    rets = np.array([e["episode_return"] for e in episodes], float)[order]
    x, y = view.curves[("lr-small", OVERALL)].getData()
    np.testing.assert_allclose(y, smoothed(rets, view.smoothing.value()))

    # any metric, against wall time: one curve per run
    view.metric_box.setCurrentText("entropy")
    view.x_axis.setCurrentIndex(view.x_axis.findData("wall"))
    assert view.curve_keys() == {("lr-small", OVERALL), ("lr-large", OVERALL)}
    updates = RunStore(b).updates()
    assert len(view.curves[("lr-large", OVERALL)].getData()[0]) == len(updates)

    # exports
    for suffix in ("png", "svg", "csv"):
        path = view.export(tmp_path / f"compare.{suffix}")
        assert path.stat().st_size > 100
    rows = list(csv.DictReader(open(tmp_path / "compare.csv")))
    assert {r["run"] for r in rows} == {"lr-small", "lr-large"}
    assert len(rows) == len(updates) + len(RunStore(a).updates())
    view.check_runs(["lr-small"])
    assert view.diff == {} and view.curve_keys() == {("lr-small", OVERALL)}
    view.shutdown()


def test_clicking_a_curve_point_opens_that_episode_in_replay(qtbot, two_runs, open_window, monkeypatch, catalog):
    from workbench.replay.sidecar import read_sidecar

    root, a, _b = two_runs
    monkeypatch.setenv("WORKBENCH_RUNS", str(root))
    window = open_window(None, catalog)
    try:
        compare = window.compare_view
        window.tabs.setCurrentWidget(compare)
        compare.refresh_runs()
        compare.check_runs(["lr-small"])
        compare.smoothing.setValue(1)  # raw: each point is one episode's return
        level = sorted(_levels(a))[0]
        xs, ys = compare.curves[("lr-small", level)].getData()
        k = int(np.argmax(ys))  # the best episode of that level
        picked = []
        compare.episode_clicked.connect(picked.append)
        qtbot.wait(50)
        _click(qtbot, compare.plot, xs[k], ys[k])
        qtbot.waitUntil(lambda: bool(picked), timeout=5000)
        pick = picked[0]
        assert pick.level == level and pick.episode_return == pytest.approx(ys[k])
        viewer = window.replay_viewer
        assert window.tabs.currentWidget() is viewer
        assert viewer.pane.movie == pick.movie_path
        assert read_sidecar(pick.movie_path.with_suffix(".npz")).meta.episode_return == pytest.approx(ys[k])
        qtbot.waitUntil(lambda: viewer.pane.shown_frame == 0, timeout=30_000)  # at its start

        # a click in the value/return plot seeks to that agent step
        pane = viewer.pane
        target = len(pane.sidecar.actions) // 2
        _click(qtbot, pane.trace_plot, target, float(pane.sidecar.values[target]))
        qtbot.waitUntil(lambda: pane.shown_frame == pane.step_start_frame(target), timeout=30_000)
        assert pane.sidecar.step_at_frame(pane.shown_frame) == target

        # the Curves tab of the selected run does the same
        handle = next(h for h in window.controller.handles() if h.name == "lr-small")
        window.controller.select(handle)
        window.tabs.setCurrentWidget(window.curves)
        qtbot.waitUntil(lambda: window.curves.point_count() > 0, timeout=5000)
        qtbot.wait(200)  # the tab is laid out and its plot ranged before we aim
        curve = window.curves.level_curves[level]
        cx, cy = curve.getData()
        _click(qtbot, window.curves.returns, cx[-1], cy[-1])
        qtbot.waitUntil(lambda: window.tabs.currentWidget() is viewer, timeout=5000)
        assert read_sidecar(viewer.pane.movie.with_suffix(".npz")).meta.episode_return == pytest.approx(cy[-1])

        # the replay can take the whole centre area, or its own window, and come back
        window.set_replay_layout("centre")
        assert not window.live_view.isVisible() and viewer.isVisible()
        window.set_replay_layout("window")
        assert window.replay_window is not None and window.replay_window.isVisible()
        assert viewer.window() is window.replay_window and window.live_view.isVisible()
        window.replay_window.close()  # closing its window puts it back in the tab, episode still open
        assert window.replay_window is None and window.tabs.indexOf(viewer) >= 0
        assert viewer.pane.process is not None
    finally:
        window.close_policy = "stop"
        window.close()
