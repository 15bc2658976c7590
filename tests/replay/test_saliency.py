"""Saliency of a recorded frame stack, computed in a child process and cached, on a real run the engine wrote."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from engine_runs import tiny_airstriker, train_run  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def frozen_run(tmp_path_factory):
    """A run whose weights barely move (learning rate 1e-12): its checkpoint is the policy that played every
    recorded episode, so the rebuilt observations must give back the recorded probabilities."""
    run_dir = tmp_path_factory.mktemp("saliency") / "frozen"
    train_run(run_dir, tiny_airstriker(**{"ppo.learning_rate": 1e-12}), steps=96)
    from workbench.replay.episode_index import list_episodes, rebuild_index

    rebuild_index(run_dir)
    entries = [e for e in list_episodes(run_dir) if e.length >= 20 and e.sidecar_path.is_file()]
    assert entries, "the run recorded no episode"
    return run_dir, entries[0].movie_path


def test_saliency_is_computed_in_a_child_process_and_cached(frozen_run):
    from workbench.replay.saliency import SaliencyProcess
    from workbench.replay.sidecar import read_sidecar

    run_dir, movie = frozen_run
    side = read_sidecar(movie.with_suffix(".npz"))
    with SaliencyProcess(movie) as worker:
        assert worker.pid != os.getpid() and Path(worker.checkpoint).parent == run_dir / "checkpoints"
        step = 12
        smap = worker.compute(step)
        assert smap.pid == worker.pid != os.getpid()
        assert smap.policy.shape == smap.value.shape == (84, 84)
        for m in (smap.policy, smap.value):
            assert m.dtype == np.float32 and 0 <= m.min() and m.max() == pytest.approx(1.0) and m.mean() < 0.5
        assert smap.action == side.actions[step]
        # the frame stack rebuilt from the movie is what the agent saw: same probabilities and value
        np.testing.assert_allclose(smap.probs, side.probs[step], atol=1 / 255 + 1e-4)
        assert smap.value_estimate == pytest.approx(float(side.values[step]), abs=2e-3 * max(1, abs(smap.value_estimate)))

        again = worker.compute(step)  # cached: the worker is not asked again
        assert again is smap and worker.computed == 1
        occlusion = worker.compute(step, "occlusion")
        assert worker.computed == 2 and occlusion.policy.shape == (84, 84) and occlusion.policy.max() > 0
        first = worker.compute(0)  # the reset frame fills the whole stack
        assert worker.computed == 3 and first.step == 0
        np.testing.assert_allclose(first.probs, side.probs[0], atol=1 / 255 + 1e-4)
        with pytest.raises(Exception, match="outside"):
            worker.compute(10_000)


def test_replay_pane_overlays_the_saliency_of_the_frame_on_screen(qtbot, frozen_run):
    from workbench.ui.replay_viewer import ReplayViewer

    _run_dir, movie = frozen_run
    viewer = ReplayViewer()
    qtbot.addWidget(viewer)
    viewer.show()
    try:
        assert viewer.open_episode(movie)
        pane = viewer.pane
        qtbot.waitUntil(lambda: pane.shown_frame == 0, timeout=30_000)
        frame = pane.step_start_frame(10)
        viewer.transport.seek(frame)
        qtbot.waitUntil(lambda: pane.shown_frame == frame, timeout=30_000)
        pane.set_saliency("both")
        qtbot.waitUntil(lambda: pane.saliency_map is not None and pane.saliency_map.step == 10, timeout=60_000)
        assert pane.image.overlay is not None and pane.image.overlay.shape == (84, 84, 4)
        assert pane.saliency.pid != os.getpid()
        pane.image.repaint()
        pane.set_saliency("off")
        assert pane.image.overlay is None
    finally:
        viewer.shutdown()
