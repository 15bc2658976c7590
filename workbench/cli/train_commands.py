"""`workbench train` (joint PPO on a preset's training levels) and `workbench transfer` (the test-time
protocol on its test levels)."""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from workbench.cli import UserError
from workbench.cli.progress import Progress


def register(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser("train", help="train a policy with PPO on a preset's training levels",
                           description="Joint PPO on the preset's training levels. The run folder (under "
                           "$WORKBENCH_RUNS, default ./runs) gets config.toml, checkpoints/, metrics.sqlite, "
                           "TensorBoard events (tb/) and status.json. Ctrl-C saves a checkpoint and exits; "
                           "--resume continues from the newest good checkpoint.")
    train.add_argument("preset", nargs="?", metavar="PRESET",
                       help="preset file or shipped preset name (e.g. airstriker); not needed with --resume")
    train.add_argument("--steps", type=int, metavar="N", help="agent steps in total (default: ppo.total_steps)")
    train.add_argument("--run-name", metavar="NAME", help="run folder name (default: <preset>-<date>-<time>)")
    train.add_argument("--resume", metavar="RUN", help="continue this run (folder or name) from its last checkpoint")
    train.add_argument("--device", metavar="D", help="'auto', 'cpu' or 'cuda[:N]' (default: ppo.device)")
    train.add_argument("--cluster", metavar="ADDRESS", help="place the env workers as Ray actors on the cluster at "
                       "ADDRESS (HOST:PORT of `ray start --head`, or 'auto'); the learner and the run folder stay "
                       "on this machine")
    train.add_argument("--envs-per-actor", type=int, default=1, metavar="K",
                       help="with --cluster: envs per Ray actor (K > 1: K subprocess emulators with shared memory "
                       "on the actor's node; default 1)")
    train.add_argument("--cpus-per-actor", type=float, default=1.0, metavar="C",
                       help="with --cluster: CPUs each env actor asks Ray for (default 1; e.g. 0.5 packs two on a "
                       "core)")
    train.set_defaults(handler=_train)

    transfer = sub.add_parser("transfer", help="fine-tune, train from scratch and zero-shot on the test levels",
                              description="For every test level of PRESET: fine-tune the joint policy of RUN for "
                              "the budget, train PPO from scratch for the same budget, play the joint policy "
                              "without learning (zero-shot) and, on Sonic levels, run the scripted JERK baseline, "
                              "once per seed in transfer.seeds. Level score = mean return of the episodes that "
                              "finished within the budget, averaged over seeds, with a 95%% bootstrap interval "
                              "across seeds; writes transfer/results.csv, results.md, episodes.csv and "
                              "manifest.json in the run. Exits 1 when a level has no counted episode (the table "
                              "names it).")
    transfer.add_argument("preset", metavar="PRESET", help="preset file or shipped preset name (its test levels)")
    transfer.add_argument("--from", dest="run", required=True, metavar="RUN", help="the joint training run")
    transfer.add_argument("--budget", type=int, metavar="N", help="agent steps per level (default: "
                          "transfer.budget_steps)")
    transfer.add_argument("--jobs", type=int, metavar="J", help="per-level jobs at once (default: "
                          "transfer.parallel_jobs, 0 = CPU cores)")
    transfer.add_argument("--checkpoint", metavar="FILE", help="checkpoint to start from (default: the run's "
                          "newest good one)")
    transfer.add_argument("--seeds", metavar="S,S,...", help="comma-separated seeds (default: transfer.seeds)")
    transfer.add_argument("--modes", metavar="M,M,...", help="play only these modes (finetune, scratch, zeroshot, "
                          "jerk; default: all); the others get a note in the table")
    transfer.add_argument("--cluster", metavar="ADDRESS", help="run every (level, mode, seed) job as a task on "
                          "the Ray cluster at ADDRESS (HOST:PORT of `ray start --head`, or 'auto': the cluster "
                          "this machine is a node of); the results land in the same files")
    transfer.add_argument("--cpus-per-job", type=float, default=1.0, metavar="C",
                          help="with --cluster: CPUs each job asks for (default 1)")
    transfer.add_argument("--gpus-per-job", type=float, default=0.0, metavar="G",
                          help="with --cluster: GPUs each job asks for (default 0: the jobs learn on CPUs; e.g. "
                          "0.25 puts four jobs on a GPU, where ppo.device = 'auto' then uses it)")
    transfer.set_defaults(handler=_transfer)


def resolve_preset_path(text: str) -> Path:
    from workbench.core.presets import user_presets_dir
    from workbench.core.paths import PRESETS_DIR

    path = Path(text)
    if path.is_file():
        return path
    for folder in (PRESETS_DIR, user_presets_dir()):
        candidate = folder / (text if text.endswith(".toml") else f"{text}.toml")
        if candidate.is_file():
            return candidate
    raise UserError(f"no preset {text!r}: not a file, and not a preset in {PRESETS_DIR} or {user_presets_dir()} "
                    "(`workbench preset list` shows them)")


def load_preset_arg(text: str):
    from workbench.core.presets import PresetError, load_preset

    path = resolve_preset_path(text)
    try:
        return path, load_preset(path)
    except PresetError as exc:
        raise UserError(str(exc)) from None


def _train(args) -> int:
    from workbench.core.presets import Preset
    from workbench.core.settings import SettingsError
    from workbench.engine import checkpoint as ckpt
    from workbench.engine.cluster.session import ClusterError
    from workbench.engine.hooks import Hooks
    from workbench.engine.run_store import RunStoreError, resolve_run
    from workbench.launcher import build_run

    preset: Preset | None = None
    run_dir = None
    if args.resume:
        try:
            run_dir = resolve_run(args.resume)
        except RunStoreError as exc:
            raise UserError(str(exc)) from None
        file = run_dir / "config.toml"
    else:
        if not args.preset:
            raise UserError("give a PRESET to train (e.g. `workbench train airstriker`) or --resume RUN")
        file, preset = load_preset_arg(args.preset)
    if args.steps is not None and args.steps <= 0:
        raise UserError(f"--steps must be positive (got {args.steps})")
    if args.cpus_per_actor <= 0:
        raise UserError(f"--cpus-per-actor must be positive (got {args.cpus_per_actor:g})")
    if args.envs_per_actor < 1:
        raise UserError(f"--envs-per-actor must be 1 or more (got {args.envs_per_actor})")

    last: dict = {}
    progress: Progress | None = None

    def on_update(record) -> None:
        last.update(record.metrics)
        ret = f" return {last['mean_return']:.1f}" if "mean_return" in last else ""
        progress.show(record.global_step, f"update {record.update} {record.metrics['steps_per_second']:.0f} "
                      f"steps/s{ret}")

    try:
        if preset is not None and not preset.name:
            preset.name = file.stem
        run = build_run(preset, run_dir, run_name=args.run_name,
                        resume=bool(args.resume), device=args.device, file=str(file),
                        hooks=Hooks(on_update=[on_update]), cluster=args.cluster,
                        envs_per_actor=args.envs_per_actor, cpus_per_actor=args.cpus_per_actor)
    except (ckpt.CheckpointError, RunStoreError, SettingsError, ClusterError) as exc:  # RunLockedError too
        raise UserError(str(exc)) from None
    except ValueError as exc:  # device, policy or env settings
        raise UserError(str(exc) if str(file) in str(exc) else f"{file}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - e.g. an env worker that died at start; status.json says failed
        print(f"training failed before it began: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    trainer = run.trainer
    total = args.steps if args.steps is not None else run.preset.ppo.total_steps
    progress = Progress(total)
    print(f"run {run.path} ({trainer.compute.device}, {trainer.compute.precision}); from step "
          f"{trainer.global_step}", file=sys.stderr)
    session = getattr(trainer.vec_env, "session", None)
    if session is not None:
        print(f"env workers: {len(trainer.vec_env.actors)} Ray actors on {session.describe()}; worker restarts "
              "are the worker_restarts metric", file=sys.stderr)

    def on_sigint(signum, frame):  # first Ctrl-C: stop after this step and save; a second one aborts
        print("\nstopping: saving a checkpoint (Ctrl-C again to abort)", file=sys.stderr)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        trainer.stop()

    previous = signal.signal(signal.SIGINT, on_sigint)
    from workbench.cli.rl2_commands import print_curve, within_trial_errors_as_user_error

    try:
        outcome = run.train(total, on_evaluate=lambda: print(
            "RL²: playing trials on the evaluation levels for the within-trial curve", file=sys.stderr))
    except Exception as exc:  # noqa: BLE001 - the trainer has recorded it (status.json: failed) and cleaned up
        progress.done()
        print(f"run {run.path} failed at step {trainer.learned_step} (update {trainer.update}): "
              f"{type(exc).__name__}: {exc}\nits newest checkpoint stays the truth: `workbench train --resume "
              f"{run.path.name}` continues from it", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, previous)
        progress.done()
        run.close()  # lets go of the run folder's writer lock
    print(f"{outcome.state} at step {outcome.global_step} (update {outcome.update}); run folder {run.path}",
          file=sys.stderr)
    if outcome.evaluation_error is not None:  # RL²'s score, the within-trial curve, could not be made
        with within_trial_errors_as_user_error(run.path):
            raise outcome.evaluation_error
    if outcome.curve is not None:
        curve, path = outcome.curve
        print_curve(curve)
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _transfer(args) -> int:
    from workbench.catalog.level_checks import require_playable
    from workbench.core.settings import SettingsError, check
    from workbench.engine import checkpoint as ckpt
    from workbench.engine.run_store import RunLock, RunStoreError, resolve_run
    from workbench.engine.cluster.session import ClusterError
    from workbench.engine.transfer import MODES, run_transfer
    from workbench.launcher import build_trainer, transfer_placement

    file, preset = load_preset_arg(args.preset)
    try:
        check(preset, str(file))
        require_playable(preset.levels.test, preset.env, str(file), "test")
        run_dir = resolve_run(args.run)
    except (RunStoreError, SettingsError, ValueError) as exc:
        raise UserError(str(exc)) from None
    budget = args.budget if args.budget is not None else preset.transfer.budget_steps
    jobs = args.jobs if args.jobs is not None else preset.transfer.parallel_jobs
    if budget <= 0:
        raise UserError(f"--budget must be positive (got {budget})")
    if jobs < 0:
        raise UserError(f"--jobs must be 0 (all cores) or more (got {jobs})")
    seeds = None
    if args.seeds is not None:
        try:
            seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
        except ValueError:
            raise UserError(f"--seeds {args.seeds!r} is not a comma-separated list of ints (e.g. 0,1,2)") from None
        if not seeds or len(set(seeds)) != len(seeds):
            raise UserError(f"--seeds {args.seeds!r}: give each seed once, e.g. 0,1,2")
    modes = None
    if args.modes is not None:
        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        unknown = [m for m in modes if m not in MODES]
        if not modes or unknown:
            raise UserError(f"--modes {args.modes!r}: choose from {', '.join(MODES)} (comma-separated)")
    if args.cpus_per_job <= 0:
        raise UserError(f"--cpus-per-job must be positive (got {args.cpus_per_job:g})")
    if args.gpus_per_job < 0:
        raise UserError(f"--gpus-per-job must be 0 or more (got {args.gpus_per_job:g})")
    try:  # one transfer at a time writes <run>/transfer/ (the run itself may still be training)
        lock = RunLock.acquire(run_dir / "transfer", "workbench transfer")
    except RunStoreError as exc:
        raise UserError(str(exc)) from None
    placement = None
    try:
        placement = transfer_placement(args.cluster, jobs, preset.levels.test, cpus_per_job=args.cpus_per_job,
                                       gpus_per_job=args.gpus_per_job)
        result = run_transfer(preset, run_dir, build_trainer, budget=budget, jobs=jobs,
                              checkpoint=Path(args.checkpoint) if args.checkpoint else None,
                              log=lambda text: print(text, file=sys.stderr), seeds=seeds, modes=modes,
                              runner=placement.runner)
    except (ckpt.CheckpointError, ClusterError) as exc:
        raise UserError(str(exc)) from None
    finally:
        try:
            if placement is not None:
                placement.close()
        finally:
            lock.release()
    print(result.markdown())
    print(f"wrote {result.csv_path}, {result.md_path} and {result.out_dir / 'episodes.csv'}", file=sys.stderr)
    errors = result.errors()
    for error in errors:
        print(f"workbench: error: {error}", file=sys.stderr)
    if errors:
        print("workbench: a level without a counted episode has no score: raise --budget or lower "
              "env.max_episode_steps so episodes finish inside it", file=sys.stderr)
        return 1
    return 0
