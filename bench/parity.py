"""Learning parity: mean episode return at equal agent steps, this workbench's trainer vs Stable-Baselines3 PPO,
over several seeds, on the throughput benchmark's configuration (Airstriker Level1, 8 envs, sticky frame skip,
84x84 gray, stack 4, Nature CNN, n_steps 128, minibatch 256, 4 epochs; see sb3_reference.py).

Score of one run = mean raw return of the episodes that finished in the last quarter of its `--steps`.
Prints per-seed scores, mean ± std per side, and as the last line `return_ratio_vs_sb3=X` (ours / SB3).
Runs are slow (SB3 ≈ 200 agent steps/s on 2 cores): `--jobs` runs seeds side by side, `--cores` pins each run
to its own cores (Linux taskset) so parallel runs do not disturb each other.

Our side overlaps rollout and update (`ppo.overlap = true`, as the shipped presets do); `--sync` runs it without.

Usage: python bench/parity.py --steps 50000 --seeds 0 1 2 [--jobs 6 --cores 2] [--sync]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent


def ours(steps: int, seed: int, overlap: bool = True) -> list[tuple[int, float]]:
    from throughput import LEVEL, throughput_settings  # the same configuration (bench/ is on sys.path)

    from workbench.core.levels import Level
    from workbench.engine.hooks import Hooks
    from workbench.launcher import build_trainer

    settings = throughput_settings(8, seed, overlap)
    episodes: list[tuple[int, float]] = []
    build_trainer(settings, [Level.parse(LEVEL)],
                  hooks=Hooks(on_episode=[lambda e: episodes.append((e.global_step, e.episode_return))])).run(steps)
    return episodes


def sb3(steps: int, seed: int) -> list[tuple[int, float]]:
    sys.path.insert(0, str(HERE))
    from sb3_reference import make_env
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import SubprocVecEnv, VecFrameStack, VecMonitor, VecTransposeImage

    episodes: list[tuple[int, float]] = []

    class Record(BaseCallback):
        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    episodes.append((self.num_timesteps, float(info["episode"]["r"])))
            return True

    venv = VecTransposeImage(VecFrameStack(VecMonitor(SubprocVecEnv([make_env] * 8)), 4))
    model = PPO("CnnPolicy", venv, n_steps=128, batch_size=256, n_epochs=4, learning_rate=2.5e-4, gamma=0.99,
                gae_lambda=0.95, clip_range=0.1, ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5, device="cpu",
                seed=seed, verbose=0)
    model.learn(steps, callback=Record())
    venv.close()
    return episodes


def score(episodes: list[tuple[int, float]], steps: int) -> float:
    late = [r for s, r in episodes if 0.75 * steps < s <= steps]
    return statistics.fmean(late) if late else float("nan")


def run_one(side: str, steps: int, seed: int, cores: list[int] | None, sync: bool) -> tuple[str, int, float, int]:
    cmd = [sys.executable, __file__, "--side", side, "--steps", str(steps), "--seeds", str(seed)] + ["--sync"] * sync
    if cores:
        cmd = ["taskset", "-c", ",".join(map(str, cores))] + cmd
    env = dict(os.environ, CUDA_VISIBLE_DEVICES=os.environ.get("PARITY_CUDA", ""))  # both sides on the CPU
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent, env=env)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("{")), None)
    if line is None:
        sys.exit(f"{side} seed {seed} failed:\n{out.stdout}\n{out.stderr[-3000:]}")
    episodes = json.loads(line)["episodes"]
    return side, seed, score(episodes, steps), len(episodes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=1, help="runs at once")
    parser.add_argument("--cores", type=int, default=0, help="pin each run to this many cores (0: no pinning)")
    parser.add_argument("--sync", action="store_true", help="our side learns between rollouts (ppo.overlap = false)")
    parser.add_argument("--side", choices=["ours", "sb3"], help=argparse.SUPPRESS)  # internal: one run
    args = parser.parse_args()
    if args.side:
        seed = args.seeds[0]
        episodes = ours(args.steps, seed, overlap=not args.sync) if args.side == "ours" else sb3(args.steps, seed)
        print(json.dumps({"episodes": episodes}))
        return
    runs = [(side, seed) for seed in args.seeds for side in ("ours", "sb3")]
    slots = [list(range(i * args.cores, (i + 1) * args.cores)) if args.cores else None for i in range(args.jobs)]
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run_one, side, args.steps, seed, slots[i % args.jobs], args.sync)
                   for i, (side, seed) in enumerate(runs)]
        results = [f.result() for f in futures]
    summary = {}
    for side in ("ours", "sb3"):
        scores = [s for sd, _, s, _ in results if sd == side and s == s]  # a run with no late episode: NaN
        for sd, seed, s, n in results:
            if sd == side:
                print(f"{side} seed={seed} late_mean_return={s:.1f} episodes={n}")
        if not scores:
            sys.exit(f"{side}: no episode finished in the last quarter of {args.steps} steps; raise --steps")
        summary[side] = (statistics.fmean(scores), statistics.stdev(scores) if len(scores) > 1 else 0.0)
        print(f"{side} steps={args.steps} mean_return={summary[side][0]:.1f} ± {summary[side][1]:.1f} "
              f"(seeds {args.seeds})")
    diff = abs(summary["ours"][0] - summary["sb3"][0])
    noise = (summary["ours"][1] ** 2 + summary["sb3"][1] ** 2) ** 0.5
    print(f"difference={diff:.1f} combined_std={noise:.1f} within_noise={diff <= 2 * noise}")
    print(f"return_ratio_vs_sb3={summary['ours'][0] / summary['sb3'][0]:.2f}")


if __name__ == "__main__":
    main()
