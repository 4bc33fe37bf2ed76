"""Variants: two or more designs run on the same traffic and compared.

A scenario's ``variants`` each override a few fields of the base (``resilience.retry.max_attempts: 1``).
Every variant runs with the same seed, so all of them see the same arrivals, tokens and first-attempt
provider draws (common random numbers): differences in the comparison table come from the design, not from
luck. All variants of one invocation are written into one folder, which appears only when all are done.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.config import Scenario
from sim.model.run import simulate
from sim.report.tables import format_summary, format_table
from sim.results import atomic_dir

COMPARED = ("requests_total", "availability", "requests_failed", "requests_timeout", "requests_shed",
            "error_rate", "latency_p50_s", "latency_p95_s", "ttft_p95_s", "cost_usd", "cost_per_request_usd")


def run_variants(scenario: Scenario, names: list[str], out: Path, seed: int | None = None,
                 charts: bool = True, metrics: tuple[str, ...] | None = None) -> str:
    """Run the base (no names) or each named variant; save under ``out`` (``out/<variant>``); return a report."""
    charts = charts and scenario.output.charts
    with atomic_dir(out) as tmp:
        if not names:
            result = simulate(scenario, seed=seed)
            result.write_into(tmp, charts=charts)
            report = format_summary(result.summary)
        else:
            summaries = {}
            for name in names:
                variant = scenario.variant(name)
                result = simulate(variant, seed=seed)
                (tmp / name).mkdir()
                result.write_into(tmp / name, charts=charts)
                summaries[name] = result.summary
                if variant.faults:
                    add_fault_cost(summaries[name], variant, seed)
            if metrics is None:
                metrics = COMPARED + FAULT_COMPARED if scenario.faults else COMPARED
            table = comparison_frame(summaries, metrics)
            table.to_csv(tmp / "comparison.csv")
            if charts:
                from sim.report.plots import comparison_chart
                comparison_chart(summaries, tmp / "comparison.png", title=scenario.name)
            report = format_table(table)
    return report


FAULT_COMPARED = ("failed_during_faults", "time_to_open_s", "time_to_recover_s", "extra_cost_usd")


def add_fault_cost(summary: dict, scenario: Scenario, seed: int | None) -> None:
    """What the faults cost this design: its cost minus the cost of the same design and traffic without them."""
    calm = simulate(scenario.with_overrides({"faults": []}), seed=seed).summary
    summary["extra_cost_usd"] = summary["cost_usd"] - calm["cost_usd"]
    summary["extra_failed"] = (summary["requests_total"] - summary["requests_ok"]
                               - (calm["requests_total"] - calm["requests_ok"]))


def comparison_frame(summaries: dict[str, dict], metrics=COMPARED) -> pd.DataFrame:
    frame = pd.DataFrame({name: {m: s.get(m) for m in metrics} for name, s in summaries.items()}).T
    frame.index.name = "variant"
    return frame
