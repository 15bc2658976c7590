"""What a speed figure ran on, printed beside it: the CPU's vector flags (they decide `precision = "auto"`),
the core count and the load just before."""
from __future__ import annotations

import os
import platform
from pathlib import Path

FLAGS = ["avx2", "avx512f", "avx512_bf16", "amx_bf16"]


def cpu_flags() -> str:
    try:
        flags = next(ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")).split()
    except (OSError, StopIteration):
        return "cpu flags unknown"
    return "cpu_flags=" + ",".join(f for f in FLAGS if f in flags)


def machine_line() -> str:
    return f"python={platform.python_version()} cpus={os.cpu_count()} {cpu_flags()} load={os.getloadavg()[0]:.2f}"
