"""Learning curves of the selected run: episode return vs agent steps per level plus a smoothed mean, and the
loss, entropy, KL and steps/s plots. One PlotDataItem per curve, updated with setData (peak downsampling,
clip to view), so thousands of points stay smooth.

Cost on two busy cores: new points only mark their plots dirty; a timer redraws at most REDRAW_HZ times a
second, only the plots that got points (episodes: the return plot; updates: the metric plots), and not at all
while the view is hidden (it catches up when shown). Per-level points are kept as they arrive, so a redraw does
not walk the whole history."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QGridLayout, QVBoxLayout, QWidget

from workbench.ui.plot_clicks import left_click_in_view
from workbench.ui.run_compare import EpisodePick, nearest
from workbench.ui.run_history import RunHistory

CLICK_PIXELS = 12

LEVEL_COLORS = ["#6fa8ff", "#7ed491", "#f29e4c", "#c77dff", "#ff6b8b", "#4cd3c2", "#d7d75a", "#9aa4b5"]
MAX_SYMBOL_POINTS = 300
REDRAW_HZ = 2
METRIC_PLOTS = [
    ("loss", ("policy_loss", "value_loss")),
    ("entropy", ("entropy",)),
    ("approx KL", ("approx_kl",)),
    ("steps/s", ("steps_per_second",)),
]


def smoothed(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average (shorter at the start)."""
    if len(values) == 0:
        return values
    window = max(1, min(window, len(values)))
    cumsum = np.cumsum(np.insert(values, 0, 0.0))
    out = np.empty(len(values))
    out[window - 1:] = (cumsum[window:] - cumsum[:-window]) / window
    head = np.arange(1, window)
    out[: window - 1] = cumsum[1:window] / head
    return out


def _plot(title: str) -> pg.PlotWidget:
    widget = pg.PlotWidget(background="#15171c")
    item = widget.getPlotItem()
    item.setTitle(title, size="9pt", color="#aab2c0")
    item.showGrid(x=True, y=True, alpha=0.15)
    item.setDownsampling(auto=True, mode="peak")
    item.setClipToView(True)
    return widget


class CurvesView(QWidget):
    episode_clicked = Signal(object)
    """An `EpisodePick`: a click near an episode's point on the return plot."""

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.returns = _plot("Episode return vs agent steps")
        self.returns.getPlotItem().setLabel("bottom", "agent steps")
        self.legend = self.returns.getPlotItem().addLegend(offset=(10, 10), labelTextSize="8pt")
        layout.addWidget(self.returns, 3)
        grid = QGridLayout()
        grid.setSpacing(4)
        self.metric_widgets: dict[str, pg.PlotWidget] = {}
        self.metric_curves: dict[str, pg.PlotDataItem] = {}
        for i, (title, keys) in enumerate(METRIC_PLOTS):
            widget = _plot(title)
            widget.setMinimumHeight(90)
            for j, key in enumerate(keys):
                self.metric_curves[key] = widget.plot([], [], pen=pg.mkPen(LEVEL_COLORS[j + i % 3], width=1.5))
            self.metric_widgets[title] = widget
            grid.addWidget(widget, 0, i)
        layout.addLayout(grid, 2)
        self.level_curves: dict[str, pg.PlotDataItem] = {}
        self.mean_curve = self.returns.plot([], [], pen=pg.mkPen("#ffffff", width=2.5), name="smoothed mean")
        self.history: RunHistory | None = None
        self.run_dir: Path | None = None
        self._level_points: dict[str, tuple[list[int], list[float]]] = {}
        self._level_index: dict[str, list[int]] = {}
        """Per level, the index in `history.episodes` of each point (what a click opens)."""
        self._episodes_seen = 0
        self._dirty_returns = self._dirty_metrics = False
        self.redraws = 0
        self._timer = QTimer(self)
        self._timer.setInterval(int(1000 / REDRAW_HZ))
        self._timer.timeout.connect(self._redraw_dirty)
        self._timer.start()
        self.returns.scene().sigMouseClicked.connect(self._clicked)

    def show_history(self, history: RunHistory | None, run_dir: Path | None = None) -> None:
        self.history = history
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self._level_index.clear()
        for curve in self.level_curves.values():
            self.returns.removeItem(curve)
            self.legend.removeItem(curve)
        self.level_curves.clear()
        self._level_points.clear()
        self._episodes_seen = 0
        self.refresh()

    def mark_dirty(self, episodes: bool = False, updates: bool = False) -> None:
        """New points arrived in the history: redraw those plots on the next tick."""
        self._dirty_returns |= episodes
        self._dirty_metrics |= updates

    def _redraw_dirty(self) -> None:
        if not (self._dirty_returns or self._dirty_metrics) or not self.isVisible():
            return
        if self._dirty_returns:
            self._draw_returns()
        if self._dirty_metrics:
            self._draw_metrics()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._redraw_dirty()  # catch up on what arrived while hidden

    def refresh(self) -> None:
        """Redraw every plot from the history now."""
        self._draw_returns()
        self._draw_metrics()

    def _draw_returns(self) -> None:
        self._dirty_returns = False
        self.redraws += 1
        history = self.history
        episodes = history.episodes if history is not None else []
        for i, (step, level, ret) in enumerate(episodes[self._episodes_seen:], start=self._episodes_seen):
            xs, ys = self._level_points.setdefault(level, ([], []))
            xs.append(step)
            ys.append(ret)
            self._level_index.setdefault(level, []).append(i)
        self._episodes_seen = len(episodes)
        for level, (xs, ys) in self._level_points.items():
            curve = self.level_curves.get(level)
            if curve is None:
                color = LEVEL_COLORS[len(self.level_curves) % len(LEVEL_COLORS)]
                curve = self.returns.plot([], [], pen=pg.mkPen(color, width=1), symbol="o", symbolSize=4,
                                          symbolPen=None, symbolBrush=color, name=level.split(":")[-1])
                curve.setOpacity(0.55)
                self.level_curves[level] = curve
            # symbols are costly to paint: mark points only while there are few of them
            curve.setSymbol("o" if len(xs) <= MAX_SYMBOL_POINTS else None)
            curve.setData(np.asarray(xs, float), np.asarray(ys, float))
        if episodes:
            steps = np.fromiter((e[0] for e in episodes), float, len(episodes))
            rets = np.fromiter((e[2] for e in episodes), float, len(episodes))
            order = np.argsort(steps, kind="stable")
            self.mean_curve.setData(steps[order], smoothed(rets[order], max(5, len(rets) // 20)))
        else:
            self.mean_curve.setData([], [])

    def _draw_metrics(self) -> None:
        self._dirty_metrics = False
        updates = self.history.updates if self.history is not None else []
        for key, curve in self.metric_curves.items():
            points = [(s, m[key]) for s, m in updates if key in m]
            if points:
                xs, ys = zip(*points)
                curve.setData(np.asarray(xs, float), np.asarray(ys, float))
            else:
                curve.setData([], [])

    def _clicked(self, event) -> None:
        at = left_click_in_view(self.returns, event)
        pick = self.pick_at(*at) if at is not None else None
        if pick is not None:
            self.episode_clicked.emit(pick)

    def pick_at(self, x: float, y: float) -> EpisodePick | None:
        """The episode whose point on the return plot is nearest (x, y) (view coordinates), within CLICK_PIXELS."""
        if self.history is None or self.run_dir is None:
            return None
        px, py = self.returns.getPlotItem().vb.viewPixelSize()
        best = (float("inf"), -1)
        for level, (xs, ys) in self._level_points.items():
            i, dist = nearest(np.asarray(xs, float), np.asarray(ys, float), x, y, px, py)
            if dist < best[0]:
                best = (dist, self._level_index[level][i])
        dist, i = best
        if i < 0 or dist > CLICK_PIXELS:
            return None
        step, level, ret = self.history.episodes[i]
        movies = self.history.movies
        return EpisodePick(self.run_dir, level, int(step), float(ret), movies[i] if i < len(movies) else None)

    def point_count(self) -> int:
        return sum(len(c.getData()[0] if c.getData()[0] is not None else []) for c in self.level_curves.values())
