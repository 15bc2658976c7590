"""Many Bernoulli-bandit trials stepped at once in numpy: the trainer's vec-env interface without a Python loop
over envs (the training and evaluation side of `bench/rl2_bandit.py`).

`BanditVecEnv(n_envs, k, n, time_input=...)` behaves like `InProcessVecEnv` over `n_envs`
`bandit_trial_env(k, n, time_input=...)` (one trial = one n-pull episode on a freshly drawn bandit): the same
observation (a constant 0 as in the paper, or with `time_input` the fraction of the trial's pulls made),
rewards (times `reward_scale`, as a level env scales its own: the trainer learns on the scaled reward and
divides it out of `prev_reward` and its records when the vec env is given to `launcher.build_trainer`),
`terminated` after the n-th pull, same-step auto-reset with `infos[i]["final_obs"]`, and the TrialEnv
info keys (`trial_start`, `episode_start`, `episode_in_trial`, `task`, and at a trial's end `episode` and
`inner_episode`). All trials start together and last n pulls, so they stay in step: one pull counter serves all.
A pull costs well under a microsecond per trial, so thousands of trials per PPO update are affordable. It has the
`vec.base.VecEnv` interface; one generator serves all trials (`reset(seed=s)` seeds it with s), and there are no
frames.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np


class BanditVecEnv:
    def __init__(self, n_envs: int, n_arms: int, n_pulls: int, seed: int | None = None, time_input: bool = False,
                 reward_scale: float = 1.0):
        if n_envs < 1 or n_arms < 2 or n_pulls < 1:
            raise ValueError(f"a bandit vec env needs at least 1 env, 2 arms and 1 pull (got n_envs={n_envs}, "
                             f"n_arms={n_arms}, n_pulls={n_pulls})")
        self.num_envs, self.n_arms, self.n_pulls = n_envs, n_arms, n_pulls
        if not reward_scale > 0:
            raise ValueError(f"a bandit's reward_scale must be > 0 (got {reward_scale})")
        self.time_input, self.reward_scale = time_input, float(reward_scale)
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(n_arms)
        self.task = f"bandit-k{n_arms}-n{n_pulls}"
        self._rng = np.random.default_rng(seed)
        self.arm_probs = np.zeros((n_envs, n_arms))
        self._pulls = 0
        self._returns = np.zeros(n_envs)
        self._rows = np.arange(n_envs)
        self._actions: np.ndarray | None = None
        # Mid-trial steps all report the same info; one shared dict (the trainer only reads infos).
        self._step_info = {"trial_start": False, "episode_start": False, "episode_in_trial": 0, "task": self.task}

    def reset(self, seed: int | None = None) -> np.ndarray:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._new_trials()
        return self._obs()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.int64)

    def step_wait(self):
        assert self._actions is not None, "step_wait without step_async"
        if self._actions.shape != (self.num_envs,) or not ((0 <= self._actions) & (self._actions < self.n_arms)).all():
            raise ValueError(f"expected {self.num_envs} arm indices in [0, {self.n_arms}), got {self._actions!r}")
        paid = self._rng.random(self.num_envs) < self.arm_probs[self._rows, self._actions]
        self._actions = None
        self._pulls += 1
        self._returns += paid  # episode totals stay in pulls won, as level envs report raw returns
        rewards = paid.astype(np.float32) * np.float32(self.reward_scale)
        n = self.num_envs
        if self._pulls < self.n_pulls:
            return self._obs(), rewards, np.zeros(n, bool), np.zeros(n, bool), [self._step_info] * n
        final_obs = self._obs()
        infos = []
        for i, total in enumerate(self._returns.tolist()):
            infos.append({**self._step_info, "final_obs": final_obs[i],
                          "episode": {"r": total, "l": self.n_pulls, "level": self.task, "truncated": False,
                                      "movie": None},
                          "inner_episode": {"return": total, "length": self.n_pulls, "truncated": False,
                                            "episode_in_trial": 0, "task": self.task}})
        self._new_trials()
        return self._obs(), rewards, np.ones(n, bool), np.zeros(n, bool), infos

    def step(self, actions: np.ndarray):
        self.step_async(actions)
        return self.step_wait()

    # a bandit has no screen: no frames (`vec.base.VecEnv`)
    def watch(self, index: int | None) -> None:
        if index is not None and not 0 <= index < self.num_envs:
            raise IndexError(f"env index {index} out of range 0..{self.num_envs - 1}")

    @property
    def watched(self) -> None:
        return None

    def frame(self) -> None:
        return None

    def frame_shm_name(self) -> None:
        return None

    def close(self) -> None:
        pass

    def _new_trials(self) -> None:
        self.arm_probs = self._rng.uniform(0.0, 1.0, size=(self.num_envs, self.n_arms))
        self._pulls = 0
        self._returns[:] = 0.0

    def _obs(self) -> np.ndarray:
        return np.full((self.num_envs, 1), self._pulls / self.n_pulls if self.time_input else 0.0, dtype=np.float32)
