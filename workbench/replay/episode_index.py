"""The run's index of recorded episodes: a `recorded_episodes` table in the run's metrics.sqlite.

The trainer's own `episodes` table (run_store) logs every episode's return; this table lists only episodes
that have a movie to replay, with where their files are, so the viewer can sort them by return, filter by level
and pick the best / worst / latest without opening files. The sidecars are the truth: `rebuild_index` recreates
the table from them.
"""
from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from workbench.replay.errors import ReplayError
from workbench.replay.sidecar import EpisodeMeta, read_sidecar, sidecar_path

DB_NAME = "metrics.sqlite"
TABLE = "recorded_episodes"
Order = Literal["latest", "best", "worst", "oldest"]
_ORDER_SQL = {
    "latest": "global_step DESC, id DESC",
    "oldest": "global_step ASC, id ASC",
    "best": "episode_return DESC, id DESC",
    "worst": "episode_return ASC, id DESC",
}

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    movie TEXT NOT NULL UNIQUE,
    level TEXT NOT NULL,
    episode_return REAL NOT NULL,
    length INTEGER NOT NULL,
    truncated INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    env_index INTEGER NOT NULL,
    global_step INTEGER NOT NULL,
    recorded_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS {TABLE}_level ON {TABLE}(level);
CREATE INDEX IF NOT EXISTS {TABLE}_return ON {TABLE}(episode_return);
"""


@dataclass
class EpisodeEntry:
    """One row of the index; `movie_path` is absolute."""

    id: int
    movie_path: Path
    level: str
    episode_return: float
    length: int
    truncated: bool
    seed: int
    env_index: int
    global_step: int
    recorded_at: float

    @property
    def sidecar_path(self) -> Path:
        return sidecar_path(self.movie_path)


def _connect(run_dir: Path) -> sqlite3.Connection:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    # the trainer's run store writes the same file from the same process; wait for its locks
    con = sqlite3.connect(run_dir / DB_NAME, timeout=30)
    con.executescript(_SCHEMA)
    return con


def add_episode(run_dir: Path, meta: EpisodeMeta) -> None:
    """Index one recorded episode (its movie path relative to the run directory); re-adding replaces."""
    if not meta.movie:
        raise ValueError("only episodes with a movie are indexed")
    con = _connect(run_dir)
    try:
        with con:
            con.execute(
                f"INSERT OR REPLACE INTO {TABLE} (movie, level, episode_return, length, truncated, seed, "
                "env_index, global_step, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (meta.movie, meta.level, float(meta.episode_return), int(meta.length), int(meta.truncated),
                 int(meta.seed), int(meta.env_index), int(meta.global_step), time.time()),
            )
    finally:
        con.close()


def list_episodes(run_dir: Path, level: str | None = None, order: Order = "latest",
                  limit: int | None = None) -> list[EpisodeEntry]:
    """Recorded episodes of a run, optionally of one level, sorted by `order`."""
    if order not in _ORDER_SQL:
        raise ValueError(f"order must be one of {sorted(_ORDER_SQL)}, not {order!r}")
    run_dir = Path(run_dir)
    if not (run_dir / DB_NAME).exists():
        return []
    sql = f"SELECT * FROM {TABLE}"
    params: list = []
    if level:
        sql += " WHERE level = ?"
        params.append(level)
    sql += f" ORDER BY {_ORDER_SQL[order]}"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    con = _connect(run_dir)
    try:
        rows = con.execute(sql, params).fetchall()
    finally:
        con.close()
    return [EpisodeEntry(r[0], run_dir / r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7], r[8], r[9]) for r in rows]


def recorded_levels(run_dir: Path) -> list[str]:
    run_dir = Path(run_dir)
    if not (run_dir / DB_NAME).exists():
        return []
    con = _connect(run_dir)
    try:
        return [r[0] for r in con.execute(f"SELECT DISTINCT level FROM {TABLE} ORDER BY level")]
    finally:
        con.close()


def rebuild_index(run_dir: Path) -> tuple[int, list[str]]:
    """Re-index every .bk2 under the run directory: from its sidecar, else from the trainer's `episodes` row
    for that movie (then it replays without policy outputs).

    Returns (episodes indexed, problems): a movie with neither is reported, not indexed.
    """
    run_dir = Path(run_dir)
    trainer_rows = _trainer_episode_rows(run_dir)
    indexed, problems = 0, []
    for movie in sorted(run_dir.rglob("*.bk2")):
        if movie.name.startswith("."):
            continue  # an episode still being recorded
        rel = movie.relative_to(run_dir).as_posix()
        try:
            meta = read_sidecar(sidecar_path(movie)).meta
        except ReplayError as exc:
            meta = trainer_rows.get(rel)
            if meta is None:
                problems.append(str(exc))
                continue
        meta.movie = rel
        add_episode(run_dir, meta)
        indexed += 1
    return indexed, problems


def _trainer_episode_rows(run_dir: Path) -> dict[str, EpisodeMeta]:
    """The run store's `episodes` rows that have a movie, by movie path (empty when there is no such table)."""
    if not (run_dir / DB_NAME).exists():
        return {}
    con = sqlite3.connect(run_dir / DB_NAME, timeout=30)
    try:
        rows = con.execute("SELECT movie_path, level, episode_return, length, truncated, seed, env_index, "
                           "global_step FROM episodes WHERE movie_path IS NOT NULL").fetchall()
    except sqlite3.Error:
        return {}
    finally:
        con.close()
    return {r[0]: EpisodeMeta(level=r[1], episode_return=r[2], length=r[3], truncated=bool(r[4]), seed=r[5],
                              env_index=r[6], global_step=r[7], movie=r[0], complete=False) for r in rows}
