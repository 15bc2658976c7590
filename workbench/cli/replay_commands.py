"""`workbench replay`: inspect, export, and cut start states from recorded episodes; list a run's episodes."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench.cli import UserError

PICKS = ("latest", "best", "worst", "oldest")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "replay",
        help="replay, export or list recorded episodes; save a replay frame as a start state",
        description="EPISODE is a recorded .bk2 (its .npz sidecar is read when present) or a run folder, which "
        "picks one of its recorded episodes (--pick, --level). Without an action, opens the replay viewer.",
    )
    p.add_argument("episode", metavar="EPISODE", help="a .bk2 file, or a run folder (name under the runs folder)")
    p.add_argument("--pick", choices=PICKS, default="latest", help="which episode of a run folder (default latest)")
    p.add_argument("--level", help="only episodes of this level (GAME:STATE) when EPISODE is a run folder")
    p.add_argument("--list", action="store_true", help="list the run's recorded episodes (EPISODE = run folder)")
    p.add_argument("--info", action="store_true", help="print the episode's level, frames, steps and return")
    p.add_argument("--export", metavar="OUT", help="write the episode to OUT.mp4 or OUT.gif")
    p.add_argument("--overlay", action="store_true", help="with --export: draw action probabilities and value")
    p.add_argument("--start", type=int, default=0, help="with --export: first frame (default 0)")
    p.add_argument("--end", type=int, default=None, help="with --export: last frame (default: the last one)")
    p.add_argument("--frame", type=int, help="with --save-state: the frame to cut the start state at")
    p.add_argument("--save-state", metavar="NAME",
                   help="save the emulator state at --frame as the new start state GAME:NAME")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from workbench.replay.errors import ReplayError

    try:
        if args.list:
            return _list(args)
        movie = resolve_episode(args.episode, args.pick, args.level)
        if args.save_state is not None or args.frame is not None:
            return _save_state(movie, args)
        if args.export:
            return _export(movie, args)
        if args.info:
            return _info(movie)
        from workbench.cli import require_display

        require_display()
        from workbench.ui.replay_viewer import show_episode  # the window: Qt only when asked for

        return show_episode(movie)
    except ReplayError as exc:
        raise UserError(str(exc)) from None


def resolve_episode(text: str, pick: str = "latest", level: str | None = None) -> Path:
    """A .bk2 path, a sidecar path (its .bk2), or a run folder's recorded episode picked by `pick`/`level`."""
    from workbench.core.paths import runs_dir
    from workbench.replay.episode_index import list_episodes, rebuild_index

    path = Path(text)
    if not path.exists() and (runs_dir() / text).exists():
        path = runs_dir() / text
    if path.is_dir():
        entries = list_episodes(path, level=level, order=pick, limit=1)
        if not entries:
            rebuild_index(path)  # a run recorded without the index (or an older run): index its sidecars
            entries = list_episodes(path, level=level, order=pick, limit=1)
        if not entries:
            which = f" of level {level}" if level else ""
            raise UserError(f"{path}: no recorded episodes{which}; record with run.record_episodes = true "
                            "or pass a .bk2 file")
        return entries[0].movie_path
    if path.suffix == ".npz":
        path = path.with_suffix(".bk2")
    if not path.is_file():
        raise UserError(f"{text}: no such episode file or run folder; pass a .bk2 file or a run folder")
    if path.suffix != ".bk2":
        raise UserError(f"{path}: not a .bk2 movie; pass a recorded episode (.bk2) or a run folder")
    return path


def _list(args) -> int:
    from workbench.core.paths import runs_dir
    from workbench.replay.episode_index import list_episodes, rebuild_index

    path = Path(args.episode)
    if not path.is_dir() and (runs_dir() / args.episode).is_dir():
        path = runs_dir() / args.episode
    if not path.is_dir():
        raise UserError(f"{args.episode}: not a run folder; --list needs a run folder")
    entries = list_episodes(path, level=args.level, order=args.pick)
    if not entries:
        rebuild_index(path)
        entries = list_episodes(path, level=args.level, order=args.pick)
    print(f"{'return':>10} {'steps':>6} {'step':>9}  level  movie")
    for e in entries:
        end = " (truncated)" if e.truncated else ""
        print(f"{e.episode_return:>10.1f} {e.length:>6} {e.global_step:>9}  {e.level}  "
              f"{e.movie_path.relative_to(path)}{end}")
    if not entries:
        print("(no recorded episodes)", file=sys.stderr)
    return 0


def _info(movie: Path) -> int:
    from workbench.replay.reader import EpisodeReader

    with EpisodeReader(movie) as reader:
        print(f"movie:   {movie}")
        print(f"level:   {reader.level}")
        print(f"frames:  {reader.n_frames}")
        if reader.sidecar is not None:
            meta = reader.sidecar.meta
            print(f"steps:   {meta.length}{' (truncated)' if meta.truncated else ''}")
            print(f"return:  {meta.episode_return:g}")
            print(f"seed:    {meta.seed}")
        else:
            print("sidecar: none (no policy outputs)")
    return 0


def _export(movie: Path, args) -> int:
    from workbench.replay.export import export_video

    def progress(done: int, total: int) -> None:
        if done == total or done % 500 == 0:
            print(f"\rexporting {done}/{total} frames", end="" if done < total else "\n", file=sys.stderr)

    n = export_video(movie, args.export, overlay=args.overlay, start=args.start, end=args.end, progress=progress)
    print(f"wrote {args.export} ({n} frames)")
    return 0


def _save_state(movie: Path, args) -> int:
    from workbench.replay.reader import EpisodeReader

    if args.save_state is None or args.frame is None:
        raise UserError("--frame K and --save-state NAME go together: give both")
    with EpisodeReader(movie, sidecar=None) as reader:
        if not 0 <= args.frame < reader.n_frames:
            raise UserError(f"{movie}: --frame {args.frame} is outside 0..{reader.n_frames - 1}")
        path = reader.save_start_state(args.frame, args.save_state)
        level = f"{reader.game}:{args.save_state}"
    print(f"saved start state {level} ({path})")
    return 0
