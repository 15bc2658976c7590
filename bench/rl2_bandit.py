"""RL² on Bernoulli bandits (Duan et al. 2016, Table 1), trained by the workbench's own trainer, beside references
played on the same held-out bandits: uniformly random pulls and Thompson sampling (a near-Gittins heuristic).

    .venv/bin/python bench/rl2_bandit.py [--updates 60] [--settings n10k5,n100k5]

Each setting trains for `--updates` PPO updates of `--envs` (64) trials (one trial = n pulls of a fresh k-armed bandit,
arms p_i ~ U[0,1]); the score is the mean total reward per trial on bandits never trained on. The paper trained
for far longer: with the default budget the n=100 settings are still well below its numbers.
The last line is `rl2_over_random_n100_k5=<our RL² total / our random total>`.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

PAPER = {  # Table 1: (n pulls, k arms) -> (RL², Gittins, random)
    (10, 5): (6.7, 6.6, 5.0), (10, 10): (6.7, 6.6, 5.0), (100, 5): (78.7, 78.3, 49.9), (100, 10): (83.5, 82.8, 49.9)}


def play_reference(n_arms: int, n_pulls: int, trials: int, rule: str, seed: int, n_envs: int = 64) -> float:
    """Mean total reward of `rule` ('random' or 'thompson') on the same held-out bandits RL² is scored on."""
    from workbench.engine.rl2.trials import bandit_trial_env

    rng = np.random.default_rng(seed)
    envs = [bandit_trial_env(n_arms, n_pulls, 10**6 + i) for i in range(min(n_envs, trials))]  # = bandit_run's
    quota = [trials // len(envs) + (i < trials % len(envs)) for i in range(len(envs))]
    totals = []
    for env, q in zip(envs, quota):
        env.reset(seed=10**6 + envs.index(env))
        for _ in range(q):
            wins, losses, total, done = np.ones(n_arms), np.ones(n_arms), 0.0, False
            while not done:
                arm = int(rng.integers(n_arms)) if rule == "random" else int(np.argmax(rng.beta(wins, losses)))
                _, r, terminated, truncated, _ = env.step(arm)
                wins[arm] += r
                losses[arm] += 1 - r
                total += r
                done = terminated or truncated
            totals.append(total)
            env.reset()
    return float(np.mean(totals))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=60, help="PPO updates per setting (64 trials each)")
    parser.add_argument("--settings", default="n10k5,n10k10,n100k5,n100k10")
    parser.add_argument("--trials", type=int, default=1000, help="held-out trials per score")
    parser.add_argument("--envs", type=int, default=64, help="trials per update (parallel bandits)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    os.environ.setdefault("WORKBENCH_LEARNER_THREADS", "1")  # a 32-unit GRU: threads only add overhead

    from workbench.engine.rl2.bandit_run import train_bandit

    settings = []
    for text in args.settings.split(","):
        n, k = text.strip().lstrip("n").split("k")
        settings.append((int(n), int(k)))
    rows, ratio = [], None
    for n, k in settings:
        start = time.perf_counter()
        result = train_bandit(k, n, total_steps=args.updates * args.envs * n, eval_trials=args.trials,
                              n_envs=args.envs, device=args.device)
        random_total = play_reference(k, n, args.trials, "random", seed=1, n_envs=args.envs)
        thompson_total = play_reference(k, n, args.trials, "thompson", seed=2, n_envs=args.envs)
        paper = PAPER.get((n, k), (float("nan"),) * 3)
        rows.append((n, k, result.score, random_total, thompson_total, *paper, result.total_steps,
                     time.perf_counter() - start))
        print(f"n={n} k={k}: RL² {result.score:.2f} (random {random_total:.2f}, Thompson {thompson_total:.2f}) after "
              f"{result.total_steps} pulls, {result.train_seconds:.0f} s training", file=sys.stderr, flush=True)
        if (n, k) == (100, 5):
            ratio = result.score / random_total
    print("setting     | RL² ours | random ours | Thompson ours | RL² paper | Gittins paper | random paper | "
          "pulls trained | seconds")
    print("--- | --- | --- | --- | --- | --- | --- | --- | ---")
    for n, k, ours, rnd, ts, p_rl2, p_git, p_rnd, steps, secs in rows:
        print(f"n={n:<3} k={k:<2} | {ours:8.2f} | {rnd:11.2f} | {ts:13.2f} | {p_rl2:9.1f} | {p_git:13.1f} | "
              f"{p_rnd:12.1f} | {steps:13d} | {secs:7.0f}")
    if ratio is None:
        print("rl2_over_random_n100_k5=nan")
    else:
        print(f"rl2_over_random_n100_k5={ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
