"""`workbench rl2-eval`: the within-trial curve of an RL² run (does the agent improve from episode 1 to K of a
trial on levels it has not trained on?). Training itself is `workbench train PRESET` with run.algorithm = "rl2"."""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from workbench.cli import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rl2-eval", help="within-trial curve of an RL² run (mean return of episode 1..K)",
                       description="Play trials of K episodes (the run's rl2.episodes_per_trial) with the RL² "
                       "policy of RUN on its test levels (training levels when it has none) and write the mean "
                       "and standard deviation of the return of each episode index to RUN/rl2_eval.json.")
    p.add_argument("run", metavar="RUN", help="the RL² run (folder or name under $WORKBENCH_RUNS)")
    p.add_argument("--trials", type=int, default=20, metavar="N", help="trials to play (default 20)")
    p.add_argument("--levels", choices=("test", "train"), help="which level list to play (default: test levels, "
                   "or training levels when the run has no test levels)")
    p.add_argument("--checkpoint", metavar="FILE", help="checkpoint to evaluate (default: the run's newest)")
    p.add_argument("--envs", type=int, metavar="N", help="env worker processes (default: the run's ppo.n_envs)")
    p.add_argument("--greedy", action="store_true", help="take the most likely action instead of sampling")
    p.add_argument("--device", default="cpu", metavar="D", help="'cpu' (default) or 'cuda[:N]'")
    p.set_defaults(handler=_rl2_eval)


def print_curve(curve, stream=sys.stdout) -> None:
    """The curve as a small Markdown table: one row per episode index."""
    stream.write(f"episode | mean return | std   ({curve.overall.n_trials} trials, {curve.level_list or 'given'} "
                 f"levels, step {curve.global_step})\n--- | --- | ---\n")
    for i, (mean, std) in enumerate(zip(curve.mean, curve.std), start=1):
        stream.write(f"{i} | {mean:.2f} | {std:.2f}\n")
    gain = curve.overall.second_minus_first
    if gain is not None:
        stream.write(f"episode 2 - episode 1: {gain['mean']:+.2f} ({gain['confidence']:.0%} interval "
                     f"[{gain['ci_low']:+.2f}, {gain['ci_high']:+.2f}])\n")


@contextlib.contextmanager
def within_trial_errors_as_user_error(run_dir: Path):
    """Bad runs, checkpoints or settings met while evaluating become a UserError naming the file."""
    from workbench.engine.checkpoint import CheckpointError
    from workbench.engine.run_store import RunStoreError

    try:
        yield
    except (CheckpointError, RunStoreError) as exc:
        raise UserError(str(exc)) from None
    except ValueError as exc:
        raise UserError(f"{run_dir}: {exc}" if str(run_dir) not in str(exc) else str(exc)) from None


def write_within_trial_curve(run_dir: Path, n_trials: int = 20, **options):
    """Evaluate an RL² run and write its curve; bad input becomes a UserError naming the file."""
    from workbench.engine.rl2.evaluate import evaluate_run

    if n_trials < 1:
        raise UserError(f"--trials must be at least 1 (got {n_trials})")
    with within_trial_errors_as_user_error(run_dir):
        return evaluate_run(run_dir, n_trials, **options)


def _rl2_eval(args) -> int:
    from workbench.engine.run_store import RunLock, RunStoreError, resolve_run

    try:
        run_dir = resolve_run(args.run)
    except RunStoreError as exc:
        raise UserError(str(exc)) from None
    if args.envs is not None and args.envs < 1:
        raise UserError(f"--envs must be at least 1 (got {args.envs})")
    try:  # it writes into the run folder: not while training (which writes the curve itself at the end) runs there
        lock = RunLock.acquire(run_dir, "workbench rl2-eval")
    except RunStoreError as exc:
        raise UserError(str(exc)) from None
    with lock:
        curve, path = write_within_trial_curve(
            run_dir, args.trials, level_list=args.levels,
            checkpoint=Path(args.checkpoint) if args.checkpoint else None, n_envs=args.envs, greedy=args.greedy,
            device=args.device)
    print_curve(curve)
    print(f"wrote {path}", file=sys.stderr)
    return 0
