"""`workbench runs`: the runs under $WORKBENCH_RUNS with their state, agent steps and best return (the best mean
return over 100 consecutive episodes, what `best.pt` is chosen by); `--json` for scripts."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

BEST_WINDOW = 100


def register(sub: argparse._SubParsersAction) -> None:
    runs = sub.add_parser("runs", help="list the runs with their state, steps and best return",
                          description="The runs under $WORKBENCH_RUNS (default ./runs), newest first: state "
                          "(running, paused, finished, stopped, failed), agent steps, episodes and best return "
                          f"(best mean over {BEST_WINDOW} consecutive episodes).")
    runs.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    runs.add_argument("--root", type=Path, metavar="DIR", help="runs folder (default: $WORKBENCH_RUNS or ./runs)")
    runs.set_defaults(handler=_runs)


def best_return(returns: list[float], window: int = BEST_WINDOW) -> float | None:
    """Best mean over `window` consecutive episodes (over all of them while there are fewer)."""
    if not returns:
        return None
    if len(returns) <= window:
        return sum(returns) / len(returns)
    total = sum(returns[:window])
    best = total
    for i in range(window, len(returns)):
        total += returns[i] - returns[i - window]
        best = max(best, total)
    return best / window


def run_rows(root: Path | None = None) -> list[dict]:
    from workbench.core.processes import pid_alive
    from workbench.engine.run_store import RunStore, list_runs

    rows = []
    for info in list_runs(root):
        store = RunStore(info.path)
        status = store.status()
        try:
            returns = [float(r["episode_return"]) for r in store.episodes()]
        except Exception:  # noqa: BLE001 - an unreadable metrics file: the run is still listed
            returns = []
        state = info.state
        pid = status.get("pid")
        if state in ("running", "paused", "starting", "evaluating") and pid and not pid_alive(int(pid)):
            state = f"{state} (process gone)"
        best = best_return(returns)
        rows.append({"name": info.name, "state": state, "steps": info.global_step, "episodes": len(returns),
                     "best_return": None if best is None else round(best, 3), "error": status.get("error"),
                     "path": str(info.path)})
    return rows


def _runs(args) -> int:
    from workbench.core.paths import runs_dir

    rows = run_rows(args.root)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    root = args.root or runs_dir()
    if not rows:
        print(f"no runs in {root} (start one with `workbench train PRESET`)", file=sys.stderr)
        return 0
    name_w = max(4, *(len(r["name"]) for r in rows))
    state_w = max(5, *(len(r["state"]) for r in rows))
    print(f"{'run':<{name_w}}  {'state':<{state_w}}  {'steps':>10}  {'episodes':>8}  {'best return':>11}")
    for r in rows:
        best = "—" if r["best_return"] is None else f"{r['best_return']:.1f}"
        line = f"{r['name']:<{name_w}}  {r['state']:<{state_w}}  {r['steps']:>10,}  {r['episodes']:>8,}  {best:>11}"
        if r["error"]:
            line += f"  {r['error'].splitlines()[0][:80]}"
        print(line)
    print(f"{len(rows)} runs in {root}", file=sys.stderr)
    return 0
