"""One replayed episode on screen: the game frame, the action-probability bars of the agent step on screen
(the sampled action highlighted), and the value and return-so-far traces with a cursor at that step.

Frames come from a `ReplayProcess` (the emulator runs in its own process); the pane asks for a frame with
`request(k)` and shows it when `poll()` finds it arrived. Policy outputs come from the episode's sidecar.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from workbench.replay.errors import ReplayError
from workbench.replay.frame_server import ReplayProcess
from workbench.replay.sidecar import Sidecar, read_sidecar, sidecar_path
from workbench.ui.action_marginals import entropy
from workbench.ui.policy_view import PolicyView


SALIENCY_VIEWS = (("off", "saliency off"), ("policy", "policy looks at"), ("value", "value looks at"),
                  ("both", "policy (red) + value (blue)"))


def saliency_rgba(smap, which: str) -> np.ndarray:
    """A saliency map as an RGBA overlay: policy red-yellow, value blue-cyan, alpha grows with saliency."""
    p, v = smap.policy, smap.value
    h, w = p.shape
    out = np.zeros((h, w, 4), np.uint8)
    if which == "policy":
        out[..., 0], out[..., 1] = 255, (p * 200).astype(np.uint8)
        alpha = p
    elif which == "value":
        out[..., 1], out[..., 2] = (v * 200).astype(np.uint8), 255
        alpha = v
    else:
        out[..., 0], out[..., 2] = (p * 255).astype(np.uint8), (v * 255).astype(np.uint8)
        alpha = np.maximum(p, v)
    out[..., 3] = (np.clip(alpha, 0, 1) ** 1.5 * 200).astype(np.uint8)  # the strong spots show, the rest fades
    return out


class ReplayPane(QWidget):
    """Shows one episode. `open(path)` raises ReplayError for a movie it cannot replay.

    A click in the value/return plot asks to seek to that agent step's first frame (`seek_requested`). The
    saliency box overlays where the policy and/or the value look on the frame on screen, computed by a
    `replay.saliency.SaliencyProcess` for this episode (started when first asked for, cached per step)."""

    seek_requested = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.saliency = None
        """The episode's SaliencyProcess once the overlay was turned on."""
        self.saliency_map = None
        """The SaliencyMap on screen."""
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

        tools = QHBoxLayout()
        self.saliency_view = QComboBox()
        for key, text in SALIENCY_VIEWS:
            self.saliency_view.addItem(text, key)
        self.saliency_view.setToolTip("Overlay where the policy (the chosen action's log-probability) and the "
                                      "value are sensitive in the frame stack the agent saw at this step; computed "
                                      "in a worker process with the run's newest checkpoint")
        self.saliency_method = QComboBox()
        self.saliency_method.addItem("gradient", "gradient")
        self.saliency_method.addItem("occlusion", "occlusion")
        self.saliency_method.setToolTip("Gradient: |d output / d pixel|. Occlusion: how much blurring a patch "
                                        "there changes the output (slower)")
        self.saliency_label = QLabel("")
        self.saliency_label.setObjectName("dim")
        tools.addWidget(self.saliency_view)
        tools.addWidget(self.saliency_method)
        tools.addWidget(self.saliency_label, 1)
        layout.addLayout(tools)
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
        self.trace_plot.scene().sigMouseClicked.connect(self._trace_clicked)
        layout.addWidget(self.trace_plot, 1)
        self.status = QLabel("")
        self.status.setObjectName("dim")
        layout.addWidget(self.status)
        self.saliency_view.currentIndexChanged.connect(lambda _i: self._saliency_changed())
        self.saliency_method.currentIndexChanged.connect(lambda _i: self._saliency_changed())

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
        self._close_saliency()
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
        self._poll_saliency()
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
            self._request_saliency(step)
        self.status.setText(text)

    # -- seeking from the traces -----------------------------------------------------------------
    def step_start_frame(self, step: int) -> int:
        """The first frame of agent step `step` (frame 0 for step 0)."""
        if self.sidecar is None or step <= 0:
            return 0
        ends = self.sidecar.step_end_frames
        return int(min(ends[min(step, len(ends)) - 1] + 1, self.n_frames - 1))

    def _trace_clicked(self, event) -> None:
        if event.button() != Qt.LeftButton or self.sidecar is None or not len(self.sidecar.actions):
            return
        vb = self.trace_plot.getPlotItem().vb
        if not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        self.seek_to_step(vb.mapSceneToView(event.scenePos()).x())

    def seek_to_step(self, x: float) -> None:
        """Ask to show agent step round(x) (clamped to the episode)."""
        step = int(min(max(round(x), 0), len(self.sidecar.actions) - 1))
        self.seek_requested.emit(self.step_start_frame(step))

    # -- saliency --------------------------------------------------------------------------------
    @property
    def saliency_on(self) -> str:
        return self.saliency_view.currentData()

    def set_saliency(self, view: str, method: str | None = None) -> None:
        """'off', 'policy', 'value' or 'both' (and 'gradient' / 'occlusion')."""
        if method is not None:
            self.saliency_method.setCurrentIndex(self.saliency_method.findData(method))
        self.saliency_view.setCurrentIndex(self.saliency_view.findData(view))

    def _saliency_changed(self) -> None:
        if self.saliency_on == "off":
            self.image.set_overlay(None)
            self.saliency_map = None
            self.saliency_label.setText("")
            return
        if self.saliency_map is not None and self.saliency_map.method == self.saliency_method.currentData():
            self.image.set_overlay(saliency_rgba(self.saliency_map, self.saliency_on))
        if self.sidecar is not None and self.shown_frame is not None:
            self._request_saliency(self.sidecar.step_at_frame(self.shown_frame))

    def _request_saliency(self, step: int) -> None:
        if self.saliency_on == "off" or self.movie is None:
            return
        from workbench.replay.saliency import SaliencyProcess

        if self.saliency is None:
            self.saliency_label.setText("starting the saliency worker (loads the run's newest checkpoint)…")
            self.saliency = SaliencyProcess(self.movie, wait=False)  # never blocks: answers come through poll
        self.saliency.request(step, self.saliency_method.currentData())
        self._poll_saliency()

    def _poll_saliency(self) -> None:
        if self.saliency is None:
            return
        try:
            smap = self.saliency.poll()
        except ReplayError as exc:
            self._close_saliency()
            self.saliency_label.setText(f"no saliency: {exc}")
            self.saliency_view.blockSignals(True)
            self.saliency_view.setCurrentIndex(0)
            self.saliency_view.blockSignals(False)
            return
        for (step, method), error in list(self.saliency.errors.items()):
            self.saliency_label.setText(f"step {step}: {error}")
            self.saliency.errors.clear()
        if smap is None or self.saliency_on == "off":
            return
        if smap.method != self.saliency_method.currentData():
            return
        self.saliency_map = smap
        self.image.set_overlay(saliency_rgba(smap, self.saliency_on))
        self.saliency_label.setText(f"{smap.method} saliency of step {smap.step} · {Path(smap.checkpoint).name} "
                                    f"· {smap.seconds * 1000:.0f} ms")

    def _close_saliency(self) -> None:
        if self.saliency is not None:
            self.saliency.close()
        self.saliency, self.saliency_map = None, None
        self.image.set_overlay(None)

    def _show_step(self, step: int) -> None:
        side = self.sidecar
        self.bars.set_probs(side.probs[step], int(side.actions[step]),
                            f"value {float(side.values[step]):+.2f} · entropy {entropy(side.probs[step]):.2f}"
                            f" · step {step}")
        self.cursor.setValue(step)

    def bar_heights(self) -> np.ndarray:
        return self.policy.bar_heights()

    def _setup_traces(self) -> None:
        side = self.sidecar
        if side is None or not len(side.actions):
            self.value_curve.setData([], [])
            self.return_curve.setData([], [])
            self.policy.set_labels([])
            return
        n = side.probs.shape[1]
        labels = list(side.meta.action_labels or [])
        self.policy.set_labels(labels if len(labels) == n else [str(i) for i in range(n)])
        steps = np.arange(len(side.actions))
        self.value_curve.setData(steps, side.values)
        self.return_curve.setData(steps, side.cumulative_rewards())

    def closeEvent(self, event) -> None:
        self.close_episode()
        super().closeEvent(event)
