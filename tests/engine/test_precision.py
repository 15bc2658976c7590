"""Under bf16 autocast the policy and value heads run in fp32 (what is compared against the clip range and test
tolerances), the trunk in bf16. Autocast works on any CPU (emulated where bf16 is not native), so this test does
not depend on the CPU. The Nature CNN acts with its weights cast once per change; it must give autocast's numbers."""
from __future__ import annotations

import torch

from workbench.engine.policies.api import PolicySpec
from workbench.engine.policies.registry import make_policy
from workbench.engine.rl2.policy import rl2_spec


def test_heads_run_in_fp32_under_bf16_autocast():
    torch.manual_seed(0)
    policy = make_policy(PolicySpec("mlp", (8,), 3, 16))
    obs = torch.randn(5, 8)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        features = policy.features(obs)
        logits, value = policy(obs)
    assert features.dtype == torch.bfloat16  # the trunk ran in bf16
    assert logits.dtype == torch.float32 and value.dtype == torch.float32
    with torch.no_grad():
        torch.testing.assert_close(logits, policy.actor(features.float()), rtol=0, atol=0)
        torch.testing.assert_close(value, policy.critic(features.float()).squeeze(-1), rtol=0, atol=0)


def test_recurrent_heads_run_in_fp32_under_bf16_autocast():
    torch.manual_seed(0)
    policy = make_policy(rl2_spec((6,), 3, 8))
    t, n = 3, 2
    zeros = torch.zeros(t, n)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits, value = policy.evaluate(torch.randn(t, n, 6), None, zeros.long(), zeros, zeros.bool(), zeros.bool())
    assert logits.dtype == torch.float32 and value.dtype == torch.float32


def _cnn_outputs(policy, obs, *, acting: bool):
    """The Nature CNN's logits and value under bf16 autocast: acting (no gradient: the cached-weight path) or
    as the learner runs it (gradient on: autocast's own casts)."""
    grad = torch.no_grad() if acting else torch.enable_grad()
    with grad, torch.autocast("cpu", dtype=torch.bfloat16):
        logits, value = policy(obs)
    return logits.detach(), value.detach()


def test_acting_cnn_with_cached_bf16_weights_gives_autocasts_numbers():
    torch.manual_seed(0)
    policy = make_policy(PolicySpec("cnn", (4, 84, 84), 7, 64))
    obs = torch.randint(0, 256, (8, 4, 84, 84), dtype=torch.uint8)
    reference = _cnn_outputs(policy, obs, acting=False)
    assert policy._bf16_cache is None
    for got, want in zip(_cnn_outputs(policy, obs, acting=True), reference):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert policy._bf16_cache is not None  # the acting path used (and kept) the cast weights

    # An optimizer step changes the weights in place: the cast copy must follow, not serve stale weights.
    optimizer = torch.optim.SGD(policy.parameters(), lr=0.5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, value = policy(obs)
    (logits.float().logsumexp(-1).mean() + value.float().square().mean()).backward()
    optimizer.step()
    stepped = _cnn_outputs(policy, obs, acting=False)
    assert not torch.equal(stepped[1], reference[1])
    for got, want in zip(_cnn_outputs(policy, obs, acting=True), stepped):
        torch.testing.assert_close(got, want, rtol=0, atol=0)

    # So must weights loaded from elsewhere (how the acting policy gets a learner's update).
    other = make_policy(PolicySpec("cnn", (4, 84, 84), 7, 64))
    policy.load_state_dict(other.state_dict())
    for got, want in zip(_cnn_outputs(policy, obs, acting=True), _cnn_outputs(other, obs, acting=False)):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_fp32_acting_does_not_cast():
    policy = make_policy(PolicySpec("cnn", (4, 84, 84), 7, 64))
    with torch.no_grad():
        logits, _ = policy(torch.zeros(2, 4, 84, 84, dtype=torch.uint8))
    assert logits.dtype == torch.float32 and policy._bf16_cache is None
