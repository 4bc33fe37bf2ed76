"""Charts and tables of runs: what happened over time, how slow it was, and which variant did better.

Every function here reads a run's frames and summary (a :class:`sim.results.Result`, or summaries as plain
dicts), never the SimPy model, so it works as well on a run loaded back from disk. matplotlib is imported
here only, with the headless Agg backend, and only when this module is imported (``import sim`` does not).

The charts and the question each one answers:

* :func:`timeline_chart` -- *when did things go wrong, and what did it cost?* Panels over time sharing one
  x-axis: traffic (arrivals and completions by outcome, per minute), latency (p50/p95/p99 of ok requests),
  errors (share of calls that failed, share of requests that did not end ok), cost (per interval, and
  cumulative on a second axis); when the run recorded them, the circuit-breaker state of each
  provider/model and the utilisation of each provider's rate limits. Injected faults (``fault_start`` /
  ``fault_end`` events) are shaded on every panel and named in a strip above them, beside the budget kill
  switch's levels; the warm-up, left out of the summary, is hatched grey.
* :func:`latency_cdf_chart` -- *how is latency distributed, and how long is the tail?* Empirical CDFs of
  end-to-end latency and time to first token of ok requests that arrived after the warm-up (the population
  of the summary), on a log time axis, with p50/p95/p99 marked and their values in the legend.
* :func:`comparison_chart` / :func:`comparison_table` / :func:`format_table` -- *which variant is better,
  and by how much?* One bar panel per metric, one bar per variant, the values written on the bars; and the
  same numbers as a table (availability in %, seconds to 3 significant digits, USD with a $). Variants are
  meant to be run on common random numbers (the same seed), so the differences are the policies', not
  sampling noise; the chart says whether the summaries share a seed.
* :func:`sweep_chart` -- *where does the system bend?* For a parameter sweep, each metric against the
  parameter (one line per value of a second parameter if given; the mean where several runs share a point,
  the runs themselves as faint dots), with the knee marked when known.

Each ``*_chart`` function saves a PNG (at :data:`DPI`) and closes its figure, so charting many runs does not
accumulate figures; the matching ``build_*_figure`` function returns the open figure instead, for tests and
notebooks (close it with ``matplotlib.pyplot.close(fig)``).
"""
from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

import matplotlib

if "matplotlib.pyplot" not in sys.modules:   # headless by default, without switching a session's backend
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

__all__ = [
    "DPI", "DEFAULT_TABLE_METRICS", "build_timeline_figure", "timeline_chart", "build_latency_cdf_figure",
    "latency_cdf_chart", "write_run_charts", "build_comparison_figure", "comparison_chart",
    "comparison_table", "format_table", "format_value", "build_sweep_figure", "sweep_chart", "fault_windows",
]

#: Resolution of every saved chart (pixels per inch); figure sizes are chosen so 10 pt text stays legible.
DPI = 110
TIMELINE_WIDTH_IN = 13.0
HOURS_ABOVE_S = 6 * 3600.0          # a run longer than this is drawn in hours, otherwise in minutes

DEFAULT_TABLE_METRICS = ("requests_total", "availability", "requests_failed", "latency_p50_s", "latency_p95_s",
                         "ttft_p95_s", "cost_usd", "cost_per_request_usd")

OUTCOME_COLORS = {"ok": "#2ca02c", "failed": "#d62728", "timeout": "#ff7f0e", "refused": "#9467bd",
                  "rate_limited": "#8c564b", "shed": "#7f7f7f", "killed": "#17becf"}
FAULT_COLORS = ("#d62728", "#9467bd", "#ff7f0e", "#e377c2", "#8c564b", "#bcbd22", "#17becf")
KILL_COLORS = {"soft": "#e6c229", "hard": "#3b3b3b"}
BREAKER_STATES = {"closed": 0, "half_open": 1, "half-open": 1, "open": 2}
_TRANSITION = re.compile(r"^\s*([A-Za-z_\-]+)\s*->\s*([A-Za-z_\-]+)")
_UTIL_KINDS = {"rpm_util": ("requests/min", "-"), "itpm_util": ("input tok/min", "--"),
               "otpm_util": ("output tok/min", ":"), "tpm_util": ("input+output tok/min", "-.")}
_LEGEND_X = 1.085                    # legends sit right of the axes, clear of a twin axis' tick labels


# ------------------------------------------------------------------------------------------- formatting

def _is_missing(value) -> bool:
    if value is None:
        return True
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _sig3(value: float) -> str:
    """3 significant digits without scientific notation: 0.000123, 7.17, 10.2, 123, 1,230."""
    v = float(value)
    if v == 0:
        return "0"
    v = float(f"{v:.2e}")                       # round to 3 significant digits first (9.996 -> 10.0)
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    decimals = max(0, 2 - math.floor(math.log10(abs(v))))
    return f"{v:.{decimals}f}"


def _usd(value: float) -> str:
    v = float(value)
    sign = "-" if v < 0 else ""
    v = abs(v)
    if v == 0:
        return "$0"
    if v >= 1000:
        return f"{sign}${v:,.0f}"
    if v >= 1:
        return f"{sign}${v:,.2f}"
    return f"{sign}${_sig3(v)}"


def _pct(value: float) -> str:
    """A share as a percentage with 2 decimals, more where needed so 99.995% does not print as 100.00%."""
    v = float(value) * 100
    if v == 100 or v == 0:
        return f"{v:.0f}%"
    if 0 < abs(v) < 0.01:
        return "<0.01%"
    decimals = 2
    while decimals < 6 and round(v, decimals) >= 100 > v:
        decimals += 1
    return f"{v:.{decimals}f}%"


def _metric_kind(name: str) -> str:
    """How a summary metric is formatted: pct, usd, seconds, count or number (decided by its name)."""
    n = name.lower()
    if n == "availability" or n.endswith("_rate") or n.endswith("_share") or n.endswith("_util"):
        return "pct"
    if n.endswith("_usd"):
        return "usd"
    if n.endswith("_s"):
        return "seconds"
    if (n.startswith("requests_") or n.startswith("calls_") or n.endswith("_total") or n.endswith("_count")
            or n in ("peak_concurrency", "seed", "replication", "attempts")):
        return "count"
    return "number"


def format_value(metric: str, value) -> str:
    """One summary value as text, formatted by the metric's name (``n/a`` when missing)."""
    if _is_missing(value):
        return "n/a"
    if isinstance(value, (str, bytes)):
        return str(value)
    kind = _metric_kind(metric)
    if kind == "pct":
        return _pct(value)
    if kind == "usd":
        return _usd(value)
    if kind == "seconds":
        return _sig3(value)
    if kind == "count" or isinstance(value, (int, np.integer)):
        v = float(value)
        return f"{v:,.0f}" if v == round(v) else _sig3(v)
    return _sig3(value)


def _metric_label(name: str) -> str:
    """Axis/panel label with the unit: latency_p95_s -> 'latency p95 (s)'."""
    kind = _metric_kind(name)
    base = name
    for suffix in ("_usd", "_s"):
        if kind in ("usd", "seconds") and base.endswith(suffix):
            base = base[: -len(suffix)]
    base = base.replace("_", " ")
    unit = {"pct": " (%)", "usd": " (USD)", "seconds": " (s)"}.get(kind, "")
    return base + unit


def _usd_tick(value: float, _pos=None) -> str:
    v = float(value)
    text = f"{abs(v):,.0f}" if abs(v) >= 1000 else f"{abs(v):,.6f}".rstrip("0").rstrip(".")
    return ("-$" if v < 0 else "$") + (text or "0")


def _axis_formatter(name: str):
    kind = _metric_kind(name)
    if kind == "pct":
        return ticker.PercentFormatter(xmax=1, decimals=None)
    if kind == "usd":
        return ticker.FuncFormatter(_usd_tick)
    return ticker.FuncFormatter(lambda v, _: f"{v:,g}")


def _wrap_label(text: str, width: int) -> str:
    """Break a label into lines of at most ~width characters, after spaces, '_', '-' or '/'."""
    lines, line = [], ""
    for token in re.split(r"(?<=[ _\-/])", text):
        while len(token) > width:                     # a word longer than a line is cut
            if line:
                lines.append(line)
                line = ""
            lines.append(token[:width])
            token = token[width:]
        if line and len(line) + len(token.rstrip()) > width:
            lines.append(line)
            line = ""
        line += token
    if line:
        lines.append(line)
    return "\n".join(ln.rstrip() for ln in lines)


def _pad_flat_axis(ax, values: np.ndarray, metric: str) -> None:
    """Give a metric that does not vary a sensible y range instead of matplotlib's +-tiny ticks."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if not len(finite):
        return
    lo, hi = finite.min(), finite.max()
    if hi - lo > 1e-9 * max(abs(hi), abs(lo), 1e-12):
        return
    if hi > 0:
        top = hi * 1.2
        if _metric_kind(metric) == "pct" and hi <= 1:
            top = min(top, 1.05) if hi > 0.5 else top
        ax.set_ylim(0, top)
    elif hi < 0:
        ax.set_ylim(hi * 1.2, 0)
    else:
        ax.set_ylim(-1, 1)


def _seconds_text(value: float) -> str:
    return "n/a" if _is_missing(value) else f"{_sig3(value)} s"


def _duration_text(seconds: float) -> str:
    s = float(seconds)
    if s >= 3600 and s % 3600 == 0:
        return f"{s / 3600:g} h"
    if s >= 60 and s % 60 == 0:
        return f"{s / 60:g} min"
    return f"{s:g} s"


# ------------------------------------------------------------------------------------------------ saving

def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(path, dpi=DPI, facecolor="white")
    finally:
        plt.close(fig)
    return path


def _legend_outside(ax, handles=None, labels=None, **kwargs):
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    return ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(_LEGEND_X, 1.0), borderaxespad=0.0,
                     frameon=False, fontsize=9, handlelength=2.2, **kwargs)


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.45", fontsize=10)


# ----------------------------------------------------------------------------------------- run metadata

def _scenario_attr(result, *names, default=None):
    obj = getattr(result, "scenario", None)
    for name in names:
        obj = getattr(obj, name, None)
        if obj is None:
            return default
    return obj


def _interval_s(result) -> float:
    interval = _scenario_attr(result, "output", "interval_s")
    if interval:
        return float(interval)
    t = result.timeseries["t_s"].to_numpy(float) if "t_s" in result.timeseries else np.array([])
    return float(np.median(np.diff(t))) if len(t) > 1 else 60.0


def _run_end_s(result, interval_s: float) -> float:
    """When the run ended: its ``run_end`` event (or simulated time), else the end of the last interval."""
    duration = float(_scenario_attr(result, "duration", default=0.0) or 0.0)
    ts = result.timeseries
    last_t = float(ts["t_s"].max()) if len(ts) and "t_s" in ts else None
    ev = result.events
    end = None
    if ev is not None and len(ev) and "time_s" in ev:
        ends = ev.loc[ev["kind"].astype(str) == "run_end", "time_s"]
        end = float(ends.max()) if len(ends) else None
    if end is None:
        end = (getattr(result, "summary", None) or {}).get("simulated_time_s")
    if _is_missing(end):
        end = last_t + interval_s if last_t is not None else 0.0
    end = max(float(end), duration)
    if ev is not None and len(ev) and "time_s" in ev:
        end = max(end, float(ev["time_s"].max()))
    if last_t is not None and end <= last_t:
        end = last_t + interval_s
    return end if end > 0 else interval_s


def _events(result) -> pd.DataFrame:
    ev = getattr(result, "events", None)
    if ev is None or not len(ev):
        return pd.DataFrame({"time_s": [], "kind": [], "subject": [], "detail": []})
    ev = ev.copy()
    for col in ("kind", "subject", "detail"):
        ev[col] = ev[col].astype(str) if col in ev else ""
    return ev.sort_values("time_s", kind="stable")


def fault_windows(events: pd.DataFrame, end_s: float) -> pd.DataFrame:
    """Pair ``fault_start`` / ``fault_end`` events per subject into windows (subject, kind, start_s, end_s).

    An end closes the earliest open start of the same subject and fault kind, or failing that the earliest
    open start of the subject; a start never ended runs to ``end_s``. An end with no open start is ignored.
    """
    columns = ["subject", "kind", "start_s", "end_s"]
    if events is None or not len(events):
        return pd.DataFrame(columns=columns)
    ev = events[events["kind"].astype(str).isin(["fault_start", "fault_end"])].sort_values("time_s", kind="stable")
    open_starts: dict[str, list[tuple[float, str]]] = {}
    rows = []
    for time_s, kind, subject, detail in zip(ev["time_s"], ev["kind"].astype(str), ev["subject"].astype(str),
                                             ev["detail"].astype(str)):
        pending = open_starts.setdefault(subject, [])
        if kind == "fault_start":
            pending.append((float(time_s), detail))
            continue
        if not pending:
            continue
        match = next((i for i, (_, d) in enumerate(pending) if d == detail), 0)
        start_s, fault_kind = pending.pop(match)
        rows.append((subject, fault_kind, start_s, float(time_s)))
    for subject, pending in open_starts.items():
        rows.extend((subject, fault_kind, start_s, max(float(end_s), start_s)) for start_s, fault_kind in pending)
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values(["start_s", "subject"], kind="stable").reset_index(drop=True)


def _kill_switch_windows(events: pd.DataFrame, end_s: float) -> list[tuple[float, float, str]]:
    """(start_s, end_s, level) for each stretch the kill switch spent above ``normal``."""
    ks = events[events["kind"] == "kill_switch"]
    windows, level, since = [], "normal", 0.0
    for time_s, detail in zip(ks["time_s"], ks["detail"]):
        m = _TRANSITION.match(detail)
        if not m:
            continue
        new = m.group(2).lower()
        if level != "normal" and float(time_s) > since:
            windows.append((since, float(time_s), level))
        level, since = new, float(time_s)
    if level != "normal":
        windows.append((since, max(float(end_s), since), level))
    return windows


def _breaker_series(ts: pd.DataFrame, events: pd.DataFrame, interval_s: float, end_s: float):
    """subject -> (times_s, state codes) as a step function; from ``*.breaker`` columns, else from events."""
    series = {}
    cols = [c for c in ts.columns if isinstance(c, str) and c.endswith(".breaker")]
    if cols and len(ts):
        last = float(ts["t_s"].iloc[-1])
        t = np.append(ts["t_s"].to_numpy(float), max(min(last + interval_s, float(end_s)), last))
        for col in cols:
            y = pd.to_numeric(ts[col], errors="coerce").ffill().fillna(0.0).to_numpy(float)
            series[col[: -len(".breaker")]] = (t, np.append(y, y[-1]))
        return series
    br = events[events["kind"] == "breaker"]
    for subject, group in br.groupby("subject", sort=False):
        times, states = [0.0], [0.0]
        for time_s, detail in zip(group["time_s"], group["detail"]):
            m = _TRANSITION.match(detail)
            if m and m.group(2).lower() in BREAKER_STATES:
                times.append(float(time_s))
                states.append(float(BREAKER_STATES[m.group(2).lower()]))
        if len(times) > 1:
            times.append(max(float(end_s), times[-1]))
            states.append(states[-1])
            series[str(subject)] = (np.array(times), np.array(states))
    return series


# ------------------------------------------------------------------------------------------- timeline

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

    lanes = list(dict.fromkeys(windows["subject"])) + (["kill switch"] if kill else [])
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
        bar(lane_of["kill switch"], start_s, end_s, KILL_COLORS.get(level, "0.4"), level, 0.9)
    handles = [Patch(facecolor=c, alpha=0.8, label=k.replace("_", " ")) for k, c in fault_color.items()]
    levels = list(dict.fromkeys(level for _, _, level in kill))
    handles += [Patch(facecolor=KILL_COLORS.get(lv, "0.4"), alpha=0.9, label=f"kill switch {lv}") for lv in levels]
    _legend_outside(ax, handles, [h.get_label() for h in handles])
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
    _legend_outside(ax, [handles[i] for i in order], [lbls[i] for i in order])


def _plot_latency(ax, ts, x_mid) -> None:
    cols = [(f"latency_p{q}_s", f"p{q}", c) for q, c in ((50, "#1f77b4"), (95, "#ff7f0e"), (99, "#d62728"))]
    cols = [c for c in cols if c[0] in ts]
    values = [ts[c].to_numpy(float) for c, _, _ in cols]
    if not cols or all(np.isnan(v).all() for v in values):
        _no_data(ax, "no ok requests: no latency to show")
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
    _legend_outside(ax)


def _plot_errors(ax, ts, x_mid) -> None:
    top = 0.0
    if "error_rate" in ts:
        y = ts["error_rate"].to_numpy(float)
        ax.plot(x_mid, y, color="#d62728", linewidth=1.0, label="calls that failed")
        top = max(top, np.nanmax(y, initial=0) if np.isfinite(y).any() else 0)
    done = [f"completed_{o}" for o in OUTCOME_COLORS if f"completed_{o}" in ts]
    if done and "completed_ok" in ts:
        total = ts[done].to_numpy(float).sum(axis=1)
        bad = total - ts["completed_ok"].to_numpy(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(total > 0, bad / total, np.nan)
        ax.plot(x_mid, share, color="#9467bd", linewidth=1.0, label="requests not ok")
        top = max(top, np.nanmax(share, initial=0) if np.isfinite(share).any() else 0)
    if "hallucination_rate" in ts:
        y = pd.to_numeric(ts["hallucination_rate"], errors="coerce").to_numpy(float)
        ax.plot(x_mid, y, color="#8c564b", linewidth=1.0, linestyle="--", label="ok answers hallucinated")
        top = max(top, np.nanmax(y, initial=0) if np.isfinite(y).any() else 0)
    ax.set_ylim(0, min(1.05, max(0.02, top * 1.2)))
    if top == 0:
        ax.text(0.5, 0.55, "no call failed and every request ended ok", transform=ax.transAxes, ha="center",
                va="center", fontsize=10, color="0.4")
    ax.yaxis.set_major_formatter(ticker.PercentFormatter(xmax=1, decimals=None))
    ax.set_ylabel("share (%)")
    ax.set_title("Errors: share of calls failing and of requests not ending ok, per interval",
                 loc="left", fontsize=10.5)
    _legend_outside(ax)


def _plot_cost(ax, ts, edges, interval_s) -> None:
    per = ts["cost_usd"].to_numpy(float) if "cost_usd" in ts else np.zeros(len(ts))
    y = np.append(per, per[-1] if len(per) else 0.0)
    ax.fill_between(edges, y, step="post", color="#1f77b4", alpha=0.35, linewidth=0,
                    label=f"per {_duration_text(interval_s)} (left)")
    ax.step(edges, y, where="post", color="#1f77b4", linewidth=0.8)
    ax.set_ylim(0, np.nanmax(per, initial=0) * 1.25 or 1)
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(_usd_tick))
    ax.set_ylabel(f"USD per {_duration_text(interval_s)}")
    twin = ax.twinx()
    if "spend_usd" in ts:
        cum = pd.to_numeric(ts["spend_usd"], errors="coerce").ffill().fillna(0).to_numpy(float)
    else:
        cum = np.cumsum(np.nan_to_num(per))
    twin.plot(edges, np.concatenate([[0.0], cum]), color="black", linewidth=1.3, label="cumulative (right)")
    twin.set_ylim(0, np.nanmax(cum, initial=0) * 1.08 or 1)
    twin.yaxis.set_major_formatter(ticker.FuncFormatter(_usd_tick))
    twin.set_ylabel("cumulative USD")
    twin.grid(False)
    ax.set_title("Cost: per interval and cumulative", loc="left", fontsize=10.5)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    _legend_outside(ax, h1 + h2, l1 + l2)


def _plot_breakers(ax, series, unit_s) -> None:
    n = len(series)
    offset = 0.09 if n > 1 else 0.0
    for i, (subject, (t, y)) in enumerate(sorted(series.items())):
        shift = (i - (n - 1) / 2) * offset if n <= 5 else (i / (n - 1) - 0.5) * 0.4
        ax.step(t / unit_s, y + shift, where="post", linewidth=1.3, color=f"C{i % 10}", label=subject)
    ax.set_yticks([0, 1, 2], ["closed", "half-open", "open"])
    ax.set_ylim(-0.45, 2.45)
    ax.set_title("Circuit breaker state per provider/model", loc="left", fontsize=10.5)
    _legend_outside(ax)


def _plot_utilisation(ax, ts, cols, x_mid) -> None:
    providers = list(dict.fromkeys(c.rsplit(".", 1)[0] for c in cols))
    top = 1.0
    for col in cols:
        provider, kind = col.rsplit(".", 1)
        label, style = _UTIL_KINDS[kind]
        y = pd.to_numeric(ts[col], errors="coerce").to_numpy(float)
        ax.plot(x_mid, y, linestyle=style, linewidth=1.1, color=f"C{providers.index(provider) % 10}",
                label=f"{provider}: {label}")
        top = max(top, np.nanmax(y, initial=0) if np.isfinite(y).any() else 0)
    ax.axhline(1.0, color="#b2182b", linewidth=0.9, linestyle=(0, (6, 3)), label="limit")
    ax.set_ylim(0, top * 1.12)
    ax.yaxis.set_major_formatter(ticker.PercentFormatter(xmax=1, decimals=0))
    ax.set_ylabel("share of limit (%)")
    ax.set_title("Rate-limit utilisation per provider (usage / per-minute limit)", loc="left", fontsize=10.5)
    _legend_outside(ax)


def _any_errors(ts: pd.DataFrame) -> bool:
    cols = [c for c in ts.columns if isinstance(c, str) and c.startswith("completed_") and c != "completed_ok"]
    cols += [c for c in ("error_rate", "hallucination_rate") if c in ts]
    return bool(len(ts) and np.nan_to_num(ts[cols].to_numpy(float)).any()) if cols else False


def _summary_line(result) -> str:
    s = getattr(result, "summary", None) or {}
    parts = []
    if "requests_total" in s:
        parts.append(f"{format_value('requests_total', s['requests_total'])} requests")
    if "availability" in s:
        parts.append(f"availability {format_value('availability', s['availability'])}")
    if "latency_p95_s" in s:
        parts.append(f"p95 latency {_seconds_text(s['latency_p95_s'])}")
    if "cost_usd" in s:
        parts.append(f"cost {format_value('cost_usd', s['cost_usd'])}")
    warm = float(_scenario_attr(result, "warmup", default=0.0) or 0.0)
    if parts and warm > 0:
        parts[-1] += f"  (after the {_duration_text(warm)} warm-up)"
    return " · ".join(parts)


def build_timeline_figure(result, title=None):
    """The timeline figure of :func:`timeline_chart`, open (the caller closes it)."""
    ts = result.timeseries
    interval_s = _interval_s(result)
    end_s = _run_end_s(result, interval_s)
    unit_s, unit_name = (3600.0, "h") if end_s > HOURS_ABOVE_S else (60.0, "min")
    warmup_s = float(_scenario_attr(result, "warmup", default=0.0) or 0.0)
    events = _events(result)
    windows = fault_windows(events, end_s)
    kill = _kill_switch_windows(events, end_s)
    breakers = _breaker_series(ts, events, interval_s, end_s)
    util_cols = [c for c in ts.columns if isinstance(c, str) and "." in c and c.rsplit(".", 1)[1] in _UTIL_KINDS]

    kinds = list(dict.fromkeys(windows["kind"]))
    fault_color = {k: FAULT_COLORS[i % len(FAULT_COLORS)] for i, k in enumerate(kinds)}
    n_lanes = windows["subject"].nunique() + (1 if kill else 0)

    panels = ([("events", 0.55 + 0.3 * n_lanes)] if n_lanes else []) + [
        ("traffic", 2.4), ("latency", 2.2), ("errors", 2.0 if _any_errors(ts) else 1.4), ("cost", 2.0)]
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
        ax.set_xlim(0, end_s / unit_s)
        ax.grid(True, color="0.9", linewidth=0.7)
        ax.set_axisbelow(True)
    for name, ax in ax_of.items():
        if name != "events":
            _shade(ax, windows, fault_color, warmup_s, unit_s)
    if not len(ts):
        for name, ax in ax_of.items():
            if name != "events":
                _no_data(ax, "no intervals recorded")
    else:
        _plot_traffic(ax_of["traffic"], ts, x_mid, seconds,
                      float(_scenario_attr(result, "duration", default=0.0) or 0.0))
        _plot_latency(ax_of["latency"], ts, x_mid)
        _plot_errors(ax_of["errors"], ts, x_mid)
        _plot_cost(ax_of["cost"], ts, edges, interval_s)
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
    axes[-1].set_xlabel(f"time since start ({unit_name})")
    name = _scenario_attr(result, "name", default="run")
    heading = title or f"{name}: timeline"
    sub = _summary_line(result)
    fig.suptitle(heading + (f"\n{sub}" if sub else ""), fontsize=12.5, x=0.01, ha="left")
    return fig


def timeline_chart(result, path, title=None) -> Path:
    """Save the multi-panel timeline of a run as a PNG at ``path`` (see the module docstring)."""
    return _save(build_timeline_figure(result, title=title), path)


# ----------------------------------------------------------------------------------------- latency CDF

def _ecdf_points(values: np.ndarray, max_points: int = 4000):
    """Sorted values and their ECDF heights, thinned to ~max_points while keeping the tail in detail."""
    v = np.sort(values)
    n = len(v)
    y = np.arange(1, n + 1) / n
    if n > max_points:
        body = np.linspace(0, n - 1, max_points * 3 // 4)
        tail = n - np.geomspace(1, n, max_points // 4)
        idx = np.unique(np.clip(np.concatenate([body, tail, [0, n - 1]]).astype(int), 0, n - 1))
        v, y = v[idx], y[idx]
    return v, y


def build_latency_cdf_figure(result, title=None):
    """The latency CDF figure of :func:`latency_cdf_chart`, open (the caller closes it)."""
    req = result.requests
    warmup_s = float(_scenario_attr(result, "warmup", default=0.0) or 0.0)
    ok = req[(req["outcome"].astype(str) == "ok") & (req["arrival_s"] >= warmup_s)]
    fig, ax = plt.subplots(figsize=(10.5, 5.8), dpi=DPI, layout="constrained")
    probs = np.array([0.50, 0.95, 0.99])
    drawn, dropped, shown_values = 0, 0, []
    for col, label, color in (("latency_s", "latency (arrival to completion)", "#1f77b4"),
                              ("ttft_s", "time to first token", "#ff7f0e")):
        if col not in ok:
            continue
        v = ok[col].to_numpy(float)
        v = v[np.isfinite(v)]
        if not len(v):
            continue
        q = np.quantile(v, probs)
        x, y = _ecdf_points(v)
        keep = x > 0
        dropped = max(dropped, int(np.sum(v <= 0)))
        if not keep.any():
            continue
        shown_values.append(v[v > 0])
        values = " · ".join(f"p{round(p * 100)} {_seconds_text(qv)}" for p, qv in zip(probs, q))
        ax.step(x[keep], y[keep], where="post", color=color, linewidth=1.6 if drawn == 0 else 1.3,
                linestyle="-" if drawn == 0 else (0, (5, 2)), label=f"{label}:  {values}")
        shown = q > 0
        ax.plot(q[shown], probs[shown], "o", color=color, markersize=6, markeredgecolor="white", zorder=5)
        ax.vlines(q[shown], 0, probs[shown], color=color, linewidth=0.8, linestyle=":", alpha=0.8)
        drawn += 1
    if drawn:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        trans = blended_transform_factory(ax.transAxes, ax.transData)
        for p in probs:
            ax.axhline(p, color="0.6", linewidth=0.7, linestyle=":", zorder=0)
            ax.text(1.006, p, f"p{round(p * 100)}", transform=trans, va="center", fontsize=9, color="0.35")
        ax.legend(loc="upper left", fontsize=9.5, framealpha=0.95)   # a CDF never reaches the upper left
        lows = [np.quantile(v, 0.002) for v in shown_values if len(v)]
        left = min(lows) / 2 if lows else None
        if left and left > 0:
            ax.set_xlim(left=left)
    else:
        _no_data(ax, "no ok requests after the warm-up: no latency to show")
    ax.set_ylim(0, 1.005)
    ax.yaxis.set_major_locator(ticker.MultipleLocator(0.1))
    ax.set_xlabel("seconds (log scale)")
    ax.set_ylabel("share of ok requests at or below")
    ax.grid(True, which="major", color="0.88", linewidth=0.7)
    ax.grid(True, which="minor", axis="x", color="0.95", linewidth=0.5)
    name = _scenario_attr(result, "name", default="run")
    sub = f"{len(ok):,} ok requests"
    if warmup_s > 0:
        sub += f" arriving after the {_duration_text(warmup_s)} warm-up"
    if dropped:
        sub += f"; {dropped:,} zero latencies not drawn on the log axis"
    ax.set_title(title or f"{name}: latency distribution (empirical CDF)\n{sub}", loc="left", fontsize=11.5)
    return fig


def latency_cdf_chart(result, path, title=None) -> Path:
    """Save the empirical CDFs of latency and time to first token of ok requests as a PNG at ``path``."""
    return _save(build_latency_cdf_figure(result, title=title), path)


def write_run_charts(result, folder) -> list[Path]:
    """Write ``timeline.png`` and ``latency_cdf.png`` into ``folder``; return their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [timeline_chart(result, folder / "timeline.png"), latency_cdf_chart(result, folder / "latency_cdf.png")]


# ------------------------------------------------------------------------------------------ comparison

def _value(summary: Mapping, metric: str) -> float:
    v = summary.get(metric) if summary is not None else None
    try:
        return math.nan if v is None else float(v)
    except (TypeError, ValueError):
        return math.nan


def _seed_note(summaries: Mapping[str, Mapping]) -> str:
    seeds = [s.get("seed") for s in summaries.values() if s is not None]
    if not seeds or any(seed is None for seed in seeds):
        return ""
    if len(set(seeds)) == 1:
        return f"every variant run with seed {seeds[0]} (common random numbers)"
    return "seeds differ between variants: differences include sampling noise"


def build_comparison_figure(summaries: Mapping[str, Mapping], metrics: Sequence[str] = (
        "availability", "latency_p95_s", "cost_per_request_usd"), title=None):
    """The comparison figure of :func:`comparison_chart`, open (the caller closes it)."""
    names = [str(n) for n in summaries]
    metrics = list(metrics)
    n_var = len(names)
    panel_w = max(3.8, 1.05 * n_var + 1.2)
    fig, axes = plt.subplots(1, len(metrics), figsize=(max(8.0, panel_w * len(metrics)), 4.8), dpi=DPI,
                             layout="constrained", squeeze=False)
    colors = [f"C{i % 10}" for i in range(n_var)]
    chars_per_bar = max(6, int(panel_w * 0.8 / max(n_var, 1) * 13))
    tick_labels = [_wrap_label(n, chars_per_bar) for n in names]
    rotate = max((t.count("\n") for t in tick_labels), default=0) >= 3
    if rotate:
        tick_labels = names
    for ax, metric in zip(axes[0], metrics):
        vals = np.array([_value(s, metric) for s in summaries.values()], dtype=float)
        bars = ax.bar(range(n_var), np.nan_to_num(vals), color=colors, width=0.7)
        ax.bar_label(bars, [format_value(metric, v) for v in vals], padding=3, fontsize=9)
        finite = vals[np.isfinite(vals)]
        lo, hi = (min(0.0, finite.min()), max(0.0, finite.max())) if len(finite) else (0.0, 1.0)
        span = (hi - lo) or 1.0
        ax.set_ylim(lo - (0.12 * span if lo < 0 else 0), hi + 0.14 * span)
        ax.yaxis.set_major_formatter(_axis_formatter(metric))
        ax.set_title(_metric_label(metric), fontsize=11)
        ax.set_xticks(range(n_var), tick_labels, rotation=30 if rotate else 0, ha="right" if rotate else "center",
                      fontsize=9.5)
        ax.grid(True, axis="y", color="0.9", linewidth=0.7)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    note = _seed_note(summaries)
    fig.suptitle((title or "Variant comparison") + (f"\n{note}" if note else ""), fontsize=12, x=0.01, ha="left")
    return fig


def comparison_chart(summaries: Mapping[str, Mapping], path, metrics: Sequence[str] = (
        "availability", "latency_p95_s", "cost_per_request_usd"), title=None) -> Path:
    """Save one bar panel per metric, one bar per variant (values on the bars), as a PNG at ``path``."""
    return _save(build_comparison_figure(summaries, metrics=metrics, title=title), path)


def comparison_table(summaries: Mapping[str, Mapping], metrics: Iterable[str] | None = None) -> pd.DataFrame:
    """Rows = variants (in the given order), columns = the selected summary metrics (NaN where missing)."""
    metrics = list(DEFAULT_TABLE_METRICS if metrics is None else metrics)
    rows = []
    for summary in summaries.values():
        summary = summary or {}
        rows.append([math.nan if summary.get(m) is None else summary.get(m) for m in metrics])
    df = pd.DataFrame(rows, columns=metrics, index=pd.Index([str(n) for n in summaries], name="variant"))
    return df.infer_objects()


def format_table(df: pd.DataFrame) -> str:
    """A comparison table as aligned text: availability and rates in %, seconds to 3 significant digits,
    USD with $, counts with thousands separators; ``n/a`` where a value is missing."""
    header = [str(df.index.name or "variant")] + [str(c) for c in df.columns]
    body = [[str(idx)] + [format_value(str(col), v) for col, v in zip(df.columns, row)]
            for idx, row in zip(df.index, df.itertuples(index=False, name=None))]
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]

    def line(cells):
        return "  ".join([cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in body])


# ------------------------------------------------------------------------------------------------ sweep

def build_sweep_figure(runs: pd.DataFrame, x: str, ys: Sequence[str], hue: str | None = None,
                       knee: float | None = None, title=None):
    """The sweep figure of :func:`sweep_chart`, open (the caller closes it)."""
    ys = list(ys)
    if not ys:
        raise ValueError("sweep_chart needs at least one metric in ys")
    missing = [c for c in [x, *ys] + ([hue] if hue else []) if c not in runs.columns]
    if missing:
        raise KeyError(f"sweep runs have no column(s) {missing}; columns are {list(runs.columns)}")
    ncols = 2 if len(ys) == 4 else min(len(ys), 3)
    nrows = math.ceil(len(ys) / ncols)
    groups = [(None, runs)] if hue is None else list(runs.groupby(hue, sort=True, observed=True))
    legend_w = 1.8 if hue is not None else 0.0
    fig, axes = plt.subplots(nrows, ncols, figsize=(max(6.0, 4.6 * ncols) + legend_w, 3.5 * nrows + 0.8), dpi=DPI,
                             layout="constrained", squeeze=False, sharex=True)
    xv = runs[x]
    numeric_x = pd.api.types.is_numeric_dtype(xv)
    log_x = bool(numeric_x and len(xv) and (xv > 0).all() and xv.max() / xv.min() >= 100)
    for ax, y in zip(axes.flat, ys):
        for i, (key, g) in enumerate(groups):
            color = f"C{i % 10}"
            mean = g.groupby(x, sort=True, observed=True)[y].mean()
            ax.plot(mean.index, mean.to_numpy(float), marker="o", markersize=4.5, linewidth=1.5, color=color,
                    label=None if hue is None else str(key))
            if g[x].duplicated().any():
                ax.scatter(g[x], g[y], color=color, alpha=0.25, s=14, linewidths=0)
        _pad_flat_axis(ax, runs[y].to_numpy(float) if pd.api.types.is_numeric_dtype(runs[y]) else [], y)
        ax.set_title(_metric_label(y), fontsize=11)
        ax.yaxis.set_major_formatter(_axis_formatter(y))
        if log_x:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.grid(True, color="0.9", linewidth=0.7)
        ax.set_axisbelow(True)
    for ax in axes.flat[len(ys):]:
        ax.set_visible(False)
    knee_handles = []
    if knee is not None:                   # named in the legend: a label on the panels would cover data
        for ax in axes.flat[:len(ys)]:
            line = ax.axvline(knee, color="0.25", linestyle=(0, (5, 3)), linewidth=1.1, gid="knee")
        knee_text = f"{knee:g}" if isinstance(knee, (int, float, np.number)) else str(knee)
        line.set_label(f"knee: {x} = {knee_text}")
        knee_handles = [line]
    for ax in axes[-1]:
        ax.set_xlabel(x)
    for col in range(ncols):                       # panels above a hidden one carry the x label themselves
        for row in range(nrows - 1):
            if not axes[row + 1, col].get_visible() and axes[row, col].get_visible():
                axes[row, col].set_xlabel(x)
                axes[row, col].xaxis.set_tick_params(labelbottom=True)
    handles = axes.flat[0].get_legend_handles_labels()[0] if hue is not None else []
    handles = [h for h in handles if h not in knee_handles] + knee_handles
    if handles:
        fig.legend(handles, [h.get_label() for h in handles], loc="outside right upper" if hue is not None
                   else "outside lower center", frameon=False, fontsize=9.5, title=hue, alignment="left")
    n_runs = len(runs)
    heading = title or f"Sweep over {x} ({n_runs} run{'s' if n_runs != 1 else ''})"
    repeated = any(g[x].duplicated().any() for _, g in groups)
    fig.suptitle(heading + ("\nlines: mean of the runs at each point; dots: single runs" if repeated else ""),
                 fontsize=12, x=0.01, ha="left")
    return fig


def sweep_chart(runs: pd.DataFrame, x: str, ys: Sequence[str], path, hue: str | None = None,
                knee: float | None = None, title=None) -> Path:
    """Save one panel per metric in ``ys`` against parameter ``x`` (a line per ``hue``) as a PNG at ``path``."""
    return _save(build_sweep_figure(runs, x, ys, hue=hue, knee=knee, title=title), path)
