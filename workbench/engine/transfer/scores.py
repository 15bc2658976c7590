"""Scores with 95% confidence intervals across seeds: `scipy.stats.bootstrap` (percentile intervals), stratified
over levels for the benchmark mean, as rliable does (Agarwal et al. 2021, "Deep RL at the edge of the statistical
precipice"): each level's seed scores are resampled on their own, and the statistic is the mean over levels of
the resampled level means. Transfer gain = fine-tuned / scratch, its interval from the same resampling of both.

What a percentile interval over n seeds can say: with 3 seeds, every level interval is [lowest seed, highest seed]
(a resample of three equal draws has probability 1/27 > 2.5% at each end), so it shows the spread of three runs,
not a tight bound; the benchmark mean's interval, over levels x seeds, is narrower. One seed gives no interval.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

CONFIDENCE = 0.95
N_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
"""The resampling is seeded: the same episodes give the same table."""


@dataclass(frozen=True)
class Estimate:
    """A score (mean) and its confidence interval; NaN and an `error` where there is no number to give."""

    mean: float
    low: float = float("nan")
    high: float = float("nan")
    error: str | None = None

    @classmethod
    def missing(cls, error: str) -> "Estimate":
        return cls(float("nan"), error=error)


def _interval(samples: Sequence[np.ndarray], statistic: Callable) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic(*samples, axis=-1)`, each sample resampled on its own."""
    from scipy.stats import DegenerateDataWarning, bootstrap

    if any(len(s) < 2 for s in samples):
        return float("nan"), float("nan")  # one seed: nothing to resample
    if all(np.ptp(s) == 0 for s in samples):
        point = float(statistic(*samples, axis=-1))
        return point, point  # every resample is the same number
    # A resample can make a statistic undefined (a ratio whose resampled scratch mean is 0): scipy then returns
    # NaN ends (with a warning about BCa, whatever the method), and the table shows the score without an interval.
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateDataWarning)
        res = bootstrap(tuple(np.asarray(s, float) for s in samples), statistic, n_resamples=N_RESAMPLES,
                        confidence_level=CONFIDENCE, method="percentile", vectorized=True, paired=False,
                        rng=np.random.default_rng(BOOTSTRAP_SEED))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _mean_of_means(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean([s.mean(axis=axis) for s in samples], axis=0)


def mean_estimate(per_level: Sequence[Sequence[float]]) -> Estimate:
    """Mean over levels of the mean over seeds, with its stratified interval (one level: the interval across its
    seeds). Every score must be a number: callers report missing ones as errors first."""
    samples = [np.asarray(s, float) for s in per_level]
    return Estimate(float(_mean_of_means(*samples)), *_interval(samples, _mean_of_means))


def gain_estimate(finetune: Sequence[Sequence[float]], scratch: Sequence[Sequence[float]]) -> Estimate:
    """(mean fine-tuned score) / (mean scratch score) over the same levels, with its stratified interval. A ratio
    of scores means something only when the scratch score is above 0 (returns of Pong are not)."""
    ft = [np.asarray(s, float) for s in finetune]
    sc = [np.asarray(s, float) for s in scratch]
    n = len(ft)
    denominator = float(_mean_of_means(*sc))
    if not denominator > 0:
        return Estimate.missing(f"scratch score {denominator:.4g} is not above 0: fine-tuned / scratch has no "
                                "meaning; compare the scores")

    def ratio(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        return _mean_of_means(*samples[:n], axis=axis) / _mean_of_means(*samples[n:], axis=axis)

    point = float(_mean_of_means(*ft)) / denominator
    low, high = _interval(ft + sc, ratio)
    return Estimate(point, low, high)


def is_number(x: float) -> bool:
    return isinstance(x, (int, float)) and not math.isnan(x)
