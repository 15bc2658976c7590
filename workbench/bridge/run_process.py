"""The detached process that trains one run and streams it to any GUI that connects.

Started by `bridge.supervisor` as `python -m workbench.bridge.run_process RUN_DIR` in its own session, so it
outlives the GUI that started it. It writes `RUN_DIR/bridge.json` (pid, socket address, auth key, frame segment)
so a GUI can (re-)attach at any time: commands come in and `protocol` messages go out over a local socket,
frames go through shared memory. Sending happens on a separate thread from a bounded queue; step summaries are
throttled to what the GUI draws (15 per second) and frames to 30 per second, and with no GUI connected nothing is
streamed and no env copies its frame, so a slow or absent GUI never slows training.
"""
from __future__ import annotations

import collections
import json
import os
import secrets
import signal
import sys
import threading
import time
import traceback
from multiprocessing.connection import Listener
from pathlib import Path

import numpy as np

from workbench.bridge import protocol
from workbench.bridge.frames import FrameWriter
from workbench.paths import atomic_write_text

BRIDGE_FILE = "bridge.json"
LAUNCH_FILE = "launch.json"
LOG_FILE = "bridge.log"
SUMMARY_HZ = 15.0
"""Step summaries per second: the live view redraws its bars and value at most this often."""
FRAME_HZ = 30.0
"""Frames per second copied into the bridge's own segment (in-process vec envs only)."""
NICENESS = 5


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
    """Trainer hooks that stream the watched env's frame and policy outputs, episodes, updates and state."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.trainer = None
        self.levels: list[str] = []
        self.state = "starting"
        self.watched = 0
        self._last_summary = 0.0
        self._last_frame = 0.0
        self.global_step = 0
        self.n_envs = 0
        self.frame_shm = ""
        self._frames: FrameWriter | None = None
        self.broadcaster: Broadcaster | None = None

    def attach(self, trainer, levels: list[str]) -> None:
        """Start serving GUIs once the trainer (and its vec env) exists."""
        self.trainer = trainer
        self.levels = levels
        self.n_envs = trainer.vec_env.num_envs
        name_of = getattr(trainer.vec_env, "frame_shm_name", None)
        if name_of is not None:
            # the env workers write the watched env's frame straight into this segment: the GUI maps it. No env
            # copies frames until a GUI connects (`_clients_changed`).
            self.frame_shm = name_of()
            trainer.vec_env.watch(None)
        else:
            # an in-process vec env: copy its frame into our own segment (throttled in on_step)
            self._frames = FrameWriter()
            self.frame_shm = self._frames.name
        self.broadcaster = Broadcaster(self._hello, self._command, self._clients_changed)
        atomic_write_text(self.run_dir / BRIDGE_FILE, json.dumps({
            "pid": os.getpid(),
            "address": self.broadcaster.address.encode("latin-1").hex(),
            "authkey": self.broadcaster.authkey.hex(),
            "frame_shm": self.frame_shm,
            "frame_format": "bridge" if self._frames is not None else "vec_env",
        }))

    # -- GUI side ----------------------------------------------------------------------------
    def _hello(self) -> protocol.Hello:
        return protocol.Hello(
            run_dir=str(self.run_dir), frame_shm=self.frame_shm, n_envs=self.n_envs,
            action_labels=list(self.trainer.action_labels), levels=self.levels, watched=self.watched,
            state=self.state, frame_format="bridge" if self._frames is not None else "vec_env",
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
                if self._frames is None and self.broadcaster.has_clients:
                    self.trainer.vec_env.watch(command.env_index)  # a header word in shared memory: instant

    def _clients_changed(self, count: int) -> None:
        """Frames cost the watched env worker a full-size copy per step: only while someone looks."""
        if self._frames is None:
            self.trainer.vec_env.watch(self.watched if count else None)

    def set_state(self, state: str, error: str = "") -> None:
        self.state = state
        if self.broadcaster is not None:
            self.broadcaster.publish(protocol.Status(state, self.global_step, error))

    # -- trainer hooks -----------------------------------------------------------------------
    def on_step(self, record) -> None:
        self.global_step = record.global_step
        if not self.broadcaster.has_clients:
            return
        now = time.monotonic()
        i = self.watched
        if self._frames is not None and now - self._last_frame >= 1.0 / FRAME_HZ:
            self._last_frame = now
            frame = self.trainer.vec_env.frame()
            if frame is not None:
                self._frames.write(frame)
        if now - self._last_summary < 1.0 / SUMMARY_HZ:
            return
        self._last_summary = now
        self.broadcaster.publish(protocol.StepSummary(
            global_step=record.global_step, env_index=i, probs=np.asarray(record.probs[i], dtype=np.float32),
            action=int(record.actions[i]), value=float(record.values[i]), reward=float(record.rewards[i]),
        ))

    def on_episode(self, record) -> None:
        self.broadcaster.publish(protocol.Episode(
            record.global_step, record.env_index, record.level, float(record.episode_return), int(record.length),
            bool(record.truncated)))

    def on_update(self, record) -> None:
        self.broadcaster.publish(protocol.Update(record.global_step, record.update, dict(record.metrics)))

    def close(self) -> None:
        if self.broadcaster is not None:
            self.broadcaster.close()
        if self._frames is not None:
            self._frames.close()
        try:
            (self.run_dir / BRIDGE_FILE).unlink()
        except FileNotFoundError:
            pass


class EvaluationStopped(Exception):
    """SIGTERM while playing the within-trial trials: training is done and saved, only the curve is skipped."""


def _on_sigterm(bridge: LiveBridge, trainer) -> None:
    if bridge.state == "evaluating":
        raise EvaluationStopped()
    if trainer is None:
        sys.exit(143)
    trainer.stop()


def evaluate_within_trial(bridge: LiveBridge, run_dir: Path, final_state: str, device: str) -> None:
    """After training, as `workbench train` does: a finished RL² run writes its within-trial curve (status
    'evaluating' meanwhile). A failure here is logged, not fatal: the trained run stays finished."""
    from workbench.engine.rl2.evaluate import evaluate_after_training

    try:
        result = evaluate_after_training(run_dir, final_state, device=device,
                                         on_start=lambda: bridge.set_state("evaluating"))
        if result is not None:
            print(f"wrote {result[1]}", file=sys.stderr, flush=True)
    except EvaluationStopped:
        print("within-trial evaluation stopped; run `workbench rl2-eval RUN` for the curve", file=sys.stderr,
              flush=True)
    except Exception as exc:  # noqa: BLE001 - the curve is extra; the run itself finished
        print("within-trial evaluation failed:\n" + "".join(traceback.format_exception(exc)), file=sys.stderr,
              flush=True)
    finally:
        bridge.state = final_state  # a late stop is an ordinary one again (main publishes the state)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    run_dir = Path(argv[0]).resolve()
    from workbench.bridge import trainer_factory

    bridge = LiveBridge(run_dir)
    trainer = None
    try:
        # Training takes every core it gets; a slightly lower priority keeps the window that watches it
        # responsive and costs training nothing while the GUI is idle. Env workers inherit it.
        os.nice(NICENESS)
    except OSError:
        pass
    # SIGTERM (e.g. the GUI stopping a run it cannot reach) stops like the Stop button: checkpoint, clean exit
    signal.signal(signal.SIGTERM, lambda *_: _on_sigterm(bridge, trainer))
    try:
        launch = json.loads((run_dir / LAUNCH_FILE).read_text())
        trainer, levels = trainer_factory.build(run_dir, launch, trainer_factory.make_hooks(bridge))
        bridge.attach(trainer, levels)
        bridge.set_state("running")
        trainer_factory.run(trainer, launch)
        state = trainer_factory.final_state(trainer)
        evaluate_within_trial(bridge, run_dir, state, str(trainer.compute.device))
        bridge.set_state(state)
        return 0
    except BaseException as exc:  # noqa: BLE001 - everything a run does must surface as its failed state
        print("".join(traceback.format_exception(exc)), file=sys.stderr, flush=True)
        short = f"{type(exc).__name__}: {exc}"
        trainer_factory.mark_failed(run_dir, short)
        if bridge.broadcaster is not None:
            bridge.broadcaster.publish(protocol.RunFailed(short))
        bridge.set_state("failed", short)
        return 1
    finally:
        bridge.close()
        trainer_factory.close(trainer)


if __name__ == "__main__":
    sys.exit(main())
