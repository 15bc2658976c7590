"""Where and in which precision the learner runs.

`device="auto"` picks CUDA when present, else the CPU. `precision="auto"` picks what measured fastest for the
Nature CNN learner (minibatch 256, fwd+bwd):
- CPU without native bf16 (AVX2 EPYC, the CI machine): fp32; autocast there emulates bf16, 11x slower
  (1.55 vs 17 ms/sample on one core);
- CPU with AVX-512 BF16 / AMX (Xeon host of the H200 machine): bf16 autocast, 0.063 vs 0.084 ms/sample;
- CUDA (H200): fp32 (with TF32 matmuls); bf16 autocast was slower there, 0.024 vs 0.018 ms/sample, since a
  network this small is bound by kernel launches and the casts add kernels. `precision="bf16"` forces it.
On the CPU the convolutions run channels-last, about 2x faster than NCHW (policies.NatureCNN).
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass(frozen=True)
class Compute:
    """The learner's device and autocast dtype (None = plain fp32)."""

    device: torch.device
    autocast_dtype: torch.dtype | None

    @property
    def precision(self) -> str:
        return "bf16" if self.autocast_dtype is torch.bfloat16 else "fp32"

    def autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda[:N]'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but torch sees no CUDA GPU; use 'cpu' or 'auto'")
    return dev


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX-512 BF16 or AMX). $WORKBENCH_NATIVE_BF16 = 0 / 1 overrides
    the answer (to run the suite as it runs on a CPU of the other kind)."""
    override = os.environ.get("WORKBENCH_NATIVE_BF16")
    if override in ("0", "1"):
        return override == "1"
    flags = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        flags = cpuinfo.read_text(errors="ignore")
        if "avx512_bf16" in flags or "amx_bf16" in flags:
            return True
        return False
    try:  # not Linux: ask oneDNN
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:
        return False


def resolve_compute(device: str = "auto", precision: str = "auto") -> Compute:
    dev = resolve_device(device)
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"unknown precision {precision!r}; use 'auto', 'fp32' or 'bf16'")
    if precision == "fp32":
        return Compute(dev, None)
    if precision == "bf16":
        return Compute(dev, torch.bfloat16)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        return Compute(dev, None)
    return Compute(dev, torch.bfloat16 if cpu_has_native_bf16() else None)


def learner_threads() -> int:
    """Threads for the learner's update: every core this process may use, or $WORKBENCH_LEARNER_THREADS (tiny
    networks, e.g. RL²'s bandit GRU, run many times slower on 2 threads than on 1 when the cores are busy)."""
    if os.environ.get("WORKBENCH_LEARNER_THREADS", "").isdigit():
        return max(1, int(os.environ["WORKBENCH_LEARNER_THREADS"]))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to serve blocks of up to 32 MiB from the heap and to keep freed memory there, instead of
    mapping each large block fresh and unmapping it on free. The learner allocates tensors of 1-29 MiB on every
    minibatch (activations, gradients, the float frames); fresh mappings are page-faulted in again each time.
    Measured on the 2-core EPYC, one Nature-CNN minibatch of 256 frames (fwd+bwd+Adam): 330-9600 page faults and
    2-35 ms of kernel time without this, 0-300 faults and under 1 ms with it. Process-wide, like
    MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_, without a restart; WORKBENCH_KEEP_FREED_MEMORY=0 turns it off.
    Returns False where there is no glibc (macOS, Windows, musl): nothing changes there."""
    if os.environ.get("WORKBENCH_KEEP_FREED_MEMORY", "1") == "0":
        return False
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, 32 << 20)) and bool(mallopt(m_trim_threshold, 1 << 30))
