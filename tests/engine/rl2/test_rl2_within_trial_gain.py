"""The within-trial curve's episode-2-minus-episode-1 difference: paired per trial, with a bootstrap interval that
excludes zero only when episode 2 is reliably better, and survives the curve file's round trip."""
from __future__ import annotations

import numpy as np

from workbench.engine.rl2.evaluate import WithinTrialCurve, load_curve, save_curve, second_minus_first, stats_of


def test_a_reliable_gain_has_an_interval_above_zero_and_noise_does_not():
    rng = np.random.default_rng(0)
    first = rng.normal(10, 3, size=200)
    better = np.stack([first, first + 1 + rng.normal(0, 1, size=200)], axis=1)
    gain = second_minus_first(better)
    assert 0.8 < gain["mean"] < 1.2 and 0 < gain["ci_low"] < gain["mean"] < gain["ci_high"]
    assert gain["confidence"] == 0.95
    # Pairing matters: the same episode-2 returns against unrelated episode-1 ones give a much wider interval.
    unpaired = np.stack([rng.permutation(first), better[:, 1]], axis=1)
    wide = second_minus_first(unpaired)
    assert wide["ci_high"] - wide["ci_low"] > 3 * (gain["ci_high"] - gain["ci_low"])
    same = np.stack([first, first + rng.normal(0, 1, size=200)], axis=1)
    noise = second_minus_first(same)
    assert noise["ci_low"] < 0 < noise["ci_high"]


def test_one_episode_trials_have_no_gain_and_the_file_keeps_it(tmp_path):
    assert second_minus_first(np.ones((5, 1))) is None
    single = second_minus_first(np.array([[1.0, 3.0]]))  # one trial: a mean, nothing to resample
    assert single["mean"] == 2.0 and np.isnan(single["ci_low"]) and np.isnan(single["ci_high"])
    trials = np.array([[1.0, 2.0, 2.5], [2.0, 4.0, 3.0], [0.0, 1.0, 1.0], [3.0, 3.5, 5.0]])
    curve = WithinTrialCurve(episodes_per_trial=3, overall=stats_of(trials), per_task={"a": stats_of(trials[:2])})
    assert curve.overall.second_minus_first["mean"] == 1.125
    save_curve(tmp_path / "rl2_eval.json", curve)
    back = load_curve(tmp_path / "rl2_eval.json")
    assert back.overall.second_minus_first == curve.overall.second_minus_first
    assert back.per_task["a"].second_minus_first["mean"] == 1.5
