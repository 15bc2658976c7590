"""`ReplayProcess`: an `EpisodeReader` in a child process, serving frames to the GUI.

stable-retro runs one emulator per process and the GUI process never emulates, so each open episode gets its
own small process. The GUI asks for frames without waiting (`request`) and picks up the newest answer on its
timer (`poll`); the server answers only the newest request it has, so a GUI that asks faster than frames come
never builds a queue. While no request has arrived for a moment, the server builds its seek snapshots ahead.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.replay.child_server import ChildServer
from workbench.replay.errors import ReplayError

IDLE_BEFORE_INDEXING_S = 0.3


@dataclass
class ReplayInfo:
    """What the server says once the movie is open."""

    movie: str
    game: str
    level: str
    n_frames: int


class ReplayProcess(ChildServer):
    """One episode's frames from a child process. Close it (or use `with`) so the process ends."""

    def __init__(self, movie_path: Path | str, snapshot_every: int | None = None, start_timeout: float = 60.0):
        super().__init__(_serve, (str(movie_path), snapshot_every), f"replay:{Path(movie_path).name}")
        self.info: ReplayInfo | None = None
        self._frames: list[tuple[int, np.ndarray]] = []
        self._replies: list[tuple] = []
        try:
            kind, payload = self._receive(start_timeout)
            if kind == "error":
                raise ReplayError(payload)
            self.info = payload
        except BaseException:
            self.close()
            raise

    # -- frames ------------------------------------------------------------------------------------
    def request(self, frame: int) -> None:
        """Ask for `frame` (answered later through `poll`)."""
        self._conn.send(("frame", int(frame)))

    def poll(self) -> tuple[int, np.ndarray] | None:
        """The newest frame that arrived since the last poll, as (index, (H, W, 3) uint8), or None."""
        self._drain()
        if not self._frames:
            return None
        newest = self._frames[-1]
        self._frames.clear()
        return newest

    def frame(self, k: int, timeout: float = 30.0) -> np.ndarray:
        """Frame k, waiting for it (for scripts and tests; the GUI uses request/poll)."""
        self.request(k)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.poll()
            if got is not None and got[0] == k:
                return got[1]
            self._conn.poll(0.05)
        raise TimeoutError(f"the replay process did not send frame {k} in {timeout} s")

    # -- commands ----------------------------------------------------------------------------------
    def save_start_state(self, frame: int, name: str, timeout: float = 60.0) -> Path:
        """Save the state at `frame` as the start state GAME:name (ReplayError when refused)."""
        self._conn.send(("save_state", int(frame), str(name)))
        kind, payload = self._wait_reply("saved", timeout)
        if kind == "error":
            raise ReplayError(payload)
        return Path(payload)

    # -- internals ---------------------------------------------------------------------------------
    def _drain(self) -> None:
        try:
            while self._conn.poll():
                self._sort(self._conn.recv())
        except (EOFError, OSError):
            raise ReplayError("the replay process ended unexpectedly; open the episode again") from None

    def _sort(self, message: tuple) -> None:
        if message[0] == "frame":
            self._frames.append((message[1], message[2]))
        else:
            self._replies.append(message)

    def _receive(self, timeout: float) -> tuple:
        if not self._conn.poll(timeout):
            raise ReplayError(f"the replay process did not start within {timeout:.0f} s")
        try:
            return self._conn.recv()
        except (EOFError, OSError):
            raise ReplayError("the replay process ended while opening the episode") from None

    def _wait_reply(self, kind: str, timeout: float) -> tuple:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._drain()
            for i, message in enumerate(self._replies):
                if message[0] in (kind, "error"):
                    return self._replies.pop(i)
            self._conn.poll(0.05)
        raise ReplayError(f"the replay process did not answer in {timeout:.0f} s")


def _serve(conn, movie: str, snapshot_every: int | None) -> None:
    from workbench.replay.reader import DEFAULT_SNAPSHOT_EVERY, EpisodeReader

    try:
        reader = EpisodeReader(movie, sidecar=None, snapshot_every=snapshot_every or DEFAULT_SNAPSHOT_EVERY)
    except ReplayError as exc:
        conn.send(("error", str(exc)))
        conn.close()
        return
    try:
        conn.send(("ready", ReplayInfo(movie, reader.game, reader.level, reader.n_frames)))
        indexing = True  # snapshots still to build
        last_request = time.monotonic()
        while True:
            wait = None
            if indexing:
                wait = max(0.0, IDLE_BEFORE_INDEXING_S - (time.monotonic() - last_request))
            if not conn.poll(wait):
                if indexing and time.monotonic() - last_request >= IDLE_BEFORE_INDEXING_S:
                    indexing = reader.build_next_snapshot()  # build ahead while the viewer is idle
                continue
            wanted = None
            while conn.poll():
                message = conn.recv()
                if message[0] == "quit":
                    return
                if message[0] == "frame":
                    wanted = message[1]
                    last_request = time.monotonic()
                elif message[0] == "save_state":
                    try:
                        path = reader.save_start_state(message[1], message[2])
                        conn.send(("saved", str(path)))
                    except (ReplayError, IndexError) as exc:
                        conn.send(("error", str(exc)))
            if wanted is not None:
                k = min(max(0, wanted), reader.n_frames - 1)
                conn.send(("frame", k, reader.frame(k)))
    except (EOFError, OSError, BrokenPipeError):
        pass  # the GUI went away
    finally:
        reader.close()
        conn.close()
