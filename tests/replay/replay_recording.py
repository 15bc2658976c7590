"""Record real Airstriker episodes through the workbench's own env stack (`make_env(..., record_dir=...)`: real
emulator, real .bk2), keeping the hash of every emulator frame shown. Shared by the replay and viewer tests."""
from __future__ import annotations

import gc
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GAME = "Airstriker-Genesis-v0"
LEVEL = f"{GAME}:Level1"


@dataclass
class Recorded:
    run_dir: Path
    movie: Path
    """Absolute .bk2 path."""
    frame_hashes: list[str]
    """sha1 of every screen the emulator showed: [0] after reset, [k] after k emulator frames."""
    frames_per_step: list[int]
    episode_return: float
    length: int
    labels: list[str]


def frame_hash(frame: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(frame).tobytes()).hexdigest()


def record_episode(run_dir: Path, steps: int, seed: int = 0, level: str = LEVEL, recorder=None,
                   global_step: int = 0) -> Recorded:
    """Play `level` for `steps` agent steps (frame skip 4, sticky 0.25, truncated at `steps`) with a random
    policy, recording into `run_dir/episodes`, and feed `recorder` the StepRecords and the EpisodeRecord the
    trainer would."""
    from workbench.core.levels import Level
    from workbench.catalog.actions import resolve_action_set
    from workbench.core.settings import EnvConfig
    import gymnasium as gym

    from workbench.engine.envs.retro import make_env
    from workbench.engine.envs.wrappers import StickyFrameSkip
    from workbench.core.records import EpisodeRecord, StepRecord

    cfg = EnvConfig(max_episode_steps=steps, warp_size=0, frame_stack=1)
    lv = Level.parse(level)
    labels = list(resolve_action_set(lv.game, cfg).labels)
    env = make_env([lv], cfg, seed=seed, record_dir=run_dir / "episodes")
    sticky = env
    while not isinstance(sticky, StickyFrameSkip):
        sticky = sticky.env
    sticky.env = gym.Wrapper(sticky.env)  # hides the fast frame-skip path: one emulator step per frame, hooked below
    retro_env = env.unwrapped.retro
    hashes: list[str] = []
    real_step, real_reset = retro_env.step, retro_env.reset

    def hashing_step(action):  # observe every emulator frame on its way out (the env itself is untouched)
        out = real_step(action)
        hashes.append(frame_hash(out[0]))
        return out

    def hashing_reset(**kw):
        out = real_reset(**kw)
        hashes.append(frame_hash(out[0]))
        return out

    retro_env.step, retro_env.reset = hashing_step, hashing_reset
    rng = np.random.default_rng(seed)
    try:
        env.reset(seed=seed)
        frames_per_step, total = [], 0.0
        for t in range(steps):
            logits = rng.normal(size=len(labels))
            probs = np.exp(logits) / np.exp(logits).sum()
            action = int(rng.choice(len(labels), p=probs))
            before = len(hashes)
            _, reward, term, trunc, info = env.step(action)
            frames_per_step.append(len(hashes) - before)
            total += reward
            if recorder is not None:
                recorder.on_step(StepRecord(global_step + t + 1, np.array([action]), probs[None].astype(np.float32),
                                            np.array([0.5 * t], np.float32), np.array([reward], np.float32),
                                            np.array([term]), np.array([trunc])))
            if term or trunc:
                break
        episode = info["episode"]
    finally:
        env.close()
        del env, retro_env, real_step, real_reset
        gc.collect()  # one emulator per process: a reader needs it gone
    movie = (Path("episodes") / episode["movie"]).as_posix()
    if recorder is not None:
        recorder.on_episode(EpisodeRecord(global_step + episode["l"], 0, episode["level"], episode["r"],
                                          episode["l"], episode["truncated"], seed=seed, movie_path=movie))
    return Recorded(run_dir, run_dir / movie, hashes, frames_per_step, total, episode["l"], labels)
