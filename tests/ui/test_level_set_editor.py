"""The level-set editor: model -> view, view -> model, drag and drop through mimeData/dropMimeData, undo."""
from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt

from workbench.core.levels import Level, LevelSet
from workbench.ui.level_mime import make_mime
from workbench.ui.level_set_panel import LevelSetPanel

A = Level("Airstriker-Genesis-v0", "Level1")
P = Level("Pong-Atari2600-v0", "Start")
B = Level("Breakout-Atari2600-v0", "Start")


def _panel(qtbot, train=(), test=()):
    panel = LevelSetPanel(LevelSet(list(train), list(test)))
    qtbot.addWidget(panel)
    return panel


def _rows(view):
    model = view.model()
    return [model.data(model.index(r), Qt.UserRole) for r in range(model.rowCount())]


def test_model_changes_show_in_view(qtbot):
    panel = _panel(qtbot, [A])
    assert _rows(panel.views["train"]) == [str(A)]
    panel.level_set.append("test", [P, B])
    assert _rows(panel.views["test"]) == [str(P), str(B)]
    panel.level_set.remove("test", [0])
    assert _rows(panel.views["test"]) == [str(B)]
    panel.level_set.replace([B], [A])
    assert _rows(panel.views["train"]) == [str(B)] and _rows(panel.views["test"]) == [str(A)]


def test_drop_from_catalog_inserts_at_row_and_undo_redo(qtbot):
    panel = _panel(qtbot, [A])
    model = panel.models["train"]
    data = make_mime([P, B], "catalog")
    model.dropMimeData(data, Qt.CopyAction, 0, 0, QModelIndex())
    assert panel.level_set.train == [P, B, A]
    panel.undo_stack.undo()
    assert panel.level_set.train == [A]
    panel.undo_stack.redo()
    assert panel.level_set.train == [P, B, A]
    assert _rows(panel.views["train"]) == [str(P), str(B), str(A)]


def test_drag_between_lists_is_a_move_and_reorder_within(qtbot):
    panel = _panel(qtbot, [A, P, B])
    train, test = panel.models["train"], panel.models["test"]
    # reorder: drag B (row 2) to the top
    data = train.mimeData([train.index(2)])
    assert train.dropMimeData(data, Qt.MoveAction, 0, 0, QModelIndex()) is False  # Qt must not remove rows
    assert panel.level_set.train == [B, A, P]
    # move P from train to test (dropped at the end: row -1)
    data = train.mimeData([train.index(2)])
    test.dropMimeData(data, Qt.MoveAction, -1, -1, QModelIndex())
    assert panel.level_set.train == [B, A] and panel.level_set.test == [P]
    assert _rows(panel.views["test"]) == [str(P)]
    panel.undo_stack.undo()
    assert panel.level_set.train == [B, A, P] and panel.level_set.test == []
    panel.undo_stack.undo()
    assert panel.level_set.train == [A, P, B]


def test_delete_key_removes_selection(qtbot):
    panel = _panel(qtbot, [A, P, B])
    view = panel.views["train"]
    view.selectionModel().select(view.model().index(1), view.selectionModel().SelectionFlag.Select)
    qtbot.keyClick(view, Qt.Key_Delete)
    assert panel.level_set.train == [A, B]
    panel.undo_stack.undo()
    assert panel.level_set.train == [A, P, B]


def test_overlap_and_empty_train_are_flagged(qtbot):
    panel = _panel(qtbot, [], [A])
    assert "add at least one training level" in panel.status.text()
    panel.editor.append("train", [A])
    assert any(sev == "warning" for sev, _ in panel.problems[A])
    tip = panel.models["train"].data(panel.models["train"].index(0), Qt.ToolTipRole)
    assert "both a train and a test level" in tip
