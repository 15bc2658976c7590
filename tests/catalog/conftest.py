"""A test-local stable-retro data root: a few real game integrations copied from the installed stable-retro
(without ROMs), so ROM imports in tests never touch the real data folder."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workbench.catalog.systems import retro_data_root

GAMES = ("Airstriker-Genesis-v0", "Pong-Atari2600-v0", "SuperMarioBros-Nes-v0")
ROM_FILES = {"rom.md", "rom.a26", "rom.nes"}


def real_game_dir(game: str) -> Path:
    return retro_data_root() / "stable" / game


@pytest.fixture
def airstriker_rom() -> Path:
    """The real Airstriker ROM that ships with stable-retro."""
    return real_game_dir("Airstriker-Genesis-v0") / "rom.md"


@pytest.fixture
def retro_root(tmp_path) -> Path:
    root = tmp_path / "retro-data"
    for kind in ("stable", "experimental", "contrib"):
        (root / kind).mkdir(parents=True)
    for game in GAMES:
        shutil.copytree(real_game_dir(game), root / "stable" / game,
                        ignore=lambda _dir, names: [n for n in names if n in ROM_FILES])
    return root


@pytest.fixture
def custom_dir(tmp_path) -> Path:
    folder = tmp_path / "custom-integrations"
    folder.mkdir()
    return folder
