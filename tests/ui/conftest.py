"""Shared by the window tests: the real catalog, a tiny Airstriker preset that trains fast, and a factory for a
shown main window."""
from __future__ import annotations

from pathlib import Path

import pytest

from workbench.core.presets import load_preset, save_preset
from workbench.core.paths import DEFAULT_PRESET


@pytest.fixture(scope="module")
def catalog():
    from workbench.catalog.catalog import Catalog

    return Catalog()


@pytest.fixture
def tiny_preset(tmp_path) -> Path:
    """Airstriker, 2 envs, 64-step rollouts, short episodes (curve points come fast), a checkpoint after every
    update (something to resume from at once), no recording; long enough that the test stops it."""
    preset = load_preset(DEFAULT_PRESET)
    preset.name = "tiny"
    preset.ppo.n_envs = 2
    preset.ppo.n_steps = 32
    preset.ppo.n_epochs = 1
    preset.ppo.n_minibatches = 2
    preset.ppo.total_steps = 1_000_000
    preset.env.max_episode_steps = 40
    preset.run.record_episodes = False
    preset.run.checkpoint_every = 1
    path = tmp_path / "tiny.toml"
    save_preset(preset, path)
    return path


@pytest.fixture
def open_window(qtbot):
    """open_window(preset_path, catalog=None) -> a shown, quiet MainWindow that qtbot cleans up."""
    from workbench.ui.main_window import MainWindow

    def make(preset_path, catalog=None) -> MainWindow:
        window = MainWindow(preset_path, catalog=catalog)
        window.quiet = True
        window.catalog_panel.quiet = True
        qtbot.addWidget(window)
        window.resize(1400, 900)
        window.show()
        return window

    return make
