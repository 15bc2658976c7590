"""The reference regime's settings: time-limit ends bootstrapped or terminal, the report's joint PPO (worker i
fixed on training level i mod n, never resampled), and what `validate` refuses about them."""
from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from trainers import make_trainer
from toy_envs import corridor
from workbench.core.levels import Level, LevelSet
from workbench.core.presets import Preset
from workbench.core.settings import EnvConfig, PPOConfig, Settings, joint_regime, validate
from workbench.engine.hooks import Hooks

GAMMA = 0.99


def _last_rollout(bootstrap_truncated: bool):
    """One rollout of a corridor whose every episode is cut by the time limit (8 steps, 15 needed)."""
    s = Settings()
    s.ppo = PPOConfig(n_envs=2, n_steps=24, n_minibatches=1, n_epochs=1, gamma=GAMMA, gae_lambda=0.95,
                      bootstrap_truncated=bootstrap_truncated, precision="fp32")
    trainer = make_trainer(s, env_fns=[functools.partial(corridor, 16, 8)] * 2, in_process=True)
    buffers = trainer.learner.buffers
    trainer.run(48)
    return buffers[0]


@pytest.mark.parametrize("bootstrap_truncated", [True, False])
def test_a_time_limit_end_is_bootstrapped_only_when_asked(bootstrap_truncated):
    buf = _last_rollout(bootstrap_truncated)
    cut = buf.truncated
    assert int(cut.sum()) == 2 * 3 and not bool(buf.terminated.any())  # 24 steps: 3 time-limit ends per env
    # at a truncation the λ-chain stops, so the advantage is the one-step TD error with the bootstrap value
    expected = buf.rewards[cut] + GAMMA * buf.bootstrap[cut] - buf.values[cut]
    torch.testing.assert_close(buf.advantages[cut], expected)
    if bootstrap_truncated:
        assert bool((buf.bootstrap[cut] != 0).all())  # V(final observation)
    else:  # the reference's reading: the time limit is terminal, no bootstrap value
        assert bool((buf.bootstrap == 0).all())
        torch.testing.assert_close(buf.advantages[cut], buf.rewards[cut] - buf.values[cut])


@pytest.mark.slow
def test_report_regime_fixes_worker_i_on_level_i_mod_n_and_never_resamples():
    levels = [Level("Airstriker-Genesis-v0", "Level1"), Level("Airstriker-Genesis-v0", "Level1.Sec04")]
    s = Settings()
    s.env = EnvConfig(level_sampling="fixed", max_episode_steps=6, warp_size=42, frame_stack=2)
    s.ppo = PPOConfig(n_envs=4, n_steps=12, n_minibatches=2, n_epochs=1, overlap=False, bootstrap_truncated=False,
                      precision="fp32")
    s.run.record_episodes = False
    assert joint_regime(s).startswith("report regime")
    seen = []
    make_trainer(s, levels=levels, hooks=Hooks(on_episode=[seen.append])).run(4 * 12 * 3)  # 4 worker processes
    by_env: dict[int, set[str]] = {}
    for ep in seen:
        by_env.setdefault(ep.env_index, set()).add(ep.level)
    assert sorted(by_env) == [0, 1, 2, 3]
    for i, played in by_env.items():
        assert played == {str(levels[i % 2])}, (i, played)
    counts = np.bincount([ep.env_index for ep in seen])
    assert (counts >= 5).all()  # many episodes each (resets), never a different level


def test_validate_the_regime_settings():
    levels = LevelSet([Level("Airstriker-Genesis-v0", "Level1"), Level("Airstriker-Genesis-v0", "Level1.Sec08"),
                       Level("Airstriker-Genesis-v0", "Level1.Sec20")])
    preset = Preset("x", levels=levels, env=EnvConfig(level_sampling="fixed"))
    preset.ppo.n_envs = 2
    messages = [p.message for p in validate(preset)]
    assert any("never play some training levels" in m and "multiple of 3" in m for m in messages)
    preset.ppo.n_envs = 4
    assert any("weight the levels unequally" in m for m in (p.message for p in validate(preset)))
    preset.ppo.n_envs = 6
    assert validate(preset) == []
    preset.env.level_sampling = "per_episode"
    preset.ppo.n_envs = 2
    assert validate(preset) == []
    preset.transfer.seeds = [0, 1, 1]
    preset.ppo.importance_weight_max = 1.0
    preset.transfer.zero_shot_episodes = 0
    keys = {(p.section, p.key) for p in validate(preset)}
    assert keys == {("transfer", "seeds"), ("ppo", "importance_weight_max"), ("transfer", "zero_shot_episodes")}
    assert "time-limit ends bootstrapped" in joint_regime(Settings())
