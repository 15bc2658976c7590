"""The one live-frame format (`core.frames`): whole frames only, across processes; only-new reads; the watched env
decides which slot readers see; frames too large for a slot are skipped; readers never own the segment."""
from __future__ import annotations

import gc
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np
import pytest

from workbench.core.frames import HEADER_WORDS, FrameReader, FrameSegment, attach_shm


def _write_many(name: str, ready, stop, shape) -> None:
    """An env worker's side: attach to the parent's segment and keep publishing uniform frames into slot 0."""
    segment = FrameSegment.attach(name)
    frame = np.zeros(shape, np.uint8)
    value = 0
    try:
        segment.write(0, frame)
        ready.set()
        while not stop.is_set():  # writes often overlap a read; the short pause lets some reads through
            value = (value + 1) % 256
            frame.fill(value)
            segment.write(0, frame)
            time.sleep(0.0005)
    finally:
        segment.close()


@pytest.mark.slow
def test_a_reader_sees_only_whole_frames_while_another_process_writes():
    shape = (512, 1024, 3)  # large: each copy takes long enough for writes to overlap it
    segment = FrameSegment.create(1, int(np.prod(shape)))
    segment.watch(0)
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    process = ctx.Process(target=_write_many, args=(segment.name, ready, stop, shape))
    process.start()
    try:
        assert ready.wait(60), "the writer never wrote"
        with FrameReader(segment.name) as reader:
            distinct, counters = set(), []
            while len(counters) < 300:
                result = reader.read()  # not only_new: copies start at any point of the writer's cycle
                if result is None:
                    continue
                counter, frame = result
                assert frame.shape == shape and frame.dtype == np.uint8
                assert frame.min() == frame.max(), "a torn frame mixes two writes"
                distinct.add(int(frame[0, 0, 0]))
                counters.append(counter)
            assert counters == sorted(counters), "frames come newest last"
            assert len(distinct) > 10
        stop.set()
        process.join(30)
        assert process.exitcode == 0
        assert Path(f"/dev/shm/{segment.name}").exists(), "the writer only attached: its exit must not unlink it"
    finally:
        stop.set()
        process.join(30)
        segment.close()
    assert not Path(f"/dev/shm/{segment.name}").exists()


def test_a_frame_being_written_is_not_returned():
    """Poke the documented layout as a writer mid-frame would: an odd sequence word means 'writing'."""
    with FrameSegment.create(1, 64) as segment:
        segment.watch(0)
        segment.write(0, np.full((4, 4, 3), 7, np.uint8))
        raw = attach_shm(segment.name)
        sequence = np.ndarray((1,), np.int64, raw.buf, HEADER_WORDS * 8)  # slot 0's first header word
        try:
            with FrameReader(segment.name) as reader:
                assert sequence[0] == 2 and reader.read()[0] == 1
                sequence[0] += 1  # the writer has begun the next frame
                assert reader.read() is None
                sequence[0] += 1  # and finished it
                assert reader.read()[1].tolist() == np.full((4, 4, 3), 7).tolist()
        finally:
            del sequence
            raw.close()


def test_only_new_reads_return_each_frame_once():
    with FrameSegment.create(1, 300) as segment, FrameReader(segment.name) as reader:
        segment.watch(0)
        assert reader.read() is None and reader.read(only_new=True) is None  # nothing written yet
        first = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
        assert segment.write(0, first)
        counter, frame = reader.read(only_new=True)
        assert counter == 1 and np.array_equal(frame, first)
        assert reader.read(only_new=True) is None  # the same frame again: nothing new
        counter, again = reader.read()
        assert counter == 1 and np.array_equal(again, first)
        first[...] = 0  # readers hold copies, not views of what the writer passed
        assert frame.any()
        segment.write(0, np.zeros((2, 3), np.uint8))  # one channel comes out as (H, W)
        counter, gray = reader.read(only_new=True)
        assert counter == 2 and gray.shape == (2, 3)


def test_the_watched_env_decides_which_slot_readers_see():
    with FrameSegment.create(3, 48) as segment, FrameReader(segment.name) as reader:
        for i in range(3):
            segment.write(i, np.full((4, 4, 3), 10 * (i + 1), np.uint8))
        assert reader.watched is None and reader.read() is None  # nothing watched: no frame
        segment.watch(2)
        assert reader.watched == segment.watched == 2
        assert reader.read(only_new=True)[1][0, 0, 0] == 30
        segment.watch(0)
        # another env's frame is new even though both slots hold their first frame (counter 1)
        counter, frame = reader.read(only_new=True)
        assert counter == 1 and frame[0, 0, 0] == 10
        segment.watch(2)
        assert reader.read(only_new=True)[1][0, 0, 0] == 30  # back again: shown again
        segment.watch(None)
        assert reader.watched is None and reader.read() is None
        with pytest.raises(IndexError):
            segment.watch(3)


def test_a_frame_larger_than_its_slot_is_skipped_not_cropped():
    with FrameSegment.create(1, 4 * 4 * 3) as segment, FrameReader(segment.name) as reader:
        segment.watch(0)
        assert segment.write(0, np.full((4, 4, 3), 5, np.uint8))
        assert reader.read(only_new=True)[0] == 1
        assert not segment.write(0, np.full((5, 4, 3), 9, np.uint8))
        assert reader.read(only_new=True) is None  # nothing new was published
        counter, frame = reader.read()
        assert counter == 1 and frame.shape == (4, 4, 3) and (frame == 5).all()


def test_readers_never_own_the_segment_and_the_owner_always_unlinks():
    segment = FrameSegment.create(1, 16)
    path = Path(f"/dev/shm/{segment.name}")
    reader = FrameReader(segment.name)
    reader.close()
    reader.close()
    assert path.exists()  # a reader closing leaves it alone
    segment.close()
    segment.close()
    assert not path.exists()
    with pytest.raises(FileNotFoundError):
        FrameReader(segment.name)
    forgotten = FrameSegment.create(1, 16)  # an owner nobody closed is unlinked when collected
    path = Path(f"/dev/shm/{forgotten.name}")
    del forgotten
    gc.collect()
    assert not path.exists()
