"""The timeline of one run: *when did things go wrong, and what did it cost?*

Panels over time sharing one x-axis: traffic (arrivals and completions by outcome, per minute), latency
(p50/p95/p99 of ok requests), errors (share of calls that failed, share of requests that did not end ok),
cost (per interval, and cumulative on a second axis); when the run recorded them, the circuit-breaker state
of each provider/model and the utilisation of each provider's rate limits. Injected faults (``fault_start``
/ ``fault_end`` events) are shaded on every panel and named in a strip above them, beside the budget kill
switch's levels; the warm-up, left out of the summary, is hatched grey. The x-axis shows minutes (or hours)
since the start, or clock times when the scenario sets ``workload.start_time_of_day``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sim.report.run_data import (breaker_series, chart_interval_s, fault_windows, kill_switch_windows,
                                 run_end_s, run_events, scenario_attr, start_of_day_s)
from sim.report.style import (DPI, TIMELINE_WIDTH_IN, TimeAxis, legend_outside, no_data, percent_formatter, plt,
                              save, ticker, usd_tick)
from sim.report.latency import run_label
from sim.report.tables import duration_text, format_value, seconds_text

OUTCOME_COLORS = {"ok": "#2ca02c", "failed": "#d62728", "timeout": "#ff7f0e", "refused": "#9467bd",
                  "rate_limited": "#8c564b", "shed": "#7f7f7f", "killed": "#17becf"}
FAULT_COLORS = ("#d62728", "#9467bd", "#ff7f0e", "#e377c2", "#8c564b", "#bcbd22", "#17becf")
KILL_COLORS = {"soft": "#e6c229", "hard": "#3b3b3b"}
UTIL_KINDS = {"rpm_util": ("requests/min", "-"), "itpm_util": ("input tok/min", "--"),
              "otpm_util": ("output tok/min", ":"), "tpm_util": ("input+output tok/min", "-.")}
KILL_SWITCH_LANE = "kill switch"


def _shade(ax, windows: pd.DataFrame, fault_color: dict, warmup_s: float, unit_s: float) -> None:
    if warmup_s > 0:
        ax.axvspan(0, warmup_s / unit_s, facecolor=(0.5, 0.5, 0.5, 0.10), edgecolor=(0.45, 0.45, 0.45, 0.45),
                   hatch="///", linewidth=0, zorder=0, gid="warmup")
    for w in windows.itertuples(index=False):
        ax.axvspan(w.start_s / unit_s, w.end_s / unit_s, facecolor=fault_color[w.kind], alpha=0.13,
                   linewidth=0, zorder=0, gid="fault")


def _draw_event_strip(ax, windows, fault_color, kill, unit_s) -> None:
    """One lane per faulted subject (and one for the kill switch): a bar per window, named inside if it
    fits; a legend maps the colours (the same as the shading of the panels below) to fault kinds."""
    from matplotlib.patches import Patch

    lanes = list(dict.fromkeys(windows["subject"])) + ([KILL_SWITCH_LANE] if kill else [])
    lane_of = {name: i for i, name in enumerate(lanes)}
    x0, x1 = ax.get_xlim()
    axes_px = 0.78 * TIMELINE_WIDTH_IN * DPI

    def bar(lane, start_s, end_s, color, text, alpha):
        start, width = start_s / unit_s, max((end_s - start_s) / unit_s, 1e-9)
        ax.broken_barh([(start, width)], (lane - 0.35, 0.7), facecolors=color, alpha=alpha)
        if width / (x1 - x0) * axes_px >= 6.2 * len(text) + 12:
            ax.text(start + width / 2, lane, text, ha="center", va="center", fontsize=8.5, color="white",
                    fontweight="bold", clip_on=True)

    for w in windows.itertuples(index=False):
        bar(lane_of[w.subject], w.start_s, w.end_s, fault_color[w.kind], w.kind.replace("_", " "), 0.8)
    for start_s, end_s, level in kill:
        bar(lane_of[KILL_SWITCH_LANE], start_s, end_s, KILL_COLORS.get(level, "0.4"), level, 0.9)
    handles = [Patch(facecolor=c, alpha=0.8, label=k.replace("_", " ")) for k, c in fault_color.items()]
    levels = list(dict.fromkeys(level for _, _, level in kill))
    handles += [Patch(facecolor=KILL_COLORS.get(lv, "0.4"), alpha=0.9, label=f"kill switch {lv}") for lv in levels]
    legend_outside(ax, handles, [h.get_label() for h in handles])
    ax.set_yticks(range(len(lanes)), lanes, fontsize=9)
    ax.set_ylim(len(lanes) - 0.5, -0.5)
    ax.tick_params(axis="y", length=0)
    ax.grid(False)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title("Injected faults (shaded on every panel) and kill-switch levels", loc="left", fontsize=10.5)


def _plot_traffic(ax, ts, x_mid, seconds, duration_s: float) -> None:
    per_min = 60.0 / seconds                   # the last interval may be cut short by the end of the run
    stack, labels, colors = [], [], []
    for name, color in OUTCOME_COLORS.items():
        col = f"completed_{name}"
        if name != "ok" and col in ts and ts[col].to_numpy(float).sum() > 0:
            stack.append(ts[col].to_numpy(float) * per_min)
            labels.append(f"{name.replace('_', ' ')} (stacked)")
            colors.append(color)
    if stack:
        ax.stackplot(x_mid, *stack, labels=labels, colors=colors, alpha=0.75, linewidth=0)
    top = 0.0
    if "arrivals" in ts:
        y = ts["arrivals"].to_numpy(float) * per_min
        if duration_s > 0:                      # no arrivals after the duration: the run only drains
            y = np.where(ts["t_s"].to_numpy(float) < duration_s, y, np.nan)
        ax.plot(x_mid, y, color="black", linewidth=1.1, label="arrivals")
        top = max(top, np.nanmax(y, initial=0))
    if "completed_ok" in ts:
        y = ts["completed_ok"].to_numpy(float) * per_min
        ax.plot(x_mid, y, color=OUTCOME_COLORS["ok"], linewidth=1.1, alpha=0.9, label="completed ok")
        top = max(top, np.nanmax(y, initial=0))
    if stack:
        top = max(top, np.nanmax(np.sum(stack, axis=0), initial=0))
    ax.set_ylim(0, top * 1.2 if top > 0 else 1)
    ax.set_ylabel("requests / min")
    title = "Traffic: arrivals and completions by outcome"
    ax.set_title(title + ("" if stack else " (every request ended ok)"), loc="left", fontsize=10.5)
    handles, lbls = ax.get_legend_handles_labels()
    order = [lbls.index(n) for n in ("arrivals", "completed ok") if n in lbls]
    order += [i for i in range(len(lbls)) if i not in order]
    legend_outside(ax, [handles[i] for i in order], [lbls[i] for i in order])


def _plot_latency(ax, ts, x_mid) -> None:
    cols = [(f"latency_p{q}_s", f"p{q}", c) for q, c in ((50, "#1f77b4"), (95, "#ff7f0e"), (99, "#d62728"))]
    cols = [c for c in cols if c[0] in ts]
    values = [ts[c].to_numpy(float) for c, _, _ in cols]
    if not cols or all(np.isnan(v).all() for v in values):
        no_data(ax, "no ok requests: no latency to show")
    else:
        for (_, label, color), y in zip(cols, values):
            ax.plot(x_mid, y, color=color, linewidth=1.0, label=label)
        finite = np.concatenate([v[np.isfinite(v) & (v > 0)] for v in values])
        if len(finite) and finite.max() / max(np.median(finite), 1e-12) > 30:
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        else:
            ax.set_ylim(0, np.nanmax(finite) * 1.1 if len(finite) else 1)
    ax.set_ylabel("latency (s)")
    ax.set_title("Latency of ok requests, by arrival interval", loc="left", fontsize=10.5)
    legend_outside(ax)


def _plot_errors(ax, ts, x_mid) -> None:
    top = 0.0
    if "error_rate" in ts and _has_signal(ts["error_rate"]):
        y = ts["error_rate"].to_numpy(float)
        ax.plot(x_mid, y, color="#d62728", linewidth=1.0, label="calls that failed")
        top = max(top, np.nanmax(y, initial=0) if np.isfinite(y).any() else 0)
    done = [f"completed_{o}" for o in OUTCOME_COLORS if f"completed_{o}" in ts]
    if done and "completed_ok" in ts:
        total = ts[done].to_numpy(float).sum(axis=1)
        bad = total - ts["completed_ok"].to_numpy(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(total > 0, bad / total, np.nan)
        if _has_signal(share):
            ax.plot(x_mid, share, color="#9467bd", linewidth=1.0, label="requests not ok")
            top = max(top, np.nanmax(share, initial=0))
    if "hallucination_rate" in ts and _has_signal(pd.to_numeric(ts["hallucination_rate"], errors="coerce")):
        y = pd.to_numeric(ts["hallucination_rate"], errors="coerce").to_numpy(float)
        ax.plot(x_mid, y, color="#8c564b", linewidth=1.0, linestyle="--", label="ok answers hallucinated")
        top = max(top, np.nanmax(y, initial=0) if np.isfinite(y).any() else 0)
    ax.set_ylim(0, min(1.05, max(0.02, top * 1.2)))
    if top == 0:
        ax.text(0.5, 0.55, "no call failed and every request ended ok", transform=ax.transAxes, ha="center",
                va="center", fontsize=10, color="0.4")
    ax.yaxis.set_major_formatter(percent_formatter())
    ax.set_ylabel("share")
    ax.set_title("Errors: share of calls failing and of requests not ending ok, per interval",
                 loc="left", fontsize=10.5)
    legend_outside(ax)


def _measured_spend(result, warmup_s: float):
    """(times_s, cumulative USD) of the requests the summary counts (arriving after the warm-up), each
    request's whole cost (LLM calls, embeddings, tool steps) at the time it ended; None without requests."""
    req = getattr(result, "requests", None)
    if req is None or not len(req) or not {"arrival_s", "end_s", "cost_usd"} <= set(req.columns):
        return None
    measured = req[req["arrival_s"] >= warmup_s].sort_values("end_s", kind="stable")
    t = np.concatenate([[warmup_s], measured["end_s"].to_numpy(float)])
    return t, np.concatenate([[0.0], np.cumsum(measured["cost_usd"].to_numpy(float))])


def _plot_cost(ax, ts, edges, interval_s, spend=None, unit_s=60.0) -> None:
    per = ts["cost_usd"].to_numpy(float) if "cost_usd" in ts else np.zeros(len(ts))
    y = np.append(per, per[-1] if len(per) else 0.0)
    ax.fill_between(edges, y, step="post", color="#1f77b4", alpha=0.35, linewidth=0,
                    label=f"per {duration_text(interval_s)}, every call (left)")
    ax.step(edges, y, where="post", color="#1f77b4", linewidth=0.8)
    ax.set_ylim(0, np.nanmax(per, initial=0) * 1.25 or 1)
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(usd_tick))
    ax.set_ylabel(f"USD per {duration_text(interval_s)}")
    twin = ax.twinx()
    if spend is not None:           # the summary's cost: the header's number is where this line ends
        t, cum = spend
        twin.step(t / unit_s, cum, where="post", color="black", linewidth=1.3,
                  label=f"cumulative, as in the header: {format_value('cost_usd', cum[-1])} (right)")
    else:
        cum = pd.to_numeric(ts["spend_usd"], errors="coerce").ffill().fillna(0).to_numpy(float) \
            if "spend_usd" in ts else np.cumsum(np.nan_to_num(per))
        twin.plot(edges, np.concatenate([[0.0], cum]), color="black", linewidth=1.3, label="cumulative (right)")
    twin.set_ylim(0, np.nanmax(cum, initial=0) * 1.08 or 1)
    twin.yaxis.set_major_formatter(ticker.FuncFormatter(usd_tick))
    twin.set_ylabel("cumulative USD")
    twin.grid(False)
    what = "; cumulative: requests after the warm-up, at their end" if spend is not None else ""
    ax.set_title(f"Cost (LLM calls, embeddings, tool steps): per interval{what}", loc="left", fontsize=10.5)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    legend_outside(ax, h1 + h2, l1 + l2)


def _plot_queue(ax, ts, x_mid) -> None:
    y = pd.to_numeric(ts["queue_length"], errors="coerce").to_numpy(float)
    ax.plot(x_mid, y, color="#8c564b", linewidth=1.1, label="waiting in the queue")
    if "in_flight" in ts:
        ax.plot(x_mid, pd.to_numeric(ts["in_flight"], errors="coerce").to_numpy(float), color="0.45",
                linewidth=0.9, linestyle="--", label="in flight (queued or served)")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("requests")
    ax.set_title("Gateway queue: requests waiting (average over each interval)", loc="left", fontsize=10.5)
    legend_outside(ax)


def _has_signal(values) -> bool:
    """Whether a series has any nonzero value: an all-zero (or empty) series is left out of chart and legend."""
    return bool(np.nan_to_num(np.asarray(values, dtype=float)).any())


def _plot_breakers(ax, series, unit_s) -> None:
    n = len(series)
    offset = 0.09 if n > 1 else 0.0
    for i, (subject, (t, y)) in enumerate(sorted(series.items())):
        shift = (i - (n - 1) / 2) * offset if n <= 5 else (i / (n - 1) - 0.5) * 0.4
        ax.step(t / unit_s, y + shift, where="post", linewidth=1.3, color=f"C{i % 10}", label=subject)
    ax.set_yticks([0, 1, 2], ["closed", "half-open", "open"])
    ax.set_ylim(-0.45, 2.45)
    ax.set_title("Circuit breaker state per provider/model", loc="left", fontsize=10.5)
    legend_outside(ax)


def _plot_utilisation(ax, ts, cols, x_mid) -> None:
    providers = list(dict.fromkeys(c.rsplit(".", 1)[0] for c in cols))
    top = 1.0
    for col in cols:
        provider, kind = col.rsplit(".", 1)
        label, style = UTIL_KINDS[kind]
        y = pd.to_numeric(ts[col], errors="coerce").to_numpy(float)
        if not _has_signal(y):
            continue
        ax.plot(x_mid, y, linestyle=style, linewidth=1.1, color=f"C{providers.index(provider) % 10}",
                label=f"{provider}: {label}")
        top = max(top, np.nanmax(y, initial=0) if np.isfinite(y).any() else 0)
    ax.axhline(1.0, color="#b2182b", linewidth=0.9, linestyle=(0, (6, 3)), label="limit")
    ax.set_ylim(0, top * 1.12)
    ax.yaxis.set_major_formatter(percent_formatter())
    ax.set_ylabel("share of limit")
    ax.set_title("Rate-limit utilisation per provider (usage / per-minute limit)", loc="left", fontsize=10.5)
    legend_outside(ax)


def _any_errors(ts: pd.DataFrame) -> bool:
    cols = [c for c in ts.columns if isinstance(c, str) and c.startswith("completed_") and c != "completed_ok"]
    cols += [c for c in ("error_rate", "hallucination_rate") if c in ts]
    return bool(len(ts) and np.nan_to_num(ts[cols].to_numpy(float)).any()) if cols else False


def _summary_line(result) -> str:
    s = getattr(result, "summary", None) or {}
    parts = []
    warm = float(scenario_attr(result, "warmup", default=0.0) or 0.0)
    if "requests_total" in s:
        after = f" after the {duration_text(warm)} warm-up" if warm > 0 else ""
        parts.append(f"{format_value('requests_total', s['requests_total'])} requests{after}")
    if "availability" in s:
        parts.append(f"availability {format_value('availability', s['availability'])}")
    if "latency_p95_s" in s:
        parts.append(f"p95 latency {seconds_text(s['latency_p95_s'])}")
    if "cost_usd" in s:
        parts.append(f"cost {format_value('cost_usd', s['cost_usd'])} (LLM + embeddings + tools)")
    return " · ".join(parts)


def build_timeline_figure(result, title=None, variant: str | None = None):
    """The timeline figure of :func:`timeline_chart`, open (the caller closes it)."""
    ts = result.timeseries
    interval_s = chart_interval_s(result)
    end_s = run_end_s(result, interval_s)
    axis = TimeAxis.for_run(end_s, start_of_day_s(result))
    unit_s = axis.unit_s
    warmup_s = float(scenario_attr(result, "warmup", default=0.0) or 0.0)
    events = run_events(result)
    windows = fault_windows(events, end_s)
    kill = kill_switch_windows(events, end_s)
    breakers = breaker_series(ts, events, interval_s, end_s)
    util_cols = [c for c in ts.columns if isinstance(c, str) and "." in c and c.rsplit(".", 1)[1] in UTIL_KINDS]

    kinds = list(dict.fromkeys(windows["kind"]))
    fault_color = {k: FAULT_COLORS[i % len(FAULT_COLORS)] for i, k in enumerate(kinds)}
    n_lanes = windows["subject"].nunique() + (1 if kill else 0)

    panels = ([("events", 0.55 + 0.3 * n_lanes)] if n_lanes else []) + [
        ("traffic", 2.4), ("latency", 2.2), ("errors", 2.0 if _any_errors(ts) else 1.4), ("cost", 2.0)]
    if "queue_length" in ts and _has_signal(ts["queue_length"]):
        panels.insert(panels.index(("latency", 2.2)), ("queue", 1.6))
    if breakers:
        panels.append(("breaker", 1.5 + 0.1 * len(breakers)))
    if util_cols:
        panels.append(("util", 2.0))
    heights = [h for _, h in panels]
    fig = plt.figure(figsize=(TIMELINE_WIDTH_IN, sum(heights) + 1.1), dpi=DPI, layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, gridspec_kw={"height_ratios": heights})
    axes = np.atleast_1d(axes)
    ax_of = {name: ax for (name, _), ax in zip(panels, axes)}

    t = ts["t_s"].to_numpy(float) if "t_s" in ts else np.array([])
    t_end = np.minimum(t + interval_s, end_s)
    seconds = np.where(t_end > t, t_end - t, np.nan)
    x_mid = (t + t_end) / 2 / unit_s
    edges = np.append(t, t_end[-1] if len(t) else interval_s) / unit_s
    for ax in axes:
        axis.apply(ax, end_s)
        ax.grid(True, color="0.9", linewidth=0.7)
        ax.set_axisbelow(True)
    for name, ax in ax_of.items():
        if name != "events":
            _shade(ax, windows, fault_color, warmup_s, unit_s)
    if not len(ts):
        for name, ax in ax_of.items():
            if name != "events":
                no_data(ax, "no intervals recorded")
    else:
        _plot_traffic(ax_of["traffic"], ts, x_mid, seconds,
                      float(scenario_attr(result, "duration", default=0.0) or 0.0))
        _plot_latency(ax_of["latency"], ts, x_mid)
        _plot_errors(ax_of["errors"], ts, x_mid)
        _plot_cost(ax_of["cost"], ts, edges, interval_s, _measured_spend(result, warmup_s), unit_s)
        if "queue" in ax_of:
            _plot_queue(ax_of["queue"], ts, x_mid)
        if breakers:
            _plot_breakers(ax_of["breaker"], breakers, unit_s)
        if util_cols:
            _plot_utilisation(ax_of["util"], ts, util_cols, x_mid)
    if "events" in ax_of:
        ax = ax_of["events"]
        if warmup_s > 0:
            ax.axvspan(0, warmup_s / unit_s, facecolor=(0.5, 0.5, 0.5, 0.10),
                       edgecolor=(0.45, 0.45, 0.45, 0.45), hatch="///", linewidth=0, zorder=0, gid="warmup")
        _draw_event_strip(ax, windows, fault_color, kill, unit_s)
    if warmup_s > 0:
        top_ax = ax_of["traffic"]
        top_ax.text(0.004, 0.97, "warm-up", transform=top_ax.transAxes, ha="left", va="top", fontsize=8.5,
                    color="0.3", bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="none", alpha=0.8))
    duration_s = float(scenario_attr(result, "duration", default=0.0) or 0.0)
    if 0 < duration_s < end_s:
        _mark_drain(ax_of, duration_s, end_s, unit_s)
    axes[-1].set_xlabel(axis.label)
    name = run_label(result, variant)
    heading = title or f"{name}: timeline"
    sub = _summary_line(result)
    fig.suptitle(heading + (f"\n{sub}" if sub else ""), fontsize=12.5, x=0.01, ha="left")
    return fig


def _mark_drain(ax_of, duration_s, end_s, unit_s) -> None:
    """Grey out the drain: after the last arrival, traffic and cost fall because the run is ending."""
    for name, ax in ax_of.items():
        ax.axvspan(duration_s / unit_s, end_s / unit_s, facecolor="0.88", alpha=0.7, linewidth=0, zorder=0.5)
    top = ax_of["traffic"]
    top.text(duration_s / unit_s, 0.97, " drain:\n no arrivals", transform=top.get_xaxis_transform(), ha="left",
             va="top", fontsize=8, color="0.3")


def timeline_chart(result, path, title=None, variant: str | None = None) -> Path:
    """Save the multi-panel timeline of a run as a PNG at ``path`` (see the module docstring); ``variant``,
    the design's name, goes into the title."""
    return save(build_timeline_figure(result, title=title, variant=variant), path)
