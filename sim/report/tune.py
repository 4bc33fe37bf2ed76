"""A tuning result: *what does meeting each bound cost?*

One panel per constraint: the objective (y) against the constrained metric (x), every point tried with its
95% intervals in both directions, the bound as a line with its infeasible side shaded, the Pareto front
(points no other point beats on both the objective and that metric) connected, the recommendation marked.
"""
from __future__ import annotations

import math

import numpy as np

from sim.report.style import DPI, plt, save
from sim.report.tables import metric_label


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
    fig, axes = plt.subplots(1, n, figsize=(6.2 * n, 4.6), dpi=DPI, layout="constrained", squeeze=False)
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
        for mask, color, label in ((feasible, "C0", "feasible"), (~feasible, "C3", "infeasible")):
            if mask.any():
                ax.errorbar(x[mask], y[mask], xerr=xerr[mask], yerr=yerr[mask], fmt="o", color=color,
                            ms=5, capsize=3, lw=1, alpha=0.85, label=label)
        front = _pareto(x, y, not c.lower, obj.sense == "min")
        ax.plot(x[front], y[front], "-", color="0.35", lw=1.2, zorder=1, label="Pareto front")
        ax.axvline(c.bound, color="C3", lw=1.5, ls="--")
        lo, hi = ax.get_xlim()
        lo, hi = min(lo, c.bound), max(hi, c.bound)
        span = hi - lo or 1.0
        if c.lower:
            ax.axvspan(lo - span, c.bound, color="C3", alpha=0.08, label=f"infeasible ({c})")
        else:
            ax.axvspan(c.bound, hi + span, color="C3", alpha=0.08, label=f"infeasible ({c})")
        ax.set_xlim(lo - 0.02 * span, hi + 0.02 * span)
        if is_best.any():
            i = int(np.flatnonzero(is_best)[0])
            ax.plot(x[i], y[i], marker="*", ms=16, color="gold", mec="black", zorder=5)
            word = "recommended" if rec["feasible"] else "nearest (infeasible)"
            label = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in best["params"].items())
            ax.annotate(f"{word}\n{label}", (x[i], y[i]), xytext=(10, 12), textcoords="offset points",
                        fontsize=8, bbox=dict(boxstyle="round", fc="white", ec="0.6"))
        ax.set_xlabel(metric_label(c.metric))
        ax.set_ylabel(metric_label(obj.metric) if obj.metric in summary else obj.metric)
        ax.set_title(f"{obj.sense}imize {obj.metric.split('.')[-1]} subject to {c}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    return save(fig, path)
