"""The CLI progress display: plain, throttled lines where the output is not a terminal; a live bar where it is."""
from __future__ import annotations

import io

from workbench.cli.progress import Progress


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_at_most_every_every_s(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr("tqdm.std.time", clock)  # tqdm reads its clock through this name
    stream = io.StringIO()
    progress = Progress(1000, stream=stream, every_s=10.0)
    for step in range(0, 1000, 50):  # 20 updates, one every 2 s: a line every 10 s
        clock.now += 2.0
        progress.show(step, f"update {step // 50}")
    progress.show(990, "final", force=True)
    progress.done()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()
    assert lines[0] == "step 0/1000 (0%)"
    assert lines[1] == "step 200/1000 (20%) update 4"  # 10 s after the start
    assert 4 <= len(lines) - 1 <= 6  # ~40 s of updates: four or five throttled lines, plus the forced one
    assert lines[-1] == "step 990/1000 (99%) final"  # forced, and not repeated by done()


def test_overshooting_the_total_shows_full():
    stream = io.StringIO()
    progress = Progress(100, stream=stream, every_s=0.0)
    progress.show(128, "done")
    progress.done()
    assert stream.getvalue().splitlines()[-1] == "step 128/128 (100%) done"


def test_a_terminal_gets_a_live_bar():
    stream = _Terminal()
    progress = Progress(1000, stream=stream)
    progress.show(500, "update 3", force=True)
    progress.done()
    out = stream.getvalue()
    assert "\r" in out and " 50%|" in out and "update 3" in out and out.endswith("\n")
