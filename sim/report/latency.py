"""The latency distribution of one run: *how is latency distributed, and how long is the tail?*

Empirical CDFs of end-to-end latency and time to first token of ok requests that arrived after the warm-up
(the population of the summary), on a log time axis, with p50/p95/p99 marked and their values in the legend.

Across designs (:func:`variants_latency_cdf_chart`), one CDF per design over every request, so that a curve
tops out at the design's availability: requests that were never answered are the mass missing at the top.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
from matplotlib.transforms import blended_transform_factory

from sim.report.run_data import scenario_attr
from sim.report.style import DPI, design_colours, no_data, percent_formatter, plt, save, ticker
from sim.report.tables import duration_text, format_value, seconds_text


def _share_axis(ax, top: float) -> None:
    """A cumulative-share y axis: 0 to ``top`` (a little over 100% so a curve at 1 shows), 10% steps."""
    ax.set_ylim(0, top)
    ax.yaxis.set_major_locator(ticker.MultipleLocator(0.1))
    ax.yaxis.set_major_formatter(percent_formatter())


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


def run_label(result, variant: str | None = None) -> str:
    """The scenario's name, and the variant's after a slash when the run is one design of several."""
    name = scenario_attr(result, "name", default="run")
    return f"{name} / {variant}" if variant else str(name)


def build_latency_cdf_figure(result, title=None, variant: str | None = None):
    """The latency CDF figure of :func:`latency_cdf_chart`, open (the caller closes it)."""
    req = result.requests
    warmup_s = float(scenario_attr(result, "warmup", default=0.0) or 0.0)
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
        values = " · ".join(f"p{round(p * 100)} {seconds_text(qv)}" for p, qv in zip(probs, q))
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
        # below the axes: inside, the legend covered a steep curve's tail (time to first token) and its marks
        ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.11), fontsize=9.5, frameon=False)
        lows = [np.quantile(v, 0.002) for v in shown_values if len(v)]
        left = min(lows) / 2 if lows else None
        if left and left > 0:
            ax.set_xlim(left=left)
    else:
        no_data(ax, "no ok requests after the warm-up: no latency to show")
    _share_axis(ax, 1.005)
    ax.set_xlabel("seconds (log scale)")
    ax.set_ylabel("share of ok requests at or below")
    ax.grid(True, which="major", color="0.88", linewidth=0.7)
    ax.grid(True, which="minor", axis="x", color="0.95", linewidth=0.5)
    name = run_label(result, variant)
    sub = f"{len(ok):,} ok requests"
    if warmup_s > 0:
        sub += f" arriving after the {duration_text(warmup_s)} warm-up"
    unanswered = int(((req["outcome"].astype(str) != "ok") & (req["arrival_s"] >= warmup_s)).sum())
    if unanswered:
        sub += f"; {unanswered:,} requests never answered are not in this chart"
    if dropped:
        sub += f"; {dropped:,} zero latencies not drawn on the log axis"
    ax.set_title(title or f"{name}: latency distribution (empirical CDF)\n{sub}", loc="left", fontsize=11.5)
    return fig


def latency_cdf_chart(result, path, title=None, variant: str | None = None) -> Path:
    """Save the empirical CDFs of latency and time to first token of ok requests as a PNG at ``path``."""
    return save(build_latency_cdf_figure(result, title=title, variant=variant), path)


# --------------------------------------------------------------------------------- designs overlaid

VARIANT_LINE_STYLES = ("-", (0, (6, 2)), (0, (1.5, 1.5)), (0, (6, 2, 1.5, 2)), (0, (10, 3)))


def build_variants_latency_cdf_figure(requests: Mapping[str, pd.DataFrame], warmup_s: float = 0.0,
                                      colours: Mapping[str, str] | None = None, title: str | None = None):
    """One latency CDF per design over *all* the requests that arrived after the warm-up: a request that was
    never answered (failed, timed out, shed, ...) has no latency, so each curve tops out at the design's
    availability instead of 100% -- an outage shows as a curve that stops short, not as a harmless one."""
    colours = dict(colours or design_colours(requests))
    fig, ax = plt.subplots(figsize=(11.5, 6.0), dpi=DPI, layout="constrained")
    lows, highs = [], []
    for k, (name, req) in enumerate(requests.items()):
        measured = req[req["arrival_s"] >= warmup_s]
        n = len(measured)
        ok = measured[measured["outcome"].astype(str) == "ok"]["latency_s"].to_numpy(float)
        ok = ok[np.isfinite(ok) & (ok > 0)]
        availability = len(ok) / n if n else np.nan
        colour = colours.get(name, f"C{k % 10}")
        label = f"{name}: answered {format_value('availability', availability) if n else 'n/a'}"
        if not len(ok):
            ax.plot([], [], color=colour, label=label + " (no answers)")
            continue
        x, y = _ecdf_points(ok)
        y = y * availability
        x = np.append(x, x[-1] * 10)            # the curve runs flat to the right edge at the availability
        y = np.append(y, y[-1])
        ax.step(x, y, where="post", color=colour, lw=2.2 - 1.0 * k / max(len(requests) - 1, 1),
                ls=VARIANT_LINE_STYLES[k % len(VARIANT_LINE_STYLES)], label=label, zorder=2 + k)
        lows.append(np.quantile(ok, 0.002))
        highs.append(ok.max())
        if availability < 0.999:
            ax.axhline(availability, color=colour, lw=0.7, ls=":", zorder=1)
    if lows:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xlim(min(lows) / 2, max(highs) * 1.5)
    else:
        no_data(ax, "no request was answered: no latency to show")
    _share_axis(ax, 1.02)
    ax.set_xlabel("latency, arrival to answer (seconds, log scale)")
    ax.set_ylabel("share of all requests answered within x seconds\n(a curve stops at the design's availability: "
                  "the rest were never answered)", fontsize=9.5)
    ax.grid(True, which="major", color="0.88", linewidth=0.7)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9, title="design")
    sub = "every request arriving" + (f" after the {duration_text(warmup_s)} warm-up" if warmup_s > 0 else "")
    sub += "; failed, timed-out, shed and other unanswered requests count as never answered"
    ax.set_title((title or "latency of every request, by design") + f"\n{sub}", loc="left", fontsize=11.5)
    return fig


def variants_latency_cdf_chart(requests: Mapping[str, pd.DataFrame], path, warmup_s: float = 0.0,
                               colours: Mapping[str, str] | None = None, title: str | None = None) -> Path:
    """Save :func:`build_variants_latency_cdf_figure` as a PNG at ``path``."""
    return save(build_variants_latency_cdf_figure(requests, warmup_s, colours, title), path)
