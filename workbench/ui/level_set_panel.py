"""The level-set editor: Train and Test lists (views over one `LevelSet`), drag and drop from the catalog,
between the lists and to reorder, Delete removes, undo/redo, inline validation."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut, QUndoStack
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QLabel, QListView, QToolButton, QVBoxLayout,
                               QWidget)

from workbench.core.levels import LevelSet
from workbench.ui.level_set_model import LevelListModel, LevelSetEditor
from workbench.ui.level_validation import summary, validate_levels


class LevelListView(QListView):
    def __init__(self, model: LevelListModel, parent=None):
        super().__init__(parent)
        self.setModel(model)
        self.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(True)
        self.setDragDropMode(QAbstractItemView.DragDrop)
        self.setDefaultDropAction(Qt.MoveAction)
        self.setAlternatingRowColors(True)

    def delete_selected(self) -> None:
        rows = sorted({i.row() for i in self.selectionModel().selectedIndexes()})
        if rows:
            self.model().editor.remove(self.model().name, rows)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key_Delete, Qt.Key_Backspace):
            self.delete_selected()
            return
        super().keyPressEvent(event)


class LevelSetPanel(QWidget):
    changed = Signal()
    """The level set or its validation changed."""

    def __init__(self, level_set: LevelSet | None = None, catalog=None, env_config=None, parent=None):
        super().__init__(parent)
        self.catalog = catalog
        self.env_config = env_config
        self.undo_stack = QUndoStack(self)
        self.editor: LevelSetEditor | None = None
        self.models: dict[str, LevelListModel] = {}
        self.views: dict[str, LevelListView] = {}
        self.problems: dict = {}

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        bar = QHBoxLayout()
        title = QLabel("Level set")
        title.setObjectName("panelTitle")
        bar.addWidget(title)
        bar.addStretch(1)
        self.undo_button = QToolButton(text="Undo")
        self.redo_button = QToolButton(text="Redo")
        self.delete_button = QToolButton(text="Remove")
        for button in (self.undo_button, self.redo_button, self.delete_button):
            bar.addWidget(button)
        layout.addLayout(bar)
        lists = QHBoxLayout()
        self._list_layouts = {}
        for name in ("train", "test"):
            column = QVBoxLayout()
            label = QLabel(name.capitalize())
            label.setObjectName("listTitle")
            column.addWidget(label)
            lists.addLayout(column)
            self._list_layouts[name] = column
        layout.addLayout(lists, 1)
        self.status = QLabel()
        self.status.setObjectName("validation")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)

        self.undo_button.clicked.connect(self.undo_stack.undo)
        self.redo_button.clicked.connect(self.undo_stack.redo)
        self.delete_button.clicked.connect(self.delete_selected)
        self.undo_stack.canUndoChanged.connect(self.undo_button.setEnabled)
        self.undo_stack.canRedoChanged.connect(self.redo_button.setEnabled)
        self.undo_button.setEnabled(False)
        self.redo_button.setEnabled(False)
        QShortcut(QKeySequence.Undo, self, self.undo_stack.undo, context=Qt.WidgetWithChildrenShortcut)
        QShortcut(QKeySequence.Redo, self, self.undo_stack.redo, context=Qt.WidgetWithChildrenShortcut)
        self.set_level_set(level_set or LevelSet())

    @property
    def level_set(self) -> LevelSet:
        return self.editor.level_set

    def set_level_set(self, level_set: LevelSet) -> None:
        """Show another level set (e.g. an opened preset); the undo history starts over."""
        if self.editor is not None:
            self.editor.level_set.disconnect(self._on_changed)
            for name, view in self.views.items():
                self.models[name].close()
                view.setParent(None)
                view.deleteLater()
        self.undo_stack.clear()
        self.editor = LevelSetEditor(level_set, self.undo_stack)
        for name in ("train", "test"):
            model = LevelListModel(self.editor, name, self)
            view = LevelListView(model)
            view.setObjectName(f"{name}List")
            self.models[name] = model
            self.views[name] = view
            self._list_layouts[name].addWidget(view, 1)
        level_set.connect(self._on_changed)
        self.revalidate()

    def set_env_config(self, env_config) -> None:
        self.env_config = env_config
        self.revalidate()

    def delete_selected(self) -> None:
        for view in self.views.values():
            if view.selectionModel().hasSelection():
                view.delete_selected()

    def _on_changed(self, _event=None) -> None:
        self.revalidate()

    def revalidate(self) -> None:
        self.problems = validate_levels(self.level_set, self.catalog, self.env_config)
        for model in self.models.values():
            model.set_problems(self.problems)
        text = summary(self.level_set, self.problems)
        first = next((f"{lv}: {msg}" for lv, msgs in self.problems.items() for _, msg in msgs), "")
        self.status.setText(text + (f"\n{first}" if first else ""))
        self.status.setProperty("bad", bool(self.problems) or not self.level_set.train)
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)
        self.changed.emit()

    def closeEvent(self, event) -> None:
        for model in self.models.values():
            model.close()
        super().closeEvent(event)
