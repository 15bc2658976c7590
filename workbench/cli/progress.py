"""The CLI's progress display for long jobs (training, transfer), on tqdm."""
from __future__ import annotations

import sys

from tqdm import tqdm


class _Bar(tqdm):
    monitor_interval = 0  # no monitor thread: updates come from the training loop anyway


class _Lines:
    """Turns tqdm's carriage-return redraws into plain lines (logs and pipes show no '\\r'); a redraw of the
    line just written (a forced show, then close) is not repeated."""

    def __init__(self, stream):
        self.stream, self.last = stream, ""

    def write(self, text: str) -> None:
        line = text.replace("\r", "").rstrip()
        if line and line != self.last:
            self.last = line
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


class Progress:
    """A live progress bar on a terminal; a plain line at most every `every_s` seconds otherwise (logs, pipes)."""

    def __init__(self, total: int, stream=None, every_s: float = 10.0):
        stream = stream or sys.stderr  # looked up now: sys.stderr may have been replaced since import
        self.total, self.stream, self.every_s = max(1, total), stream, every_s
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        if self.tty:
            self._bar = _Bar(total=self.total, file=stream, unit="step", unit_scale=True, dynamic_ncols=True,
                             disable=False, miniters=0)
        else:
            # miniters=0 turns off tqdm's adaptive skipping: the only throttle is every_s
            self._bar = _Bar(total=self.total, file=_Lines(stream), mininterval=every_s, miniters=0, ascii=True,
                             disable=False, bar_format="step {n}/{total} ({percentage:.0f}%) {desc}")

    def show(self, step: int, text: str = "", force: bool = False) -> None:
        if self.tty:
            self._bar.set_postfix_str(text, refresh=False)
        else:
            self._bar.set_description_str(text, refresh=False)
        if step > self._bar.total:  # the last rollout may overshoot the target: show 100%, not an open count
            self._bar.total = step
        self._bar.update(step - self._bar.n)
        if force:
            self._bar.refresh()

    def done(self) -> None:
        self._bar.close()
