"""Wrappers and action sets on the real Airstriker emulator (ships with stable-retro)."""
from __future__ import annotations

import cv2
import gymnasium as gym
import numpy as np
import pytest

from workbench.core.levels import Level
from workbench.catalog.actions import (ATARI18_COMBOS, SONIC_COMBOS, check_compatible, game_family,
                                      resolve_action_set)
from workbench.core.settings import EnvConfig
from workbench.engine.envs.retro import RetroLevelEnv
from workbench.engine.envs.wrappers import (AllowBacktracking, Discretizer, EpisodeStats, FrameStack, RewardScale,
                                       StickyFrameSkip, TimeLimit, WarpFrame)

AIRSTRIKER = Level("Airstriker-Genesis-v0", "Level1")


class FrameLog(gym.Wrapper):
    """Remembers what passed through: the action of every emulator frame, its reward, its observation."""

    def __init__(self, env):
        super().__init__(env)
        self.actions, self.rewards, self.observations = [], [], []

    def step(self, action):
        obs, rew, term, trunc, info = self.env.step(action)
        self.actions.append(int(action))
        self.rewards.append(rew)
        self.observations.append(obs)
        return obs, rew, term, trunc, info


@pytest.fixture
def airstriker():
    env = RetroLevelEnv([AIRSTRIKER])
    yield env
    env.close()


def discrete(env):
    return Discretizer(env, resolve_action_set(AIRSTRIKER.game))


# -- action sets --------------------------------------------------------------------------------------
def test_sonic_and_atari_action_sets_have_the_published_combos():
    sonic = resolve_action_set("SonicTheHedgehog-Genesis-v0")
    assert sonic.name == "sonic"
    assert sonic.labels == ("LEFT", "RIGHT", "LEFT+DOWN", "RIGHT+DOWN", "DOWN", "DOWN+B", "B")
    genesis = ["B", "A", "MODE", "START", "UP", "DOWN", "LEFT", "RIGHT", "C", "Y", "X", "Z"]
    for row, combo in zip(sonic.buttons, SONIC_COMBOS):
        assert sorted(genesis[i] for i in np.flatnonzero(row)) == sorted(combo)

    atari = resolve_action_set("Pong-Atari2600-v0")
    assert atari.name == "atari18" and atari.n == 18
    assert atari.labels[:6] == ("NOOP", "BUTTON", "UP", "RIGHT", "LEFT", "DOWN")
    assert atari.labels[-1] == "DOWN+LEFT+BUTTON"
    assert atari.buttons.shape == (18, 8)  # BUTTON, None, SELECT, RESET, UP, DOWN, LEFT, RIGHT
    assert len({tuple(r) for r in atari.buttons}) == 18 and not atari.buttons[:, 1:4].any()
    assert len(ATARI18_COMBOS) == 18


def test_auto_picks_by_game_family_and_buttons_are_single_presses():
    assert game_family("SonicTheHedgehog2-Genesis-v0") == "sonic"
    assert game_family("SonicWings-Snes-v0") == "other"
    assert resolve_action_set("SonicTheHedgehogCustomKevin-Genesis").name == "sonic"
    assert resolve_action_set(AIRSTRIKER.game).name == "discrete"
    buttons = resolve_action_set(AIRSTRIKER.game, EnvConfig(action_set="buttons"))
    assert buttons.labels[0] == "NOOP" and "START" not in buttons.labels and "MODE" not in buttons.labels
    assert (buttons.buttons.sum(axis=1) == [0] + [1] * (buttons.n - 1)).all()


def test_discrete_matches_stable_retros_own_discrete_actions(airstriker):
    import stable_retro

    table = resolve_action_set(AIRSTRIKER.game, EnvConfig(action_set="discrete"))
    reference = airstriker.retro
    reference.use_restricted_actions = stable_retro.Actions.DISCRETE  # decode with stable-retro's own code
    try:
        expected = [reference.action_to_array(i)[0] for i in range(table.n)]
    finally:
        reference.use_restricted_actions = stable_retro.Actions.ALL
    assert table.n == 126
    np.testing.assert_array_equal(table.buttons, np.array(expected))


def test_incompatible_games_are_refused_with_the_game_named():
    with pytest.raises(ValueError, match="Pong-Atari2600-v0 has a different action space"):
        check_compatible([AIRSTRIKER.game, "Pong-Atari2600-v0"])
    assert check_compatible(["Pong-Atari2600-v0", "Breakout-Atari2600-v0"]).name == "atari18"


# -- wrappers -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.0, 0.25, 1.0])
def test_sticky_frame_skip_holds_n_frames_and_delays_with_probability_p(airstriker, p):
    log = FrameLog(discrete(airstriker))
    env = StickyFrameSkip(log, n=4, p=p, seed=7)
    env.reset(seed=3)
    actions = [(k * 5) % 126 for k in range(1, 61)]
    for a in actions:
        env.step(a)
    frames = np.array(log.actions).reshape(-1, 4)
    # the reference's draws: one per step except the first after reset; 'stuck' when draw <= p
    rng = np.random.default_rng([3, 1])
    previous = None
    for step, a in enumerate(actions):
        stuck = previous is not None and rng.random() <= p
        assert frames[step, 0] == (previous if stuck else a), step
        assert (frames[step, 1:] == a).all()
        previous = a
    if p == 0.0:
        assert (frames[:, 0] == actions).all()
    if p == 1.0:
        assert (frames[1:, 0] == actions[:-1]).all()


def test_sticky_seed_repeats_and_reset_forgets_the_held_action(airstriker):
    log = FrameLog(discrete(airstriker))
    env = StickyFrameSkip(log, n=4, p=0.5, seed=1)
    runs = []
    for _ in range(2):
        log.actions.clear()
        env.reset(seed=11)
        for a in range(1, 30):
            env.step(a)
        runs.append(list(log.actions))
    assert runs[0] == runs[1]
    assert runs[0][0] == 1  # first step after reset: nothing to stick to


def test_frame_skip_sums_the_rewards_of_its_frames(airstriker):
    log = FrameLog(discrete(airstriker))
    env = StickyFrameSkip(log, n=4, p=0.25, seed=0)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(100):
        before = len(log.rewards)
        _, reward, term, trunc, _ = env.step(int(rng.integers(126)))
        assert reward == pytest.approx(sum(log.rewards[before:]))
        assert len(log.rewards) - before == 4 or term or trunc
        if term or trunc:
            break
    assert sum(log.rewards) > 0, "100 random steps should score (the rewards summed must not all be zero)"


def test_warp_frame_is_channels_first_uint8_inter_area(airstriker):
    log = FrameLog(discrete(airstriker))
    gray = WarpFrame(log, 84, grayscale=True)
    obs, _ = gray.reset()
    assert obs.shape == (1, 84, 84) and obs.dtype == np.uint8
    assert gray.observation_space.shape == (1, 84, 84)
    obs, *_ = gray.step(0)
    expected = cv2.resize(cv2.cvtColor(log.observations[-1], cv2.COLOR_RGB2GRAY), (84, 84),
                          interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(obs[0], expected)
    color = WarpFrame(log, 64, grayscale=False)
    obs, *_ = color.step(0)
    assert obs.shape == (3, 64, 64) and obs.dtype == np.uint8
    expected = cv2.resize(log.observations[-1], (64, 64), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(obs.transpose(1, 2, 0), expected)


def test_frame_stack_keeps_the_last_k_oldest_first(airstriker):
    log = FrameLog(WarpFrame(StickyFrameSkip(discrete(airstriker), n=4, p=0.0), 84))
    env = FrameStack(log, 4)
    obs, _ = env.reset()
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    assert all((obs[i] == obs[0]).all() for i in range(4))
    for _ in range(6):
        previous = obs
        obs, *_ = env.step(6)
        np.testing.assert_array_equal(obs[-1], log.observations[-1][0])
        np.testing.assert_array_equal(obs[:-1], previous[1:])
    assert not np.shares_memory(obs, env.frames)


def test_time_limit_truncates_and_episode_stats_report_it(airstriker):
    env = EpisodeStats(TimeLimit(StickyFrameSkip(discrete(airstriker), n=2, p=0.0), 5))
    env.reset(seed=4)
    for step in range(1, 6):
        _, _, term, trunc, info = env.step(0)
        if step < 5:
            assert not (term or trunc) and "episode" not in info
    assert trunc and not term
    assert info["episode"]["l"] == 5 and info["episode"]["truncated"] is True
    assert info["episode"]["level"] == str(AIRSTRIKER) and info["episode"]["seed"] == 4


class ScriptedRewards(gym.Env):
    """Pays a fixed reward sequence (a reward wrapper's exact arithmetic needs rewards that go down too)."""

    observation_space = gym.spaces.Box(0, 1, (1,), np.float32)
    action_space = gym.spaces.Discrete(1)

    def __init__(self, rewards):
        self.rewards, self.t = rewards, 0

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(1, np.float32), self.rewards[self.t - 1], False, self.t == len(self.rewards), {}


def test_allow_backtracking_pays_only_new_maximum_progress():
    env = AllowBacktracking(ScriptedRewards([5.0, -3.0, 2.0, 2.0, -10.0, 12.0]))
    env.reset()
    paid = [env.step(0)[1] for _ in range(6)]
    assert paid == [5.0, 0.0, 0.0, 1.0, 0.0, 2.0]  # cumulative 5, 2, 4, 6, -4, 8: new maxima 5, 6, 8
    env.reset()
    assert env.step(0)[1] == 5.0


def test_reward_scale_keeps_the_raw_reward_for_reporting():
    # make_env's order: EpisodeStats (raw game reward) < AllowBacktracking < RewardScale
    env = RewardScale(AllowBacktracking(EpisodeStats(ScriptedRewards([100.0, -50.0, 300.0]))), 0.01)
    env.reset()
    results = [env.step(0) for _ in range(3)]
    assert [r[1] for r in results] == pytest.approx([1.0, 0.0, 2.5])
    assert [r[4]["raw_reward"] for r in results] == [100.0, -50.0, 300.0]
    assert results[-1][4]["episode"]["r"] == 350.0
    plain = RewardScale(ScriptedRewards([100.0]), 0.01)
    plain.reset()
    _, reward, _, _, info = plain.step(0)
    assert reward == pytest.approx(1.0) and info["raw_reward"] == 100.0
