"""The live stream of a run: trainer hooks that publish the watched env's policy outputs, episodes, updates and
state to every GUI connected over a local socket; frames stay in the vec env's `core.frames` segment, which the
GUI maps by name (`trainer.vec_env.frame_shm_name()`).

Sending happens on a separate thread from a bounded queue; step summaries are throttled to what the GUI draws
(15 per second), and with no GUI connected nothing is streamed and no env copies its frame, so a slow or absent
GUI never slows training. `bridge.json` in the run folder says how to connect.
"""
from __future__ import annotations

import collections
import json
import os
import secrets
import signal
import threading
import time
import traceback
from multiprocessing.connection import Listener
from pathlib import Path

import numpy as np

from workbench.bridge import protocol
from workbench.core.paths import atomic_write_text
from workbench.core.records import EpisodeRecord, StepRecord, UpdateRecord

BRIDGE_FILE = "bridge.json"
SUMMARY_HZ = 15.0
"""Step summaries per second: the live view redraws its bars and value at most this often."""


class Broadcaster:
    """Accepts GUI connections, fans messages out to them, and hands their commands to `on_command`."""

    def __init__(self, hello_factory, on_command, on_clients=None):
        self._hello_factory = hello_factory
        self._on_command = on_command
        self._on_clients = on_clients or (lambda count: None)
        """Called with the number of connected GUIs whenever it changes (from a bridge thread)."""
        self.authkey = secrets.token_bytes(16)
        # Linux abstract socket: no file to clean up, no path-length trouble with deep run folders.
        self.address = "\0wb-run-" + secrets.token_hex(8)
        self._listener = Listener(self.address, family="AF_UNIX", authkey=self.authkey)
        self._clients: list = []
        self._lock = threading.Lock()
        self._queue: collections.deque = collections.deque(maxlen=4096)
        self._wake = threading.Condition(self._lock)
        self._closing = False
        threading.Thread(target=self._accept_loop, name="bridge-accept", daemon=True).start()
        self._sender = threading.Thread(target=self._send_loop, name="bridge-send", daemon=True)
        self._sender.start()

    @property
    def has_clients(self) -> bool:
        return bool(self._clients)

    def publish(self, message) -> None:
        with self._wake:
            if self._clients:
                self._queue.append(message)
                self._wake.notify()

    def _accept_loop(self) -> None:
        while not self._closing:
            try:
                conn = self._listener.accept()
            except Exception:
                if self._closing:
                    return
                continue
            try:
                conn.send(self._hello_factory())
            except Exception:
                conn.close()
                continue
            with self._wake:
                self._clients.append(conn)
                count = len(self._clients)
            self._notify_clients(count)
            threading.Thread(target=self._command_loop, args=(conn,), name="bridge-commands", daemon=True).start()

    def _command_loop(self, conn) -> None:
        while True:
            try:
                command = conn.recv()
            except Exception:
                self._drop(conn)
                return
            if isinstance(command, protocol.Command):
                try:
                    self._on_command(command)
                except Exception:
                    traceback.print_exc()

    def _drop(self, conn) -> None:
        with self._wake:
            dropped = conn in self._clients
            if dropped:
                self._clients.remove(conn)
            count = len(self._clients)
        try:
            conn.close()
        except Exception:
            pass
        if dropped:
            self._notify_clients(count)

    def _notify_clients(self, count: int) -> None:
        try:
            self._on_clients(count)
        except Exception:
            traceback.print_exc()

    def _send_loop(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._closing:
                    self._wake.wait()
                if not self._queue and self._closing:
                    return
                batch = list(self._queue)
                self._queue.clear()
                clients = list(self._clients)
            for conn in clients:
                try:
                    for message in batch:
                        conn.send(message)
                except Exception:
                    self._drop(conn)

    def close(self, flush_timeout: float = 2.0) -> None:
        with self._wake:
            self._closing = True
            self._wake.notify_all()
        self._sender.join(flush_timeout)
        try:
            self._listener.close()
        except Exception:
            pass
        with self._wake:
            clients, self._clients = self._clients, []
        for conn in clients:
            try:
                conn.close()
            except Exception:
                pass


class LiveBridge:
    """Trainer hooks that stream the watched env's policy outputs, episodes, updates and state, and make the
    watched env publish frames while a GUI is connected."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.trainer = None
        self.levels: list[str] = []
        self.state = "starting"
        self.watched = 0
        self._last_summary = 0.0
        self.global_step = 0
        self.n_envs = 0
        self.frame_shm: str | None = None
        self.broadcaster: Broadcaster | None = None

    def attach(self, trainer, levels: list[str]) -> None:
        """Start serving GUIs once the trainer (and its vec env) exists."""
        self.trainer = trainer
        self.levels = levels
        self.n_envs = trainer.vec_env.num_envs
        # the GUI maps the vec env's own frame segment; no env copies frames until a GUI connects
        self.frame_shm = trainer.vec_env.frame_shm_name()
        trainer.vec_env.watch(None)
        self.broadcaster = Broadcaster(self._hello, self._command, self._clients_changed)
        atomic_write_text(self.run_dir / BRIDGE_FILE, json.dumps({
            "pid": os.getpid(),
            "address": self.broadcaster.address.encode("latin-1").hex(),
            "authkey": self.broadcaster.authkey.hex(),
            "frame_shm": self.frame_shm,
        }))

    # -- GUI side ----------------------------------------------------------------------------
    def _hello(self) -> protocol.Hello:
        return protocol.Hello(
            run_dir=str(self.run_dir), frame_shm=self.frame_shm, n_envs=self.n_envs,
            action_labels=list(self.trainer.action_labels), levels=self.levels, watched=self.watched,
            state=self.state,
        )

    def _command(self, command: protocol.Command) -> None:
        if command.kind == "pause":
            self.trainer.pause()
            self.set_state("paused")
        elif command.kind == "resume":
            self.trainer.resume()
            self.set_state("running")
        elif command.kind == "stop":
            if self.state == "evaluating":  # training is over: stopping skips the curve (main thread: SIGTERM)
                os.kill(os.getpid(), signal.SIGTERM)
            else:
                self.trainer.stop()
        elif command.kind == "watch":
            if 0 <= command.env_index < self.n_envs:
                self.watched = command.env_index
                if self.broadcaster.has_clients:
                    self.trainer.vec_env.watch(command.env_index)  # a header word in shared memory: instant

    def _clients_changed(self, count: int) -> None:
        """Frames cost the watched env a full-size copy per step: only while someone looks."""
        self.trainer.vec_env.watch(self.watched if count else None)

    def set_state(self, state: str, error: str = "") -> None:
        self.state = state
        if self.broadcaster is not None:
            self.broadcaster.publish(protocol.Status(state, self.global_step, error))

    # -- trainer hooks -----------------------------------------------------------------------
    def on_step(self, record: StepRecord) -> None:
        self.global_step = record.global_step
        if not self.broadcaster.has_clients:
            return
        now = time.monotonic()
        i = self.watched
        if now - self._last_summary < 1.0 / SUMMARY_HZ:
            return
        self._last_summary = now
        self.broadcaster.publish(protocol.StepSummary(
            global_step=record.global_step, env_index=i, probs=np.asarray(record.probs[i], dtype=np.float32),
            action=int(record.actions[i]), value=float(record.values[i]), reward=float(record.rewards[i]),
        ))

    def on_episode(self, record: EpisodeRecord) -> None:
        self.broadcaster.publish(record)  # the trainer makes a new record per event: safe to send as it is

    def on_update(self, record: UpdateRecord) -> None:
        self.broadcaster.publish(record)

    def close(self) -> None:
        if self.broadcaster is None:
            return  # never attached: bridge.json, if any, is not ours
        self.broadcaster.close()
        try:
            (self.run_dir / BRIDGE_FILE).unlink()
        except FileNotFoundError:
            pass
