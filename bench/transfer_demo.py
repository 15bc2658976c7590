"""Transfer gain measured on what ships: joint PPO on the Airstriker preset's training levels (Level1 and its
start states cut at 8 s and 20 s), then the transfer protocol on its test levels (the cuts at 4 s and 12 s):
fine-tuned vs PPO from scratch vs zero-shot, 3 seeds, with 95% intervals and the transfer gain with its interval.
JERK does not apply to Airstriker (a shooter: no jump); the table says so in a note.

Why this level set: it is the one that plays on a fresh install (the ROM ships with stable-retro), and its test
levels are later points of the level the joint policy trains on, so transfer has something to carry over within a
budget two cores can afford; an Atari split (different games) carries far less at budgets this small.

Usage: python bench/transfer_demo.py [--joint-steps N] [--budget N] [--seeds 0,1,2] [--jobs 2] [--out DIR]
                                     [--regime preset|report]
`--regime report` trains jointly the report's way (each of 6 workers fixed on one training level, synchronous
PPO, time-limit ends terminal) instead of the preset's (per-episode level draws, overlapped updates).
Prints the load average while it runs and the wall time of each phase. Last line:
transfer_gain=X ci_low=Y ci_high=Z
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _load_sampler(samples: list[float], stop: threading.Event) -> threading.Thread:
    def sample() -> None:
        while not stop.wait(30):
            samples.append(os.getloadavg()[0])

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    return thread


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--joint-steps", type=int, default=90_000, help="joint-training agent steps")
    parser.add_argument("--budget", type=int, default=12_000, help="agent steps per test level, seed and mode")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--jobs", type=int, default=2, help="transfer jobs at once")
    parser.add_argument("--out", type=Path, help="runs folder (default: a new temporary folder)")
    parser.add_argument("--regime", choices=("preset", "report"), default="preset")
    args = parser.parse_args()

    from workbench.core.paths import PRESETS_DIR
    from workbench.core.presets import load_preset
    from workbench.engine.transfer import run_transfer
    from workbench.launcher import build_run, build_trainer

    out = args.out or Path(tempfile.mkdtemp(prefix="transfer-demo-"))
    os.environ["WORKBENCH_RUNS"] = str(out)
    preset = load_preset(PRESETS_DIR / "airstriker.toml")
    preset.ppo.total_steps = args.joint_steps
    preset.run.record_episodes = False
    if args.regime == "report":
        preset.env.level_sampling = "fixed"
        preset.ppo.n_envs = 2 * len(preset.levels.train)
        preset.ppo.overlap = False
        preset.ppo.bootstrap_truncated = False
    seeds = [int(s) for s in args.seeds.split(",")]
    load: list[float] = []
    stop = threading.Event()
    _load_sampler(load, stop)
    print(f"start {time.strftime('%H:%M:%S', time.gmtime())} UTC, load average {os.getloadavg()}, "
          f"{os.cpu_count()} CPUs; runs in {out}", flush=True)

    t0 = time.perf_counter()
    run = build_run(preset, out / "joint")
    print(f"joint training: {args.joint_steps} agent steps on {len(preset.levels.train)} levels, "
          f"{preset.ppo.n_envs} envs, {run.trainer.compute.precision}, regime {args.regime}", flush=True)
    returns: list[float] = []
    run.trainer.hooks.on_episode.append(lambda e: returns.append(e.episode_return))
    outcome = run.train(args.joint_steps)
    t_joint = time.perf_counter() - t0
    tail = returns[-20:]
    print(f"joint: {outcome.state} at step {outcome.global_step} in {t_joint:.0f} s; {len(returns)} episodes, "
          f"mean return of the last {len(tail)}: {sum(tail) / max(1, len(tail)):.1f}", flush=True)

    t1 = time.perf_counter()
    result = run_transfer(preset, run.path, build_trainer, budget=args.budget, jobs=args.jobs, seeds=seeds,
                          log=lambda text: print(text, flush=True))
    t_transfer = time.perf_counter() - t1
    stop.set()
    print()
    print(result.markdown())
    for error in result.errors():
        print(f"error: {error}")
    mean_load = sum(load) / len(load) if load else os.getloadavg()[0]
    print(f"wall: joint {t_joint:.0f} s, transfer {t_transfer:.0f} s, total {time.perf_counter() - t0:.0f} s; "
          f"load average (1 min) sampled every 30 s: mean {mean_load:.2f}, max {max(load, default=0):.2f}; "
          f"end {time.strftime('%H:%M:%S', time.gmtime())} UTC; table in {result.md_path}")
    gain = result.gain()
    print(f"transfer_gain={gain.mean:.3f} ci_low={gain.low:.3f} ci_high={gain.high:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
