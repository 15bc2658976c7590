"""The GUI's side of the runs: a QTimer polls the supervisor (30 Hz), keeps each run's history and hands
views the newest frame and messages. Nothing here blocks and nothing a run sends can raise into Qt."""
from __future__ import annotations

import traceback

from PySide6.QtCore import QObject, QTimer, Signal

from workbench.bridge import protocol
from workbench.bridge.supervisor import FINAL_STATES, RunHandle, Supervisor
from workbench.core.records import EpisodeRecord, UpdateRecord
from workbench.ui.run_history import RunHistory

POLL_HZ = 30  # draws a new frame on each tick when the envs produce one: 30 fps, and no more CPU than that
STORE_REFRESH_S = 2.0
"""A watched run with no live stream: how often its curves are re-read from its run store."""


class RunController(QObject):
    runs_changed = Signal()
    """A run was added or changed state."""
    selected_changed = Signal(object)
    """The run the live view follows (RunHandle or None)."""
    frame = Signal(object)
    """The selected run's newest frame (H, W, 3 uint8)."""
    step = Signal(object)
    """The selected run's `protocol.StepSummary`."""
    episode = Signal(object, object)
    """(handle, core.records.EpisodeRecord) of any run."""
    update = Signal(object, object)
    """(handle, core.records.UpdateRecord) of any run."""
    hello = Signal(object)
    """The selected run (re)connected: its `protocol.Hello` (action labels, n_envs)."""

    def __init__(self, supervisor: Supervisor | None = None, parent=None):
        super().__init__(parent)
        self.supervisor = supervisor or Supervisor()
        self.histories: dict[str, RunHistory] = {}
        self.selected: RunHandle | None = None
        self.frames_drawn = 0
        self.frames_wanted = lambda: True
        """The window says whether anyone can see frames (not while minimized): none are read otherwise."""
        self._store_read = 0.0
        self._alive: set[str] = set()
        """Runs whose process was alive at the last tick: its end (e.g. after Stop) changes what the runs list
        offers (Resume) even when no message says so."""
        self._timer = QTimer(self)
        self._timer.setInterval(int(1000 / POLL_HZ))
        self._timer.timeout.connect(self.tick)
        self._timer.start()

    # -- runs ----------------------------------------------------------------------------------
    def start(self, preset, name: str | None = None, cluster: str | None = None) -> RunHandle:
        handle = self.supervisor.start(preset, name, cluster=cluster)
        self.histories[handle.name] = RunHistory()
        self.runs_changed.emit()
        self.select(handle)
        return handle

    def resume(self, handle: RunHandle) -> RunHandle:
        """Continue a stopped or failed run from its last checkpoint in a new background process; the live view
        follows it again (its history so far stays)."""
        new = self.supervisor.resume(handle)
        self.histories.setdefault(new.name, RunHistory())
        if self.selected is handle:
            self.selected = None  # the same run in a new process: re-select so the views re-attach
        self.runs_changed.emit()
        self.select(new)
        return new

    def follow(self, handle: RunHandle) -> None:
        """Watch a run another process writes (state "running elsewhere"): its live stream when it has one,
        else its curves as its run folder grows."""
        handle.follow()
        self.histories[handle.name] = RunHistory.load(handle.run_dir)
        if self.selected is handle:
            self.selected = None  # re-select: the views take the new history
        self.runs_changed.emit()
        self.select(handle)

    def _refresh_from_store(self, handle: RunHandle) -> None:
        """A watched run without a live stream (`workbench train`): what its store has gained."""
        import time

        now = time.monotonic()
        if now - self._store_read < STORE_REFRESH_S:
            return
        self._store_read = now
        history, fresh = self.history(handle), RunHistory.load(handle.run_dir)
        more_episodes = len(fresh.episodes) > len(history.episodes)
        if fresh.last_update > history.last_update or more_episodes:
            history.updates, history.episodes, history.last_update = fresh.updates, fresh.episodes, fresh.last_update
            if fresh.updates:
                handle.global_step = max(handle.global_step, fresh.updates[-1][0])
            self.update.emit(handle, None)
            if more_episodes:
                self.episode.emit(handle, None)
            self.runs_changed.emit()

    def can_resume(self, handle: RunHandle | None) -> bool:
        return handle is not None and self.supervisor.can_resume(handle)

    def attach_existing(self) -> list[RunHandle]:
        found = self.supervisor.attach_existing()
        for handle in found:
            self.histories[handle.name] = RunHistory.load(handle.run_dir)
        if found:
            self.runs_changed.emit()
            live = [h for h in found if h.state not in FINAL_STATES]
            if self.selected is None:
                self.select((live or found)[-1])
        return found

    def handles(self) -> list[RunHandle]:
        return list(self.supervisor.runs.values())

    def history(self, handle: RunHandle) -> RunHistory:
        return self.histories.setdefault(handle.name, RunHistory())

    def select(self, handle: RunHandle | None) -> None:
        if handle is self.selected:
            return
        self.selected = handle
        self.selected_changed.emit(handle)
        if handle is not None and handle.hello is not None:
            self.hello.emit(handle.hello)

    def watch(self, env_index: int) -> None:
        if self.selected is not None:
            self.selected.watch(env_index)

    # -- the timer -----------------------------------------------------------------------------
    def tick(self) -> None:
        try:
            self._tick()
        except Exception:  # a run must never take the window down
            traceback.print_exc()

    def _tick(self) -> None:
        changed = False
        latest_step = None
        for handle, message in self.supervisor.poll():
            if isinstance(message, EpisodeRecord):
                self.history(handle).add_episode(message)
                self.episode.emit(handle, message)
            elif isinstance(message, UpdateRecord):
                if self.history(handle).add_update(message):
                    self.update.emit(handle, message)
                changed = True
            elif isinstance(message, protocol.StepSummary):
                if handle is self.selected:
                    latest_step = message  # draw only the newest one per tick
            elif isinstance(message, protocol.Hello):
                if handle is self.selected:
                    self.hello.emit(message)
                changed = True
            elif isinstance(message, (protocol.Status, protocol.RunFailed)):
                changed = True
        if latest_step is not None:
            self.step.emit(latest_step)
        if self.selected is not None and self.selected.watching and not self.selected.live:
            self._refresh_from_store(self.selected)
        if self.selected is not None and self.frames_wanted():
            frame = self.selected.frame()
            if frame is not None:
                self.frames_drawn += 1
                self.frame.emit(frame)
        alive = {h.name for h in self.supervisor.runs.values() if (h.name in self._alive or h.state not in
                                                                 FINAL_STATES) and h.process_alive()}
        if alive != self._alive:
            self._alive = alive
            changed = True
        # where each run's env workers are (a cluster run: its address, workers up, restarts; read once a second)
        wheres = {h.name: h.where() for h in self.supervisor.runs.values() if h.state not in FINAL_STATES}
        if wheres != getattr(self, "_wheres", {}):
            self._wheres = wheres
            changed = True
        if changed:
            self.runs_changed.emit()

    def shutdown(self, stop_runs: bool) -> None:
        self._timer.stop()
        self.supervisor.shutdown(stop_runs)
