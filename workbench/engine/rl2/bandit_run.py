"""Train RL² on Bernoulli bandits through the engine's own trainer, and score it the paper's way.

The trainer is the one every run uses (`trainer.Trainer`, run.algorithm = 'rl2': PPO with back-propagation
through the recurrent policy); only the envs differ: a `BanditVecEnv` steps all trials at once (one trial = one
n-pull episode on a freshly drawn bandit), so an update can afford hundreds of trials. The score is the mean
total reward of a trial on new bandits (Duan et al. 2016, Table 1).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

from workbench.core.settings import PPOConfig, RL2Config, RunConfig, Settings
from workbench.engine.rl2.bandit_vec import BanditVecEnv

EVAL_SEED = 10**6
"""Seed of the held-out bandits every score is played on (training draws from `seed` instead)."""



@dataclass(frozen=True)
class Budget:
    """How long to train one bandit setting: `updates` PPO updates of `n_envs` trials in `n_minibatches`, each
    rollout used for `n_epochs`, a GRU of `hidden_size` units (per GRU), the policy scored on validation bandits
    every `valid_every` updates (0: never) to pick the best checkpoint, rewards scaled by `reward_scale` for PPO
    (`train_bandit`), and `ppo`: (field, value) pairs overriding `bandit_settings`' PPO fields."""

    updates: int
    n_envs: int = 64
    n_minibatches: int = 2
    n_epochs: int = 4
    hidden_size: int = 32
    learning_rate: float = 1e-2
    valid_every: int = 0
    reward_scale: float = 1.0
    ppo: tuple[tuple[str, object], ...] = ()


TABLE1_BUDGETS = {
    10: Budget(updates=300, n_envs=256, n_minibatches=1, hidden_size=64, learning_rate=1e-2, valid_every=25),
    # n = 100: the value GRU only learns its targets scaled down (at 0/1 rewards it put out one constant and the
    # agent stayed myopic, ~72), and with a working value GAE λ 0.95 and entropy 0.02 beat the paper's λ 0.3
    100: Budget(updates=900, n_envs=256, n_minibatches=1, hidden_size=64, learning_rate=5e-3, valid_every=10,
                reward_scale=0.1, ppo=(("gae_lambda", 0.95), ("ent_coef", 0.02)))}
"""The budget `bench/rl2_bandit.py` trains each trial length n with (see the README's RL² section for what it
measured and how long it took)."""


@dataclass
class BanditResult:
    n_arms: int
    n_pulls: int
    total_steps: int
    score: float
    """Mean total reward per trial (n pulls) of the final policy on the held-out bandits (seed EVAL_SEED)."""
    score_std: float
    """Standard deviation of a trial's total (final policy)."""
    n_trials: int
    train_seconds: float
    best_score: float = float("nan")
    """The same score for the best checkpoint: the weights whose validation score (on other bandits, seed
    VALID_SEED, so the held-out ones never pick it) was highest during training; nan without validation."""
    best_update: int = 0
    """The update the best checkpoint was taken after."""
    best_greedy_score: float = float("nan")
    """The best checkpoint's score when it pulls its most likely arm instead of sampling (not the paper's way:
    what the policy's leftover randomness costs); nan without validation."""
    curve: list[dict] = field(default_factory=list)
    """The learning curve: per update {update, global_step, train_return (mean trial total of the rollout), the
    `DIAGNOSTICS` the update reported}, and `valid_return` on validation updates."""


VALID_SEED = 10**6 + 1
"""Seed of the validation bandits that pick the best checkpoint (never the held-out EVAL_SEED ones)."""


DIAGNOSTICS = ("entropy", "explained_variance", "approx_kl", "clip_fraction", "grad_norm", "value_loss")
"""Update metrics the learning curve keeps beside the return, to tell a collapsed policy from a poor baseline."""


class _Tracker:
    """Trainer hook: the learning curve, and every `every` updates a validation score with the best weights kept."""

    def __init__(self, n_arms: int, n_pulls: int, every: int, trials: int, env_options: dict, log=None):
        self.n_arms, self.n_pulls, self.every, self.trials = n_arms, n_pulls, every, trials
        self.env_options = env_options
        self.policy = None
        self.device = "cpu"
        self.log = log
        self.curve: list[dict] = []
        self.best_score, self.best_update, self.best_state = -float("inf"), 0, None

    def validate(self) -> float:
        from workbench.engine.rl2.evaluate import evaluate_within_trial

        training = self.policy.training
        self.policy.eval()
        curve = evaluate_within_trial(self.policy, BanditVecEnv(self.trials, self.n_arms, self.n_pulls,
                                                                **self.env_options),
                                      self.trials, seed=VALID_SEED, device=self.device,
                                      reward_scale=self.env_options["reward_scale"])
        self.policy.train(training)
        return curve.overall.trial_return_mean

    def on_update(self, record) -> None:
        point = {"update": record.update, "global_step": record.global_step,
                 "train_return": record.metrics.get("mean_return", float("nan"))}
        point.update({k: record.metrics[k] for k in DIAGNOSTICS if k in record.metrics})
        if self.every and self.policy is not None and record.update % self.every == 0:
            point["valid_return"] = score = self.validate()
            if score > self.best_score:
                self.best_score, self.best_update = score, record.update
                self.best_state = copy.deepcopy(self.policy.state_dict())
            if self.log is not None:
                self.log(f"  update {record.update}: train {point['train_return']:.2f}, valid {score:.2f} "
                         f"(best {self.best_score:.2f} at update {self.best_update}), entropy "
                         f"{point.get('entropy', float('nan')):.3f}, explained variance "
                         f"{point.get('explained_variance', float('nan')):.2f}")
        self.curve.append(point)


def bandit_settings(n_arms: int, n_pulls: int, total_steps: int, *, n_envs: int = 64, hidden_size: int = 32,
                    learning_rate: float = 1e-2, bptt_steps: int | None = None, seed: int = 0, device: str = "cpu",
                    architecture: str = "shared", **ppo):
    """PPO settings that learn the bandit task (single runs of n=100 k=5 measured with `bench/rl2_bandit.py`'s
    code; `ppo` overrides any other PPOConfig field):

    - one rollout = one trial per env, back-propagation through the whole trial (segments of 10 learned less);
    - vf_coef 0.02 with architecture 'shared': the GRU is shared by the policy and value heads, and at n = 100
      the value errors (returns up to ~50) swamp the policy gradient in Adam's step sizes (vf_coef 0.5: no
      learning at all); with 'separate' GRUs no value gradient reaches the policy and vf_coef is the usual 0.5;
    - gae_lambda 0.3 (the paper's): advantages close to the one-step TD error, whose noise is one pull's. That
      holds while the value is poor (with the shared GRU 0.6 did not learn); once the value GRU learns (rewards
      scaled for PPO, `train_bandit(reward_scale=...)`) n = 100 did better at 0.95 (`TABLE1_BUDGETS`);
    - many small updates beat few big ones (256 trials x 50 updates failed where 64 x 150 learned), with the
      learning rate annealed to zero so the end of training settles on a strategy;
    - overlap off: the update is the cost and the rollout of 64 trials cheap, so overlapping saves little, and
      without it a seed gives the same result on every run (one n=10 comparison: 5.97 with, 6.06 without)."""
    base = dict(n_envs=n_envs, n_steps=n_pulls, n_minibatches=2, n_epochs=4, learning_rate=learning_rate,
                anneal_lr=True, gamma=0.99, gae_lambda=0.3, clip_range=0.2, clip_value=False, ent_coef=0.01,
                vf_coef=0.02 if architecture == "shared" else 0.5, total_steps=total_steps, device=device,
                precision="fp32", overlap=False)
    base.update(ppo)
    return Settings(
        ppo=PPOConfig(**base),
        rl2=RL2Config(episodes_per_trial=1, hidden_size=hidden_size, bptt_steps=bptt_steps or n_pulls,
                      architecture=architecture),
        run=RunConfig(algorithm="rl2", seed=seed, record_episodes=False))


def train_bandit(n_arms: int, n_pulls: int, total_steps: int, *, make_trainer, eval_trials: int = 1000,
                 n_envs: int = 64, hidden_size: int = 32, learning_rate: float = 1e-2, bptt_steps: int | None = None,
                 seed: int = 0, device: str = "cpu", hooks=None, architecture: str = "shared",
                 time_input: bool = False, reward_scale: float = 1.0, valid_every: int = 0, valid_trials: int = 1000,
                 log=None, **ppo) -> BanditResult:
    """Train for `total_steps` pulls with the trainer `make_trainer` (`launcher.build_trainer`) builds around a
    `BanditVecEnv` (all trials stepped in this process: a pull costs microseconds, a worker process round trip
    would dominate), then score the final weights on `eval_trials` held-out bandits. With `valid_every` > 0 the
    policy is also scored every that many updates on `valid_trials` validation bandits and the best weights are
    scored on the held-out bandits too (`best_score`); `log(line)` gets a progress line at each validation.
    `reward_scale` scales the rewards PPO learns on (the value targets), not the policy's reward input."""
    import time

    from workbench.engine.hooks import Hooks
    from workbench.engine.rl2.evaluate import evaluate_within_trial

    settings = bandit_settings(n_arms, n_pulls, total_steps, n_envs=n_envs, hidden_size=hidden_size,
                               learning_rate=learning_rate, bptt_steps=bptt_steps, seed=seed, device=device,
                               architecture=architecture, **ppo)
    env_options = dict(time_input=time_input, reward_scale=reward_scale)  # every bandit env here, alike
    tracker = _Tracker(n_arms, n_pulls, valid_every, valid_trials, env_options, log)
    start = time.perf_counter()
    trainer = make_trainer(settings, vec_env=BanditVecEnv(n_envs, n_arms, n_pulls, seed=seed, **env_options),
                           hooks=Hooks(on_update=[tracker.on_update]).extend(hooks), device=device)
    tracker.policy, tracker.device = trainer.policy, trainer.compute.device
    trainer.run()
    train_seconds = time.perf_counter() - start
    policy = trainer.policy.eval()

    def score(weights=None, greedy=False):
        if weights is not None:
            policy.load_state_dict(weights)
        return evaluate_within_trial(policy, BanditVecEnv(eval_trials, n_arms, n_pulls, **env_options), eval_trials,
                                     seed=EVAL_SEED, device=trainer.compute.device, reward_scale=reward_scale,
                                     greedy=greedy).overall

    final = score()
    result = BanditResult(n_arms, n_pulls, trainer.global_step, final.trial_return_mean, final.std[0],
                          final.n_trials, train_seconds, curve=tracker.curve)
    if tracker.best_state is not None:
        result.best_score, result.best_update = score(tracker.best_state).trial_return_mean, tracker.best_update
        result.best_greedy_score = score(greedy=True).trial_return_mean  # the best weights are loaded now
    return result
