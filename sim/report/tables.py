"""Numbers as text: the one place that decides how a share, a price, a duration or a count is written.

A design review reads the same quantity in four places -- the summary the command line prints after a run,
the comparison table of variants, the labels on the charts, and the back-of-envelope estimate -- so they
must agree on how it looks. The rules, by what a number is (decided from its name, see :func:`metric_kind`):

* a share (``availability``, ``*_rate``, ``*_share``, ``*_util``): a percentage with 2 decimals, more
  where needed so that 99.995% does not print as 100.00%;
* money (``*_usd``): ``$1,235`` from a thousand dollars up, cents below that, 3 significant digits under
  a dollar (``$0.000123``), the sign before the dollar (``-$62.06``);
* seconds (``*_s``) and other measurements: 3 significant digits, never rounding away digits of the
  integer part (``0.0123``, ``7.17``, ``10.2``, ``1,043``);
* counts: thousands separators;
* a missing value (None, NaN, inf): ``n/a``;
* a difference shows its sign either way: ``+$27.05``, ``-$62.06``, ``+1.20%``.

A table is printed for a terminal: wider than :data:`TABLE_WIDTH` (100) columns, it is wrapped into blocks
of columns, each repeating the row labels (``--wide`` sets the width to None: one block at full width).

Nothing here imports matplotlib: the command line and the model's event details use it too.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from sim.estimate import LIMIT_KEYS

__all__ = ["DEFAULT_TABLE_METRICS", "is_missing", "sig", "usd", "pct", "metric_kind", "format_value",
           "metric_label", "seconds_text", "duration_text", "clock_text", "comparison_table", "format_table",
           "format_summary", "format_estimate", "format_chain_checks", "format_cell", "format_frame", "signed",
           "aligned", "format_provider_fit", "TABLE_WIDTH"]

#: The columns of a comparison table when none are chosen.
DEFAULT_TABLE_METRICS = ("requests_total", "availability", "requests_failed", "latency_p50_s", "latency_p95_s",
                         "ttft_p95_s", "cost_usd", "cost_per_request_usd")

MISSING = "n/a"

TABLE_WIDTH: int | None = 100
"""Widest a printed table may be (characters) before it is wrapped into column blocks; None: never wrap."""


# ----------------------------------------------------------------------------------------------- numbers

def is_missing(value) -> bool:
    """None, NaN or infinite (a string is not missing)."""
    if value is None:
        return True
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def sig(value: float, digits: int = 3) -> str:
    """``digits`` significant digits without scientific notation, keeping every digit of the integer part:
    0.000123, 7.17, 10.0, 123, 1,235 (for 3 digits)."""
    v = float(value)
    if v == 0:
        return "0"
    whole = 10.0 ** (digits - 1)
    if abs(v) >= whole:
        return f"{v:,.0f}"
    v = float(f"{v:.{digits - 1}e}")              # round to the digits first (9.996 -> 10.0)
    if abs(v) >= whole:
        return f"{v:,.0f}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(v))))
    return f"{v:.{decimals}f}"


def plain_number(value: float, digits: int = 4) -> str:
    """An integer with separators, else ``digits`` significant digits with trailing zeros dropped (2.5)."""
    v = float(value)
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v):,}"
    text = sig(v, digits)
    return text.rstrip("0").rstrip(".") if "." in text else text


def usd(value: float) -> str:
    """Dollars: $1,235 / $12.30 / $0.500 / $0.000123 / -$62.06 (``n/a`` when missing)."""
    if is_missing(value):
        return MISSING
    v = float(value)
    sign = "-" if v < 0 else ""
    v = abs(v)
    if v == 0:
        return "$0"
    if v >= 1000:
        return f"{sign}${v:,.0f}"
    if v >= 1:
        return f"{sign}${v:,.2f}"
    return f"{sign}${sig(v)}"


def pct(value: float) -> str:
    """A share as a percentage with 2 decimals, more where needed so 99.995% does not print as 100.00%."""
    if is_missing(value):
        return MISSING
    v = float(value) * 100
    if v == 100 or v == 0:
        return f"{v:.0f}%"
    if 0 < abs(v) < 0.01:
        return "<0.01%"
    decimals = 2
    while decimals < 6 and round(v, decimals) >= 100 > v:
        decimals += 1
    return f"{v:.{decimals}f}%"


def count(value) -> str:
    v = float(value)
    return f"{v:,.0f}" if v == round(v) else sig(v)


def metric_kind(name: str) -> str:
    """How a summary metric is formatted: pct, usd, seconds, count or number (decided by its name)."""
    n = name.lower()
    if n.startswith(("requests_", "calls_")):         # counts, even with a rate in the name (requests_rate_limited)
        return "count"
    if (n == "availability" or n.endswith("_rate") or "_rate_" in n or n.endswith("_share")
            or n.endswith("_util")):
        return "pct"
    if n.endswith("_usd"):
        return "usd"
    if n.endswith("_s"):
        return "seconds"
    if (n.startswith("requests_") or n.startswith("calls_") or n.endswith("_total") or n.endswith("_count")
            or n.endswith("_samples") or n.endswith("_trips") or n.endswith("_transitions")
            or n.startswith("failed_") or n.startswith("extra_failed") or n.endswith("_calls")
            or n in ("peak_concurrency", "seed", "replication", "attempts", "cooldowns")):
        return "count"
    return "number"


def format_value(metric: str, value) -> str:
    """One summary value as text, formatted by the metric's name (``n/a`` when missing)."""
    if isinstance(value, (str, bytes)):
        return str(value)
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if is_missing(value):
        return MISSING
    kind = metric_kind(metric)
    if kind == "pct":
        return pct(value)
    if kind == "usd":
        return usd(value)
    if kind == "count" or (kind == "number" and isinstance(value, (int, np.integer))):
        return count(value)
    return sig(value)


def metric_label(name: str) -> str:
    """Axis/panel label with the unit: latency_p95_s -> 'latency p95 (s)'."""
    kind = metric_kind(name)
    base = name
    for suffix in ("_usd", "_s"):
        if kind in ("usd", "seconds") and base.endswith(suffix):
            base = base[: -len(suffix)]
    base = base.replace("_", " ")
    unit = {"pct": " (%)", "usd": " (USD)", "seconds": " (s)"}.get(kind, "")
    return base + unit


def seconds_text(value: float) -> str:
    return MISSING if is_missing(value) else f"{sig(value)} s"


def duration_text(seconds: float) -> str:
    """A length of time in the largest unit that divides it: 1 h, 5 min, 90 s."""
    s = float(seconds)
    if s >= 3600 and s % 3600 == 0:
        return f"{s / 3600:g} h"
    if s >= 60 and s % 60 == 0:
        return f"{s / 60:g} min"
    return f"{s:g} s"


def clock_text(seconds_of_day: float, with_seconds: bool = False) -> str:
    """A time of day, wrapping at midnight: 50400 -> ``14:00`` (``14:00:00`` with seconds)."""
    total = int(round(float(seconds_of_day))) % 86400
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}" if with_seconds else f"{hours:02d}:{minutes:02d}"


# ------------------------------------------------------------------------------------------------ tables

def comparison_table(summaries: Mapping[str, Mapping], metrics: Iterable[str] | None = None) -> pd.DataFrame:
    """Rows = variants (in the given order), columns = the selected summary metrics (NaN where missing)."""
    metrics = list(DEFAULT_TABLE_METRICS if metrics is None else metrics)
    rows = []
    for summary in summaries.values():
        summary = summary or {}
        rows.append([math.nan if summary.get(m) is None else summary.get(m) for m in metrics])
    df = pd.DataFrame(rows, columns=metrics, index=pd.Index([str(n) for n in summaries], name="variant"))
    return df.infer_objects()


def aligned(header: list[str], body: list[list[str]], label_column: bool = True,
            width: int | None = None) -> str:
    """Rows of cells as text, right-aligned (the first column left-aligned if it holds labels), a rule
    under the header; wider than ``width`` (default :data:`TABLE_WIDTH`), wrapped into column blocks."""
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
    width = TABLE_WIDTH if width is None else width

    def line(cells, columns):
        first = cells[0].ljust(widths[0]) if label_column else cells[0].rjust(widths[0])
        return "  ".join([first] + [cells[i].rjust(widths[i]) for i in columns]).rstrip()

    def block(columns):
        rows = [header, ["-" * w for w in widths]] + body
        return "\n".join(line(r, columns) for r in rows)

    return "\n\n".join(block(columns) for columns in column_blocks(widths, width))


def column_blocks(widths: list[int], width: int | None) -> list[list[int]]:
    """The columns after the first (the labels) grouped so that each block, labels included, fits ``width``."""
    blocks, current, used = [], [], widths[0]
    for i, w in enumerate(widths[1:], start=1):
        if current and width is not None and used + 2 + w > width:
            blocks.append(current)
            current, used = [], widths[0]
        current.append(i)
        used += 2 + w
    return blocks + [current] if current or not blocks else blocks


def signed(text: str, value) -> str:
    """A formatted difference with its sign shown: ``+$27.05`` for a positive value (a negative one has it)."""
    return f"+{text}" if not is_missing(value) and float(value) > 0 else text


def format_table(df: pd.DataFrame) -> str:
    """A comparison table (rows = variants, columns = metrics) as aligned text, each value formatted by
    its metric's name (:func:`format_value`)."""
    header = [str(df.index.name or "variant")] + [str(c) for c in df.columns]
    body = [[str(idx)] + [format_value(str(col), v) for col, v in zip(df.columns, row)]
            for idx, row in zip(df.index, df.itertuples(index=False, name=None))]
    return aligned(header, body)


def format_cell(column: str, value) -> str:
    """A value in a results table: a scenario setting (a dotted path such as ``cache.ttl_s``) as a plain
    number, a metric by its name, a confidence half-width (``<metric>_ci95``) like its metric."""
    if isinstance(value, (str, bytes)) or is_missing(value):
        return format_value(column, value)
    if "." in column:
        return plain_number(value)
    metric = column.removesuffix("_ci95")
    if metric != column and metric_kind(metric) == "pct":
        return f"{sig(float(value) * 100)}%"        # a half-width keeps its digits: 0.00120%, not <0.01%
    return format_value(metric, value)


def format_frame(df: pd.DataFrame) -> str:
    """A results table without an index (a sweep's means, an experiment's table) as aligned text."""
    header = [str(c) for c in df.columns]
    body = [[format_cell(col, v) for col, v in zip(header, row)] for row in df.itertuples(index=False, name=None)]
    labels = len(df.columns) > 0 and not pd.api.types.is_numeric_dtype(df.iloc[:, 0])
    return aligned(header, body, label_column=labels)


def format_intervals(table: pd.DataFrame, metrics: Iterable[str]) -> str:
    """Replicated results, one row per metric and one column per variant: ``mean ± 95% half-width``."""
    metrics = [m for m in metrics if m in table.columns]
    header = ["metric"] + [str(name) for name in table.index]
    body = [["replications"] + [count(n) for n in table["replications"]]]
    body += [[m] + [f"{format_cell(m, row[m])} ± {format_cell(m + '_ci95', row[m + '_ci95'])}"
                    for _, row in table.iterrows()] for m in metrics]
    return aligned(header, body)


def format_paired(paired: pd.DataFrame, metrics: Iterable[str]) -> str:
    """Paired differences on common random numbers, one row per metric and one column per
    ``variant - baseline``: ``mean ± 95% half-width`` (the unpaired half-widths are in paired.csv)."""
    # a metric the baseline lacks (time to open without a breaker) has no difference for any design: left out
    metrics = [m for m in metrics if f"{m}_diff" in paired.columns and paired[f"{m}_diff"].notna().any()]
    header = ["metric"] + [f"{name} - {row['baseline']}" for name, row in paired.iterrows()]

    def cell(m: str, row) -> str:
        diff = row[m + "_diff"]
        if is_missing(diff):
            return "n/a"
        return f"{signed(format_cell(m + '_ci95', diff), diff)} ± {format_cell(m + '_ci95', row[m + '_diff_ci95'])}"
    body = [[m] + [cell(m, row) for _, row in paired.iterrows()] for m in metrics]
    return aligned(header, body)


def format_summary(summary: Mapping) -> str:
    """A readable table of a run's headline numbers: what ``sim run`` prints."""
    s = summary
    f = format_value
    if not s["requests_total"]:
        return ("requests  0: no request arrived after the warm-up, so availability, latency and cost per "
                "request are undefined; raise the workload's rate or the duration")
    rows = [
        ("requests", f("requests_total", s["requests_total"])),
        ("availability", f("availability", s["availability"])),
        ("failed / timeout / shed / rate-limited",
         " / ".join(f(k, s[k]) for k in ("requests_failed", "requests_timeout", "requests_shed",
                                         "requests_rate_limited"))),
        ("provider call error rate", f("error_rate", s["error_rate"])),
        ("latency p50 / p95 / p99",
         " / ".join(f(k, s[k]) for k in ("latency_p50_s", "latency_p95_s", "latency_p99_s")) + " s"),
        ("time to first token p50 / p95", " / ".join(f(k, s[k]) for k in ("ttft_p50_s", "ttft_p95_s")) + " s"),
        ("queue wait mean / p95",
         " / ".join(f(k, s[k]) for k in ("queue_wait_mean_s", "queue_wait_p95_s")) + " s"),
        (f"waited over {s.get('user_patience_s', math.inf):g} s (patience)",
         f"{s.get('requests_waited_over_patience', 0):,}"),
        ("concurrency mean / peak",
         f"{f('mean_concurrency', s['mean_concurrency'])} / {f('peak_concurrency', s['peak_concurrency'])}"),
        ("cost", usd(s["cost_usd"])),
        ("cost per request", usd(s["cost_per_request_usd"])),
        ("projected cost per 30-day month", usd(s["projected_cost_per_month_usd"])),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def format_estimate(est) -> str:
    """A readable, aligned table of a :class:`sim.estimate.Estimate`, with units and thousands separators."""
    n = plain_number
    rows: list[tuple[str, str, str]] = [          # label, value, unit; no value = a section heading
        ("Volume", "", ""),
        ("User requests per day", n(est.requests_per_day), "req/day"),
        ("LLM calls per request", n(est.llm_calls_per_request), "calls/req"),
        ("LLM calls per day", n(est.llm_calls_per_day), "calls/day"),
        ("Input tokens per day", n(est.input_tokens_per_day), "tokens/day"),
        ("Output tokens per day", n(est.output_tokens_per_day), "tokens/day"),
        ("Cost", "", ""),
        ("Cost per request", usd(est.cost_per_request_usd), "USD/req"),
        ("Cost per day", usd(est.cost_per_day_usd), "USD/day"),
        ("Cost per month", usd(est.cost_per_month_usd), f"USD/month ({n(est.days_per_month)} days)"),
        (f"Rate and concurrency (Little's law, {n(est.latency_s)} s per LLM call)", "", ""),
        ("Average request rate", n(est.average_rps), "req/s"),
        (f"Peak request rate ({n(est.peak_to_average)}x average)", n(est.peak_rps), "req/s"),
        ("Average concurrency", n(est.average_concurrency), "LLM calls in flight"),
        ("Peak concurrency", n(est.peak_concurrency), "LLM calls in flight"),
        ("Needed per key at peak", "", ""),
        ("API requests per minute", n(est.peak_requests_per_min), "RPM"),
        ("Input tokens per minute", n(est.peak_input_tokens_per_min), "input TPM"),
        ("Output tokens per minute", n(est.peak_output_tokens_per_min), "output TPM"),
        ("Input + output tokens per minute", n(est.peak_tokens_per_min), "combined TPM"),
    ]
    if est.keys_needed is not None:
        rows.append(("Against per-key limits", "", ""))
        for key in LIMIT_KEYS:
            if key in est.limit_utilisation:
                rows.append((f"Load / limit: {key}", n(est.limit_utilisation[key]), "keys' worth"))
        binding = f"binding: {est.binding_limit}" if est.binding_limit else "no limit set"
        rows.append(("Keys needed", f"{est.keys_needed:,}", f"keys ({binding})"))
    label_width = max(len(label) for label, value, _ in rows if value)
    value_width = max(len(value) for _, value, _ in rows)
    text = "\n".join(label if not value else f"  {label:<{label_width}}  {value:>{value_width}}  {unit}".rstrip()
                      for label, value, unit in rows)
    if est.chain_checks:
        text += "\n" + format_chain_checks(est.chain_checks)
    return text


#: Short column names of the limit keys, as providers' dashboards write them.
LIMIT_LABELS = {"requests_per_min": "RPM", "input_tokens_per_min": "in TPM", "output_tokens_per_min": "out TPM",
                "tokens_per_min": "TPM"}


def _load_pct(load: float) -> str:
    return f"{load:.1%}" if load < 0.1 else f"{load:,.0%}"


def format_chain_checks(checks) -> str:
    """Each fallback-chain target alone against the whole peak: load over each of its limits (its keys
    pooled), the limit that binds, and whether it carries the peak alone (if not, the keys it would need)."""
    header = ("target", "keys", *LIMIT_LABELS.values(), "binds", "USD/day", "alone?")
    rows = []
    for c in checks:
        loads = [_load_pct(c.utilisation[k]) if k in c.utilisation else "-" for k in LIMIT_LABELS]
        verdict = "yes" if c.carries_peak_alone else f"NO ({c.keys_needed:,} keys)"
        rows.append((c.target, f"{c.api_keys:,}", *loads, LIMIT_LABELS.get(c.binding_limit, "none"),
                     usd(c.cost_per_day_usd) if c.cost_per_day_usd is not None else MISSING, verdict))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    left = {0, 6, 8}

    def line(cells):
        return "  " + "  ".join(c.ljust(w) if i in left else c.rjust(w)
                                for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    title = "Fallback chain: each target alone at peak (load / its limits x its keys; over 100%: cannot)"
    return "\n".join([title, line(header), *(line(r) for r in rows), *_chain_sentences(checks)])


def _chain_sentences(checks) -> list[str]:
    """The table in words: for each target, whether it carries the whole peak alone and what binds."""
    out = []
    for i, c in enumerate(checks):
        who = f"Primary {c.target}" if i == 0 else f"Fallback {c.target} alone"
        if c.binding_limit is None:
            out.append(f"  {who}: no limit set, carries the peak.")
            continue
        binds = f"{LIMIT_LABELS[c.binding_limit]} binds at {_load_pct(c.utilisation[c.binding_limit])}"
        verdict = "carries the peak" if c.carries_peak_alone else \
            f"CANNOT carry the peak ({c.keys_needed:,} keys needed, {c.api_keys:,} held)"
        out.append(f"  {who}: {binds}; {verdict}.")
    return out


def format_provider_fit(fit) -> str:
    """What ``fit-provider`` prints: per model the fitted latency and error rates, each with its 95% interval,
    then the limits the 429s point to and the caveats (a :class:`sim.calibration.provider_fit.ProviderFit`)."""
    def estimate(e) -> str:
        return f"{sig(e.value)} ({sig(e.low)}-{sig(e.high)})"

    def share(r) -> str:
        return f"{pct(r.share)} ({pct(r.low)[:-1]}-{pct(r.high)})"

    latency = aligned(["model", "ok", "timeouts", "ttft_s", "tokens/s", "sigma"],
                      [[m.label, count(m.latency.ok_calls), count(m.latency.censored_calls),
                        estimate(m.latency.ttft_s), estimate(m.latency.tokens_per_s), estimate(m.latency.sigma)]
                       for m in fit.models])
    rates = aligned(["model", "attempts", "5xx", "refused", "timeout", "429", "timeout_s"],
                    [[m.label, count(m.attempts), share(m.error), share(m.refused), share(m.timeout),
                      share(m.rate_limited), MISSING if m.timeout_s is None else sig(m.timeout_s)]
                     for m in fit.models])
    lines = ["Latency: (ttft_s + output_tokens / tokens_per_s) x lognormal(sigma), 95% intervals in brackets",
             latency, "", "Outcomes, Wilson 95% intervals (5xx, refused, timeout: of the attempts that reached the "
             "model; 429: of all)", rates]
    for e in fit.limits:
        lines.append(f"{e.provider}: in the {count(e.minutes_with_429)} minutes with 429s it admitted a median of "
                     f"{sig(e.admitted_calls_per_min)} calls, {count(round(e.admitted_input_tokens_per_min))} "
                     f"input and {count(round(e.admitted_output_tokens_per_min))} output tokens per minute: with "
                     "whole-minute buckets the limit that bound is near one of these; with per-second enforcement "
                     "(Anthropic's, OpenAI's) bursts meet 429s below it, so it is a lower bound")
    lines += [""] * bool(fit.notes) + [f"note: {note}" for note in fit.notes]
    return "\n".join(lines)
