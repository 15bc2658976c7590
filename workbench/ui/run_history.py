"""What the GUI knows of one run's past: episodes and updates, from the run store and then from the live
`core.records` the run sends. Plain Python (no Qt)."""
from __future__ import annotations

from dataclasses import dataclass, field

from workbench.core.records import EpisodeRecord, UpdateRecord


@dataclass
class RunHistory:
    episodes: list[tuple[int, str, float]] = field(default_factory=list)
    """(global_step, level, return) in the order they finished."""
    movies: list[str | None] = field(default_factory=list)
    """The movie of each of `episodes` (relative to the run folder), None when it was not recorded."""
    updates: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    """(global_step, metrics)."""
    last_update: int = -1

    @classmethod
    def load(cls, run_dir) -> "RunHistory":
        """Read what the run store has so far; an unreadable store gives an empty history (never raises)."""
        history = cls()
        try:
            from workbench.engine.run_store import RunStore

            store = RunStore(run_dir)
            for row in store.updates():
                metrics = {k: float(v) for k, v in row.items()
                           if k not in ("update", "global_step", "wall_time") and isinstance(v, (int, float))}
                history.updates.append((int(row["global_step"]), metrics))
                history.last_update = max(history.last_update, int(row["update"]))
            for row in store.episodes():
                history.episodes.append((int(row["global_step"]), str(row["level"]), float(row["episode_return"])))
                history.movies.append(row.get("movie_path"))
        except Exception:
            pass
        return history

    def add_episode(self, record: EpisodeRecord) -> None:
        self.episodes.append((record.global_step, record.level, record.episode_return))
        self.movies.append(record.movie_path)

    def add_update(self, record: UpdateRecord) -> bool:
        """False when the store already gave us this update (messages that overlap a re-attach)."""
        if record.update <= self.last_update:
            return False
        self.last_update = record.update
        self.updates.append((record.global_step, dict(record.metrics)))
        return True
