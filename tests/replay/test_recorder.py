"""The recorder hook: sidecars next to the movies, and the run's index of recorded episodes."""
from __future__ import annotations

import numpy as np
import pytest

from workbench.core.records import EpisodeRecord, StepRecord
from workbench.replay.episode_index import list_episodes, rebuild_index, recorded_levels
from workbench.replay.errors import ReplayError
from workbench.replay.recorder import EpisodeRecorder
from workbench.replay.sidecar import read_sidecar, sidecar_path

from replay_recording import LEVEL


def test_sidecar_holds_what_the_policy_did(recorded):
    side = read_sidecar(sidecar_path(recorded.movie))
    assert side.meta.level == LEVEL
    assert side.meta.length == recorded.length == len(side.actions)
    assert side.meta.episode_return == pytest.approx(recorded.episode_return)
    assert side.rewards.sum() == pytest.approx(recorded.episode_return)
    assert side.meta.complete and side.meta.action_labels == recorded.labels
    assert side.probs.shape == (recorded.length, len(recorded.labels)) and side.probs.dtype == np.float32
    np.testing.assert_allclose(side.probs.sum(axis=1), 1.0, atol=len(recorded.labels) / 510)
    np.testing.assert_allclose(side.values, 0.5 * np.arange(recorded.length), rtol=1e-3)
    # compact: at most ~1 byte per probability even for this random (incompressible) policy
    size = sidecar_path(recorded.movie).stat().st_size
    assert size < 2_000 + recorded.length * (len(recorded.labels) + 8)


def _steps(rec: EpisodeRecorder, n: int, start: int = 0, n_envs: int = 2):
    for t in range(start, start + n):
        rec.on_step(StepRecord(t, np.full(n_envs, t % 3), np.full((n_envs, 3), 1 / 3, np.float32),
                               np.arange(n_envs, dtype=np.float32) + t, np.full(n_envs, 1.0, np.float32),
                               np.zeros(n_envs, bool), np.zeros(n_envs, bool)))


def test_per_env_buffers_and_index_queries(tmp_path):
    rec = EpisodeRecorder(tmp_path, n_envs=2, frame_skip=4, action_labels=["a", "b", "c"])
    _steps(rec, 5)
    # env 1 ends after 5 steps, env 0 after 8; env 0's episode started before the recorder joined (length 10)
    rec.on_episode(EpisodeRecord(10, 1, "G-v0:A", 5.0, 5, False, seed=1, movie_path="G-v0:A/w01-e000000.bk2"))
    _steps(rec, 3, start=5)
    rec.on_episode(EpisodeRecord(16, 0, "G-v0:B", 42.0, 10, True, seed=1, movie_path="G-v0:B/w00-e000000.bk2"))
    _steps(rec, 2, start=8)
    rec.on_episode(EpisodeRecord(20, 1, "G-v0:A", -3.0, 5, False, seed=1, movie_path="G-v0:A/w01-e000001.bk2"))
    rec.on_episode(EpisodeRecord(20, 0, "G-v0:A", 1.0, 2, False))  # no movie: nothing written

    first, partial, second = (read_sidecar(p) for p in rec.written)
    assert len(rec.written) == 3
    np.testing.assert_array_equal(first.values, [1, 2, 3, 4, 5])  # env 1's column
    np.testing.assert_array_equal(first.step_end_frames, [4, 8, 12, 16, 20])
    assert not partial.meta.complete and len(partial.actions) == 8 and partial.meta.truncated
    np.testing.assert_array_equal(partial.step_end_frames, np.arange(3, 11) * 4)  # the 2 missed steps count
    # env 1's buffer was cleared at its first episode end: its second episode holds steps 5..9 only
    np.testing.assert_array_equal(second.values, [6, 7, 8, 9, 10])
    assert second.meta.complete

    assert [e.episode_return for e in list_episodes(tmp_path, order="best")] == [42.0, 5.0, -3.0]
    assert [e.episode_return for e in list_episodes(tmp_path, order="worst", limit=1)] == [-3.0]
    assert [e.episode_return for e in list_episodes(tmp_path, order="latest")] == [-3.0, 42.0, 5.0]
    assert [e.episode_return for e in list_episodes(tmp_path, level="G-v0:A")] == [-3.0, 5.0]
    assert recorded_levels(tmp_path) == ["G-v0:A", "G-v0:B"]
    assert list_episodes(tmp_path)[0].sidecar_path == rec.written[2]
    with pytest.raises(ValueError):
        list_episodes(tmp_path, order="random")


def test_rebuild_index_from_sidecars_reports_bad_ones(recorded, tmp_path):
    import shutil

    run = tmp_path / "run"
    target = run / recorded.movie.relative_to(recorded.run_dir)
    target.parent.mkdir(parents=True)
    shutil.copy(recorded.movie, target)
    shutil.copy(sidecar_path(recorded.movie), sidecar_path(target))
    broken = target.with_name("w01-e000000.bk2")
    shutil.copy(recorded.movie, broken)
    sidecar_path(broken).write_bytes(b"PK\x03\x04 not really")
    assert list_episodes(run) == []
    indexed, problems = rebuild_index(run)
    assert indexed == 1 and len(problems) == 1 and str(sidecar_path(broken)) in problems[0]
    (entry,) = list_episodes(run)
    assert entry.movie_path == target and entry.level == LEVEL and entry.length == recorded.length


@pytest.mark.parametrize("content", [b"", b"garbage", b"PK\x03\x04\x14\x00\x00\x00"])
def test_corrupt_sidecar_is_named_with_a_fix(tmp_path, content):
    bad = tmp_path / "w00-e000000.npz"
    bad.write_bytes(content)
    with pytest.raises(ReplayError, match="w00-e000000.npz") as info:
        read_sidecar(bad)
    assert "delete it" in str(info.value)
    assert bad.read_bytes() == content  # nothing touched


def test_truncated_sidecar_is_named(recorded, tmp_path):
    data = sidecar_path(recorded.movie).read_bytes()
    bad = tmp_path / "cut.npz"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ReplayError, match="cut.npz"):
        read_sidecar(bad)


def test_movies_without_sidecars_are_indexed_from_the_trainer_episodes_table(recorded, tmp_path):
    import shutil
    import sqlite3

    run = tmp_path / "run"
    rel = "episodes/Airstriker-Genesis-v0_Level1/w00-e000007.bk2"
    (run / rel).parent.mkdir(parents=True)
    shutil.copy(recorded.movie, run / rel)
    con = sqlite3.connect(run / "metrics.sqlite")  # the run store's table, as the trainer fills it
    con.execute("CREATE TABLE episodes (id INTEGER PRIMARY KEY, \"update\" INTEGER, global_step INTEGER, "
                "env_index INTEGER, level TEXT, episode_return REAL, length INTEGER, truncated INTEGER, "
                "seed INTEGER, movie_path TEXT, wall_time REAL)")
    con.execute("INSERT INTO episodes VALUES (1, 1, 120, 0, ?, 60.0, 120, 1, 3, ?, 0)", (LEVEL, rel))
    con.commit()
    con.close()
    assert rebuild_index(run) == (1, [])
    (entry,) = list_episodes(run)
    assert (entry.level, entry.episode_return, entry.length, entry.movie_path) == (LEVEL, 60.0, 120, run / rel)


def test_probabilities_survive_storage_to_within_a_quantum(tmp_path):
    rec = EpisodeRecorder(tmp_path, n_envs=1)
    probs = np.random.default_rng(0).dirichlet(np.ones(7), 50).astype(np.float32)
    for t in range(50):
        rec.on_step(StepRecord(t, np.array([t % 7]), probs[t:t + 1], np.zeros(1, np.float32),
                               np.zeros(1, np.float32), np.zeros(1, bool), np.zeros(1, bool)))
    rec.on_episode(EpisodeRecord(50, 0, LEVEL, 0.0, 50, True, movie_path="m/w00-e000000.bk2"))
    np.testing.assert_allclose(read_sidecar(rec.written[0]).probs, probs, atol=1 / 510 + 1e-6)
