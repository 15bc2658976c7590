"""The main window: presets in and out (open, drop, save without overwriting, comments kept), the settings form
both ways, refusing to start bad settings or a bad level set (what `workbench preset check` refuses), transfer
results, and the `workbench --smoke` start."""
from __future__ import annotations

import subprocess
import sys

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from workbench.core.levels import Level, LevelSet
from workbench.core.presets import load_preset
from workbench.core.settings import PPOConfig, field_docs
from workbench.core.paths import DEFAULT_PRESET, PRESETS_DIR
from workbench.ui.main_window import MainWindow
from bad_settings import BAD_SETTINGS, IDS


@pytest.fixture(scope="module")
def catalog():
    from workbench.catalog.catalog import Catalog

    return Catalog()


@pytest.fixture
def window(qtbot, catalog):
    window = MainWindow(DEFAULT_PRESET, catalog=catalog)
    window.quiet = True
    qtbot.addWidget(window)
    yield window
    window.close_policy = "stop"
    window.close()


def test_preset_fills_level_set_and_form(window):
    preset = load_preset(DEFAULT_PRESET)
    assert window.level_panel.level_set.train == preset.levels.train
    n_envs = window.runs_panel.form.editor("ppo", "n_envs")
    assert n_envs.value() == preset.ppo.n_envs
    assert field_docs(PPOConfig)["n_envs"] in n_envs.toolTip()


def test_form_and_editor_edits_reach_the_preset(window):
    window.runs_panel.form.editor("ppo", "n_envs").setValue(3)
    window.runs_panel.form.editor("env", "action_set").setCurrentText("buttons")
    window.runs_panel.form.editor("transfer", "seeds").setText("0, 1, 2")
    level = next(Level("Airstriker-Genesis-v0", s) for s in ("Level1", "Level1.Sec04", "Level1.Sec08")
                 if Level("Airstriker-Genesis-v0", s) not in window.level_panel.level_set.test)
    window.level_panel.editor.insert("test", 0, [level])
    preset = window.current_preset()
    assert preset.ppo.n_envs == 3 and preset.env.action_set == "buttons" and preset.transfer.seeds == [0, 1, 2]
    assert preset.levels.test[0] == level


def test_save_never_overwrites_without_asking(window, tmp_path):
    path = tmp_path / "mine.toml"
    assert window.save_preset(path)
    before = path.read_text()
    window.runs_panel.form.editor("ppo", "n_envs").setValue(5)
    assert not window.save_preset(path)  # exists: refused, file untouched, message shown
    assert path.read_text() == before and "Not saved" in window.statusBar().currentMessage()
    assert load_preset(path).ppo.n_envs == load_preset(DEFAULT_PRESET).ppo.n_envs


def test_dropping_a_preset_file_opens_it(window):
    other = PRESETS_DIR / "atari-transfer.toml"
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(other))])
    event = QDropEvent(QPointF(10, 10), Qt.CopyAction, data, Qt.LeftButton, Qt.NoModifier)
    window.dropEvent(event)
    assert window.preset_path == other
    assert window.level_panel.level_set.train == load_preset(other).levels.train


def test_broken_preset_is_reported_and_nothing_changes(window, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[levels]\ntrain = [\n")
    before = list(window.level_panel.level_set.train)
    assert not window.open_preset(bad)
    assert "bad.toml" in window.statusBar().currentMessage()
    assert window.level_panel.level_set.train == before


def test_start_refuses_level_set_with_errors(window, catalog):
    missing = next(e for e in catalog.games() if not e.playable and e.states)
    window.level_panel.set_level_set(LevelSet([Level(missing.id, missing.states[0])]))
    assert window.start_run("x") is None
    assert "ROM missing" in window.statusBar().currentMessage()
    window.level_panel.set_level_set(LevelSet())
    assert window.start_run("x") is None
    assert "training level" in window.statusBar().currentMessage()
    assert window.controller.handles() == []


def _edit(form, key: str, value) -> None:
    editor = form.editor(*key.split("."))
    if hasattr(editor, "setCurrentText"):
        editor.setCurrentText(value)
    else:
        editor.setValue(value)


@pytest.mark.parametrize("edits, message", BAD_SETTINGS, ids=IDS)
def test_start_refuses_what_preset_check_refuses(window, monkeypatch, edits, message):
    started = []
    monkeypatch.setattr(window.controller, "start", lambda *args, **kwargs: started.append(args))
    for key, value in edits.items():
        _edit(window.runs_panel.form, key, value)
    assert message in window.runs_panel.form_problem.text()  # shown as soon as it is typed
    assert window.start_run("x") is None
    assert window.statusBar().currentMessage() == f"Cannot start: {message}"
    assert started == [] and window.controller.handles() == []


def test_a_field_that_cannot_be_read_blocks_start_and_save(window, monkeypatch, tmp_path):
    started = []
    monkeypatch.setattr(window.controller, "start", lambda *args, **kwargs: started.append(args))
    window.runs_panel.form.editor("transfer", "seeds").setText("0, one")
    problem = "transfer.seeds: '0, one' is not a comma-separated list of ints (e.g. 0, 1, 2)"
    assert window.runs_panel.form_problem.text() == problem
    assert not window.runs_panel.start_button.isEnabled()
    assert window.start_run("x") is None and started == []
    assert window.statusBar().currentMessage() == f"Cannot start: {problem}"
    assert not window.save_preset(tmp_path / "mine.toml") and not (tmp_path / "mine.toml").exists()
    window.runs_panel.form.editor("transfer", "seeds").setText("0, 1")
    assert window.runs_panel.start_button.isEnabled() and window.runs_panel.form_problem.text() == ""


def test_saving_an_opened_preset_keeps_its_comments(window, tmp_path):
    path = tmp_path / "commented.toml"
    path.write_text(DEFAULT_PRESET.read_text().replace("[ppo]", "# tuned by hand, keep this\n[ppo]", 1))
    comments = [line for line in path.read_text().splitlines() if "#" in line]
    assert window.open_preset(path)
    window.runs_panel.form.editor("ppo", "n_epochs").setValue(2)
    window.level_panel.editor.remove("train", [1])
    assert window.save_preset(path, overwrite=True)
    text = path.read_text()
    assert "# tuned by hand, keep this\n[ppo]" in text
    assert [line for line in text.splitlines() if "#" in line] == comments
    saved = load_preset(path)
    edited = window.current_preset()
    edited.name = "commented"  # saving names the preset after its file
    assert saved == edited and saved.ppo.n_epochs == 2
    train = load_preset(DEFAULT_PRESET).levels.train
    assert saved.levels.train == train[:1] + train[2:]


def test_transfer_results_table_and_bars(window, tmp_path):
    run = tmp_path / "run"
    (run / "transfer").mkdir(parents=True)
    (run / "transfer" / "results.csv").write_text(
        "level,finetune,scratch,zeroshot,gain,finetune_episodes,scratch_episodes,zeroshot_episodes\n"
        "Pong-Atari2600-v0:Start,5.0,2.0,1.0,2.5,3,3,3\n"
        "Breakout-Atari2600-v0:Start,4.0,4.0,0.5,1.0,3,3,3\n"
        "mean,4.5,3.0,0.75,1.5,6,6,6\n")
    view = window.transfer_view
    assert view.load_run(run)
    assert view.table.rowCount() == 3 and view.levels[0] == "Pong-Atari2600-v0:Start"
    assert set(view.bar_items) == {"fine", "scratch", "zero"}
    assert list(view.bar_items["fine"].opts["height"]) == [5.0, 4.0, 4.5]
    (run / "transfer" / "results.csv").write_text("")
    assert not view.load_run(run) and "results.csv" in view.message.text()


@pytest.mark.slow
def test_workbench_smoke_opens_and_closes():
    result = subprocess.run([sys.executable, "-m", "workbench", "--smoke"], capture_output=True, text=True,
                            timeout=120, env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stderr
