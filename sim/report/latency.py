"""The latency distribution of one run: *how is latency distributed, and how long is the tail?*

Empirical CDFs of end-to-end latency and time to first token of ok requests that arrived after the warm-up
(the population of the summary), on a log time axis, with p50/p95/p99 marked and their values in the legend.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.transforms import blended_transform_factory

from sim.report.run_data import scenario_attr
from sim.report.style import DPI, no_data, plt, save, ticker
from sim.report.tables import duration_text, seconds_text


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
        ax.legend(loc="upper left", fontsize=9.5, framealpha=0.95)   # a CDF never reaches the upper left
        lows = [np.quantile(v, 0.002) for v in shown_values if len(v)]
        left = min(lows) / 2 if lows else None
        if left and left > 0:
            ax.set_xlim(left=left)
    else:
        no_data(ax, "no ok requests after the warm-up: no latency to show")
    ax.set_ylim(0, 1.005)
    ax.yaxis.set_major_locator(ticker.MultipleLocator(0.1))
    ax.set_xlabel("seconds (log scale)")
    ax.set_ylabel("share of ok requests at or below")
    ax.grid(True, which="major", color="0.88", linewidth=0.7)
    ax.grid(True, which="minor", axis="x", color="0.95", linewidth=0.5)
    name = scenario_attr(result, "name", default="run")
    sub = f"{len(ok):,} ok requests"
    if warmup_s > 0:
        sub += f" arriving after the {duration_text(warmup_s)} warm-up"
    if dropped:
        sub += f"; {dropped:,} zero latencies not drawn on the log axis"
    ax.set_title(title or f"{name}: latency distribution (empirical CDF)\n{sub}", loc="left", fontsize=11.5)
    return fig


def latency_cdf_chart(result, path, title=None) -> Path:
    """Save the empirical CDFs of latency and time to first token of ok requests as a PNG at ``path``."""
    return save(build_latency_cdf_figure(result, title=title), path)
