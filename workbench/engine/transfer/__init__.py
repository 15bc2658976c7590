"""The test-time protocol of "Gotta Learn Fast" (Nichol et al. 2018) on a preset's test levels.

- `jobs`: one (test level, seed) job: fine-tune, scratch, zero-shot and JERK, and the counting rule;
- `scores`: means and 95% bootstrap intervals across seeds (stratified over levels), transfer gain;
- `table`: the table (results.csv / results.md / episodes.csv / manifest.json) and reading it back;
- `protocol`: `run_transfer`, the jobs in parallel processes.

**Level score** = mean raw return of the counted episodes, averaged over seeds; **benchmark score** = mean over
levels; **transfer gain** = fine-tuned score / scratch score. Output in `<run>/transfer/`: `results.csv` (one row
per level + a `mean` row), `results.md`, `episodes.csv` (every counted episode: level, mode, seed, index,
global_step, return, length), `manifest.json` (levels, seeds, budget, regime, notes) and `jobs/*.json` (each
finished job, written as soon as it finishes so a crash keeps them).
"""
from workbench.engine.transfer.jobs import MODE_LABELS, MODES, Job, JobResult, ModeResult, run_job
from workbench.engine.transfer.protocol import run_transfer
from workbench.engine.transfer.scores import Estimate
from workbench.engine.transfer.table import TransferResult

__all__ = ["MODES", "MODE_LABELS", "Estimate", "Job", "JobResult", "ModeResult", "TransferResult", "run_job",
           "run_transfer"]
