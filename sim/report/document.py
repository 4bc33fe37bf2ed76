"""The design-review report: what a results folder says, in one document a reviewer can read.

``python -m sim report RESULTS_DIR`` reads whatever the folder holds -- one run, the variants of a scenario,
their replications, a sweep or a tune -- and writes ``report.html`` (self-contained: styles and charts inline,
so it opens without a network and can be mailed) and ``report.md`` (the same text; charts linked by their
relative paths) into it. The report has, in order:

* the scenario in plain words: traffic, providers and their limits, the stack (gateway, cache, router,
  resilience), the faults with their clock times and sources, and what differs between the designs;
* the key table: availability, failed / timed out / shed, p50 and p95 latency, cost per request and per
  month (with how the month is extrapolated), the wrong-answer rate, cache hit and false-hit rates, the
  breaker's time to open and to recover -- as mean +- 95% half-width when there are replications, with each
  design's paired difference against the baseline;
* the charts the folder holds, with captions;
* the events that matter (a fault starting, a breaker opening and why, the kill switch tripping), read from
  the typed ``events`` frames with clock times;
* the caveats the run knows about (a single seed, a warm-up left out, requests that waited longer than a
  user would, a month extrapolated from a window of the day), then the resolved scenario file.

The report only reads the folder and adds its two files (written atomically); it never changes the results.
"""
from __future__ import annotations

import base64
import html
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd
import yaml

from sim.errors import ScenarioError
from sim.report.tables import clock_text, duration_text, format_cell, is_missing

DAYS_PER_MONTH = 30

#: The key table's columns, in order: (metric, heading). Columns with no value in any design are dropped.
KEY_METRICS = (
    ("availability", "availability"),
    ("requests_failed", "failed"),
    ("requests_timeout", "timed out"),
    ("requests_shed", "shed"),
    ("latency_p50_s", "p50 latency (s)"),
    ("latency_p95_s", "p95 latency (s)"),
    ("cost_per_request_usd", "cost / request"),
    ("cost_per_month_usd", "cost / month"),
    ("quality_failure_rate", "wrong answers"),
    ("cache_hit_rate", "cache hits"),
    ("false_hit_rate", "false hits"),
    ("time_to_open_s", "breaker opens after (s)"),
    ("time_to_recover_s", "closes after fault (s)"),
)

#: What each chart file shows, by file name (anything else is captioned by its name).
CHART_CAPTIONS = {
    "comparison.png": "Every design side by side.",
    "waterfall.png": "The monthly bill after each lever, added one at a time on the same traffic (whiskers: the "
                     "bills' 95% intervals, and each step's paired interval), beside the lesson's claimed step "
                     "(hatched) and its stated final bill.",
    "variants_timeline.png": "The designs overlaid over time: requests not served, errors, latency, breaker "
                             "state, cost; faults shaded and named.",
    "latency_cdf_variants.png": "Latency of every request per design; unanswered requests count as never "
                                "answered, so each curve tops out at the design's availability.",
    "overlay.png": "The designs overlaid over time; faults shaded.",
    "timeline.png": "Traffic, latency, errors, cost, breaker state and limit utilisation over time.",
    "latency_cdf.png": "Distribution of end-to-end latency.",
    "tune.png": "The objective against each constraint: every setting with its interval, the Pareto front "
                "and the recommendation.",
    "tradeoff.png": "The trade-off between the two metrics, one point per setting; the Pareto front marked.",
    "threshold.png": "What the cache threshold buys.",
    "ttl.png": "TTL against staleness.",
}


@dataclass
class Chart:
    path: Path              # absolute
    caption: str


@dataclass
class Report:
    """Everything the report says, before it is rendered as HTML or Markdown."""
    folder: Path
    title: str
    kind: str                                       # run | variants | replications | sweep | tune
    description: str = ""
    scenario_lines: list[str] = field(default_factory=list)
    differences: dict[str, list[str]] = field(default_factory=dict)     # design -> settings that differ
    key_header: list[str] = field(default_factory=list)
    key_rows: list[list[str]] = field(default_factory=list)
    key_notes: list[str] = field(default_factory=list)
    paired_header: list[str] = field(default_factory=list)
    paired_rows: list[list[str]] = field(default_factory=list)
    extra_sections: list[tuple[str, list[str], list[list[str]] | None, list[str] | None]] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    events: dict[str, list[str]] = field(default_factory=dict)          # design -> lines
    caveats: list[str] = field(default_factory=list)
    scenario_yaml: str = ""


# ------------------------------------------------------------------------------------------ reading

def _read_scenario(path: Path):
    from sim.config import validate_scenario
    try:
        return validate_scenario(yaml.safe_load(path.read_text()))
    except Exception:               # an old or hand-edited file: the report still shows the rest
        return None


def _variant_folders(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and (p / "summary.json").is_file()),
                  key=lambda p: p.name)


def _live_note(folder: Path) -> str:
    """What a live run (``sim drive``) measured and what it could not see, from its manifest."""
    from sim.results import read_manifest
    live = (read_manifest(folder) or {}).get("live") or {}
    how = (f" against {live['target']} at speed {live.get('speed', 1):g}, {live.get('wall_s', 0):.0f} s of wall "
           "time" if live.get("target") else "")
    return (f"Live run: sim drive sent the scenario's requests{how}; the numbers are what the client measured. "
            "Provider calls are not in this folder (sim serve logs them), so call error rates and limit "
            "utilisation are empty.")


def folder_kind(folder: Path) -> str:
    """What a results folder holds: run, variants, replications, sweep or tune."""
    if (folder / "recommendation.json").is_file():
        return "tune"
    if (folder / "runs.parquet").is_file():
        columns = pd.read_parquet(folder / "runs.parquet").columns
        return "replications" if "variant" in columns else "sweep"
    if (folder / "summary.json").is_file():
        return "run"
    if _variant_folders(folder):
        return "variants"
    raise ScenarioError(f"report: {folder} holds no results (no summary.json, runs.parquet, "
                        "recommendation.json or variant folders); give a folder written by run, sweep or tune")


# ------------------------------------------------------------------------------------- the scenario

def _limits_text(limits) -> str:
    parts = []
    for name, label in (("requests_per_min", "RPM"), ("tokens_per_min", "TPM"),
                        ("input_tokens_per_min", "input TPM"), ("output_tokens_per_min", "output TPM")):
        value = getattr(limits, name, None)
        if value:
            parts.append(f"{value:,.0f} {label}")
    return ", ".join(parts) if parts else "no rate limits"


def describe_scenario(s) -> list[str]:
    """The scenario in plain words, one line per layer."""
    lines = []
    w = s.workload
    start = f", starting at {clock_text(w.start_time_of_day)}" if w.start_time_of_day else ""
    if w.trace is not None:
        traffic = f"a replayed {w.trace.format} trace ({Path(w.trace.path).name}, speed-up {w.trace.speedup:g}x)"
    elif w.dau:
        traffic = (f"{w.dau:,} daily active users x {w.requests_per_user_per_day:g} requests a day "
                   f"({w.dau * w.requests_per_user_per_day:,.0f} requests a day)")
    else:
        traffic = f"{w.rate_per_s:g} requests per second on average"
    profile = getattr(w.profile, "type", "flat")
    shape = (f"a diurnal profile peaking {w.profile.peak_to_average:g}x the average at "
             f"{clock_text(w.profile.peak_hour * 3600)}" if profile == "diurnal" else f"a {profile} profile")
    bursts = "" if getattr(w.burstiness, "type", "none") == "none" else \
        f", bursts of {w.burstiness.burst_rate_multiplier:g}x"
    warm = f" (the first {duration_text(s.warmup)} are a warm-up, left out of the numbers)" if s.warmup else ""
    lines.append(f"Traffic: {traffic}, {shape}{bursts}; {duration_text(s.duration)} simulated{start}{warm}.")
    if w.llm_calls.mean != 1 or w.retrieval or w.tools:
        steps = [f"{w.llm_calls.mean:g} LLM calls per request ({w.llm_calls.kind})"]
        if w.retrieval:
            steps.append("a retrieval step")
        if w.tools:
            steps.append("a tool step between calls")
        lines.append("Each request: " + ", ".join(steps) + ".")
    for p in s.providers:
        models = "; ".join(f"{m.name} (${m.input_usd_per_mtok:g} / ${m.output_usd_per_mtok:g} per 1M input / "
                           f"output tokens, {m.error_rate:.2%} errors)" for m in p.models)
        keys = f"{p.api_keys} API key{'s' if p.api_keys != 1 else ''}"
        limits = _limits_text(p.limits)
        line = f"Provider {p.name}: {models}; {keys} at {limits} each"
        if limits != "no rate limits":
            period_s, reserve = p.enforcement()
            documented = " (the provider's documented default)" if p.limits.enforcement_period_s is None else ""
            line += f"; each limit enforced as a bucket holding {duration_text(period_s)} of it{documented}"
            asked = [m.name for m in p.models if m.requested_max_tokens is not None]
            if reserve and asked:
                line += f"; the max_tokens of {', '.join(asked)} reserved at admission"
        lines.append(line + ".")
    g = s.gateway
    gateway = []
    if g.user_rate_limit:
        gateway.append(f"a per-user limit of {g.user_rate_limit.requests_per_min:g} requests a minute")
    if g.workers:
        gateway.append(f"{g.workers} workers")
    if g.smooth_to_provider_limits:
        gateway.append("a queue that paces requests to the provider limits")
    gateway.append(f"a queue of {g.max_queue:,}" if g.max_queue is not None else "an unbounded queue")
    if g.max_queue_wait_s:
        gateway.append(f"a {duration_text(g.max_queue_wait_s)} queue wait")
    if g.request_timeout_s:
        gateway.append(f"a {duration_text(g.request_timeout_s)} request deadline")
    lines.append("Gateway: " + ", ".join(gateway) + ".")
    stack = []
    if s.cache.enabled:
        ttl = f", entries live {duration_text(s.cache.ttl_s)}" if s.cache.ttl_s else ""
        stack.append(f"a semantic cache (similarity >= {s.cache.threshold:g}{ttl})")
    if s.compression.ratio < 1:
        stack.append(f"prompt compression to {s.compression.ratio:.0%}")
    if s.routing.strategy != "fixed":
        stack.append(f"a {s.routing.strategy} router between {s.routing.cheap} and {s.routing.strong}")
    r = s.resilience
    if r.retry.max_attempts > 1:
        stack.append(f"up to {r.retry.max_attempts} attempts per call")
    if r.breaker:
        b = r.breaker
        stack.append(f"a circuit breaker per target (opens at {b.failure_rate_threshold:.0%} failures over "
                     f"{b.window_size} calls, waits {duration_text(b.wait_in_open_s)} open)")
    if r.fallback and s.routing.chain:
        stack.append("fallback along " + " -> ".join(s.routing.chain))
    if r.kill_switch:
        stack.append("a budget kill switch")
    if r.shadow:
        stack.append(f"shadow evaluation of {r.shadow.target}")
    lines.append("Stack: " + (", ".join(stack) if stack else "one provider, no cache, no retries, no breaker") + ".")
    offset = w.start_time_of_day
    for f in s.faults:
        targets = ", ".join(f.targets) if f.targets else "every provider"
        name = f" '{f.name}'" if f.name else ""
        source = f" Source: {f.source}." if f.source else ""
        lines.append(f"Fault{name}: {f.kind} of {targets} from {clock_text(offset + f.start)} to "
                     f"{clock_text(offset + f.start + f.duration)} ({duration_text(f.duration)}).{source}")
    return lines


def _flatten(value, prefix="") -> dict[str, object]:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list):
        out = {}
        for i, v in enumerate(value):
            out.update(_flatten(v, f"{prefix}.{i}"))
        return out or {prefix: []}
    return {prefix: value}


def design_differences(scenarios: Mapping[str, object], base=None) -> dict[str, list[str]]:
    """Per design, the settings that make it differ: its overrides of the base scenario when the base is known
    (``path: value`` as written under ``variants:``), else the resolved settings whose values differ."""
    if base is not None and base.variants:
        return {name: [f"{k}: {v}" for k, v in overrides.items()] for name, overrides in base.variants.items()}
    flat = {name: _flatten(yaml.safe_load(s.to_yaml())) for name, s in scenarios.items() if s is not None}
    if len(flat) < 2:
        return {}
    keys = sorted(set().union(*flat.values()))
    varying = [k for k in keys if k != "name" and len({json.dumps(f.get(k), default=str)
                                                      for f in flat.values()}) > 1]
    return {name: [f"{k}: {f[k]}" for k in varying if k in f] for name, f in flat.items()}


# ---------------------------------------------------------------------------------------- the numbers

def month_basis(scenario) -> tuple[float | None, str]:
    """Requests per 30-day month and how that number was reached (None when the scenario does not say)."""
    if scenario is None:
        return None, ""
    w = scenario.workload
    if w.dau and w.requests_per_user_per_day:
        per_day = w.dau * w.requests_per_user_per_day
        return per_day * DAYS_PER_MONTH, (f"cost / month = cost per request x {w.dau:,} DAU x "
                                          f"{w.requests_per_user_per_day:g} requests a day x {DAYS_PER_MONTH} days "
                                          "(the scenario's daily traffic, not the simulated window's rate)")
    if w.rate_per_s and w.trace is None:
        return w.rate_per_s * 86400 * DAYS_PER_MONTH, (
            f"cost / month = cost per request x {w.rate_per_s:g} requests/s x 86,400 s x {DAYS_PER_MONTH} days")
    return None, ""


def _with_month(values: dict, requests_per_month: float | None) -> dict:
    values = dict(values)
    cpr = values.get("cost_per_request_usd")
    if requests_per_month is not None and not is_missing(cpr):
        values["cost_per_month_usd"] = float(cpr) * requests_per_month
        if not is_missing(values.get("cost_per_request_usd_ci95")):
            values["cost_per_month_usd_ci95"] = float(values["cost_per_request_usd_ci95"]) * requests_per_month
    else:
        values["cost_per_month_usd"] = values.get("projected_cost_per_month_usd")
    return values


def _shown_metrics(rows: Iterable[Mapping]) -> list[tuple[str, str]]:
    rows = list(rows)
    return [(m, h) for m, h in KEY_METRICS if any(not is_missing(r.get(m)) for r in rows)]


def _cell(metric: str, values: Mapping) -> str:
    text = format_cell(metric, values.get(metric))
    half = values.get(f"{metric}_ci95")
    if not is_missing(half) and not is_missing(values.get(metric)):
        text += f" ± {format_cell(metric + '_ci95', half)}"
    return text


def _signed(metric: str, value) -> str:
    text = format_cell(metric + "_ci95", value)
    if is_missing(value) or text.startswith("-"):
        return text
    return "+" + text


# ------------------------------------------------------------------------------------------ the events

def _fault_and_breaker_lines(events: pd.DataFrame, offset_s: float) -> list[str]:
    lines = []

    def at(t: float) -> str:
        return clock_text(offset_s + t, with_seconds=True)

    for row in events[events["kind"].isin(["fault_start", "fault_end"])].itertuples():
        verb = "starts" if row.kind == "fault_start" else "ends"
        lines.append(f"{at(row.time_s)} fault '{row.fault_name}' ({row.fault_kind}) on {row.subject} {verb}")
    breakers = events[events["kind"] == "breaker"]
    for subject, group in breakers.groupby("subject", sort=False, observed=True):
        opens = group[(group["to_state"] == "open") & (group["from_state"] == "closed")]
        failed_trials = group[(group["to_state"] == "open") & (group["from_state"] == "half_open")]
        closes = group[group["to_state"] == "closed"]
        for row in opens.itertuples():
            why = str(row.reason).replace("_", " ")
            if not is_missing(row.value) and not is_missing(row.limit):
                why += f" {row.value:.0%} >= {row.limit:.0%}" if row.limit <= 1 else f" {row.value:g} >= {row.limit:g}"
            lines.append(f"{at(row.time_s)} breaker {subject} opens ({why})")
        if len(failed_trials):
            lines.append(f"{at(failed_trials['time_s'].iloc[0])}-{at(failed_trials['time_s'].iloc[-1])} breaker "
                         f"{subject}: {len(failed_trials)} half-open trial{'s' if len(failed_trials) > 1 else ''} "
                         "failed and it reopened")
        for row in closes.itertuples():
            lines.append(f"{at(row.time_s)} breaker {subject} closes again")
    for row in events[events["kind"] == "kill_switch"].itertuples():
        why = f" ({row.reason})" if not is_missing(row.reason) and str(row.reason) != "nan" else ""
        lines.append(f"{at(row.time_s)} kill switch {row.subject}: {row.from_state} -> {row.to_state}{why}")
    lines.sort()
    return lines


def important_events(folder: Path, offset_s: float) -> list[str]:
    path = folder / "events.parquet"
    if not path.is_file():
        return []
    return _fault_and_breaker_lines(pd.read_parquet(path), offset_s)


# --------------------------------------------------------------------------------------- building

def _charts(folder: Path, designs: Iterable[str] = ()) -> list[Chart]:
    charts = [Chart(p, CHART_CAPTIONS.get(p.name, p.stem.replace("_", " ")))
              for p in sorted(folder.glob("*.png"))]
    for name in designs:
        for p in sorted((folder / name).glob("*.png")):
            charts.append(Chart(p, f"{name}: {CHART_CAPTIONS.get(p.name, p.stem.replace('_', ' '))}"))
    return charts


def _caveats(kind: str, scenario, summaries: Mapping[str, Mapping], replications: int) -> list[str]:
    out = []
    if replications <= 1 and kind in ("run", "variants"):
        out.append("One seed: each number is one sample of the traffic. Run with --replications N for "
                   "intervals and paired differences before deciding on a small gap.")
    if scenario is not None:
        if scenario.warmup:
            out.append(f"The first {duration_text(scenario.warmup)} are a warm-up: requests arriving then are "
                       "not counted.")
        w = scenario.workload
        if scenario.duration < 86400 and getattr(w.profile, "type", "flat") != "flat":
            out.append(f"The run covers {duration_text(scenario.duration)} of a day with a time-of-day profile: "
                       "the cost per month multiplies the cost per request by the scenario's daily traffic; "
                       "the run's own peak-window rate would overstate it.")
    for name, s in summaries.items():
        waited = s.get("requests_waited_over_patience") or 0
        if waited and not is_missing(waited) and float(waited) > 0:
            who = f"{name}: " if len(summaries) > 1 else ""
            patience = s.get("user_patience_s")
            patience = duration_text(float(patience)) if not is_missing(patience) else "the stated patience"
            out.append(f"{who}{float(waited):,.0f} requests took longer than a user's patience ({patience}) to "
                       "end; those that ended ok count as available, though their user may have given up.")
    return out


def build_report(folder: str | Path) -> Report:
    """Read a results folder and assemble its report (nothing is written)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ScenarioError(f"report: {folder} is not a folder")
    kind = folder_kind(folder)
    variants = _variant_folders(folder)
    top_scenario = _read_scenario(folder / "scenario.yaml") if (folder / "scenario.yaml").is_file() else None
    if top_scenario is not None and top_scenario.variants:          # the designs in the scenario's order
        order = list(top_scenario.variants)
        variants.sort(key=lambda p: order.index(p.name) if p.name in order else len(order))
    scenarios = {p.name: _read_scenario(p / "scenario.yaml") for p in variants if (p / "scenario.yaml").is_file()}
    scenario = top_scenario or next((s for s in scenarios.values() if s is not None), None)
    name = scenario.name if scenario is not None else folder.name
    report = Report(folder=folder, kind=kind, title=f"{name}: design review",
                    description=scenario.description.strip() if scenario is not None else "")
    if scenario is not None:
        report.scenario_lines = describe_scenario(scenario)
        report.scenario_yaml = (folder / "scenario.yaml").read_text() if top_scenario is not None else \
            scenario.to_yaml()
    if top_scenario is not None and top_scenario.variants and not scenarios:
        scenarios = {v: top_scenario.variant(v) for v in top_scenario.variants}
    report.differences = design_differences(scenarios, base=top_scenario)
    per_month, basis = month_basis(scenario)

    summaries: dict[str, dict] = {}
    replications = 1
    if kind == "run":
        summaries[name] = json.loads((folder / "summary.json").read_text())
        rows = {name: _with_month(summaries[name], per_month)}
    elif kind == "variants":
        for p in variants:
            summaries[p.name] = json.loads((p / "summary.json").read_text())
        rows = {n: _with_month(s, per_month) for n, s in summaries.items()}
    elif kind == "replications":
        table = pd.read_csv(folder / "summary.csv", index_col=0)
        replications = int(table["replications"].max()) if "replications" in table else 1
        rows = {str(n): _with_month(r.to_dict(), per_month) for n, r in table.iterrows()}
        summaries = rows
        _add_paired(report, folder, per_month)
    else:
        rows = {}
        _add_sweep_or_tune(report, folder, kind)
    if kind == "run" and summaries[name].get("live"):
        report.title = f"{name}: live run"
        report.key_notes.append(_live_note(folder))
    if rows:
        shown = _shown_metrics(rows.values())
        report.key_header = ["metric"] + list(rows)
        report.key_rows = [[h] + [_cell(m, r) for r in rows.values()] for m, h in shown]
        if replications > 1:
            report.key_notes.append(f"Mean ± 95% half-width (Student t) over {replications} independent "
                                    "replications; replication k of every design sees the same traffic."
                                    + (" Events and charts below are those of replication 0." if variants else ""))
        if basis:
            report.key_notes.append(basis + ".")
        elif any(m == "cost_per_month_usd" for m, _ in shown):
            report.key_notes.append("cost / month = the run's spend rate x 30 days (the scenario gives no daily "
                                    "traffic).")
    offset = scenario.workload.start_time_of_day if scenario is not None else 0.0
    if kind == "run":
        report.events = {name: important_events(folder, offset)}
    elif variants:                  # variants, or replications written beside replication 0's frames
        report.events = {p.name: important_events(p, offset) for p in variants}
    report.events = {n: lines for n, lines in report.events.items() if lines}
    _add_waterfall(report, folder)
    report.charts = _charts(folder, [p.name for p in variants])
    report.caveats = _caveats(kind, scenario, summaries, replications)
    return report


def _add_paired(report: Report, folder: Path, per_month: float | None) -> None:
    path = folder / "paired.csv"
    if not path.is_file():
        return
    paired = pd.read_csv(path, index_col=0).copy()
    metrics = [(m, h) for m, h in KEY_METRICS if f"{m}_diff" in paired.columns]
    if per_month is not None and "cost_per_request_usd_diff" in paired.columns:
        paired = pd.concat([paired, pd.DataFrame({
            "cost_per_month_usd_diff": paired["cost_per_request_usd_diff"] * per_month,
            "cost_per_month_usd_diff_ci95": paired["cost_per_request_usd_diff_ci95"] * per_month})], axis=1)
        metrics = [(m, h) for m, h in KEY_METRICS if f"{m}_diff" in paired.columns]
    metrics = [(m, h) for m, h in metrics if paired[f"{m}_diff"].notna().any()]
    baseline = str(paired["baseline"].iloc[0]) if "baseline" in paired and len(paired) else "baseline"
    report.paired_header = ["metric"] + [f"{n} - {baseline}" for n in paired.index]
    report.paired_rows = [[h] + [f"{_signed(m, r[f'{m}_diff'])} ± {format_cell(m + '_ci95', r[f'{m}_diff_ci95'])}"
                                 for _, r in paired.iterrows()] for m, h in metrics]


def _add_sweep_or_tune(report: Report, folder: Path, kind: str) -> None:
    if kind == "tune":
        rec = json.loads((folder / "recommendation.json").read_text())
        lines = [f"{k}: {v}" for k, v in rec.items() if not isinstance(v, (dict, list))]
        for k, v in rec.items():
            if isinstance(v, dict):
                lines.append(f"{k}: " + ", ".join(f"{a} = {b}" for a, b in v.items()))
        report.extra_sections.append(("Recommendation", lines, None, None))
    summary = folder / "summary.csv"
    if summary.is_file():
        table = pd.read_csv(summary)
        metrics = [m for m, _ in KEY_METRICS if m in table.columns]
        params = [c for c in table.columns if "." in c]
        extra = [c for c in ("false_trips", "failed_during_faults", "stale_rate")
                 if c in table.columns and c not in metrics]
        columns = params + ([c for c in ("replications", "feasible") if c in table.columns]) + metrics + extra
        header = columns
        body = [[format_cell(c, r[c]) if not f"{c}_ci95" in table.columns else _cell(c, r.to_dict())
                 for c in columns] for _, r in table.head(60).iterrows()]
        note = [f"{len(table)} settings; the first 60 shown (all of them in summary.csv)."] if len(table) > 60 else []
        report.extra_sections.append(("Every setting", note, [header] + body, None))


#: The cost waterfall's table in the report: (waterfall.csv column, heading); a ``_ci95`` column beside one is
#: shown as its half-width.
WATERFALL_COLUMNS = (("cost_per_month_usd", "cost / month"), ("saved_usd", "saved / month"),
                     ("saved_share", "share of the bill before"), ("lesson_saved_share", "lesson's claim"),
                     ("quality_failure_rate", "wrong answers"), ("cache_hit_rate", "cache hits"),
                     ("false_hit_rate", "false hits"), ("strong_call_share", "strong model"),
                     ("availability", "availability"))


def _add_waterfall(report: Report, folder: Path) -> None:
    """A cost waterfall written beside the designs (``waterfall.md``, ``waterfall.csv``; scaling_pyramid):
    its verdict and mechanisms as written, and one row per step."""
    text, table = folder / "waterfall.md", folder / "waterfall.csv"
    if not text.is_file():
        return
    lines: list[str] = []
    for line in text.read_text().splitlines():
        if line.startswith("  ") and lines:           # a wrapped line continues the one before it
            lines[-1] += " " + line.strip()
        elif line.strip() and not line.startswith("#"):
            lines.append(line.strip())
    rows = None
    if table.is_file():
        frame = pd.read_csv(table)
        shown = [(c, h) for c, h in WATERFALL_COLUMNS if c in frame.columns]
        pct = {"saved_share", "lesson_saved_share"}
        def cell(column, row):
            value = row[column]
            if is_missing(value):
                return ""
            if column in pct:
                ci = row.get(f"{column}_ci95")
                return f"{value:+.1%}" + ("" if is_missing(ci) else f" ± {ci:.1%}")
            return _cell(column, row.to_dict())
        rows = [["step"] + [h for _, h in shown]] + [[str(r["step"])] + [cell(c, r) for c, _ in shown]
                                                      for _, r in frame.iterrows()]
    report.extra_sections.append(("Cost waterfall", lines, rows, None))


# ------------------------------------------------------------------------------------------ rendering

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1d2327; max-width: 1180px;
       margin: 24px auto; padding: 0 20px; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ddd;
     padding-bottom: 4px; margin-top: 1.8em; }
table { border-collapse: collapse; font-size: 0.92em; margin: 8px 0; }
th, td { padding: 4px 8px; border-bottom: 1px solid #e5e5e5; text-align: right; }
td { white-space: nowrap; } td.text { white-space: normal; text-align: left; } th { vertical-align: bottom; font-weight: 600; }
.wide { overflow-x: auto; }
th:first-child, td:first-child { text-align: left; } th { background: #f5f6f7; }
figure { margin: 18px 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; } .note { color: #555; font-size: 0.9em; }
pre { background: #f7f7f7; padding: 10px; overflow-x: auto; font-size: 0.85em; }
.caveats li { margin-bottom: 4px; }
"""


def _html_table(rows: list[list[str]]) -> str:
    head, body = rows[0], rows[1:]
    out = ["<div class='wide'><table><thead><tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in head) + "</tr></thead><tbody>"]
    out += ["<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in body]
    return "\n".join(out) + "</tbody></table></div>"


def _md_table(rows: list[list[str]]) -> str:
    esc = [[str(c).replace("|", "\\|") for c in r] for r in rows]
    head = "| " + " | ".join(esc[0]) + " |"
    rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(esc[0]))) + "|"
    return "\n".join([head, rule] + ["| " + " | ".join(r) + " |" for r in esc[1:]])


def _image_data(path: Path) -> str:
    kind = "svg+xml" if path.suffix == ".svg" else "png"
    return f"data:image/{kind};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def render_html(r: Report) -> str:
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(r.title)}</title>"
             f"<style>{CSS}</style></head><body>", f"<h1>{e(r.title)}</h1>"]
    if r.description:
        parts.append(f"<p>{e(r.description)}</p>")
    if r.scenario_lines:
        parts.append("<h2>The scenario</h2><ul>" + "".join(f"<li>{e(x)}</li>" for x in r.scenario_lines) + "</ul>")
    if r.differences:
        parts.append("<h2>What differs between the designs</h2>")
        parts.append("<ul>" + "".join(f"<li><b>{e(n)}</b>: {e('; '.join(d) or 'the base scenario')}</li>"
                                      for n, d in r.differences.items()) + "</ul>")
    if r.key_rows:
        parts.append("<h2>Key numbers</h2>" + _html_table([r.key_header] + r.key_rows))
        parts += [f"<p class='note'>{e(n)}</p>" for n in r.key_notes]
    if r.paired_rows:
        parts.append("<h2>Paired differences against the baseline</h2>"
                     "<p class='note'>Each design minus the baseline within the same replication (same traffic), "
                     "mean ± 95% half-width: an interval that excludes 0 is the design, not luck.</p>")
        parts.append(_html_table([r.paired_header] + r.paired_rows))
    for title, lines, table, _ in r.extra_sections:
        parts.append(f"<h2>{e(title)}</h2>" + "".join(f"<p class='note'>{e(x)}</p>" for x in lines))
        if table:
            parts.append(_html_table(table))
    if r.events:
        parts.append("<h2>Events that matter</h2>")
        for name, lines in r.events.items():
            if len(r.events) > 1:
                parts.append(f"<h3>{e(name)}</h3>")
            parts.append("<ul>" + "".join(f"<li>{e(x)}</li>" for x in lines) + "</ul>")
    if r.caveats:
        parts.append("<h2>Caveats</h2><ul class='caveats'>" + "".join(f"<li>{e(x)}</li>" for x in r.caveats) + "</ul>")
    if r.charts:
        parts.append("<h2>Charts</h2>")
        for c in r.charts:
            parts.append(f"<figure><img src='{_image_data(c.path)}' alt='{e(c.caption)}'>"
                         f"<figcaption>{e(c.caption)} ({e(os.path.relpath(c.path, r.folder))})</figcaption></figure>")
    if r.scenario_yaml:
        parts.append("<h2>The resolved scenario</h2><details><summary>scenario.yaml (every default filled in)"
                     f"</summary><pre>{e(r.scenario_yaml)}</pre></details>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render_markdown(r: Report) -> str:
    parts = [f"# {r.title}", ""]
    if r.description:
        parts += [r.description, ""]
    if r.scenario_lines:
        parts += ["## The scenario", ""] + [f"- {x}" for x in r.scenario_lines] + [""]
    if r.differences:
        parts += ["## What differs between the designs", ""] + \
            [f"- **{n}**: {'; '.join(d) or 'the base scenario'}" for n, d in r.differences.items()] + [""]
    if r.key_rows:
        parts += ["## Key numbers", "", _md_table([r.key_header] + r.key_rows), ""] + [f"{n}" for n in r.key_notes]
        parts.append("")
    if r.paired_rows:
        parts += ["## Paired differences against the baseline", "",
                  "Each design minus the baseline within the same replication (same traffic), mean ± 95% "
                  "half-width.", "", _md_table([r.paired_header] + r.paired_rows), ""]
    for title, lines, table, _ in r.extra_sections:
        parts += [f"## {title}", ""] + [f"{x}  " for x in lines] + [""]
        if table:
            parts += [_md_table(table), ""]
    if r.events:
        parts += ["## Events that matter", ""]
        for name, lines in r.events.items():
            if len(r.events) > 1:
                parts += [f"### {name}", ""]
            parts += [f"- {x}" for x in lines] + [""]
    if r.caveats:
        parts += ["## Caveats", ""] + [f"- {x}" for x in r.caveats] + [""]
    if r.charts:
        parts += ["## Charts", ""]
        for c in r.charts:
            rel = os.path.relpath(c.path, r.folder).replace(os.sep, "/")
            parts += [f"![{c.caption}]({rel})", "", f"*{c.caption}*", ""]
    if r.scenario_yaml:
        parts += ["## The resolved scenario", "", "```yaml", r.scenario_yaml.rstrip(), "```", ""]
    return "\n".join(parts)


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_report(folder: str | Path) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` into a results folder; return their paths."""
    report = build_report(folder)
    folder = Path(folder)
    html_path, md_path = folder / "report.html", folder / "report.md"
    _write_atomically(html_path, render_html(report))
    _write_atomically(md_path, render_markdown(report))
    return html_path, md_path
