"""Compute choices the trainer tests do not cover: the allocator setting."""
from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys, torch
from workbench.engine.device import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
x = torch.empty(6 << 20)  # 24 MiB, the size of a minibatch's float frames
heap = next(line.split()[0] for line in open("/proc/self/maps") if line.rstrip().endswith("[heap]"))
lo, hi = (int(v, 16) for v in heap.split("-"))
print("heap" if lo <= x.data_ptr() < hi else "mmap")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt and /proc/self/maps")
def test_keep_freed_memory_serves_large_tensors_from_the_heap():
    # glibc maps a large block fresh (and unmaps it on free: page faults on every reuse) unless the setting is on;
    # then it comes from the heap, which is kept. Each mode in a fresh process: the setting is process-wide.
    where = {mode: subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                                  check=True).stdout.strip() for mode in ("default", "keep")}
    assert where == {"default": "mmap", "keep": "heap"}
