"""`MovieWriter` writes the .bk2 stable-retro's own recorder writes: same entries, same text, same replay."""
from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from workbench.engine.envs.movie_writer import MovieWriter, bk2_template


def record_both(game: str, state: str, n_frames: int, seed: int, tmp_path: Path) -> tuple[Path, Path]:
    """Play random buttons for n_frames with stable-retro recording its own movie and a `MovieWriter` fed the
    same buttons; returns (stable-retro's file, ours)."""
    import stable_retro

    from workbench.catalog.integrations import register_custom_integrations as ensure_integrations

    ensure_integrations()
    env = stable_retro.make(game, state=state, render_mode=None, use_restricted_actions=stable_retro.Actions.ALL,
                            inttype=stable_retro.data.Integrations.ALL)
    theirs, ours = tmp_path / "stable_retro.bk2", tmp_path / "ours.bk2"
    try:
        env.record_movie(str(theirs))
        env.reset()  # records the reset frame, as the workbench's envs do when recording
        writer = MovieWriter(bk2_template(env.gamename, env.em, env.num_buttons, env.players), env.initial_state,
                             capacity=16)  # small, so the buffer has to grow
        rng = np.random.default_rng(seed)
        for _ in range(n_frames):
            buttons = rng.integers(0, 2, env.num_buttons)
            writer.add(buttons)
            env.step(buttons)
        env.stop_record()
        writer.write(ours)
    finally:
        env.close()
    assert writer.frames == n_frames
    return theirs, ours


def replay_frame_hashes(path: Path) -> tuple[list[str], float]:
    """Play a .bk2 back the way stable-retro's docs do; the hash of every frame and the total reward."""
    import stable_retro

    movie = stable_retro.Movie(str(path))
    movie.step()
    env = stable_retro.make(movie.get_game(), state=stable_retro.State.NONE, render_mode=None,
                            use_restricted_actions=stable_retro.Actions.ALL, players=movie.players,
                            inttype=stable_retro.data.Integrations.ALL)
    try:
        env.initial_state = movie.get_state()
        env.reset()
        hashes, total = [], 0.0
        while movie.step():
            obs, reward, *_ = env.step([movie.get_key(i, 0) for i in range(env.num_buttons)])
            hashes.append(hashlib.sha1(obs.tobytes()).hexdigest())
            total += reward
        return hashes, total
    finally:
        env.close()


def assert_same_movie(theirs: Path, ours: Path, n_frames: int) -> None:
    with zipfile.ZipFile(theirs) as a, zipfile.ZipFile(ours) as b:
        assert b.testzip() is None
        assert sorted(a.namelist()) == sorted(b.namelist()) == ["Core.bin", "Header.txt", "Input Log.txt"]
        for name in a.namelist():
            assert a.read(name) == b.read(name), name
    their_frames, their_reward = replay_frame_hashes(theirs)
    our_frames, our_reward = replay_frame_hashes(ours)
    assert len(our_frames) == n_frames
    assert len(set(our_frames)) > 1  # the game moved: a replay that ignored the buttons would not compare much
    assert our_frames == their_frames and our_reward == their_reward


def test_our_movie_matches_stable_retros_and_replays_to_the_same_frames(tmp_path):
    theirs, ours = record_both("Airstriker-Genesis-v0", "Level1", 200, seed=5, tmp_path=tmp_path)
    assert_same_movie(theirs, ours, 200)


@pytest.mark.slow
def test_same_file_on_another_system(tmp_path, atari_roms):
    theirs, ours = record_both("Pong-Atari2600-v0", "Start", 200, seed=1, tmp_path=tmp_path)
    assert_same_movie(theirs, ours, 200)


def test_second_episode_of_a_level_reuses_the_compressed_start_state_and_stays_valid(tmp_path):
    import stable_retro

    env = stable_retro.make("Airstriker-Genesis-v0", render_mode=None, use_restricted_actions=stable_retro.Actions.ALL)
    try:
        template = bk2_template(env.gamename, env.em, env.num_buttons, env.players)
        for episode, presses in enumerate([[], [1, 0] * 6]):
            writer = MovieWriter(template, env.initial_state)
            if presses:
                writer.add(presses)
            writer.write(tmp_path / f"e{episode}.bk2")
    finally:
        env.close()
    empty, one = stable_retro.Movie(str(tmp_path / "e0.bk2")), stable_retro.Movie(str(tmp_path / "e1.bk2"))
    assert empty.get_state() == one.get_state() == env.initial_state
    assert empty.step() and not empty.step()  # just the reset frame
    assert one.step() and one.step()
    assert [one.get_key(i, 0) for i in range(12)] == [True, False] * 6
    assert not one.step()
