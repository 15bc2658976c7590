"""Cluster placement overhead: agent steps/s of the env workers as Ray actors (`engine.cluster.vec.RayVecEnv`)
vs the local shared-memory worker processes (`ShmVecEnv`), same machine, same configuration, one run.

Configuration (both sides): Airstriker-Genesis-v0 Level1, N envs each fixed on the level, sticky frame skip 4
(p=0.25), 84x84 gray, 4-frame stack, Nature CNN, n_steps 128, 4 epochs, minibatch 256 (or fewer), synchronous
PPO (`ppo.overlap = false`; `--overlap` for a learner process), learner on this machine, torch's CPU build.
The Ray side starts a one-node Ray instance on this machine (`ray.init`, one logical CPU per env actor) unless
`--cluster ADDRESS` names a running one; its start-up is not counted, as the local side's worker start is not.
Each round runs both sides for S seconds each in fresh processes, in ABBA order; the ratio is of the summed agent
steps/s.

Each side also reports its rollout and update seconds: the placement changes only the rollouts (env steps,
observations back to the driver, inference), so `rollout_ratio` (agent steps per rollout second) isolates it;
the updates are the same learner on both sides, and on a loaded machine their time swings by 2-4x between runs.

Usage: python bench/cluster_overhead.py [--seconds S] [--rounds R] [--envs N[,N...]] [--cluster ADDRESS]
`--envs 2,4,8,16` gives the scaling curve (one ratio line per N). Last line: ratio_ray_vs_local=X
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


def side(name: str, seconds: float, n_envs: int, seed: int, overlap: bool, cluster: str | None) -> None:
    from workbench.core.levels import Level
    from workbench.core.settings import EnvConfig, PPOConfig, Settings
    from workbench.launcher import build_trainer

    settings = Settings()
    settings.env = EnvConfig(action_set="discrete", frame_skip=4, sticky_prob=0.25, warp_size=84, grayscale=True,
                             frame_stack=4, reward_scale=1.0, level_sampling="fixed")
    settings.ppo = PPOConfig(n_envs=n_envs, n_steps=128, n_minibatches=max(1, n_envs * 128 // 256), n_epochs=4,
                             learning_rate=2.5e-4, clip_range=0.1, ent_coef=0.01, overlap=overlap)
    settings.run.seed = seed
    settings.run.record_episodes = False
    own_ray = False
    if name == "ray" and cluster is None:
        import ray

        # logical CPUs: one per env actor (they share the cores, as the local side's worker processes do)
        ray.init(num_cpus=max(os.cpu_count() or 1, n_envs), include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR", object_store_memory=200 * 1024 * 1024)
        own_ray = True
    timings: list[tuple[float, float]] = []
    try:
        from workbench.engine.hooks import Hooks

        trainer = build_trainer(settings, [Level("Airstriker-Genesis-v0", "Level1")],
                                cluster=(cluster or "auto") if name == "ray" else None,
                                hooks=Hooks(on_update=[lambda r: timings.append(
                                    (r.metrics["rollout_seconds"], r.metrics["update_seconds"]))]))
        info = (f"device={trainer.compute.device} precision={trainer.compute.precision} "
                f"threads={trainer.learner.threads} overlap={overlap} vec_env={type(trainer.vec_env).__name__}")
        stopped: dict[str, float] = {}

        def stop() -> None:
            stopped.update(seconds=time.perf_counter() - t0, steps=trainer.global_step)
            trainer.stop()

        timer = threading.Timer(seconds, stop)
        t0 = time.perf_counter()
        timer.start()
        trainer.run(10**12)
        timer.cancel()
        restarts = getattr(trainer.vec_env, "restarts", 0)
        trainer.close()
    finally:
        if own_ray:
            import ray

            ray.shutdown()
    dt, steps = stopped["seconds"], int(stopped["steps"])
    rollout = sum(t[0] for t in timings) / max(1, len(timings))
    update = sum(t[1] for t in timings) / max(1, len(timings))
    rollout_steps = len(timings) * settings.ppo.n_steps * n_envs
    print(f"{name} envs={n_envs} agent_steps={steps} seconds={dt:.1f} steps_per_s={steps / dt:.1f} "
          f"updates={len(timings)} rollout_steps={rollout_steps} rollout_total_s={rollout * len(timings):.2f} "
          f"rollout_s={rollout:.2f} update_s={update:.2f} restarts={restarts} {info}", flush=True)


def run_side(cmd: list[str]) -> tuple[int, float, int, float, str]:
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent)
    line = next((ln for ln in out.stdout.splitlines() if "agent_steps=" in ln), None)
    if line is None:
        sys.exit(f"benchmark side failed: {' '.join(cmd)}\n{out.stdout}\n{out.stderr[-3000:]}")

    def num(key: str) -> float:
        return float(re.search(rf"\b{key}=([\d.]+)", line).group(1))

    return int(num("agent_steps")), num("seconds"), int(num("rollout_steps")), num("rollout_total_s"), line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--envs", default="4", help="envs per run, or a comma-separated list (scaling curve)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overlap", action="store_true", help="a learner process (ppo.overlap = true)")
    parser.add_argument("--cluster", help="a running Ray cluster's address (default: a one-node Ray on this machine)")
    parser.add_argument("--side", choices=["local", "ray"], help=argparse.SUPPRESS)  # internal: one side
    args = parser.parse_args()
    counts = [int(x) for x in args.envs.split(",") if x.strip()]
    if args.side:
        side(args.side, args.seconds, counts[0], args.seed, args.overlap, args.cluster)
        return
    print(machine_line(), flush=True)
    grand = {"local": [0, 0.0, 0, 0.0], "ray": [0, 0.0, 0, 0.0]}
    for n in counts:
        totals = {"local": [0, 0.0, 0, 0.0], "ray": [0, 0.0, 0, 0.0]}
        sides = [(name, [sys.executable, __file__, "--side", name, "--seconds", str(args.seconds), "--envs", str(n),
                         "--seed", str(args.seed)] + ["--overlap"] * args.overlap
                  + (["--cluster", args.cluster] if args.cluster else [])) for name in ("local", "ray")]
        for r in range(args.rounds):
            for name, cmd in (sides if r % 2 == 0 else sides[::-1]):
                measured = run_side(cmd)
                print(measured[-1], flush=True)
                for acc in (totals, grand):
                    for k in range(4):
                        acc[name][k] += measured[k]
        rate = {k: v[0] / v[1] for k, v in totals.items()}
        rollout = {k: v[2] / v[3] if v[3] else float("nan") for k, v in totals.items()}
        print(f"envs={n} local_steps_per_s={rate['local']:.1f} ray_steps_per_s={rate['ray']:.1f} "
              f"ratio={rate['ray'] / rate['local']:.3f} rollout_ratio={rollout['ray'] / rollout['local']:.3f} "
              f"load={os.getloadavg()[0]:.2f}", flush=True)
    rate = {k: v[0] / v[1] for k, v in grand.items()}
    rollout = {k: v[2] / v[3] if v[3] else float("nan") for k, v in grand.items()}
    print(f"rollout_ratio_ray_vs_local={rollout['ray'] / rollout['local']:.3f} (rollouts only: env steps, "
          "observations to the driver, inference; the updates, the same learner on both sides, left out)")
    print(f"ratio_ray_vs_local={rate['ray'] / rate['local']:.3f}")


if __name__ == "__main__":
    main()
