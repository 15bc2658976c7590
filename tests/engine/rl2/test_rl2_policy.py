"""The recurrent policy: state zeroed on `reset`, kept across episode starts, and a stored segment re-run by
`evaluate` gives the rollout's step-by-step outputs, also with a reset inside the segment."""
from __future__ import annotations

import pytest
import torch

from workbench.engine.policies.registry import make_policy
from workbench.engine.rl2.policy import RecurrentActorCritic, rl2_spec

N_ACTIONS = 4


def _inputs(shape, steps, n, seed):
    g = torch.Generator().manual_seed(seed)
    if len(shape) == 3:
        obs = torch.randint(0, 256, (steps, n, *shape), dtype=torch.uint8, generator=g)
    else:
        obs = torch.randn(steps, n, *shape, generator=g)
    prev_action = torch.randint(0, N_ACTIONS, (steps, n), generator=g)
    prev_reward = torch.randint(-3, 4, (steps, n), generator=g).float()
    episode_start = torch.rand(steps, n, generator=g) < 0.2
    return obs, prev_action, prev_reward, episode_start


@pytest.mark.parametrize("architecture", ["shared", "separate"])
@pytest.mark.parametrize("shape", [(3,), (4, 84, 84)], ids=["mlp", "cnn"])
def test_evaluate_reproduces_the_rollout_across_a_reset_inside_the_segment(shape, architecture):
    torch.manual_seed(0)
    policy = make_policy(rl2_spec(shape, N_ACTIONS, hidden_size=16, architecture=architecture))
    assert isinstance(policy, RecurrentActorCritic) and policy.recurrent
    assert policy.separate == (architecture == "separate")
    steps, n = 9, 3
    obs, prev_action, prev_reward, episode_start = _inputs(shape, steps, n, seed=1)
    reset = torch.zeros(steps, n, dtype=torch.bool)
    reset[4, 0] = reset[7, 2] = True  # trials start inside the segment for env 0 and env 2
    state0 = torch.randn(n, policy.state_size)  # mid-trial: the segment starts from a stored, non-zero state
    state, logits, values = state0, [], []
    with torch.no_grad():
        for t in range(steps):
            out = policy.step(obs[t], state, prev_action[t], prev_reward[t], episode_start[t], reset[t])
            state = out.state
            logits.append(out.logits)
            values.append(out.value)
        re_logits, re_values = policy.evaluate(obs, state0, prev_action, prev_reward, episode_start, reset)
        torch.testing.assert_close(re_logits, torch.stack(logits), rtol=0, atol=1e-6)
        torch.testing.assert_close(re_values, torch.stack(values), rtol=0, atol=1e-6)
        # Without the reset flags the re-run differs after them: the test can see a missed reset.
        wrong, _ = policy.evaluate(obs, state0, prev_action, prev_reward, episode_start, torch.zeros_like(reset))
        # (that re-run has no reset after its first step: the fused torch.gru path, equal to the loop's to rounding)
        torch.testing.assert_close(wrong[:4], re_logits[:4], rtol=0, atol=1e-6)
        assert (wrong[4, 0] - re_logits[4, 0]).abs().max() > 1e-4


def test_reset_zeroes_the_state_and_episode_start_keeps_it():
    torch.manual_seed(0)
    policy = RecurrentActorCritic(rl2_spec((3,), N_ACTIONS, hidden_size=16))
    obs, prev_action, prev_reward, _ = _inputs((3,), 1, 2, seed=2)
    carried = torch.randn(2, 16) * 3
    yes, no = torch.ones(2, dtype=torch.bool), torch.zeros(2, dtype=torch.bool)
    with torch.no_grad():
        fresh = policy.step(obs[0], policy.initial_state(2), prev_action[0], prev_reward[0], yes, no)
        after_reset = policy.step(obs[0], carried, prev_action[0], prev_reward[0], yes, yes)
        new_episode_same_trial = policy.step(obs[0], carried, prev_action[0], prev_reward[0], yes, no)
    assert torch.equal(after_reset.state, fresh.state)
    assert torch.equal(after_reset.logits, fresh.logits)
    # A new episode inside a trial keeps what the trial taught: the carried state still shapes the output.
    assert (new_episode_same_trial.state - fresh.state).abs().max() > 1e-3


def test_policy_sees_previous_action_and_reward():
    torch.manual_seed(0)
    policy = RecurrentActorCritic(rl2_spec((1,), N_ACTIONS, hidden_size=8))
    obs = torch.zeros(2, 1)
    no = torch.zeros(2, dtype=torch.bool)
    state = policy.initial_state(2)
    with torch.no_grad():
        out = policy.step(obs, state, torch.tensor([0, 1]), torch.tensor([1.0, 1.0]), no, no)
        assert (out.logits[0] - out.logits[1]).abs().max() > 0
        out = policy.step(obs, state, torch.tensor([2, 2]), torch.tensor([0.0, 1.0]), no, no)
        assert (out.logits[0] - out.logits[1]).abs().max() > 0


def test_policy_rejects_observations_it_cannot_read():
    with pytest.raises(ValueError, match="shape"):
        RecurrentActorCritic(rl2_spec((2, 3), N_ACTIONS))


@pytest.mark.parametrize("architecture", ["shared", "separate"])
def test_the_fused_segment_equals_the_step_by_step_rollout_with_a_reset_at_its_start(architecture):
    """A bandit rollout: one trial per segment, reset at step 0 only (the fused torch.gru path)."""
    torch.manual_seed(0)
    policy = make_policy(rl2_spec((1,), N_ACTIONS, hidden_size=32, architecture=architecture))
    steps, n = 12, 5
    obs, prev_action, prev_reward, episode_start = _inputs((1,), steps, n, seed=3)
    reset = torch.zeros(steps, n, dtype=torch.bool)
    reset[0] = True
    state0 = torch.randn(n, policy.state_size) * 2  # the previous trial's state, to be wiped at step 0
    state, logits, values = state0, [], []
    with torch.no_grad():
        for t in range(steps):
            out = policy.step(obs[t], state, prev_action[t], prev_reward[t], episode_start[t], reset[t])
            state = out.state
            logits.append(out.logits)
            values.append(out.value)
        re_logits, re_values = policy.evaluate(obs, state0, prev_action, prev_reward, episode_start, reset)
    torch.testing.assert_close(re_logits, torch.stack(logits), rtol=0, atol=1e-6)
    torch.testing.assert_close(re_values, torch.stack(values), rtol=0, atol=1e-5)


def test_separate_value_network_sends_no_gradient_to_the_policy():
    torch.manual_seed(0)
    policy = make_policy(rl2_spec((1,), N_ACTIONS, hidden_size=8, architecture="separate"))
    assert policy.spec.kind == "rl2-separate" and policy.state_size == 16
    obs, prev_action, prev_reward, episode_start = _inputs((1,), 6, 3, seed=4)
    reset = torch.zeros(6, 3, dtype=torch.bool)
    logits, values = policy.evaluate(obs, None, prev_action, prev_reward, episode_start, reset)
    values.sum().backward()
    assert all(p.grad is None or not p.grad.any() for p in [*policy.core.parameters(), *policy.pi.parameters()])
    assert policy.value_core.cell.weight_hh.grad.abs().sum() > 0
    policy.zero_grad()
    logits, values = policy.evaluate(obs, None, prev_action, prev_reward, episode_start, reset)
    logits.sum().backward()
    assert all(p.grad is None or not p.grad.any() for p in [*policy.value_core.parameters(), *policy.v.parameters()])


def test_a_checkpoint_from_before_the_split_loads():
    torch.manual_seed(0)
    policy = make_policy(rl2_spec((1,), N_ACTIONS, hidden_size=8))
    old = {(k[len("core."):] if k.startswith("core.") else k): v for k, v in policy.state_dict().items()}
    assert "cell.weight_ih" in old
    fresh = make_policy(rl2_spec((1,), N_ACTIONS, hidden_size=8))
    fresh.load_state_dict(old)
    assert torch.equal(fresh.core.cell.weight_ih, policy.core.cell.weight_ih)


def test_the_architecture_setting_is_checked_and_picks_the_policy_kind():
    from workbench.core.settings import RL2Config, Settings, validate

    problems = validate(Settings(rl2=RL2Config(architecture="twin")))
    assert [p.message for p in problems if p.key == "architecture"] == [
        "rl2.architecture = 'twin' must be 'shared' or 'separate'"]
    assert not validate(Settings(rl2=RL2Config(architecture="separate")))
    assert rl2_spec((1,), 2, 8, "separate").kind == "rl2-separate" and rl2_spec((1,), 2, 8).kind == "rl2"
    with pytest.raises(ValueError, match="unknown RL² architecture"):
        rl2_spec((1,), 2, 8, "twin")
