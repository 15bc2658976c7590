"""The env factory: a stable-retro emulator playing one or more levels, wrapped for learning.

`make_env(levels, env_config, seed, worker_index, record_dir)` builds, from the inside out:

    RetroLevelEnv  (the emulator, level sampler, movie recorder, full-size frame)
    Discretizer    (action index -> buttons)
    StickyFrameSkip(frame_skip, sticky_prob)
    TimeLimit      (max_episode_steps -> truncated)
    EpisodeStats   (info['episode'] with the raw return, level, movie)
    AllowBacktracking (optional)
    RewardScale    (learning reward * reward_scale; info['raw_reward'] stays unscaled)
    WarpFrame      (channels-first gray/RGB warp_size x warp_size)
    FrameStack     (frame_stack observations along axis 0)

One emulator per process (a stable-retro limit): a level sampler that moves to another game closes the
emulator and opens the next one.
"""
from __future__ import annotations

import glob
import gzip
import os
import re
from pathlib import Path

import gymnasium as gym
import numpy as np

from workbench.core.levels import Level
from workbench.catalog.actions import ActionSet, check_compatible, resolve_action_set
from workbench.engine.envs.movie_writer import MovieWriter, bk2_template
from workbench.engine.envs.wrappers import (AllowBacktracking, Discretizer, EpisodeStats, FrameStack, RewardScale,
                                       StickyFrameSkip, TimeLimit, WarpFrame)
from workbench.catalog.integrations import integration_file
from workbench.catalog.level_checks import check_level
from workbench.core.processes import pid_alive


def level_dirname(level: Level) -> str:
    """A file-system-safe folder name for a level: 'Game-v0:State' -> 'Game-v0_State'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{level.game}_{level.state}")


class RetroLevelEnv(gym.Env):
    """One stable-retro emulator playing `levels`, with MultiBinary (all buttons) actions.

    - 'fixed' sampling plays levels[worker_index % n]; 'per_episode' draws a level uniformly at every reset
      with its own RNG (seeded from `seed`; `reset(seed=s)` reseeds it).
    - `level` is the level being played; `get_frame()` the newest full-size RGB screen (no copy).
    - With `record_dir`, each episode is recorded as a .bk2 movie (start state + the buttons of every emulator
      frame, so replay is exact) at record_dir/<level_dirname>/w{worker:02d}-e{episode:06d}.bk2. The buttons are
      kept in memory (`MovieWriter`: cheaper than stable-retro's per-frame recorder, same file) and the file is
      written atomically when `finish_episode()` is called at the episode's end; an episode cut short by a reset
      or close is discarded. Numbering continues after existing movies, so none is overwritten.
    """

    metadata = {"render_modes": []}

    def __init__(self, levels: list[Level], scenario: str = "scenario", level_sampling: str = "fixed",
                 seed: int = 0, worker_index: int = 0, record_dir: str | os.PathLike | None = None,
                 action_sets: dict[str, ActionSet] | None = None):
        if not levels:
            raise ValueError("no levels to play: add at least one training level")
        if level_sampling not in ("fixed", "per_episode"):
            raise ValueError(f"unknown level_sampling {level_sampling!r}; use 'fixed' or 'per_episode'")
        self.levels = [lv if isinstance(lv, Level) else Level.parse(str(lv)) for lv in levels]
        self.scenario, self.level_sampling, self.worker_index = scenario, level_sampling, worker_index
        if level_sampling == "fixed":
            self.levels = [self.levels[worker_index % len(self.levels)]]
        for level in self.levels:
            check_level(level, scenario)
        self.action_sets = action_sets or {g: resolve_action_set(g, name="discrete") for g in
                                           {lv.game for lv in self.levels}}
        for level in self.levels:
            n = self.action_sets[level.game].n
            if level.controls and len(level.controls) != n:
                raise ValueError(f"level {level}: its controls remap {len(level.controls)} actions, but the action "
                                 f"set {self.action_sets[level.game].name!r} of {level.game} has {n}; list a "
                                 f"permutation of 0..{n - 1}")
        self.rng = np.random.default_rng([seed, 0])
        self.record_dir = Path(record_dir) if record_dir is not None else None
        self.episode_index = self._next_episode_index()
        self._movie: MovieWriter | None = None  # the running episode's buttons, when recording
        self._states: dict[Level, bytes] = {}
        self.retro = None
        self.level = self.levels[worker_index % len(self.levels)]
        self._open(self.level)

    # -- emulator --------------------------------------------------------------------------------
    def _open(self, level: Level) -> None:
        import stable_retro

        if self.retro is not None:
            self.retro.close()
            self.retro = None
        self.retro = stable_retro.make(level.game, state=level.state, scenario=self.scenario,
                                       inttype=stable_retro.data.Integrations.ALL,
                                       use_restricted_actions=stable_retro.Actions.ALL, render_mode=None)
        self.observation_space = self.retro.observation_space
        self.action_space = self.retro.action_space
        self.action_set = self.action_sets[level.game]
        self._states[level] = self.retro.initial_state

    def _load(self, level: Level) -> None:
        if level.game != self.retro.gamename:
            self._open(level)
        elif level != self.level:
            if level not in self._states:
                with gzip.open(integration_file(level.game, level.state + ".state"), "rb") as f:
                    self._states[level] = f.read()
            self.retro.initial_state = self._states[level]
            self.retro.statename = level.state + ".state"
        self.level = level

    @property
    def action_table(self) -> np.ndarray:
        """(n_actions, n_buttons) masks of the level being played: the action set, remapped by its controls."""
        buttons = self.action_set.buttons
        return buttons[list(self.level.controls)] if self.level.controls else buttons

    @property
    def em(self):
        return self.retro.em

    def get_frame(self) -> np.ndarray:
        """The newest full-size RGB screen (H, W, 3) uint8; valid until the next step."""
        if self.retro.img is None:
            return self.retro.get_screen(apply_rotation=True)
        return self.retro.img

    # -- gym API ---------------------------------------------------------------------------------
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self.rng = np.random.default_rng([seed, 0])
        self._discard_movie()
        if self.level_sampling == "per_episode":
            self._load(self.levels[int(self.rng.integers(len(self.levels)))])
        if self.record_dir is not None:
            self._start_movie()
        obs, info = self.retro.reset()
        info["level"] = str(self.level)
        return obs, info

    def step(self, action):
        if self._movie is not None:
            self._movie.add(action)
        return self.retro.step(action)

    def step_frames(self, actions) -> tuple:
        """Play one button mask per emulator frame, as `step` would (movie keys included), stopping at the
        episode's end; returns the last frame's observation and info with the summed reward. Unlike n calls
        of `step`, reads the screen and the info once (StickyFrameSkip's fast path)."""
        retro = self.retro
        if retro.img is None:
            raise RuntimeError("reset the env before stepping it")
        em, data, movie = retro.em, retro.data, self._movie
        total, done = 0.0, False
        for buttons in actions:
            if movie is not None:
                movie.add(buttons)
            em.set_button_mask(buttons, 0)
            em.step()
            data.update_ram()
            total += data.current_reward()
            done = data.is_done()
            if done:
                break
        return retro._update_obs(), total, bool(done), False, dict(data.lookup_all())

    def close(self):
        self._discard_movie()
        if self.retro is not None:
            self.retro.close()
            self.retro = None

    # -- movies ----------------------------------------------------------------------------------
    def _next_episode_index(self) -> int:
        """After this worker's existing movies (never overwrite); also drops the temp files of its dead runs."""
        if self.record_dir is None:
            return 0
        stale_files = (glob.glob(str(self.record_dir / "*" / f".w{self.worker_index:02d}-e*.tmp.bk2"))
                       + glob.glob(str(self.record_dir / "*" / f".w{self.worker_index:02d}-e*.bk2.*.tmp")))
        for stale in stale_files:
            pid = re.search(r"\.(\d+)\.tmp(\.bk2)?$", stale)
            if pid and not pid_alive(int(pid.group(1))):
                Path(stale).unlink(missing_ok=True)
        pattern = str(self.record_dir / "*" / f"w{self.worker_index:02d}-e*.bk2")
        numbers = [int(m.group(1)) for p in glob.glob(pattern)
                   if (m := re.search(r"-e(\d+)\.bk2$", p))]
        return max(numbers, default=-1) + 1

    def _start_movie(self) -> None:
        retro = self.retro
        template = bk2_template(retro.gamename, retro.em, retro.num_buttons, retro.players)
        self._movie = MovieWriter(template, retro.initial_state)

    def _discard_movie(self) -> None:
        self._movie = None

    def finish_episode(self) -> dict:
        """Write the episode's movie (when recording) and return {'movie': path relative to record_dir}."""
        if self._movie is None:
            return {}
        path = (self.record_dir / level_dirname(self.level)
                / f"w{self.worker_index:02d}-e{self.episode_index:06d}.bk2")
        self._movie.write(path)
        self._movie = None
        self.episode_index += 1
        return {"movie": path.relative_to(self.record_dir).as_posix()}


def make_env(levels: list[Level], env_config, seed: int = 0, worker_index: int = 0,
             record_dir: str | os.PathLike | None = None) -> gym.Env:
    """The full env stack for `levels` (see the module docstring). Seeds: this env's RNGs derive from
    seed + worker_index (a vec env's reset(seed=s) gives env i the seed s + i, the same thing)."""
    levels = [lv if isinstance(lv, Level) else Level.parse(str(lv)) for lv in levels]
    if env_config.frame_stack > 1 and env_config.warp_size <= 0:
        raise ValueError("frame_stack > 1 needs warped frames: set env.warp_size (e.g. 84) or frame_stack = 1")
    games = list(dict.fromkeys(lv.game for lv in levels))
    check_compatible(games, env_config)
    action_sets = {g: resolve_action_set(g, env_config) for g in games}
    env_seed = seed + worker_index
    env: gym.Env = RetroLevelEnv(levels, env_config.scenario, env_config.level_sampling, env_seed, worker_index,
                                 record_dir, action_sets)
    env = Discretizer(env)
    if env_config.frame_skip > 1 or env_config.sticky_prob > 0:
        env = StickyFrameSkip(env, env_config.frame_skip, env_config.sticky_prob, seed=env_seed)
    env = TimeLimit(env, env_config.max_episode_steps)
    env = EpisodeStats(env)
    if env_config.allow_backtracking:
        env = AllowBacktracking(env)
    if env_config.reward_scale != 1.0:
        env = RewardScale(env, env_config.reward_scale)
    if env_config.warp_size > 0:
        env = WarpFrame(env, env_config.warp_size, env_config.grayscale)
    if env_config.frame_stack > 1:
        env = FrameStack(env, env_config.frame_stack)
    return env


def env_thunk(levels: list[Level], env_config, seed: int = 0, worker_index: int = 0,
              record_dir: str | os.PathLike | None = None):
    """A picklable zero-argument callable building `make_env(...)` (for `ShmVecEnv` workers)."""
    import functools

    return functools.partial(make_env, list(levels), env_config, seed, worker_index,
                             None if record_dir is None else str(record_dir))
