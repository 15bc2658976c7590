"""Compare runs: tick several runs and overlay their curves — episode return per level and over all levels, or
any update metric — against agent steps or wall time, with a smoothing window and one legend entry per run;
below, the settings that differ between the ticked runs. Export the plot as PNG or SVG and the data as CSV.
A click on a return curve picks the nearest episode (`episode_clicked`: the window opens it in Replay).

Redraws reuse one PlotDataItem per (run, level) (setData with peak downsampling and clip-to-view); runs are
re-read only when their metrics file changed (a timer looks once a second while the view is shown)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QFileDialog, QHBoxLayout, QHeaderView,
                               QLabel, QListWidget, QListWidgetItem, QPushButton, QSpinBox, QSplitter,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from workbench.ui.plot_clicks import left_click_in_view
from workbench.ui.run_compare import (RETURN, X_AXES, EpisodePick, RunSeries, load_run_series, nearest,
                                      series_rows, settings_diff, smoothed, write_csv)

RUN_COLORS = ["#6fa8ff", "#f29e4c", "#7ed491", "#c77dff", "#ff6b8b", "#4cd3c2", "#d7d75a", "#9aa4b5"]
LEVEL_DASHES = [Qt.DashLine, Qt.DotLine, Qt.DashDotLine, Qt.DashDotDotLine, Qt.SolidLine]
OVERALL = "all"
CLICK_PIXELS = 12
THICK_POINTS = 2000
"""Up to this many points an overall curve is drawn thick."""
POLL_MS = 1000


def _mtime(run_dir: Path) -> float:
    times = [p.stat().st_mtime_ns for p in (run_dir / "metrics.sqlite", run_dir / "metrics.sqlite-wal")
             if p.exists()]
    return max(times, default=0)


class CompareView(QWidget):
    episode_clicked = Signal(object)
    """An `EpisodePick` (a click on a return curve)."""

    def __init__(self, parent=None, runs_root: Path | None = None):
        super().__init__(parent)
        self.runs_root = runs_root
        self.series: dict[Path, RunSeries] = {}
        self._mtimes: dict[Path, float] = {}
        self._load_seconds: dict[Path, float] = {}
        self._loaded_at: dict[Path, float] = {}
        self.curves: dict[tuple[str, str], pg.PlotDataItem] = {}
        self.data: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._points: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        """(run, level) -> (x, y on screen, episode index in the run's series) for click picking."""
        self.last_redraw_ms = 0.0
        self.redraws = 0
        self.diff: dict[str, list[str]] = {}
        """The settings that differ between the ticked runs: key -> value per run."""

        # runs
        self.run_list = QListWidget()
        self.run_list.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.run_list.setToolTip("Tick the runs to compare")
        self.reload_button = QPushButton("Reload runs")
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(QLabel("Runs to compare"))
        left_layout.addWidget(self.run_list, 1)
        left_layout.addWidget(self.reload_button)

        # controls
        self.metric_box = QComboBox()
        self.metric_box.addItem(RETURN)
        self.metric_box.setToolTip("Episode return, or any metric the updates log")
        self.x_axis = QComboBox()
        for key, text in X_AXES.items():
            self.x_axis.addItem(text, key)
        self.smoothing = QSpinBox()
        self.smoothing.setRange(1, 10_000)
        self.smoothing.setValue(20)
        self.smoothing.setPrefix("smooth ")
        self.smoothing.setToolTip("Trailing mean over this many points (1 = raw)")
        self.per_level = QCheckBox("per level")
        self.per_level.setChecked(True)
        self.per_level.setToolTip("Return: one curve per level as well as over all levels")
        self.png_button = QPushButton("PNG…")
        self.svg_button = QPushButton("SVG…")
        self.csv_button = QPushButton("CSV…")
        controls = QHBoxLayout()
        for w in (QLabel("Plot"), self.metric_box, QLabel("vs"), self.x_axis, self.smoothing, self.per_level):
            controls.addWidget(w)
        controls.addStretch(1)
        for w in (QLabel("Export"), self.png_button, self.svg_button, self.csv_button):
            controls.addWidget(w)

        self.plot = pg.PlotWidget(background="#15171c")
        item = self.plot.getPlotItem()
        item.showGrid(x=True, y=True, alpha=0.15)
        item.setDownsampling(auto=True, mode="peak")
        item.setClipToView(True)
        self.legend = item.addLegend(offset=(10, 10), labelTextSize="8pt")
        self.message = QLabel("Tick two or more runs.")
        self.message.setObjectName("dim")
        self.diff_table = QTableWidget(0, 0)
        self.diff_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.diff_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.diff_table.setToolTip("Only the settings whose values differ between the ticked runs")

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(controls)
        right_layout.addWidget(self.message)
        vsplit = QSplitter(Qt.Vertical)
        vsplit.addWidget(self.plot)
        vsplit.addWidget(self.diff_table)
        vsplit.setSizes([400, 140])
        right_layout.addWidget(vsplit, 1)
        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 4)
        splitter.setSizes([200, 800])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)

        self.run_list.itemChanged.connect(lambda _item: self.redraw())
        self.reload_button.clicked.connect(self.refresh_runs)
        for box in (self.metric_box, self.x_axis):
            box.currentIndexChanged.connect(lambda _i: self.redraw())
        self.smoothing.valueChanged.connect(lambda _v: self.redraw())
        self.per_level.toggled.connect(lambda _on: self.redraw())
        self.png_button.clicked.connect(lambda: self._ask_export("png"))
        self.svg_button.clicked.connect(lambda: self._ask_export("svg"))
        self.csv_button.clicked.connect(lambda: self._ask_export("csv"))
        self.plot.scene().sigMouseClicked.connect(self._clicked)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._reload_changed)
        self._timer.start()

    # -- runs ------------------------------------------------------------------------------------
    def refresh_runs(self) -> None:
        """List the runs under the runs folder (ticks are kept)."""
        from workbench.engine.run_store import list_runs

        self.set_run_dirs([info.path for info in list_runs(self.runs_root)])

    def note_runs_changed(self) -> None:
        """Runs were added or changed state: re-list them now if shown, else when shown next."""
        if self.isVisible():
            self.refresh_runs()
        else:
            self._runs_stale = True

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if getattr(self, "_runs_stale", False):
            self._runs_stale = False
            self.refresh_runs()

    def run_dirs(self) -> list[Path]:
        return [Path(self.run_list.item(i).data(Qt.UserRole)) for i in range(self.run_list.count())]

    def set_run_dirs(self, run_dirs) -> None:
        if [Path(d) for d in run_dirs] == self.run_dirs():
            return
        ticked = set(self.checked_dirs())
        self.run_list.blockSignals(True)
        self.run_list.clear()
        for run_dir in run_dirs:
            item = QListWidgetItem(Path(run_dir).name)
            item.setData(Qt.UserRole, str(run_dir))
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Checked if Path(run_dir) in ticked else Qt.Unchecked)
            self.run_list.addItem(item)
        self.run_list.blockSignals(False)
        self.redraw()

    def check_runs(self, names_or_dirs) -> None:
        """Tick exactly these runs (names or folders)."""
        wanted = {Path(n).name for n in names_or_dirs}
        self.run_list.blockSignals(True)
        for i in range(self.run_list.count()):
            item = self.run_list.item(i)
            item.setCheckState(Qt.Checked if item.text() in wanted else Qt.Unchecked)
        self.run_list.blockSignals(False)
        self.redraw()

    def checked_dirs(self) -> list[Path]:
        return [Path(self.run_list.item(i).data(Qt.UserRole)) for i in range(self.run_list.count())
                if self.run_list.item(i).checkState() == Qt.Checked]

    def _series(self, run_dir: Path, force: bool = True) -> RunSeries:
        mtime = _mtime(run_dir)
        if run_dir not in self.series or (self._mtimes.get(run_dir) != mtime and force):
            t0 = time.perf_counter()
            self.series[run_dir] = load_run_series(run_dir)
            self._mtimes[run_dir] = mtime
            self._load_seconds[run_dir] = time.perf_counter() - t0
        return self.series[run_dir]

    def _reload_changed(self) -> None:
        """A ticked run's metrics changed: re-read it, at most every 10× the time its last read took (a run of
        many episodes costs the main thread at most a tenth of its time)."""
        if not self.isVisible():
            return
        now = time.monotonic()
        changed = [d for d in self.checked_dirs() if _mtime(d) != self._mtimes.get(d)
                   and now - self._loaded_at.get(d, 0.0) >= 10 * self._load_seconds.get(d, 0.0)]
        if changed:
            for d in changed:
                self._series(d)
                self._loaded_at[d] = now
            self.redraw(reload=False)

    # -- drawing ---------------------------------------------------------------------------------
    def redraw(self, reload: bool = True) -> None:
        """Recompute and draw every curve of the ticked runs (re-reading those whose metrics changed, unless
        `reload` is False)."""
        start = time.perf_counter()
        runs = [self._series(d, force=reload) for d in self.checked_dirs()]
        self._update_metric_choices(runs)
        metric, axis = self.metric_box.currentText() or RETURN, self.x_axis.currentData()
        window = self.smoothing.value()
        wanted: dict[tuple[str, str], tuple] = {}
        points: dict[tuple[str, str], tuple] = {}
        for r, run in enumerate(runs):
            color = RUN_COLORS[r % len(RUN_COLORS)]
            if metric == RETURN:
                x = run.x(axis)
                order, levels = run.by_level(axis)
                xs, ys = x[order], run.ep_return[order]
                sm = smoothed(ys, window)
                # a pen wider than 1 makes Qt stroke every segment: 3x the paint time with 10k points
                width = 2.5 if len(xs) <= THICK_POINTS else 1.5 if len(xs) <= 4 * THICK_POINTS else 1
                wanted[(run.name, OVERALL)] = (xs, ys, sm, pg.mkPen(color, width=width), run.name)
                points[(run.name, OVERALL)] = (xs, sm, order)
                if self.per_level.isChecked():
                    for k, (level, idx) in enumerate(levels.items()):
                        lx, ly = x[idx], run.ep_return[idx]
                        lsm = smoothed(ly, window)
                        pen = pg.mkPen(color, width=1, style=LEVEL_DASHES[k % len(LEVEL_DASHES)])
                        wanted[(run.name, level)] = (lx, ly, lsm, pen, None)
                        points[(run.name, level)] = (lx, lsm, idx)
            elif metric in run.metrics:
                x, ys = run.x(axis, "updates"), run.metrics[metric]
                wanted[(run.name, OVERALL)] = (x, ys, smoothed(ys, window), pg.mkPen(color, width=2), run.name)
        for key in [k for k in self.curves if k not in wanted]:
            curve = self.curves.pop(key)
            self.plot.removeItem(curve)
            self.legend.removeItem(curve)
        for key, (x, raw, sm, pen, name) in wanted.items():
            curve = self.curves.get(key)
            if curve is None or curve.opts.get("name") != name:
                if curve is not None:
                    self.plot.removeItem(curve)
                    self.legend.removeItem(curve)
                curve = self.plot.plot([], [], name=name)
                self.curves[key] = curve
            curve.setPen(pen)
            curve.setOpacity(1.0 if key[1] == OVERALL else 0.6)
            returns = metric == RETURN  # returns are never NaN: no per-point finite checks when drawn
            curve.setSkipFiniteCheck(returns)
            curve.setData(x, sm, connect="all" if returns else "finite")
        self.data = {k: v[:3] for k, v in wanted.items()}
        self._points = points
        self.plot.getPlotItem().setLabel("bottom", X_AXES[axis])
        self.plot.getPlotItem().setLabel("left", metric)
        self._show_diff(runs)
        self.message.setText(self._summary(runs, metric))
        self.redraws += 1
        self.last_redraw_ms = (time.perf_counter() - start) * 1000

    def _summary(self, runs: list[RunSeries], metric: str) -> str:
        if not runs:
            return "Tick two or more runs."
        episodes = sum(len(r.ep_return) for r in runs)
        text = f"{len(runs)} runs, {episodes:,} episodes"
        if metric == RETURN:
            text += " · thick: all levels, dashed: each level · click a curve to replay the episode there"
        return text

    def _update_metric_choices(self, runs: list[RunSeries]) -> None:
        names = [RETURN] + sorted({k for r in runs for k in r.metrics})
        current = [self.metric_box.itemText(i) for i in range(self.metric_box.count())]
        if names != current:
            chosen = self.metric_box.currentText()
            self.metric_box.blockSignals(True)
            self.metric_box.clear()
            self.metric_box.addItems(names)
            self.metric_box.setCurrentText(chosen if chosen in names else RETURN)
            self.metric_box.blockSignals(False)

    def _show_diff(self, runs: list[RunSeries]) -> None:
        diff = settings_diff(runs) if len(runs) > 1 else {}
        self.diff = diff
        self.diff_table.setColumnCount(len(runs))
        self.diff_table.setHorizontalHeaderLabels([r.name for r in runs])
        self.diff_table.setRowCount(len(diff))
        self.diff_table.setVerticalHeaderLabels(list(diff))
        for row, values in enumerate(diff.values()):
            for col, value in enumerate(values):
                self.diff_table.setItem(row, col, QTableWidgetItem(value))

    def curve_keys(self) -> set[tuple[str, str]]:
        return set(self.curves)

    def legend_names(self) -> list[str]:
        return [label.text for _sample, label in self.legend.items]

    # -- click-through ---------------------------------------------------------------------------
    def _clicked(self, event) -> None:
        at = left_click_in_view(self.plot, event) if self.metric_box.currentText() == RETURN else None
        pick = self.pick_at(*at) if at is not None else None
        if pick is not None:
            self.episode_clicked.emit(pick)

    def pick_at(self, x: float, y: float) -> EpisodePick | None:
        """The episode whose point on a drawn return curve is nearest to (x, y) in view coordinates, within
        CLICK_PIXELS on screen; per-level curves first (their points are single levels' episodes)."""
        px, py = self.plot.getPlotItem().vb.viewPixelSize()
        best = (float("inf"), None, -1)
        for key, (xs, ys, idx) in self._points.items():
            i, dist = nearest(xs, ys, x, y, px, py)
            dist += 0.5 if key[1] == OVERALL else 0.0  # a tie goes to the level curve
            if dist < best[0]:
                best = (dist, key, int(idx[i]))
        dist, key, i = best
        if key is None or dist > CLICK_PIXELS:
            return None
        run = next(r for r in self.series.values() if r.name == key[0])
        return EpisodePick(run.run_dir, str(run.ep_level[i]), int(run.ep_step[i]), float(run.ep_return[i]),
                           run.ep_movie[i])

    # -- export ----------------------------------------------------------------------------------
    def _ask_export(self, kind: str) -> None:
        filters = {"png": "PNG image (*.png)", "svg": "SVG image (*.svg)", "csv": "CSV (*.csv)"}
        path, _ = QFileDialog.getSaveFileName(self, f"Export {kind.upper()}", f"compare.{kind}", filters[kind])
        if path:
            self.export(Path(path))

    def export(self, path: Path) -> Path:
        """Write the plot (.png / .svg) or the plotted data (.csv) to `path`."""
        import pyqtgraph.exporters as exporters

        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".csv":
            return write_csv(path, series_rows(self.data, self.x_axis.currentData(), self.metric_box.currentText()))
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{suffix}")  # written whole, then renamed
        if suffix == ".svg":
            # Qt's own SVG painter: pyqtgraph's SVGExporter fails on the paths Qt 6 writes
            from PySide6.QtCore import QRect, QSize
            from PySide6.QtGui import QPainter
            from PySide6.QtSvg import QSvgGenerator

            generator = QSvgGenerator()
            generator.setFileName(str(tmp))
            size = QSize(max(1, self.plot.width()), max(1, self.plot.height()))
            generator.setSize(size)
            generator.setViewBox(QRect(0, 0, size.width(), size.height()))
            generator.setTitle("Retro Workbench: compare runs")
            painter = QPainter(generator)
            self.plot.render(painter)
            painter.end()
        else:
            exporter = exporters.ImageExporter(self.plot.getPlotItem())
            exporter.parameters()["width"] = max(800, int(self.plot.width()))
            exporter.export(str(tmp))
        os.replace(tmp, path)
        return path

    def shutdown(self) -> None:
        self._timer.stop()
