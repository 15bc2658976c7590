"""Small process helpers shared by the engine and the bridge (no Qt)."""
from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """True while `pid` runs. A zombie still answers kill(0); it counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True
