"""The data of the compare view, plain Python (no Qt): each run's episodes and updates as numpy arrays (x as
agent steps or wall time), its settings flattened to dotted keys, the keys whose values differ between runs,
and the plotted series as CSV rows."""
from __future__ import annotations

import csv
import io
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workbench.core.paths import atomic_write_text

X_AXES = {"steps": "agent steps", "wall": "wall time (s)"}
RETURN = "return"


@dataclass
class RunSeries:
    name: str
    run_dir: Path
    ep_step: np.ndarray
    ep_wall: np.ndarray
    """Seconds since the run's first logged row."""
    ep_level: np.ndarray
    """(n,) object array of `Game-v0:State`."""
    ep_return: np.ndarray
    ep_movie: list
    """Movie path relative to the run folder, or None (not recorded)."""
    up_step: np.ndarray
    up_wall: np.ndarray
    metrics: dict[str, np.ndarray] = field(default_factory=dict)
    """Update metric -> (n_updates,) values (NaN where an update lacks it)."""
    settings: dict[str, str] = field(default_factory=dict)

    def levels(self) -> list[str]:
        return list(self.by_level("steps")[1])

    def by_level(self, axis: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(episode order along `axis`, {level: its episodes' indices in that order}); computed once per axis
        (a redraw only smooths and draws)."""
        cache = self.__dict__.setdefault("_by_level", {})
        if axis not in cache:
            order = np.argsort(self.x(axis), kind="stable")
            codes, names = _codes(self.ep_level[order])
            cache[axis] = (order, {name: order[codes == k] for k, name in enumerate(names)})
        return cache[axis]

    def x(self, axis: str, of: str = "episodes") -> np.ndarray:
        if of == "episodes":
            return self.ep_step if axis == "steps" else self.ep_wall
        return self.up_step if axis == "steps" else self.up_wall


def _codes(levels: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Integer code per entry and the sorted distinct names."""
    names = sorted(set(levels.tolist()))
    lookup = {name: k for k, name in enumerate(names)}
    return np.fromiter((lookup[v] for v in levels), np.int64, len(levels)), names


def load_run_series(run_dir: Path | str) -> RunSeries:
    """Read a run folder's metrics.sqlite and config.toml (what exists; a run just created gives empty arrays)."""
    from workbench.engine.run_store import RunStore

    run_dir = Path(run_dir)
    store = RunStore(run_dir)
    episodes, updates = store.episodes(), store.updates()
    walls = [r["wall_time"] for r in episodes] + [r["wall_time"] for r in updates]
    t0 = min(walls) if walls else 0.0
    n = len(episodes)
    series = RunSeries(
        name=run_dir.name, run_dir=run_dir,
        ep_step=np.fromiter((r["global_step"] for r in episodes), float, n),
        ep_wall=np.fromiter((r["wall_time"] - t0 for r in episodes), float, n),
        ep_level=np.array([str(r["level"]) for r in episodes], dtype=object),
        ep_return=np.fromiter((r["episode_return"] for r in episodes), float, n),
        ep_movie=[r.get("movie_path") for r in episodes],
        up_step=np.fromiter((r["global_step"] for r in updates), float, len(updates)),
        up_wall=np.fromiter((r["wall_time"] - t0 for r in updates), float, len(updates)),
    )
    keys = sorted({k for r in updates for k, v in r.items() if k not in ("update", "global_step", "wall_time")
                   and isinstance(v, (int, float))})
    series.metrics = {k: np.array([float(r.get(k, np.nan)) for r in updates]) for k in keys}
    series.settings = read_settings(run_dir / "config.toml")
    return series


def read_settings(path: Path) -> dict[str, str]:
    """A run's config.toml as {'ppo.learning_rate': '0.00025', 'levels.train': '[...]', ...}; {} if unreadable."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}
    flat: dict[str, str] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            flat[prefix] = repr(value) if isinstance(value, str) else str(value)

    walk("", data)
    return flat


MISSING = "—"


def settings_diff(runs: list[RunSeries]) -> dict[str, list[str]]:
    """{key: [value in run 1, run 2, ...]} for exactly the keys whose values are not all equal (a key a run lacks
    shows as '—'), in key order."""
    keys = sorted({k for r in runs for k in r.settings})
    diff = {}
    for key in keys:
        values = [r.settings.get(key, MISSING) for r in runs]
        if len(set(values)) > 1:
            diff[key] = values
    return diff


def smoothed(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over `window` points (shorter at the start); NaNs count as gaps."""
    values = np.asarray(values, float)
    if len(values) == 0 or window <= 1:
        return values
    window = min(window, len(values))
    ok = ~np.isnan(values)
    csum = np.cumsum(np.where(ok, values, 0.0))
    ccount = np.cumsum(ok)
    csum = np.insert(csum, 0, 0.0)
    ccount = np.insert(ccount, 0, 0)
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    count = ccount[idx] - ccount[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (csum[idx] - csum[lo]) / np.maximum(count, 1), np.nan)


def series_rows(curves: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]], x_label: str,
                y_label: str) -> str:
    """CSV text of plotted curves: run, level (or 'all'), x, raw value, smoothed value."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["run", "level", x_label, y_label, f"{y_label}_smoothed"])
    for (run, level), (x, raw, smooth) in curves.items():
        for a, b, c in zip(x.tolist(), raw.tolist(), smooth.tolist()):
            writer.writerow([run, level, a, b, c])
    return buf.getvalue()


def write_csv(path: Path, text: str) -> Path:
    atomic_write_text(Path(path), text)
    return Path(path)


@dataclass
class EpisodePick:
    """An episode a click on a return curve picked."""

    run_dir: Path
    level: str
    global_step: int
    episode_return: float
    movie: str | None
    """Relative to the run folder; None when the episode was not recorded."""

    @property
    def movie_path(self) -> Path | None:
        return self.run_dir / self.movie if self.movie else None


def nearest(xs: np.ndarray, ys: np.ndarray, x: float, y: float, px: float, py: float) -> tuple[int, float]:
    """(index, distance in pixels) of the point of (xs, ys) nearest to (x, y), with px/py data units per pixel."""
    if len(xs) == 0:
        return -1, float("inf")
    d = ((xs - x) / max(px, 1e-12)) ** 2 + ((ys - y) / max(py, 1e-12)) ** 2
    d = np.where(np.isnan(d), np.inf, d)
    i = int(np.argmin(d))
    return i, float(np.sqrt(d[i]))
