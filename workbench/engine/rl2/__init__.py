"""RL² (Duan et al. 2016): a recurrent policy trained by PPO over trials of K episodes on one sampled task.

- `bandit`: Bernoulli multi-armed bandits (the paper's first test bed);
- `trials`: `TrialEnv`, the wrapper that turns K episodes on one sampled level into one trainer episode;
- `policy`: `RecurrentActorCritic`, a GRU over observation features, previous action, reward and done flag;
- `evaluate`: the within-trial curve (mean return of episode 1..K) on held-out levels.
"""
