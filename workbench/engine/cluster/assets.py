"""The ROMs and custom start states a run needs, shipped from the driver to every node that runs its envs.

`collect_assets(levels)` (driver) reads each game's ROM and each custom start state once, puts the bytes in Ray's
object store and returns a plain `Assets` record; `Assets.install()` (node, before its first env) fetches only what
the node lacks: a ROM is installed through the workbench's own import (matched by SHA-1 against the node's
stable-retro, written atomically, never replacing a different installed ROM), a start state is written into the
node's user integrations folder. Every file is checked against its SHA-1 on arrival; a failure names the node,
the file and the fix.
"""
from __future__ import annotations

import hashlib
import os
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

_installed: set[str] = set()
"""SHA-1s this process has checked or installed (a node's worker runs many jobs)."""


@dataclass
class ShippedFile:
    kind: str
    """'rom' or 'state'."""
    game: str
    name: str
    """The ROM's file name on the driver, or the state's name (without .state)."""
    sha1: str
    size: int
    data: Any = None
    """A Ray ObjectRef to the bytes (or the bytes themselves)."""


@dataclass
class Assets:
    files: list[ShippedFile] = field(default_factory=list)

    def install(self) -> list[str]:
        """Make every file present on this node; returns what was written (empty when all were there)."""
        from workbench.catalog.integrations import register_custom_integrations

        register_custom_integrations()
        written = []
        for f in self.files:
            if f.sha1 in _installed:
                continue
            if _present(f):
                _installed.add(f.sha1)
                continue
            data = _fetch(f)
            if f.kind == "rom":
                _install_rom(f, data)
            else:
                _install_state(f, data)
            _installed.add(f.sha1)
            written.append(f"{f.kind} {f.game}:{f.name}")
        return written


def _node() -> str:
    return socket.gethostname()


def _sha1_of(path: Path | str | None) -> str | None:
    try:
        return hashlib.sha1(Path(path).read_bytes()).hexdigest() if path else None
    except OSError:
        return None


def _present(f: ShippedFile) -> bool:
    import stable_retro.data as rd

    if f.kind == "rom":
        try:
            return _sha1_of(rd.get_romfile_path(f.game, rd.Integrations.ALL)) == f.sha1
        except (FileNotFoundError, ValueError):
            return False
    return _sha1_of(rd.get_file_path(f.game, f"{f.name}.state", rd.Integrations.ALL)) == f.sha1


def _fetch(f: ShippedFile) -> bytes:
    data = f.data
    if not isinstance(data, (bytes, bytearray, memoryview)):
        import ray

        data = ray.get(data)
    data = bytes(data)
    if hashlib.sha1(data).hexdigest() != f.sha1:
        raise RuntimeError(f"node {_node()}: the {f.kind} {f.game}:{f.name} arrived damaged (SHA-1 "
                           f"{hashlib.sha1(data).hexdigest()[:12]}…, expected {f.sha1[:12]}…); run again")
    return data


def _install_rom(f: ShippedFile, data: bytes) -> None:
    from workbench.catalog.roms import import_roms

    with tempfile.TemporaryDirectory(prefix="wb-rom-") as tmp:
        path = Path(tmp) / f.name
        path.write_bytes(data)
        results = import_roms([path])
    bad = [r for r in results if r.status not in ("imported", "present", "patched")]
    if bad or not _present(f):
        why = "; ".join(f"{r.status}: {r.reason}" for r in bad) or "stable-retro does not find it afterwards"
        raise RuntimeError(f"node {_node()}: the ROM of {f.game} shipped from the driver could not be installed "
                           f"({why}); import it there with `workbench roms import FILE`")


def _install_state(f: ShippedFile, data: bytes) -> None:
    from workbench.catalog.integrations import user_integrations_dir
    from workbench.core.paths import atomic_write_bytes

    target = user_integrations_dir() / f.game / f"{f.name}.state"
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, data)
    if not _present(f):  # another folder earlier in stable-retro's search order holds a different state
        raise RuntimeError(f"node {_node()}: the start state {f.game}:{f.name} written to {target} is shadowed "
                           "by a different file of that name; remove the other one on that node")


def collect_assets(levels: Sequence, put=None) -> Assets:
    """Every ROM and non-stock start state `levels` (core.levels.Level) need, read on the driver; `put` stores
    the bytes (default: `ray.put`)."""
    import stable_retro.data as rd

    from workbench.catalog.integrations import register_custom_integrations
    from workbench.catalog.systems import retro_data_root

    if put is None:
        import ray

        put = ray.put
    register_custom_integrations()
    stock = os.path.realpath(retro_data_root())
    files: list[ShippedFile] = []
    seen: set[tuple[str, str, str]] = set()
    for level in levels:
        game, state = level.game, getattr(level, "state", None)
        if ("rom", game, "") not in seen:
            seen.add(("rom", game, ""))
            path = Path(rd.get_romfile_path(game, rd.Integrations.ALL))
            data = path.read_bytes()
            files.append(ShippedFile("rom", game, path.name, hashlib.sha1(data).hexdigest(), len(data), put(data)))
        if state and ("state", game, state) not in seen:
            seen.add(("state", game, state))
            path = rd.get_file_path(game, f"{state}.state", rd.Integrations.ALL)
            if path is None or os.path.realpath(path).startswith(stock + os.sep):
                continue  # a stock state: every node's stable-retro has it
            data = Path(path).read_bytes()
            files.append(ShippedFile("state", game, state, hashlib.sha1(data).hexdigest(), len(data), put(data)))
    return Assets(files)
