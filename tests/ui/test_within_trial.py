"""The "Within trial" tab: RL²'s curve (mean ± std return of episode 1..K) read from `<run>/rl2_eval.json`,
redrawn when the file changes; and a real RL² run on two Airstriker levels started from the window, whose live
view shows the recurrent policy's action probabilities and frames, and whose curve appears when it finishes."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from workbench.core.processes import pid_alive
from workbench.core.levels import Level, LevelSet
from workbench.core.presets import load_preset, save_preset
from workbench.engine.rl2 import evaluate
from workbench.engine.rl2.evaluate import EpisodeIndexStats, WithinTrialCurve, save_curve
from workbench.core.paths import DEFAULT_PRESET
from workbench.ui import within_trial_view
from workbench.ui.within_trial_view import WithinTrialView

LEVELS = ("Airstriker-Genesis-v0:Level1", "Airstriker-Genesis-v0:Level1.Sec08")


def _curve(means: list[float]) -> WithinTrialCurve:
    stats = EpisodeIndexStats(mean=means, std=[0.5] * len(means), n_trials=4, trial_return_mean=sum(means))
    return WithinTrialCurve(episodes_per_trial=len(means), overall=stats, per_task={LEVELS[0]: stats},
                            level_list="test", checkpoint="checkpoints/update_3.pt", global_step=96)


def test_view_follows_the_curve_file(qtbot, tmp_path):
    assert within_trial_view.CURVE_FILE == evaluate.CURVE_FILE
    view = WithinTrialView()
    qtbot.addWidget(view)
    try:
        view.load_run(tmp_path)
        assert view.plotted_means() == [] and "workbench rl2-eval RUN" in view.message.text()
        assert view.evaluate_button.isEnabled()

        save_curve(tmp_path / evaluate.CURVE_FILE, _curve([1.0, 3.0]))
        qtbot.waitUntil(lambda: view.plotted_means() == [1.0, 3.0], timeout=5000)  # the timer saw it appear
        assert "1.00 → 3.00" in view.message.text() and "update_3.pt" in view.message.text()

        save_curve(tmp_path / evaluate.CURVE_FILE, _curve([2.0, 2.5, 4.0]))
        qtbot.waitUntil(lambda: view.plotted_means() == [2.0, 2.5, 4.0], timeout=5000)

        (tmp_path / evaluate.CURVE_FILE).write_text("{not json")
        qtbot.waitUntil(lambda: view.plotted_means() == [], timeout=5000)
        assert str(tmp_path / evaluate.CURVE_FILE) in view.message.text()
        assert "rl2-eval" in view.message.text()  # names the fix

        view.load_run(None)
        assert not view.evaluate_button.isEnabled()
    finally:
        view.shutdown()


def test_evaluate_button_reports_a_run_it_cannot_evaluate(qtbot, tmp_path):
    """The button runs `workbench rl2-eval` in a child process; its one-line error shows in the tab."""
    view = WithinTrialView()
    qtbot.addWidget(view)
    try:
        view.load_run(tmp_path / "no-such-run")
        assert view.evaluate()
        assert view.evaluating and not view.evaluate_button.isEnabled()
        qtbot.waitUntil(lambda: not view.evaluating, timeout=30_000)
        assert view.message.text().startswith("Evaluation failed:") and "no-such-run" in view.message.text()
        assert view.evaluate_button.isEnabled()
    finally:
        view.shutdown()


@pytest.fixture
def tiny_rl2_preset(tmp_path) -> Path:
    preset = load_preset(DEFAULT_PRESET)
    preset.name = "tiny-rl2"
    preset.levels = LevelSet(train=[Level.parse(s) for s in LEVELS], test=[])
    preset.run.algorithm = "rl2"
    preset.run.record_episodes = False
    preset.rl2.episodes_per_trial = 2
    preset.rl2.hidden_size = 32
    preset.rl2.bptt_steps = 8
    preset.rl2.eval_trials = 2
    preset.ppo.n_envs = 2
    preset.ppo.n_steps = 16
    preset.ppo.n_epochs = 1
    preset.ppo.n_minibatches = 1
    preset.ppo.total_steps = 160
    preset.env.max_episode_steps = 20  # trials of 2 x 20 steps: several finish during training and evaluation
    path = tmp_path / "tiny-rl2.toml"
    save_preset(preset, path)
    return path


@pytest.mark.slow
def test_rl2_run_from_the_gui_streams_and_shows_its_within_trial_curve(qtbot, open_window, tiny_rl2_preset):
    window = open_window(tiny_rl2_preset)
    handle = None
    try:
        assert [str(lv) for lv in window.level_panel.level_set.train] == list(LEVELS)
        window.runs_panel.run_name.setText("rl2")
        qtbot.mouseClick(window.runs_panel.start_button, Qt.LeftButton)
        handle = window.controller.selected
        assert handle is not None
        live = window.live_view
        qtbot.waitUntil(lambda: live.frames_shown > 2 and live.steps_shown > 2, timeout=60_000)
        heights = live.bar_heights()  # the GRU policy's action probabilities, as for the feed-forward one
        assert len(heights) == len(handle.hello.action_labels) and abs(heights.sum() - 1) < 1e-3
        assert np.isfinite(live.last_step.value)
        assert window.live_view.image.image.dtype == np.uint8

        states = []
        window.controller.runs_changed.connect(lambda: states.append(handle.state))
        qtbot.waitUntil(lambda: handle.state in ("finished", "failed"), timeout=90_000)
        assert handle.state == "finished", handle.error
        assert "evaluating" in states  # the run said it was playing the evaluation trials
        qtbot.waitUntil(lambda: not pid_alive(handle.pid), timeout=30_000)
        assert (handle.run_dir / evaluate.CURVE_FILE).exists()

        view = window.within_trial_view
        window.tabs.setCurrentWidget(view)
        qtbot.waitUntil(lambda: len(view.plotted_means()) == 2, timeout=10_000)
        curve = view.curve
        assert curve.overall.n_trials == 2 and set(curve.per_task) <= set(LEVELS)
        assert all(np.isfinite(curve.mean)) and curve.level_list == "train"
    finally:
        window.close_policy = "stop"
        window.close()
        if handle is not None and handle.pid and pid_alive(handle.pid):
            os.killpg(handle.pid, signal.SIGKILL)


@pytest.mark.slow
def test_stopping_during_evaluation_keeps_the_run_and_the_button_makes_the_curve(qtbot, open_window, tiny_rl2_preset):
    preset = load_preset(tiny_rl2_preset)
    preset.rl2.eval_trials = 1000  # far more than the test waits for: it stops the evaluation
    preset.ppo.total_steps = 64
    save_preset(preset, tiny_rl2_preset, overwrite=True)
    window = open_window(tiny_rl2_preset)
    handle = None
    try:
        window.runs_panel.run_name.setText("rl2-stop")
        qtbot.mouseClick(window.runs_panel.start_button, Qt.LeftButton)
        handle = window.controller.selected
        qtbot.waitUntil(lambda: handle.state == "evaluating", timeout=90_000)
        assert window.runs_panel.state_of(handle.name) == "evaluating"
        assert handle.stop()  # what closing the window with "Stop runs" sends
        qtbot.waitUntil(lambda: handle.state in ("finished", "failed"), timeout=30_000)
        assert handle.state == "finished", handle.error  # the trained run is kept; only the curve is skipped
        qtbot.waitUntil(lambda: not pid_alive(handle.pid), timeout=30_000)
        assert not (handle.run_dir / evaluate.CURVE_FILE).exists()

        view = window.within_trial_view
        assert "workbench rl2-eval RUN" in view.message.text()
        view.trials.setValue(2)
        qtbot.mouseClick(view.evaluate_button, Qt.LeftButton)
        assert view.evaluating
        qtbot.waitUntil(lambda: len(view.plotted_means()) == 2, timeout=60_000)
        assert view.curve.overall.n_trials == 2
        qtbot.waitUntil(lambda: not view.evaluating, timeout=30_000)
    finally:
        window.close_policy = "stop"
        window.close()
        if handle is not None and handle.pid and pid_alive(handle.pid):
            os.killpg(handle.pid, signal.SIGKILL)
