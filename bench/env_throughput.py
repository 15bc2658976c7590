"""Env throughput: our ShmVecEnv + make_env stack vs Stable-Baselines3's SubprocVecEnv + VecFrameStack with the
reference wrappers (/work/shared/reference/sb3_reference.py), in the same run, on the same machine.

Both sides: 8 Airstriker-Genesis-v0 envs, stable-retro's discrete actions (126), sticky frame skip (n=4,
p=0.25), 84x84 grayscale (cv2.INTER_AREA), 4-frame stack, random actions from one seeded stream. The sides
alternate (ours, SB3, ours, SB3, ...) so load changes on a shared machine hit both alike.

A second, emulator-free comparison measures the per-step cost of the vec env machinery alone (a trivial env
with (4, 84, 84) uint8 observations): `overhead_us_per_step_*`.

Usage: python bench/env_throughput.py [--seconds S] [--envs N] [--rounds R] [--reference PATH]
The last line is `ratio_vs_sb3_envs=X` (agent steps/s ours / SB3's; above 1 means we are faster).
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REFERENCE = ROOT.parent / "shared" / "reference" / "sb3_reference.py"
GAME = "Airstriker-Genesis-v0"


def load_reference(path: Path):
    if not path.exists():
        sys.exit(f"reference {path} not found; pass --reference PATH to sb3_reference.py")
    sys.path.insert(0, str(path.parent))  # SubprocVecEnv workers unpickle its make_env by module name
    spec = importlib.util.spec_from_file_location("sb3_reference", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["sb3_reference"] = module
    spec.loader.exec_module(module)
    return module


def time_steps(step, actions: np.ndarray, seconds: float) -> tuple[int, float]:
    """Step with `actions` rows (cycling) for `seconds`; returns (vector steps, elapsed)."""
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step(actions[count % len(actions)])
        count += 1
    return count, time.perf_counter() - start


class Blank(gym.Env):
    """No emulator: a fixed (4, 84, 84) uint8 frame, episodes of 1000 steps (measures the vec env alone)."""

    observation_space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    action_space = gym.spaces.Discrete(18)

    def __init__(self):
        self.t = 0
        self.obs = np.full((4, 84, 84), 7, np.uint8)

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return self.obs, {}

    def step(self, action):
        self.t += 1
        return self.obs, 0.0, False, self.t >= 1000, {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per side per round")
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="alternations of ours / SB3")
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    args = parser.parse_args()

    import warnings

    warnings.filterwarnings("ignore")
    from stable_baselines3.common.vec_env import SubprocVecEnv, VecFrameStack

    from workbench.core.levels import Level
    from workbench.core.settings import EnvConfig
    from workbench.engine.envs.retro import env_thunk
    from workbench.engine.vec.shm import ShmVecEnv

    reference = load_reference(args.reference)
    n = args.envs
    config = EnvConfig(action_set="discrete", frame_skip=4, sticky_prob=0.25, max_episode_steps=10**9,
                       warp_size=84, grayscale=True, frame_stack=4, level_sampling="fixed")
    actions = np.random.default_rng(0).integers(126, size=(4096, n))

    ours = ShmVecEnv([env_thunk([Level(GAME, "Level1")], config, 0, i) for i in range(n)])
    theirs = VecFrameStack(SubprocVecEnv([reference.make_env] * n), 4)
    totals = {"ours": [0, 0.0], "sb3": [0, 0.0]}
    try:
        ours.reset(seed=0)
        theirs.reset()
        time_steps(ours.step, actions, 1.0)  # warm-up
        time_steps(theirs.step, actions, 1.0)
        for _ in range(args.rounds):
            for name, venv in (("ours", ours), ("sb3", theirs)):
                steps, elapsed = time_steps(venv.step, actions, args.seconds)
                totals[name][0] += steps * n
                totals[name][1] += elapsed
    finally:
        ours.close()
        theirs.close()
    rates = {name: steps / elapsed for name, (steps, elapsed) in totals.items()}
    for name, rate in rates.items():
        print(f"{name}: {rate:.1f} agent steps/s, {4 * rate:.1f} emulator frames/s ({n} Airstriker envs)")

    # the machinery alone: no emulator, same observation size; alternated like the main comparison
    blank = {"ours": ShmVecEnv([Blank] * n), "sb3": SubprocVecEnv([Blank] * n)}
    spent = {name: [0, 0.0] for name in blank}
    blank_actions = actions % 18
    try:
        for venv in blank.values():
            venv.reset()
            time_steps(venv.step, blank_actions, 0.5)
        for _ in range(args.rounds):
            for name, venv in blank.items():
                steps, elapsed = time_steps(venv.step, blank_actions, min(args.seconds, 3.0))
                spent[name][0] += steps
                spent[name][1] += elapsed
    finally:
        for venv in blank.values():
            venv.close()
    overhead = {name: 1e6 * elapsed / steps for name, (steps, elapsed) in spent.items()}
    for name, us in overhead.items():
        print(f"overhead_us_per_step_{name}={us:.0f}  ({n} envs, (4, 84, 84) uint8, no emulator)")
    print(f"overhead_ratio_sb3_over_ours={overhead['sb3'] / overhead['ours']:.2f}")
    print(f"ratio_vs_sb3_envs={rates['ours'] / rates['sb3']:.3f}")


if __name__ == "__main__":
    main()
