"""Video export: MP4 reads back with every frame, GIF with its frames and timing, overlay widens the picture."""
from __future__ import annotations

import cv2
import pytest

from workbench.replay.errors import ReplayError
from workbench.replay.export import count_video_frames, export_video


def test_mp4_reads_back_with_the_right_frame_count(recorded, tmp_path):
    out = tmp_path / "episode.mp4"
    calls = []
    n = export_video(recorded.movie, out, progress=lambda done, total: calls.append((done, total)))
    assert n == len(recorded.frame_hashes)
    assert count_video_frames(out) == n
    assert calls[-1] == (n, n) and len(calls) == n
    cap = cv2.VideoCapture(str(out))
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (320, 224)
    cap.release()
    assert [p.name for p in tmp_path.iterdir()] == ["episode.mp4"]  # no temp file left


def test_mp4_of_a_frame_range_with_overlay(recorded, tmp_path):
    out = tmp_path / "part.mp4"
    n = export_video(recorded.movie, out, overlay=True, start=40, end=99)
    assert n == 60 and count_video_frames(out) == 60
    cap = cv2.VideoCapture(str(out))
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape[1] > 320  # the probability panel sits beside the game
    assert frame[:, 320:].std() > 5  # and has something drawn on it


def test_gif_keeps_every_third_frame_at_20_fps(recorded, tmp_path):
    from PIL import Image

    out = tmp_path / "episode.gif"
    n = export_video(recorded.movie, out)
    assert n == len(range(0, len(recorded.frame_hashes), 3))
    with Image.open(out) as im:
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            durations.append(im.info["duration"])
    # Pillow merges identical consecutive frames into one longer one; the total time is what was written
    assert sum(durations) == n * 50
    assert count_video_frames(out) <= n


def test_bad_export_requests(recorded, tmp_path):
    with pytest.raises(ReplayError, match=r"\.mp4 or \.gif"):
        export_video(recorded.movie, tmp_path / "out.avi")
    with pytest.raises(ReplayError, match="does not exist"):
        export_video(recorded.movie, tmp_path / "missing" / "out.mp4")
    with pytest.raises(ReplayError, match="outside"):
        export_video(recorded.movie, tmp_path / "out.mp4", start=10_000)
    bare = tmp_path / "bare.bk2"
    bare.write_bytes(recorded.movie.read_bytes())
    with pytest.raises(ReplayError, match="--overlay needs"):
        export_video(bare, tmp_path / "out.mp4", overlay=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bare.bk2"]
