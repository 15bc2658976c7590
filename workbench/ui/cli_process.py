"""A `python -m workbench …` command in the background of the window (transfer, rl2-eval): its output kept, one
`finished(code)` when it ends, and a way to stop it with its children.

Slots are bound methods of this QObject, never lambdas that capture the QProcess, and nothing is deleted from
inside its own `finished` signal: a QProcess deleteLater'ed from that signal, with a lambda holding its Python
wrapper, crashed the interpreter in QObject::~QObject (seen as a segfault in about one test run in three).
The view keeps the finished object until it starts the next one."""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, Signal

OUTPUT_CHARS = 20_000
"""The tail of the merged stdout/stderr that is kept (the CLI's last line names the file and the fix)."""


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid` (from /proc; children first come last)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class CliProcess(QObject):
    """`python -m workbench *args`, stdout and stderr merged. `start()`, then `finished(exit_code)` once."""

    finished = Signal(int)

    def __init__(self, args: list[str], parent: QObject | None = None):
        super().__init__(parent)
        self.args = list(args)
        self.output = ""
        self.exit_code: int | None = None
        self._process = QProcess(self)
        self._process.setProgram(sys.executable)
        self._process.setArguments(["-m", "workbench", *self.args])
        self._process.setProcessChannelMode(QProcess.MergedChannels)
        self._process.readyRead.connect(self._read)
        self._process.finished.connect(self._done)

    def start(self) -> None:
        self._process.start()

    @property
    def running(self) -> bool:
        return self.exit_code is None and self._process.state() != QProcess.NotRunning

    def pid(self) -> int:
        return int(self._process.processId() or 0)

    def _read(self) -> None:
        self.output = (self.output + bytes(self._process.readAll()).decode(errors="replace"))[-OUTPUT_CHARS:]

    def _done(self, code: int, _status) -> None:
        self._read()
        self.exit_code = int(code)
        self.finished.emit(self.exit_code)

    def interrupt(self, timeout_ms: int = 10_000) -> None:
        """Ctrl-C (the command closes its workers and shared memory on the way out), then kill after timeout."""
        if self.pid():
            os.kill(self.pid(), signal.SIGINT)
        self._wait_or_kill(timeout_ms)

    def kill_tree(self, timeout_ms: int = 5000) -> None:
        """SIGKILL every child of the command (job processes), then terminate the command itself."""
        pid = self.pid()
        if not pid:
            return
        for child in descendants(pid):
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._process.terminate()
        self._wait_or_kill(timeout_ms)

    def _wait_or_kill(self, timeout_ms: int) -> None:
        if self._process.state() == QProcess.NotRunning:
            return
        if not self._process.waitForFinished(timeout_ms):
            self._process.kill()
            self._process.waitForFinished(5000)
