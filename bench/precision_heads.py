"""What running the policy and value heads in fp32 under bf16 autocast costs, side by side with bf16 heads.

The Nature CNN learner step (minibatch of 256 stacked 84x84 frames, forward + backward + Adam, 1 thread) under bf16
autocast, alternating A (heads fp32, `policies.feedforward.HEADS_IN_FP32 = True`, the default) and B (heads bf16)
for R rounds; also how far the bf16 heads move the values and log-probabilities from an fp32 reference. Runs only
where bf16 autocast is native (AVX-512 BF16 / AMX); elsewhere "auto" precision is fp32 and there is nothing to pay.

Usage: python bench/precision_heads.py [--rounds R] [--steps N]
Last line: fp32_heads_cost=X (time with fp32 heads / time with bf16 heads)
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=10, help="learner steps per round and side")
    args = parser.parse_args()

    import torch

    from workbench.engine.device import cpu_has_native_bf16
    from workbench.engine.policies import feedforward
    from workbench.engine.policies.api import PolicySpec
    from workbench.engine.policies.registry import make_policy

    torch.set_num_threads(1)
    torch.manual_seed(0)
    if not cpu_has_native_bf16():
        print("this CPU has no native bf16: precision 'auto' runs fp32 here, the heads cost nothing")
        print("fp32_heads_cost=1.000")
        return 0
    policy = make_policy(PolicySpec("cnn", (4, 84, 84), 7, 512))
    opt = torch.optim.Adam(policy.parameters(), lr=1e-4, eps=1e-5)
    obs = torch.randint(0, 256, (256, 84, 84, 4), dtype=torch.uint8).permute(0, 3, 1, 2)
    actions = torch.randint(0, 7, (256,))

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits, values = policy(obs)
        logp = torch.log_softmax(logits.float(), -1).gather(-1, actions[:, None]).squeeze(-1)
        loss = -(logp.mean()) + 0.5 * (values.float() ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def outputs():
        with torch.no_grad():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits, values = policy(obs)
            return torch.log_softmax(logits.float(), -1), values.float()

    with torch.no_grad():
        ref_logp, ref_values = (lambda lv: (torch.log_softmax(lv[0], -1), lv[1]))(policy(obs))
    errors = {}
    for name, flag in (("fp32 heads", True), ("bf16 heads", False)):
        feedforward.HEADS_IN_FP32 = flag
        logp, values = outputs()
        errors[name] = (float((logp - ref_logp).abs().max()), float((values - ref_values).abs().max()))
    times = {True: 0.0, False: 0.0}
    for flag in (True, False):  # warm-up
        feedforward.HEADS_IN_FP32 = flag
        step()
    for r in range(args.rounds):
        for flag in ((True, False) if r % 2 == 0 else (False, True)):
            feedforward.HEADS_IN_FP32 = flag
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step()
            times[flag] += time.perf_counter() - t0
    feedforward.HEADS_IN_FP32 = True
    per = {k: v / (args.rounds * args.steps) * 1000 for k, v in times.items()}
    for name, (dl, dv) in errors.items():
        print(f"{name}: max |log-prob - fp32| {dl:.2e}, max |value - fp32| {dv:.2e}")
    print(f"learner step (256 frames, 1 thread): fp32 heads {per[True]:.1f} ms, bf16 heads {per[False]:.1f} ms "
          f"over {args.rounds} rounds x {args.steps} steps (ABBA)")
    print(f"fp32_heads_cost={times[True] / times[False]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
