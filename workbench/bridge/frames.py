"""The newest full-size RGB frame of the watched env, in shared memory another process maps directly.

Layout: a 64-byte header of int64 [seq, height, width, channels, ...] followed by room for one
`max_height x max_width x 3` uint8 frame. A seqlock keeps readers from seeing a torn frame: the writer makes
`seq` odd, writes, then makes it even again; a reader copies the frame and keeps it only when `seq` was the
same even number before and after. One writer (the run process), any number of readers (GUIs); frames are
never pickled.
"""
from __future__ import annotations

import secrets
from multiprocessing import resource_tracker, shared_memory

import numpy as np

from workbench.paths import SHM_PREFIX

HEADER_BYTES = 64
MAX_HEIGHT = 480
MAX_WIDTH = 640


def _segment_size(max_height: int, max_width: int) -> int:
    return HEADER_BYTES + max_height * max_width * 3


class FrameWriter:
    """Owns the segment (creates it, unlinks it on close)."""

    def __init__(self, max_height: int = MAX_HEIGHT, max_width: int = MAX_WIDTH, name: str | None = None):
        name = name or f"{SHM_PREFIX}live_{secrets.token_hex(6)}"
        if not name.startswith(SHM_PREFIX):
            raise ValueError(f"shared-memory names must start with {SHM_PREFIX!r}")
        self.max_shape = (max_height, max_width)
        self._shm = shared_memory.SharedMemory(name=name, create=True, size=_segment_size(max_height, max_width))
        self._header = np.ndarray((8,), dtype=np.int64, buffer=self._shm.buf[:HEADER_BYTES])
        self._header[:] = 0
        self._pixels = np.ndarray((max_height * max_width * 3,), dtype=np.uint8, buffer=self._shm.buf[HEADER_BYTES:])

    @property
    def name(self) -> str:
        return self._shm.name

    def write(self, frame: np.ndarray) -> None:
        """Publish `frame` (H, W, 3 or H, W uint8); larger frames are cropped to the segment's capacity."""
        if frame.ndim == 2:
            frame = frame[:, :, None]
        h = min(frame.shape[0], self.max_shape[0])
        w = min(frame.shape[1], self.max_shape[1])
        c = min(frame.shape[2], 3)
        header = self._header
        seq = int(header[0])
        header[0] = seq + 1  # odd: writing
        dst = self._pixels[: h * w * c].reshape(h, w, c)
        np.copyto(dst, frame[:h, :w, :c], casting="unsafe")
        header[1:4] = (h, w, c)
        header[0] = seq + 2  # even: stable

    def close(self) -> None:
        if self._shm is None:
            return
        self._header = self._pixels = None  # drop views before closing the mapping
        self._shm.close()
        try:
            self._shm.unlink()
        except FileNotFoundError:
            pass
        self._shm = None


class FrameReader:
    """Maps a segment made by `FrameWriter` (in any process) and copies out the newest whole frame."""

    def __init__(self, name: str):
        self._shm = shared_memory.SharedMemory(name=name, create=False)
        # Attaching registers the segment with this process's resource tracker (Python < 3.13), which would
        # unlink it when this process exits and break runs that outlive the GUI: readers never own it.
        try:
            resource_tracker.unregister(self._shm._name, "shared_memory")  # type: ignore[attr-defined]
        except Exception:
            pass
        self._header = np.ndarray((8,), dtype=np.int64, buffer=self._shm.buf[:HEADER_BYTES])
        self._pixels = np.ndarray((self._shm.size - HEADER_BYTES,), dtype=np.uint8,
                                  buffer=self._shm.buf[HEADER_BYTES:])
        self.last_seq = -1

    def read(self, only_new: bool = True) -> np.ndarray | None:
        """The newest frame as a (H, W, C) copy, or None when there is none yet (or none newer than the last
        read, when `only_new`)."""
        for _ in range(8):
            seq = int(self._header[0])
            if seq == 0 or seq % 2:
                if seq == 0:
                    return None
                continue
            if only_new and seq == self.last_seq:
                return None
            h, w, c = (int(v) for v in self._header[1:4])
            if h <= 0 or w <= 0 or c <= 0 or h * w * c > self._pixels.size:
                return None
            frame = self._pixels[: h * w * c].reshape(h, w, c).copy()
            if int(self._header[0]) == seq:
                self.last_seq = seq
                return frame
        return None

    def close(self) -> None:
        if self._shm is None:
            return
        self._header = self._pixels = None
        self._shm.close()
        self._shm = None
