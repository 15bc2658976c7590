"""RL² learns to explore and exploit on bandits, trained by the engine's own trainer (CI-sized)."""
from __future__ import annotations

import math

import pytest

from workbench.engine.rl2.bandit import oracle_expected_total, random_expected_total
from workbench.engine.rl2.bandit_run import train_bandit
from workbench.launcher import build_trainer


@pytest.mark.slow
def test_rl2_beats_random_pulls_on_5_armed_10_pull_bandits(monkeypatch):
    monkeypatch.setenv("WORKBENCH_LEARNER_THREADS", "1")  # a 32-unit GRU: threads only add overhead
    updates = []
    # A constant learning rate: annealing over so short a run stops it before it has found its strategy.
    result = train_bandit(5, 10, 60 * 64 * 10, make_trainer=build_trainer, eval_trials=2000, seed=0,
                          hooks=_hooks(updates), anneal_lr=False)
    assert len(updates) == 60 and result.total_steps == 38_400
    # Random pulls earn 5.0 per trial; a trial total varies by ~2.3, so the mean of 2000 trials by ~0.05:
    # 5.4 is eight standard errors above random. (Seeds 0-2 scored 5.58, 5.73, 6.10; always pulling the best
    # arm would earn 8.33, the paper's RL² 6.7, win-stay-lose-shift about 6.3.)
    assert random_expected_total(10) == 5.0
    assert result.score > 5.4, result
    assert result.score < oracle_expected_total(5, 10)
    assert updates[-1]["entropy"] < updates[0]["entropy"]  # it commits to arms rather than pulling at random


def _hooks(updates):
    from workbench.engine.hooks import Hooks

    return Hooks(on_update=[lambda record: updates.append(record.metrics)])


def test_the_learning_curve_is_kept_and_the_best_checkpoint_is_scored(monkeypatch):
    """Seconds: every update is on the curve; the best checkpoint is the one with the highest validation score and
    is scored on the held-out bandits beside the final weights."""
    monkeypatch.setenv("WORKBENCH_LEARNER_THREADS", "1")
    result = train_bandit(3, 5, 6 * 8 * 5, make_trainer=build_trainer, eval_trials=200, n_envs=8, hidden_size=8,
                          architecture="separate", valid_every=2, valid_trials=100, seed=0)
    assert [p["update"] for p in result.curve] == [1, 2, 3, 4, 5, 6]
    assert all(0 <= p["train_return"] <= 5 for p in result.curve)
    # the update's diagnostics ride along: a dead value network (explained variance ~0) shows on the curve
    assert all(0 < p["entropy"] <= math.log(3) + 1e-6 and p["explained_variance"] <= 1 for p in result.curve)
    validated = {p["update"]: p["valid_return"] for p in result.curve if "valid_return" in p}
    assert sorted(validated) == [2, 4, 6]
    assert validated[result.best_update] == max(validated.values())
    assert 0 < result.best_score < 5 and 0 < result.score < 5 and result.n_trials == 200
    assert 0 < result.best_greedy_score < 5 and result.best_greedy_score != result.best_score  # argmax, not samples
