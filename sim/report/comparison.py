"""Variants side by side: *which variant is better, and by how much?*

One bar panel per metric, one bar per variant, the values written on the bars (formatted by
:mod:`sim.report.tables`, like the printed comparison table). Variants are meant to be run on common random
numbers (the same seed), so the differences are the policies', not sampling noise; the chart says whether
the summaries share a seed.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from sim.report.style import DPI, axis_formatter, plt, save, wrap_label
from sim.report.tables import format_value, metric_label


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
    tick_labels = [wrap_label(n, chars_per_bar) for n in names]
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
        ax.yaxis.set_major_formatter(axis_formatter(metric))
        ax.set_title(metric_label(metric), fontsize=11)
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
    return save(build_comparison_figure(summaries, metrics=metrics, title=title), path)
