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
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

import sys
from pathlib import Path

from sim.config import Scenario
from sim.experiments.sweep import aggregate, ci_halfwidth
from sim.experiments.variants import COMPARED, FAULT_COMPARED
from sim.model.run import simulate
from sim.report.tables import format_intervals, format_paired
from sim.results import atomic_dir


def replicate(scenario: Scenario, names: list[str], replications: int, seed: int | None = None,
              on_run=None) -> pd.DataFrame:
    """One row per (variant, replication) with every numeric summary metric; the base scenario when no
    names are given. ``on_run(done, total)`` is called after each run (progress)."""
    designs = [(name, scenario.variant(name)) for name in names] or [(scenario.name, scenario)]
    rows, total = [], replications * len(designs)
    for k in range(replications):
        for name, design in designs:
            summary = simulate(design, seed=seed, replication=k).summary
            rows.append({"variant": name, "replication": k,
                         **{m: v for m, v in summary.items() if isinstance(v, (int, float)) and m != "replication"}})
            if on_run is not None:
                on_run(len(rows), total)
    return pd.DataFrame(rows)


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


def run_replications(scenario: Scenario, names: list[str], out: Path, replications: int,
                     seed: int | None = None, on_run=None) -> str:
    """Replicate every variant (or the base), write ``runs.parquet`` (one row per run), ``summary.csv``
    (means and 95% half-widths of every metric) and ``paired.csv`` (differences against the first variant)
    under ``out``, atomically; return the printed report."""
    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\r{done}/{total} runs", end="" if done < total else "\n", file=sys.stderr, flush=True)

    runs = replicate(scenario, names, replications, seed=seed, on_run=on_run or progress)
    metrics = [m for m in runs.columns if m not in ("variant", "replication")]
    table = interval_table(runs, metrics)
    shown = [m for m in (COMPARED + FAULT_COMPARED if scenario.faults else COMPARED) if m in runs.columns]
    paired = paired_differences(runs, metrics, baseline=runs["variant"].iloc[0]) if len(names) > 1 else None
    with atomic_dir(out, replications=replications, variants=list(names)) as tmp:
        runs.to_parquet(tmp / "runs.parquet", index=False)
        table.to_csv(tmp / "summary.csv")
        (tmp / "scenario.yaml").write_text(scenario.to_yaml())
        if paired is not None:
            paired.to_csv(tmp / "paired.csv")
    report = format_intervals(table, shown)
    if paired is not None:
        differences = [m for m in shown if m != "requests_total"]
        report += ("\n\npaired differences against the first variant (same traffic in each replication; "
                   "an interval that excludes 0 is the design, not luck):\n" + format_paired(paired, differences))
    return report
