"""RL²'s trial: K episodes on one sampled task (a level, or a fresh bandit) seen by the trainer as ONE episode.

Why one episode: RL² maximises the total return of the whole trial, so the value of the last state of episode 1
must bootstrap from the first state of episode 2 (that is what pays for exploring early). The wrapper therefore
starts the next episode of the trial itself and reports `terminated`/`truncated` only when the trial ends (as
the last episode ended). The inner boundaries travel in `info`, the same keys after `reset()` and `step()`:

- `trial_start` (bool): the returned observation is the first of a trial; the trainer zeroes the recurrent
  state before it (policy `reset` flag). It coincides with the trainer's own episode start.
- `episode_start` (bool): the returned observation is the first of an episode (the policy's "done" input).
- `episode_in_trial` (int): 0-based index of the episode the returned observation belongs to.
- `task` (str): the task of the trial (`Game-v0:State` for a level).
- `episode` (dict, the engine's env contract, when the inner env reports it): passed on from the step that
  finished an inner episode, so the trainer records every episode, not only whole trials.
- `inner_episode` (dict, only on the step that finished an episode): `return` (raw, unscaled), `length`,
  `truncated`, `episode_in_trial`, `task` -- per-episode statistics for the within-trial evaluation.
"""
from __future__ import annotations

from typing import Callable, Generic, Sequence, TypeVar

import gymnasium as gym
import numpy as np

from workbench.engine.rl2.bandit import BernoulliBandit

Task = TypeVar("Task")


class TrialEnv(gym.Env, Generic[Task]):
    """Plays `episodes_per_trial` episodes on one task drawn uniformly from `tasks` at every trial start.

    `make_env(task)` builds the env of a task; it is called again only when the drawn task differs from the
    current one (the old env is closed first: stable-retro allows one emulator per process). Every reset at a
    trial start passes `options={"new_task": True}` so envs with their own task distribution (the bandit) draw
    a fresh task.
    """

    metadata = {"render_modes": []}

    def __init__(self, make_env: Callable[[Task], gym.Env], tasks: Sequence[Task], episodes_per_trial: int,
                 seed: int | None = None):
        if episodes_per_trial < 1:
            raise ValueError(f"episodes_per_trial must be at least 1 (got {episodes_per_trial})")
        if not tasks:
            raise ValueError("a trial env needs at least one task (level) to draw from")
        self._make_env = make_env
        self.tasks = list(tasks)
        self.episodes_per_trial = episodes_per_trial
        self._rng = np.random.default_rng(seed)
        self._seed_next = seed
        self.task: Task = self.tasks[0]
        self.env = make_env(self.task)
        self.observation_space = self.env.observation_space
        self.action_space = self.env.action_space
        self.episode_in_trial = 0
        self._episode_return = 0.0
        self._episode_length = 0
        if hasattr(self.env.unwrapped, "get_frame"):
            # Vec env workers look the screen up once (`env.unwrapped.get_frame`); the level's env changes from
            # trial to trial, so hand them a method that always asks the current one.
            self.get_frame = lambda: self.env.unwrapped.get_frame()

    @property
    def level(self):
        """The level (task) being played; vec envs report it as info['level']."""
        return getattr(self.env.unwrapped, "level", self.task)

    # -- gymnasium API -----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a new trial: draw a task, reset its env with a new task, episode 0."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            self._seed_next = seed
        self._switch_to(self.tasks[int(self._rng.integers(len(self.tasks)))])
        obs, info = self.env.reset(seed=self._take_seed(), options={"new_task": True})
        self.episode_in_trial = 0
        self._start_episode()
        return obs, self._info(info, trial_start=True, episode_start=True)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._episode_return += float(info.get("raw_reward", reward))  # returns are reported unscaled
        self._episode_length += 1
        if not (terminated or truncated):
            return obs, reward, False, False, self._info(info, trial_start=False, episode_start=False)
        finished = {"return": self._episode_return, "length": self._episode_length, "truncated": bool(truncated),
                    "episode_in_trial": self.episode_in_trial, "task": str(self.task)}
        if self.episode_in_trial + 1 >= self.episodes_per_trial:
            info = self._info(info, trial_start=False, episode_start=False)
            info["inner_episode"] = finished
            return obs, reward, bool(terminated), bool(truncated), info
        # Next episode of the same trial, same task: the trainer sees an ordinary step. The finished episode's
        # own statistics (`info["episode"]`, the env contract) still reach the trainer's episode records.
        obs, reset_info = self.env.reset()
        self.episode_in_trial += 1
        self._start_episode()
        info = self._info({**reset_info, **{k: v for k, v in info.items() if k == "episode"}}, trial_start=False,
                          episode_start=True)
        info["inner_episode"] = finished
        return obs, reward, False, False, info

    def close(self):
        self.env.close()

    # -- helpers -----------------------------------------------------------------------------
    def _switch_to(self, task: Task) -> None:
        if task == self.task:
            return
        self.env.close()
        env = self._make_env(task)
        if env.observation_space != self.observation_space or env.action_space != self.action_space:
            env.close()
            raise ValueError(
                f"task {task} has observation space {env.observation_space} and action space {env.action_space}, "
                f"but {self.task} has {self.observation_space} and {self.action_space}; an RL² level set needs "
                "levels whose games share one action set and observation shape")
        self.env, self.task = env, task
        if self._seed_next is None:  # a fresh env gets a seed from our generator, so runs stay reproducible
            self._seed_next = int(self._rng.integers(2**31))

    def _take_seed(self) -> int | None:
        seed, self._seed_next = self._seed_next, None
        return seed

    def _start_episode(self) -> None:
        self._episode_return = 0.0
        self._episode_length = 0

    def _info(self, info: dict, *, trial_start: bool, episode_start: bool) -> dict:
        info = dict(info)
        info.update(trial_start=trial_start, episode_start=episode_start, episode_in_trial=self.episode_in_trial,
                    task=str(self.task))
        return info


class _LevelEnvFactory:
    """Picklable `make_env` for one level at a time (a vec env worker builds its TrialEnv from it)."""

    def __init__(self, env_config, seed: int, worker_index: int, record_dir: str | None):
        self.env_config, self.seed, self.worker_index, self.record_dir = env_config, seed, worker_index, record_dir

    def __call__(self, level) -> gym.Env:
        from workbench.engine.envs.retro import make_env

        return make_env([level], self.env_config, self.seed, self.worker_index, self.record_dir)


def make_level_trial_env(levels: Sequence, env_config, episodes_per_trial: int, seed: int = 0,
                         worker_index: int = 0, record_dir: str | None = None) -> TrialEnv:
    """A TrialEnv over retro levels: each trial draws one of `levels` and plays it `episodes_per_trial` times
    through the engine's full env stack (`envs.make_env`, recording included). The level is drawn by the trial,
    so the stack's own level sampling is fixed to the one level it is built for."""
    import dataclasses

    from workbench.core.levels import Level
    from workbench.catalog.actions import check_compatible

    levels = [lv if isinstance(lv, Level) else Level.parse(str(lv)) for lv in levels]
    check_compatible(list(dict.fromkeys(lv.game for lv in levels)), env_config)
    config = dataclasses.replace(env_config, level_sampling="fixed")
    factory = _LevelEnvFactory(config, seed, worker_index, None if record_dir is None else str(record_dir))
    return TrialEnv(factory, levels, episodes_per_trial, seed=seed + worker_index)


def level_trial_env_thunk(levels: Sequence, env_config, episodes_per_trial: int, seed: int = 0,
                          worker_index: int = 0, record_dir: str | None = None):
    """A picklable zero-argument callable building `make_level_trial_env(...)` (for `ShmVecEnv` workers)."""
    import functools

    return functools.partial(make_level_trial_env, list(levels), env_config, episodes_per_trial, seed, worker_index,
                             None if record_dir is None else str(record_dir))


class _BanditFactory:
    def __init__(self, n_arms: int, n_pulls: int, time_input: bool = False):
        self.n_arms, self.n_pulls, self.time_input = n_arms, n_pulls, time_input

    def __call__(self, _task) -> gym.Env:
        return BernoulliBandit(self.n_arms, self.n_pulls, time_input=self.time_input)


def bandit_trial_env(n_arms: int, n_pulls: int, seed: int | None = None, time_input: bool = False) -> TrialEnv:
    """RL²'s bandit setting: one trial = one episode of `n_pulls` pulls on a freshly drawn k-armed bandit
    (`time_input`: observe the fraction of the trial played, an addition to the paper's inputs).
    Picklable, so `functools.partial(bandit_trial_env, k, n, seed)` is a vec env thunk."""
    return TrialEnv(_BanditFactory(n_arms, n_pulls, time_input), [f"bandit-k{n_arms}-n{n_pulls}"], 1, seed=seed)
