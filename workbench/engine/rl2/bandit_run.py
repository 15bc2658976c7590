"""Train RL² on Bernoulli bandits through the engine's own trainer, and score it the paper's way.

The trainer is the one every run uses (`trainer.Trainer`, run.algorithm = 'rl2': PPO with back-propagation
through the recurrent policy); only the envs differ: a `BanditVecEnv` steps all trials at once (one trial = one
n-pull episode on a freshly drawn bandit), so an update can afford hundreds of trials. The score is the mean
total reward of a trial on new bandits (Duan et al. 2016, Table 1).
"""
from __future__ import annotations

from dataclasses import dataclass

from workbench.core.settings import PPOConfig, RL2Config, RunConfig, Settings
from workbench.engine.rl2.bandit_vec import BanditVecEnv

EVAL_SEED = 10**6
"""Seed of the held-out bandits every score is played on (training draws from `seed` instead)."""



@dataclass(frozen=True)
class Budget:
    """How long to train one bandit setting: `updates` PPO updates of `n_envs` trials in `n_minibatches`."""

    updates: int
    n_envs: int = 64
    n_minibatches: int = 2


TABLE1_BUDGETS = {10: Budget(updates=300, n_envs=256, n_minibatches=4), 100: Budget(updates=250)}
"""The budget `bench/rl2_bandit.py` trains each trial length n with (about 1 and 4 minutes on one core).
Short trials are cheap to update on, so more trials per update buy a less noisy gradient (64 trials x 150
updates: 5.77 and 6.21 at n=10 k=5, 256 x 150: 6.46 and 6.42); at n=100, 64 trials x 250 updates."""


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
                    learning_rate: float = 1e-2, bptt_steps: int | None = None, seed: int = 0, device: str = "cpu",
                    **ppo):
    """PPO settings that learn the bandit task (single runs of n=100 k=5 measured with `bench/rl2_bandit.py`'s
    code; `ppo` overrides any other PPOConfig field):

    - one rollout = one trial per env, back-propagation through the whole trial (segments of 10 learned less);
    - vf_coef 0.02: the GRU is shared by the policy and value heads, and at n = 100 the value errors (returns
      up to ~50) swamp the policy gradient in Adam's step sizes (vf_coef 0.5: no learning at all);
    - gae_lambda 0.3: advantages close to the one-step TD error, whose noise is one pull's (0.6: no learning);
    - many small updates beat few big ones (256 trials x 50 updates failed where 64 x 150 learned), with the
      learning rate annealed to zero so the end of training settles on a strategy;
    - overlap off: the update is the cost and the rollout of 64 trials cheap, so overlapping saves little, and
      without it a seed gives the same result on every run (one n=10 comparison: 5.97 with, 6.06 without)."""
    base = dict(n_envs=n_envs, n_steps=n_pulls, n_minibatches=2, n_epochs=4, learning_rate=learning_rate,
                anneal_lr=True, gamma=0.99, gae_lambda=0.3, clip_range=0.2, clip_value=False, ent_coef=0.01,
                vf_coef=0.02, total_steps=total_steps, device=device, precision="fp32", overlap=False)
    base.update(ppo)
    return Settings(
        ppo=PPOConfig(**base),
        rl2=RL2Config(episodes_per_trial=1, hidden_size=hidden_size, bptt_steps=bptt_steps or n_pulls),
        run=RunConfig(algorithm="rl2", seed=seed, record_episodes=False))


def train_bandit(n_arms: int, n_pulls: int, total_steps: int, *, make_trainer, eval_trials: int = 1000,
                 n_envs: int = 64, hidden_size: int = 32, learning_rate: float = 1e-2, bptt_steps: int | None = None,
                 seed: int = 0, device: str = "cpu", hooks=None, **ppo) -> BanditResult:
    """Train for `total_steps` pulls with the trainer `make_trainer` (`launcher.build_trainer`) builds around a
    `BanditVecEnv` (all trials stepped in this process: a pull costs microseconds, a worker process round trip
    would dominate), then score on `eval_trials` fresh bandits."""
    import time

    from workbench.engine.rl2.evaluate import evaluate_within_trial

    settings = bandit_settings(n_arms, n_pulls, total_steps, n_envs=n_envs, hidden_size=hidden_size,
                               learning_rate=learning_rate, bptt_steps=bptt_steps, seed=seed, device=device, **ppo)
    start = time.perf_counter()
    trainer = make_trainer(settings, vec_env=BanditVecEnv(n_envs, n_arms, n_pulls, seed=seed), hooks=hooks,
                           device=device)
    trainer.run()
    train_seconds = time.perf_counter() - start
    policy = trainer.policy.eval()
    curve = evaluate_within_trial(policy, BanditVecEnv(eval_trials, n_arms, n_pulls), eval_trials,
                                  seed=EVAL_SEED, device=trainer.compute.device)
    return BanditResult(n_arms, n_pulls, trainer.global_step, curve.overall.trial_return_mean,
                        curve.overall.std[0], curve.overall.n_trials, train_seconds)

