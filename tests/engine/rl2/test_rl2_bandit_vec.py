"""The batched bandit env keeps the contract of `bandit_trial_env` stepped by `InProcessVecEnv` (what the trainer
and the within-trial evaluation read), while stepping every trial in one numpy call."""
from __future__ import annotations

import functools

import numpy as np
import pytest

from workbench.engine.vec.in_process import InProcessVecEnv
from workbench.engine.rl2.bandit_vec import BanditVecEnv
from workbench.engine.rl2.trials import bandit_trial_env


@pytest.mark.parametrize("time_input", [False, True], ids=["paper", "time-fraction"])
def test_batched_bandits_report_what_trial_envs_report(time_input):
    k, n, envs = 3, 4, 5
    batched = BanditVecEnv(envs, k, n, seed=0, time_input=time_input)
    looped = InProcessVecEnv([functools.partial(bandit_trial_env, k, n, i, time_input) for i in range(envs)])
    assert batched.observation_space == looped.observation_space
    assert batched.action_space == looped.action_space
    obs_b, obs_l = batched.reset(seed=1), looped.reset(seed=1)
    assert obs_b.shape == obs_l.shape == (envs, 1) and (obs_b == 0).all() and (obs_l == 0).all()
    actions = np.arange(envs) % k
    for t in range(1, n + 1):
        out_b, out_l = batched.step(actions), looped.step(actions)
        for part_b, part_l in zip(out_b[:4], out_l[:4]):  # obs, rewards, terminated, truncated
            assert part_b.shape == part_l.shape and part_b.dtype == part_l.dtype
        assert (out_b[2] == (t == n)).all() and (out_l[2] == (t == n)).all() and not out_b[3].any()
        for info_b, info_l in zip(out_b[4], out_l[4]):
            assert set(info_b) == set(info_l) - {"arm_probs"}
            assert not info_b["trial_start"] and not info_b["episode_start"] and info_b["episode_in_trial"] == 0
        # Same-step auto-reset: the first observation of the next trial, the last one in final_obs.
        expected_obs = 0.0 if t == n or not time_input else t / n
        assert np.allclose(out_b[0], expected_obs) and np.allclose(out_l[0], expected_obs)
    for info, reward_total in zip(out_b[4], out_b[1]):
        assert info["final_obs"][0] == (1.0 if time_input else 0.0)
        assert info["episode"]["l"] == info["inner_episode"]["length"] == n
        assert info["episode"]["r"] == info["inner_episode"]["return"]
        assert info["task"] == "bandit-k3-n4" == looped.envs[0].task
    looped.close()


def test_each_pull_pays_at_the_pulled_arms_probability_and_trials_draw_new_bandits():
    env = BanditVecEnv(2000, 2, 3, seed=5)
    env.reset()
    probs = env.arm_probs.copy()
    assert probs.shape == (2000, 2) and ((0 <= probs) & (probs <= 1)).all()
    _, rewards, *_ = env.step(np.ones(2000, np.int64))
    assert set(np.unique(rewards)) <= {0.0, 1.0}
    # 2000 Bernoulli draws: the total's standard deviation is below 23, so 5 sigma is about 115.
    assert abs(rewards.sum() - probs[:, 1].sum()) < 115
    env.step(np.zeros(2000, np.int64))
    assert np.array_equal(env.arm_probs, probs)  # the same bandit within a trial
    env.step(np.zeros(2000, np.int64))  # the trial's last pull: new bandits for the next trial
    assert not np.array_equal(env.arm_probs, probs)
    again = BanditVecEnv(2000, 2, 3)
    again.reset(seed=5)
    assert np.array_equal(again.arm_probs, probs)  # a seed fixes the bandits (held-out scores share them)


def test_bad_actions_and_sizes_are_refused_with_the_reason():
    env = BanditVecEnv(2, 3, 4)
    env.reset()
    with pytest.raises(ValueError, match=r"arm indices in \[0, 3\)"):
        env.step(np.array([0, 3]))
    with pytest.raises(ValueError, match="n_arms=1"):
        BanditVecEnv(2, 1, 4)
    with pytest.raises(ValueError, match="reward_scale must be > 0"):
        BanditVecEnv(2, 3, 4, reward_scale=0.0)


def test_a_reward_scale_scales_what_ppo_learns_on_and_nothing_the_policy_or_the_records_see(monkeypatch):
    """The bandit's `reward_scale` works like a level env's: scaled rewards (and value targets) for PPO, the raw 0/1
    reward as the policy's input and in every record."""
    from workbench.engine.hooks import Hooks
    from workbench.engine.rl2.bandit_run import bandit_settings
    from workbench.launcher import build_trainer

    env = BanditVecEnv(64, 3, 5, seed=0, reward_scale=0.25)
    env.reset(seed=0)
    rewards = np.concatenate([env.step(np.zeros(64, np.int64))[1] for _ in range(4)])
    assert set(rewards.tolist()) == {0.0, 0.25}
    *_, infos = env.step(np.zeros(64, np.int64))
    totals = [info["episode"]["r"] for info in infos]
    assert all(float(t).is_integer() for t in totals) and max(totals) > 1  # pulls won, not scaled

    monkeypatch.setenv("WORKBENCH_LEARNER_THREADS", "1")
    episodes = []
    trainer = build_trainer(bandit_settings(3, 5, 2 * 8 * 5, n_envs=8, hidden_size=8, architecture="separate"),
                            vec_env=BanditVecEnv(8, 3, 5, seed=0, reward_scale=0.25),
                            hooks=Hooks(on_episode=[episodes.append]), device="cpu")
    assert trainer.reward_scale == 0.25
    trainer.run()
    seen = set()
    for _ in range(3):  # mid-trial steps: the reward the GRU gets next is the raw one
        trainer.acting.step()
        seen |= set(trainer.acting.inputs.prev_reward.tolist())
    assert seen == {0.0, 1.0}
    assert all(float(e.episode_return).is_integer() for e in episodes) and len(episodes) == 16


@pytest.mark.parametrize("n_pulls", [10, 100])
def test_each_table1_budget_builds_valid_settings_with_its_ppo_overrides(n_pulls):
    """The bench's default budgets are data: a misspelt PPO field or a bad value fails here, not after a run."""
    from workbench.engine.rl2.bandit_run import TABLE1_BUDGETS, bandit_settings

    budget = TABLE1_BUDGETS[n_pulls]
    settings = bandit_settings(5, n_pulls, budget.updates * budget.n_envs * n_pulls, n_envs=budget.n_envs,
                               hidden_size=budget.hidden_size, learning_rate=budget.learning_rate,
                               architecture="separate", **dict(budget.ppo))
    for field, value in budget.ppo:
        assert getattr(settings.ppo, field) == value
    assert budget.reward_scale > 0 and settings.ppo.n_steps == n_pulls
