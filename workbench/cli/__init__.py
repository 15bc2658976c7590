"""The `workbench` command. Each area registers its subcommands from its own module; handlers import
heavy packages (torch, Qt) lazily so `workbench catalog` starts fast."""
from __future__ import annotations

import argparse
import importlib
import sys

# Modules exposing `register(subparsers)`; each adds its subcommands.
COMMAND_MODULES = [
    "workbench.cli.catalog_commands",
    "workbench.cli.replay_commands",
    "workbench.cli.train_commands",
    "workbench.cli.rl2_commands",
    "workbench.cli.runs_commands",
]


class UserError(Exception):
    """A problem with the user's input: printed as one clear message, no traceback, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Retro Workbench: train, fine-tune, score and replay RL agents on retro games. "
        "Without a subcommand, opens the workbench window.",
    )
    parser.add_argument("--version", action="version", version="%(prog)s " + _version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _version() -> str:
    from workbench import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        # No subcommand: the window. Its own options (--preset, --smoke) are parsed by the UI.
        problem = _display_problem(rest)
        if problem:
            print(f"workbench: {problem}", file=sys.stderr)
            return 2
        from workbench.ui.app import main as gui_main

        return gui_main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return int(handler(args) or 0)
    except UserError as exc:
        print(f"workbench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _display_problem(rest: list[str]) -> str | None:
    if any(arg in ("-h", "--help") for arg in rest):
        return None
    from workbench.cli.display_check import display_problem

    return display_problem()


def require_display() -> None:
    """Raise UserError when the window cannot open here (before Qt loads and aborts)."""
    from workbench.cli.display_check import display_problem

    problem = display_problem()
    if problem:
        raise UserError(problem)


if __name__ == "__main__":
    sys.exit(main())
