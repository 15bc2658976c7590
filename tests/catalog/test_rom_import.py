"""ROM import with real files into a test-local stable-retro data root."""
from __future__ import annotations

import io
import os
import shutil
import zipfile

import stable_retro.data as retro_data

from workbench.catalog.catalog import Catalog
from workbench.catalog.roms import ale_rom_files, import_atari, import_roms, known_hashes, summarize

AIR = "Airstriker-Genesis-v0"


def _by_name(results):
    return {os.path.basename(r.path): r for r in results}


def test_known_hashes_agree_with_stable_retro():
    ours = {sha: (k.game, k.ext, str(k.game_dir.parent)) for sha, k in known_hashes(custom_dirs=[]).items()}
    theirs = retro_data.get_known_hashes()
    assert len(ours) >= 1000
    # stable-retro also lists the empty string of an empty rom.sha, which matches nothing
    assert ours == {sha: (game, ext, path) for sha, (game, ext, path) in theirs.items() if sha}


def test_matching_rom_is_installed_and_second_import_is_present(retro_root, custom_dir, airstriker_rom, tmp_path):
    src = tmp_path / "my roms" / "Air Striker (PD).bin"
    src.parent.mkdir()
    shutil.copy(airstriker_rom, src)
    calls = []
    results = import_roms([src], progress=lambda *a: calls.append(a), data_root=retro_root, custom_dirs=[custom_dir])
    assert [(r.status, r.game) for r in results] == [("imported", AIR)]
    dest = retro_root / "stable" / AIR / "rom.md"
    assert results[0].destination == str(dest) and dest.read_bytes() == airstriker_rom.read_bytes()
    assert calls == [(1, 1, str(src))]
    assert Catalog(retro_root, [custom_dir]).is_playable(AIR)
    again = import_roms([src], data_root=retro_root, custom_dirs=[custom_dir])
    assert [(r.status, r.game) for r in again] == [("present", AIR)]


def test_random_truncated_and_missing_files_are_reported(retro_root, custom_dir, airstriker_rom, tmp_path):
    random_file = tmp_path / "random.md"
    random_file.write_bytes(os.urandom(4096))
    truncated = tmp_path / "truncated.md"
    truncated.write_bytes(airstriker_rom.read_bytes()[:-100])
    empty = tmp_path / "empty.sfc"
    empty.write_bytes(b"")
    results = import_roms([random_file, truncated, empty, tmp_path / "nowhere.md"],
                          data_root=retro_root, custom_dirs=[custom_dir])
    got = _by_name(results)
    assert got["random.md"].status == "unknown" and "matches no game" in got["random.md"].reason
    assert got["truncated.md"].status == "unknown" and got["empty.sfc"].status == "unknown"
    assert got["nowhere.md"].status == "unreadable" and "no such file" in got["nowhere.md"].reason
    assert not (retro_root / "stable" / AIR / "rom.md").exists()


def test_zip_and_nested_zip(retro_root, custom_dir, airstriker_rom, tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("deep/airstriker.md", airstriker_rom.read_bytes())
    outer = tmp_path / "collection.zip"
    with zipfile.ZipFile(outer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("readme.txt", "hello")
        zf.writestr("inner.zip", inner.getvalue())
    results = import_roms([outer], data_root=retro_root, custom_dirs=[custom_dir])
    got = {r.path: r for r in results}
    assert got[f"{outer}/readme.txt"].status == "unknown"
    assert got[f"{outer}/inner.zip/deep/airstriker.md"].status == "imported"
    assert got[f"{outer}/inner.zip/deep/airstriker.md"].game == AIR
    assert len(results) == 2  # containers are not reported as files of their own

    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 this is not really a zip")
    (result,) = import_roms([broken], data_root=retro_root, custom_dirs=[custom_dir])
    assert result.status == "unreadable" and "zip" in result.reason


def test_folder_of_mixed_files_reports_every_file(retro_root, custom_dir, airstriker_rom, tmp_path):
    folder = tmp_path / "downloads"
    (folder / "sub" / "deeper").mkdir(parents=True)
    shutil.copy(airstriker_rom, folder / "sub" / "deeper" / "game.md")
    shutil.copy(airstriker_rom, folder / "copy-of-game.gen")
    (folder / "notes.txt").write_text("not a rom")
    (folder / "half.md").write_bytes(airstriker_rom.read_bytes()[: 50_000])
    pong = next(p for p in ale_rom_files() if p.name == "pong.bin")
    shutil.copy(pong, folder / "sub" / "pong.a26")
    calls = []
    results = import_roms([folder], progress=lambda d, t, p: calls.append((d, t)),
                          data_root=retro_root, custom_dirs=[custom_dir])
    assert len(results) == 5 and calls == [(i, 5) for i in range(1, 6)]
    assert summarize(results) == {"imported": 2, "patched": 0, "present": 1, "conflict": 0, "unknown": 2,
                                  "unreadable": 0, "rejected": 0, "failed": 0}
    catalog = Catalog(retro_root, [custom_dir])
    assert catalog.is_playable(AIR) and catalog.is_playable("Pong-Atari2600-v0")
    assert (retro_root / "stable" / "Pong-Atari2600-v0" / "rom.a26").read_bytes() == pong.read_bytes()


def test_a_different_installed_rom_is_kept_and_reported(retro_root, custom_dir, airstriker_rom, tmp_path):
    dest = retro_root / "stable" / AIR / "rom.md"
    mine = b"the user's own patched file" * 100
    dest.write_bytes(mine)
    src = tmp_path / "airstriker.md"
    shutil.copy(airstriker_rom, src)
    (result,) = import_roms([src], data_root=retro_root, custom_dirs=[custom_dir])
    assert result.status == "conflict" and result.game == AIR and str(dest) in result.reason
    assert dest.read_bytes() == mine


def test_unreadable_file(retro_root, custom_dir, airstriker_rom, tmp_path):
    src = tmp_path / "locked.md"
    shutil.copy(airstriker_rom, src)
    src.chmod(0)
    try:
        if os.access(src, os.R_OK):
            return  # running as root: permissions do not stop reads, nothing to test here
        (result,) = import_roms([src], data_root=retro_root, custom_dirs=[custom_dir])
        assert result.status == "unreadable" and "ermission" in result.reason
    finally:
        src.chmod(0o644)


def test_import_atari_from_ale_py(retro_root, custom_dir):
    results = import_atari(data_root=retro_root)
    imported = [r for r in results if r.status == "imported"]
    assert [r.game for r in imported] == ["Pong-Atari2600-v0"]  # the only Atari game in this data root
    assert len(results) == len(ale_rom_files()) >= 100
