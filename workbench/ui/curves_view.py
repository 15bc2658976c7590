"""Learning curves of the selected run: episode return vs agent steps per level plus a smoothed mean, and the
loss, entropy, KL and steps/s plots. One PlotDataItem per curve, updated with setData (peak downsampling,
clip to view), so thousands of points stay smooth."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGridLayout, QVBoxLayout, QWidget

from workbench.ui.run_history import RunHistory

LEVEL_COLORS = ["#6fa8ff", "#7ed491", "#f29e4c", "#c77dff", "#ff6b8b", "#4cd3c2", "#d7d75a", "#9aa4b5"]
MAX_SYMBOL_POINTS = 300
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

    def show_history(self, history: RunHistory | None) -> None:
        self.history = history
        for curve in self.level_curves.values():
            self.returns.removeItem(curve)
            self.legend.removeItem(curve)
        self.level_curves.clear()
        self.refresh()

    def refresh(self) -> None:
        """Redraw from the history (cheap: setData on existing items)."""
        history = self.history
        if history is None:
            self.mean_curve.setData([], [])
            for curve in self.metric_curves.values():
                curve.setData([], [])
            return
        by_level: dict[str, tuple[list[int], list[float]]] = {}
        for step, level, ret in history.episodes:
            xs, ys = by_level.setdefault(level, ([], []))
            xs.append(step)
            ys.append(ret)
        for level, (xs, ys) in by_level.items():
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
        if history.episodes:
            steps = np.array([e[0] for e in history.episodes], float)
            rets = np.array([e[2] for e in history.episodes], float)
            order = np.argsort(steps, kind="stable")
            self.mean_curve.setData(steps[order], smoothed(rets[order], max(5, len(rets) // 20)))
        else:
            self.mean_curve.setData([], [])
        for key, curve in self.metric_curves.items():
            points = [(s, m[key]) for s, m in history.updates if key in m]
            if points:
                xs, ys = zip(*points)
                curve.setData(np.asarray(xs, float), np.asarray(ys, float))
            else:
                curve.setData([], [])

    def point_count(self) -> int:
        return sum(len(c.getData()[0] if c.getData()[0] is not None else []) for c in self.level_curves.values())
