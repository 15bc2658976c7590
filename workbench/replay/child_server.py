"""The plumbing the replay's child processes share (`ReplayProcess` serves frames, `SaliencyProcess` maps):
a spawned daemon process at the end of a pipe, a polite quit, then a kill, and `with` support. The GUI process
never emulates or runs the policy itself; each open episode gets its own small server."""
from __future__ import annotations

import multiprocessing as mp


class ChildServer:
    """`target(conn, *args)` in a spawned daemon process named `name`; `self._conn` is this side's pipe end."""

    def __init__(self, target, args: tuple, name: str):
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=target, args=(child, *args), daemon=True, name=name)
        self._proc.start()
        child.close()

    def close(self) -> None:
        """Ask the server to quit, kill it if it does not within 5 s, close the pipe. Safe to call twice."""
        if self._proc is None:
            return
        try:
            self._conn.send(("quit",))
        except (OSError, ValueError):
            pass
        self._proc.join(5)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)
        self._conn.close()
        self._proc = None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
