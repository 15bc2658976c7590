"""Transfer results of a run: a per-test-level table and a grouped bar chart (fine-tuned, scratch, zero-shot)
read from `<run>/transfer/results.csv`."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QSplitter, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)
from PySide6.QtCore import Qt

SERIES = (("fine", "fine-tuned", "#6fa8ff"), ("scratch", "scratch", "#9aa4b5"), ("zero", "zero-shot", "#f29e4c"))


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
    """The score column of a series: e.g. 'finetune_score' or 'fine_tuned' for 'fine'; prefers *score/*mean."""
    matches = [c for c in columns if key in c.lower().replace("-", "_") and "std" not in c.lower()]
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
        self.message = QLabel("No transfer results for this run yet (workbench transfer PRESET --from RUN).")
        self.message.setObjectName("dim")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        splitter = QSplitter(Qt.Horizontal)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        splitter.addWidget(self.table)
        self.chart = pg.PlotWidget(background="#15171c")
        self.chart.getPlotItem().showGrid(y=True, alpha=0.15)
        self.legend = self.chart.getPlotItem().addLegend(offset=(10, 10))
        splitter.addWidget(self.chart)
        layout.addWidget(splitter, 1)
        self.bar_items: dict[str, pg.BarGraphItem] = {}
        self.levels: list[str] = []

    def load_run(self, run_dir: Path | None) -> bool:
        path = Path(run_dir) / "transfer" / "results.csv" if run_dir else None
        if path is None or not path.exists():
            self._clear("No transfer results for this run yet (workbench transfer PRESET --from RUN).")
            return False
        try:
            columns, rows = read_results(path)
        except ValueError as exc:
            self._clear(str(exc))
            return False
        self.show_results(columns, rows, path)
        return True

    def _clear(self, text: str) -> None:
        self.message.setText(text)
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        for item in self.bar_items.values():
            self.chart.removeItem(item)
        self.bar_items.clear()
        self.legend.clear()
        self.levels = []

    def show_results(self, columns: list[str], rows: list[dict[str, str]], path: Path) -> None:
        self._clear(f"{path}")
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
