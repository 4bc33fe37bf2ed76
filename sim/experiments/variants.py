"""Variants: two or more designs run on the same traffic and compared.

A scenario's ``variants`` each override a few fields of the base (``resilience.retry.max_attempts: 1``).
Every variant runs with the same seed, so all of them see the same arrivals, tokens and first-attempt
provider draws (common random numbers): differences in the comparison table come from the design, not from
luck. All variants of one invocation are written into one folder, which appears only when all are done.

Re-running some of the variants (``--variant B``) into a folder that holds the others keeps them: a kept
variant is carried into the new folder and the comparison covers every variant there, provided it was run
from the same scenario and seed (its resolved scenario and seed match); otherwise the run is refused and
nothing is touched, since a comparison across seeds or scenario versions would not be on common random
numbers.

With charts, the variants' timelines are overlaid in ``variants_timeline.png`` (:data:`OVERLAY_PANELS` by
default; the catalogued experiments choose their own panels), with the first variant's faults shaded, and
their latency CDFs in ``latency_cdf_variants.png``, requests never answered counted so that each curve tops
out at the design's availability; each variant's own charts carry its name.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from sim.config import Scenario
from sim.errors import ScenarioError
from sim.model.run import simulate
from sim.report.tables import format_summary, format_table
from sim.results import atomic_dir

COMPARED = ("requests_total", "availability", "requests_failed", "requests_timeout", "requests_shed",
            "error_rate", "latency_p50_s", "latency_p95_s", "ttft_p95_s", "cost_usd", "cost_per_request_usd")


OVERLAY_PANELS = (("not_served", "Requests not served (failed, timed out, shed, rate limited, killed...) "
                                 "per {interval}"),
                  ("error_rate", "Share of provider calls failing, per {interval}"),
                  ("latency_p95_s", "Latency p95 of ok requests (s), by arrival per {interval}"),
                  ("breaker", "Circuit breaker of the primary model"),
                  ("cost_usd", "Cost (USD) per {interval}"))
"""The overlay chart's panels for ``run`` of a scenario with variants: (timeseries column, title with
``{interval}``); ``breaker`` is the first model of the routing chain's ``<provider/model>.breaker``."""


def run_variants(scenario: Scenario, names: list[str], out: Path, seed: int | None = None,
                 charts: bool = True, metrics: tuple[str, ...] | None = None,
                 on_run: Callable[[int, int], None] | None = None,
                 overlay: Sequence[tuple[str, str]] = OVERLAY_PANELS, overlay_title: str | None = None,
                 overlay_smooth: int = 1, replications: int = 1, executor=None,
                 extra_charts: Callable[[Path, list[str]], None] | None = None) -> str:
    """Run the base (no names) or each named variant; save under ``out`` (``out/<variant>``); return a report.

    ``extra_charts(folder, names)`` draws an experiment's own charts from the variants' frames in the folder
    being written (so they are in place, or absent, with everything else).
    ``on_run(done, total)`` reports progress: over variants, or over simulated time for the base alone.
    With ``replications`` > 1 the variants' frames and charts are those of replication 0, and replications
    1..N-1 are run too (summaries only, through ``executor``) so that ``runs.parquet``, ``summary.csv`` and
    ``paired.csv`` beside them give every metric's interval and each variant's paired difference.
    """
    charts = charts and scenario.output.charts
    kept = kept_variants(scenario, names, Path(out), seed)
    with atomic_dir(out, replications=replications if names else 1) as tmp:
        if not names:
            from sim.progress import fraction_callback
            result = simulate(scenario, seed=seed, on_progress=fraction_callback(on_run) if on_run else None)
            result.write_into(tmp, charts=charts)
            report = format_summary(result.summary)
        else:
            summaries = {}
            for name in names:
                variant = scenario.variant(name)
                result = simulate(variant, seed=seed)
                (tmp / name).mkdir()
                result.write_into(tmp / name, charts=False)
                if charts:
                    from sim.report.plots import write_run_charts
                    write_run_charts(result, tmp / name, variant=name)
                summaries[name] = result.summary
                if variant.faults and variant.output.fault_cost:
                    add_fault_cost(summaries[name], variant, seed)
                if on_run:
                    on_run(len(summaries), len(names))
            for name, summary in kept.items():
                shutil.copytree(Path(out) / name, tmp / name)
                summaries[name] = summary
            summaries = {name: summaries[name] for name in scenario.variants if name in summaries}
            (tmp / "scenario.yaml").write_text(scenario.to_yaml())        # the base, with every variant
            if metrics is None:
                metrics = COMPARED + fault_compared(scenario)
            table = comparison_frame(summaries, metrics)
            table.to_csv(tmp / "comparison.csv")
            if charts:
                from sim.report.plots import comparison_chart
                from sim.report.style import design_colours
                comparison_chart(summaries, tmp / "comparison.png", title=scenario.description or scenario.name,
                                 colours=design_colours(scenario.variants))
                overlay_chart(scenario, list(summaries), tmp, overlay, overlay_title, overlay_smooth)
                latency_overlay_chart(scenario, list(summaries), tmp)
                if extra_charts is not None:
                    extra_charts(tmp, list(summaries))
            report = format_table(table)
            if replications > 1 and names:
                report = _replicate_too(scenario, names, summaries, tmp, replications, seed, executor, charts)
    return report


def _replicate_too(scenario: Scenario, names: list[str], summaries: dict, folder: Path, replications: int,
                   seed: int | None, executor, charts: bool) -> str:
    """Replications 1..N-1 of the variants just run (replication 0), written beside them with intervals (the
    comparison chart redrawn with whiskers)."""
    from sim.experiments.replications import replicate, write_replications
    more = replicate(scenario, names, replications - 1, seed=seed, executor=executor, first=1)
    first = pd.DataFrame([{"variant": n, "replication": 0, **{m: summaries[n].get(m) for m in more.columns
                                                               if m not in ("variant", "replication")}}
                          for n in names])
    runs = pd.concat([first, more], ignore_index=True).sort_values(["replication"], kind="stable")
    return write_replications(runs.reset_index(drop=True), scenario, folder, charts=charts)


def overlay_chart(scenario: Scenario, names: list[str], folder: Path, panels, title: str | None = None,
                  smooth: int = 1) -> Path:
    """The variants' timelines overlaid, one line per variant, the first variant's faults shaded."""
    from sim.report.experiment_charts import variant_overlay_chart
    from sim.report.run_data import NOT_SERVED
    from sim.report.style import design_colours
    series = {name: pd.read_parquet(folder / name / "timeseries.parquet") for name in names}
    events = {name: pd.read_parquet(folder / name / "events.parquet") for name in names}
    primary = f"{scenario.routing.chain[0]}.breaker" if scenario.routing.chain else "breaker"
    panels = [(primary if col == "breaker" else col, label) for col, label in panels]
    present = [(col, label) for col, label in panels
               if col == NOT_SERVED or any(col in frame.columns for frame in series.values())]
    return variant_overlay_chart(series, present or panels, folder / "variants_timeline.png", events=events,
                                 title=title or f"{scenario.name}: variants", smooth=smooth,
                                 start_of_day_s=scenario.workload.start_time_of_day, duration_s=scenario.duration,
                                 colours=design_colours(scenario.variants), warmup_s=scenario.warmup)


def latency_overlay_chart(scenario: Scenario, names: list[str], folder: Path) -> Path:
    """``latency_cdf_variants.png``: each variant's latency CDF over all its requests, unanswered ones included."""
    from sim.report.latency import variants_latency_cdf_chart
    from sim.report.style import design_colours
    requests = {name: pd.read_parquet(folder / name / "requests.parquet") for name in names}
    return variants_latency_cdf_chart(requests, folder / "latency_cdf_variants.png", warmup_s=scenario.warmup,
                                      colours=design_colours(scenario.variants),
                                      title=f"{scenario.name}: latency of every request, by design")


def kept_variants(scenario: Scenario, names: list[str], out: Path, seed: int | None) -> dict[str, dict]:
    """The summaries of the variants already in ``out`` that this run does not repeat and will keep.

    Only a folder of this scenario's variants is looked at; a kept variant must have been run from the same
    resolved scenario and seed, or the run is refused (ScenarioError) before anything is written.
    """
    if not names or not out.is_dir():
        return {}
    seed = scenario.seed if seed is None else int(seed)
    kept = {}
    for name in scenario.variants:
        folder = out / name
        if name in names or not (folder / "summary.json").is_file():
            continue
        summary = json.loads((folder / "summary.json").read_text())
        same_scenario = (folder / "scenario.yaml").is_file() and \
            (folder / "scenario.yaml").read_text() == scenario.variant(name).to_yaml()
        if summary.get("seed") != seed or not same_scenario:
            raise ScenarioError(f"--out {out}: it holds variant {name!r} from another seed or version of the "
                                f"scenario, which this run would not be comparable with; run every variant "
                                f"again (no --variant) or choose another --out (nothing was changed)")
        kept[name] = summary
    return kept


FAULT_COMPARED = ("failed_during_faults", "time_to_open_s", "time_to_recover_s", "extra_cost_usd")


def fault_compared(scenario: Scenario) -> tuple[str, ...]:
    """The fault metrics a comparison shows: none without faults, extra_cost_usd only with its twin runs."""
    if not scenario.faults:
        return ()
    return FAULT_COMPARED if scenario.output.fault_cost else tuple(m for m in FAULT_COMPARED
                                                                   if m != "extra_cost_usd")


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
