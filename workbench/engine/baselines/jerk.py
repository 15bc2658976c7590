"""JERK ("Just Enough Retained Knowledge"), the scripted baseline of the Sonic benchmark (Nichol et al. 2018, §4.1;
the algorithm of openai/retro-baselines `agents/jerk_agent.py`, written anew here for Gymnasium envs and a budget).

Each episode either *explores* or *exploits*:
- explore: run right for `right_steps` steps, jumping now and then (a jump starts with probability `jump_prob` and
  is held `jump_repeat` steps); if that earned nothing (summed reward <= 0), backtrack: run left for `left_steps`
  steps, jumping likewise; repeat until the episode ends. The prefix of the episode's actions up to its best
  cumulative reward is kept as a *solution*, scored by that best cumulative reward.
- exploit: replay the solution with the best mean score from a reset (no-ops after its end, until the episode
  ends) and add the episode's return to that solution's scores.
A new episode exploits with probability `exploit_bias + steps_so_far / budget`: more and more replay as the budget
runs out. The env's stickiness makes a replay differ from the original (the reason solutions keep a mean score);
without it the replay is exact (`replays` records both numbers for each one).

Counting: like PPO's jobs in `engine.transfer`, an episode counts when it finished within the first `budget` agent
steps; play stops when the budget is spent (the episode then running is not counted).

JERK acts with its own five button combos (no-op, right, left, right+jump, left+jump: retro-baselines pressed
RIGHT+B, which the Sonic benchmark's 7-action set lacks), on the same env stack as the learners otherwise (sticky
frame skip, time limit, scenario), and needs no observation: `jerk_env` builds that stack without the frame warp.
It applies where the game has left, right and a jump button: the Sonic games (`jerk_applies`).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

EXPLOIT_BIAS = 0.25
"""retro-baselines' EXPLOIT_BIAS: the chance of replaying the best solution at the budget's start."""
JUMP_BUTTON = "B"
"""Jump on the Genesis pad in the Sonic games (A and C jump too; retro-baselines used B)."""
JERK_COMBOS = [[], ["RIGHT"], ["LEFT"], ["RIGHT", JUMP_BUTTON], ["LEFT", JUMP_BUTTON]]


@dataclass(frozen=True)
class JerkMoves:
    """Which action index of the env means what."""

    noop: int
    right: int
    left: int
    right_jump: int
    left_jump: int


JERK_MOVES = JerkMoves(noop=0, right=1, left=2, right_jump=3, left_jump=4)
"""The indices of `JERK_COMBOS` (the action set `jerk_env` plays)."""


@dataclass
class JerkEpisode:
    ret: float
    """The episode's return (info['episode']['r'] where the env reports it: the raw, unscaled return)."""
    length: int
    global_step: int
    """Agent steps taken when the episode finished (counted from the job's start)."""
    replay: bool
    """An exploit episode (a replay of the best solution)."""


class _BudgetSpent(Exception):
    pass


@dataclass
class Jerk:
    """JERK playing `env` for `budget` agent steps; `run()` returns the counted episodes."""

    env: gym.Env
    moves: JerkMoves
    budget: int
    seed: int = 0
    exploit_bias: float = EXPLOIT_BIAS
    right_steps: int = 100
    left_steps: int = 70
    jump_prob: float = 0.1
    jump_repeat: int = 4
    steps: int = 0
    episodes: list[JerkEpisode] = field(default_factory=list)
    solutions: list[tuple[list[float], list[int]]] = field(default_factory=list)
    """(scores, action prefix): the first score is the prefix's best cumulative reward, then one per replay."""
    replays: list[tuple[float, float]] = field(default_factory=list)
    """(the solution's recorded best cumulative reward, the replay's cumulative reward at the prefix's end)."""

    def __post_init__(self):
        self.rng = random.Random(self.seed)
        self._actions: list[int] = []
        self._cumulative: list[float] = []
        self._total = 0.0
        self._reset_seed: int | None = self.seed

    # -- the env, with the bookkeeping of the current trajectory ---------------------------------------------
    def _reset(self) -> None:
        self.env.reset(seed=self._reset_seed)
        self._reset_seed = None  # seeded once; later resets continue the env's own RNG
        self._actions, self._cumulative, self._total = [], [], 0.0

    def _step(self, action: int) -> bool:
        """One agent step; True when the episode ended. Raises _BudgetSpent before a step past the budget."""
        if self.steps >= self.budget:
            raise _BudgetSpent
        _, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        self._actions.append(int(action))
        self._total += float(reward)
        self._cumulative.append(self._total)
        done = bool(terminated or truncated)
        if done:
            episode = info.get("episode") or {}
            self.episodes.append(JerkEpisode(float(episode.get("r", self._total)),
                                             int(episode.get("l", len(self._actions))), self.steps,
                                             self._replaying))
        return done

    # -- the algorithm ----------------------------------------------------------------------------------------
    def run(self) -> list[JerkEpisode]:
        self._replaying = False
        new_episode = True
        try:
            while self.steps < self.budget:
                if new_episode:
                    if self.solutions and self.rng.random() < self.exploit_bias + self.steps / self.budget:
                        # ties: the newest (retro-baselines sorts by mean score and takes the last)
                        scores, sequence = max(reversed(self.solutions), key=lambda s: float(np.mean(s[0])))
                        scores.append(self._exploit(sequence, scores[0]))
                        continue
                    self._reset()
                    new_episode = False
                reward, new_episode = self._move(self.right_steps, left=False)
                if not new_episode and reward <= 0:
                    _, new_episode = self._move(self.left_steps, left=True)
                if new_episode:
                    self.solutions.append(([max(self._cumulative)], self.best_sequence()))
        except _BudgetSpent:
            pass
        return self.episodes

    def _move(self, n: int, left: bool) -> tuple[float, bool]:
        """Run left or right for up to n steps, jumping at random; (summed reward, episode ended)."""
        m = self.moves
        total, jumping = 0.0, 0
        for _ in range(n):
            jump = jumping > 0
            if jump:
                jumping -= 1
            elif self.rng.random() < self.jump_prob:
                jump, jumping = True, self.jump_repeat - 1
            action = (m.left_jump if jump else m.left) if left else (m.right_jump if jump else m.right)
            before = self._total
            done = self._step(action)
            total += self._total - before
            if done:
                return total, True
        return total, False

    def _exploit(self, sequence: list[int], expected: float) -> float:
        """Replay `sequence` from a reset, no-ops after it, to the episode's end; returns the episode's return.
        `expected`: the cumulative reward the sequence reached when it was found (kept in `replays`)."""
        self._replaying = True
        try:
            self._reset()
            done = False
            for action in sequence:
                done = self._step(action)
                if done:
                    break
            self.replays.append((expected, self._total))
            while not done:
                done = self._step(self.moves.noop)
            return self._total
        finally:
            self._replaying = False

    def best_sequence(self) -> list[int]:
        """The current episode's actions up to (and including) its first step of best cumulative reward."""
        best = int(np.argmax(self._cumulative))
        return list(self._actions[:best + 1])


# -- on a retro level ------------------------------------------------------------------------------------------
def jerk_applies(game: str) -> tuple[bool, str]:
    """(True, '') where JERK can play `game`; else (False, why), for the table's note."""
    from workbench.catalog.actions import game_family, game_system, system_info

    family = game_family(game)
    buttons = set(b for b in system_info(game_system(game))["buttons"] if b)
    if family == "sonic" and {"LEFT", "RIGHT", JUMP_BUTTON} <= buttons:
        return True, ""
    kind = {"atari": "an Atari game"}.get(family, "not a Sonic platformer")
    return False, (f"JERK does not apply to {game} ({kind}): it runs right and jumps, which needs a platformer "
                   "with left, right and jump (the Sonic games)")


def jerk_action_set(game: str):
    """`JERK_COMBOS` as an ActionSet of `game`'s system buttons."""
    from workbench.catalog.actions import ActionSet, game_system, system_info

    system_buttons = list(system_info(game_system(game))["buttons"])
    table = np.zeros((len(JERK_COMBOS), len(system_buttons)), np.uint8)
    for row, combo in enumerate(JERK_COMBOS):
        for button in combo:
            table[row, system_buttons.index(button)] = 1
    labels = tuple("+".join(c) if c else "NOOP" for c in JERK_COMBOS)
    return ActionSet("jerk", labels, table, tuple(system_buttons))


def jerk_env(level, env_config, seed: int = 0) -> gym.Env:
    """The learners' env stack for one level (stable-retro, sticky frame skip, time limit, episode stats) with
    JERK's action set, without the frame warp and stack it does not look at. Rewards stay raw (JERK's backtrack
    rule reads their sign; the score is the raw return, as for the learners)."""
    from workbench.engine.envs.retro import RetroLevelEnv
    from workbench.engine.envs.wrappers import Discretizer, EpisodeStats, StickyFrameSkip, TimeLimit

    actions = jerk_action_set(level.game)
    env: gym.Env = RetroLevelEnv([level], env_config.scenario, "fixed", seed, 0, None, {level.game: actions})
    env = Discretizer(env, actions)
    if env_config.frame_skip > 1 or env_config.sticky_prob > 0:
        env = StickyFrameSkip(env, env_config.frame_skip, env_config.sticky_prob, seed=seed)
    env = TimeLimit(env, env_config.max_episode_steps)
    return EpisodeStats(env)
