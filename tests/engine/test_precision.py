"""Under bf16 autocast the policy and value heads run in fp32 (what is compared against the clip range and test
tolerances), the trunk in bf16. Autocast works on any CPU (emulated where bf16 is not native), so this test does
not depend on the CPU."""
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
