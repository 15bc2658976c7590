"""The catalog panel: search as you type, filter by system and playable, games -> states tree, ROM status,
drag levels (a state or a whole game) into the level lists, import ROMs off the GUI thread."""
from __future__ import annotations

import threading

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog,
                               QHBoxLayout, QHeaderView, QLabel, QLineEdit, QProgressBar, QPushButton,
                               QTableWidget, QTableWidgetItem, QTreeView, QVBoxLayout, QWidget)

from workbench.core.levels import Level
from workbench.ui import ui_state
from workbench.ui.level_mime import LEVELS_MIME, make_mime

GAME_ROLE = Qt.UserRole + 1
STATE_ROLE = Qt.UserRole + 2
SYSTEM_ROLE = Qt.UserRole + 3
PLAYABLE_ROLE = Qt.UserRole + 4
ATARI_OFFER_KEY = "atari_rom_offer"
"""ui_state key: how the user answered the first-start offer to import ale-py's Atari ROMs."""
ROM_LABELS = {"ok": "ROM ok", "missing": "no ROM", "mismatch": "wrong ROM", "unreadable": "unreadable ROM"}


class CatalogModel(QAbstractItemModel):
    """Games (top level) -> start states, from `Catalog.games()`; drags carry levels.

    A hand-written tree model rather than QStandardItemModel: it holds only the plain entries (1000+ games)
    and PySide6 6.12's QStandardItem.appendRow corrupts None's reference count.
    """

    HEADERS = ("Game / state", "System", "ROM")

    def __init__(self, catalog, parent=None):
        super().__init__(parent)
        self.catalog = catalog
        self.entries: list = []
        self._grey = QBrush(QColor("#8a8f98"))
        self.rebuild()

    def rebuild(self) -> None:
        self.beginResetModel()
        self.entries = list(self.catalog.games())
        self.endResetModel()

    # internalId 0 = a game row; n > 0 = a state row of game n - 1
    def index(self, row, column, parent=QModelIndex()):
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, 0)
        return self.createIndex(row, column, parent.row() + 1)

    def parent(self, index=QModelIndex()):
        if not index.isValid() or index.internalId() == 0:
            return QModelIndex()
        return self.createIndex(index.internalId() - 1, 0, 0)

    def rowCount(self, parent=QModelIndex()) -> int:
        if not parent.isValid():
            return len(self.entries)
        if parent.internalId() == 0 and parent.column() == 0:
            return len(self.entries[parent.row()].states)
        return 0

    def columnCount(self, parent=QModelIndex()) -> int:
        return 3

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return self.HEADERS[section]
        return None

    def _entry(self, index):
        game_row = index.row() if index.internalId() == 0 else index.internalId() - 1
        return self.entries[game_row]

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        entry = self._entry(index)
        is_game = index.internalId() == 0
        state = None if is_game else entry.states[index.row()]
        if role == Qt.DisplayRole:
            if index.column() == 0:
                if is_game:
                    return entry.id
                return state + ("  (default)" if state == entry.default_state else "")
            if is_game and index.column() == 1:
                return entry.system
            if is_game and index.column() == 2:
                return ROM_LABELS.get(entry.rom_status, entry.rom_status)
            return None
        if role == GAME_ROLE:
            return entry.id
        if role == STATE_ROLE:
            return state
        if role == SYSTEM_ROLE:
            return entry.system
        if role == PLAYABLE_ROLE:
            return entry.playable
        if role == Qt.ForegroundRole and not entry.playable:
            return self._grey
        if role == Qt.ToolTipRole and is_game:
            return f"{entry.id}\n{len(entry.states)} start state(s); ROM: {entry.rom_status}"
        return None

    def flags(self, index):
        if not index.isValid():
            return Qt.NoItemFlags
        return Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsDragEnabled

    def levels_for(self, indexes) -> list[Level]:
        levels: list[Level] = []
        for index in indexes:
            if not index.isValid():
                continue
            entry = self._entry(index)
            if index.internalId() == 0:
                found = [Level(entry.id, s) for s in entry.states]
            else:
                found = [Level(entry.id, entry.states[index.row()])]
            levels.extend(lv for lv in found if lv not in levels)
        return levels

    def mimeTypes(self) -> list[str]:
        return [LEVELS_MIME]

    def mimeData(self, indexes):
        return make_mime(self.levels_for(indexes), "catalog")

    def supportedDragActions(self):
        return Qt.CopyAction


class CatalogFilter(QSortFilterProxyModel):
    """Search words match the game id or a state name; optional system and playable filters."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.words: list[str] = []
        self.system: str | None = None
        self.playable_only = False

    def set_filters(self, text: str, system: str | None, playable_only: bool) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9
            self.beginFilterChange()
        self.words = text.lower().split()
        self.system = system or None
        self.playable_only = playable_only
        if hasattr(self, "endFilterChange"):
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.invalidateFilter()

    def _matches(self, text: str) -> bool:
        text = text.lower()
        return all(word in text for word in self.words)

    def filterAcceptsRow(self, row, parent) -> bool:
        model = self.sourceModel()
        index = model.index(row, 0, parent)
        if self.system and index.data(SYSTEM_ROLE) != self.system:
            return False
        if self.playable_only and not index.data(PLAYABLE_ROLE):
            return False
        if not self.words:
            return True
        game = index.data(GAME_ROLE) or ""
        if parent.isValid():  # a state: shown when it or its game matches
            return self._matches(game) or self._matches(index.data(STATE_ROLE) or "")
        if self._matches(game):
            return True
        entry = model.entries[row]
        return any(self._matches(state) for state in entry.states)


class ImportWorker(QObject):
    """Runs a ROM import on a worker thread; signals arrive on the GUI thread (queued)."""

    progress = Signal(int, int, str)
    finished = Signal(list)

    def __init__(self, job):
        super().__init__()
        self._job = job
        self.thread = threading.Thread(target=self._run, name="rom-import", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        try:
            results = self._job(lambda done, total, path: self.progress.emit(done, total, path))
        except Exception as exc:  # an import must never take the window down
            from workbench.catalog.roms import ImportResult

            results = [ImportResult("(import)", "failed", reason=str(exc))]
        self.finished.emit(results)


class ImportResultsDialog(QDialog):
    def __init__(self, results, parent=None):
        super().__init__(parent)
        self.setWindowTitle("ROM import results")
        self.resize(760, 420)
        layout = QVBoxLayout(self)
        counts: dict[str, int] = {}
        for result in results:
            counts[result.status] = counts.get(result.status, 0) + 1
        layout.addWidget(QLabel(", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no files"))
        table = QTableWidget(len(results), 4)
        table.setHorizontalHeaderLabels(["File", "Result", "Game", "Reason"])
        for row, result in enumerate(results):
            for col, text in enumerate((result.path, result.status, result.game or "", result.reason)):
                table.setItem(row, col, QTableWidgetItem(text))
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table = table
        layout.addWidget(table)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


class CatalogPanel(QWidget):
    import_finished = Signal(list)

    def __init__(self, catalog, parent=None):
        super().__init__(parent)
        self.catalog = catalog
        self.model = CatalogModel(catalog, self)
        self.proxy = CatalogFilter(self)
        self.proxy.setSourceModel(self.model)
        self._worker: ImportWorker | None = None
        self.last_results: list = []

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        title = QLabel("Catalog")
        title.setObjectName("panelTitle")
        layout.addWidget(title)
        self.search = QLineEdit(placeholderText="Search games and states…")
        self.search.setClearButtonEnabled(True)
        layout.addWidget(self.search)
        row = QHBoxLayout()
        self.system = QComboBox()
        self.playable = QCheckBox("Playable only")
        row.addWidget(self.system, 1)
        row.addWidget(self.playable)
        layout.addLayout(row)

        self.atari_bar = QWidget()
        self.atari_bar.setObjectName("notice")
        bar = QHBoxLayout(self.atari_bar)
        bar.setContentsMargins(6, 4, 6, 4)
        notice = QLabel("The Atari 2600 ROMs that ship with ale-py are not imported yet: import them now to "
                        "play 32 more games?")
        notice.setWordWrap(True)
        self.atari_button = QPushButton("Import Atari ROMs")
        self.atari_decline = QPushButton("Not now")
        self.atari_decline.setToolTip("Don't offer this again (File > Import ROMs… can import them later)")
        bar.addWidget(notice, 1)
        bar.addWidget(self.atari_button)
        bar.addWidget(self.atari_decline)
        layout.addWidget(self.atari_bar)

        self.tree = QTreeView()
        self.tree.setModel(self.proxy)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragOnly)
        self.tree.setAlternatingRowColors(True)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.Stretch)
        # Fitted when the rows change (`_fit_columns`), not by ResizeToContents: that mode sizes the columns from
        # every row's data on each geometry update, ~110k data() calls over one 2048-step live run.
        header.setSectionResizeMode(1, QHeaderView.Interactive)
        header.setSectionResizeMode(2, QHeaderView.Interactive)
        header.setStretchLastSection(False)
        layout.addWidget(self.tree, 1)

        bottom = QHBoxLayout()
        self.count = QLabel()
        self.import_button = QPushButton("Import ROMs…")
        bottom.addWidget(self.count, 1)
        bottom.addWidget(self.import_button)
        layout.addLayout(bottom)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        layout.addWidget(self.progress)

        self.search.textChanged.connect(self.apply_filters)
        self.system.currentIndexChanged.connect(self.apply_filters)
        self.playable.toggled.connect(self.apply_filters)
        self.import_button.clicked.connect(self.choose_import_folder)
        self.atari_button.clicked.connect(self.accept_atari_offer)
        self.atari_decline.clicked.connect(self.decline_atari_offer)
        self._fill_systems()
        self.apply_filters()

    # -- filters -----------------------------------------------------------------------------
    def _fill_systems(self) -> None:
        current = self.system.currentData()
        self.system.blockSignals(True)
        self.system.clear()
        self.system.addItem("All systems", None)
        for name in self.catalog.systems():
            self.system.addItem(name, name)
        index = self.system.findData(current)
        self.system.setCurrentIndex(max(0, index))
        self.system.blockSignals(False)
        self._show_atari_offer()

    # -- first start: the Atari ROMs ale-py ships ---------------------------------------------
    def atari_offer_open(self) -> bool:
        """The offer stands: no Atari game is playable yet and the user has not answered it before."""
        has_atari = any(e.playable for e in self.catalog.games() if e.system == "Atari2600")
        return not has_atari and ui_state.load().get(ATARI_OFFER_KEY) is None

    def _show_atari_offer(self) -> None:
        self.atari_bar.setVisible(self.atari_offer_open())

    def accept_atari_offer(self) -> None:
        ui_state.remember(ATARI_OFFER_KEY, "accepted")
        self.import_atari()

    def decline_atari_offer(self) -> None:
        ui_state.remember(ATARI_OFFER_KEY, "declined")
        self.atari_bar.setVisible(False)

    def apply_filters(self, *_):
        self.proxy.set_filters(self.search.text(), self.system.currentData(), self.playable.isChecked())
        shown = self.proxy.rowCount()
        playable = sum(1 for e in self.catalog.games() if e.playable)
        self.count.setText(f"{shown} of {len(self.catalog.games())} games · {playable} playable")
        if self.proxy.words and shown <= 20:
            self.tree.expandAll()
        self._fit_columns()

    def _fit_columns(self) -> None:
        for column in (1, 2):
            self.tree.resizeColumnToContents(column)

    def visible_games(self) -> list[str]:
        return [self.proxy.index(r, 0).data(GAME_ROLE) for r in range(self.proxy.rowCount())]

    def selected_levels(self) -> list[Level]:
        indexes = [self.proxy.mapToSource(i) for i in self.tree.selectionModel().selectedRows(0)]
        return self.model.levels_for(indexes)

    # -- ROM import --------------------------------------------------------------------------
    def choose_import_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import ROMs from a folder")
        if folder:
            self.import_paths([folder])

    def import_paths(self, paths: list[str]) -> None:
        from workbench.catalog.roms import import_roms

        catalog = self.catalog  # into the data folder this catalog shows
        self._start_import(lambda progress: import_roms(paths, progress=progress, data_root=catalog.data_root,
                                                        custom_dirs=catalog.custom_dirs))

    def import_atari(self) -> None:
        from workbench.catalog.roms import import_atari

        data_root = self.catalog.data_root
        self._start_import(lambda progress: import_atari(progress=progress, data_root=data_root))

    @property
    def importing(self) -> bool:
        return self._worker is not None

    def _start_import(self, job) -> None:
        if self._worker is not None:
            return
        self.import_button.setEnabled(False)
        self.atari_button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self._worker = ImportWorker(job)
        self._worker.progress.connect(self._on_progress)
        self._worker.finished.connect(self._on_finished)
        self._worker.start()

    def _on_progress(self, done: int, total: int, path: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{done}/{total}  %p%")

    def _on_finished(self, results: list) -> None:
        if self._worker is not None:
            self._worker.thread.join(1)
        self._worker = None
        self.last_results = results
        self.progress.setVisible(False)
        self.import_button.setEnabled(True)
        self.atari_button.setEnabled(True)
        self.catalog.refresh()
        self.model.rebuild()
        self._fill_systems()
        self.apply_filters()
        self.import_finished.emit(results)
        if self.isVisible() and not getattr(self, "quiet", False):
            ImportResultsDialog(results, self).open()
