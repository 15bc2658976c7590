"""Cost of recording episodes: env steps/s of the workbench's env stack (`make_env`, Airstriker, frame skip 4,
84x84 gray, 4-frame stack) with recording on (a .bk2 per episode + the `EpisodeRecorder` hook writing sidecars
and indexing them) against the same env with recording off, in the same process, in alternating rounds so that
machine noise hits both alike.

Usage: python bench/record_overhead.py [--rounds R] [--steps N]
The last line is `ratio_recording_vs_off=X` (median over rounds of recording-on steps/s / off steps/s; 1 = free).
"""
from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def steps_per_second(record_dir: Path | None, steps: int, seed: int) -> tuple[float, int]:
    """Agent steps/s of one env playing random actions for `steps` steps; returns (rate, episodes recorded)."""
    from workbench.catalog.levels import Level
    from workbench.engine.actions import resolve_action_set
    from workbench.engine.config import EnvConfig
    from workbench.engine.envs import make_env
    from workbench.engine.records import EpisodeRecord, StepRecord
    from workbench.replay.recorder import EpisodeRecorder

    level = Level("Airstriker-Genesis-v0", "Level1")
    cfg = EnvConfig()
    n_actions = resolve_action_set(level.game, cfg).n
    env = make_env([level], cfg, seed=seed, record_dir=None if record_dir is None else record_dir / "episodes")
    recorder = None if record_dir is None else EpisodeRecorder(record_dir, 1, cfg.frame_skip)
    rng = np.random.default_rng(seed)
    # the policy outputs a trainer would hand its hooks (made outside the timed loop for both arms)
    actions = rng.integers(0, n_actions, steps)
    probs = rng.dirichlet(np.ones(n_actions), steps).astype(np.float32)
    episodes = 0
    try:
        env.reset(seed=seed)
        start = time.perf_counter()
        for t in range(steps):
            _, reward, term, trunc, info = env.step(int(actions[t]))
            if recorder is not None:
                recorder.on_step(StepRecord(t + 1, actions[t:t + 1], probs[t:t + 1], np.zeros(1, np.float32),
                                            np.array([reward], np.float32), np.array([term]), np.array([trunc])))
            if term or trunc:
                ep = info["episode"]
                if recorder is not None:
                    recorder.on_episode(EpisodeRecord(t + 1, 0, ep["level"], ep["r"], ep["l"], ep["truncated"],
                                                      movie_path=f"episodes/{ep['movie']}"))
                    episodes += 1
                env.reset()
        rate = steps / (time.perf_counter() - start)
    finally:
        env.close()
        del env
        gc.collect()
    return rate, episodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=1500, help="agent steps per arm per round")
    args = parser.parse_args()
    ratios, on_rates, off_rates, recorded = [], [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        steps_per_second(None, 200, 0)  # warm-up: imports, first emulator start
        for r in range(args.rounds):
            # alternate which arm goes first so a drift in machine load cancels out
            arms = [None, Path(tmp) / f"run{r}"] if r % 2 == 0 else [Path(tmp) / f"run{r}", None]
            rates = {}
            for record_dir in arms:
                rate, episodes = steps_per_second(record_dir, args.steps, seed=r)
                rates[record_dir is not None] = rate
                recorded += episodes
            on_rates.append(rates[True])
            off_rates.append(rates[False])
            ratios.append(rates[True] / rates[False])
            print(f"round {r}: off {rates[False]:.0f} steps/s, recording {rates[True]:.0f} steps/s, "
                  f"ratio {ratios[-1]:.3f}", flush=True)
        sizes = [p.stat().st_size for p in Path(tmp).rglob("*.npz")]
        movies = [p.stat().st_size for p in Path(tmp).rglob("*.bk2")]
    print(f"episodes recorded: {recorded}; mean sidecar {np.mean(sizes) / 1024:.1f} KiB, "
          f"mean movie {np.mean(movies) / 1024:.1f} KiB")
    print(f"median steps/s: off {statistics.median(off_rates):.0f}, recording {statistics.median(on_rates):.0f}")
    print(f"ratio_recording_vs_off={statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
