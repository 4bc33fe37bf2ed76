"""A parameter sweep: *where does the system bend?*

Each metric against the swept parameter (one line per value of a second parameter if given; the mean where
several runs share a point, the runs themselves as faint dots), with the knee marked when known.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from sim.report.style import (DPI, design_colours, duration_tick, pad_flat_axis, plt, save, ticker,
                              value_axis_formatter)
from sim.report.tables import metric_kind, metric_label


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
    palette = design_colours([str(key) for key, _ in groups])
    for ax, y in zip(axes.flat, ys):
        for i, (key, g) in enumerate(groups):
            color = palette[str(key)]
            mean = g.groupby(x, sort=True, observed=True)[y].mean()
            ax.plot(mean.index, mean.to_numpy(float), marker="o", markersize=4.5, linewidth=1.5, color=color,
                    label=None if hue is None else str(key))
            if g[x].duplicated().any():
                ax.scatter(g[x], g[y], color=color, alpha=0.25, s=14, linewidths=0)
        values = runs[y].to_numpy(float) if pd.api.types.is_numeric_dtype(runs[y]) else np.array([])
        pad_flat_axis(ax, values, y)
        _from_zero(ax, values, y)
        ax.set_title(metric_label(y), fontsize=11)
        ax.yaxis.set_major_formatter(value_axis_formatter(y))
        _x_axis(ax, xv, x, log_x)
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
    x_text = _x_label(x, log_x)
    for ax in axes[-1]:
        ax.set_xlabel(x_text)
    for col in range(ncols):                       # panels above a hidden one carry the x label themselves
        for row in range(nrows - 1):
            if not axes[row + 1, col].get_visible() and axes[row, col].get_visible():
                axes[row, col].set_xlabel(x_text)
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


def _from_zero(ax, values: np.ndarray, metric: str) -> None:
    """A non-negative metric's axis from zero (a cropped axis exaggerates ratios), with room above the top
    point; a rate that is zero in every run gets 0-1%, not 0-100%, and says so."""
    finite = values[np.isfinite(values)] if len(values) else values
    if not len(finite) or finite.min() < 0:
        return
    top = float(finite.max())
    if top == 0:
        ax.set_ylim(0, 0.01 if metric_kind(metric) == "pct" else 1.0)
        ax.text(0.5, 0.5, "0 in every run", transform=ax.transAxes, ha="center", va="center", color="0.4",
                fontsize=10)
    else:
        ax.set_ylim(0, max(top * 1.08, ax.get_ylim()[1]))


def _x_axis(ax, xv: pd.Series, x: str, log_x: bool) -> None:
    """Log scale for a parameter spanning 100x or more; durations (``..._s``) in min, h or d at the swept
    values when there are few of them."""
    if log_x:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    seconds = metric_kind(x) == "seconds" and pd.api.types.is_numeric_dtype(xv)
    swept = sorted(set(xv.dropna()))
    if seconds or log_x:
        if seconds and len(swept) <= 8:
            ax.xaxis.set_major_locator(ticker.FixedLocator(swept))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(duration_tick) if seconds
                                     else ticker.FuncFormatter(lambda v, _: f"{v:g}"))


def _x_label(x: str, log_x: bool) -> str:
    name = x[:-2] if metric_kind(x) == "seconds" and x.endswith("_s") else x
    return name + (" (log scale)" if log_x else "")


def sweep_chart(runs: pd.DataFrame, x: str, ys: Sequence[str], path, hue: str | None = None,
                knee: float | None = None, title=None) -> Path:
    """Save one panel per metric in ``ys`` against parameter ``x`` (a line per ``hue``) as a PNG at ``path``."""
    return save(build_sweep_figure(runs, x, ys, hue=hue, knee=knee, title=title), path)
