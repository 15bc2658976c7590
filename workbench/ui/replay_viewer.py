"""The replay viewer: pick a recorded episode of a run (sortable, filterable by level) or drop a .bk2, then play
it at 0.25x-8x, step frame by frame or agent step by step, seek anywhere on the timeline, and save the frame on
screen as a new start state. `ReplayCompare` plays two episodes side by side on one timeline.

The emulators run in `ReplayProcess` children; this module only draws what they send (on a 60 Hz timer).
"""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QInputDialog, QLabel, QPushButton,
                               QSlider, QSplitter, QTableView, QVBoxLayout, QWidget)

from workbench.replay.episode_index import EpisodeEntry, list_episodes, rebuild_index, recorded_levels
from workbench.replay.errors import ReplayError
from workbench.ui.replay_pane import ReplayPane

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
FPS = 60.0
ALL_LEVELS = "All levels"


class EpisodeListModel(QAbstractTableModel):
    """A run's recorded episodes; sort with a QSortFilterProxyModel (numbers sort as numbers)."""

    COLUMNS = ("Return", "Steps", "Level", "Trained step", "Movie")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.entries: list[EpisodeEntry] = []
        self.run_dir: Path | None = None

    def set_entries(self, run_dir: Path, entries: list[EpisodeEntry]) -> None:
        self.beginResetModel()
        self.run_dir, self.entries = run_dir, list(entries)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.entries)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        e = self.entries[index.row()]
        col = index.column()
        if role == Qt.UserRole:  # sort key
            return (e.episode_return, e.length, e.level, e.global_step, str(e.movie_path))[col]
        if role == Qt.DisplayRole:
            movie = e.movie_path.relative_to(self.run_dir) if self.run_dir else e.movie_path
            return (f"{e.episode_return:.1f}", str(e.length) + (" (cut)" if e.truncated else ""), e.level,
                    f"{e.global_step:,}", str(movie))[col]
        if role == Qt.TextAlignmentRole and col in (0, 1, 3):
            return int(Qt.AlignRight | Qt.AlignVCenter)
        return None


class Transport(QWidget):
    """Play/pause, speed, frame and agent-step stepping, and a timeline; owns the playback position.

    `position_changed(frame)` fires whenever the frame to show changes (playing, seeking or stepping).
    """

    position_changed = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.n_frames = 0
        self.frame_skip = 4
        self.position = 0.0
        self.playing = False
        self._last_tick = time.monotonic()

        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        self.play_button = QPushButton("Play")
        self.play_button.setToolTip("Play / pause (from the start when at the end)")
        self.step_back = QPushButton("◀◀")
        self.step_back.setToolTip("Back one agent step")
        self.frame_back = QPushButton("◀")
        self.frame_back.setToolTip("Back one frame")
        self.frame_fwd = QPushButton("▶")
        self.frame_fwd.setToolTip("Forward one frame")
        self.step_fwd = QPushButton("▶▶")
        self.step_fwd.setToolTip("Forward one agent step")
        self.speed = QComboBox()
        for s in SPEEDS:
            self.speed.addItem(f"{s:g}×", s)
        self.speed.setCurrentIndex(SPEEDS.index(1.0))
        self.speed.setToolTip("Playback speed")
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setToolTip("Timeline: drag to seek to any frame")
        self.frame_label = QLabel("0 / 0")
        self.frame_label.setObjectName("dim")
        for w in (self.play_button, self.step_back, self.frame_back, self.frame_fwd, self.step_fwd, self.speed):
            layout.addWidget(w)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.frame_label)

        self.play_button.clicked.connect(self.toggle)
        self.frame_back.clicked.connect(lambda: self.step_by(-1))
        self.frame_fwd.clicked.connect(lambda: self.step_by(1))
        self.step_back.clicked.connect(lambda: self.step_by(-self.frame_skip))
        self.step_fwd.clicked.connect(lambda: self.step_by(self.frame_skip))
        self.slider.valueChanged.connect(self._slider_moved)

    @property
    def frame(self) -> int:
        return int(self.position)

    @property
    def speed_factor(self) -> float:
        return float(self.speed.currentData())

    def set_speed(self, factor: float) -> None:
        self.speed.setCurrentIndex(SPEEDS.index(factor))

    def set_length(self, n_frames: int, frame_skip: int = 4) -> None:
        self.n_frames, self.frame_skip = max(0, n_frames), max(1, frame_skip)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, n_frames - 1))
        self.slider.setPageStep(max(1, n_frames // 20))
        self.slider.blockSignals(False)
        self.pause()
        self.seek(0)

    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    def play(self) -> None:
        if self.n_frames <= 1:
            return
        if self.frame >= self.n_frames - 1:
            self.seek(0)
        self.playing = True
        self._last_tick = time.monotonic()
        self.play_button.setText("Pause")

    def pause(self) -> None:
        self.playing = False
        self.play_button.setText("Play")

    def seek(self, frame: int) -> None:
        frame = min(max(0, int(frame)), max(0, self.n_frames - 1))
        changed = frame != self.frame
        self.position = float(frame)
        self._sync_widgets()
        if changed or frame == 0:
            self.position_changed.emit(frame)

    def step_by(self, frames: int) -> None:
        self.pause()
        self.seek(self.frame + frames)

    def tick(self) -> None:
        """Advance the position by the time since the last tick (at the chosen speed) while playing."""
        now = time.monotonic()
        dt, self._last_tick = now - self._last_tick, now
        if not self.playing:
            return
        before = self.frame
        self.position = min(self.position + dt * FPS * self.speed_factor, max(0, self.n_frames - 1))
        if self.frame >= self.n_frames - 1:
            self.pause()
        if self.frame != before:
            self._sync_widgets()
            self.position_changed.emit(self.frame)

    def _slider_moved(self, value: int) -> None:
        if value != self.frame:
            self.seek(value)

    def _sync_widgets(self) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(self.frame)
        self.slider.blockSignals(False)
        self.frame_label.setText(f"{self.frame} / {max(0, self.n_frames - 1)}")


class _PlaybackWidget(QWidget):
    """Shared by the viewer and the compare view: panes driven by one transport on a 60 Hz timer."""

    def _init_playback(self, panes: list[ReplayPane]) -> None:
        self.panes = panes
        self.transport = Transport()
        self.error_label = QLabel("")
        self.error_label.setObjectName("error")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        self.transport.position_changed.connect(self._show_position)
        for pane in panes:
            pane.seek_requested.connect(self._seek_from_pane)
        self.timer = QTimer(self)
        self.timer.setInterval(int(1000 / FPS))
        self.timer.timeout.connect(self._tick)  # runs only while an episode is open: idle costs nothing

    def _tick(self) -> None:
        self.transport.tick()
        for pane in self.panes:
            pane.poll()
        if not any(pane.process is not None for pane in self.panes):
            self.timer.stop()

    def _seek_from_pane(self, frame: int) -> None:
        self.transport.pause()
        self.transport.seek(frame)

    def _show_position(self, frame: int) -> None:
        for pane in self.panes:
            pane.request(frame)

    def _length_changed(self) -> None:
        n = max((p.n_frames for p in self.panes), default=0)
        skip = next((p.sidecar.meta.frame_skip for p in self.panes if p.sidecar is not None), 4)
        self.transport.set_length(n, skip)
        if any(pane.process is not None for pane in self.panes) and not self.timer.isActive():
            self.transport.tick()  # restart the play clock: no jump over the time the timer was off
            self.timer.start()

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))

    def shutdown(self) -> None:
        """Stop the timers and end the replay processes (also on close)."""
        self.timer.stop()
        if hasattr(self, "_refresh_timer"):
            self._refresh_timer.stop()
        for pane in self.panes:
            pane.close_episode()

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)


class ReplayViewer(_PlaybackWidget):
    """A run's episode list beside one replayed episode. `open_run(run_dir)`, `open_episode(path)`;
    dropping a .bk2 file opens it."""

    episode_opened = Signal(str)
    layout_requested = Signal(str)
    """'centre' (fill the window's centre), 'window' (its own window) or 'tab' (back in its tab)."""
    REFRESH_MS = 1000

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self._stale = False
        self.pane = ReplayPane()
        self._init_playback([self.pane])

        self.model = EpisodeListModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(Qt.UserRole)
        self.proxy.setFilterKeyColumn(2)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.level_filter = QComboBox()
        self.level_filter.addItem(ALL_LEVELS)
        self.level_filter.setToolTip("Show the episodes of one level")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Re-read the run's recorded episodes (a running run keeps adding them)")
        self.save_state_button = QPushButton("Save start state…")
        self.save_state_button.setToolTip("Save the frame on screen as a new start state of this game")
        self.fill_button = QPushButton("Fill centre")
        self.fill_button.setCheckable(True)
        self.fill_button.setToolTip("Let the replay take the window's whole centre area (again: back to the tab)")
        self.window_button = QPushButton("Own window")
        self.window_button.setCheckable(True)
        self.window_button.setToolTip("Replay in a window of its own (again, or close it: back to the tab)")
        self.layout_mode = "tab"

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(self.level_filter, 1)
        top.addWidget(self.refresh_button)
        left_layout.addLayout(top)
        left_layout.addWidget(self.table, 1)
        hint = QLabel("Double-click an episode, or drop a .bk2 file here")
        hint.setObjectName("dim")
        left_layout.addWidget(hint)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.error_label)
        right_layout.addWidget(self.pane, 1)
        right_layout.addWidget(self.transport)
        bottom = QHBoxLayout()
        bottom.addWidget(self.fill_button)
        bottom.addWidget(self.window_button)
        bottom.addStretch(1)
        bottom.addWidget(self.save_state_button)
        right_layout.addLayout(bottom)
        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)

        self.level_filter.currentTextChanged.connect(self._filter_level)
        self.refresh_button.clicked.connect(self.refresh)
        self.table.doubleClicked.connect(self._open_row)
        self.save_state_button.clicked.connect(self._ask_state_name)
        self.fill_button.clicked.connect(lambda on: self.layout_requested.emit("centre" if on else "tab"))
        self.window_button.clicked.connect(lambda on: self.layout_requested.emit("window" if on else "tab"))
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setInterval(self.REFRESH_MS)
        self._refresh_timer.timeout.connect(self._refresh_if_stale)
        self._refresh_timer.start()

    def set_layout_mode(self, mode: str) -> None:
        """Keep the two layout buttons in step with where the window put the viewer."""
        self.layout_mode = mode
        self.fill_button.setChecked(mode == "centre")
        self.window_button.setChecked(mode == "window")

    def note_new_episodes(self) -> None:
        """The run recorded episodes: re-read the list within a second (at once when shown again)."""
        self._stale = True

    def _refresh_if_stale(self) -> None:
        if self._stale and self.isVisible():
            self.refresh()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._refresh_if_stale()

    # -- episodes ------------------------------------------------------------------------------
    def open_run(self, run_dir: Path | str, sort: tuple | None = None) -> None:
        """List `run_dir`'s recorded episodes (indexing their sidecars when the run has no index yet)."""
        run_dir = Path(run_dir)
        self._stale = False
        entries = list_episodes(run_dir)
        if not entries:
            rebuild_index(run_dir)
            entries = list_episodes(run_dir)
        self.model.set_entries(run_dir, entries)
        current = self.level_filter.currentText()
        self.level_filter.blockSignals(True)
        self.level_filter.clear()
        self.level_filter.addItems([ALL_LEVELS] + recorded_levels(run_dir))
        self.level_filter.setCurrentText(current if current in recorded_levels(run_dir) else ALL_LEVELS)
        self.level_filter.blockSignals(False)
        self._filter_level(self.level_filter.currentText())
        self.table.sortByColumn(*(sort or (3, Qt.DescendingOrder)))

    def refresh(self) -> None:
        """Re-read the list; the selected episode stays selected."""
        self._stale = False
        if self.model.run_dir is None:
            return
        selected = self.table.selectionModel().selectedRows()
        movie = self.model.entries[self.proxy.mapToSource(selected[0]).row()].movie_path if selected else None
        header = self.table.horizontalHeader()
        column, order = header.sortIndicatorSection(), header.sortIndicatorOrder()
        self.open_run(self.model.run_dir, sort=(column, order))
        if movie is not None:
            for r, entry in enumerate(self.visible_entries()):
                if entry.movie_path == movie:
                    self.table.selectRow(r)
                    break

    def visible_entries(self) -> list[EpisodeEntry]:
        """The listed episodes in on-screen order (after sorting and filtering)."""
        return [self.model.entries[self.proxy.mapToSource(self.proxy.index(r, 0)).row()]
                for r in range(self.proxy.rowCount())]

    def open_episode(self, path: Path | str) -> bool:
        """Replay the .bk2 at `path`; on failure the message shows in the viewer and False is returned."""
        try:
            self.pane.open(path)
        except ReplayError as exc:
            self.show_error(str(exc))
            return False
        self.show_error("")
        self._length_changed()
        self.episode_opened.emit(str(path))
        return True

    def save_start_state(self, name: str) -> Path | None:
        """Save the frame on screen as the start state GAME:name; shows why when refused."""
        if self.pane.process is None or self.pane.shown_frame is None:
            self.show_error("open an episode first")
            return None
        try:
            path = self.pane.process.save_start_state(self.pane.shown_frame, name)
        except ReplayError as exc:
            self.show_error(str(exc))
            return None
        self.show_error("")
        return path

    def _ask_state_name(self) -> None:
        name, ok = QInputDialog.getText(self, "Save start state", "Name of the new start state:")
        if ok and name:
            self.save_start_state(name.strip())

    def _open_row(self, index) -> None:
        self.open_episode(self.model.entries[self.proxy.mapToSource(index).row()].movie_path)

    def _filter_level(self, text: str) -> None:
        pattern = "" if text == ALL_LEVELS else f"^{_escape(text)}$"
        self.proxy.setFilterRegularExpression(pattern)

    # -- drag and drop ---------------------------------------------------------------------------
    @staticmethod
    def _dropped_movie(mime) -> Path | None:
        for url in mime.urls() if mime.hasUrls() else []:
            path = Path(url.toLocalFile())
            if path.suffix.lower() == ".bk2":
                return path
        return None

    def dragEnterEvent(self, event) -> None:
        if self._dropped_movie(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        path = self._dropped_movie(event.mimeData())
        if path is not None:
            event.acceptProposedAction()
            self.open_episode(path)


class ReplayCompare(_PlaybackWidget):
    """Two episodes side by side on one timeline (frames of both advance together)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.left, self.right = ReplayPane(), ReplayPane()
        self._init_playback([self.left, self.right])
        panes = QHBoxLayout()
        panes.addWidget(self.left, 1)
        panes.addWidget(self.right, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.error_label)
        layout.addLayout(panes, 1)
        layout.addWidget(self.transport)

    def open_episodes(self, left: Path | str, right: Path | str) -> bool:
        try:
            self.left.open(left)
            self.right.open(right)
        except ReplayError as exc:
            self.show_error(str(exc))
            self._length_changed()
            return False
        self.show_error("")
        self._length_changed()
        return True


def _escape(text: str) -> str:
    import re

    return re.escape(text)


def show_episode(movie: Path | str) -> int:
    """A window replaying one episode (`workbench replay EPISODE` without an action)."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    viewer = ReplayViewer()
    viewer.setWindowTitle(f"Replay — {Path(movie).name}")
    viewer.resize(1200, 700)
    if not viewer.open_episode(movie):
        viewer.shutdown()
        raise ReplayError(viewer.error_label.text())
    run_dir = next((p for p in Path(movie).resolve().parents if (p / "metrics.sqlite").exists()), None)
    if run_dir is not None:
        viewer.open_run(run_dir)
    viewer.show()
    code = app.exec()
    viewer.shutdown()
    return int(code)
