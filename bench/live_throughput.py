"""Throughput with the window watching, against Stable-Baselines3 headless: the configuration of
bench/throughput.py (Airstriker-Genesis-v0 Level1, 8 envs, n_steps 128, minibatch 256, 4 epochs, overlap on),
trained by a run process the workbench window started and follows (offscreen unless DISPLAY is set: the game
frame, the action bars with the value, the curves, the Compare tab and the Transfer view open as in live_overhead.py),
beside SB3's PPO on the same configuration with nothing watching it (sb3_reference.py), in one run.

Our agent steps/s comes from the run store (updates' global_step over wall time, start-up excluded), as in
live_overhead.py; SB3's from its own count over its learn() call. Rounds alternate the order (live first, then
SB3 first, ...) so drifting background load hits both alike. `--headless` adds the same run with no window
attached to each round (the live/headless ratio of this configuration).

    .venv/bin/python bench/live_throughput.py [--steps 24576] [--seconds 60] [--rounds 2] [--headless]

First line: the CPU flags (they decide `precision = "auto"`), cores and load. Last line: ratio_live_vs_sb3=X
(mean live steps/s over mean SB3 steps/s; the target is >= 1.9).
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
from pathlib import Path

from live_overhead import (  # bench/ is on sys.path when this runs
    _on_sigterm,
    headless,
    live,
)
from machine import machine_line
from throughput import LEVEL, run_side, throughput_settings

HERE = Path(__file__).resolve().parent


def throughput_preset(steps: int, seed: int):
    """bench/throughput.py's settings as a preset the window can start (its only level: Level1)."""
    from workbench.core.levels import Level, LevelSet
    from workbench.core.paths import DEFAULT_PRESET
    from workbench.core.presets import load_preset

    settings = throughput_settings(8, seed)
    preset = load_preset(DEFAULT_PRESET)
    preset.name = "bench-live-throughput"
    preset.levels = LevelSet(train=[Level.parse(LEVEL)], test=[])
    preset.env, preset.ppo, preset.run = settings.env, settings.ppo, settings.run
    preset.ppo.total_steps = steps
    return preset


def main() -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)  # `timeout` still stops the runs cleanly
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=24576, help="agent steps of each of our runs")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of each SB3 run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--headless", action="store_true", help="also our run with no window, each round")
    args = parser.parse_args()
    print(machine_line(), flush=True)
    os.environ["WORKBENCH_RUNS"] = tempfile.mkdtemp(prefix="wb-bench-live-throughput-")
    from PySide6.QtWidgets import QApplication

    from workbench.engine.device import resolve_compute

    app = QApplication.instance() or QApplication([])
    preset = throughput_preset(args.steps, args.seed)
    compute = resolve_compute(preset.ppo.device, preset.ppo.precision)
    print(f"ours: device={compute.device} precision={compute.precision}", flush=True)
    sb3_cmd = [sys.executable, str(HERE / "sb3_reference.py"), str(args.seconds), "8", str(args.seed)]
    rates: dict[str, list[float]] = {"live": [], "sb3": [], "headless": []}

    def run_live() -> None:
        rate, fps, gui = live(preset, app)
        rates["live"].append(rate)
        print(f"live {rate:.1f} steps/s ({fps:.1f} frames/s drawn, GUI process CPU {gui:.1%} of one core)",
              flush=True)

    def run_sb3() -> None:
        steps, secs, line = run_side(sb3_cmd)
        rates["sb3"].append(steps / secs)
        print(line, flush=True)

    def run_headless() -> None:
        rates["headless"].append(headless(preset))
        print(f"headless {rates['headless'][-1]:.1f} steps/s", flush=True)

    sides = [run_live, run_sb3] + [run_headless] * args.headless
    for r in range(args.rounds):
        for side in (sides if r % 2 == 0 else sides[::-1]):
            side()
    live_rate, sb3_rate = statistics.mean(rates["live"]), statistics.mean(rates["sb3"])
    if rates["headless"]:
        print(f"ratio_live_vs_headless={live_rate / statistics.mean(rates['headless']):.3f}", flush=True)
    print(f"live_steps_per_s={live_rate:.1f} sb3_steps_per_s={sb3_rate:.1f}", flush=True)
    print(f"ratio_live_vs_sb3={live_rate / sb3_rate:.2f}")


if __name__ == "__main__":
    main()
