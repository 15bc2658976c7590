"""Transfer learning curves, plain Python (no Qt): per test level and mode, the return over the fine-tuning
budget as mean ± 95% confidence band across seeds, the zero-shot level as a line, and the score table with
intervals.

Read from `<run>/transfer/`: `episodes.csv` (columns level, mode, seed, index, global_step, return, length;
extra columns are ignored, a missing seed counts as seed 0) once the protocol has finished, else the
`jobs/*.json` written as each job finishes (so curves grow while a transfer runs). Any mode is read — a `jerk`
mode is drawn like the others; unknown modes keep their name."""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODE_LABELS = {"finetune": "fine-tuned", "scratch": "scratch", "zeroshot": "zero-shot", "jerk": "JERK"}
MODE_COLORS = {"finetune": "#6fa8ff", "scratch": "#9aa4b5", "zeroshot": "#f29e4c", "jerk": "#7ed491"}
LINE_MODES = ("zeroshot",)
"""Modes that do not learn: drawn as a level line (their mean over the budget), not as a curve."""
GRID_POINTS = 60
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042]


def t975(df: int) -> float:
    """Two-sided 95% Student-t quantile for `df` degrees of freedom."""
    return _T975[df - 1] if 1 <= df <= len(_T975) else 1.96


def mean_ci(values) -> tuple[float, float, float]:
    """(mean, low, high) of a 95% t-interval; one value gives a zero-width interval, none gives NaNs."""
    v = np.asarray([x for x in values if not math.isnan(x)], float)
    if len(v) == 0:
        return (math.nan,) * 3
    m = float(v.mean())
    if len(v) == 1:
        return m, m, m
    half = t975(len(v) - 1) * float(v.std(ddof=1)) / math.sqrt(len(v))
    return m, m - half, m + half


@dataclass
class Episode:
    level: str
    mode: str
    seed: int
    global_step: int
    ret: float


def mode_label(mode: str) -> str:
    return MODE_LABELS.get(mode, mode)


def read_transfer(folder: Path) -> list[Episode]:
    """The counted episodes in `folder` (a run's transfer/): episodes.csv when it is at least as new as every
    job file, else the job files. Unreadable rows and files are skipped (a job being written is read later)."""
    folder = Path(folder)
    table = folder / "episodes.csv"
    jobs = sorted((folder / "jobs").glob("*.json")) if (folder / "jobs").is_dir() else []
    newest_job = max((p.stat().st_mtime_ns for p in jobs), default=0)
    if table.is_file() and table.stat().st_mtime_ns >= newest_job:
        return _from_csv(table)
    episodes = []
    for path in jobs:
        episodes.extend(_from_job(path))
    return episodes


def _from_csv(path: Path) -> list[Episode]:
    out = []
    try:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                try:
                    out.append(Episode(row["level"], row["mode"], int(float(row.get("seed") or 0)),
                                       int(float(row["global_step"])), float(row["return"])))
                except (KeyError, TypeError, ValueError):
                    continue
    except (OSError, csv.Error, UnicodeDecodeError):
        return []
    return out


def _from_job(path: Path) -> list[Episode]:
    try:
        data = json.loads(path.read_text())
        level, seed = str(data["level"]), int(data.get("seed", 0))
        out = []
        for mode, res in dict(data["modes"]).items():
            for ret, step in zip(res.get("returns", []), res.get("steps", [])):
                out.append(Episode(level, str(mode), seed, int(step), float(ret)))
        return out
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []


def finished_jobs(folder: Path) -> set[tuple[str, int]]:
    """(level, seed) of every job file in `folder`/jobs that can be read."""
    done = set()
    for path in sorted((Path(folder) / "jobs").glob("*.json")):
        try:
            data = json.loads(path.read_text())
            done.add((str(data["level"]), int(data.get("seed", 0))))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return done


@dataclass
class ModeCurve:
    level: str
    mode: str
    x: np.ndarray
    """Agent steps into the budget."""
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    seeds: int
    score: tuple[float, float, float]
    """Level score (mean over seeds of each seed's mean counted return) with its 95% interval."""
    episodes: int

    @property
    def is_line(self) -> bool:
        return self.mode in LINE_MODES


def _seed_curve(steps: np.ndarray, rets: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """One seed's learning curve on `grid`: trailing mean of the last ~10% of its episodes finished by x
    (NaN before its first episode)."""
    order = np.argsort(steps, kind="stable")
    steps, rets = steps[order], rets[order]
    window = max(1, len(rets) // 10)
    csum = np.insert(np.cumsum(rets), 0, 0.0)
    n = np.searchsorted(steps, grid, side="right")  # episodes finished by each grid point
    lo = np.maximum(n - window, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (csum[n] - csum[lo]) / np.maximum(n - lo, 1), np.nan)


def learning_curves(episodes: list[Episode], budget: int | None = None) -> dict[str, dict[str, ModeCurve]]:
    """{level: {mode: ModeCurve}} in the order levels and modes first appear."""
    levels = list(dict.fromkeys(e.level for e in episodes))
    top = budget or max((e.global_step for e in episodes), default=1)
    grid = np.linspace(0, max(top, 1), GRID_POINTS)
    out: dict[str, dict[str, ModeCurve]] = {}
    for level in levels:
        mine = [e for e in episodes if e.level == level]
        out[level] = {}
        for mode in dict.fromkeys(e.mode for e in mine):
            by_seed: dict[int, list[Episode]] = {}
            for e in mine:
                if e.mode == mode:
                    by_seed.setdefault(e.seed, []).append(e)
            scores = [float(np.mean([e.ret for e in eps])) for eps in by_seed.values()]
            score = mean_ci(scores)
            if mode in LINE_MODES:
                mean = np.full(len(grid), score[0])
                low, high = np.full(len(grid), score[1]), np.full(len(grid), score[2])
            else:
                rows = np.array([_seed_curve(np.array([e.global_step for e in eps], float),
                                             np.array([e.ret for e in eps], float), grid)
                                 for eps in by_seed.values()])
                mean, low, high = _band(rows)
            out[level][mode] = ModeCurve(level, mode, grid, mean, low, high, len(by_seed), score,
                                         sum(len(v) for v in by_seed.values()))
    return out


def _band(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per grid point: mean over the seeds that have a value there, and its 95% t-interval."""
    mean, low, high = (np.full(rows.shape[1], np.nan) for _ in range(3))
    for j in range(rows.shape[1]):
        mean[j], low[j], high[j] = mean_ci(rows[:, j])
    return mean, low, high


def score_table(curves: dict[str, dict[str, ModeCurve]]) -> tuple[list[str], list[list[str]]]:
    """(header, rows): per level, each mode's score as 'mean [low, high]' with seeds, and the gain
    fine-tuned / scratch; a last 'mean' row averages the level scores."""
    modes = list(dict.fromkeys(m for per in curves.values() for m in per))
    header = ["level"] + [mode_label(m) for m in modes] + ["gain", "seeds"]
    rows = []
    for level, per in curves.items():
        cells = [level]
        for m in modes:
            c = per.get(m)
            cells.append(_interval(c.score) if c is not None else "")
        cells.append(_gain(per))
        cells.append(str(max((c.seeds for c in per.values()), default=0)))
        rows.append(cells)
    if len(curves) > 1:
        cells = ["mean"]
        for m in modes:
            means = [per[m].score[0] for per in curves.values() if m in per]
            cells.append(_fmt(float(np.nanmean(means))) if means else "")
        cells += ["", ""]
        rows.append(cells)
    return header, rows


def _gain(per: dict[str, ModeCurve]) -> str:
    if "finetune" not in per or "scratch" not in per or not per["scratch"].score[0]:
        return ""
    return f"{per['finetune'].score[0] / per['scratch'].score[0]:.2f}"


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.1f}"


def _interval(score: tuple[float, float, float]) -> str:
    m, lo, hi = score
    return _fmt(m) if math.isnan(lo) or lo == hi else f"{_fmt(m)} [{_fmt(lo)}, {_fmt(hi)}]"
