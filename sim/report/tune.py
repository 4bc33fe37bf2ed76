"""A tuning result: *what does meeting each bound cost?*

One panel per constraint: the objective (y) against the constrained metric (x), every point tried with its
95% intervals in both directions, the bound as a line with its infeasible side shaded, the Pareto front
(points no other point beats on both the objective and that metric) connected, the recommendation marked.
"""
from __future__ import annotations

import math

import numpy as np

from sim.report.style import DPI, SLIDE_FONT_PT, plt, save, value_axis_formatter
from sim.report.tables import metric_kind, metric_label


def _pareto(xs, ys, x_better_low: bool, y_better_low: bool) -> list[int]:
    """Indices of the non-dominated points, sorted by x."""
    sx = np.where(x_better_low, xs, -xs)
    sy = np.where(y_better_low, ys, -ys)
    front = []
    for i in range(len(xs)):
        dominated = np.any((sx <= sx[i]) & (sy <= sy[i]) & ((sx < sx[i]) | (sy < sy[i])))
        if not dominated and math.isfinite(xs[i]) and math.isfinite(ys[i]):
            front.append(i)
    return sorted(front, key=lambda i: xs[i])


def tune_chart(result, path):
    summary, obj = result.summary, result.objective
    n = len(result.constraints)
    fig, axes = plt.subplots(1, n, figsize=(max(13.33, 6.6 * n), 7.5), dpi=DPI, layout="constrained",
                             squeeze=False)
    rec = result.recommendation
    best = rec.get("point") or rec.get("nearest")
    is_best = np.ones(len(summary), dtype=bool)
    for p, v in best["params"].items():
        is_best &= (summary[p] == v).to_numpy()
    y = summary[obj.metric].to_numpy(float)
    yerr = summary[f"{obj.metric}_ci95"].fillna(0).to_numpy(float)
    feasible = summary["feasible"].to_numpy(bool)
    for ax, c in zip(axes.flat, result.constraints):
        x = summary[c.metric].to_numpy(float)
        xerr = summary[f"{c.metric}_ci95"].fillna(0).to_numpy(float)
        for mask, color, label in ((feasible, "C0", "feasible: 95% interval inside every bound"),
                                    (~feasible, "C3", "infeasible: an interval crosses a bound")):
            if mask.any():
                bars = ax.errorbar(x[mask], y[mask], xerr=xerr[mask], yerr=yerr[mask], fmt="o", color=color,
                                   ms=5, capsize=3, lw=1, alpha=0.85, label=label)
                bars[0].set_clip_on(False)         # a point at zero shows whole on an axis from zero
        front = _pareto(x, y, not c.lower, obj.sense == "min")
        ax.plot(x[front], y[front], "-", color="0.35", lw=1.2, zorder=1, label="Pareto front")
        ax.axvline(c.bound, color="C3", lw=1.5, ls="--")
        lo, hi = ax.get_xlim()
        lo, hi = min(lo, c.bound), max(hi, c.bound)
        span = hi - lo or 1.0
        if c.lower:
            ax.axvspan(lo - span, c.bound, color="C3", alpha=0.08, label=f"outside the bound {_bound_text(c)}")
        else:
            ax.axvspan(c.bound, hi + span, color="C3", alpha=0.08, label=f"outside the bound {_bound_text(c)}")
        ax.set_xlim(lo - 0.02 * span, hi + 0.02 * span)
        if metric_kind(c.metric) in ("pct", "usd", "count") and (x >= 0).all() and c.bound >= 0:
            ax.set_xlim(left=0)            # a rate is not negative: whiskers below zero are cut at the axis
        if is_best.any():
            i = int(np.flatnonzero(is_best)[0])
            ax.plot(x[i], y[i], marker="*", ms=16, color="gold", mec="black", zorder=5)
            word = "recommended" if rec["feasible"] else "nearest (infeasible)"
            label = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in best["params"].items())
            ax.annotate(f"{word}\n{label}", (x[i], y[i]), xytext=(10, 12), textcoords="offset points",
                        fontsize=SLIDE_FONT_PT, bbox=dict(boxstyle="round", fc="white", ec="0.6"))
        for k, j in enumerate(front, start=1):          # the front's points numbered, listed in the legend
            ax.annotate(str(k), (x[j], y[j]), xytext=(-12, 4), textcoords="offset points", color="0.25",
                        fontsize=SLIDE_FONT_PT, fontweight="bold", gid="pareto-label")
        _format_axes(ax, c.metric, obj.metric, summary)
        ax.set_title(f"{obj.sense}imize {obj.metric.split('.')[-1]} subject to {_bound_text(c)}", fontsize=12)
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        key = [f"{k}: " + ", ".join(f"{p.split('.')[-1]}={summary[p].iloc[j]:g}" if not isinstance(
            summary[p].iloc[j], str) else str(summary[p].iloc[j]) for p in result.params)
               for k, j in enumerate(front, start=1)]
        ax.legend(handles, labels, fontsize=SLIDE_FONT_PT, loc="upper center", bbox_to_anchor=(0.5, -0.13),
                  ncols=2, frameon=False,
                  title="Pareto front:\n" + "\n".join(key) if key and len(key) <= 8 else None,
                  title_fontsize=SLIDE_FONT_PT, alignment="left")
    return save(fig, path, formats=("png", "svg"))


def _bound_text(c) -> str:
    """``false_hit_rate <= 0.05%``: the bound in the unit of the axis."""
    kind = metric_kind(c.metric)
    value = f"{c.bound * 100:g}%" if kind == "pct" else (f"${c.bound:g}" if kind == "usd" else f"{c.bound:g}")
    return f"{c.metric} {c.op} {value}"


def _format_axes(ax, x_metric: str, y_metric: str, summary) -> None:
    """Units on the ticks (rates in %, money at the ticks' precision) and, for rates and money, the value
    axis from zero (a cropped axis turns a small difference into a tall one)."""
    ax.set_xlabel(metric_label(x_metric), fontsize=12)
    ax.set_ylabel(metric_label(y_metric) if y_metric in summary else y_metric, fontsize=12)
    ax.xaxis.set_major_formatter(value_axis_formatter(x_metric))
    ax.yaxis.set_major_formatter(value_axis_formatter(y_metric))
    ax.tick_params(labelsize=SLIDE_FONT_PT)
    if metric_kind(y_metric) in ("pct", "usd", "count") and (summary[y_metric] >= 0).all():
        ax.set_ylim(bottom=0)
