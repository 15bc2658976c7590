"""The replay viewer with real widgets (offscreen) and real replay processes on a real recorded episode."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "replay"))
from replay_recording import GAME, frame_hash, record_episode  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run folder with two recorded episodes (different seeds and lengths) and their sidecars."""
    from workbench.catalog.actions import resolve_action_set
    from workbench.core.settings import EnvConfig
    from workbench.replay.recorder import EpisodeRecorder

    run_dir = tmp_path_factory.mktemp("viewer_run")
    recorder = EpisodeRecorder(run_dir, 1, 4, resolve_action_set(GAME, EnvConfig()).labels)
    first = record_episode(run_dir, steps=60, seed=1, recorder=recorder)
    second = record_episode(run_dir, steps=90, seed=2, recorder=recorder, global_step=60)
    return run_dir, first, second


def _wait_frame(qtbot, pane, k):
    qtbot.waitUntil(lambda: pane.shown_frame == k, timeout=30_000)


def test_viewer_lists_opens_seeks_steps_and_plays(qtbot, run):
    from workbench.replay.sidecar import read_sidecar
    from workbench.ui.replay_viewer import ReplayViewer

    run_dir, first, second = run
    viewer = ReplayViewer()
    qtbot.addWidget(viewer)
    try:
        viewer.open_run(run_dir)
        assert len(viewer.visible_entries()) == 2
        viewer.table.sortByColumn(0, Qt.DescendingOrder)
        returns = [e.episode_return for e in viewer.visible_entries()]
        assert returns == sorted(returns, reverse=True)
        viewer.level_filter.setCurrentText(f"{GAME}:Level1")
        assert len(viewer.visible_entries()) == 2
        viewer.proxy.setFilterRegularExpression("^nothing$")
        assert viewer.visible_entries() == []
        viewer.level_filter.setCurrentText("All levels")

        # open the longer episode from the list
        row = next(r for r in range(viewer.proxy.rowCount())
                   if viewer.visible_entries()[r].movie_path == second.movie)
        viewer._open_row(viewer.proxy.index(row, 0))
        pane = viewer.pane
        _wait_frame(qtbot, pane, 0)
        assert viewer.transport.n_frames == len(second.frame_hashes)
        assert frame_hash(pane.shown_image) == second.frame_hashes[0]

        # the timeline seeks anywhere; bars and cursor follow the agent step on screen
        side = read_sidecar(second.movie.with_suffix(".npz"))
        viewer.transport.slider.setValue(201)
        _wait_frame(qtbot, pane, 201)
        assert frame_hash(pane.shown_image) == second.frame_hashes[201]
        step = side.step_at_frame(201)
        np.testing.assert_allclose(pane.bar_heights(), side.probs[step])
        assert pane.cursor.value() == step

        # single frames and whole agent steps, both ways
        viewer.transport.frame_fwd.click()
        _wait_frame(qtbot, pane, 202)
        viewer.transport.step_back.click()
        _wait_frame(qtbot, pane, 198)
        assert frame_hash(pane.shown_image) == second.frame_hashes[198]

        # play at 8x from here to the end
        viewer.transport.set_speed(8.0)
        viewer.transport.play()
        last = viewer.transport.n_frames - 1
        qtbot.waitUntil(lambda: not viewer.transport.playing, timeout=30_000)
        _wait_frame(qtbot, pane, last)
        assert frame_hash(pane.shown_image) == second.frame_hashes[last]

        # save the frame on screen as a start state; a clash is reported in the viewer
        path = viewer.save_start_state("ViewerCut")
        assert path is not None and path.name == "ViewerCut.state"
        assert viewer.save_start_state("ViewerCut") is None
        assert "already has a start state" in viewer.error_label.text()
    finally:
        viewer.shutdown()
    assert viewer.pane.process is None


def test_drop_a_bk2_and_bad_files(qtbot, run, tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    from workbench.ui.replay_viewer import ReplayViewer

    _, first, _ = run
    viewer = ReplayViewer()
    qtbot.addWidget(viewer)
    try:
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(first.movie))])
        event = QDropEvent(QPointF(5, 5), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
        viewer.dropEvent(event)
        _wait_frame(qtbot, viewer.pane, 0)
        assert viewer.pane.movie == first.movie

        bad = tmp_path / "broken.bk2"
        bad.write_bytes(b"PK\x03\x04 broken")
        assert not viewer.open_episode(bad)
        assert "broken.bk2" in viewer.error_label.text() and viewer.error_label.isVisibleTo(viewer)
        assert viewer.pane.movie == first.movie  # the open episode stays
    finally:
        viewer.shutdown()


def test_compare_plays_two_episodes_on_one_timeline(qtbot, run):
    from workbench.ui.replay_viewer import ReplayCompare

    _, first, second = run
    compare = ReplayCompare()
    qtbot.addWidget(compare)
    try:
        assert compare.open_episodes(first.movie, second.movie)
        assert compare.transport.n_frames == max(len(first.frame_hashes), len(second.frame_hashes))
        compare.transport.seek(150)
        _wait_frame(qtbot, compare.left, 150)
        _wait_frame(qtbot, compare.right, 150)
        assert frame_hash(compare.left.shown_image) == first.frame_hashes[150]
        assert frame_hash(compare.right.shown_image) == second.frame_hashes[150]
        # past the shorter episode's end it holds its last frame
        compare.transport.seek(len(second.frame_hashes) - 1)
        _wait_frame(qtbot, compare.left, len(first.frame_hashes) - 1)
        _wait_frame(qtbot, compare.right, len(second.frame_hashes) - 1)
    finally:
        compare.shutdown()
