"""`workbench catalog`, `workbench roms import|status`, `workbench preset check|list`."""
from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    catalog = sub.add_parser("catalog", help="list the games and start states stable-retro knows",
                             description="List every game stable-retro knows (stable, experimental, contrib and "
                             "your custom integrations) with its start states and whether its ROM is installed.")
    catalog.add_argument("--playable", action="store_true", help="only games whose ROM is installed")
    catalog.add_argument("--system", metavar="S", help="only games of this system (Genesis, Atari2600, Nes, ...)")
    catalog.add_argument("--search", metavar="TEXT", default="", help="only game ids containing every word of TEXT")
    catalog.add_argument("--json", action="store_true", help="print JSON instead of a table")
    catalog.set_defaults(handler=_catalog)

    roms = sub.add_parser("roms", help="import ROMs you own; show which games are playable")
    roms_sub = roms.add_subparsers(dest="roms_command", metavar="ACTION", required=True)
    imp = roms_sub.add_parser("import", help="import ROM files, folders (recursive) and zip archives",
                              description="Match files by SHA-1 against the games stable-retro knows and install "
                              "the matches. An installed ROM is never replaced.")
    imp.add_argument("paths", nargs="*", metavar="PATH", help="ROM files, folders or zip archives")
    imp.add_argument("--atari", action="store_true", help="import the Atari 2600 ROMs that ship inside ale-py")
    imp.add_argument("--json", action="store_true", help="print one JSON result per file")
    imp.set_defaults(handler=_roms_import)
    status = roms_sub.add_parser("status", help="where ROMs go, which games are playable, what custom levels need")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=_roms_status)
    doctor = roms_sub.add_parser("doctor", help="say what a ROM file that matches no game most likely is",
                                 description="Read each file's header (Genesis, NES, SNES, Game Boy, GBA, Master "
                                 "System, N64; Atari 2600 by size) and name the closest games stable-retro knows "
                                 "with the SHA-1s they expect.")
    doctor.add_argument("paths", nargs="+", metavar="FILE", help="ROM files")
    doctor.add_argument("--json", action="store_true", help="print JSON")
    doctor.set_defaults(handler=_roms_doctor)

    preset = sub.add_parser("preset", help="check and list presets (level sets + settings)")
    preset_sub = preset.add_subparsers(dest="preset_command", metavar="ACTION", required=True)
    check = preset_sub.add_parser("check", help="validate a preset file against this installation",
                                  description="Report every problem of a preset: TOML syntax, unknown settings, "
                                  "unknown games or states, missing ROMs, incompatible action spaces. Exit 0 when "
                                  "there are no errors (warnings are fine), 1 otherwise.")
    check.add_argument("file", metavar="FILE")
    check.set_defaults(handler=_preset_check)
    listing = preset_sub.add_parser("list", help="list shipped and saved presets")
    listing.set_defaults(handler=_preset_list)


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
             for row in [headers, *rows]]
    return "\n".join(lines)


def _catalog(args: argparse.Namespace) -> int:
    from workbench.catalog.catalog import Catalog
    from workbench.cli import UserError

    catalog = Catalog()
    if args.system and args.system.lower() not in {s.lower() for s in catalog.systems()}:
        raise UserError(f"no system named {args.system!r}; systems: {', '.join(catalog.systems())}")
    games = catalog.search(args.search, system=args.system, playable=True if args.playable else None)
    if args.json:
        json.dump([game.to_json() for game in games], sys.stdout, indent=1)
        print()
        return 0
    rows = [[g.id, g.system, str(len(g.states)), g.default_state or "-", g.integration,
             "yes" if g.playable else g.rom_status] for g in games]
    print(_table(rows, ["GAME", "SYSTEM", "STATES", "DEFAULT STATE", "INTEGRATION", "ROM"]))
    playable = sum(g.playable for g in games)
    print(f"{len(games)} games, {playable} playable" + (
        "" if playable else "; import ROMs with `workbench roms import PATH` or `--atari`"))
    _print_custom_levels(catalog, games)
    return 0


def _print_custom_levels(catalog, games=None) -> list:
    """The rom.delta games' levels with what each needs (nothing printed when there are none)."""
    from workbench.catalog.contest_levels import custom_levels

    levels = custom_levels(catalog, games)
    if levels:
        ready = sum(level.rom_status == "ok" for level in levels)
        print(f"\n{_count(len(levels), 'custom level')} ({ready} playable), built by `workbench roms import` from "
              "the base ROM and the integration's rom.delta:")
        rows = [[lv.level, lv.group, "yes" if lv.rom_status == "ok" else lv.rom_status, lv.needs or "-"]
                for lv in levels]
        print(_table(rows, ["LEVEL", "SET", "ROM", "NEEDS"]))
    return levels


def _roms_import(args: argparse.Namespace) -> int:
    from workbench.catalog.roms import import_atari, import_roms, summarize
    from workbench.cli import UserError

    if not args.paths and not args.atari:
        raise UserError("give ROM files, folders or zip archives to import, or --atari for the Atari 2600 ROMs "
                        "that ship with ale-py")
    results = import_roms(args.paths) if args.paths else []
    if args.atari:
        results += import_atari()
    if args.json:
        json.dump([r.to_json() for r in results], sys.stdout, indent=1)
        print()
    else:
        for r in results:
            if args.atari and not args.paths and r.status == "unknown":
                continue  # ale-py ships many games stable-retro has no integration for: not worth a line each
            game = f" -> {r.game}" if r.game else ""
            reason = f" ({r.reason})" if r.reason else ""
            print(f"{r.status:<10} {r.path}{game}{reason}")
        counts = summarize(results)
        print(", ".join(f"{n} {status}" for status, n in counts.items() if n) or "no files found")
        if counts["unknown"] and not args.atari:
            print("`workbench roms doctor FILE` says more about a file that matches no game")
        if args.atari and not args.paths and counts["unknown"]:
            print(f"({counts['unknown']} of ale-py's ROMs are games stable-retro has no integration for)")
    counts = summarize(results)
    return 1 if counts["failed"] or (args.paths and not any(counts[s] for s in ("imported", "patched", "present"))) \
        else 0


def _roms_status(args: argparse.Namespace) -> int:
    from workbench.catalog.catalog import Catalog
    from workbench.catalog.contest_levels import custom_levels

    catalog = Catalog()
    games = catalog.games()
    playable = [g for g in games if g.playable]
    broken = [g for g in games if g.rom_status in ("mismatch", "unreadable")]
    if args.json:
        json.dump({"data_root": str(catalog.data_root), "custom_integrations": [str(p) for p in catalog.custom_dirs],
                   "games": len(games), "playable": [g.id for g in playable],
                   "bad_roms": [{"game": g.id, "path": g.rom_path, "status": g.rom_status} for g in broken],
                   "custom_levels": [level.to_json() for level in custom_levels(catalog)]},
                  sys.stdout, indent=1)
        print()
        return 0
    print(f"stable-retro data:    {catalog.data_root}")
    print(f"custom integrations:  {', '.join(str(p) for p in catalog.custom_dirs)}")
    print(f"{len(playable)} of {len(games)} games playable")
    by_system: dict[str, list[str]] = {}
    for g in playable:
        by_system.setdefault(g.system, []).append(g.id)
    for system, ids in sorted(by_system.items()):
        print(f"  {system} ({len(ids)}): {', '.join(ids)}")
    for g in broken:
        print(f"  bad ROM: {g.id}: {g.rom_path} is {g.rom_status}; delete it and import the right file")
    if len(playable) <= 1:
        print("Import more: `workbench roms import --atari` (ships with ale-py) or `workbench roms import PATH`.")
    _print_custom_levels(catalog)
    return 0


def _roms_doctor(args: argparse.Namespace) -> int:
    from pathlib import Path

    from workbench.catalog.roms import diagnose_file

    reports = []
    for raw in args.paths:
        try:
            reports.append(diagnose_file(Path(raw)))
        except OSError as exc:
            reports.append({"path": raw, "error": exc.strerror or str(exc)})
    if args.json:
        json.dump(reports, sys.stdout, indent=1)
        print()
        return 0 if all("error" not in r for r in reports) else 1
    for report in reports:
        if "error" in report:
            print(f"{report['path']}: cannot read it ({report['error']})")
        else:
            print("\n".join(report["lines"]))
    return 0 if all("error" not in r for r in reports) else 1


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _preset_check(args: argparse.Namespace) -> int:
    from workbench.catalog.level_checks import check_preset_file

    from workbench.catalog.catalog import Catalog

    catalog = Catalog()
    result = check_preset_file(args.file, catalog)
    if result.preset is not None:
        levels = result.preset.levels
        print(f"{args.file}: {_count(len(levels.train), 'train level')}, {_count(len(levels.test), 'test level')} "
              f"({_count(len(levels.games()), 'game')})")
    for problem in result.problems:
        print(problem)
    if result.missing_roms:
        print(f"Missing ROMs: {', '.join(result.missing_roms)}")
        _print_missing_bases(catalog, result)
    print(f"{_count(len(result.errors), 'error')}, {_count(len(result.warnings), 'warning')}")
    return 0 if result.ok else 1


def _print_missing_bases(catalog, result) -> None:
    """Which base ROM each unbuilt custom (rom.delta) game of the preset is built from at import."""
    levels = result.preset.levels.train + result.preset.levels.test
    bases: dict[str, list[str]] = {}
    for game in result.missing_roms:
        entry = catalog.find(game)
        if entry is not None and entry.needs_patch:
            count = sum(level.game == game for level in levels)
            bases.setdefault(entry.patch_base or "a base ROM its id does not name", []).append(
                f"{game} ({_count(count, 'level')})")
    if not bases:
        return
    print("Custom levels are built by `workbench roms import` from their base ROM:")
    for base, games in bases.items():
        state = "installed: import it again to build them" if catalog.is_playable(base) else "missing"
        print(f"  {base} ({state}): {', '.join(games)}")


def _preset_list(args: argparse.Namespace) -> int:
    from workbench.core.presets import PresetError, load_preset, list_presets

    for path in list_presets():
        try:
            preset = load_preset(path)
            print(f"{path}: {preset.name}: {len(preset.levels.train)} train, {len(preset.levels.test)} test — "
                  f"{preset.description}")
        except PresetError as exc:
            print(f"{exc} (broken)")
    return 0
