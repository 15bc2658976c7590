"""`workbench replay`: list, info, export, save-state, and one-line errors for bad input (exit 2)."""
from __future__ import annotations

import pytest

from workbench.cli import main
from workbench.replay.export import count_video_frames

from replay_recording import GAME


def test_list_info_and_pick_from_a_run_folder(recorded, capsys):
    assert main(["replay", str(recorded.run_dir), "--list"]) == 0
    out = capsys.readouterr().out
    assert f"{GAME}:Level1" in out and "w00-e000000.bk2" in out and " 120 " in out

    assert main(["replay", str(recorded.run_dir), "--pick", "best", "--info"]) == 0
    out = capsys.readouterr().out
    assert f"frames:  {len(recorded.frame_hashes)}" in out and "steps:   120 (truncated)" in out


def test_export_mp4_with_overlay(recorded, tmp_path, capsys):
    out = tmp_path / "clip.mp4"
    assert main(["replay", str(recorded.movie), "--export", str(out), "--overlay", "--end", "59"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert count_video_frames(out) == 60


def test_save_state_from_a_frame(recorded, capsys):
    from workbench.catalog.catalog import Catalog

    assert main(["replay", str(recorded.movie), "--frame", "150", "--save-state", "FromCli"]) == 0
    assert f"saved start state {GAME}:FromCli" in capsys.readouterr().out
    assert "FromCli" in Catalog().find(GAME).states
    # the same name again: refused, one line, nothing overwritten
    assert main(["replay", str(recorded.movie), "--frame", "10", "--save-state", "FromCli"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already has a start state" in err and "Traceback" not in err


@pytest.mark.parametrize("argv, message", [
    (["replay", "/nonexistent/x.bk2", "--info"], "no such episode file or run folder"),
    (["replay", "{movie}", "--frame", "5"], "go together"),
    (["replay", "{movie}", "--frame", "999999", "--save-state", "X"], "outside"),
    (["replay", "{movie}", "--export", "{tmp}/out.webm"], ".mp4 or .gif"),
    (["replay", "{tmp}", "--info"], "no recorded episodes"),
    (["replay", "{tmp}/bad.bk2", "--info"], "bad.bk2: cannot read the movie"),
])
def test_bad_input_is_one_line_and_exit_2(recorded, tmp_path, capsys, argv, message):
    (tmp_path / "bad.bk2").write_bytes(b"PK\x03\x04 truncated")
    argv = [a.format(movie=recorded.movie, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("workbench: ") and err.count("\n") == 1
