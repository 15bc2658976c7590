"""PPO learns; the loss, minibatching and the recurrent seam behave; the CNN path runs through worker processes."""
from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from workbench.core.settings import PPOConfig
from workbench.engine.device import resolve_compute
from workbench.engine.policies.api import PolicySpec
from workbench.engine.policies.registry import make_policy
from workbench.engine.policies.api import ActorCritic, PolicyStep
from workbench.engine.ppo.update import PPOLearner, ppo_loss
from workbench.engine.ppo.buffer import RolloutBuffer
from toy_envs import corridor, flash_cue
from workbench.core.settings import Settings
from workbench.engine.hooks import Hooks
from trainers import make_trainer


def toy_settings(**ppo) -> Settings:
    s = Settings()
    s.ppo = PPOConfig(**({"n_envs": 8, "n_steps": 32, "n_minibatches": 4, "n_epochs": 4, "learning_rate": 1e-3,
                          "clip_range": 0.2} | ppo))
    s.env.reward_scale = 1.0
    return s


@pytest.mark.slow
@pytest.mark.parametrize("overlap", [False, True])
def test_ppo_return_rises_on_corridor(overlap):
    """Also with `ppo.overlap`: decoupled PPO in the learner process, acting one update behind."""
    returns: list[float] = []
    hooks = Hooks(on_update=[lambda r: returns.append(r.metrics.get("mean_return", np.nan))])
    trainer = make_trainer(toy_settings(overlap=overlap), env_fns=[functools.partial(corridor, 16, 32)] * 8, hooks=hooks,
                           in_process=True)
    trainer.run(4096)  # 16 updates
    first, last = np.nanmean(returns[:2]), np.nanmean(returns[-3:])
    # random walking scores about 0; walking straight right scores 0.85
    assert first < 0.35, returns
    assert last > 0.7, returns
    assert last - first > 0.4, returns


def _minibatch_from_buffer(policy, cfg):
    buf = RolloutBuffer(4, 2, (16,), torch.float32)
    buf.obs.copy_(torch.eye(16)[torch.randint(16, (4, 2))])
    buf.actions.random_(0, 3)
    with torch.no_grad():
        logits, values = policy.evaluate(buf.obs, None, buf.prev_action, buf.prev_reward, buf.episode_start,
                                         buf.reset)
    buf.logprobs.copy_(torch.log_softmax(logits, -1).gather(-1, buf.actions[..., None]).squeeze(-1))
    buf.values.copy_(values)
    buf.rewards.uniform_(-1, 1)
    buf.compute_returns(0.99, 0.95)
    learner = PPOLearner(policy, cfg, resolve_compute("cpu", "fp32"), np.random.default_rng(0))
    return buf, learner


def test_loss_at_the_old_policy_has_ratio_one():
    torch.manual_seed(0)
    policy = make_policy(PolicySpec("mlp", (16,), 3, 32))
    cfg = PPOConfig(n_minibatches=1, clip_range=0.2)
    buf, learner = _minibatch_from_buffer(policy, cfg)
    mb = next(learner.minibatches(buf))
    loss, stats = ppo_loss(policy, mb, cfg)
    assert float(stats["approx_kl"]) == pytest.approx(0.0, abs=1e-6)
    assert float(stats["clip_fraction"]) == 0.0
    assert float(stats["policy_loss"]) == pytest.approx(0.0, abs=1e-5)  # normalized advantages, ratio 1
    assert float(stats["entropy"]) == pytest.approx(np.log(3), abs=0.05)  # gain 0.01 head: near uniform
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in policy.parameters())


def test_update_moves_the_policy_and_reports_metrics():
    torch.manual_seed(0)
    policy = make_policy(PolicySpec("mlp", (16,), 3, 32))
    cfg = PPOConfig(n_minibatches=2, n_epochs=3, learning_rate=1e-2)
    buf, learner = _minibatch_from_buffer(policy, cfg)
    before = [p.detach().clone() for p in policy.parameters()]
    metrics = learner.update(buf)
    assert any(not torch.equal(a, b) for a, b in zip(before, policy.parameters()))
    for key in ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "grad_norm",
                "explained_variance", "learning_rate"):
        assert np.isfinite(metrics[key]), key
    assert metrics["approx_kl"] > 0


@pytest.mark.parametrize("rule", ["full_ratio", "proximal"])
def test_decoupled_update_clips_around_the_current_weights_and_weights_by_the_acting_policy(rule):
    torch.manual_seed(0)
    policy = make_policy(PolicySpec("mlp", (16,), 3, 32))
    cfg = PPOConfig(n_minibatches=1, n_epochs=1, clip_range=0.2, importance_weight=rule, importance_weight_max=1.5,
                    normalize_advantages=False)
    buf, _ = _minibatch_from_buffer(policy, cfg)
    learner = PPOLearner(policy, cfg, resolve_compute("cpu", "fp32"), np.random.default_rng(0), decoupled=True)
    # Acted by these very weights: the proximal pass reproduces the rollout.
    logp, values = learner._proximal(buf)
    torch.testing.assert_close(logp, buf.logprobs)
    torch.testing.assert_close(values, buf.values)
    # Acted by other (older) weights: ratios start at 1 against the current weights (nothing clipped yet), and
    # the acting policy's log-probabilities come along for the importance weight.
    behaviour = buf.logprobs + torch.linspace(-1.5, 1.5, buf.logprobs.numel()).reshape(buf.logprobs.shape)
    buf.logprobs.copy_(behaviour)
    logp, values = learner._proximal(buf)
    mb = next(learner.minibatches(buf, (logp, values)))
    loss, stats = ppo_loss(policy, mb, cfg)
    assert float(stats["clip_fraction"]) == 0.0 and float(stats["approx_kl"]) == pytest.approx(0.0, abs=1e-6)
    # by hand: at the update's start pi = pi_prox, so r_prox = 1 and the weight is pi_prox / pi_behaviour,
    # clipped at 1.5 ('full_ratio': ppo-ewma's clip of the full ratio) or truncated at 2 ('proximal')
    w = (mb.logprobs - mb.behaviour_logprobs).exp()
    cap = 1.5 if rule == "full_ratio" else 2.0
    weights = w.clamp(max=cap)
    torch.testing.assert_close(stats["policy_loss"], (-mb.advantages * weights).mean())
    assert float(stats["importance_clip_fraction"]) == pytest.approx(float((w > cap).float().mean()))
    assert 0 < float(stats["importance_clip_fraction"]) < 1
    # ... whereas clipping around the acting policy would clip most samples before any step was taken.
    _, stale = ppo_loss(policy, next(learner.minibatches(buf)), cfg)
    assert float(stale["clip_fraction"]) > 0.5 and "importance_clip_fraction" not in stale
    metrics = learner.update(buf)
    assert np.isfinite(metrics["importance_weight"]) and 0 < metrics["importance_clip_fraction"] < 1


def test_full_ratio_gradient_stops_at_the_clip():
    """Where pi / pi_behaviour exceeds importance_weight_max the sample's term is the constant max times A in value
    but keeps the gradient of log pi scaled by it (ppo-ewma's log-space clip): check one sample by hand."""
    from workbench.engine.ppo.update import Minibatch

    cfg = PPOConfig(clip_range=0.2, importance_weight="full_ratio", importance_weight_max=2.0,
                    normalize_advantages=False, clip_value=False, ent_coef=0.0, vf_coef=0.0)

    class Fixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.logits = torch.nn.Parameter(torch.tensor([0.0, 0.0]))

        def evaluate(self, obs, *rest):
            return self.logits.expand(1, 1, 2), torch.zeros(1, 1)

    policy = Fixed()
    log_half = float(np.log(0.5))
    one = lambda x: torch.tensor([[x]])  # noqa: E731
    mb = Minibatch(obs=torch.zeros(1, 1, 1), actions=torch.zeros(1, 1, dtype=torch.int64), logprobs=one(log_half),
                   values=one(0.0), advantages=one(1.0), returns=one(0.0), prev_action=torch.zeros(1, 1),
                   prev_reward=torch.zeros(1, 1), episode_start=torch.zeros(1, 1), reset=torch.zeros(1, 1),
                   behaviour_logprobs=one(log_half - np.log(4.0)), state0=None)  # pi / pi_behaviour = 4 > 2
    loss, stats = ppo_loss(policy, mb, cfg)
    assert float(loss.detach()) == pytest.approx(-2.0)  # -A * min(4, 2)
    assert float(stats["importance_clip_fraction"]) == 1.0
    loss.backward()
    # d/dlogit0 of -2 * exp(logp - stopgrad(logp)) = -2 * dlogp/dlogit0 = -2 * (1 - 0.5)
    assert float(policy.logits.grad[0]) == pytest.approx(-1.0)


def test_overlapped_rollouts_act_with_the_weights_from_before_the_update_in_flight():
    """With ppo.overlap, rollout k+1 is collected while update k learns: it acts with the weights after
    update k-1; the store and the hooks still see every update once, in order, counting learned steps."""
    flat = lambda m: torch.cat([p.detach().flatten().clone() for p in m.parameters()])  # noqa: E731
    acted, learned = [], []
    hooks = Hooks(on_rollout=[lambda r: acted.append(flat(trainer.policy))],
                  on_update=[lambda u: learned.append((u.update, u.global_step, flat(trainer.policy)))])
    settings = toy_settings(n_envs=2, n_steps=8, n_minibatches=1, n_epochs=1, learning_rate=1e-2, overlap=True)
    trainer = make_trainer(settings, env_fns=[functools.partial(corridor, 16, 32)] * 2, hooks=hooks, in_process=True)
    initial = flat(trainer.policy)
    trainer.run(5 * 16)
    assert [u for u, _, _ in learned] == [1, 2, 3, 4, 5]
    assert [g for _, g, _ in learned] == [16, 32, 48, 64, 80] and trainer.learned_step == 80
    assert len(acted) == 5
    assert torch.equal(acted[0], initial) and torch.equal(acted[1], initial)  # update 1 was in flight
    for k in range(2, 5):
        assert torch.equal(acted[k], learned[k - 2][2])  # rollout k+1 acted with the weights after update k-1
        assert not torch.equal(acted[k], learned[k - 1][2])


class ColumnRecorder(ActorCritic):
    """A recurrent policy whose 'state' is a per-env id: checks that the learner passes whole columns."""

    recurrent = True

    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(1, 4)
        self.calls: list[tuple] = []

    def initial_state(self, n, device="cpu"):
        return torch.zeros(n, 1)

    def step(self, obs, state, prev_action, prev_reward, episode_start, reset):
        out = self.head(obs)
        return PolicyStep(out[:, :3], out[:, 3], state)

    def evaluate(self, obs, state0, prev_action, prev_reward, episode_start, reset):
        self.calls.append((obs.shape, state0.clone(), obs[0, :, 0].clone()))
        out = self.head(obs)
        return out[..., :3], out[..., 3]


def test_recurrent_update_uses_time_major_env_columns_with_their_start_state():
    policy = ColumnRecorder()
    cfg = PPOConfig(n_minibatches=2, n_epochs=1)
    buf = RolloutBuffer(5, 4, (1,), torch.float32)
    buf.obs[:] = torch.arange(4, dtype=torch.float32)[None, :, None]  # column i holds the value i
    buf.state0 = torch.arange(4, dtype=torch.float32)[:, None] * 10
    buf.compute_returns(0.99, 0.95)
    PPOLearner(policy, cfg, resolve_compute("cpu", "fp32"), np.random.default_rng(0)).update(buf)
    assert len(policy.calls) == 2
    seen = []
    for shape, state0, column_ids in policy.calls:
        assert tuple(shape) == (5, 2, 1)  # the whole segment, 2 env columns
        np.testing.assert_allclose(state0[:, 0].numpy(), column_ids.numpy() * 10)
        seen += column_ids.tolist()
    assert sorted(seen) == [0, 1, 2, 3]


@pytest.mark.slow
def test_cnn_policy_trains_through_worker_processes():
    steps = []
    hooks = Hooks(on_step=[steps.append])
    settings = toy_settings(n_envs=2, n_steps=16, n_minibatches=2, n_epochs=1)
    trainer = make_trainer(settings, env_fns=[functools.partial(flash_cue, 8)] * 2, hooks=hooks)
    assert trainer.policy.spec.kind == "cnn"
    assert type(trainer.vec_env).__name__ == "ShmVecEnv"
    trainer.run(32)
    assert trainer.vec_env.closed  # closed by run()
    assert len(steps) == 16 and steps[-1].global_step == 32
    assert steps[0].probs.shape == (2, 4)
    np.testing.assert_allclose(steps[0].probs.sum(1), 1.0, rtol=1e-5)
    assert steps[0].values.shape == (2,) and steps[0].values.dtype == np.float32
    assert sum(int(s.truncated.sum()) for s in steps) == 4  # 8-step episodes, 2 envs, 16 steps


def test_frames_are_stored_channels_last_and_minibatches_keep_the_layout_and_the_rows():
    cfg = PPOConfig(n_minibatches=4)
    buf = RolloutBuffer(8, 4, (4, 12, 10), torch.uint8)
    assert buf.obs.shape == (8, 4, 4, 12, 10)
    assert buf.obs[3].is_contiguous(memory_format=torch.channels_last)  # what a step feeds the CNN, copy-free
    frames = torch.randint(0, 256, (8, 4, 4, 12, 10), dtype=torch.uint8)
    buf.obs.copy_(frames)
    buf.actions.copy_(torch.arange(32).reshape(8, 4))  # row id of each sample
    learner = PPOLearner(make_policy(PolicySpec("mlp", (4, 12, 10), 3, 8)), cfg, resolve_compute("cpu"),
                         np.random.default_rng(0))
    seen = []
    for mb in learner.minibatches(buf):
        rows = mb.actions[0]
        obs = mb.obs[0]
        assert obs.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(obs, frames.reshape(32, 4, 12, 10)[rows])  # the frames of exactly those samples
        seen += rows.tolist()
    assert sorted(seen) == list(range(32))
    assert RolloutBuffer(8, 4, (16,), torch.float32).obs.is_contiguous()  # vectors stay plain
