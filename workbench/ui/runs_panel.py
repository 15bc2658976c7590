"""Runs: the settings form (with what Start would refuse about it), Start / Pause / Resume / Stop, and the list of
runs with their state (several at once; a failed run shows its error)."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QBrush, QColor
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton,
                               QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from workbench.bridge.supervisor import ELSEWHERE
from workbench.core.settings import Settings, validate
from workbench.ui.settings_form import SettingsForm

STATE_COLORS = {"running": "#7ed491", "paused": "#e0b040", "finished": "#6fa8ff", "stopped": "#9aa4b5",
                "failed": "#ff6b6b", "starting": "#c0c6d0", "created": "#c0c6d0", ELSEWHERE: "#b48cf0"}


class RunsPanel(QWidget):
    start_requested = Signal(str)
    """The user pressed Start (with this run name)."""

    def __init__(self, controller, parent=None):
        super().__init__(parent)
        self.controller = controller
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        title = QLabel("Runs")
        title.setObjectName("panelTitle")
        layout.addWidget(title)
        splitter = QSplitter(Qt.Vertical)
        self.form = SettingsForm()
        splitter.addWidget(self.form)

        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        self.form_problem = QLabel()
        self.form_problem.setObjectName("error")
        self.form_problem.setWordWrap(True)
        self.form_problem.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lower_layout.addWidget(self.form_problem)
        name_row = QHBoxLayout()
        self.run_name = QLineEdit(placeholderText="run name (optional)")
        self.cluster = QLineEdit(placeholderText="Ray cluster (blank: this machine)")
        self.cluster.setToolTip("HOST:PORT of `ray start --head`, or 'auto': the env workers run as Ray actors "
                                "there; the learner and the run folder stay here")
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("primary")
        name_row.addWidget(self.run_name, 1)
        name_row.addWidget(self.cluster, 1)
        name_row.addWidget(self.start_button)
        lower_layout.addLayout(name_row)
        buttons = QHBoxLayout()
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.stop_button = QPushButton("Stop")
        for button in (self.pause_button, self.resume_button, self.stop_button):
            buttons.addWidget(button)
        lower_layout.addLayout(buttons)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Run", "State", "Steps", "Where"])
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeToContents)
        lower_layout.addWidget(self.table, 1)
        self.error = QLabel()
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lower_layout.addWidget(self.error)
        splitter.addWidget(lower)
        splitter.setSizes([320, 280])
        layout.addWidget(splitter, 1)

        self.start_button.clicked.connect(lambda: self.start_requested.emit(self.run_name.text().strip()))
        self.pause_button.clicked.connect(lambda: self._selected_do("pause"))
        self.resume_button.clicked.connect(self.resume_selected)
        self.stop_button.clicked.connect(lambda: self._selected_do("stop"))
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.resume_action = QAction("Resume from last checkpoint", self.table)
        self.resume_action.triggered.connect(self.resume_selected)
        self.table.addAction(self.resume_action)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.form.changed.connect(self.check_form)
        controller.runs_changed.connect(self.refresh)
        controller.selected_changed.connect(lambda _h: self.refresh())
        self.refresh()
        self.check_form()

    def check_form(self) -> list[str]:
        """Show what is wrong with the settings as edited: fields that cannot be read (Start is off until they
        can), else what `core.settings.validate` refuses (the messages `workbench preset check` prints)."""
        unreadable = self.form.unreadable()
        problems = unreadable
        if not problems:
            settings = Settings()
            self.form.apply_to(settings)
            problems = [p.message for p in validate(settings)]
        self.form_problem.setText("\n".join(problems[:3]) + (f"\n… and {len(problems) - 3} more"
                                                             if len(problems) > 3 else ""))
        self.form_problem.setVisible(bool(problems))
        self.start_button.setEnabled(not unreadable)
        self.start_button.setToolTip(f"Cannot start: {unreadable[0]}" if unreadable else "")
        return problems

    def _handles(self):
        return self.controller.handles()

    def _selected_do(self, action: str) -> None:
        handle = self.controller.selected
        if handle is not None:
            getattr(handle, action)()

    def resume_selected(self) -> None:
        """Resume: un-pause a paused run, or continue a stopped or failed one from its last checkpoint in a new
        background process (the live view follows it)."""
        handle = self.controller.selected
        if handle is None:
            return
        if handle.state == ELSEWHERE:  # another process writes it: watch it, never write it too
            self.controller.follow(handle)
        elif handle.live and handle.state == "paused":
            handle.resume()
        elif self.controller.can_resume(handle):
            try:
                self.controller.resume(handle)
            except (OSError, ValueError) as exc:
                self.error.setText(f"Cannot resume {handle.name}: {exc}")

    def _on_selection(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        handles = self._handles()
        if rows and rows[0].row() < len(handles):
            self.controller.select(handles[rows[0].row()])
        self._update_buttons()

    def refresh(self) -> None:
        handles = self._handles()
        self.table.blockSignals(True)
        self.table.setRowCount(len(handles))
        for row, handle in enumerate(handles):
            state = handle.state
            cells = (handle.name, state, f"{handle.global_step:,}", handle.where())
            for col, text in enumerate(cells):
                item = self.table.item(row, col)
                if item is None:
                    item = QTableWidgetItem()
                    self.table.setItem(row, col, item)
                if item.text() != text:
                    item.setText(text)
                if col == 1:
                    item.setForeground(QBrush(QColor(STATE_COLORS.get(state, "#c0c6d0"))))
                    item.setToolTip(handle.error or state)
            if handle is self.controller.selected:
                self.table.selectRow(row)
        self.table.blockSignals(False)
        self._update_buttons()

    def _update_buttons(self) -> None:
        handle = self.controller.selected
        state = handle.state if handle is not None else ""
        live = handle is not None and handle.live
        self.pause_button.setEnabled(live and state == "running")
        resumable = self.controller.can_resume(handle)
        elsewhere = state == ELSEWHERE
        self.resume_button.setText("Watch" if elsewhere else "Resume")
        self.resume_button.setEnabled((live and state == "paused") or resumable or elsewhere)
        self.resume_button.setToolTip("Continue the paused run" if state == "paused" else
                                      "Continue this run from its last checkpoint in a new background process"
                                      if resumable else "Follow this run here; another process trains it"
                                      if elsewhere else "")
        self.resume_action.setEnabled(resumable)
        self.stop_button.setEnabled(live and state in ("running", "paused"))
        if elsewhere:
            writer = handle.writer or {}
            what = writer.get("what") or "a writer"
            self.error.setText(f"{handle.name} is being written by another process ({what}, pid "
                               f"{writer.get('pid')}): press Watch to follow it here")
        else:
            self.error.setText(f"{handle.name} failed: {handle.error}" if handle is not None and state == "failed"
                               else "")

    def cluster_address(self) -> str | None:
        """The address typed for the next Start, or None (local processes)."""
        return self.cluster.text().strip() or None

    def where_of(self, name: str) -> str:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).text() == name:
                return self.table.item(row, 3).text()
        return ""

    def state_of(self, name: str) -> str:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).text() == name:
                return self.table.item(row, 1).text()
        return ""
