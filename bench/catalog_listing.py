"""Catalog listing speed: our `Catalog()` (warm ROM-hash cache) vs stable-retro's own functions answering the
same questions (every game of every integration, its start states, its ROM file and whether the ROM's hash
verifies), in the same run. Also reports our first (cold-cache) listing and the `workbench catalog --json`
command end to end.

Usage: python bench/catalog_listing.py [--rounds R]
The last line is `catalog_speedup_vs_stable_retro=X` (stable-retro's time / ours, warm; above 1 = we are faster).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def stable_retro_listing() -> int:
    import stable_retro.data as rd

    inttype = rd.Integrations.ALL
    playable = 0
    for game in rd.list_games(inttype):
        rd.list_states(game, inttype)
        try:
            rd.get_romfile_path(game, inttype)
        except FileNotFoundError:
            continue
        playable += not rd.verify_hash(game, inttype)
    return playable


def ours() -> int:
    from workbench.catalog.catalog import Catalog

    return len(Catalog().search(playable=True))


def best_of(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.environ["WORKBENCH_HOME"] = tempfile.mkdtemp(prefix="wb-bench-")  # a cold hash cache to start from
    import stable_retro  # noqa: F401  both sides start with the package imported

    start = time.perf_counter()
    ours()
    cold = time.perf_counter() - start
    assert ours() == stable_retro_listing(), "the two listings disagree on playable games"
    reference, warm = [], []
    for _ in range(args.rounds):  # alternate so machine load hits both alike
        reference.append(best_of(stable_retro_listing, 1))
        warm.append(best_of(ours, 1))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "workbench", "catalog", "--json"], check=True,
                   stdout=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[1])
    command = time.perf_counter() - start
    print(f"games_playable={ours()}")
    print(f"ours_cold_s={cold:.3f}")
    print(f"ours_warm_s={min(warm):.3f}")
    print(f"stable_retro_s={min(reference):.3f}")
    print(f"workbench_catalog_json_command_s={command:.3f}")
    print(f"catalog_speedup_vs_stable_retro={min(reference) / min(warm):.2f}")


if __name__ == "__main__":
    main()
