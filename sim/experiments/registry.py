"""The experiment registry: each design-review question as one command that writes its numbers and charts.

    python -m sim experiment outage_replay        # a 15-minute outage of the primary, four designs
    python -m sim experiment silent_degradation   # an error breaker vs a quality-aware breaker
    python -m sim experiment kill_switch          # a runaway agent loop with and without a budget kill switch
    python -m sim experiment breaker_tuning       # failed requests in an outage vs false trips in noise
    python -m sim experiment provider_redundancy  # availability over a year of fitted incidents, 1-3 providers
    python -m sim experiment shadow_mode          # when may a candidate model be promoted?
    python -m sim experiment routing              # cost against quality: strong, cheap, threshold, cascade
    python -m sim experiment cache_threshold      # cache threshold and TTL: hits, wrong and stale answers
    python -m sim experiment calibration          # the cache and router models against published numbers
    python -m sim experiment rate_limit_enforcement  # the same limits enforced per minute, per second, max_tokens
    python -m sim experiment scaling_pyramid      # the lesson's four cost levers, one at a time, as a waterfall
    python -m sim experiment load_balancing       # one region down under each load-balancing strategy
    python -m sim experiment twin_litellm         # a real LiteLLM Router vs the simulation, same outage

Each experiment reads its scenario from ``experiments/<name>.yaml`` (override with ``--scenario`` and
``--set``), runs its variants or its grid on common random numbers, and writes under ``results/<name>/``
the frames of every run, a comparison table and the charts named in its docstring. The report layer draws
from what was written, never from the model.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from scipy import stats

from sim.calibration.routing import pgr_curve, routing_calibration
from sim.calibration.similarity import (REAL_PAIRS_NPZ, load_real_pairs, pair_cosine_groups, preloaded_benchmark,
                                        production_stream_benchmark, real_pair_groups, real_pairs_cache_benchmark)
from sim.config import Scenario, load_scenario
from sim.errors import ScenarioError
from sim.experiments.sweep import aggregate, ci_halfwidth, run_one, sweep, write_sweep
from sim.experiments.rate_limits import rate_limit_enforcement
from sim.experiments.variants import run_variants
from sim.incidents import draw_faults, fit_fault_process, load_incidents
from sim.model.quality import QualityParams
from sim.model.streams import Streams
from sim.report.calibration_charts import routing_calibration_chart, similarity_calibration_chart
from sim.report.experiment_charts import interval_bars_chart, tradeoff_chart
from sim.report.plots import sweep_chart
from sim.report.style import design_colours
from sim.report.tables import duration_text, format_frame
from sim.results import atomic_dir

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "experiments"


def _variants_with_overlay(scenario: Scenario, out: Path, panels, title: str, smooth: int = 1,
                           metrics: tuple[str, ...] | None = None, extra_charts=None, **options) -> str:
    # run_variants draws the overlay inside its atomic folder (before, it was added after the folder was in place)
    return run_variants(scenario, list(scenario.variants), out, seed=options.get("seed"),
                        charts=options.get("charts", True), metrics=metrics, overlay=panels, overlay_title=title,
                        overlay_smooth=smooth, on_run=options.get("on_run"),
                        replications=options.get("replications", 1), executor=options.get("executor"),
                        extra_charts=extra_charts)


def outage_replay(scenario: Scenario, out: Path, **options) -> str:
    """Variants' timelines overlaid (error rate, requests not ok, p95 latency, cost) with the outage shaded;
    the comparison table gives requests failed, p95 latency and the outage's extra cost per design."""
    return _variants_with_overlay(
        scenario, out, [("not_served", "Requests not served (failed, timed out, shed...) per {interval}"),
                        ("error_rate", "Share of provider calls failing, per {interval}"),
                        ("latency_p95_s", "Latency p95 of ok requests (s), by arrival per {interval}"),
                        ("breaker", "Circuit breaker of the primary model"),
                        ("cost_usd", "Cost (USD) per {interval}")],
        title=f"{scenario.name}: {scenario.description}", **options)


LOAD_BALANCING_COMPARED = ("requests_total", "availability", "requests_failed", "requests_timeout",
                           "rate_limited_calls", "calls_into_faults", "cooldowns", "attempts_per_request",
                           "latency_p95_s", "cost_per_request_usd")


def load_balancing(scenario: Scenario, out: Path, **options) -> str:
    """The same region outage under each load-balancing strategy of a model group: the overlay (requests not
    served, calls answered 429, p95, cost per interval) and deployments.png, one panel per strategy with the
    calls per minute stacked by deployment, 429s and the outage marked. The comparison table gives requests
    failed and timed out, 429s, calls sent into the outage, cooldowns and p95 per strategy."""
    groups = [name for name in scenario.chain_entries if name in scenario.routing.groups]
    if not groups:
        raise ScenarioError("load_balancing: routing.chain names no model group (routing.groups) to balance")
    deployments = scenario.routing.groups[groups[0]].deployments

    def deployments_chart(folder: Path, names: list[str]) -> None:
        from sim.report.experiment_charts import deployment_share_chart
        calls = {n: pd.read_parquet(folder / n / "calls.parquet") for n in names}
        events = {n: pd.read_parquet(folder / n / "events.parquet") for n in names}
        table = pd.read_csv(folder / "comparison.csv", index_col=0)
        notes = {n: (f"429s {int(row.rate_limited_calls):,} · calls into the outage {int(row.calls_into_faults):,}"
                     f" · not answered {round(row.requests_total * (1 - row.availability)):,}")
                 for n, row in table.loc[names].iterrows()}
        deployment_share_chart(calls, events, deployments, folder / "deployments.png", scenario.output.interval_s,
                               scenario.duration, notes=notes, start_of_day_s=scenario.workload.start_time_of_day,
                               title=f"{scenario.name}: where each strategy sent the {groups[0]} calls "
                                     f"(stacked by deployment, per {duration_text(scenario.output.interval_s)})")

    return _variants_with_overlay(
        scenario, out, [("not_served", "Requests not served (failed, timed out, shed...) per {interval}"),
                        ("rate_limited_calls", "Provider calls answered 429, per {interval}"),
                        ("latency_p95_s", "Latency p95 of ok requests (s), by arrival per {interval}"),
                        ("cost_usd", "Cost (USD) per {interval}")],
        title=f"{scenario.name}: {scenario.description}", metrics=LOAD_BALANCING_COMPARED,
        extra_charts=deployments_chart, **options)


TWIN_SPEED = 10.0
TWIN_CONFIG = SCENARIOS / "gateways" / "twin_litellm_config.yaml"


def twin_litellm(scenario: Scenario, out: Path, speed: float = TWIN_SPEED, **options) -> str:
    """The twin check (sim/live/twin.py): the scenario lived through by a real litellm.Router (built from
    ``experiments/gateways/twin_litellm_config.yaml``) in front of ``sim serve``, driven by ``sim drive`` at
    ``speed`` (``--speed N``, default 10), then simulated on the same requests -- as the compressed live
    run plays LiteLLM's 60 s counters (``simulated``) and as production would (``simulated_real_time``).
    Writes ``live/`` (the drive's frames, the server's calls log as ``calls.parquet``), ``simulated/``,
    ``simulated_real_time/``, ``comparison.csv``, ``twin_deployments.png`` and ``report.html``/``report.md``.
    Needs the live extra."""
    import yaml
    from sim.faults import FaultWindow, expand_regions
    from sim.live.twin import compare_sides, compressed_scenario, run_live, side_metrics, simulated_cooldowns
    from sim.model.run import simulate
    seed = options.get("seed") if options.get("seed") is not None else scenario.seed
    faults = [f for f in scenario.faults if f.kind in ("outage", "error_rate")]
    if not faults or not scenario.routing.groups:
        raise ScenarioError("twin_litellm: the scenario needs a model group and an outage or error-rate fault")
    fault = faults[0]
    window = FaultWindow(float(fault.start), float(fault.end), fault.kind, fault.name,
                         expand_regions(fault.targets, scenario.regions))
    primary_group = scenario.routing.groups[scenario.chain_entries[0]]
    primary = [d.split("/")[0] for d in primary_group.deployments]
    litellm_config = yaml.safe_load(TWIN_CONFIG.read_text())
    with atomic_dir(out, live={"speed": speed, "gateway": str(TWIN_CONFIG.relative_to(REPO))}) as tmp:
        (tmp / "scenario.yaml").write_text(scenario.to_yaml())
        (tmp / "live").mkdir()
        live = run_live(tmp / "scenario.yaml", scenario, litellm_config, speed, tmp / "live", seed)
        live_result = live.result
        live_result.calls = live.calls if len(live.calls) else live_result.calls
        live_result.write_into(tmp / "live", charts=False)
        live.cooldowns.to_csv(tmp / "live" / "cooldowns.csv", index=False)
        sides = {"live": side_metrics(live_result.requests, live.calls, live.cooldowns, window, primary)}
        results = {}
        for name, variant in (("simulated", compressed_scenario(scenario, speed)),
                              ("simulated_real_time", scenario)):
            result = simulate(variant, seed=seed)
            (tmp / name).mkdir()
            result.write_into(tmp / name, charts=False)
            results[name] = result
            sides[name] = side_metrics(result.requests, result.calls, simulated_cooldowns(result.events), window,
                                       primary)
        table = compare_sides(sides["live"], sides["simulated"])
        table["simulated_real_time"] = [sides["simulated_real_time"].get(m, math.nan) for m in table["metric"]]
        table.to_csv(tmp / "comparison.csv", index=False)
        if options.get("charts", True):
            from sim.report.experiment_charts import deployment_share_chart
            calls = {"live (LiteLLM Router, sim serve)": live.calls,
                     f"simulated, LiteLLM's counters as at speed {speed:g}": results["simulated"].calls,
                     "simulated, real time": results["simulated_real_time"].calls}
            events = {name: results["simulated"].events for name in calls}
            deployment_share_chart(calls, events, primary_group.deployments, tmp / "twin_deployments.png",
                                   scenario.output.interval_s, scenario.duration,
                                   title=f"{scenario.name}: where the calls went, live and simulated "
                                         f"(live compressed x{speed:g}, {live.wall_s:.0f} wall s)")
        from sim.report.document import write_report
        write_report(tmp)               # the design-review report, live and simulated side by side
    shown = table[["metric", "live", "simulated", "difference", "simulated_real_time"]]
    return (format_frame(shown) + f"\n\nlive: {live.wall_s:.0f} wall s at speed {speed:g}; "
            f"{sides['live']['requests_total']} requests")


def silent_degradation(scenario: Scenario, out: Path, **options) -> str:
    """Hallucination rate of answered requests per interval for each breaker, with the detection time."""
    return _variants_with_overlay(
        scenario, out, [("hallucination_rate", "Share of answers wrong, per {interval}"),
                        ("breaker", "Circuit breaker of the primary model")],
        title=f"{scenario.name}: detection of a silent degradation",
        metrics=("requests_total", "availability", "hallucination_rate", "quality_failure_rate",
                 "degradation_detected_after_s", "breaker_transitions", "latency_p95_s", "cost_usd"), **options)


def kill_switch(scenario: Scenario, out: Path, **options) -> str:
    """Cumulative spend and killed requests per interval, with and without the kill switch."""
    return _variants_with_overlay(
        scenario, out, [("spend_usd", "Cumulative spend (USD), every call"), ("cost_usd", "Cost (USD) per {interval}"),
                        ("completed_killed", "Requests killed per {interval}")],
        title=f"{scenario.name}: a runaway agent loop",
        metrics=("requests_total", "availability", "requests_killed", "cost_usd", "kill_switch_soft_after_s",
                 "kill_switch_hard_after_s", "spend_overshoot_usd", "spend_overshoot_bound_usd",
                 "latency_p95_s"), **options)


def shadow_mode(scenario: Scenario, out: Path, **options) -> str:
    """Each candidate's decision, when it came and after how many samples (in the comparison table), and the
    shadow spend per interval beside production spend."""
    names = list(scenario.variants)
    report = run_variants(scenario, names, out, seed=options.get("seed"), charts=options.get("charts", True),
                          metrics=SHADOW_COMPARED, on_run=options.get("on_run"))
    return report


SHADOW_COMPARED = ("requests_total", "availability", "cost_usd", "shadow_cost_usd", "shadow_samples",
                   "shadow_decision", "shadow_decided_after_samples", "shadow_decided_at_s",
                   "shadow_required_samples", "shadow_true_failure_rate_baseline",
                   "shadow_true_failure_rate_candidate")

ROUTING_COMPARED = ("requests_total", "cost_usd", "cost_per_request_usd", "quality_failure_rate",
                    "strong_call_share", "calls_total", "latency_p50_s", "latency_p95_s")


def routing(scenario: Scenario, out: Path, **options) -> str:
    """Cost per request against the share of wrong answers, one point per routing strategy, with the
    Pareto front (cost_quality.png), and the table of both."""
    report = run_variants(scenario, list(scenario.variants), out, seed=options.get("seed"),
                          charts=options.get("charts", True), metrics=ROUTING_COMPARED, on_run=options.get("on_run"))
    table = pd.read_csv(out / "comparison.csv")
    tradeoff_chart(table, "cost_per_request_usd", "quality_failure_rate", ["variant"], out / "cost_quality.png",
                   x_label="cost per request (USD)", y_label="share of answers wrong",
                   title=f"{scenario.name}: cost against quality by routing strategy", annotate_all=True,
                   colours=design_colours(scenario.variants))
    return report


CACHE_THRESHOLDS = [0.80, 0.85, 0.88, 0.90, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99]
CACHE_TTLS_S = [600, 3600, 4 * 3600, 86400, 7 * 86400]
CACHE_METRICS = ["cache_hit_rate", "false_hit_rate", "stale_rate", "quality_failure_rate",
                 "cost_per_request_usd", "latency_p50_s"]


def knee(x: list[float], y: list[float]) -> float:
    """The point of a curve farthest from the chord joining its ends (both axes scaled to [0, 1])."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    xs = (x - x.min()) / (np.ptp(x) or 1.0)
    ys = (y - y.min()) / (np.ptp(y) or 1.0)
    chord = np.array([xs[-1] - xs[0], ys[-1] - ys[0]])
    chord /= np.linalg.norm(chord) or 1.0
    offsets = np.stack([xs - xs[0], ys - ys[0]], axis=1)
    distance = np.abs(offsets[:, 0] * chord[1] - offsets[:, 1] * chord[0])
    return float(x[int(distance.argmax())])


def _replication_basis(replications: int) -> str:
    """What a sweep chart's points are, for its title: one seed (no interval) or means with 95% whiskers."""
    if replications < 2:
        return "; one run per setting, no intervals"
    return f"; means of {replications} runs, 95% whiskers"


def cache_threshold(scenario: Scenario, out: Path, replications: int = 1, executor=None, params=None,
                    **options) -> str:
    """Threshold sweep (threshold.png: each metric against the threshold, the knee of the wrong-answer
    curve marked; hits_vs_false_hits.png: the trade-off with its Pareto front) and TTL sweep (ttl.png: hit rate and stale rate against the TTL), with their tables.
    ``params`` (from ``parse_params``) may replace the ``cache.threshold`` or ``cache.ttl_s`` values."""
    seed = options.get("seed")
    grid = _grid({"cache.threshold": CACHE_THRESHOLDS, "cache.ttl_s": CACHE_TTLS_S}, params)
    by_threshold = sweep(scenario, {"cache.threshold": grid["cache.threshold"]}, replications=replications,
                         seed=seed, executor=executor, on_run=options.get("on_run"))
    by_ttl = sweep(scenario, {"cache.ttl_s": grid["cache.ttl_s"]}, replications=replications, seed=seed,
                   executor=executor, on_run=options.get("on_run"))
    table = aggregate(by_threshold, ["cache.threshold"], CACHE_METRICS)
    ttl_table = aggregate(by_ttl, ["cache.ttl_s"], CACHE_METRICS)
    # the knee: below it, wrong answers climb faster than hits; above it, hits fall faster than errors
    best = knee(list(table["false_hit_rate"]), list(table["cache_hit_rate"]))
    knee_threshold = float(table.loc[table["false_hit_rate"] == best, "cache.threshold"].iloc[0])
    basis = _replication_basis(replications)
    with atomic_dir(out) as tmp:
        by_threshold.to_parquet(tmp / "threshold_runs.parquet", index=False)
        by_ttl.to_parquet(tmp / "ttl_runs.parquet", index=False)
        table.to_csv(tmp / "threshold.csv", index=False)
        ttl_table.to_csv(tmp / "ttl.csv", index=False)
        if options.get("charts", True):
            sweep_chart(by_threshold, "cache.threshold", CACHE_METRICS, tmp / "threshold.png", knee=knee_threshold,
                        title=f"{scenario.name}: what the threshold buys (knee at {knee_threshold:.2f}){basis}")
            tradeoff_chart(table, "false_hit_rate", "cache_hit_rate", ["cache.threshold"],
                           tmp / "hits_vs_false_hits.png", maximize_y=True,
                           x_label="false-hit rate (share of lookups served a wrong match)",
                           y_label="cache hit rate (share of lookups served from the cache)",
                           title=f"{scenario.name}: hits against false hits by threshold{basis}")
            sweep_chart(by_ttl, "cache.ttl_s", ["cache_hit_rate", "stale_rate", "quality_failure_rate",
                                                "cost_per_request_usd"], tmp / "ttl.png",
                        title=f"{scenario.name}: TTL against staleness (answers change ~monthly){basis}")
    shown = ["cache.threshold"] + CACHE_METRICS
    return (format_frame(table[shown]) + f"\n\nknee of hits against false hits: {knee_threshold:.2f}\n\n"
            + format_frame(ttl_table[["cache.ttl_s"] + CACHE_METRICS]))


def calibration(scenario: Scenario | None, out: Path, **options) -> str:
    """The calibrations as tables and charts: the similarity model against real MiniLM question pairs
    (cache_similarity.png), the cache on a production-like stream, on GPTCache's benchmark and on the real
    vectors (cache_*.csv), and the router's quality curve against RouteLLM's points (routing_pgr.png)."""
    lines = []
    with atomic_dir(out) as tmp:
        stream = pd.DataFrame(production_stream_benchmark())
        stream.to_csv(tmp / "cache_production_stream.csv", index=False)
        gptcache = pd.DataFrame(preloaded_benchmark())
        gptcache.to_csv(tmp / "cache_gptcache_benchmark.csv", index=False)
        lines += ["(a) production-like stream, insert on miss:", stream.to_string(index=False),
                  "(b) GPTCache's benchmark shape:", gptcache.to_string(index=False)]
        if Path(REAL_PAIRS_NPZ).exists():
            real_pairs = load_real_pairs()
            real = pd.DataFrame(real_pairs_cache_benchmark(real_pairs))
            real.to_csv(tmp / "cache_real_pairs.csv", index=False)
            lines += ["(c) the cache's search on real MiniLM question pairs:", real.to_string(index=False)]
            if options.get("charts", True):
                similarity_calibration_chart(tmp / "cache_similarity.png", pair_cosine_groups(),
                                             real_pair_groups(real_pairs))
        else:
            lines.append(f"(c) skipped: real pairs not found at {REAL_PAIRS_NPZ}")
        curve = pgr_curve(QualityParams.for_share(0.2), [0.5, 0.75, 0.9], [0.13, 0.2, 0.3, 0.5])
        curve.to_csv(tmp / "routing_pgr.csv", index=False)
        lines += ["routing: share of strong calls against the quality gap recovered:", curve.to_string(index=False)]
        if options.get("charts", True):
            routing_calibration_chart(tmp / "routing_pgr.png", routing_calibration())
    return "\n".join(lines)


BREAKER_GRID = {
    "resilience.breaker.failure_rate_threshold": [0.2, 0.3, 0.5, 0.7],
    "resilience.breaker.window_size": [10, 20, 50, 100],
    "resilience.breaker.wait_in_open_s": [10, 30, 120],
}


def _grid(defaults: dict[str, list], params: dict[str, list] | None) -> dict[str, list]:
    """The experiment's grid with some parameters' values replaced; ScenarioError for a parameter it lacks."""
    unknown = [k for k in params or {} if k not in defaults]
    if unknown:
        raise ScenarioError(f"--param: {', '.join(unknown)} is not swept by this experiment; "
                            f"it sweeps {', '.join(defaults)}")
    return {**defaults, **(params or {})}


def breaker_tuning(scenario: Scenario, out: Path, replications: int = 2, executor=None, params=None,
                   **options) -> str:
    """The grid's runs (runs.parquet), means with CIs (summary.csv) and the trade-off chart: requests failed
    during the outage against false trips, one point per setting, the Pareto front marked. ``params``
    (from ``parse_params``) may replace some of the grid's values."""
    params = _grid(BREAKER_GRID, params)
    runs = sweep(scenario, params, replications=replications, seed=options.get("seed"), executor=executor,
                 on_run=options.get("on_run"))
    write_sweep(runs, params, out, charts=options.get("charts", True),
                metrics=("failed_during_faults", "false_trips", "availability", "latency_p95_s"))
    table = aggregate(runs, list(params), ["failed_during_faults", "false_trips", "availability"])
    table.to_csv(out / "tradeoff.csv", index=False)
    if options.get("charts", True):
        tradeoff_chart(table, "false_trips", "failed_during_faults", list(params), out / "tradeoff.png",
                       x_label="false trips in 2h45m of normal noise (3% errors), mean over replications",
                       y_label="requests failed during the 15-minute outage, mean over replications",
                       title=f"{scenario.name}: breaker settings, outage damage vs false trips"
                             f"{_replication_basis(replications)}")
    front = table.sort_values(["failed_during_faults", "false_trips"]).head(10)
    return format_frame(front)


def provider_redundancy(scenario: Scenario, out: Path, replications: int = 10, executor=None,
                        incidents_path: str | None = None, **options) -> str:
    """Availability with one, two and three providers over a year of incidents drawn from the fitted
    process; means and 95% CIs over replications (availability.csv, availability.png)."""
    try:
        incidents = load_incidents(incidents_path)
    except FileNotFoundError as err:
        raise ScenarioError(f"provider_redundancy: the incident history is needed: {err}") from None
    fitted = fit_fault_process(incidents)
    processes = {"openai": fitted["OpenAI"], "anthropic": fitted["Anthropic"], "azure": fitted["OpenAI"]}
    seed = scenario.seed if options.get("seed") is None else options["seed"]
    jobs = []
    for rep in range(replications):
        rng = Streams(seed, rep).generator("incidents")
        faults = draw_faults(rng, processes, scenario.duration, shared_cause_per_year=SHARED_CAUSE_PER_YEAR,
                             shared_targets=("openai", "azure"))
        fault_dicts = [f.model_dump(mode="json") for f in faults]
        for name, overrides in scenario.variants.items():
            jobs.append((name, rep, {**overrides, "faults": fault_dicts}, len(faults)))
    base = scenario.model_copy(update={"variants": {}}).to_yaml()
    if executor is None:
        rows = [run_one(base, ov, seed, rep) for _, rep, ov, _ in jobs]
    else:
        rows = [f.result() for f in [executor.submit(run_one, base, ov, seed, rep) for _, rep, ov, _ in jobs]]
    runs = pd.DataFrame([{"variant": name, "replication": rep, "faults": n_faults,
                          **{k: row[k] for k in ("availability", "requests_total", "requests_ok",
                                                 "failed_during_faults", "requests_during_faults")}}
                         for (name, rep, _, n_faults), row in zip(jobs, rows)])
    table = runs.groupby("variant", sort=False).agg(
        availability=("availability", "mean"), replications=("availability", "size"),
        faults_per_year=("faults", "mean")).reset_index()
    table["availability_ci95"] = [ci_halfwidth(runs.loc[runs.variant == v, "availability"]) for v in table.variant]
    table["downtime_min_per_year"] = (1 - table["availability"]) * 365 * 24 * 60
    # Failures cluster in incidents, so years (replications), not requests, are the independent units.
    # With k of R simulated years having any failed request, an exact (Clopper-Pearson) 95% upper bound on
    # the chance that a year has one; with k = 0 it is 1 - 0.05^(1/R), about 3/R (the rule of three).
    failing = runs.assign(any_failed=runs.requests_ok < runs.requests_total).groupby("variant", sort=False)
    table["years_with_failures"] = failing["any_failed"].sum().to_numpy()
    table["failure_year_prob_upper95"] = [
        1.0 if k == n else float(stats.beta.ppf(0.95, k + 1, n - k))
        for k, n in zip(table["years_with_failures"], table["replications"])]
    table["requests_failed"] = failing.apply(lambda g: int((g.requests_total - g.requests_ok).sum()),
                                             include_groups=False).to_numpy()
    with atomic_dir(out) as tmp:
        runs.to_parquet(tmp / "runs.parquet", index=False)
        table.to_csv(tmp / "availability.csv", index=False)
        interval_bars_chart(list(table.variant), list(table.availability), list(table.availability_ci95),
                            tmp / "availability.png", y_label="share of requests answered",
                            title="Availability over a simulated year of fitted incidents (95% CI)",
                            reference=(0.9999, "99.99% (the lesson's claim)"),
                            colours=design_colours(scenario.variants))
    return format_frame(table)


PYRAMID_COMPARED = ("requests_total", "availability", "requests_shed", "requests_timeout", "cost_usd",
                    "cost_per_request_usd", "quality_failure_rate", "cache_hit_rate", "false_hit_rate",
                    "strong_call_share", "latency_p95_s")
PYRAMID_REPLICATIONS = 5


def scaling_pyramid(scenario: Scenario, out: Path, replications: int = PYRAMID_REPLICATIONS, executor=None,
                    **options) -> str:
    """The scenario's variants (baseline, then one lever more each) on common random numbers with
    replications (frames and charts of replication 0, ``runs.parquet``, ``summary.csv``, ``paired.csv``),
    and the cost waterfall against the lesson's claims: ``waterfall.csv``, ``waterfall.md`` and
    ``waterfall.png``/``.svg`` (see sim/experiments/scaling_pyramid.py)."""
    from sim.experiments import scaling_pyramid as pyramid
    from sim.report.document import month_basis
    steps = list(scenario.variants)
    if len(steps) < 2:
        raise ScenarioError("scaling_pyramid: the scenario needs variants: a baseline, then one lever more each")
    per_month, basis = month_basis(scenario)
    if per_month is None:
        raise ScenarioError("scaling_pyramid: workload needs dau and requests_per_user_per_day (or rate_per_s) "
                            "to extrapolate a month")
    charts = options.get("charts", True)
    with atomic_dir(out, replications=replications, variants=steps) as tmp:
        report = run_variants(scenario, steps, tmp, seed=options.get("seed"), charts=charts,
                              metrics=PYRAMID_COMPARED, on_run=options.get("on_run"),
                              replications=replications, executor=executor)
        runs = _runs_of(tmp, steps, replications)
        table = pyramid.waterfall(runs, steps, per_month)
        verdict = pyramid.verdict(runs, steps, per_month)
        text = "\n".join([pyramid.verdict_text(verdict), "", *pyramid.step_lines(table), "", basis + ".",
                          pyramid.MECHANISMS])
        table.to_csv(tmp / "waterfall.csv", index=False)
        (tmp / "waterfall.md").write_text(f"# {scenario.name}: the cost waterfall\n\n{text}\n")
        if charts:
            from sim.report.waterfall import cost_waterfall_chart
            cost_waterfall_chart(table, tmp / "waterfall.png", lesson_final_usd=pyramid.LESSON_FINAL_USD,
                                 title=f"{scenario.name}: monthly bill after each lever, simulated ("
                                       + (f"mean ± 95% CI, {replications} replications" if replications > 1
                                          else "one replication, no intervals") + ") beside the lesson's claim")
    return report + "\n\n" + text


def _runs_of(folder: Path, steps: list[str], replications: int) -> pd.DataFrame:
    """One row per (variant, replication): runs.parquet, or the variants' summaries for a single replication."""
    if replications > 1:
        return pd.read_parquet(folder / "runs.parquet")
    import json
    return pd.DataFrame([{"variant": s, "replication": 0, **json.loads((folder / s / "summary.json").read_text())}
                         for s in steps])


#: Regional failures hitting OpenAI and Azure together per year: the file has one (2024-12-26) in ~3.8
#: years of OpenAI history; a round 0.25 per year is kept as the assumption.
SHARED_CAUSE_PER_YEAR = 0.25

EXPERIMENTS: dict[str, Callable[..., str]] = {
    "outage_replay": outage_replay,
    "silent_degradation": silent_degradation,
    "kill_switch": kill_switch,
    "breaker_tuning": breaker_tuning,
    "provider_redundancy": provider_redundancy,
    "shadow_mode": shadow_mode,
    "routing": routing,
    "cache_threshold": cache_threshold,
    "calibration": calibration,
    "rate_limit_enforcement": rate_limit_enforcement,
    "scaling_pyramid": scaling_pyramid,
    "load_balancing": load_balancing,
    "twin_litellm": twin_litellm,
}

#: Experiments that read no scenario file.
WITHOUT_SCENARIO = {"calibration"}
#: Experiments that run real software in wall time (the live extra); they take ``speed``.
LIVE_EXPERIMENTS = ("twin_litellm",)


def run_experiment(name: str, scenario: Scenario | None = None, out: Path | None = None, **options) -> str:
    if name not in EXPERIMENTS:
        raise ScenarioError(f"experiment: unknown {name!r}; known: {', '.join(EXPERIMENTS)}")
    if scenario is None and name not in WITHOUT_SCENARIO:
        scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    out = Path(out) if out else Path("results") / name
    return EXPERIMENTS[name](scenario, out, **options)
