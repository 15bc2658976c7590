"""Transfer of the selected joint run, the seed's central figure: per test level the return over the
fine-tuning budget for each mode (fine-tuned, scratch, JERK when present: mean with its 95% band across seeds),
the zero-shot level as a line, and the scores with their intervals; the raw `results.csv` table and bar chart
on their own tab.

"Start transfer" runs `workbench transfer` on the run's own preset (with the budget, seeds and parallel jobs
chosen here) in a background process — the window never trains — shows each job's state and can cancel. The
curves redraw as job files appear (a second's stat() poll: files are replaced atomically)."""
from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton,
                               QSpinBox, QSplitter, QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout,
                               QWidget)

from workbench.ui.cli_process import CliProcess
from workbench.ui.transfer_curves import (MODE_COLORS, finished_jobs, learning_curves, mode_label,
                                          read_transfer, score_table)

SERIES = (("fine", "fine-tuned", "#6fa8ff"), ("scratch", "scratch", "#9aa4b5"), ("zero", "zero-shot", "#f29e4c"),
          ("jerk", "JERK", "#7ed491"))
POLL_MS = 1000
WINDOW_PRESET = "window-preset.toml"
"""The preset a transfer started from the window ran with (the run's own, with the chosen seeds)."""
EMPTY_TEXT = "No transfer results for this run yet: press Start transfer (or run workbench transfer PRESET --from RUN)."


def read_results(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """(column names, rows) of a results.csv; raises ValueError naming the file when it is not a table."""
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            columns = list(reader.fieldnames or [])
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read transfer results ({exc}); run `workbench transfer` again") from exc
    if not columns:
        raise ValueError(f"{path}: empty transfer results; run `workbench transfer` again")
    return columns, rows


def _score_column(columns: list[str], key: str) -> str | None:
    """The score column of a series: e.g. 'finetune_score' or 'fine_tuned' for 'fine'; prefers *score/*mean;
    never an interval, spread or count column."""
    skip = ("std", "ci", "low", "high", "lo", "hi", "episodes", "seeds", "err")
    matches = [c for c in columns if key in c.lower().replace("-", "_")
               and not any(part in skip for part in c.lower().replace("-", "_").split("_"))]
    for preferred in ("score", "mean"):
        for c in matches:
            if preferred in c.lower():
                return c
    return matches[0] if matches else None


def _number(text) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


class TransferView(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        bar = QHBoxLayout()
        self.message = QLabel(EMPTY_TEXT)
        self.message.setObjectName("dim")
        self.message.setWordWrap(True)
        bar.addWidget(self.message, 1)
        self.budget = QSpinBox()
        self.budget.setRange(1, 100_000_000)
        self.budget.setSingleStep(10_000)
        self.budget.setValue(1_000_000)
        self.budget.setPrefix("budget ")
        self.budget.setToolTip("Agent steps each test level is fine-tuned (and trained from scratch) for")
        self.seeds = QSpinBox()
        self.seeds.setRange(1, 30)
        self.seeds.setSuffix(" seeds")
        self.seeds.setToolTip("Seeds 0..N-1 per test level: the band is the 95% interval across them")
        self.jobs = QSpinBox()
        self.jobs.setRange(0, 64)
        self.jobs.setPrefix("jobs ")
        self.jobs.setToolTip("Per-level jobs at once (0 = one per CPU core)")
        self.start_button = QPushButton("Start transfer")
        self.start_button.setToolTip("Fine-tune, train from scratch and play zero-shot on the run's test levels "
                                     "(workbench transfer) in a background process")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.start_button.setEnabled(False)
        for w in (self.budget, self.seeds, self.jobs, self.start_button, self.cancel_button):
            bar.addWidget(w)
        layout.addLayout(bar)
        progress_row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m jobs")
        self.progress.hide()
        self.progress_label = QLabel("")
        self.progress_label.setObjectName("dim")
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.progress_label)
        layout.addLayout(progress_row)

        self.tabs = QTabWidget()
        # curves and the score table with intervals
        self.curves_widget = pg.GraphicsLayoutWidget()
        self.curves_widget.setBackground("#15171c")
        self.scores = QTableWidget(0, 0)
        self.scores.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.scores.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.job_table = QTableWidget(0, 3)
        self.job_table.setHorizontalHeaderLabels(["level", "seed", "job"])
        self.job_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.job_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.job_table.hide()
        lower = QSplitter(Qt.Horizontal)
        lower.addWidget(self.scores)
        lower.addWidget(self.job_table)
        figure = QSplitter(Qt.Vertical)
        figure.addWidget(self.curves_widget)
        figure.addWidget(lower)
        figure.setSizes([420, 160])
        self.tabs.addTab(figure, "Curves")
        # the results.csv table and bars
        splitter = QSplitter(Qt.Horizontal)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        splitter.addWidget(self.table)
        self.chart = pg.PlotWidget(background="#15171c")
        self.chart.getPlotItem().showGrid(y=True, alpha=0.15)
        self.legend = self.chart.getPlotItem().addLegend(offset=(10, 10))
        splitter.addWidget(self.chart)
        self.tabs.addTab(splitter, "results.csv")
        layout.addWidget(self.tabs, 1)

        self.bar_items: dict[str, pg.BarGraphItem] = {}
        self.levels: list[str] = []
        self.run_dir: Path | None = None
        self.curves: dict = {}
        """{level: {mode: transfer_curves.ModeCurve}} on screen."""
        self.level_plots: dict[str, pg.PlotItem] = {}
        self.mode_items: dict[tuple[str, str], tuple[pg.PlotDataItem, pg.FillBetweenItem | None]] = {}
        self._stamp = None
        self._process: CliProcess | None = None
        """The transfer started here while it runs."""
        self._ended: CliProcess | None = None
        """The last one that ended, kept until the next starts (never deleted from inside its own signal)."""
        self._job_list: list[tuple[str, int]] = []
        self._parallel = 1
        self._started_at = 0.0
        self._process_run: Path | None = None
        self.last_exit_code: int | None = None
        self._cancelled = False
        self.start_button.clicked.connect(self.start_transfer)
        self.cancel_button.clicked.connect(self.cancel)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()

    # -- the run ---------------------------------------------------------------------------------
    @property
    def folder(self) -> Path | None:
        return self.run_dir / "transfer" if self.run_dir is not None else None

    def load_run(self, run_dir: Path | None) -> bool:
        """Show the transfer of `run_dir` (None: no run); True when it has a readable results.csv."""
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self._stamp = None
        self._preset_defaults()
        self.start_button.setEnabled(self.run_dir is not None and not self.running)
        self.refresh(force=True)
        return self._load_results()

    def _preset_defaults(self) -> None:
        if self.run_dir is None or not (self.run_dir / "config.toml").is_file():
            return
        try:
            from workbench.core.presets import load_preset

            preset = load_preset(self.run_dir / "config.toml")
        except Exception:  # noqa: BLE001 - the Start button reports an unreadable preset
            return
        self.budget.setValue(max(1, int(preset.transfer.budget_steps)))
        self.seeds.setValue(max(1, len(preset.transfer.seeds)))
        self.jobs.setValue(max(0, int(preset.transfer.parallel_jobs)))

    def _load_results(self) -> bool:
        path = self.folder / "results.csv" if self.folder is not None else None
        if path is None or not path.exists():
            self._clear_results()
            if not self.curves:
                self.message.setText(EMPTY_TEXT if self.run_dir is not None else "Select a run.")
            return False
        try:
            columns, rows = read_results(path)
        except ValueError as exc:
            self._clear_results()
            self.message.setText(str(exc))
            return False
        self.show_results(columns, rows, path)
        return True

    def _clear_results(self) -> None:
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        for item in self.bar_items.values():
            self.chart.removeItem(item)
        self.bar_items.clear()
        self.legend.clear()
        self.levels = []

    def show_results(self, columns: list[str], rows: list[dict[str, str]], path: Path) -> None:
        self._clear_results()
        if not self.curves:
            self.message.setText(f"{path}")
        self.table.setColumnCount(len(columns))
        self.table.setHorizontalHeaderLabels(columns)
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, name in enumerate(columns):
                self.table.setItem(r, c, QTableWidgetItem(str(row.get(name, ""))))
        level_col = next((c for c in columns if "level" in c.lower()), columns[0])
        self.levels = [row.get(level_col, "") for row in rows]
        x = np.arange(len(rows), dtype=float)
        found = [(key, label, color, _score_column(columns, key)) for key, label, color in SERIES]
        found = [f for f in found if f[3] is not None]
        width = 0.8 / max(1, len(found))
        for i, (key, label, color, column) in enumerate(found):
            heights = np.array([_number(row.get(column)) for row in rows])
            item = pg.BarGraphItem(x=x - 0.4 + width * (i + 0.5), height=np.nan_to_num(heights), width=width,
                                   brush=color, name=label)
            self.chart.addItem(item)
            self.legend.addItem(item, label)
            self.bar_items[key] = item
        axis = self.chart.getPlotItem().getAxis("bottom")
        axis.setTicks([[(i, level.split(":")[-1] or level) for i, level in enumerate(self.levels)]])

    # -- curves ----------------------------------------------------------------------------------
    def _files_stamp(self):
        folder = self.folder
        if folder is None:
            return None
        files = [folder / "episodes.csv", folder / "results.csv"]
        if (folder / "jobs").is_dir():
            files += sorted((folder / "jobs").glob("*.json"))
        return tuple((p.name, p.stat().st_mtime_ns) for p in files if p.exists())

    def refresh(self, force: bool = False) -> None:
        """Redraw when the transfer files changed (the timer calls this); update a running transfer's jobs."""
        if self.running:
            self._show_jobs()
        stamp = self._files_stamp()
        if stamp == self._stamp and not force:
            return
        self._stamp = stamp
        episodes = read_transfer(self.folder) if self.folder is not None else []
        budget = self.budget.value() if self.running else None
        self.show_curves(learning_curves(episodes, budget))
        if not force:
            self._load_results()

    def show_curves(self, curves: dict) -> None:
        self.curves = curves
        self.curves_widget.clear()
        self.level_plots.clear()
        self.mode_items.clear()
        cols = min(3, max(1, len(curves)))
        for i, (level, per) in enumerate(curves.items()):
            plot = self.curves_widget.addPlot(row=i // cols, col=i % cols)
            plot.setTitle(level.split(":")[-1] if ":" in level else level, size="9pt", color="#aab2c0")
            plot.showGrid(x=True, y=True, alpha=0.15)
            plot.setLabel("bottom", "agent steps")
            if i % cols == 0:
                plot.setLabel("left", "return")
            legend = plot.addLegend(offset=(6, 6), labelTextSize="8pt") if i == 0 else None
            for mode, curve in per.items():
                color = MODE_COLORS.get(mode, "#d0d6e0")
                band = None
                ok = np.isfinite(curve.low) & np.isfinite(curve.high)  # NaN only before a seed's first episode
                if ok.sum() > 1 and np.max(curve.high[ok] - curve.low[ok]) > 0:
                    # bare curve items, not added to the plot: only their paths bound the fill (a PlotDataItem
                    # without a pen makes no path at all)
                    low = pg.PlotCurveItem(curve.x[ok], curve.low[ok])
                    high = pg.PlotCurveItem(curve.x[ok], curve.high[ok])
                    band = pg.FillBetweenItem(low, high, brush=pg.mkBrush(pg.mkColor(color).red(),
                                              pg.mkColor(color).green(), pg.mkColor(color).blue(), 60))
                    plot.addItem(band)
                pen = pg.mkPen(color, width=2, style=Qt.DashLine if curve.is_line else Qt.SolidLine)
                name = f"{mode_label(mode)} ({curve.seeds} seed{'s' if curve.seeds != 1 else ''})"
                line = plot.plot(curve.x, np.where(np.isfinite(curve.mean), curve.mean, np.nan), pen=pen,
                                 name=name if legend is not None else None, connect="finite")
                self.mode_items[(level, mode)] = (line, band)
            self.level_plots[level] = plot
        header, rows = score_table(curves)
        self.scores.setColumnCount(len(header))
        self.scores.setHorizontalHeaderLabels(header)
        self.scores.setRowCount(len(rows))
        for r, cells in enumerate(rows):
            for c, text in enumerate(cells):
                self.scores.setItem(r, c, QTableWidgetItem(text))
        if curves and not self.running:
            seeds = max(c.seeds for per in curves.values() for c in per.values())
            self.message.setText(f"{len(curves)} test levels, {seeds} seed(s): mean return with its 95% band "
                                 "across seeds; zero-shot dashed. Scores = mean return of the episodes inside the "
                                 "budget [95% interval].")

    # -- background transfer ---------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._process is not None

    def start_transfer(self) -> bool:
        """Run `workbench transfer` for the shown run; False (and a message) when it cannot start."""
        if self.run_dir is None or self.running:
            return False
        from workbench.core.presets import PresetError, load_preset, save_preset

        try:
            preset = load_preset(self.run_dir / "config.toml")
        except (PresetError, OSError) as exc:
            self.message.setText(f"Cannot start transfer: {exc}")
            return False
        if not preset.levels.test:
            self.message.setText(f"Cannot start transfer: {self.run_dir / 'config.toml'} has no test levels; "
                                 "train a run whose preset lists test levels")
            return False
        preset.transfer.seeds = list(range(self.seeds.value()))
        folder = self.folder
        self._archive_previous(folder)
        file = save_preset(preset, folder / WINDOW_PRESET, overwrite=True)
        self._job_list = [(str(lv), s) for lv in preset.levels.test for s in preset.transfer.seeds]
        cores = os.cpu_count() or 1
        self._parallel = max(1, min(self.jobs.value() or cores, len(self._job_list)))
        process = CliProcess(["transfer", str(file), "--from", str(self.run_dir), "--budget",
                              str(self.budget.value()), "--jobs", str(self.jobs.value())], self)
        process.finished.connect(self._finished)
        self._process, self._process_run = process, self.run_dir
        self._started_at = time.monotonic()
        self.last_exit_code = None
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, len(self._job_list))
        self.progress.setValue(0)
        self.progress.show()
        self.job_table.show()
        self.message.setText(f"Transfer running: {len(preset.levels.test)} test levels × {self.seeds.value()} "
                             f"seeds, budget {self.budget.value():,} steps")
        process.start()
        self._show_jobs()
        self.refresh(force=True)
        return True

    @staticmethod
    def _archive_previous(folder: Path) -> None:
        """Move an earlier transfer's files into transfer/previous-<time>/ (kept, and not mixed with the new)."""
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            return
        old = [p for p in folder.iterdir() if not p.name.startswith("previous-") and p.name != WINDOW_PRESET]
        if not old:
            return
        target = folder / f"previous-{time.strftime('%Y%m%d-%H%M%S')}"
        n = 1
        while target.exists():
            n += 1
            target = folder / f"previous-{time.strftime('%Y%m%d-%H%M%S')}-{n}"
        target.mkdir()
        for path in old:
            path.rename(target / path.name)

    def job_states(self) -> list[tuple[str, int, str]]:
        """(level, seed, 'done' | 'running' | 'queued') of the transfer started here, in submission order
        (the pool runs them in that order, `jobs` at a time)."""
        done = finished_jobs(self.folder) if self.folder is not None else set()
        states, running = [], 0
        for level, seed in self._job_list:
            if (level, seed) in done:
                states.append((level, seed, "done"))
            elif running < self._parallel and self.running:
                states.append((level, seed, "running"))
                running += 1
            else:
                states.append((level, seed, "queued" if self.running else "not run"))
        return states

    def _show_jobs(self) -> None:
        states = self.job_states()
        self.job_table.setRowCount(len(states))
        for r, (level, seed, state) in enumerate(states):
            for c, text in enumerate((level, str(seed), state)):
                self.job_table.setItem(r, c, QTableWidgetItem(text))
        done = sum(1 for s in states if s[2] == "done")
        self.progress.setValue(done)
        if self.running:
            self.progress_label.setText(f"{time.monotonic() - self._started_at:.0f} s")

    def _finished(self, code: int) -> None:
        run_dir = self._process_run
        self._process, self._ended = None, self._process
        self.last_exit_code = code
        self.cancel_button.setEnabled(False)
        self.start_button.setEnabled(self.run_dir is not None)
        if run_dir != self.run_dir:
            return
        self._show_jobs()
        self.progress_label.setText(f"{time.monotonic() - self._started_at:.0f} s")
        self.refresh(force=True)
        self._load_results()
        if self._cancelled:
            self._cancelled = False
            self.message.setText("Transfer cancelled; finished jobs are kept in transfer/jobs/.")
        elif code != 0:  # the CLI's last line names the file and the fix
            lines = [line for line in self.output().splitlines() if line.strip()]
            self.message.setText(f"Transfer failed: {lines[-1] if lines else f'exit code {code}'}")

    def cancel(self) -> None:
        """Stop a transfer started here: its job processes, then the transfer process."""
        process = self._process
        if process is None or not process.pid():
            return
        self._cancelled = True
        process.kill_tree()

    def output(self) -> str:
        process = self._process or self._ended
        return process.output if process is not None else ""

    def shutdown(self) -> None:
        self._timer.stop()
        self.cancel()
