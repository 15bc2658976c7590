"""The bandit and the trial wrapper: K episodes on one task are one trainer episode, with the inner boundaries
and trial starts reported in `info`."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from workbench.engine.rl2.bandit import BernoulliBandit, oracle_expected_total, random_expected_total
from workbench.engine.rl2.trials import TrialEnv


def test_bandit_pays_each_arm_at_its_probability_and_ends_after_n_pulls():
    env = BernoulliBandit(n_arms=3, n_pulls=4000)
    _, info = env.reset(seed=1)
    probs = info["arm_probs"]
    assert probs.shape == (3,) and ((0 <= probs) & (probs <= 1)).all()
    rewards = {arm: [] for arm in range(3)}
    for t in range(4000):
        _, r, terminated, truncated, _ = env.step(t % 3)
        rewards[t % 3].append(r)
        assert terminated == (t == 3999) and not truncated
    for arm in range(3):
        assert set(rewards[arm]) <= {0.0, 1.0}
        assert abs(np.mean(rewards[arm]) - probs[arm]) < 0.05  # ~1333 pulls: 4 sigma is about 0.055 at p=0.5


def test_bandit_draws_new_arms_only_for_a_new_task():
    env = BernoulliBandit(n_arms=5, n_pulls=3)
    _, first = env.reset(seed=0)
    _, same = env.reset()
    _, new = env.reset(options={"new_task": True})
    assert np.array_equal(first["arm_probs"], same["arm_probs"])
    assert not np.array_equal(first["arm_probs"], new["arm_probs"])
    assert random_expected_total(10) == 5.0 and oracle_expected_total(5, 10) == pytest.approx(50 / 6)


def test_trial_is_one_trainer_episode_of_k_inner_episodes():
    k, n = 3, 4
    env = TrialEnv(lambda _: BernoulliBandit(n_arms=2, n_pulls=n), [None], episodes_per_trial=k, seed=3)
    for trial in range(2):
        _, info = env.reset()
        assert info["trial_start"] and info["episode_start"] and info["episode_in_trial"] == 0
        probs = info["arm_probs"]
        inner = []
        total = 0.0
        for t in range(1, k * n + 1):
            _, r, terminated, truncated, info = env.step(0)
            total += r
            assert not info["trial_start"] and not truncated
            assert terminated == (t == k * n)
            assert info["episode_start"] == (t % n == 0 and t < k * n)
            if "inner_episode" in info:
                inner.append(info["inner_episode"])
                assert info["episode"]["r"] == info["inner_episode"]["return"]  # the trainer's episode record
            if info["episode_start"]:  # the next episode of the same trial keeps the same bandit
                assert np.array_equal(info["arm_probs"], probs)
                assert info["episode_in_trial"] == t // n
        assert [e["episode_in_trial"] for e in inner] == list(range(k))
        assert [e["length"] for e in inner] == [n] * k
        assert sum(e["return"] for e in inner) == total
        if trial == 0:
            first_probs = probs
    assert not np.array_equal(first_probs, probs)  # a new trial draws a new bandit


class _Made:
    """Records which tasks' envs were built and closed (the factory itself is real: it builds real bandits)."""

    def __init__(self):
        self.made: list[str] = []
        self.closed: list[str] = []

    def __call__(self, task: str) -> gym.Env:
        self.made.append(task)
        env = BernoulliBandit(n_arms=2, n_pulls={"short": 2, "long": 5}[task])
        made = self

        class Closing(gym.Wrapper):
            def close(self):
                made.closed.append(task)
                super().close()

        return Closing(env)


def test_trial_env_draws_a_task_per_trial_and_rebuilds_only_on_change():
    factory = _Made()
    env = TrialEnv(factory, ["short", "long"], episodes_per_trial=2, seed=0)
    lengths = {}
    for _ in range(12):
        _, info = env.reset()
        task = info["task"]
        steps, done = 0, False
        while not done:
            _, _, terminated, truncated, info = env.step(1)
            steps += 1
            done = terminated or truncated
        lengths.setdefault(task, set()).add(steps)
    env.close()
    assert lengths == {"short": {4}, "long": {10}}  # both drawn, each trial = 2 episodes of its own task
    switches = sum(a != b for a, b in zip(factory.made, factory.made[1:]))
    assert switches == len(factory.made) - 1  # never rebuilt for the task it already had
    assert len(factory.closed) == len(factory.made)


def test_trial_env_refuses_tasks_with_different_action_spaces():
    env = TrialEnv(lambda k: BernoulliBandit(n_arms=k, n_pulls=2), [2, 3], episodes_per_trial=1, seed=0)
    with pytest.raises(ValueError, match="action set"):
        for _ in range(20):
            env.reset()
