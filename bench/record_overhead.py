"""Cost of recording episodes: env steps/s of the workbench's env stack (`make_env`, Airstriker, frame skip 4,
84x84 gray, 4-frame stack) with recording on (a .bk2 per episode + the `EpisodeRecorder` hook writing sidecars
and indexing them) against the same env with recording off, in the same process, in alternating rounds so that
machine noise hits both alike.

Two clocks: wall time, and this process's CPU time (steps per CPU-second). On a shared, loaded machine the wall
clock mostly measures the neighbours (this process may get well under one core); CPU time measures the work
recording adds (the file writes' waits are not in it, the wall ratio is printed beside it for that).

Also prints the recorders' own CPU cost per episode, stable-retro's `Movie` against the workbench's
`MovieWriter` (what recording used before, and what it uses now), without the emulator.

Usage: python bench/record_overhead.py [--rounds R] [--steps N]
The last line is `ratio_recording_vs_off=X`: the median over rounds of (steps per CPU-second with recording) /
(steps per CPU-second without); 1 = free.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def steps_per_second(record_dir: Path | None, steps: int, seed: int) -> tuple[float, float, int]:
    """One env playing random actions for `steps` agent steps: (steps per wall second, steps per CPU second,
    episodes recorded)."""
    from workbench.core.levels import Level
    from workbench.catalog.actions import resolve_action_set
    from workbench.core.settings import EnvConfig
    from workbench.engine.envs.retro import make_env
    from workbench.core.records import EpisodeRecord, StepRecord
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
        start, cpu_start = time.perf_counter(), time.process_time()
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
        rate, cpu_rate = steps / (time.perf_counter() - start), steps / (time.process_time() - cpu_start)
    finally:
        env.close()
        del env
        gc.collect()
    return rate, cpu_rate, episodes


def recorder_cpu_ms(frames: int, episodes: int) -> tuple[float, float]:
    """The recorders alone, no emulation: CPU ms per episode of `frames` emulator frames for stable-retro's
    `Movie` (a set_key per button per frame, the start state compressed at close) and for the workbench's
    `MovieWriter` (a row per frame, the file built at the end), fed the same buttons."""
    import stable_retro

    from workbench.engine.envs.movie_writer import MovieWriter, bk2_template

    env = stable_retro.make("Airstriker-Genesis-v0", render_mode=None, use_restricted_actions=stable_retro.Actions.ALL)
    buttons = np.random.default_rng(0).integers(0, 2, (frames, env.num_buttons)).astype(bool)
    template = bk2_template(env.gamename, env.em, env.num_buttons, env.players)
    costs = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.process_time()
            for e in range(episodes):
                env.record_movie(f"{tmp}/theirs{e}.bk2")
                movie = env.movie
                movie.step()
                for row in buttons:
                    for i in range(env.num_buttons):
                        movie.set_key(i, row[i], 0)
                    movie.step()
                env.stop_record()
            costs["stable_retro"] = (time.process_time() - start) * 1000 / episodes
            start = time.process_time()
            for e in range(episodes):
                writer = MovieWriter(template, env.initial_state)
                for row in buttons:
                    writer.add(row)
                writer.write(Path(tmp) / f"ours{e}.bk2")
            costs["workbench"] = (time.process_time() - start) * 1000 / episodes
    finally:
        env.close()
    return costs["stable_retro"], costs["workbench"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=1200, help="agent steps per arm per round")
    args = parser.parse_args()
    wall, cpu, recorded = {True: [], False: []}, {True: [], False: []}, 0
    with tempfile.TemporaryDirectory() as tmp:
        steps_per_second(None, 200, 0)  # warm-up: imports, first emulator start
        for r in range(args.rounds):
            # alternate which arm goes first so a drift in machine load cancels out
            arms = [False, True] if r % 2 == 0 else [True, False]
            for on in arms:
                rate, cpu_rate, episodes = steps_per_second(Path(tmp) / f"run{r}" if on else None, args.steps, r)
                wall[on].append(rate)
                cpu[on].append(cpu_rate)
                recorded += episodes
            print(f"round {r}: off {wall[False][-1]:.0f} steps/s ({cpu[False][-1]:.0f}/CPU-s), recording "
                  f"{wall[True][-1]:.0f} steps/s ({cpu[True][-1]:.0f}/CPU-s)", flush=True)
        sizes = [p.stat().st_size for p in Path(tmp).rglob("*.npz")]
        movies = [p.stat().st_size for p in Path(tmp).rglob("*.bk2")]
    theirs, ours = recorder_cpu_ms(2000, 5)
    print(f"recorder alone, CPU per 2000-frame episode: stable-retro Movie {theirs:.1f} ms, "
          f"workbench MovieWriter {ours:.1f} ms")
    wall_ratio = statistics.median(a / b for a, b in zip(wall[True], wall[False]))
    cpu_ratio = statistics.median(a / b for a, b in zip(cpu[True], cpu[False]))
    print(f"episodes recorded: {recorded}; mean sidecar {np.mean(sizes) / 1024:.1f} KiB, "
          f"mean movie {np.mean(movies) / 1024:.1f} KiB")
    print(f"median steps per CPU-second: off {statistics.median(cpu[False]):.0f}, "
          f"recording {statistics.median(cpu[True]):.0f}")
    print(f"wall_ratio_recording_vs_off={wall_ratio:.3f}")
    print(f"ratio_recording_vs_off={cpu_ratio:.3f}")


if __name__ == "__main__":
    main()
