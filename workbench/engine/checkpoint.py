"""Checkpoints: one torch file per save, written atomically (temp + rename) under `<run>/checkpoints/`.

`ckpt_<update>.pt` for the last `keep` saves plus `best.pt` (highest mean episode return). Each holds the model,
the optimizer, global_step, update, the RNG states of torch / numpy / the action sampler, the policy spec and
the resolved config, so `--resume` continues exactly where the save was made.
"""
from __future__ import annotations

import io
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from workbench.paths import atomic_write_bytes

CKPT_RE = re.compile(r"^ckpt_(\d+)\.pt$")
FORMAT = 1


class CheckpointError(Exception):
    """A checkpoint file could not be read; the message names the file and what to do."""


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
