"""Frames through shared memory between real processes: whole frames only, readers never own the segment."""
from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest

from workbench.bridge.frames import FrameReader, FrameWriter


def _write_many(name_queue, stop, shape):
    writer = FrameWriter(max_height=shape[0], max_width=shape[1])
    name_queue.put(writer.name)
    value = 0
    try:
        while not stop.is_set():
            value = (value + 1) % 256
            writer.write(np.full(shape, value, np.uint8))
    finally:
        writer.close()


@pytest.mark.slow
def test_reader_in_another_process_sees_only_whole_frames():
    ctx = mp.get_context("spawn")
    names, stop = ctx.Queue(), ctx.Event()
    shape = (224, 320, 3)
    process = ctx.Process(target=_write_many, args=(names, stop, shape))
    process.start()
    try:
        reader = FrameReader(names.get(timeout=60))
        seen = 0
        distinct = set()
        while seen < 300:
            frame = reader.read()
            if frame is None:
                continue
            assert frame.shape == shape
            assert frame.min() == frame.max(), "a torn frame mixes two writes"
            distinct.add(int(frame[0, 0, 0]))
            seen += 1
        assert len(distinct) > 10
        assert reader.read() is None or True  # only_new: a repeat read may or may not have a newer frame
        reader.close()
    finally:
        stop.set()
        process.join(30)
        names.close()
        names.join_thread()
    assert process.exitcode == 0


def test_only_new_frames_and_capacity_crop():
    writer = FrameWriter(max_height=8, max_width=8)
    try:
        reader = FrameReader(writer.name)
        assert reader.read() is None  # nothing written yet
        writer.write(np.arange(10 * 12 * 3, dtype=np.uint8).reshape(10, 12, 3))
        frame = reader.read()
        assert frame.shape == (8, 8, 3)
        assert reader.read() is None  # same frame again: nothing new
        assert reader.read(only_new=False).shape == (8, 8, 3)
        writer.write(np.zeros((4, 4), np.uint8))  # grayscale frames come out with one channel
        assert reader.read().shape == (4, 4, 1)
        reader.close()
    finally:
        writer.close()
