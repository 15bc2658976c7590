"""The replay process the GUI reads frames from: right frames, newest-request-wins, clean exits."""
from __future__ import annotations

import time

import pytest

from workbench.replay.errors import ReplayError
from workbench.replay.frame_server import ReplayProcess

from replay_recording import GAME, frame_hash


@pytest.mark.slow
def test_frames_state_saving_and_newest_request_wins(recorded):
    from workbench.catalog.integrations import custom_states

    with ReplayProcess(recorded.movie, snapshot_every=50) as replay:
        assert replay.info.n_frames == len(recorded.frame_hashes)
        assert replay.info.level == f"{GAME}:Level1"
        for k in (0, 333, 7, 480, 49, 50):
            assert frame_hash(replay.frame(k)) == recorded.frame_hashes[k]
        for k in range(100, 140):  # a burst of requests: the answer to the last one arrives
            replay.request(k)
        deadline = time.monotonic() + 30
        got = None
        while time.monotonic() < deadline and (got is None or got[0] != 139):
            got = replay.poll() or got
            time.sleep(0.01)
        assert got[0] == 139 and frame_hash(got[1]) == recorded.frame_hashes[139]
        assert replay.save_start_state(250, "FromViewer").name == "FromViewer.state"
        with pytest.raises(ReplayError, match="already has"):
            replay.save_start_state(250, "FromViewer")
        assert replay.alive
    assert not replay.alive
    assert "FromViewer" in custom_states(GAME)


def test_a_bad_movie_reports_and_leaves_no_process(tmp_path):
    bad = tmp_path / "bad.bk2"
    bad.write_bytes(b"nope")
    with pytest.raises(ReplayError, match="bad.bk2"):
        ReplayProcess(bad)
