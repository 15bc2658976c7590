"""Training throughput: this workbench's trainer vs Stable-Baselines3 PPO on the same configuration, one after
the other in the same run (Airstriker-Genesis-v0 Level1, 8 envs in worker processes, sticky frame skip 4
(p=0.25), 84x84 gray, 4-frame stack, Nature CNN, n_steps 128, minibatch 256, 4 epochs; see sb3_reference.py).

Usage: python bench/throughput.py [--seconds S] [--rounds R] [--envs N] [--sync]
Our side overlaps rollout and update (`ppo.overlap = true`, as the shipped presets do); `--sync` runs it without.
Each round runs both sides for S seconds each in fresh processes, in ABBA order (ours first in even rounds, SB3
first in odd ones); the ratio is of the summed agent steps/s.
First line: the CPU flags (they decide `precision = "auto"`), cores and load. Last line: ratio_vs_sb3=X
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from machine import machine_line

HERE = Path(__file__).resolve().parent


LEVEL = "Airstriker-Genesis-v0:Level1"


def throughput_settings(n_envs: int = 8, seed: int = 0, overlap: bool = True):
    """The configuration both sides train (SB3's in sb3_reference.py); bench/live_throughput.py runs it too."""
    from workbench.core.settings import EnvConfig, PPOConfig, Settings

    settings = Settings()
    settings.env = EnvConfig(action_set="discrete", frame_skip=4, sticky_prob=0.25, warp_size=84, grayscale=True,
                             frame_stack=4, reward_scale=1.0, level_sampling="fixed")
    settings.ppo = PPOConfig(n_envs=n_envs, n_steps=128, n_minibatches=n_envs * 128 // 256, n_epochs=4,
                             learning_rate=2.5e-4, gamma=0.99, gae_lambda=0.95, clip_range=0.1, ent_coef=0.01,
                             vf_coef=0.5, max_grad_norm=0.5, overlap=overlap)
    settings.run.seed = seed
    settings.run.record_episodes = False
    return settings


def ours(seconds: float, n_envs: int, seed: int, overlap: bool = True) -> None:
    """Run our trainer for `seconds` and print a line like the SB3 reference's."""
    from workbench.core.levels import Level
    from workbench.engine.hooks import Hooks
    from workbench.launcher import build_trainer

    settings = throughput_settings(n_envs, seed, overlap)
    returns: list[float] = []
    trainer = build_trainer(settings, [Level.parse(LEVEL)],
                            hooks=Hooks(on_episode=[lambda e: returns.append(e.episode_return)]))
    threads = trainer.learner.threads
    info = (f"device={trainer.compute.device} precision={trainer.compute.precision} threads={threads} "
            f"overlap={overlap}")
    stopped: dict[str, float] = {}

    def stop() -> None:
        # Count like the SB3 side: agent steps and seconds when time is up (SB3's callback ends learn() then),
        # not the workers' shutdown that follows.
        stopped.update(seconds=time.perf_counter() - t0, steps=trainer.global_step)
        trainer.stop()

    timer = threading.Timer(seconds, stop)
    t0 = time.perf_counter()
    timer.start()
    trainer.run(10**12)
    timer.cancel()
    if not stopped:  # the run ended before the timer (cannot happen with 10**12 steps; be exact anyway)
        stopped.update(seconds=time.perf_counter() - t0, steps=trainer.global_step)
    dt, steps = stopped["seconds"], int(stopped["steps"])
    mean_ret = sum(returns[-100:]) / len(returns[-100:]) if returns else float("nan")
    print(f"ours agent_steps={steps} seconds={dt:.1f} steps_per_s={steps / dt:.1f} frames_per_s={4 * steps / dt:.1f} "
          f"mean_return_last100={mean_ret:.1f} {info}", flush=True)


def run_side(cmd: list[str]) -> tuple[int, float, str]:
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent)
    line = next((ln for ln in out.stdout.splitlines() if "agent_steps=" in ln), None)
    if line is None:
        sys.exit(f"benchmark side failed: {' '.join(cmd)}\n{out.stdout}\n{out.stderr[-3000:]}")
    steps = int(re.search(r"agent_steps=(\d+)", line).group(1))
    secs = float(re.search(r"seconds=([\d.]+)", line).group(1))
    return steps, secs, line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sync", action="store_true", help="our side learns between rollouts (ppo.overlap = false)")
    parser.add_argument("--ours", action="store_true", help=argparse.SUPPRESS)  # internal: one side
    args = parser.parse_args()
    if args.ours:
        ours(args.seconds, args.envs, args.seed, not args.sync)
        return
    print(machine_line(), flush=True)
    totals = {"ours": [0, 0.0], "sb3": [0, 0.0]}
    sides = (("ours", [sys.executable, __file__, "--ours", "--seconds", str(args.seconds), "--envs", str(args.envs),
                       "--seed", str(args.seed)] + ["--sync"] * args.sync),
             ("sb3", [sys.executable, str(HERE / "sb3_reference.py"), str(args.seconds), str(args.envs),
                      str(args.seed)]))
    for r in range(args.rounds):
        # ABBA order (ours, SB3, SB3, ours, ...): a drift in the machine's speed over the run hits both sides alike
        for name, cmd in (sides if r % 2 == 0 else sides[::-1]):
            steps, secs, line = run_side(cmd)
            print(line, flush=True)
            totals[name][0] += steps
            totals[name][1] += secs
    rate = {k: v[0] / v[1] for k, v in totals.items()}
    print(f"ours_steps_per_s={rate['ours']:.1f} sb3_steps_per_s={rate['sb3']:.1f} cpus={os.cpu_count()}")
    print(f"ratio_vs_sb3={rate['ours'] / rate['sb3']:.2f}")


if __name__ == "__main__":
    main()
