"""RL² on Bernoulli bandits (Duan et al. 2016, Table 1), trained by the workbench's own trainer, beside references
played on the same held-out bandits: uniformly random pulls and Thompson sampling (a near-Gittins heuristic).

    .venv/bin/python bench/rl2_bandit.py [--settings n10k5,n100k5] [--updates N] [--envs N] [--hidden N]
        [--learning-rate X] [--minibatches N] [--ppo FIELD=VALUE ...] [--architecture separate|shared]
        [--time-input] [--reward-scale X] [--seed 0] [--curves FILE]

Each setting (n pulls, k arms) trains the engine's `Trainer` (built by `launcher.build_trainer`) with
run.algorithm = "rl2" (PPO, back-propagation through the GRUs over whole trials) on `BanditVecEnv` trials (one
trial = n pulls of a fresh k-armed bandit, arms p_i ~ U[0,1], all trials of an update stepped in one numpy call),
with the settings of `bandit_run.bandit_settings` and the budget of `bandit_run.TABLE1_BUDGETS`, which may scale
the rewards PPO learns on and override PPO fields (override it with --updates/--envs/--hidden/--learning-rate/
--minibatches/--reward-scale; `--ppo gamma=1.0` overrides any PPOConfig field, the budget's too).
The policy is the paper's: separate policy and value GRUs, and its inputs are only the previous arm, reward and done
flag (`--time-input` adds the fraction of the trial played, which the paper's agent does not have;
`--architecture shared` is one GRU for both heads; `--reward-scale X` multiplies the rewards PPO learns on, so
the value targets, as `env.reward_scale` does for games, while the policy still sees the raw 0/1 reward). Every
`valid_every` updates the policy is scored on validation bandits (their own seed); the best of those checkpoints
and the final weights are both scored on `--trials` held-out bandits, which random and Thompson sampling play too.
fp32 throughout, one thread. The learning curves (with the updates' entropy and the value network's explained
variance) go to `--curves` (JSON). The last line is `rl2_over_random_n100_k5=<RL² best checkpoint's total /
random's total>` (the final weights' score is in the table beside it, and the best checkpoint's when it pulls
its most likely arm instead of sampling, which is not how the paper scores).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

PAPER = {  # Table 1: (n pulls, k arms) -> (RL², Gittins, random)
    (10, 5): (6.7, 6.6, 5.0), (10, 10): (6.7, 6.6, 5.0), (100, 5): (78.7, 78.3, 49.9), (100, 10): (83.5, 82.8, 49.9)}


def play_reference(n_arms: int, n_pulls: int, trials: int, rule: str, seed: int) -> float:
    """Mean total reward of `rule` ('random' or 'thompson': sample each arm's Beta(1 + wins, 1 + losses), pull
    the best sample) on the held-out bandits RL² is scored on (`BanditVecEnv` reset with `EVAL_SEED`)."""
    from workbench.engine.rl2.bandit_run import EVAL_SEED
    from workbench.engine.rl2.bandit_vec import BanditVecEnv

    rng = np.random.default_rng(seed)
    env = BanditVecEnv(trials, n_arms, n_pulls)  # the arms do not depend on the observation
    env.reset(seed=EVAL_SEED)
    wins, losses = np.ones((trials, n_arms)), np.ones((trials, n_arms))
    rows, total = np.arange(trials), np.zeros(trials)
    for _ in range(n_pulls):
        if rule == "random":
            arms = rng.integers(n_arms, size=trials)
        else:
            arms = rng.beta(wins, losses).argmax(axis=1)
        _, rewards, *_ = env.step(arms)
        wins[rows, arms] += rewards
        losses[rows, arms] += 1 - rewards
        total += rewards
    return float(total.mean())


def ppo_override(text: str) -> tuple[str, object]:
    """`FIELD=VALUE` -> (field, value parsed as that PPOConfig field's type), for `--ppo`."""
    import dataclasses

    from workbench.core.settings import PPOConfig

    field, sep, value = text.partition("=")
    own = {"n_envs": "--envs", "n_steps": "the trial length n", "n_minibatches": "--minibatches",
           "n_epochs": "the budget", "learning_rate": "--learning-rate", "total_steps": "--updates",
           "device": "--device", "precision": "fp32 throughout"}
    if field in own:
        raise argparse.ArgumentTypeError(f"--ppo {field}: set by the bench ({own[field]})")
    types = {f.name: type(f.default) for f in dataclasses.fields(PPOConfig) if f.name not in own}
    if not sep or field not in types:
        raise argparse.ArgumentTypeError(f"--ppo wants FIELD=VALUE with FIELD one of {', '.join(sorted(types))} "
                                         f"(got {text!r})")
    kind = types[field]
    try:
        if kind is bool:
            if value.lower() not in ("true", "false"):
                raise ValueError(value)
            return field, value.lower() == "true"
        return field, kind(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--ppo {field} wants a {kind.__name__} (got {value!r})") from None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", default="n10k5,n10k10,n100k5,n100k10")
    parser.add_argument("--updates", type=int, default=None,
                        help="PPO updates per setting (default: bandit_run.TABLE1_BUDGETS for its n)")
    parser.add_argument("--envs", type=int, default=None,
                        help="trials per update (default: bandit_run.TABLE1_BUDGETS for its n)")
    parser.add_argument("--hidden", type=int, default=None, help="GRU units (default: the budget's)")
    parser.add_argument("--learning-rate", type=float, default=None, help="Adam's initial step (default: the budget's)")
    parser.add_argument("--minibatches", type=int, default=None, help="minibatches per epoch (default: the budget's)")
    parser.add_argument("--ppo", type=ppo_override, action="append", default=[], metavar="FIELD=VALUE",
                        help="override a PPOConfig field of bandit_run.bandit_settings, e.g. gamma=1.0 (repeatable)")
    parser.add_argument("--architecture", choices=["shared", "separate"], default="separate",
                        help="separate policy and value GRUs (the paper's, default) or one shared GRU")
    parser.add_argument("--time-input", action="store_true",
                        help="an addition to the paper: the policy also observes the fraction of the trial played")
    parser.add_argument("--reward-scale", type=float, default=None,
                        help="multiply the rewards PPO learns on (value targets) by X; the policy's input stays 0/1 "
                             "(default: the budget's)")
    parser.add_argument("--trials", type=int, default=2000, help="held-out trials per score")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--curves", default="rl2_bandit_curves.json",
                        help="where the learning curves (per update, with validation scores) are written")
    args = parser.parse_args(argv)
    os.environ.setdefault("WORKBENCH_LEARNER_THREADS", "1")  # a small GRU: threads only add overhead

    import json

    import torch

    torch.set_num_threads(1)
    from workbench.engine.rl2.bandit_run import TABLE1_BUDGETS, Budget, train_bandit
    from workbench.launcher import build_trainer

    settings = []
    for text in args.settings.split(","):
        n, k = text.strip().lstrip("n").split("k")
        settings.append((int(n), int(k)))
    rows, ratio, curves = [], None, {}
    bench_start = time.perf_counter()
    for n, k in settings:
        start = time.perf_counter()
        budget = TABLE1_BUDGETS.get(n, Budget(updates=100))
        updates, envs = args.updates or budget.updates, args.envs or budget.n_envs
        hidden = args.hidden or budget.hidden_size
        learning_rate = args.learning_rate or budget.learning_rate
        minibatches = args.minibatches or budget.n_minibatches
        reward_scale = budget.reward_scale if args.reward_scale is None else args.reward_scale
        ppo = {**dict(budget.ppo), **dict(args.ppo)}  # the command line wins over the budget
        log = lambda line, n=n, k=k: print(f"n={n} k={k}{line}", file=sys.stderr, flush=True)  # noqa: E731
        result = train_bandit(k, n, updates * envs * n, make_trainer=build_trainer, eval_trials=args.trials,
                              seed=args.seed, device=args.device, n_envs=envs, n_minibatches=minibatches,
                              n_epochs=budget.n_epochs, hidden_size=hidden, learning_rate=learning_rate,
                              architecture=args.architecture, time_input=args.time_input,
                              reward_scale=reward_scale, valid_every=budget.valid_every, log=log, **ppo)
        random_total = play_reference(k, n, args.trials, "random", seed=1)
        thompson_total = play_reference(k, n, args.trials, "thompson", seed=2)
        paper = PAPER.get((n, k), (float("nan"),) * 3)
        seconds = time.perf_counter() - start
        rows.append((n, k, result.best_score, result.score, result.best_greedy_score, random_total, thompson_total,
                     *paper, result.total_steps, seconds))
        curves[f"n{n}k{k}"] = {"updates": updates, "trials_per_update": envs, "hidden_size": hidden,
                               "learning_rate": learning_rate, "minibatches": minibatches, "ppo": ppo,
                               "architecture": args.architecture, "time_input": args.time_input,
                               "reward_scale": reward_scale,
                               "best_update": result.best_update, "best": result.best_score, "final": result.score,
                               "best_argmax": result.best_greedy_score,
                               "train_seconds": result.train_seconds, "curve": result.curve}
        print(f"n={n} k={k}: RL² best {result.best_score:.2f} (update {result.best_update}), final "
              f"{result.score:.2f}, best pulling its most likely arm {result.best_greedy_score:.2f} (random "
              f"{random_total:.2f}, Thompson {thompson_total:.2f}) after {updates} updates of {envs} trials = "
              f"{result.total_steps} pulls, {result.train_seconds:.0f} s training",
              file=sys.stderr, flush=True)
        if (n, k) == (100, 5):
            ratio = result.best_score / random_total
    with open(args.curves, "w") as f:
        json.dump(curves, f, indent=1)
    print(f"# {args.architecture} GRUs of {', '.join(str(c['hidden_size']) for c in curves.values())} units, "
          f"time input {'on (an addition)' if args.time_input else 'off (as in the paper)'}, precision fp32, seed "
          f"{args.seed}, reward scale {', '.join(str(c['reward_scale']) for c in curves.values())}, PPO overrides "
          f"{', '.join(str(c['ppo'] or 'none') for c in curves.values())}, "
          f"{time.perf_counter() - bench_start:.0f} s in all; "
          f"curves in {args.curves}")
    print("setting     | RL² best | RL² final | RL² best argmax | random ours | Thompson ours | RL² paper | "
          "Gittins paper | random paper | pulls trained | seconds")
    print("--- | --- | --- | --- | --- | --- | --- | --- | --- | --- | ---")
    for n, k, best, final, argmax, rnd, ts, p_rl2, p_git, p_rnd, steps, secs in rows:
        print(f"n={n:<3} k={k:<2} | {best:8.2f} | {final:9.2f} | {argmax:15.2f} | {rnd:11.2f} | {ts:13.2f} | "
              f"{p_rl2:9.1f} | {p_git:13.1f} | {p_rnd:12.1f} | {steps:13d} | {secs:7.0f}")
    if ratio is None:
        print("rl2_over_random_n100_k5=nan")
    else:
        print(f"rl2_over_random_n100_k5={ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
