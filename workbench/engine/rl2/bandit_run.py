"""Train RL² on Bernoulli bandits through the engine's own trainer, and score it the paper's way.

The trainer is the one every run uses (`trainer.Trainer`, run.algorithm = 'rl2'); only the envs differ: each env
is a `bandit_trial_env` whose trial is one n-pull episode on a freshly drawn bandit. The score is the mean total
reward of a trial on new bandits (Duan et al. 2016, Table 1).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from workbench.engine.config import PPOConfig, RL2Config, RunConfig


@dataclass
class BanditResult:
    n_arms: int
    n_pulls: int
    total_steps: int
    score: float
    """Mean total reward per trial (n pulls) of the trained policy on fresh bandits."""
    score_std: float
    """Standard deviation of a trial's total."""
    n_trials: int
    train_seconds: float


def bandit_settings(n_arms: int, n_pulls: int, total_steps: int, *, n_envs: int = 64, hidden_size: int = 32,
                    learning_rate: float = 1e-2, seed: int = 0, device: str = "cpu"):
    """PPO settings that learn the bandit task quickly: one rollout = one trial per env (BPTT over the whole
    trial), lambda 0.3 (the per-pull rewards are noisy), Adam at 1e-2 for the small GRU."""
    from workbench.engine.trainer import Settings

    return Settings(
        ppo=PPOConfig(n_envs=n_envs, n_steps=n_pulls, n_minibatches=2, n_epochs=4, learning_rate=learning_rate,
                      gamma=0.99, gae_lambda=0.3, clip_range=0.2, clip_value=False, ent_coef=0.01,
                      total_steps=total_steps, device=device, precision="fp32"),
        rl2=RL2Config(episodes_per_trial=1, hidden_size=hidden_size, bptt_steps=n_pulls),
        run=RunConfig(algorithm="rl2", seed=seed, record_episodes=False))


def train_bandit(n_arms: int, n_pulls: int, total_steps: int, *, eval_trials: int = 1000, n_envs: int = 64,
                 hidden_size: int = 32, learning_rate: float = 1e-2, seed: int = 0, device: str = "cpu",
                 hooks=None) -> BanditResult:
    """Train through `Trainer` (envs stepped in this process: a bandit pull costs microseconds, a worker
    process round trip would dominate), then score on `eval_trials` fresh bandits."""
    import time

    from workbench.engine.inproc_vec_env import InProcessVecEnv
    from workbench.engine.rl2.evaluate import evaluate_within_trial
    from workbench.engine.rl2.trials import bandit_trial_env
    from workbench.engine.trainer import Trainer

    settings = bandit_settings(n_arms, n_pulls, total_steps, n_envs=n_envs, hidden_size=hidden_size,
                               learning_rate=learning_rate, seed=seed, device=device)
    env_fns = [functools.partial(bandit_trial_env, n_arms, n_pulls, seed * 10_000 + i) for i in range(n_envs)]
    start = time.perf_counter()
    trainer = Trainer(settings, env_fns=env_fns, in_process=True, hooks=hooks, device=device)
    trainer.run()
    train_seconds = time.perf_counter() - start
    policy = trainer.policy.eval()
    # Held-out bandits: seeds the training envs never used.
    test_envs = InProcessVecEnv([functools.partial(bandit_trial_env, n_arms, n_pulls, 10**6 + seed * 10_000 + i)
                                 for i in range(min(n_envs, eval_trials))])
    try:
        curve = evaluate_within_trial(policy, test_envs, eval_trials, seed=seed, device=trainer.compute.device)
    finally:
        test_envs.close()
    return BanditResult(n_arms, n_pulls, trainer.global_step, curve.overall.trial_return_mean,
                        curve.overall.std[0], curve.overall.n_trials, train_seconds)
