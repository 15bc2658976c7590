"""Qt item models over a plain `LevelSet` list, edits through a QUndoStack.

napari's habit: the model adapts the list and a drop becomes the list's own `move()`/`insert()`; the plain
`LevelSet` stays the truth and tells the model what changed through its events.
"""
from __future__ import annotations

from typing import Callable, Iterable

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QUndoCommand, QUndoStack

from workbench.core.levels import Level, LevelSet, LevelSetEvent
from workbench.ui.level_mime import LEVELS_MIME, make_mime, read_mime


class LevelSetEdit(QUndoCommand):
    """Any edit of a level set, undone by restoring the lists as they were (edits are small)."""

    def __init__(self, level_set: LevelSet, text: str, apply: Callable[[LevelSet], object]):
        super().__init__(text)
        self.level_set = level_set
        self._apply = apply
        self._before = (list(level_set.train), list(level_set.test))
        self._after: tuple[list[Level], list[Level]] | None = None
        self.result = None

    def redo(self) -> None:
        if self._after is None:
            self.result = self._apply(self.level_set)
            self._after = (list(self.level_set.train), list(self.level_set.test))
        else:
            self.level_set.replace(*self._after)

    def undo(self) -> None:
        self.level_set.replace(*self._before)


class LevelSetEditor:
    """The one way the GUI edits a level set: every edit is an undoable command."""

    def __init__(self, level_set: LevelSet, undo_stack: QUndoStack | None = None):
        self.level_set = level_set
        self.undo_stack = undo_stack or QUndoStack()

    def _push(self, text: str, apply: Callable[[LevelSet], list]) -> list:
        probe = self.level_set.copy()
        apply(probe)
        if (probe.train, probe.test) == (self.level_set.train, self.level_set.test):
            return []  # nothing would change: keep it off the undo stack
        command = LevelSetEdit(self.level_set, text, apply)
        self.undo_stack.push(command)
        return command.result or []

    def insert(self, name: str, index: int, levels: Iterable[Level]) -> list[Level]:
        levels = list(levels)
        return self._push(f"add {len(levels)} level(s) to {name}", lambda ls: ls.insert(name, index, levels))

    def append(self, name: str, levels: Iterable[Level]) -> list[Level]:
        return self.insert(name, len(self.level_set.list(name)), levels)

    def remove(self, name: str, rows: Iterable[int]) -> list[Level]:
        rows = list(rows)
        return self._push(f"remove {len(rows)} level(s) from {name}", lambda ls: ls.remove(name, rows))

    def move(self, src: str, rows: Iterable[int], dst: str, index: int) -> list[Level]:
        rows = list(rows)
        text = f"reorder {src}" if src == dst else f"move {len(rows)} level(s) to {dst}"
        return self._push(text, lambda ls: ls.move(src, rows, dst, index))

    def replace(self, train: list[Level], test: list[Level]) -> None:
        self._push("replace levels", lambda ls: ls.replace(train, test))


class LevelListModel(QAbstractListModel):
    """One list ('train' or 'test') of a level set. `problems` maps a level to the messages shown on it."""

    def __init__(self, editor: LevelSetEditor, name: str, parent=None):
        super().__init__(parent)
        self.editor = editor
        self.name = name
        self.problems: dict[Level, list[tuple[str, str]]] = {}
        self._level_set = editor.level_set
        self._level_set.connect(self._on_event)

    @property
    def levels(self) -> list[Level]:
        return self._level_set.list(self.name)

    def close(self) -> None:
        self._level_set.disconnect(self._on_event)

    # -- plain model -> Qt -------------------------------------------------------------------
    def _on_event(self, event: LevelSetEvent) -> None:
        # The list already changed; views read data only after the end* call, so announcing afterwards is safe.
        if event.kind == "reset":
            self.beginResetModel()
            self.endResetModel()
        elif event.list_name != self.name:
            return
        elif event.kind == "inserted":
            self.beginInsertRows(QModelIndex(), event.index, event.index + len(event.levels) - 1)
            self.endInsertRows()
        elif event.kind == "removed":
            self.beginRemoveRows(QModelIndex(), event.index, event.index + len(event.levels) - 1)
            self.endRemoveRows()

    def set_problems(self, problems: dict[Level, list[tuple[str, str]]]) -> None:
        self.problems = problems
        if self.rowCount():
            self.dataChanged.emit(self.index(0), self.index(self.rowCount() - 1))

    # -- Qt model API ------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.levels)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.levels):
            return None
        level = self.levels[index.row()]
        problems = self.problems.get(level, [])
        if role == Qt.DisplayRole:
            return f"{level.state}  ·  {level.game}"
        if role == Qt.EditRole or role == Qt.UserRole:
            return str(level)
        if role == Qt.ToolTipRole:
            return "\n".join([str(level)] + [f"{sev}: {msg}" for sev, msg in problems])
        if role == Qt.ForegroundRole and problems:
            worst = "error" if any(sev == "error" for sev, _ in problems) else "warning"
            return QBrush(QColor("#ff6b6b" if worst == "error" else "#e0b040"))
        return None

    def flags(self, index):
        if not index.isValid():
            return Qt.ItemIsDropEnabled
        return Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsDragEnabled

    def supportedDropActions(self):
        return Qt.MoveAction | Qt.CopyAction

    def supportedDragActions(self):
        return Qt.MoveAction | Qt.CopyAction

    def mimeTypes(self) -> list[str]:
        return [LEVELS_MIME]

    def mimeData(self, indexes):
        rows = sorted({i.row() for i in indexes if i.isValid()})
        return make_mime([self.levels[r] for r in rows], self.name, rows, id(self._level_set))

    def canDropMimeData(self, data, action, row, column, parent) -> bool:
        return data is not None and data.hasFormat(LEVELS_MIME)

    def dropMimeData(self, data, action, row, column, parent) -> bool:
        payload = read_mime(data)
        if payload is None:
            return False
        if row < 0:
            row = parent.row() if parent.isValid() else self.rowCount()
        same_set = payload.get("owner") == id(self._level_set)
        if same_set and payload["source"] in ("train", "test") and action == Qt.MoveAction:
            self.editor.move(payload["source"], payload["rows"], self.name, row)
        else:
            self.editor.insert(self.name, row, payload["levels"])
        # False, as napari does: the edit is done; Qt must not also remove the dragged source rows.
        return False
