"""RL² (Duan et al. 2016): a recurrent policy trained by PPO over trials of K episodes on one sampled task.

- `bandit`: Bernoulli multi-armed bandits (the paper's first test bed);
- `bandit_vec`: `BanditVecEnv`, many bandit trials stepped at once in numpy (the trainer's vec-env interface);
- `bandit_run`: train RL² on bandits through the engine's `Trainer` and score it as the paper's Table 1;
- `trials`: `TrialEnv`, the wrapper that turns K episodes on one sampled level into one trainer episode;
- `policy`: `RecurrentActorCritic`, a GRU over observation features, previous action, reward and done flag;
- `evaluate`: the within-trial curve (mean return of episode 1..K) on held-out levels.
"""
