"""Checkpoints: one torch file per save, written atomically (temp + rename) under `<run>/checkpoints/`.

`ckpt_<update>.pt` for the last `keep` saves plus `best.pt` (highest mean episode return). Each holds the model,
the optimizer, global_step, update, the RNG states of torch / numpy / the action sampler, the policy spec and
the resolved config, so `--resume` continues exactly where the save was made. `Checkpointer` is the trainer hook
that saves them (every `run.checkpoint_every` updates and when training ends cleanly).
"""
from __future__ import annotations

import io
import math
import re
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from workbench.core.paths import atomic_write_bytes
from workbench.core.records import StatusRecord, UpdateRecord

CKPT_RE = re.compile(r"^ckpt_(\d+)\.pt$")
FORMAT = 1


class CheckpointError(Exception):
    """A checkpoint file could not be read; the message names the file and what to do."""


class CheckpointWriteError(CheckpointError):
    """A checkpoint could not be written (disk full, file-size limit): the previous one is kept."""


def save(path: Path, payload: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save({"format": FORMAT, **payload}, buf)
    atomic_write_bytes(Path(path), buf.getvalue())


def load(path: Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except Exception as exc:  # truncated zip, bad pickle, ...
        raise CheckpointError(f"checkpoint {path} is corrupt or not a workbench checkpoint ({exc.__class__.__name__}:"
                              f" {exc}); delete it or resume from another checkpoint") from None
    if not isinstance(data, dict) or "model" not in data or "update" not in data:
        raise CheckpointError(f"checkpoint {path} is not a workbench checkpoint (no model/update); "
                              "delete it or resume from another checkpoint")
    return data


def numbered(directory: Path) -> list[Path]:
    """The run's `ckpt_<update>.pt` files, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := CKPT_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def save_numbered(directory: Path, update: int, payload: dict[str, Any], keep: int) -> Path:
    path = Path(directory) / f"ckpt_{update:08d}.pt"
    save(path, payload)
    for old in numbered(directory)[:-max(1, keep)]:
        old.unlink(missing_ok=True)
    return path


def load_latest(directory: Path) -> tuple[Path, dict[str, Any]]:
    """The newest readable numbered checkpoint. A corrupt one is reported (warning naming the file) and the
    previous one is used; raises CheckpointError when none is readable."""
    candidates = numbered(directory)
    if not candidates:
        raise CheckpointError(f"no checkpoint in {directory}; the run never reached its first checkpoint "
                              "(start it again without --resume)")
    errors = []
    for path in reversed(candidates):
        try:
            return path, load(path)
        except CheckpointError as exc:
            errors.append(str(exc))
            warnings.warn(f"{exc}; falling back to an older checkpoint", stacklevel=2)
    raise CheckpointError("no readable checkpoint: " + "; ".join(errors))


class Checkpointer:
    """Trainer hook: a numbered checkpoint every `every` updates and at a clean end (finished, or stopped between
    updates), keeping the newest `keep`, and `best.pt` when the mean return of the last 100 episodes is the best
    so far. `state` gives the trainer's `state_dict()`; `extra` is stored beside it (policy spec, config, action
    labels) so the checkpoint rebuilds its policy anywhere."""

    RECENT = 100

    def __init__(self, directory: Path, state: Callable[[], dict[str, Any]], extra: dict[str, Any], every: int,
                 keep: int, best_return: float = -math.inf):
        self.directory, self.state, self.extra = Path(directory), state, dict(extra)
        self.every, self.keep, self.best_return = max(1, every), keep, best_return
        self.update = 0
        self.recent: list[float] = []
        self.saved: list[Path] = []

    def on_update(self, record: UpdateRecord) -> None:
        self.update = record.update
        self.recent = (self.recent + [e.episode_return for e in record.episodes])[-self.RECENT:]
        if record.update % self.every == 0:
            self.save()

    def on_status(self, record: StatusRecord) -> None:
        if record.clean_end and record.update:
            self.save()

    def save(self) -> Path:
        mean_return = sum(self.recent) / len(self.recent) if self.recent else -math.inf
        payload = self.state() | self.extra | {"best_return": self.best_return, "mean_return": mean_return}
        previous = numbered(self.directory)
        target = self.directory / f"ckpt_{self.update:08d}.pt"
        try:
            path = save_numbered(self.directory, self.update, payload, self.keep)
            if self.recent and mean_return > self.best_return:
                target = self.directory / "best.pt"
                save(target, payload | {"best_return": mean_return})
                self.best_return = mean_return
        except OSError as exc:  # nothing was replaced: atomic writes leave the old files as they were
            kept = f"the previous checkpoint {previous[-1].name} is kept" if previous else "no earlier checkpoint"
            raise CheckpointWriteError(
                f"could not write checkpoint {target}: {exc.strerror or exc} (is the disk full, or a file-size "
                f"limit set?); {kept}. Free space, then resume the run (`workbench train --resume "
                f"{self.directory.parent.name}`)") from exc
        self.saved.append(path)
        return path


def policy_extra(policy_spec, config_toml: str, action_labels: Sequence[str]) -> dict[str, Any]:
    """The part of a checkpoint that rebuilds its policy elsewhere (transfer jobs, RL² evaluation, the GUI)."""
    return {"policy_spec": policy_spec.to_dict() if policy_spec is not None else None, "config": config_toml,
            "action_labels": list(action_labels)}
