"""Starts, attaches to, commands and cleans up the run processes (GUI side; no Qt, no threads).

Each run trains in its own detached process (`bridge.run_process`, a new session) so it survives the GUI when
the user chooses to leave it running. The run directory is the meeting point: `launch.json` says what to run,
`bridge.json` how to reach the live process (socket address, auth key, frame segment), `status.json` (the run
store's) what state it is in. The GUI calls `poll()` from its timer: nothing here blocks.
"""
from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from multiprocessing.connection import Client
from pathlib import Path

from workbench.bridge import protocol
from workbench.bridge.live_bridge import BRIDGE_FILE
from workbench.bridge.run_process import LAUNCH_FILE, LAUNCH_PRESET, LOCKED_EXIT, LOG_FILE
from workbench.core.frames import FrameReader
from workbench.core.paths import SHM_PREFIX, atomic_write_text, runs_dir
from workbench.core.processes import pid_alive
from workbench.core.records import EpisodeRecord, UpdateRecord

FINAL_STATES = ("finished", "failed", "stopped")
ELSEWHERE = "running elsewhere"
"""A run another live process writes (`workbench train` in a terminal, another window): it holds the run
folder's writer lock. The window offers to watch it (`RunHandle.follow`), never to start or resume it."""
LOCK_CHECK_S = 1.0
"""How often a handle that is not live looks at its run folder's writer lock (one open + flock)."""
RUN_CONFIG = "config.toml"
"""The resolved preset the run store keeps in every run folder."""


def read_status(run_dir: Path) -> dict:
    try:
        return json.loads((Path(run_dir) / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def log_tail(run_dir: Path, lines: int = 6) -> str:
    try:
        text = (Path(run_dir) / LOG_FILE).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


@dataclass
class RunHandle:
    """One run as the GUI sees it: its state, the live connection when there is one, and the newest frame."""

    run_dir: Path
    process: subprocess.Popen | None = None
    pid: int | None = None
    state: str = "starting"
    error: str = ""
    hello: protocol.Hello | None = None
    global_step: int = 0
    _conn: object = None
    writer: dict | None = None
    """While another process writes the run: its lock file's {pid, what, since}."""
    watching: bool = False
    """The user chose to watch a run that runs elsewhere (`follow()`): its stream when it has one, else its
    store."""
    _frames: FrameReader | None = None
    _frame_shm: str | None = None
    _started: float = field(default_factory=time.monotonic)
    _lock_checked: float = -math.inf

    @property
    def name(self) -> str:
        return self.run_dir.name

    _placement: dict | None = None
    _placement_read: float = -math.inf

    @property
    def placement(self) -> dict | None:
        """Where its env workers run, from status.json (read at most once a second): None for local processes,
        else e.g. {"kind": "ray", "address", "workers", "workers_up", "restarts", "nodes"}."""
        now = time.monotonic()
        if now - self._placement_read >= 1.0:
            self._placement_read = now
            value = read_status(self.run_dir).get("placement")
            self._placement = value if isinstance(value, dict) else None
        return self._placement

    def where(self) -> str:
        """The runs list's "Where" cell: 'local', or the cluster's address and workers up."""
        p = self.placement
        if not p:
            return "local"
        text = f"{p.get('address', '?')} · {p.get('workers_up', '?')}/{p.get('workers', '?')} workers up"
        restarts = int(p.get("restarts") or 0)
        return text + (f" · {restarts} restart{'s' if restarts != 1 else ''}" if restarts else "")

    @property
    def live(self) -> bool:
        return self._conn is not None

    # -- commands ----------------------------------------------------------------------------
    def send(self, command: protocol.Command) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.send(command)
            return True
        except (OSError, EOFError):
            self._disconnect()
            return False

    def pause(self) -> bool:
        return self.send(protocol.Command("pause"))

    def resume(self) -> bool:
        return self.send(protocol.Command("resume"))

    def stop(self) -> bool:
        return self.send(protocol.Command("stop"))

    def watch(self, env_index: int) -> bool:
        return self.send(protocol.Command("watch", env_index))

    # -- frames ------------------------------------------------------------------------------
    def frame(self):
        """The watched env's newest frame not yet returned (H, W, 3 uint8), or None."""
        if self._frames is None:
            return None
        try:
            result = self._frames.read(only_new=True)
        except Exception:
            return None
        return None if result is None else result[1]

    # -- life --------------------------------------------------------------------------------
    def process_alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return self.pid is not None and pid_alive(self.pid)

    def follow(self) -> None:
        """Watch a run that runs elsewhere: connect to its live stream if it has one (a run a window started),
        else follow what it writes to its run folder."""
        if self.state != ELSEWHERE or self.writer is None:
            return
        self.watching = True
        self.process, self.pid = None, self.writer.get("pid")  # a process of ours that wrote it earlier is over
        status = read_status(self.run_dir)
        self.state = status.get("state") if status.get("state") in ("running", "paused") else "running"
        self.error = ""

    def _check_writer(self, messages: list) -> None:
        """Notice another process writing this run (it holds the folder's lock), or that process's end."""
        now = time.monotonic()
        if now - self._lock_checked < LOCK_CHECK_S:
            return
        self._lock_checked = now
        from workbench.engine.run_store import lock_holder

        holder = lock_holder(self.run_dir)
        if holder is None:
            if self.writer is not None:
                self._writer_gone(messages)
            return
        pid = holder.get("pid")
        followed = (self.watching or (self.process is not None and pid == self.process.pid)
                    or (self.process is None and pid == self.pid and self.state not in FINAL_STATES + (ELSEWHERE,)))
        # watched or elsewhere: another's run, whose end we only read; ours (or re-attached): ends as ours do
        self.writer = holder if self.watching or not followed else None
        if not followed and self.state != ELSEWHERE:
            self._disconnect()
            if self.process is not None and self.process.poll() is not None:
                self.process = None  # ours ended earlier; the run's life goes on in the other process
            self.pid, self.state, self.error = pid, ELSEWHERE, ""
            messages.append(protocol.Status(self.state, self.global_step))

    def _writer_gone(self, messages: list) -> None:
        """The other process let go of the run: show what it left in status.json (a run killed while
        "running" failed), without touching the run's files: they were never ours."""
        self._disconnect()
        self.writer, self.watching = None, False
        status = read_status(self.run_dir)
        state = status.get("state", "unknown")
        self.state = state if state in FINAL_STATES else "failed"
        self.error = status.get("error") or ("" if state in FINAL_STATES else "the process writing it ended")
        self.global_step = max(self.global_step, int(status.get("global_step") or 0))
        messages.append(protocol.Status(self.state, self.global_step, self.error))

    def poll(self) -> list:
        """Connect when the process is ready, read every pending message, notice death and other writers.
        Never blocks long."""
        messages: list = []
        if self._conn is None:
            self._check_writer(messages)
        if self.state == ELSEWHERE:
            if self.process is not None and self.process.poll() is not None:
                self.process = None  # ours (refused: the other writer was first) has ended
            return messages  # not ours, and not watched: nothing to read
        if self._conn is None and self.state not in FINAL_STATES:
            self._try_connect(messages)
        while self._conn is not None:
            try:
                if not self._conn.poll(0):
                    break
                message = self._conn.recv()
            except (OSError, EOFError):
                self._disconnect()
                break
            self._apply(message)
            messages.append(message)
        if self.writer is not None and self._conn is None and not self.process_alive():
            self._writer_gone(messages)  # a run another process wrote ended: its own files say how
        elif self._conn is None and self.state not in FINAL_STATES and not self.process_alive() and self.pid:
            self._finish_dead(messages)
        elif self._conn is None and self.state not in FINAL_STATES and self.pid is None and self.process is None:
            self._finish_dead(messages)
        return messages

    def _apply(self, message) -> None:
        if isinstance(message, protocol.Hello):
            self.hello = message
            self.state = message.state
            self._open_frames(message.frame_shm)
        elif isinstance(message, protocol.Status):
            self.state = message.state
            self.global_step = max(self.global_step, message.global_step)
            if message.error:
                self.error = message.error
        elif isinstance(message, protocol.RunFailed):
            self.error = message.error
        elif isinstance(message, (protocol.StepSummary, UpdateRecord, EpisodeRecord)):
            self.global_step = max(self.global_step, message.global_step)

    def _open_frames(self, name: str | None) -> None:
        if self._frames is not None and self._frame_shm == name:
            return
        self._close_frames()
        self._frame_shm = name
        if name is None:
            return  # the run's envs have no screen
        try:
            self._frames = FrameReader(name)
        except (OSError, ValueError):
            self._frames = None

    def _try_connect(self, messages: list) -> None:
        try:
            info = json.loads((self.run_dir / BRIDGE_FILE).read_text())
        except (OSError, ValueError):
            return
        if self.pid is None:
            self.pid = int(info["pid"])
        if info.get("pid") != self.pid or not pid_alive(self.pid):
            return
        try:
            conn = Client(bytes.fromhex(info["address"]).decode("latin-1"), family="AF_UNIX",
                          authkey=bytes.fromhex(info["authkey"]))
        except (OSError, EOFError, ValueError):
            return
        self._conn = conn

    def _finish_dead(self, messages: list) -> None:
        """The process is gone without saying goodbye (killed, crashed): the run failed unless its store says
        it ended."""
        code = self.process.returncode if self.process is not None else None
        if code == LOCKED_EXIT:  # our run process found another writer and left everything to it
            self._lock_checked = -math.inf
            self._check_writer(messages)
            if self.state == ELSEWHERE:
                return
        status = read_status(self.run_dir)
        if status.get("state") in ("finished", "failed") and status.get("pid") == self.pid:
            self.state = status["state"]
            self.error = self.error or status.get("error") or ""
        elif code == 0:
            self.state = "finished"
        else:
            how = f"exit code {code}" if code is not None else "it is no longer running"
            tail = log_tail(self.run_dir)
            self.state = "failed"
            self.error = self.error or f"run process ended unexpectedly ({how})" + (f": {tail}" if tail else "")
            _write_failed_status(self.run_dir, self.pid, self.error)
        self._cleanup_segment()
        messages.append(protocol.Status(self.state, self.global_step, self.error))

    def _cleanup_segment(self) -> None:
        """A killed run process cannot clean up: end what is left of its process group (env workers) and
        unlink the shared memory it made (the vec env's segments, named `wb_<pid>_...`)."""
        self._close_frames()
        if self.pid:
            try:
                os.killpg(self.pid, signal.SIGKILL)  # its own session: only its workers are in the group
            except OSError:
                pass
        names = {self._frame_shm}
        try:
            names.add(json.loads((self.run_dir / BRIDGE_FILE).read_text()).get("frame_shm", ""))
        except (OSError, ValueError):
            pass
        if self.pid:
            names.update(p.name for p in Path("/dev/shm").glob(f"{SHM_PREFIX}{self.pid}_*"))
        for name in names:
            if name and name.startswith(SHM_PREFIX) and re.fullmatch(r"[\w.-]+", name):
                try:
                    os.unlink(f"/dev/shm/{name}")
                except OSError:
                    pass

    def _close_frames(self) -> None:
        if self._frames is not None:
            self._frames.close()
            self._frames = None

    def _disconnect(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass
            self._conn = None
        self._close_frames()

    def detach(self) -> None:
        """Let go of the run without stopping it (the process keeps training)."""
        self._disconnect()

    def wait(self, timeout: float) -> bool:
        """Wait for the process to end (polling messages meanwhile); True when it did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll()
            if not self.process_alive():
                if self.process is not None:
                    self.process.wait()
                self.poll()
                return True
            time.sleep(0.05)
        return False

    def kill(self) -> None:
        """Last resort: end the process group (the run process and its env workers); never a run another
        process writes."""
        if self.writer is not None or self.state == ELSEWHERE:
            return
        if self.pid and self.process_alive():
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except OSError:
                pass
        if self.process is not None:
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                pass


def _bridge_pid(run_dir: Path) -> int | None:
    """The pid in bridge.json: the run process a window can connect to."""
    try:
        return json.loads((Path(run_dir) / BRIDGE_FILE).read_text()).get("pid")
    except (OSError, ValueError, AttributeError):
        return None


def _write_failed_status(run_dir: Path, pid: int | None, error: str) -> None:
    from workbench.engine.run_store import RunStore

    try:
        RunStore(Path(run_dir)).mark_failed(error, pid=pid)
    except OSError:
        pass


def _resume_launch(run_dir: Path) -> dict | None:
    """launch.json as a resume rewrites it (a `workbench train` run has none: a launch of its config), or None
    when it does not read."""
    try:
        launch = json.loads((run_dir / LAUNCH_FILE).read_text())
    except FileNotFoundError:
        launch = {"preset": RUN_CONFIG, "total_steps": None}
    except (OSError, ValueError):
        return None
    return dict(launch, resume=True) if isinstance(launch, dict) else None


def _checkpoint_resumes(run_dir: Path) -> bool:
    """What a resumed run reads besides launch.json (`launcher.build_run(resume=True)`): the run's config.toml
    and its newest numbered checkpoint that loads."""
    from workbench.core.settings import validate
    from workbench.engine import checkpoint
    from workbench.engine.run_store import RunStore, RunStoreError

    with warnings.catch_warnings():  # a corrupt newest one with a good older one: resumable, nothing to warn
        warnings.simplefilter("ignore")
        try:
            store = RunStore.open(run_dir)
            if validate(store.config()):  # the launcher would refuse these settings
                return False
            checkpoint.load_latest(store.checkpoints_dir)
        except (RunStoreError, checkpoint.CheckpointError):
            return False
    return True


class Supervisor:
    """All runs this GUI started or attached to."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root else runs_dir()
        self.runs: dict[str, RunHandle] = {}
        self._resumable: dict[Path, tuple[int, bool]] = {}
        """run folder -> (its checkpoints folder's mtime, whether a resume would start): the GUI asks every
        tick and loading checkpoints is slow; a new or removed checkpoint changes the folder's mtime."""

    def new_run_dir(self, name: str) -> Path:
        """`<name>-<date>-<time>` under the runs root (the run store's namer, as `workbench train` uses)."""
        from workbench.engine.run_store import new_run_dir

        return new_run_dir(None, prefix=name, root=self.root)

    def start(self, preset, name: str | None = None, total_steps: int | None = None,
              cluster: str | None = None) -> RunHandle:
        """Start training `preset` (a core.presets.Preset) in a new detached process; `cluster` ('auto' or
        HOST:PORT): its env workers are Ray actors on that cluster (a resume keeps it)."""
        from workbench.core.presets import save_preset

        run_dir = self.new_run_dir(name or getattr(preset, "name", "") or "run")
        save_preset(preset, run_dir / LAUNCH_PRESET)
        launch = {"preset": LAUNCH_PRESET, "total_steps": total_steps}
        if cluster:
            launch["cluster"] = cluster
        atomic_write_text(run_dir / LAUNCH_FILE, json.dumps(launch, indent=1))
        return self.start_dir(run_dir)

    def start_dir(self, run_dir: Path) -> RunHandle:
        """Start the run process for a run folder that already holds `launch.json`."""
        run_dir = Path(run_dir)
        log = open(run_dir / LOG_FILE, "ab")
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "workbench.bridge.run_process", str(run_dir)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=str(run_dir),
                start_new_session=True,  # not killed with the GUI (or by its Ctrl-C)
            )
        finally:
            log.close()
        handle = RunHandle(run_dir=run_dir, process=process, pid=process.pid)
        self.runs[handle.name] = handle
        return handle

    def can_resume(self, handle: RunHandle) -> bool:
        """True exactly when `resume` would continue the run: stopped or failed, its process gone, launch.json
        (if any) and config.toml readable, and a numbered checkpoint that loads."""
        if handle.state not in ("stopped", "failed") or handle.process_alive():
            return False
        from workbench.engine.run_store import lock_holder

        if lock_holder(handle.run_dir) is not None:  # another process writes it (the next poll shows so)
            return False
        run_dir = Path(handle.run_dir)
        try:
            key = (run_dir / "checkpoints").stat().st_mtime_ns
        except OSError:
            return False
        cached = self._resumable.get(run_dir)
        if cached is None or cached[0] != key:
            cached = (key, _resume_launch(run_dir) is not None and _checkpoint_resumes(run_dir))
            self._resumable[run_dir] = cached
        return cached[1]

    def resume(self, handle: RunHandle) -> RunHandle:
        """Continue a run that is not going from its newest good checkpoint, in a new run process; the new
        handle replaces the old one (same name). Raises ValueError when it cannot be resumed."""
        from workbench.engine.run_store import RunLockedError, lock_holder

        holder = lock_holder(handle.run_dir)
        if holder is not None:
            raise ValueError(f"{handle.name} is {ELSEWHERE}: " + str(RunLockedError(handle.run_dir, holder)))
        launch = _resume_launch(handle.run_dir) if self.can_resume(handle) else None
        if launch is None:
            raise ValueError(f"{handle.name} cannot be resumed ({handle.state}): only a stopped or failed run "
                             "with a readable config and a checkpoint that loads can")
        handle.detach()
        atomic_write_text(handle.run_dir / LAUNCH_FILE, json.dumps(launch, indent=1))
        return self.start_dir(handle.run_dir)

    def attach(self, run_dir: Path) -> RunHandle:
        """Follow a run started earlier (maybe by another GUI). Finished runs get a handle in their final state."""
        run_dir = Path(run_dir)
        status = read_status(run_dir)
        handle = RunHandle(run_dir=run_dir, pid=status.get("pid"))
        handle.global_step = int(status.get("global_step") or 0)  # the runs list shows it before any message
        state = status.get("state", "unknown")
        from workbench.engine.run_store import lock_holder

        holder = lock_holder(run_dir)
        if holder is not None and _bridge_pid(run_dir) != holder.get("pid"):
            # written by a process with no live stream for windows (`workbench train`), or one still starting
            handle.pid, handle.state, handle.writer = holder.get("pid"), ELSEWHERE, holder
        elif handle.pid and pid_alive(int(handle.pid)) and state in ("running", "paused", "starting"):
            handle.state = state
        else:
            handle.state = state if state in FINAL_STATES else ("failed" if state in ("running", "paused") else state)
            handle.error = status.get("error") or (
                "run process is no longer running" if state in ("running", "paused") else "")
            handle.pid = handle.pid or None
        self.runs[handle.name] = handle
        return handle

    def attach_existing(self) -> list[RunHandle]:
        """Attach to every run folder under the runs root not yet known (re-attach after the GUI reopens)."""
        found = []
        if not self.root.is_dir():
            return found
        for run_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            if run_dir.name in self.runs or not (run_dir / "status.json").exists():
                continue
            found.append(self.attach(run_dir))
        return found

    def poll(self) -> list[tuple[RunHandle, object]]:
        out = []
        for handle in list(self.runs.values()):
            for message in handle.poll():
                out.append((handle, message))
        return out

    def active(self) -> list[RunHandle]:
        """Runs of this window still going (not those another process writes: closing never stops them)."""
        return [h for h in self.runs.values() if h.state not in FINAL_STATES + (ELSEWHERE,) and h.writer is None
                and h.process_alive()]

    def shutdown(self, stop_runs: bool, timeout: float = 20.0) -> None:
        """Close the GUI side. `stop_runs`: stop every run and wait for it; else leave them training."""
        if stop_runs:
            for handle in self.active():
                if not handle.stop():
                    try:
                        os.kill(handle.pid, signal.SIGTERM)
                    except (OSError, TypeError):
                        pass
            deadline = time.monotonic() + timeout
            for handle in [h for h in self.runs.values() if h.writer is None and h.state != ELSEWHERE]:
                if not handle.wait(max(0.1, deadline - time.monotonic())):
                    handle.kill()
                    handle.wait(5)
        for handle in self.runs.values():
            handle.detach()
