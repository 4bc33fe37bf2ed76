"""Replications: each design run N times on independent random streams, and designs compared in pairs.

One run is one sample: "breaker + fallback: 94.4% availability" from one seed cannot be told apart from
95.4%. Replication ``k`` of a scenario draws every stream from the ``k``-th child of the seed's
``SeedSequence``, so N replications are N independent samples of each summary metric, and the mean carries
a Student-t 95% confidence interval.

Two designs are compared on common random numbers: replication ``k`` of every variant sees the same
arrivals, tokens and first-attempt provider draws, so the difference of a metric between two variants
within one replication removes most of the traffic's own noise. The interval of the mean *paired*
difference (the t interval of the N per-replication differences) is therefore much narrower than the
*unpaired* one (the two variants' intervals combined as if independent), and it is the one a design review
should read: a difference whose paired interval excludes 0 is a difference of the designs, not of luck.

How many replications are enough? With a target precision (``--precision 0.05``: every shown metric's 95%
half-width at most 5% of its mean) the runs come in batches, like a pollster who keeps calling until the
margin of error is small enough: three replications first, then as many more as the widest interval
suggests (the half-width shrinks as 1/sqrt(N)), at most doubling each time, until every metric is precise
enough or the cap is reached.
Each run goes through :func:`sim.experiments.sweep.run_jobs`, so replications use the same executors as
sweeps and give the same rows whichever executor runs them.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from sim.config import Scenario
from sim.errors import ScenarioError
from sim.experiments.sweep import aggregate, ci_halfwidth, default_metrics, run_jobs
from sim.experiments.variants import COMPARED, FAULT_COMPARED
from sim.report.tables import format_intervals, format_paired
from sim.results import atomic_dir


def replicate(scenario: Scenario, names: list[str], replications: int, seed: int | None = None,
              on_run=None, executor=None, first: int = 0) -> pd.DataFrame:
    """One row per (variant, replication) with every numeric summary metric, for replications
    ``first .. first + replications - 1``; the base scenario when no names are given. ``on_run(done, total)``
    is called after each run (progress); ``executor`` as for sweeps (None runs here)."""
    designs = [(name, scenario.variant(name)) for name in names] or [(scenario.name, scenario)]
    texts = {name: design.to_yaml() for name, design in designs}
    labels = [(name, k) for k in range(first, first + replications) for name, _ in designs]
    jobs = [(texts[name], {}, seed, k) for name, k in labels]
    rows = run_jobs(jobs, executor, on_run)
    return pd.DataFrame([{"variant": name, "replication": k,
                          **{m: v for m, v in row.items() if isinstance(v, (int, float)) and m != "replication"}}
                         for (name, k), row in zip(labels, rows)])


def shown_metrics(scenario: Scenario) -> list[str]:
    """The variants' comparison metrics and those of the scenario's features, each once."""
    compared = list(COMPARED) + (list(FAULT_COMPARED) if scenario.faults else [])
    return list(dict.fromkeys(compared + default_metrics(scenario)))


MIN_REPLICATIONS = 3
"""The first batch of a run to a precision: fewer gives a t interval too wide to say anything."""


class Precision(NamedTuple):
    runs: pd.DataFrame
    replications: int
    unmet: list[str]                # shown metrics whose relative half-width is still above the target


def relative_halfwidths(runs: pd.DataFrame, metrics: list[str]) -> dict[str, float]:
    """Per metric, the largest ci95/|mean| over the variants (0 when both are 0; NaN metrics left out)."""
    table = interval_table(runs, metrics)
    out = {}
    for m in metrics:
        mean, ci = table[m].abs(), table[f"{m}_ci95"]
        ratio = np.where((mean == 0) & (ci == 0), 0.0, ci / mean)
        ratio = ratio[~np.isnan(ratio)]
        if len(ratio):
            out[m] = float(ratio.max())
    return out


def replicate_to_precision(scenario: Scenario, names: list[str], metrics: list[str], precision: float,
                           max_replications: int = 200, seed: int | None = None, executor=None,
                           on_run=None, start: int = MIN_REPLICATIONS) -> Precision:
    """Replicate in batches (the first of ``start`` replications, at least 3) until every metric's relative
    95% half-width is <= ``precision`` or ``max_replications`` is reached."""
    if not precision > 0:
        raise ScenarioError(f"--precision: must be a positive fraction (0.05 for 5%), got {precision}")
    if max_replications < MIN_REPLICATIONS:
        raise ScenarioError(f"--max-replications: must be at least {MIN_REPLICATIONS}, got {max_replications}")
    n, batch, frames = 0, max(MIN_REPLICATIONS, min(start, max_replications)), []
    while True:
        frames.append(replicate(scenario, names, batch, seed=seed, on_run=on_run, executor=executor, first=n))
        n += batch
        runs = pd.concat(frames, ignore_index=True)
        ratios = relative_halfwidths(runs, [m for m in metrics if m in runs.columns])
        unmet = [m for m, r in ratios.items() if r > precision]
        if not unmet or n >= max_replications:
            return Precision(runs, n, unmet)
        needed = math.ceil(n * (max(ratios[m] for m in unmet) / precision) ** 2)   # half-width ~ 1/sqrt(N)
        # at most doubling: from few replications the t quantile and the spread overstate what is needed
        batch = min(max(needed - n, 1), n, max_replications - n)


def interval_table(runs: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Per variant: each metric's mean over the replications and the half-width of its 95% interval."""
    return aggregate(runs, ["variant"], metrics).set_index("variant")


def paired_differences(runs: pd.DataFrame, metrics: list[str], baseline: str) -> pd.DataFrame:
    """Per variant other than ``baseline``: the mean difference (variant - baseline) of each metric, the
    half-width of its paired 95% interval, and for contrast the unpaired half-width."""
    by_variant = {name: group.set_index("replication") for name, group in runs.groupby("variant", sort=False)}
    base = by_variant[baseline]
    rows = []
    for name, group in by_variant.items():
        if name == baseline:
            continue
        row = {"variant": name, "baseline": baseline}
        for m in metrics:
            a, b = group[m].astype(float), base[m].astype(float)
            diff = (a - b).dropna().to_numpy()              # paired by replication: the same traffic
            row[f"{m}_diff"] = diff.mean() if len(diff) else math.nan
            row[f"{m}_diff_ci95"] = ci_halfwidth(diff)
            row[f"{m}_diff_ci95_unpaired"] = float(np.hypot(ci_halfwidth(a.dropna()), ci_halfwidth(b.dropna())))
        rows.append(row)
    return pd.DataFrame(rows).set_index("variant") if rows else pd.DataFrame()


def comparison_chart_of_replications(scenario: Scenario, runs: pd.DataFrame, path: Path) -> Path:
    """comparison.png (and .svg): every design's means with 95% whiskers, in the scenario's order and colours;
    the requests not answered get their own interval (of the per-replication totals)."""
    from sim.report.comparison import comparison_chart
    from sim.report.style import design_colours
    outcomes = [m for m in ("requests_total", "requests_ok") if m in runs.columns]
    if len(outcomes) == 2:
        runs = runs.assign(requests_not_ok=runs["requests_total"] - runs["requests_ok"])
    metrics = [m for m in runs.columns if m not in ("variant", "replication")]
    table = interval_table(runs, metrics)
    order = [n for n in scenario.variants if n in table.index] + [n for n in table.index if n not in scenario.variants]
    return comparison_chart(table.loc[order], path, title=scenario.description or scenario.name,
                            colours=design_colours(list(scenario.variants) or order))


def write_replications(runs: pd.DataFrame, scenario: Scenario, folder: Path, charts: bool = True) -> str:
    """Write ``runs.parquet``, ``summary.csv`` (each metric's mean and 95% half-width per variant), with
    two or more variants ``paired.csv`` (differences against the first) and, with charts, ``comparison.png``
    (and .svg) with 95% whiskers into ``folder``; return the report."""
    names = list(dict.fromkeys(runs["variant"]))
    metrics = [m for m in runs.columns if m not in ("variant", "replication")]
    table = interval_table(runs, metrics)
    shown = [m for m in shown_metrics(scenario) if m in runs.columns]
    paired = paired_differences(runs, metrics, baseline=names[0]) if len(names) > 1 else None
    runs.to_parquet(folder / "runs.parquet", index=False)
    table.to_csv(folder / "summary.csv")
    if paired is not None:
        paired.to_csv(folder / "paired.csv")
    if charts and scenario.output.charts:
        comparison_chart_of_replications(scenario, runs, folder / "comparison.png")
    report = format_intervals(table, shown)
    if paired is not None:
        differences = [m for m in shown if m != "requests_total"]
        report += ("\n\npaired differences against the first variant (same traffic in each replication; "
                   "an interval that excludes 0 is the design, not luck):\n" + format_paired(paired, differences))
    return report


def run_replications(scenario: Scenario, names: list[str], out: Path, replications: int,
                     seed: int | None = None, executor=None, precision: float | None = None,
                     max_replications: int = 200, on_run=None, charts: bool = True) -> str:
    """Replicate every variant (or the base) ``replications`` times, or to ``precision``; write
    ``runs.parquet`` (one row per run), ``summary.csv`` (means and 95% half-widths of every metric) and
    ``paired.csv`` (differences against the first variant) and, with charts, ``comparison.png``/``.svg`` under
    ``out``, atomically; return the report."""
    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\r{done}/{total} runs", end="" if done < total else "\n", file=sys.stderr, flush=True)

    on_run = on_run or progress
    wanted = shown_metrics(scenario)
    reached = None
    if precision is None:
        runs = replicate(scenario, names, replications, seed=seed, on_run=on_run, executor=executor)
    else:
        reached = replicate_to_precision(scenario, names, wanted, precision, max_replications, seed=seed,
                                         executor=executor, on_run=on_run, start=replications)
        runs = reached.runs
    with atomic_dir(out, replications=int(runs["replication"].nunique()), variants=list(names)) as tmp:
        (tmp / "scenario.yaml").write_text(scenario.to_yaml())
        report = write_replications(runs, scenario, tmp, charts=charts)
    if reached is not None:
        report += (f"\n\n{reached.replications} replications; precision {precision:g} "
                   + (f"not reached (cap {max_replications}) for: {', '.join(reached.unmet)}" if reached.unmet
                      else "reached for every shown metric"))
    return report
