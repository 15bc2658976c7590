"""The transfer table: per test level and for the benchmark mean, each mode's score with its 95% interval across
seeds, the transfer gain with its interval, and the episodes counted; written as results.csv / results.md, with
every counted episode in episodes.csv and what the run was in manifest.json.

A (level, mode) cell needs a counted episode from every seed: a seed without one makes the cell an error that names
the level and the seeds, and the benchmark mean of that mode an error naming the level (never a mean over fewer
levels or seeds). `errors()` lists them; `workbench transfer` exits 1 when there are any.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from workbench.core.paths import atomic_write_text
from workbench.engine.transfer.jobs import MODE_LABELS, MODES, JobResult, ModeResult
from workbench.engine.transfer.scores import Estimate, gain_estimate, mean_estimate

EPISODE_COLUMNS = ["level", "mode", "seed", "index", "global_step", "return", "length"]
MEAN_ROW = "mean"


@dataclass
class TransferResult:
    levels: list[str]
    jobs: list[JobResult]
    budget: int
    out_dir: Path
    seeds: list[int] | None = None
    """The seeds every level was asked to run (default: those the jobs have)."""
    regime: str = ""
    """The joint run's training regime, in words (`core.settings.joint_regime`)."""

    def __post_init__(self):
        if self.seeds is None:
            self.seeds = sorted({j.seed for j in self.jobs})

    @property
    def csv_path(self) -> Path:
        return self.out_dir / "results.csv"

    @property
    def md_path(self) -> Path:
        return self.out_dir / "results.md"

    # -- scores --------------------------------------------------------------------------------------------
    def _job(self, level: str, seed: int) -> JobResult | None:
        return next((j for j in self.jobs if j.level == level and j.seed == seed), None)

    def applies(self, level: str, mode: str) -> bool:
        """Whether `mode` applies to `level` (JERK applies to some games only; see `note`)."""
        return any(mode in j.modes for j in self.jobs if j.level == level) or \
            not any(mode in j.notes for j in self.jobs if j.level == level)

    def note(self, level: str, mode: str) -> str | None:
        return next((j.notes[mode] for j in self.jobs if j.level == level and mode in j.notes), None)

    def modes(self) -> list[str]:
        """The modes played on at least one level (JERK drops out where it applies nowhere)."""
        return [m for m in MODES if any(m in j.modes for j in self.jobs) or m != "jerk"]

    def seed_scores(self, level: str, mode: str) -> list[float]:
        """Per seed (in `seeds` order): the mean return of its counted episodes, NaN when it has none."""
        scores = []
        for seed in self.seeds:
            job = self._job(level, seed)
            res = job.modes.get(mode) if job is not None else None
            scores.append(res.score if res is not None else float("nan"))
        return scores

    def _missing_seeds(self, level: str, mode: str) -> list[int]:
        return [s for s, x in zip(self.seeds, self.seed_scores(level, mode)) if math.isnan(x)]

    def level_estimate(self, level: str, mode: str) -> Estimate:
        if not self.applies(level, mode):
            return Estimate.missing(self.note(level, mode) or f"{mode} was not played")
        missing = self._missing_seeds(level, mode)
        if missing:
            return Estimate.missing(f"{level}: no counted {MODE_LABELS[mode]} episode for seed "
                                    f"{', '.join(map(str, missing))} within the budget of {self.budget} steps")
        return mean_estimate([self.seed_scores(level, mode)])

    def benchmark_estimate(self, mode: str) -> Estimate:
        """Mean over the test levels where `mode` applies; an error naming the levels without a score."""
        levels = [lv for lv in self.levels if self.applies(lv, mode)]
        if not levels:
            return Estimate.missing(f"{MODE_LABELS[mode]} applies to none of the test levels")
        broken = [lv for lv in levels if self._missing_seeds(lv, mode)]
        if broken:
            return Estimate.missing(f"no {MODE_LABELS[mode]} benchmark mean: {', '.join(broken)} "
                                    "lack a counted episode (see their rows)")
        return mean_estimate([self.seed_scores(lv, mode) for lv in levels])

    def gain(self, level: str | None = None) -> Estimate:
        """Fine-tuned / scratch for `level`, or for the benchmark mean (level None)."""
        levels = self.levels if level is None else [level]
        broken = [lv for lv in levels for m in ("finetune", "scratch") if self._missing_seeds(lv, m)]
        if broken:
            return Estimate.missing("no gain: " + ", ".join(dict.fromkeys(broken)) + " lack a counted episode")
        return gain_estimate([self.seed_scores(lv, "finetune") for lv in levels],
                             [self.seed_scores(lv, "scratch") for lv in levels])

    def level_score(self, level: str, mode: str) -> float:
        return self.level_estimate(level, mode).mean

    def benchmark_score(self, mode: str) -> float:
        return self.benchmark_estimate(mode).mean

    def episode_count(self, level: str, mode: str) -> int:
        return sum(len(j.modes[mode].returns) for j in self.jobs if j.level == level and mode in j.modes)

    def errors(self) -> list[str]:
        """Every cell without a score that should have one (a note such as 'JERK does not apply' is no error)."""
        found = [self.level_estimate(lv, m).error for lv in self.levels for m in MODES if self.applies(lv, m)
                 and m in self.modes()]
        return [e for e in found if e]

    def notes(self) -> list[str]:
        return list(dict.fromkeys(j.notes[m] for j in self.jobs for m in j.notes))

    # -- output --------------------------------------------------------------------------------------------
    def rows(self) -> list[dict]:
        """One row per test level and a 'mean' row. The first columns are the table's earlier ones (score per
        mode, gain, episodes per mode); intervals, JERK, seeds and errors follow."""
        rows = []
        for name in [*self.levels, MEAN_ROW]:
            est = {m: (self.benchmark_estimate(m) if name == MEAN_ROW else self.level_estimate(name, m))
                   for m in MODES}
            gain = self.gain(None if name == MEAN_ROW else name)
            levels = self.levels if name == MEAN_ROW else [name]
            row: dict = {"level": name}
            row |= {m: est[m].mean for m in MODES[:3]}
            row["gain"] = gain.mean
            row |= {f"{m}_episodes": sum(self.episode_count(lv, m) for lv in levels) for m in MODES[:3]}
            row["jerk"] = est["jerk"].mean
            row["jerk_episodes"] = sum(self.episode_count(lv, "jerk") for lv in levels)
            for m in MODES:
                row[f"{m}_ci_low"], row[f"{m}_ci_high"] = est[m].low, est[m].high
            row["gain_ci_low"], row["gain_ci_high"] = gain.low, gain.high
            row["seeds"] = len(self.seeds)
            row["error"] = "; ".join(est[m].error for m in MODES if est[m].error and self.applies_any(levels, m))
            rows.append(row)
        return rows

    def applies_any(self, levels: list[str], mode: str) -> bool:
        return any(self.applies(lv, mode) for lv in levels) and mode in self.modes()

    def markdown(self) -> str:
        modes = self.modes()
        head = (f"Transfer results: budget {self.budget} agent steps per level and mode, seeds {self.seeds}. "
                "Score = mean return of the episodes finished within the budget, averaged over seeds; [low, high] "
                "= 95% percentile-bootstrap interval across seeds (stratified over levels for the mean); gain = "
                "fine-tuned / scratch.")
        if self.regime:
            head += f" Joint run: {self.regime}."
        lines = [head, "",
                 "| level | " + " | ".join(MODE_LABELS[m] for m in modes) + " | gain | episodes ("
                 + "/".join(MODE_LABELS[m] for m in modes) + ") |",
                 "|---|" + "---:|" * (len(modes) + 2)]
        footnotes: list[str] = []
        for name in [*self.levels, MEAN_ROW]:
            cells = []
            for m in modes:
                est = self.benchmark_estimate(m) if name == MEAN_ROW else self.level_estimate(name, m)
                cells.append(_cell(est, footnotes, error=self.applies_any(
                    self.levels if name == MEAN_ROW else [name], m)))
            gain = self.gain(None if name == MEAN_ROW else name)
            cells.append(_cell(gain, footnotes, digits=2, error=False))
            levels = self.levels if name == MEAN_ROW else [name]
            cells.append("/".join(str(sum(self.episode_count(lv, m) for lv in levels)) if self.applies_any(levels, m)
                                  else "—" for m in modes))
            label = f"**{name}**" if name == MEAN_ROW else name
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        footnotes.extend(n for n in self.notes() if n not in footnotes)  # e.g. JERK on no level: no column
        if footnotes:
            lines.append("")
            lines.extend(f"({i + 1}) {text}" for i, text in enumerate(footnotes))
        return "\n".join(lines) + "\n"

    def write(self) -> None:
        rows = self.rows()
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.csv_path, buf.getvalue())
        atomic_write_text(self.md_path, self.markdown())
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(EPISODE_COLUMNS)
        for j in self.jobs:
            for mode, res in j.modes.items():
                for k, (ret, length, step) in enumerate(zip(res.returns, res.lengths, res.steps)):
                    writer.writerow([j.level, mode, j.seed, k, step, ret, length])
        atomic_write_text(self.out_dir / "episodes.csv", buf.getvalue())
        self.write_manifest()

    def write_manifest(self) -> None:
        """What was asked for (levels, seeds, budget, regime) and why a mode was not played: with episodes.csv,
        enough to rebuild the table (`from_files`), a level without a counted episode included."""
        notes = {f"{j.level}|{j.seed}": j.notes for j in self.jobs if j.notes}
        atomic_write_text(self.out_dir / "manifest.json", json.dumps(
            {"levels": self.levels, "seeds": self.seeds, "budget": self.budget, "regime": self.regime,
             "notes": notes}, indent=1))

    @classmethod
    def from_files(cls, episodes_csv: Path, levels: list[str], seeds: list[int], budget: int,
                   notes: dict[tuple[str, int], dict[str, str]] | None = None, regime: str = "",
                   out_dir: Path | None = None) -> "TransferResult":
        """The table of an episodes.csv for the given levels and seeds (every mode of every (level, seed) is
        expected unless `notes` says why not); raises ValueError naming the file when it is not such a table."""
        path = Path(episodes_csv)
        notes = notes or {}
        jobs = {(lv, s): JobResult(lv, s, {m: ModeResult() for m in MODES if m not in notes.get((lv, s), {})},
                                   dict(notes.get((lv, s), {}))) for lv in levels for s in seeds}
        try:
            with open(path, newline="") as f:
                reader = csv.DictReader(f)
                missing = set(EPISODE_COLUMNS) - set(reader.fieldnames or [])
                if missing:
                    raise ValueError(f"{path}: not a transfer episodes.csv (no column {', '.join(sorted(missing))})")
                for line, row in enumerate(reader, start=2):
                    key = (row["level"], int(row["seed"]))
                    if key not in jobs or row["mode"] not in jobs[key].modes:
                        continue  # a level, seed or mode not asked for
                    res = jobs[key].modes[row["mode"]]
                    res.returns.append(float(row["return"]))
                    res.lengths.append(int(row["length"]))
                    res.steps.append(int(row["global_step"]))
        except (OSError, csv.Error, KeyError) as exc:
            raise ValueError(f"{path}: cannot read transfer episodes ({exc})") from None
        except ValueError as exc:
            if str(path) in str(exc):
                raise
            raise ValueError(f"{path}, line {line}: {exc}") from None
        return cls(list(levels), list(jobs.values()), int(budget), out_dir or path.parent, list(seeds), regime)

    @classmethod
    def from_dir(cls, out_dir: Path) -> "TransferResult":
        """The table of a `<run>/transfer/` folder (manifest.json + episodes.csv)."""
        out_dir = Path(out_dir)
        try:
            manifest = json.loads((out_dir / "manifest.json").read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{out_dir / 'manifest.json'}: cannot read ({exc}); run `workbench transfer` "
                             "again") from None
        notes = {(key.rsplit("|", 1)[0], int(key.rsplit("|", 1)[1])): value
                 for key, value in manifest.get("notes", {}).items()}
        return cls.from_files(out_dir / "episodes.csv", manifest["levels"], manifest["seeds"], manifest["budget"],
                              notes, manifest.get("regime", ""), out_dir)


def _cell(est: Estimate, footnotes: list[str], digits: int = 1, error: bool = True) -> str:
    """'mean [low, high]', or '**error** (k)' / 'n/a (k)' with the reason as footnote k."""
    if est.error is not None:
        if est.error not in footnotes:
            footnotes.append(est.error)
        mark = f"({footnotes.index(est.error) + 1})"
        return f"**error** {mark}" if error else f"n/a {mark}"
    text = _fmt(est.mean, digits)
    if not math.isnan(est.low):
        text += f" [{_fmt(est.low, digits)}, {_fmt(est.high, digits)}]"
    return text


def _fmt(x: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(x) else f"{x:.{digits}f}"
