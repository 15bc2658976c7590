"""Corrupt or truncated movies, missing ROMs: a clear message naming the file and the fix; nothing else touched."""
from __future__ import annotations

import io
import shutil
import zipfile

import pytest

from workbench.replay.errors import ReplayError
from workbench.replay.reader import EpisodeReader
from workbench.replay.sidecar import sidecar_path


def _snapshot(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_damaged_movie_is_named_with_a_fix(recorded, tmp_path, damage):
    data = recorded.movie.read_bytes()
    bad = tmp_path / "w00-e000000.bk2"
    bad.write_bytes({"truncated": data[: len(data) // 3], "garbage": b"not a movie" * 50, "empty": b""}[damage])
    before = _snapshot(tmp_path)
    with pytest.raises(ReplayError) as info:
        EpisodeReader(bad)
    message = str(info.value)
    assert str(bad) in message and "re-record" in message
    assert _snapshot(tmp_path) == before
    # the process can still replay a good episode afterwards (no emulator left half-open)
    with EpisodeReader(recorded.movie) as reader:
        assert reader.n_frames == len(recorded.frame_hashes)


def test_missing_movie_file(tmp_path):
    with pytest.raises(ReplayError, match="no such episode movie"):
        EpisodeReader(tmp_path / "nope.bk2")


def _retitled(movie, game: str, out):
    """The same movie claiming another game (as a movie recorded on another machine would)."""
    src = zipfile.ZipFile(movie)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            content = src.read(item.filename)
            if item.filename == "Header.txt":
                content = content.replace(b"GameName Airstriker-Genesis-v0", f"GameName {game}".encode())
            dst.writestr(item, content)
    out.write_bytes(buf.getvalue())
    return out


def test_movie_of_a_game_without_its_rom_says_to_import_it(recorded, tmp_path):
    import stable_retro

    game = "SonicTheHedgehog-Genesis-v0"
    try:
        stable_retro.data.get_romfile_path(game, stable_retro.data.Integrations.ALL)
        pytest.skip(f"{game}'s ROM is imported on this machine")
    except FileNotFoundError:
        pass
    movie = _retitled(recorded.movie, game, tmp_path / "sonic.bk2")
    with pytest.raises(ReplayError) as info:
        EpisodeReader(movie, sidecar=None)
    message = str(info.value)
    assert str(movie) in message and game in message and "workbench roms import" in message


def test_corrupt_sidecar_stops_the_reader_but_not_the_movie(recorded, tmp_path):
    movie = tmp_path / "w00-e000000.bk2"
    shutil.copy(recorded.movie, movie)
    sidecar_path(movie).write_bytes(b"\x00" * 100)
    with pytest.raises(ReplayError, match=str(sidecar_path(movie))):
        EpisodeReader(movie)
    with EpisodeReader(movie, sidecar=None) as reader:  # the movie itself still replays
        assert reader.n_frames == len(recorded.frame_hashes)
