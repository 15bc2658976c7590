"""Before Qt loads: can the window open here? Qt's own answer to a missing X library is an abort with "Could not
load the Qt platform plugin xcb" and no hint of which package is missing; to no display, the same abort.

`display_problem()` returns one line naming the Debian/Ubuntu package to install (found by asking `ldd` what the
xcb plugin's libraries lack, or by loading the known ones with ctypes when there is no ldd) and the offscreen
option, or None when the window can open (or a non-X platform was asked for)."""
from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Mapping

PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0", "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0", "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-shm.so.0": "libxcb-shm0", "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-render.so.0": "libxcb-render0", "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xinerama.so.0": "libxcb-xinerama0", "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-glx.so.0": "libxcb-glx0", "libxcb-randr.so": "libxcb-randr0", "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1", "libX11.so.6": "libx11-6", "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0", "libSM.so.6": "libsm6", "libICE.so.6": "libice6",
    "libEGL.so.1": "libegl1", "libGL.so.1": "libgl1", "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1", "libfreetype.so.6": "libfreetype6", "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}
"""Library soname -> the Debian/Ubuntu package that ships it."""
NEEDED_BY_XCB = [name for name in PACKAGES if name.startswith(("libxcb", "libX11", "libxkbcommon"))
                 and name != "libxcb-randr.so"]
OFFSCREEN_HINT = "or run without a window with QT_QPA_PLATFORM=offscreen"


def xcb_plugin() -> Path | None:
    """PySide6's xcb platform plugin (found without importing Qt)."""
    spec = importlib.util.find_spec("PySide6")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if path.is_file():
            return path
    return None


def missing_libraries(plugin: Path | None) -> list[str]:
    """Sonames the xcb plugin needs that cannot be found: from `ldd` (its whole dependency tree), else by
    loading the usual ones with ctypes."""
    ldd = shutil.which("ldd")
    if plugin is not None and ldd:
        try:
            out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.SubprocessError):
            out = None
        if out is not None:
            return sorted({line.split("=>")[0].strip() for line in out.splitlines() if "not found" in line})
    missing = []
    for name in NEEDED_BY_XCB:
        try:
            ctypes.CDLL(name)
        except OSError:
            missing.append(name)
    return missing


def display_problem(env: Mapping[str, str] | None = None, platform: str | None = None,
                    missing: Callable[[Path | None], list[str]] = missing_libraries,
                    plugin: Callable[[], Path | None] = xcb_plugin) -> str | None:
    env = os.environ if env is None else env
    platform = platform or sys.platform
    if not platform.startswith("linux"):
        return None
    qpa = env.get("QT_QPA_PLATFORM", "").split(":")[0].strip()
    if qpa and qpa != "xcb":
        return None  # offscreen, wayland, vnc, ...: the user chose; Qt's errors for those are specific
    if not env.get("DISPLAY"):
        if env.get("WAYLAND_DISPLAY") and not qpa:
            return None  # Qt picks its wayland plugin
        return ("no display: DISPLAY is not set, so the window has nowhere to open; run it in a desktop "
                "session, over `ssh -X`, under Xvfb (`xvfb-run workbench`), " + OFFSCREEN_HINT
                + " (e.g. QT_QPA_PLATFORM=offscreen workbench --smoke)")
    lacking = missing(plugin())
    if not lacking:
        return None
    packages = list(dict.fromkeys(PACKAGES.get(name, name) for name in lacking))
    unknown = [name for name in lacking if name not in PACKAGES]
    where = f" (the packages that provide {', '.join(unknown)})" if unknown else ""
    return (f"the window cannot open: Qt's xcb platform plugin needs {', '.join(lacking)}, which is not "
            f"installed; on Debian/Ubuntu: sudo apt-get install {' '.join(packages)}{where}, " + OFFSCREEN_HINT)
