"""The run directory: the truth about a run, readable by the GUI while the trainer writes it.

    <runs_dir()>/<name>/
        config.toml        the resolved preset (level set + every setting), as `core.presets` writes it
        status.json        {"state": running|paused|finished|failed|stopped, "error", "pid", "heartbeat", ...}
        metrics.sqlite     WAL mode; tables `updates` (one row per PPO update) and `episodes` (one per episode)
        tb/                TensorBoard event files (the same scalars)
        checkpoints/       ckpt_<update>.pt (last N) + best.pt      (see checkpoint.py)
        episodes/          recorded .bk2 movies (+ sidecars), paths in the episodes table are relative to the run
        transfer/          results of `workbench transfer --from <run>`
        writer.lock        held (flock) by the one process writing the run; transfer/ has its own

One writer per run folder: a writer (`workbench train`, `--resume`, the window's run process) holds `RunLock` on
`writer.lock` for its whole life. It is an OS lock (flock) on an open file, so the kernel releases it when the
process ends in any way, SIGKILL included: a lock is never stale. A second writer gets `RunLockedError` naming the
run, the holder's pid and what to do, before it has written anything.

Every episode row carries the update its rollout fed, so a resumed run deletes rows after its checkpoint's
update (`truncate_after`) and its history has no duplicated or missing updates.

The store is the one writer of status.json, and a trainer hook (`engine.hooks`): `on_status` writes the state,
`on_update` logs the update with its episodes, `on_close` closes the database.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Any, Iterable

from workbench.core.processes import pid_alive
from workbench.core.records import EpisodeRecord, StatusRecord, UpdateRecord
from workbench.core.paths import atomic_write_text, runs_dir
from workbench.core.presets import Preset, PresetError, load_preset, preset_to_toml


CONFIG_NAME = "config.toml"
STATUS_NAME = "status.json"
DB_NAME = "metrics.sqlite"
LOCK_NAME = "writer.lock"
LOCK_TRIES = 5
_TEMP_RE = re.compile(r"^\..+\.(\d+)\.tmp$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS updates (
    "update" INTEGER PRIMARY KEY, global_step INTEGER NOT NULL, wall_time REAL NOT NULL, metrics TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS episodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, "update" INTEGER NOT NULL, global_step INTEGER NOT NULL,
    env_index INTEGER NOT NULL, level TEXT NOT NULL, episode_return REAL NOT NULL, length INTEGER NOT NULL,
    truncated INTEGER NOT NULL, seed INTEGER NOT NULL, movie_path TEXT, wall_time REAL NOT NULL);
CREATE INDEX IF NOT EXISTS episodes_update ON episodes("update");
"""


class RunStoreError(Exception):
    """Not a run directory, or one that cannot be read; the message names the path."""


class RunLockedError(RunStoreError):
    """Another live process writes this folder; `holder` is what it wrote in the lock file (pid, what, since)."""

    def __init__(self, folder: Path, holder: dict[str, Any]):
        self.folder, self.holder = Path(folder), holder
        pid = holder.get("pid")
        what = holder.get("what") or "a writer"
        since = holder.get("since")
        when = f" since {time.strftime('%H:%M:%S', time.localtime(since))}" if isinstance(since, (int, float)) else ""
        super().__init__(
            f"{folder} is being written by another process: {what}, pid {pid}{when}. Only one process may write a "
            f"run folder. Wait for it to end, stop it (the window's Stop, Ctrl-C in its terminal, or `kill {pid}`), "
            "or watch it in the window (`workbench`: the run shows as running elsewhere)")


class RunLock:
    """The one-writer lock of a folder: flock(LOCK_EX) on `<folder>/writer.lock`, held while this object's file
    is open. The kernel drops it when the process ends (also on SIGKILL), so a dead writer never blocks the next
    one; the file keeps the holder's pid for the message the next writer gets. Child processes do not inherit it
    (Python's descriptors are not inheritable, and the workbench spawns its workers)."""

    def __init__(self, folder: Path, fd: int):
        self.folder, self._fd = Path(folder), fd

    @classmethod
    def acquire(cls, folder: Path | str, what: str) -> "RunLock":
        """Take the lock of `folder` (made if missing) for `what` (e.g. "workbench train"); raises RunLockedError
        naming the holder when another process has it."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            for attempt in range(LOCK_TRIES):  # a window's `lock_holder` probe holds it for microseconds
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if attempt == LOCK_TRIES - 1:
                        raise RunLockedError(folder, _read_holder(fd)) from None
                    time.sleep(0.05)
        except BaseException:
            os.close(fd)
            raise
        info = json.dumps({"pid": os.getpid(), "what": what, "since": time.time()}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, info, 0)
        lock = cls(folder, fd)
        lock.remove_stale_temp_files()
        return lock

    @property
    def held(self) -> bool:
        return self._fd is not None

    def remove_stale_temp_files(self) -> None:
        """Temp files of atomic writes (`.<name>.<pid>.tmp`) whose writer is dead: what a writer killed mid-write
        leaves (a live one's, e.g. a transfer writing transfer/ beside this run, stay)."""
        for path in self.folder.rglob(".*.tmp"):
            match = _TEMP_RE.match(path.name)
            if match and not pid_alive(int(match.group(1))):
                path.unlink(missing_ok=True)

    def release(self) -> None:
        """Let go (idempotent); the lock file stays, unlocked."""
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor of the open file drops the flock
            self._fd = None

    def __del__(self) -> None:  # a lost lock object lets go as a lost file object would
        try:
            self.release()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def lock_holder(folder: Path | str) -> dict[str, Any] | None:
    """Who writes `folder` now: the lock file's {pid, what, since} while a live process holds its lock, else None.
    Never blocks and never takes the lock for longer than the test itself."""
    path = Path(folder) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd) or {"pid": None}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@dataclass(frozen=True)
class RunInfo:
    path: Path
    name: str
    state: str
    global_step: int
    modified: float


class RunStore:
    """Writer (trainer) and reader (GUI, CLI) of one run directory."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._last_status: StatusRecord | None = None

    # -- layout ------------------------------------------------------------------------------
    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def episodes_dir(self) -> Path:
        return self.path / "episodes"

    @property
    def tb_dir(self) -> Path:
        return self.path / "tb"

    @property
    def transfer_dir(self) -> Path:
        return self.path / "transfer"

    # -- creation / opening --------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, preset: Preset) -> "RunStore":
        """A new run directory; refuses to reuse one that already holds a run (nothing saved is overwritten)."""
        path = Path(path)
        if (path / CONFIG_NAME).exists():
            raise RunStoreError(f"{path} already holds a run; pick another --run-name or continue it with "
                                f"--resume {path.name}")
        path.mkdir(parents=True, exist_ok=True)
        store = cls(path)
        store.checkpoints_dir.mkdir(exist_ok=True)
        store.episodes_dir.mkdir(exist_ok=True)
        atomic_write_text(path / CONFIG_NAME, preset_to_toml(preset, header=f"Run {path.name}: resolved preset"))
        store.write_status("created")
        store._connect()
        return store

    @classmethod
    def open(cls, path: Path | str) -> "RunStore":
        path = resolve_run(path)
        return cls(path)

    def config(self) -> Preset:
        """The run's resolved preset."""
        try:
            return load_preset(self.path / CONFIG_NAME)
        except PresetError as exc:
            raise RunStoreError(f"{exc} (the run's settings file; fix it or start a new run)") from None

    # -- status --------------------------------------------------------------------------------
    def write_status(self, state: str, error: str | None = None, **extra: Any) -> None:
        """status.json (atomically); `pid` defaults to this process, the run's."""
        status = {"state": state, "error": error, "pid": os.getpid(), "heartbeat": time.time(), **extra}
        atomic_write_text(self.path / STATUS_NAME, json.dumps(status))

    def mark_failed(self, error: str, pid: int | None = None, keep_recorded: bool = True,
                    state: str = "failed") -> None:
        """Say the run failed with `error`, keeping what status.json already knew (steps, update); a failure
        already recorded with its cause (by the trainer) is kept unless not `keep_recorded` (this process's own
        failure). `pid`: the run's process, when another process (the GUI) writes this for a run process that
        died."""
        status = self.status()
        if keep_recorded and status.get("state") == "failed" and status.get("error"):
            return
        extra = {k: v for k, v in status.items() if k not in ("state", "error", "pid", "heartbeat")}
        self.write_status(state, error, **extra, **({"pid": pid} if pid is not None else {}))

    def status(self) -> dict[str, Any]:
        try:
            return json.loads((self.path / STATUS_NAME).read_text())
        except (OSError, ValueError):
            return {"state": "unknown", "error": None, "pid": None, "heartbeat": None}

    # -- metrics -------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(self.path / DB_NAME, check_same_thread=False, timeout=10)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)
                db.execute('SELECT count(*) FROM updates').fetchone()
            except sqlite3.DatabaseError as exc:
                db.close()
                if isinstance(exc, sqlite3.OperationalError):  # locked, unreadable folder: not damage
                    raise
                raise self._corrupt(exc) from None
            self._db = db
        return self._db

    def _corrupt(self, exc: Exception) -> RunStoreError:
        file = self.path / DB_NAME
        return RunStoreError(f"{file} is damaged ({exc}); nothing was written to it. Move it aside (e.g. rename "
                             f"it to {DB_NAME}.damaged) to continue the run with a new metrics history, or restore "
                             "it from a backup")

    def check_metrics(self) -> None:
        """Raise RunStoreError naming metrics.sqlite when it is not a readable database (before a resume writes)."""
        if (self.path / DB_NAME).exists():
            self._connect()

    def log_update(self, update: int, global_step: int, metrics: dict[str, float],
                   episodes: Iterable[EpisodeRecord] = ()) -> None:
        """One update and the episodes its rollout finished, in one transaction."""
        now = time.time()
        with self._lock:
            db = self._connect()
            with db:
                db.execute('INSERT OR REPLACE INTO updates ("update", global_step, wall_time, metrics) '
                           "VALUES (?, ?, ?, ?)", (update, global_step, now, json.dumps(metrics)))
                db.executemany(
                    'INSERT INTO episodes ("update", global_step, env_index, level, episode_return, length, '
                    "truncated, seed, movie_path, wall_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(update, e.global_step, e.env_index, e.level, e.episode_return, e.length, int(e.truncated),
                      e.seed, e.movie_path, now) for e in episodes])

    def truncate_after(self, update: int) -> None:
        """Forget updates and episodes after `update` (resume from that update's checkpoint)."""
        with self._lock:
            db = self._connect()
            with db:
                db.execute('DELETE FROM updates WHERE "update" > ?', (update,))
                db.execute('DELETE FROM episodes WHERE "update" > ?', (update,))

    def _read(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        file = self.path / DB_NAME
        if not file.exists():
            return []
        db = sqlite3.connect(f"file:{file}?mode=ro", uri=True, timeout=10)
        try:
            db.row_factory = sqlite3.Row
            return db.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # a run that was just created: its schema is being written
                return []
            raise
        except sqlite3.DatabaseError as exc:  # "file is not a database", "disk image is malformed"
            raise self._corrupt(exc) from None
        finally:
            db.close()

    def updates(self, after: int = -1) -> list[dict[str, Any]]:
        """Rows {update, global_step, wall_time, <metric>: value, ...} in update order."""
        rows = self._read('SELECT "update", global_step, wall_time, metrics FROM updates WHERE "update" > ? '
                          'ORDER BY "update"', (after,))
        return [{"update": r["update"], "global_step": r["global_step"], "wall_time": r["wall_time"],
                 **json.loads(r["metrics"])} for r in rows]

    def episodes(self, after_id: int = 0) -> list[dict[str, Any]]:
        """Rows {id, update, global_step, env_index, level, episode_return, length, truncated, seed,
        movie_path, wall_time} in the order they finished."""
        rows = self._read("SELECT * FROM episodes WHERE id > ? ORDER BY id", (after_id,))
        return [dict(r) | {"truncated": bool(r["truncated"])} for r in rows]

    # -- trainer hook ----------------------------------------------------------------------------
    placement: Callable[[], dict] | None = None
    """Where the env workers run, for status.json's `placement` (set by the launcher for a cluster run:
    {"kind": "ray", "address", "workers", "workers_up", "restarts"}); None: local, not written."""

    def _placement(self) -> dict:
        return {} if self.placement is None else {"placement": self.placement()}

    def on_status(self, record: StatusRecord) -> None:
        self._last_status = record
        self.write_status(record.state, record.error, global_step=record.global_step, update=record.update,
                          total_steps=record.total_steps, **self._placement())

    def on_update(self, record: UpdateRecord) -> None:
        self.log_update(record.update, record.global_step, record.metrics, record.episodes)
        last = self._last_status
        self.write_status("running", global_step=record.global_step, update=record.update,
                          total_steps=last.total_steps if last else None, **self._placement())

    def on_close(self) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return cleaned or "run"


def new_run_dir(name: str | None = None, prefix: str = "run", root: Path | None = None) -> Path:
    """A new, empty run folder under `root` (default runs_dir()), made here: the given name, or
    `<prefix>-<date>-<time>`, with `-2`, `-3`, ... when taken (the one run-folder namer: CLI and GUI)."""
    root = Path(root) if root is not None else runs_dir()
    base = _safe_name(name) if name else f"{_safe_name(prefix)}-{time.strftime('%Y%m%d-%H%M%S')}"
    if name and (root / base / CONFIG_NAME).exists():
        raise RunStoreError(f"a run named {base!r} already exists in {root}; pick another --run-name or "
                            f"continue it with --resume {base}")
    root.mkdir(parents=True, exist_ok=True)
    for i in range(1, 1000):
        path = root / (base if i == 1 else f"{base}-{i}")
        try:
            path.mkdir()  # atomic: two starts in the same second never share a folder
            return path
        except FileExistsError:
            if not any(path.iterdir()):
                return path  # an empty folder left by nothing: use it
    raise RunStoreError(f"cannot make a new run folder for {base!r} under {root}")


def resolve_run(run: Path | str) -> Path:
    """A run given as a path or as a name under runs_dir()."""
    candidates = [Path(run), runs_dir() / str(run)]
    for path in candidates:
        if (path / CONFIG_NAME).is_file():
            return path
    raise RunStoreError(f"no run at {run!r} (looked in {candidates[0]} and {candidates[1]}); "
                        "give a run directory or a run name from `workbench runs`")


def list_runs(root: Path | None = None) -> list[RunInfo]:
    """Runs under `root` (default runs_dir()), newest first."""
    root = Path(root) if root else runs_dir()
    if not root.is_dir():
        return []
    runs = []
    for path in root.iterdir():
        if (path / CONFIG_NAME).is_file():
            status = RunStore(path).status()
            modified = max((path / n).stat().st_mtime for n in (CONFIG_NAME, STATUS_NAME) if (path / n).exists())
            runs.append(RunInfo(path, path.name, str(status.get("state")), int(status.get("global_step") or 0),
                                modified))
    return sorted(runs, key=lambda r: r.modified, reverse=True)
