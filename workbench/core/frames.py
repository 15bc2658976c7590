"""The one shared-memory format for live frames: each env's newest full-size frame, and which env is watched.

Layout, in int64 words then bytes:

    global header (HEADER_WORDS): [n_envs, slot_bytes, watched env index (-1: none), 0, ...]
    n_envs slots, each: header (HEADER_WORDS) [sequence, frame counter, height, width, channels, 0, ...]
                        followed by slot_bytes of frame data (uint8, C order)

Each slot is a seqlock: its one writer makes `sequence` odd, writes the pixels and shape, bumps the counter, then
makes `sequence` even again; a reader keeps its copy only when it saw the same even sequence before and after,
so it never returns a torn frame. `FrameSegment` creates (and unlinks) the segment or attaches to it to write;
`FrameReader` attaches from any process to read the watched env's frame. Frames are never pickled.
"""
from __future__ import annotations

import os
import secrets
import weakref
from contextlib import contextmanager
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import SharedMemory

import numpy as np

from workbench.core.paths import SHM_PREFIX

HEADER_WORDS = 8
HEADER_BYTES = HEADER_WORDS * 8
DEFAULT_SLOT_BYTES = 480 * 640 * 3
"""Slot capacity vec envs give when their envs report smaller frames (tmpfs pages are only used when written)."""
READ_TRIES = 1000
"""Attempts a read makes while the writer is mid-frame before it gives up (returns None) for now."""


def segment_size(n_envs: int, slot_bytes: int) -> int:
    return HEADER_BYTES + n_envs * (HEADER_BYTES + slot_bytes)


@contextmanager
def _untracked():
    """Attach without registering the segment with this process's resource tracker: its creator owns (and
    unlinks) it; a second registration would unlink it or warn about it when the attaching process exits."""
    original = resource_tracker.register
    resource_tracker.register = lambda *args, **kwargs: None
    try:
        yield
    finally:
        resource_tracker.register = original


def attach_shm(name: str) -> SharedMemory:
    """Map an existing segment this process does not own."""
    with _untracked():
        return SharedMemory(name=name)


def _views(buf) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    head = np.ndarray((HEADER_WORDS,), np.int64, buf, 0)
    n_envs, slot_bytes = int(head[0]), int(head[1])
    if n_envs < 0 or slot_bytes < 0 or segment_size(n_envs, slot_bytes) > len(buf):
        raise ValueError(f"not a frame segment (header says {n_envs} slots of {slot_bytes} bytes)")
    slots = []
    for i in range(n_envs):
        offset = HEADER_BYTES + i * (HEADER_BYTES + slot_bytes)
        slots.append((np.ndarray((HEADER_WORDS,), np.int64, buf, offset),
                      np.ndarray((slot_bytes,), np.uint8, buf, offset + HEADER_BYTES)))
    return head, slots


def _read_slot(slot) -> tuple[int, np.ndarray] | None:
    header, data = slot
    for _ in range(READ_TRIES):
        seq = int(header[0])
        if seq & 1:
            continue  # the writer is mid-frame
        counter, h, w, c = (int(x) for x in header[1:5])
        if counter == 0 or min(h, w, c) <= 0 or h * w * c > data.size:
            if int(header[0]) == seq:
                return None  # nothing published yet
            continue  # a write began while we read the header
        frame = data[:h * w * c].copy()
        if int(header[0]) == seq:
            return counter, frame.reshape((h, w, c) if c > 1 else (h, w))
    return None


class _Mapped:
    def __init__(self, shm: SharedMemory):
        self._shm = shm
        self._head, self._slots = _views(shm.buf)
        self.name = shm.name
        self.n_envs, self.slot_bytes = len(self._slots), int(self._head[1])

    @property
    def watched(self) -> int | None:
        if self._shm is None:
            return None
        index = int(self._head[2])
        return index if 0 <= index < self.n_envs else None

    def latest(self) -> tuple[int, np.ndarray] | None:
        """(frame counter, copy) of the watched env's newest frame; None when nothing is watched or it has not
        published a frame yet. The counter counts that env's frames: unchanged means the same frame."""
        return self._latest(self.watched)

    def _latest(self, index: int | None) -> tuple[int, np.ndarray] | None:
        return None if index is None else _read_slot(self._slots[index])

    def _unmap(self) -> None:
        self._head = self._slots = None  # views must go before the mapping closes
        self._shm.close()
        self._shm = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _release(shm: SharedMemory) -> None:
    """Unlink an owned segment the owner never closed (garbage-collected or at interpreter exit)."""
    try:
        shm.close()
    except BufferError:
        pass
    try:
        shm.unlink()
    except FileNotFoundError:
        pass


class FrameSegment(_Mapped):
    """The writing side. `FrameSegment.create(n_envs, slot_bytes)` makes a segment and owns it (`close` unlinks
    it; so does garbage collection or interpreter exit if nobody closed it); `FrameSegment.attach(name)` maps one
    made elsewhere (an env worker writing its own slot)."""

    def __init__(self, shm: SharedMemory, owner: bool):
        super().__init__(shm)
        self._finalizer = weakref.finalize(self, _release, shm) if owner else None

    @classmethod
    def create(cls, n_envs: int, slot_bytes: int, name: str | None = None) -> "FrameSegment":
        if n_envs < 1 or slot_bytes < 0:
            raise ValueError(f"a frame segment needs at least one slot (got {n_envs} slots of {slot_bytes} bytes)")
        name = name or f"{SHM_PREFIX}{os.getpid()}_{secrets.token_hex(4)}_frame"
        if not name.startswith(SHM_PREFIX):
            raise ValueError(f"shared-memory names must start with {SHM_PREFIX!r}")
        shm = SharedMemory(name=name, create=True, size=segment_size(n_envs, slot_bytes))
        head = np.ndarray((HEADER_WORDS,), np.int64, shm.buf, 0)
        head[:] = 0
        head[0], head[1], head[2] = n_envs, slot_bytes, -1
        del head  # no view may outlive the mapping
        return cls(shm, owner=True)

    @classmethod
    def attach(cls, name: str) -> "FrameSegment":
        return cls(attach_shm(name), owner=False)

    def watch(self, index: int | None) -> None:
        """Say which env's frames readers want (None: none); only that env needs to `write`."""
        if index is not None and not 0 <= index < self.n_envs:
            raise IndexError(f"env index {index} out of range 0..{self.n_envs - 1}")
        if self._shm is not None:
            self._head[2] = -1 if index is None else index

    def write(self, index: int, frame: np.ndarray) -> bool:
        """Publish `frame` ((H, W) or (H, W, C) uint8) as env `index`'s newest; False (and nothing written) when
        it is larger than a slot: a cropped frame would be wrong, a missing one only stale."""
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        header, data = self._slots[index]
        if frame.nbytes > data.size or frame.ndim not in (2, 3):
            return False
        header[0] += 1  # odd: writing
        data[:frame.nbytes] = frame.reshape(-1)
        header[1] += 1
        header[2], header[3], header[4] = frame.shape[0], frame.shape[1], frame.shape[2] if frame.ndim == 3 else 1
        header[0] += 1  # even: stable
        return True

    def close(self) -> None:
        """Unmap; the owner also unlinks the segment. Safe to call twice."""
        if self._shm is None:
            return
        shm = self._shm
        self._unmap()
        if self._finalizer is not None:
            self._finalizer.detach()
            try:
                shm.unlink()
            except FileNotFoundError:
                pass


class FrameReader(_Mapped):
    """Reads the watched env's frames from a segment made in any process: `FrameReader(vec_env.frame_shm_name())`.
    It never owns the segment (its exit does not unlink it)."""

    def __init__(self, name: str):
        super().__init__(attach_shm(name))
        self._last: tuple[int, int] | None = None

    def read(self, only_new: bool = False) -> tuple[int, np.ndarray] | None:
        """(frame counter, (H, W, C) copy) of the watched env's newest frame, or None when there is none; with
        `only_new`, also None when it is the frame this reader returned last (same env, same counter)."""
        index = self.watched
        result = self._latest(index)
        if result is None:
            return None
        key = (index, result[0])
        if only_new and key == self._last:
            return None
        self._last = key
        return result

    def close(self) -> None:
        if self._shm is not None:
            self._unmap()
