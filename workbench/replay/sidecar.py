"""The sidecar of a recorded episode: what the policy saw and did at each agent step.

A .bk2 movie holds only the start state and the buttons pressed each frame; the sidecar next to it
(`w00-e000001.bk2` -> `w00-e000001.npz`) holds per agent step the action index, the action probabilities
(stored as uint8 in 1/255 steps: enough for bars, and a peaked policy compresses to little), the value estimate
(float16) and the reward (float32, exact), the emulator frame each step ended on, and the episode's metadata.
Compressed npz: about one byte per action per step at worst (a near-uniform policy), much less for a decided one.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from workbench.core.paths import atomic_write_bytes
from workbench.replay.errors import ReplayError

SIDECAR_SUFFIX = ".npz"
FORMAT_VERSION = 1


def sidecar_path(movie: Path | str) -> Path:
    """The sidecar that belongs to a .bk2 movie."""
    return Path(movie).with_suffix(SIDECAR_SUFFIX)


@dataclass
class EpisodeMeta:
    """What an episode was: stored as JSON inside the sidecar and in the run's episode index."""

    level: str
    episode_return: float
    length: int
    """Agent steps."""
    truncated: bool = False
    seed: int = 0
    env_index: int = 0
    global_step: int = 0
    frame_skip: int = 4
    movie: str | None = None
    """The .bk2 path relative to the run directory."""
    action_labels: list[str] = field(default_factory=list)
    complete: bool = True
    """False when the recorder joined mid-episode, so the first steps have no policy outputs."""


@dataclass
class Sidecar:
    meta: EpisodeMeta
    actions: np.ndarray
    """(T,) int16 action indices."""
    probs: np.ndarray
    """(T, n_actions) float32 action probabilities (to within 1/510 of the policy's)."""
    values: np.ndarray
    """(T,) float32 value estimates (float16 precision)."""
    rewards: np.ndarray
    """(T,) float32 raw rewards."""
    step_end_frames: np.ndarray
    """(T,) int32: emulator frame index (frame 0 = the reset screen) each agent step ended on."""

    def step_at_frame(self, frame: int) -> int:
        """The agent step whose action is on screen at `frame` (frame 0 belongs to step 0)."""
        if len(self.step_end_frames) == 0:
            return 0
        step = int(np.searchsorted(self.step_end_frames, frame, side="left"))
        return min(step, len(self.step_end_frames) - 1)

    def cumulative_rewards(self) -> np.ndarray:
        return np.cumsum(self.rewards, dtype=np.float64)


def write_sidecar(path: Path | str, sidecar: Sidecar) -> Path:
    """Write the sidecar atomically (temp + rename)."""
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        meta=np.array(json.dumps({"format": FORMAT_VERSION, **asdict(sidecar.meta)})),
        actions=np.asarray(sidecar.actions, dtype=np.int16),
        probs=np.rint(np.clip(np.asarray(sidecar.probs, np.float32), 0, 1) * 255).astype(np.uint8),
        values=np.asarray(sidecar.values, dtype=np.float16),
        rewards=np.asarray(sidecar.rewards, dtype=np.float32),
        step_end_frames=np.asarray(sidecar.step_end_frames, dtype=np.int32),
    )
    atomic_write_bytes(Path(path), buf.getvalue())
    return Path(path)


def read_sidecar(path: Path | str) -> Sidecar:
    """Read a sidecar; a missing, truncated or foreign file raises ReplayError naming it."""
    path = Path(path)
    fix = "delete it (the .bk2 still replays without policy outputs) or re-record the episode"
    if not path.is_file():
        raise ReplayError(f"{path}: no such sidecar file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            raw = {key: npz[key] for key in npz.files}
        meta_dict = json.loads(str(raw.pop("meta")))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError, json.JSONDecodeError) as exc:
        raise ReplayError(f"{path}: not a readable episode sidecar ({exc}); {fix}") from None
    missing = {"actions", "probs", "values", "rewards", "step_end_frames"} - set(raw)
    if missing:
        raise ReplayError(f"{path}: episode sidecar lacks {sorted(missing)}; {fix}")
    meta_dict.pop("format", None)
    known = EpisodeMeta.__dataclass_fields__
    try:
        meta = EpisodeMeta(**{k: v for k, v in meta_dict.items() if k in known})
    except TypeError as exc:
        raise ReplayError(f"{path}: episode sidecar metadata is incomplete ({exc}); {fix}") from None
    n = len(raw["actions"])
    if any(len(raw[k]) != n for k in ("probs", "values", "rewards", "step_end_frames")):
        raise ReplayError(f"{path}: episode sidecar arrays have different lengths; {fix}")
    probs = raw["probs"].astype(np.float32) / 255.0 if raw["probs"].dtype == np.uint8 else raw["probs"]
    return Sidecar(meta, raw["actions"].astype(np.int64), probs.astype(np.float32), raw["values"].astype(np.float32),
                   raw["rewards"].astype(np.float32), raw["step_end_frames"].astype(np.int64))
