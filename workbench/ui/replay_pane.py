"""One replayed episode on screen: the game frame, the action-probability bars of the agent step on screen
(the sampled action highlighted), and the value and return-so-far traces with a cursor at that step.

Frames come from a `ReplayProcess` (the emulator runs in its own process); the pane asks for a frame with
`request(k)` and shows it when `poll()` finds it arrived. Policy outputs come from the episode's sidecar.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from workbench.replay.errors import ReplayError
from workbench.replay.frame_server import ReplayProcess
from workbench.replay.sidecar import Sidecar, read_sidecar, sidecar_path
from workbench.ui.policy_view import PolicyView


class ReplayPane(QWidget):
    """Shows one episode. `open(path)` raises ReplayError for a movie it cannot replay."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.process: ReplayProcess | None = None
        self.sidecar: Sidecar | None = None
        self.movie: Path | None = None
        self.n_frames = 0
        self.shown_frame: int | None = None
        """Index of the frame on screen."""
        self.shown_image: np.ndarray | None = None
        self._requested: int | None = None
        self._in_flight = False

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        self.title = QLabel("no episode")
        self.title.setObjectName("panelTitle")
        layout.addWidget(self.title)
        self.warning = QLabel("")
        self.warning.setObjectName("warning")
        self.warning.setWordWrap(True)
        self.warning.hide()
        layout.addWidget(self.warning)

        self.policy = PolicyView()
        self.image = self.policy.frame
        self.bars = self.policy.bars
        layout.addWidget(self.policy, 3)
        self.trace_plot = pg.PlotWidget(background="#15171c")
        self.trace_plot.setMenuEnabled(False)
        self.trace_plot.addLegend(offset=(4, 4))
        self.trace_plot.setLabel("bottom", "agent step")
        self.trace_plot.setClipToView(True)
        self.value_curve = self.trace_plot.plot(pen=pg.mkPen("#4c8dff", width=1.5), name="value")
        self.return_curve = self.trace_plot.plot(pen=pg.mkPen("#ffb020", width=1.5), name="return so far")
        self.cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#e0e0e0", style=Qt.DashLine))
        self.trace_plot.addItem(self.cursor)
        layout.addWidget(self.trace_plot, 1)
        self.status = QLabel("")
        self.status.setObjectName("dim")
        layout.addWidget(self.status)

    # -- episode ---------------------------------------------------------------------------------
    def open(self, movie: Path | str) -> None:
        """Replay `movie`; its sidecar (when readable) drives the bars and traces."""
        movie = Path(movie)
        process = ReplayProcess(movie)  # raises ReplayError before anything on screen changes
        self.close_episode()
        self.process, self.movie, self.n_frames = process, movie, process.info.n_frames
        self.sidecar, problem = None, ""
        if sidecar_path(movie).is_file():
            try:
                self.sidecar = read_sidecar(sidecar_path(movie))
            except ReplayError as exc:
                problem = f"policy outputs not shown: {exc}"
        else:
            problem = "no sidecar: the frames replay, without policy outputs"
        self.warning.setText(problem)
        self.warning.setVisible(bool(problem))
        if self.sidecar is not None:
            np.minimum(self.sidecar.step_end_frames, self.n_frames - 1, out=self.sidecar.step_end_frames)
        self.title.setText(f"{process.info.level} — {movie.name}")
        self._setup_traces()
        self.request(0)

    def close_episode(self) -> None:
        if self.process is not None:
            self.process.close()
        self.process, self.sidecar, self.movie = None, None, None
        self.n_frames, self.shown_frame, self.shown_image = 0, None, None
        self._requested, self._in_flight = None, False
        self.image.clear()

    # -- frames ----------------------------------------------------------------------------------
    def request(self, frame: int) -> None:
        """Show `frame` as soon as it arrives (only the newest request matters)."""
        if self.process is None or self.n_frames == 0:
            return
        frame = min(max(0, int(frame)), self.n_frames - 1)
        if frame == self._requested:
            return
        self._requested = frame
        if not self._in_flight:
            self.process.request(frame)
            self._in_flight = True

    def poll(self) -> bool:
        """Show a frame that arrived; send the newest request if it changed meanwhile. True when drawn."""
        if self.process is None:
            return False
        try:
            got = self.process.poll()
        except ReplayError as exc:
            self.warning.setText(str(exc))
            self.warning.show()
            self.close_episode()
            return False
        if got is None:
            return False
        self._in_flight = False
        if self._requested is not None and got[0] != self._requested:
            self.process.request(self._requested)  # the user moved on while this frame was made
            self._in_flight = True
        self._show(*got)
        return True

    def _show(self, k: int, frame: np.ndarray) -> None:
        self.image.set_frame(frame)
        self.shown_frame, self.shown_image = k, frame
        text = f"frame {k} / {self.n_frames - 1}"
        if self.sidecar is not None and len(self.sidecar.actions):
            step = self.sidecar.step_at_frame(k)
            self._show_step(step)
            text += f" · step {step} / {len(self.sidecar.actions) - 1}"
        self.status.setText(text)

    def _show_step(self, step: int) -> None:
        side = self.sidecar
        self.bars.set_probs(side.probs[step], int(side.actions[step]),
                            f"value {float(side.values[step]):+.2f} · step {step}")
        self.cursor.setValue(step)

    def bar_heights(self) -> np.ndarray:
        return self.policy.bar_heights()

    def _setup_traces(self) -> None:
        side = self.sidecar
        if side is None or not len(side.actions):
            self.value_curve.setData([], [])
            self.return_curve.setData([], [])
            self.bars.set_labels([])
            return
        n = side.probs.shape[1]
        labels = list(side.meta.action_labels or [])
        self.bars.set_labels(labels if len(labels) == n else [str(i) for i in range(n)])
        steps = np.arange(len(side.actions))
        self.value_curve.setData(steps, side.values)
        self.return_curve.setData(steps, side.cumulative_rewards())

    def closeEvent(self, event) -> None:
        self.close_episode()
        super().closeEvent(event)
