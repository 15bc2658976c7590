"""Replaying a real recording: every frame hash-equals what the env showed; seeking equals playing."""
from __future__ import annotations

import numpy as np
import pytest

from workbench.replay.reader import EpisodeReader

from replay_recording import frame_hash


def test_replayed_frames_hash_equal_recorded_frames(recorded):
    with EpisodeReader(recorded.movie, snapshot_every=50) as reader:
        assert reader.n_frames == len(recorded.frame_hashes)
        assert reader.game == "Airstriker-Genesis-v0"
        replayed = [frame_hash(reader.frame(0))]
        while (frame := reader.next_frame()) is not None:
            replayed.append(frame_hash(frame))
    assert replayed == recorded.frame_hashes
    assert len(set(replayed)) > 20  # the game moved: equal hashes are not all the same blank screen


def test_seeking_gives_the_frame_that_playing_gives(recorded):
    rng = np.random.default_rng(0)
    with EpisodeReader(recorded.movie, snapshot_every=37) as reader:
        n = reader.n_frames
        # random jumps both ways, snapshot boundaries and their neighbours, the ends, repeats
        targets = [int(k) for k in rng.integers(0, n, 40)] + [0, 37, 36, 38, 74, n - 1, 0, n - 1, 111, 111, 5]
        for k in targets:
            assert frame_hash(reader.frame(k)) == recorded.frame_hashes[k], f"frame {k}"
        with pytest.raises(IndexError):
            reader.frame(n)


def test_snapshots_built_ahead_serve_every_frame(recorded):
    with EpisodeReader(recorded.movie, snapshot_every=64) as reader:
        seen = []
        reader.build_snapshots(progress=lambda f, n: seen.append((f, n)))
        assert [f for f, _ in seen] == list(range(64, reader.n_frames, 64))  # frame 0 exists from the start
        for k in range(reader.n_frames - 1, -1, -29):
            assert frame_hash(reader.frame(k)) == recorded.frame_hashes[k]


def test_agent_steps_map_to_the_frames_they_ended_on(recorded):
    with EpisodeReader(recorded.movie) as reader:
        side = reader.sidecar
        assert side is not None and side.meta.level == "Airstriker-Genesis-v0:Level1"
        assert reader.level == side.meta.level
        np.testing.assert_array_equal(side.step_end_frames, np.cumsum(recorded.frames_per_step))
        assert reader.step_at_frame(0) == 0
        assert reader.step_at_frame(4) == 0
        assert reader.step_at_frame(5) == 1
        assert reader.step_at_frame(reader.n_frames - 1) == recorded.length - 1


def test_level_comes_from_the_recording_folder_without_a_sidecar(recorded):
    with EpisodeReader(recorded.movie, sidecar=None) as reader:
        assert reader.sidecar is None
        assert reader.step_at_frame(10) is None
        assert reader.level == "Airstriker-Genesis-v0:Level1"
