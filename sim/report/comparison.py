"""Designs side by side: *which design is better, and by how much, and how sure are we?*

One panel per question, one horizontal bar per design (names whole, in the scenario's order and colours):

* availability on a scale of *nines* (-log10 of the share not answered): 99.9% and 99.99% are one tick
  apart, as far apart as 90% and 99%, where a linear axis would draw them the same height;
* the requests not answered, stacked by what happened to them (failed, timed out, shed...): a queue that sheds
  a thousand requests fails none, and must not look perfect;
* p95 latency, cost per request and the share of wrong answers.

The input is either one summary per design (a single run each) or a table of means with 95% half-widths
(``<metric>`` and ``<metric>_ci95`` per design, as replications' ``summary.csv``): then every bar carries
its interval as a whisker. Designs are meant to be run on common random numbers (the same seed), so the
differences are the designs', not sampling noise; the subtitle says whether they share a seed.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from sim.report.style import (DPI, NINES_CAP, SLIDE_FONT_PT, SLIDE_IN, design_colours, nines, nines_axis, plt, save,
                              value_axis_formatter, wrap_label)
from sim.report.tables import format_value, metric_kind, metric_label

#: The panels drawn by default: availability (nines), requests not answered (stacked), then plain bars.
PANELS = ("availability", "requests_not_ok", "latency_p95_s", "cost_per_request_usd", "quality_failure_rate")

#: What happened to the requests not answered, as (summary metric, legend text, hatch); the first three are
#: always drawn, the others when some design has any.
OUTCOMES = (("requests_failed", "failed", ""), ("requests_timeout", "timed out", "///"),
            ("requests_shed", "shed", "xx"), ("requests_rate_limited", "rate limited (429)", ".."),
            ("requests_refused", "refused", "\\\\\\"), ("requests_killed", "killed", "++"),
            ("requests_too_large", "too large", "oo"),
            ("requests_context_exceeded", "over context window", "--"))
ALWAYS_SHOWN = 3

TITLES = {"availability": "availability (one gridline per nine)",
          "requests_not_ok": "requests not answered",
          "latency_p95_s": "latency p95 (s)",
          "cost_per_request_usd": "cost per request (USD)",
          "quality_failure_rate": "wrong answers (%)"}


# ----------------------------------------------------------------------------------------------- input

def comparison_data(summaries) -> pd.DataFrame:
    """One row per design: a table of means with ``_ci95`` columns is taken as is (indexed by ``variant``
    when that is a column); ``{design: summary}`` becomes one row per design. ``requests_not_ok`` (requests
    not answered) is added from the outcome counts when missing."""
    if isinstance(summaries, pd.DataFrame):
        frame = summaries.set_index("variant") if "variant" in summaries.columns else summaries.copy()
    else:
        frame = pd.DataFrame.from_dict({str(k): dict(v or {}) for k, v in summaries.items()}, orient="index")
    frame.index = [str(i) for i in frame.index]
    if "requests_not_ok" not in frame.columns:
        parts = [frame[m].astype(float) for m, _, _ in OUTCOMES if m in frame.columns]
        if parts:
            frame["requests_not_ok"] = sum(p.fillna(0) for p in parts)
    return frame


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)


def _halfwidths(frame: pd.DataFrame, metric: str) -> np.ndarray | None:
    """The metric's 95% half-widths, or None when the table has none (single runs)."""
    hw = _column(frame, f"{metric}_ci95")
    return hw if np.isfinite(hw).any() else None


def _note(frame: pd.DataFrame) -> str:
    seeds = _column(frame, "seed")
    reps = _column(frame, "replications")
    same_seed = len(seeds) and np.isfinite(seeds).all() and len(set(seeds)) == 1
    if np.isfinite(reps).any() and np.nanmax(reps) > 1:
        n = int(np.nanmin(reps))
        text = f"bars: means of {n} replications per design; whiskers: 95% confidence intervals"
        return text + ("; common random numbers" if same_seed else "")
    if not len(seeds) or not np.isfinite(seeds).all():
        return ""
    if same_seed:
        return f"one run per design, every design with seed {int(seeds[0])} (common random numbers)"
    return "seeds differ between designs: differences include sampling noise"


# ---------------------------------------------------------------------------------------------- panels

def _style_panel(ax, title: str) -> None:
    ax.set_title(title, fontsize=12.5, loc="left")
    ax.grid(True, axis="x", color="0.88", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=SLIDE_FONT_PT)


def _label_bars(ax, ends: np.ndarray, texts: Sequence[str], right: float) -> None:
    """Values written right of each bar (and its whisker); the axis widened so they fit."""
    for y, (end, text) in enumerate(zip(ends, texts)):
        ax.text(end if np.isfinite(end) else 0, y, "  " + text, va="center", ha="left", fontsize=SLIDE_FONT_PT)
    ax.set_xlim(0, right)


def _availability_panel(ax, frame: pd.DataFrame, colours: list[str]) -> None:
    mean = _column(frame, "availability")
    hw = _halfwidths(frame, "availability")
    n = nines(mean)
    finite = n[np.isfinite(n)]
    upper = nines(np.clip(mean + (hw if hw is not None else 0), 0, 1)) if hw is not None else n
    top_finite = max([v for v in np.append(finite, upper) if np.isfinite(v)] or [2.0])
    last = nines_axis(ax, top_finite, "x")
    drawn = np.where(np.isposinf(n), last + NINES_CAP, n)
    ax.barh(range(len(frame)), np.nan_to_num(drawn), color=colours, height=0.66)
    ends = drawn.copy()
    if hw is not None:
        lo = nines(np.clip(mean - np.nan_to_num(hw), 0, 1))
        hi = np.where(np.isposinf(upper), last + NINES_CAP, upper)
        err = np.vstack([np.clip(drawn - lo, 0, None), np.clip(hi - drawn, 0, None)])
        err = np.nan_to_num(np.where(np.isfinite(hw), err, 0))
        ax.errorbar(drawn, range(len(frame)), xerr=err, fmt="none", ecolor="0.15", capsize=4, lw=1.3,
                    gid="ci95")
        ends = np.fmax(drawn, hi)
    texts = [format_value("availability", m) for m in mean]
    _label_bars(ax, ends, texts, right=(last + NINES_CAP) * 1.4)
    ax.set_xlabel("each step right = 10x fewer failures", fontsize=SLIDE_FONT_PT)


def _outcomes_panel(ax, frame: pd.DataFrame, colours: list[str]) -> list[Patch]:
    """Stacked bars of the requests not answered, by outcome; returns the legend's patches."""
    shown = [(m, label, hatch) for i, (m, label, hatch) in enumerate(OUTCOMES)
             if m in frame.columns and (i < ALWAYS_SHOWN or np.nansum(_column(frame, m)) > 0)]
    left = np.zeros(len(frame))
    handles = []
    for i, (metric, label, hatch) in enumerate(shown):
        width = np.nan_to_num(_column(frame, metric))
        faces = colours if i == 0 else [_lighter(c) for c in colours]
        ax.barh(range(len(frame)), width, left=left, color=faces, edgecolor=colours, hatch=hatch,
                linewidth=0.0 if i == 0 else 0.8, height=0.66, gid=f"outcome:{metric}")
        left = left + width
        handles.append(Patch(facecolor="0.35" if i == 0 else "0.85", edgecolor="0.35", hatch=hatch, label=label))
    total = _column(frame, "requests_not_ok")
    total = np.where(np.isfinite(total), total, left)
    hw = _halfwidths(frame, "requests_not_ok")
    ends = total
    if hw is not None:
        ax.errorbar(total, range(len(frame)), xerr=np.nan_to_num(hw), fmt="none", ecolor="0.15", capsize=4,
                    lw=1.3, gid="ci95")
        ends = total + np.nan_to_num(hw)
    texts = [format_value("requests_failed", t) for t in total]
    _label_bars(ax, ends, texts, right=_right(ends))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    ax.xaxis.set_major_formatter(value_axis_formatter("requests_failed"))
    ax.set_xlabel("requests, by outcome", fontsize=SLIDE_FONT_PT)
    return handles


def _lighter(colour: str, keep: float = 0.45) -> tuple:
    from matplotlib.colors import to_rgb
    r, g, b = to_rgb(colour)
    return (1 - keep + keep * r, 1 - keep + keep * g, 1 - keep + keep * b)


def _metric_panel(ax, frame: pd.DataFrame, metric: str, colours: list[str]) -> None:
    mean = _column(frame, metric)
    hw = _halfwidths(frame, metric)
    ax.barh(range(len(frame)), np.nan_to_num(mean), color=colours, height=0.66)
    ends = mean
    if hw is not None:
        ax.errorbar(np.nan_to_num(mean), range(len(frame)), xerr=np.nan_to_num(hw), fmt="none", ecolor="0.15",
                    capsize=4, lw=1.3, gid="ci95")
        ends = mean + np.nan_to_num(hw)
    texts = [format_value(metric, m) for m in mean]
    _label_bars(ax, np.nan_to_num(ends), texts, right=_right(ends, metric))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.xaxis.set_major_formatter(value_axis_formatter(metric))
    if not np.nanmax(np.abs(np.nan_to_num(ends)), initial=0) > 0:
        ax.text(0.5, 0.5, "none in any design", transform=ax.transAxes, ha="center", va="center", color="0.4",
                fontsize=SLIDE_FONT_PT)


def _right(ends: np.ndarray, metric: str = "") -> float:
    """The axis' right end: room for the values written after the longest bar (1% for rates all zero)."""
    top = float(np.nanmax(ends)) if np.isfinite(ends).any() else 0.0
    if top <= 0:
        return 0.01 if metric_kind(metric) == "pct" else 1.0
    return top * 1.45


# ---------------------------------------------------------------------------------------------- figure

def build_comparison_figure(summaries, metrics: Sequence[str] = PANELS, title=None,
                            colours: Mapping[str, str] | None = None):
    """The comparison figure of :func:`comparison_chart`, open (the caller closes it)."""
    frame = comparison_data(summaries)
    names = list(frame.index)
    metrics = [m for m in metrics if m in frame.columns and np.isfinite(_column(frame, m)).any()]
    colours = dict(colours) if colours is not None else design_colours(names)
    bar_colours = [colours.get(n, "0.5") for n in names]
    ncols = 3 if len(metrics) > 2 else max(1, len(metrics))
    nrows = math.ceil((len(metrics) + 1) / ncols) if len(metrics) > 2 else 1
    fig, axes = plt.subplots(nrows, ncols, figsize=SLIDE_IN, dpi=DPI, layout="constrained", squeeze=False,
                             sharey=True)
    legend = []
    for ax, metric in zip(axes.flat, metrics):
        if metric == "availability":
            _availability_panel(ax, frame, bar_colours)
        elif metric == "requests_not_ok":
            legend = _outcomes_panel(ax, frame, bar_colours)
        else:
            _metric_panel(ax, frame, metric, bar_colours)
        _style_panel(ax, TITLES.get(metric, metric_label(metric)))
    for ax in axes.flat[len(metrics):]:
        ax.set_axis_off()
    axes[0, 0].set_yticks(range(len(names)), names)
    axes[0, 0].invert_yaxis()                       # the first design on top
    for ax in axes[:, 0]:
        ax.tick_params(axis="y", labelleft=True, labelsize=SLIDE_FONT_PT)
    if legend:
        spare = axes.flat[len(metrics)] if len(metrics) < axes.size else axes.flat[-1]
        spare.legend(handles=legend, title="requests not answered", loc="center left", frameon=False,
                     fontsize=SLIDE_FONT_PT, title_fontsize=SLIDE_FONT_PT, handleheight=1.6, handlelength=2.6)
    note = _note(frame)
    heading = wrap_label(title or "Design comparison", 110)
    fig.suptitle(heading + (f"\n{note}" if note else ""), fontsize=14, x=0.01, ha="left")
    return fig


def comparison_chart(summaries, path, metrics: Sequence[str] = PANELS, title=None,
                     colours: Mapping[str, str] | None = None) -> Path:
    """Save the comparison (one panel per metric, one bar per design, whiskers when ``summaries`` is a table
    with ``_ci95`` columns) as ``path`` (PNG) and beside it as SVG. ``colours`` = ``design_colours`` of the
    scenario's variants (default: of the designs given, in their order)."""
    fig = build_comparison_figure(summaries, metrics=metrics, title=title, colours=colours)
    return save(fig, path, formats=("png", "svg"))
