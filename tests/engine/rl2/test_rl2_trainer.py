"""RL² through the engine's trainer: reset flags at trial starts only, the state carried across the episodes of a
trial and across rollouts, and the learner's truncated-BPTT segments re-running the rollout exactly."""
from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from workbench.core.settings import PPOConfig, RL2Config, RunConfig
from workbench.engine.rl2.bandit import BernoulliBandit
from workbench.engine.rl2.trials import TrialEnv
from workbench.core.settings import Settings
from trainers import make_trainer

K, PULLS, N_STEPS, BPTT, N_ENVS = 2, 3, 8, 4, 3
TRIAL = K * PULLS  # 6 steps: trials straddle both segment (4) and rollout (8) boundaries


def _trial_env(seed):
    return TrialEnv(_bandit, ["bandit"], episodes_per_trial=K, seed=seed)


def _bandit(_task):
    return BernoulliBandit(n_arms=3, n_pulls=PULLS)


def _settings(**ppo):
    return Settings(
        ppo=PPOConfig(n_envs=N_ENVS, n_steps=N_STEPS, n_minibatches=2, n_epochs=1, device="cpu", precision="fp32",
                      **ppo),
        rl2=RL2Config(episodes_per_trial=K, hidden_size=8, bptt_steps=BPTT),
        run=RunConfig(algorithm="rl2", seed=3, record_episodes=False))


def _trainer(settings):
    return make_trainer(settings, env_fns=[functools.partial(_trial_env, i) for i in range(N_ENVS)], in_process=True)


def test_rollouts_flag_trial_starts_and_segments_rerun_the_rollout_exactly():
    trainer = _trainer(_settings())
    trainer.learner.set_learning_rate(0.0)  # the update leaves the rollout's policy as it was
    assert trainer.policy.recurrent and trainer.policy.spec.kind == "rl2"
    trainer.run(total_steps=2 * N_ENVS * N_STEPS)  # two rollouts: the buffer holds steps 8..15 of every env
    buf = trainer.learner.buffers[0]
    t_global = np.arange(N_STEPS, 2 * N_STEPS)
    trial_start = torch.from_numpy(t_global % TRIAL == 0)
    episode_start = torch.from_numpy(t_global % PULLS == 0)
    for env in range(N_ENVS):
        assert torch.equal(buf.reset[:, env], trial_start)
        assert torch.equal(buf.episode_start[:, env], episode_start)
        # Previous action and reward are zeroed exactly at trial starts.
        assert (buf.prev_action[trial_start, env] == 0).all() and (buf.prev_reward[trial_start, env] == 0).all()
    # The state is carried: into this rollout (step 8 is mid-trial) and across the inner episode start at 9.
    assert torch.equal(buf.states[0], buf.state0) and buf.state0.abs().sum() > 0
    assert buf.states[int(np.flatnonzero(episode_start & ~trial_start)[0])].abs().sum() > 0
    # Truncated BPTT: every segment re-run from its stored start state gives the rollout's log-probabilities,
    # although segments start mid-trial and trial starts fall inside segments.
    seqs, state0 = trainer.learner.learner._sequences(buf)
    assert seqs[0].shape[:2] == (BPTT, N_ENVS * N_STEPS // BPTT)
    obs, actions, logprobs = seqs[0], seqs[1], seqs[2]
    with torch.no_grad():
        logits, _ = trainer.policy.evaluate(obs, state0, *seqs[6:10])
    rerun = torch.log_softmax(logits, -1).gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(rerun, logprobs, rtol=0, atol=1e-5)
    # ... and a re-run that ignored the stored states (zeros at each segment start) would not.
    with torch.no_grad():
        wrong, _ = trainer.policy.evaluate(obs, torch.zeros_like(state0), *seqs[6:10])
    assert (wrong - logits).abs().max() > 1e-4


def test_rl2_rejects_a_rollout_that_segments_do_not_divide():
    with pytest.raises(ValueError, match="multiple of rl2.bptt_steps"):
        settings = _settings()
        settings.rl2.bptt_steps = 3
        _trainer(settings)


def test_rl2_overlap_runs_the_recurrent_update_in_the_learner_process():
    """The learner process gets the recurrent policy, its per-rollout start state and the shared stored states."""
    metrics = []
    trainer = _trainer(_settings(learning_rate=1e-2, overlap=True))
    trainer.hooks.on_update.append(lambda u: metrics.append(u.metrics))
    before = [p.detach().clone() for p in trainer.policy.parameters()]
    trainer.run(total_steps=3 * N_ENVS * N_STEPS)
    assert trainer.update == 3 and len(metrics) == 3
    assert all(np.isfinite(m["importance_weight"]) and np.isfinite(m["policy_loss"]) for m in metrics)
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.policy.parameters()))  # pulled back
