"""Random-access seek time in a recorded 4500-step Airstriker episode (18,000 emulator frames).

Records the episode through the workbench's env stack (`make_env(..., record_dir=...)`, frame skip 4, sticky
actions, random policy). Airstriker's own scenario ends the game after three lives (~400 steps), so the episode
is played under a copy of that scenario without the game-over condition: the time limit (4500 steps) ends it,
as the Sonic protocol's 5-minute limit does. Then, on the same movie:

- ours: `EpisodeReader` with a snapshot every 60 frames (the default) (built once after opening; the build time is printed),
  seeking to random frames (load the nearest snapshot at or before k, step forward, read the screen);
- reference: replaying the movie from its start state to each frame (what a .bk2 offers without snapshots).

Usage: python bench/replay_seek.py [--seeks N] [--reference-seeks M] [--movie PATH]
The last line is `p95_seek_ms=X` (95th percentile of our seek times).
"""
from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
from pathlib import Path

import numpy as np

GAME = "Airstriker-Genesis-v0"
STEPS = 4500


def record_long_episode(folder: Path) -> Path:
    import stable_retro

    from workbench.core.levels import Level
    from workbench.catalog.actions import resolve_action_set
    from workbench.core.settings import EnvConfig
    from workbench.engine.envs.retro import make_env

    scenario = json.loads(Path(stable_retro.data.get_file_path(GAME, "scenario.json")).read_text())
    scenario.pop("done", None)  # the time limit ends the episode
    scenario_path = folder / "no_game_over.json"
    scenario_path.write_text(json.dumps(scenario))
    cfg = EnvConfig(scenario=str(scenario_path), max_episode_steps=STEPS)
    n_actions = resolve_action_set(GAME, cfg).n
    env = make_env([Level(GAME, "Level1")], cfg, seed=0, record_dir=folder / "episodes")
    rng = np.random.default_rng(0)
    try:
        env.reset(seed=0)
        for _ in range(STEPS):
            _, _, term, trunc, info = env.step(int(rng.integers(n_actions)))
            if term or trunc:
                break
        episode = info["episode"]
    finally:
        env.close()
        del env
        gc.collect()
    print(f"recorded {episode['l']} steps (truncated={episode['truncated']}) -> {episode['movie']}")
    return folder / "episodes" / episode["movie"]


def main() -> None:
    from workbench.replay.reader import EpisodeReader

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeks", type=int, default=300)
    parser.add_argument("--reference-seeks", type=int, default=3)
    parser.add_argument("--movie", type=Path, help="an existing movie to use instead of recording one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        movie = args.movie or record_long_episode(Path(tmp))
        rng = np.random.default_rng(1)

        t = time.perf_counter()
        with EpisodeReader(movie) as reader:
            opened = time.perf_counter() - t
            t = time.perf_counter()
            reader.build_snapshots()
            built = time.perf_counter() - t
            n = reader.n_frames
            times = []
            for k in rng.integers(0, n, args.seeks):
                t = time.perf_counter()
                reader.frame(int(k))
                times.append((time.perf_counter() - t) * 1000)
            snapshots = len(reader._snapshots)
            snapshot_bytes = sum(len(s) for s in reader._snapshots.values())
        print(f"movie: {n} frames; open {opened:.2f} s; snapshots: {snapshots} built in {built:.1f} s, "
              f"{snapshot_bytes / 2**20:.1f} MiB")

        with EpisodeReader(movie, snapshot_every=10**9) as reference:  # only the start state
            ref = []
            for k in rng.integers(n // 4, n, args.reference_seeks):
                reference.seek(0)
                t = time.perf_counter()
                reference.frame(int(k))
                ref.append((time.perf_counter() - t) * 1000)
    times = np.array(times)
    print(f"ours ({args.seeks} random seeks): median {np.median(times):.1f} ms, p95 {np.percentile(times, 95):.1f} ms,"
          f" max {times.max():.1f} ms")
    print(f"reference, replay from the start ({args.reference_seeks} seeks): mean {np.mean(ref):.0f} ms")
    print(f"speedup_vs_replay_from_start={np.mean(ref) / np.mean(times):.0f}")
    print(f"p95_seek_ms={np.percentile(times, 95):.1f}")


if __name__ == "__main__":
    main()
