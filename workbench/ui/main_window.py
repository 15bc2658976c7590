"""The workbench window: catalog and level set on the left, the live view and curves in the centre, runs on the
right. Views get plain models (LevelSet, RunHistory, the supervisor's run handles) and follow their changes."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QMainWindow, QMessageBox, QSplitter, QTabWidget,
                               QWidget)

from workbench.core.levels import LevelSet
from workbench.ui.catalog_panel import CatalogPanel
from workbench.ui.compare_view import CompareView
from workbench.ui.curves_view import CurvesView
from workbench.ui.level_set_panel import LevelSetPanel
from workbench.ui.live_view import LiveView
from workbench.ui.run_controller import RunController
from workbench.ui.runs_panel import RunsPanel
from workbench.ui.transfer_view import TransferView
from workbench.ui.within_trial_view import WithinTrialView


def _load_catalog():
    from workbench.catalog.catalog import Catalog

    return Catalog()


class MainWindow(QMainWindow):
    close_policy = "ask"
    """What closing does to runs still going: 'ask', 'stop' or 'leave' (tests and --smoke set it)."""
    close_question: QMessageBox | None = None

    def __init__(self, preset_path: Path | None = None, catalog=None, controller: RunController | None = None):
        super().__init__()
        from workbench.core.presets import Preset

        self.setWindowTitle("Retro Workbench")
        self.setAcceptDrops(True)
        self.catalog = catalog if catalog is not None else _load_catalog()
        self.preset = Preset(name="untitled")
        self.preset_path: Path | None = None
        self.controller = controller or RunController(parent=self)

        # panels
        self.catalog_panel = CatalogPanel(self.catalog)
        self.level_panel = LevelSetPanel(LevelSet(), self.catalog, self.preset.env)
        self.runs_panel = RunsPanel(self.controller)
        self.live_view = LiveView()
        self.curves = CurvesView()
        self.transfer_view = TransferView()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.curves, "Curves")
        self.tabs.addTab(self.transfer_view, "Transfer")
        self.within_trial_view = WithinTrialView()
        self.tabs.addTab(self.within_trial_view, "Within trial")
        self.compare_view = CompareView()
        self.tabs.addTab(self.compare_view, "Compare")
        self.replay_viewer = self._replay_viewer()
        self.replay_window: QWidget | None = None
        if self.replay_viewer is not None:
            self.tabs.addTab(self.replay_viewer, "Replay")
        centre = QSplitter(Qt.Vertical)
        self.centre = centre
        centre.addWidget(self.live_view)
        centre.addWidget(self.tabs)
        centre.setSizes([430, 330])
        self.setCentralWidget(centre)
        self.catalog_dock = self._dock("Catalog", self.catalog_panel, Qt.LeftDockWidgetArea)
        self.levels_dock = self._dock("Level set", self.level_panel, Qt.LeftDockWidgetArea)
        self.runs_dock = self._dock("Runs", self.runs_panel, Qt.RightDockWidgetArea)
        self.resizeDocks([self.catalog_dock, self.runs_dock], [360, 330], Qt.Horizontal)
        self.resizeDocks([self.catalog_dock, self.levels_dock], [430, 330], Qt.Vertical)
        self._menus()

        # wiring
        self.runs_panel.start_requested.connect(self.start_run)
        self.runs_panel.form.changed.connect(self._on_form_changed)
        self.controller.selected_changed.connect(self._on_selected)
        self.controller.hello.connect(self._on_hello)
        self.controller.frame.connect(self.live_view.show_frame)
        self.controller.step.connect(self.live_view.show_step)
        self.controller.episode.connect(lambda handle, _m: self._history_grew(handle, episodes=True))
        self.controller.runs_changed.connect(self.compare_view.note_runs_changed)
        self.curves.episode_clicked.connect(self.open_picked_episode)
        self.compare_view.episode_clicked.connect(self.open_picked_episode)
        if self.replay_viewer is not None:
            self.replay_viewer.layout_requested.connect(self.set_replay_layout)
        self.controller.update.connect(lambda handle, _m: self._history_grew(handle, updates=True))
        self.live_view.watch_requested.connect(self.controller.watch)
        self.controller.frames_wanted = lambda: self.live_view.isVisible() and not self.isMinimized()
        self.catalog_panel.import_finished.connect(lambda _r: self.level_panel.revalidate())

        if preset_path is not None:
            self.open_preset(Path(preset_path))
        self.controller.attach_existing()
        self.compare_view.refresh_runs()
        self.statusBar().showMessage("Ready")

    # -- layout ----------------------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title.replace(" ", "_"))
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable)
        dock.setTitleBarWidget(QWidget())  # each panel shows its own title
        self.addDockWidget(area, dock)
        return dock

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        for text, shortcut, slot in (
            ("&Open preset…", QKeySequence.Open, self.choose_preset),
            ("&Save preset as…", QKeySequence.SaveAs, self.choose_save_path),
            ("&Import ROMs…", None, self.catalog_panel.choose_import_folder),
            ("&Quit", QKeySequence.Quit, self.close),
        ):
            action = QAction(text, self)
            if shortcut is not None:
                action.setShortcut(shortcut)
            action.triggered.connect(slot)
            file_menu.addAction(action)
        edit = self.menuBar().addMenu("&Edit")
        undo = self.level_panel.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence.Undo)
        redo = self.level_panel.undo_stack.createRedoAction(self, "&Redo")
        redo.setShortcut(QKeySequence.Redo)
        edit.addAction(undo)
        edit.addAction(redo)

    @staticmethod
    def _replay_viewer():
        try:
            from workbench.ui.replay_viewer import ReplayViewer
        except ImportError:
            return None
        try:
            return ReplayViewer()
        except Exception:
            return None

    # -- presets ---------------------------------------------------------------------------------
    def choose_preset(self) -> None:
        from workbench.core.paths import PRESETS_DIR

        path, _ = QFileDialog.getOpenFileName(self, "Open preset", str(PRESETS_DIR), "Presets (*.toml)")
        if path:
            self.open_preset(Path(path))

    def open_preset(self, path: Path) -> bool:
        from workbench.core.presets import PresetError, load_preset

        try:
            preset = load_preset(path)
        except (PresetError, OSError) as exc:
            self._problem(f"Cannot open preset: {exc}")
            return False
        self.preset = preset
        self.preset_path = Path(path)
        self.level_panel.set_level_set(preset.levels)
        self.level_panel.set_env_config(preset.env)
        self.runs_panel.form.set_values(preset)
        self.setWindowTitle(f"Retro Workbench — {preset.name} ({path.name})")
        self.statusBar().showMessage(f"Opened {path}", 5000)
        return True

    def current_preset(self):
        """The preset as edited: level set from the editor, settings from the form (a field the form cannot
        read keeps the opened preset's value; `edited_preset` says which)."""
        return self.edited_preset()[0]

    def edited_preset(self):
        """(the preset as edited, 'section.field: why' for each form field that cannot be read)."""
        preset = self.preset.copy()
        preset.levels = self.level_panel.level_set.copy()
        unreadable = self.runs_panel.form.apply_to(preset)
        return preset, unreadable

    def _on_form_changed(self) -> None:
        """The level-set editor checks action sets and scenarios with the env settings as edited."""
        env = self.current_preset().env
        if env != self.level_panel.env_config:
            self.level_panel.set_env_config(env)

    def choose_save_path(self) -> None:
        from workbench.core.presets import user_presets_dir

        start = str(user_presets_dir() / f"{self.preset.name or 'preset'}.toml")
        path, _ = QFileDialog.getSaveFileName(self, "Save preset as", start, "Presets (*.toml)")
        if path:
            self.save_preset(Path(path), overwrite=True)  # the dialog already asked about replacing

    def save_preset(self, path: Path, overwrite: bool = False) -> bool:
        from workbench.core.presets import PresetError, save_preset

        preset, unreadable = self.edited_preset()
        if unreadable:
            self._problem(f"Not saved: {unreadable[0]}")
            return False
        preset.name = path.stem
        try:
            save_preset(preset, path, overwrite=overwrite)
        except (PresetError, OSError) as exc:
            self._problem(f"Not saved: {exc}")
            return False
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def dragEnterEvent(self, event) -> None:
        if any(url.toLocalFile().endswith(".toml") for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        for url in event.mimeData().urls():
            if url.toLocalFile().endswith(".toml"):
                self.open_preset(Path(url.toLocalFile()))
                event.acceptProposedAction()
                return

    def _problem(self, text: str) -> None:
        self.statusBar().showMessage(text, 15000)
        if self.isVisible() and not getattr(self, "quiet", False):
            box = QMessageBox(QMessageBox.Warning, "Retro Workbench", text, QMessageBox.Ok, self)
            box.open()

    # -- runs ------------------------------------------------------------------------------------
    def start_run(self, name: str = ""):
        """Start a run of the edited preset, or refuse (returns None, says why) what `workbench preset check`
        refuses: unreadable fields, settings `core.settings.validate` rejects, levels with errors."""
        from workbench.core.settings import validate
        from workbench.ui.level_validation import validate_levels

        preset, errors = self.edited_preset()
        errors += [problem.message for problem in validate(preset)]
        if not preset.levels.train:
            errors.append("add at least one training level (drag one from the catalog)")
        problems = validate_levels(preset.levels, self.catalog, preset.env)  # with the form's env settings
        errors += [f"{lv}: {msg}" for lv, msgs in problems.items() for sev, msg in msgs if sev == "error"]
        if errors:
            self._problem("Cannot start: " + errors[0])
            return None
        handle = self.controller.start(preset, name or preset.name, cluster=self.runs_panel.cluster_address())
        self.statusBar().showMessage(f"Started {handle.name}", 5000)
        return handle

    def _on_selected(self, handle) -> None:
        self.live_view.set_run(handle.name if handle is not None else None)
        self.curves.show_history(self.controller.history(handle) if handle is not None else None,
                                 handle.run_dir if handle is not None else None)
        if handle is not None and not self.compare_view.checked_dirs():
            self.compare_view.refresh_runs()
            self.compare_view.check_runs([handle.run_dir])
        self.transfer_view.load_run(handle.run_dir if handle is not None else None)
        self.within_trial_view.load_run(handle.run_dir if handle is not None else None)
        if handle is not None and self.replay_viewer is not None:
            try:
                self.replay_viewer.open_run(handle.run_dir)
            except Exception as exc:  # a run without recorded episodes yet, or an unreadable index
                self.statusBar().showMessage(f"Replay: {exc}", 5000)
        if handle is not None and handle.hello is not None:
            self._on_hello(handle.hello)

    def _on_hello(self, hello) -> None:
        self.live_view.set_actions(hello.action_labels, hello.n_envs, hello.watched)

    def _history_grew(self, handle, episodes: bool = False, updates: bool = False) -> None:
        if handle is self.controller.selected:
            self.curves.mark_dirty(episodes=episodes, updates=updates)
            if episodes and self.replay_viewer is not None and self.replay_viewer.model.run_dir == handle.run_dir:
                self.replay_viewer.note_new_episodes()

    # -- from a curve to the frame ---------------------------------------------------------------
    def open_picked_episode(self, pick) -> bool:
        """Open the episode a click on a return curve picked in Replay, at its start."""
        if self.replay_viewer is None:
            return False
        where = f"the {pick.level} episode at step {pick.global_step:,} (return {pick.episode_return:.1f})"
        movie = pick.movie_path
        if movie is None or not movie.is_file():
            self.statusBar().showMessage(f"{where} was not recorded (run.record_episodes = true records every "
                                         "finished episode)", 10000)
            return False
        viewer = self.replay_viewer
        if viewer.model.run_dir != pick.run_dir:
            try:
                viewer.open_run(pick.run_dir)
            except Exception as exc:  # noqa: BLE001 - an unreadable index: the movie still opens
                self.statusBar().showMessage(f"Replay: {exc}", 5000)
        if not viewer.open_episode(movie):
            return False
        for row, entry in enumerate(viewer.visible_entries()):
            if entry.movie_path == movie:
                viewer.table.selectRow(row)
        if viewer.layout_mode == "window" and self.replay_window is not None:
            self.replay_window.raise_()
        else:
            self.tabs.setCurrentWidget(viewer)
        self.statusBar().showMessage(f"Replaying {where}", 5000)
        return True

    def set_replay_layout(self, mode: str) -> None:
        """'tab' (the Replay tab), 'centre' (the replay takes the whole centre area) or 'window' (its own)."""
        viewer = self.replay_viewer
        if viewer is None:
            return
        if self.replay_window is not None and mode != "window":
            window, self.replay_window = self.replay_window, None
            window.closed_by_user = None
            window.close()
            self.tabs.addTab(viewer, "Replay")
            window.deleteLater()
        self.live_view.setVisible(mode != "centre")
        self.tabs.tabBar().setVisible(mode != "centre")
        if mode == "window" and self.replay_window is None:
            from PySide6.QtWidgets import QVBoxLayout

            index = self.tabs.indexOf(viewer)
            if index >= 0:
                self.tabs.removeTab(index)
            window = _ReplayWindow(lambda: self.set_replay_layout("tab"))
            QVBoxLayout(window).addWidget(viewer)
            window.setWindowTitle("Retro Workbench — Replay")
            window.resize(1280, 860)
            window.show()
            viewer.show()
            self.replay_window = window
        elif self.tabs.indexOf(viewer) >= 0:
            self.tabs.setCurrentWidget(viewer)
        viewer.set_layout_mode(mode)

    # -- closing ---------------------------------------------------------------------------------
    def ask_about_runs(self, count: int) -> str | None:
        """Ask what closing does to `count` runs still going: 'stop', 'leave' or None (cancel). The question is
        `self.close_question` while it is open (tests answer it by clicking one of its buttons)."""
        box = QMessageBox(QMessageBox.Question, "Runs are still going",
                          f"{count} run(s) are still training. Stop them, or leave them running in the "
                          "background (reopen the workbench to follow them again)?", parent=self)
        stop = box.addButton("Stop runs", QMessageBox.DestructiveRole)
        leave = box.addButton("Leave running", QMessageBox.AcceptRole)
        box.addButton(QMessageBox.Cancel)
        self.close_question = box
        try:
            box.exec()
        finally:
            self.close_question = None
        clicked = box.clickedButton()
        return "stop" if clicked is stop else "leave" if clicked is leave else None

    def closeEvent(self, event) -> None:
        active = self.controller.supervisor.active()
        stop_runs = True
        if active:
            policy = self.close_policy
            if policy == "ask":
                policy = self.ask_about_runs(len(active))
                if policy is None:
                    event.ignore()
                    return
            stop_runs = policy == "stop"
        self.within_trial_view.shutdown()  # its evaluation process, if one is going
        self.transfer_view.shutdown()  # a transfer started here, if one is going
        self.compare_view.shutdown()
        if self.replay_window is not None:
            self.set_replay_layout("tab")
        if self.replay_viewer is not None and hasattr(self.replay_viewer, "shutdown"):
            self.replay_viewer.shutdown()  # its emulator process
        self.controller.shutdown(stop_runs)
        event.accept()


class _ReplayWindow(QWidget):
    """The replay viewer's own window; closing it puts the viewer back in its tab (its episode stays open)."""

    def __init__(self, on_close):
        super().__init__(None, Qt.Window)
        self.closed_by_user = on_close

    def closeEvent(self, event) -> None:
        callback, self.closed_by_user = self.closed_by_user, None
        if callback is not None:
            callback()
        event.accept()
