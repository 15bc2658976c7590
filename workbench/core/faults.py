"""Fault points for the fault-campaign tests: a process SIGKILLs itself at an exact moment (e.g. halfway
through writing a checkpoint), which no timer outside it can hit reliably.

    WORKBENCH_FAULT="run/atomic_write:ckpt_*@2"    the run process, the 2nd time it is halfway through an atomic
                                                   write of a file matching ckpt_*
    WORKBENCH_FAULT="env0/atomic_write:*.bk2@1"    env worker 0, halfway through writing its first movie

    WORKBENCH_FAULT="learner/update@1=raise"       the learner process raises FaultInjected in its first update

Format: `ROLE/POINT[:GLOB]@N[=raise]`, several separated by commas. ROLE is `run` (the process that trains),
`env<i>` (env worker i) or `learner`; each process counts its own passes. Points: `atomic_write` (detail: the
file's name; halfway through the data), `start` (an env worker, before it builds its env), `update` (the learner
process, before an update). Without the variable (always, outside the tests) `point()` is one truth test.
"""
from __future__ import annotations

import fnmatch
import os
import signal
from dataclasses import dataclass

ENV_VAR = "WORKBENCH_FAULT"


class FaultInjected(RuntimeError):
    """Raised by a planned `=raise` fault (tests only)."""


@dataclass
class _Fault:
    role: str
    point: str
    pattern: str
    at: int
    action: str = "kill"
    passed: int = 0


def _parse(text: str) -> list[_Fault]:
    faults = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            where, at = item.rsplit("@", 1)
            at, _, action = at.partition("=")
            role, point = where.split("/", 1)
            point, _, pattern = point.partition(":")
            if action not in ("", "raise"):
                raise ValueError(action)
            faults.append(_Fault(role, point, pattern or "*", int(at), action or "kill"))
        except ValueError:
            raise ValueError(f"{ENV_VAR}={text!r}: {item!r} is not ROLE/POINT[:GLOB]@N[=raise]") from None
    return faults


_faults = _parse(os.environ.get(ENV_VAR, ""))
_role = "run"


def set_role(role: str) -> None:
    """What this process is (`env<i>`, `learner`); the process that trains is `run`."""
    global _role
    _role = role


def point(name: str, detail: str = "") -> None:
    """SIGKILL this process (or raise FaultInjected) if a planned fault says so for this pass of point `name`
    (`detail` is matched against the fault's glob, e.g. a file name)."""
    if not _faults:
        return
    for fault in _faults:
        if fault.role == _role and fault.point == name and fnmatch.fnmatch(detail, fault.pattern):
            fault.passed += 1
            if fault.passed == fault.at:
                if fault.action == "raise":
                    raise FaultInjected(f"fault injected at {_role}/{name} {detail}".rstrip())
                os.kill(os.getpid(), signal.SIGKILL)
