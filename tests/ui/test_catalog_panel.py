"""The catalog panel over the real catalog: search, filters, drag payloads, ROM import off the GUI thread."""
from __future__ import annotations

import shutil

import pytest

from workbench.catalog.catalog import Catalog
from workbench.core.levels import Level, LevelSet
from workbench.ui.catalog_panel import CatalogPanel
from workbench.ui.level_mime import read_mime
from workbench.ui.level_set_panel import LevelSetPanel


@pytest.fixture(scope="module")
def catalog():
    return Catalog()


def _panel(qtbot, catalog):
    panel = CatalogPanel(catalog)
    panel.quiet = True
    qtbot.addWidget(panel)
    return panel


def test_search_and_filters(qtbot, catalog):
    panel = _panel(qtbot, catalog)
    assert panel.proxy.rowCount() == len(catalog.games())
    qtbot.keyClicks(panel.search, "airstriker")
    assert panel.visible_games() == ["Airstriker-Genesis-v0"]
    panel.search.clear()
    panel.system.setCurrentIndex(panel.system.findData("Atari2600"))
    games = panel.visible_games()
    assert games and all(g.endswith("-Atari2600-v0") for g in games)
    panel.playable.setChecked(True)
    assert set(panel.visible_games()) == {e.id for e in catalog.search(system="Atari2600", playable=True)}
    assert "games" in panel.count.text()


def test_drag_game_or_state_carries_levels_into_level_list(qtbot, catalog):
    panel = _panel(qtbot, catalog)
    panel.search.setText("Airstriker-Genesis")
    game_index = panel.proxy.mapToSource(panel.proxy.index(0, 0))
    data = panel.model.mimeData([game_index])
    payload = read_mime(data)
    assert payload["source"] == "catalog"
    assert payload["levels"] == [Level("Airstriker-Genesis-v0", s) for s in catalog.states("Airstriker-Genesis-v0")]
    state_index = panel.model.index(0, 0, game_index)
    one = read_mime(panel.model.mimeData([state_index]))["levels"]
    assert len(one) == 1 and one[0].game == "Airstriker-Genesis-v0"

    levels = LevelSetPanel(LevelSet(), catalog)
    qtbot.addWidget(levels)
    from PySide6.QtCore import QModelIndex, Qt

    levels.models["test"].dropMimeData(data, Qt.CopyAction, -1, -1, QModelIndex())
    assert levels.level_set.test == payload["levels"]
    # Airstriker is playable: no missing-ROM error on it
    assert not any("ROM missing" in m for msgs in levels.problems.values() for _, m in msgs)


def test_missing_rom_is_flagged_inline(qtbot, catalog):
    missing = next(e for e in catalog.games() if not e.playable and e.states)
    levels = LevelSetPanel(LevelSet([Level(missing.id, missing.states[0])]), catalog)
    qtbot.addWidget(levels)
    messages = [m for msgs in levels.problems.values() for _, m in msgs]
    assert any("ROM missing" in m for m in messages)


@pytest.mark.slow
def test_import_folder_runs_off_thread_and_reports_each_file(qtbot, catalog, tmp_path):
    entry = catalog.find("Airstriker-Genesis-v0")
    shutil.copy(entry.rom_path, tmp_path / "airstriker.md")  # already installed: 'present', nothing replaced
    (tmp_path / "notes.txt").write_bytes(b"not a rom at all" * 50)
    panel = _panel(qtbot, catalog)
    with qtbot.waitSignal(panel.import_finished, timeout=30000) as blocker:
        panel.import_paths([str(tmp_path)])
        assert panel.importing and not panel.progress.isHidden()
    results = {r.path.rsplit("/", 1)[-1]: r.status for r in blocker.args[0]}
    assert results["airstriker.md"] == "present"
    assert results["notes.txt"] in ("unknown", "unreadable")
    assert not panel.importing and panel.import_button.isEnabled()


def test_action_space_mismatch_is_flagged_inline(qtbot, catalog, atari_roms):
    from workbench.core.settings import EnvConfig

    airstriker, pong = Level("Airstriker-Genesis-v0", "Level1"), Level("Pong-Atari2600-v0", "Start")
    levels = LevelSetPanel(LevelSet([airstriker], [pong]), catalog, EnvConfig())
    qtbot.addWidget(levels)
    assert any("action space differs" in m for _, m in levels.problems.get(pong, []))
    assert not levels.problems.get(airstriker)
    levels.editor.remove("test", [0])
    assert not levels.problems


def _data_root_without_atari_roms(tmp_path):
    """A stable-retro data folder holding the Atari 2600 integrations without their ROMs (the installed one may
    have them imported already, and tests never remove what other runs rely on)."""
    from workbench.catalog.systems import retro_data_root

    root = tmp_path / "retro-data"
    for game in (retro_data_root() / "stable").glob("*-Atari2600-v0"):
        shutil.copytree(game, root / "stable" / game.name, ignore=shutil.ignore_patterns("rom.a26", "rom.bin"))
    return root


def test_first_start_offers_atari_roms_once_declined_not_asked_again(qtbot, tmp_path):
    from workbench.ui import ui_state

    catalog = Catalog(data_root=_data_root_without_atari_roms(tmp_path), custom_dirs=[])
    assert not any(e.playable for e in catalog.games() if e.system == "Atari2600")
    assert ui_state.load() == {}  # an empty WORKBENCH_HOME: never asked
    panel = _panel(qtbot, catalog)
    assert panel.atari_offer_open() and not panel.atari_bar.isHidden()
    qtbot.mouseClick(panel.atari_decline, _left())
    assert panel.atari_bar.isHidden() and ui_state.load()["atari_rom_offer"] == "declined"
    assert not any(e.playable for e in catalog.games() if e.system == "Atari2600")  # nothing imported
    again = _panel(qtbot, catalog)  # the next start
    assert again.atari_bar.isHidden() and not again.atari_offer_open()


@pytest.mark.slow
def test_first_start_offer_accepted_imports_the_atari_roms(qtbot, tmp_path):
    from workbench.ui import ui_state

    root = _data_root_without_atari_roms(tmp_path)
    catalog = Catalog(data_root=root, custom_dirs=[])
    panel = _panel(qtbot, catalog)
    assert not panel.atari_bar.isHidden()
    with qtbot.waitSignal(panel.import_finished, timeout=60_000) as blocker:
        qtbot.mouseClick(panel.atari_button, _left())
    imported = [r for r in blocker.args[0] if r.status == "imported"]
    assert len(imported) >= 30  # ale-py ships 32 that match stable-retro's Atari games
    playable = {e.id for e in catalog.games() if e.system == "Atari2600" and e.playable}
    assert "Pong-Atari2600-v0" in playable and (root / "stable" / "Pong-Atari2600-v0" / "rom.a26").is_file()
    assert panel.atari_bar.isHidden() and ui_state.load()["atari_rom_offer"] == "accepted"
    assert _panel(qtbot, catalog).atari_bar.isHidden()  # not offered again


def _left():
    from PySide6.QtCore import Qt

    return Qt.LeftButton
