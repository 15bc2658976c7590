"""`workbench` with no subcommand: the window. `--preset FILE` opens a preset (default: paths.DEFAULT_PRESET);
`--smoke` opens the window, processes events briefly, closes it and exits 0 (tests and `make run` checks)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def style_sheet() -> str:
    try:
        return (RESOURCES / "style.qss").read_text()
    except OSError:
        return ""


def main(argv: list[str] | None = None) -> int:
    from workbench.core.paths import DEFAULT_PRESET

    parser = argparse.ArgumentParser(prog="workbench", description="Open the Retro Workbench window.")
    parser.add_argument("--preset", type=Path, default=DEFAULT_PRESET, help="preset to open (TOML)")
    parser.add_argument("--smoke", action="store_true", help="open, process events briefly, close, exit 0")
    args = parser.parse_args(argv)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Retro Workbench")
    app.setStyle("Fusion")
    app.setStyleSheet(style_sheet())
    from workbench.ui.main_window import MainWindow

    window = MainWindow(args.preset if args.preset and args.preset.exists() else None)
    window.resize(1600, 980)
    if args.preset and not args.preset.exists():
        window.statusBar().showMessage(f"{args.preset}: no such preset file; open one with File > Open preset")
    window.show()
    if args.smoke:
        window.close_policy = "leave"  # a smoke check never stops someone's runs
        QTimer.singleShot(500, window.close)
    app.exec()
    return 0
