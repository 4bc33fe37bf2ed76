"""Charts that compare designs across runs: the pictures a design review asks for.

* :func:`variant_overlay_chart` -- *how did each design live through the same incident?* One panel per
  quantity (error rate, p95 latency, hallucination rate, cumulative spend...), one line per variant, the
  fault windows shaded: the variants ran on the same traffic and the same faults, so the lines differ only
  by design.
* :func:`tradeoff_chart` -- *which settings are worth shipping?* One point per configuration of a sweep,
  two costs against each other (requests failed in an outage vs false trips in normal noise), the Pareto
  front drawn: points off the front are dominated by some other setting on both counts.
* :func:`interval_bars_chart` -- *how much does each option buy, and how sure are we?* Means with 95%
  confidence intervals over replications (availability with one, two and three providers).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from sim.report.run_data import fault_windows
from sim.report.style import DPI, TimeAxis, plt

from sim.report.style import DESIGN_COLOURS as VARIANT_COLORS  # noqa: E402  (one palette for every chart)


def _save(fig, path) -> Path:
    path = Path(path)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def _shade_faults(ax, events: pd.DataFrame | None, end_s: float, unit_s: float) -> None:
    if events is None or not len(events):
        return
    for row in fault_windows(events, end_s).itertuples():
        ax.axvspan(row.start_s / unit_s, row.end_s / unit_s, color="#d62728", alpha=0.10, lw=0)


def variant_overlay_chart(timeseries: Mapping[str, pd.DataFrame], panels: Sequence[tuple[str, str]], path,
                          events: pd.DataFrame | None = None, title: str = "", smooth: int = 1,
                          start_of_day_s: float | None = None) -> Path:
    """``panels`` = [(timeseries column, y label)]; one line per variant; ``smooth`` = rolling intervals;
    ``start_of_day_s`` (the scenario's ``workload.start_time_of_day``) labels the time axis with clock times."""
    end_s = max(float(ts["t_s"].iloc[-1]) + float(ts["t_s"].diff().median() or 60.0) for ts in timeseries.values())
    axis = TimeAxis.for_run(end_s, start_of_day_s)
    unit_s = axis.unit_s
    fig, axes = plt.subplots(len(panels), 1, figsize=(12, 2.6 * len(panels)), sharex=True, squeeze=False)
    for ax, (column, label) in zip(axes[:, 0], panels):
        for k, (name, ts) in enumerate(timeseries.items()):
            if column not in ts:
                continue
            y = ts[column].astype(float)
            if smooth > 1:
                y = y.rolling(smooth, min_periods=1).mean()
            ax.plot(ts["t_s"] / unit_s, y, color=VARIANT_COLORS[k % len(VARIANT_COLORS)], lw=1.4, label=name)
        _shade_faults(ax, events, end_s, unit_s)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="variant")
    for ax in axes[:, 0]:
        axis.apply(ax, end_s)
    axes[-1, 0].set_xlabel(f"{axis.label}; faults shaded")
    if title:
        fig.suptitle(title, x=0.01, ha="left", fontsize=12)
    fig.tight_layout()
    return _save(fig, path)


def pareto_front(frame: pd.DataFrame, x: str, y: str, maximize_y: bool = False) -> pd.DataFrame:
    """The rows not dominated by another (lower or equal on both, lower on one; higher for y with
    ``maximize_y``); sorted by x."""
    values = frame[[x, y]].to_numpy(dtype=float) * ([1.0, -1.0] if maximize_y else [1.0, 1.0])
    keep = [not np.any(np.all(values <= v, axis=1) & np.any(values < v, axis=1)) for v in values]
    return frame[keep].sort_values([x, y])


def _label(column: str, value) -> str:
    if isinstance(value, str):
        return value
    return f"{column.rsplit('.', 1)[-1]}={value:g}"


def _errors(frame: pd.DataFrame, column: str) -> np.ndarray | None:
    """The 95% half-widths of ``column`` (``<column>_ci95``, as ``aggregate`` writes them), or None."""
    name = f"{column}_ci95"
    if name not in frame.columns:
        return None
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(float)
    return np.nan_to_num(values) if np.isfinite(values).any() else None


def _zero_based(ax, frame: pd.DataFrame, x: str, y: str) -> None:
    """Axes of non-negative costs start at zero: a ratio of two distances from an arbitrary origin exaggerates."""
    if (pd.to_numeric(frame[x], errors="coerce") >= 0).all():
        ax.set_xlim(left=0)
    if (pd.to_numeric(frame[y], errors="coerce") >= 0).all():
        ax.set_ylim(bottom=0)


def tradeoff_chart(frame: pd.DataFrame, x: str, y: str, label_columns: Sequence[str], path,
                   x_label: str = "", y_label: str = "", title: str = "", annotate_all: bool = False,
                   colours: Mapping[str, str] | None = None, maximize_y: bool = False) -> Path:
    """Scatter of configurations on two costs (lower is better on both) with the Pareto front drawn, 95%
    whiskers in both directions where ``<x>_ci95``/``<y>_ci95`` columns exist, axes from zero. The front's
    points are numbered and listed beside the plot (every point is named on the plot with ``annotate_all``,
    coloured by ``colours[label]`` when given: designs in their report colours). With ``maximize_y`` a higher
    y is better (hit rate against false-hit rate). PNG and SVG."""
    from sim.report.style import SLIDE_FONT_PT, value_axis_formatter
    fig, ax = plt.subplots(figsize=(13.33, 7.5), dpi=DPI, layout="constrained")
    xerr, yerr = _errors(frame, x), _errors(frame, y)
    names = [", ".join(_label(c, v) for c, v in zip(label_columns, row))
             for row in frame[list(label_columns)].itertuples(index=False)]
    point_colours = [colours.get(n, "#7f7f7f") for n in names] if colours else ["#7f7f7f"] * len(frame)
    ax.errorbar(frame[x], frame[y], xerr=xerr, yerr=yerr, fmt="none", ecolor="0.6", elinewidth=1.0,
                capsize=3, zorder=1, gid="ci95")
    what = "design" if colours else "setting"
    ax.scatter(frame[x], frame[y], s=110 if colours else 36, c=point_colours, alpha=0.95, zorder=5, clip_on=False,
               label=f"{what} (95% CI whiskers)" if xerr is not None or yerr is not None else what)
    front = pareto_front(frame, x, y, maximize_y=maximize_y)
    front_colour = "0.3" if colours else "#d62728"        # designs keep their own colours; the front is grey
    ax.plot(front[x], front[y], "-", color=front_colour, lw=1.5, zorder=3, label="Pareto front")
    ax.scatter(front[x], front[y], s=190 if colours else 70, facecolors="none", edgecolors=front_colour,
               linewidths=1.6, zorder=4, clip_on=False)
    key = []
    if annotate_all:
        for xv, yv, name in zip(frame[x], frame[y], names):
            ax.annotate(name, (xv, yv), textcoords="offset points", xytext=(10, 8), fontsize=SLIDE_FONT_PT,
                        gid="point-label")
    else:
        for k, row in enumerate(front.itertuples(index=False), start=1):
            values = dict(zip(front.columns, row))
            ax.annotate(str(k), (values[x], values[y]), textcoords="offset points", xytext=(7, 5),
                        fontsize=SLIDE_FONT_PT, fontweight="bold", color="#d62728", gid="pareto-label")
            key.append(f"{k}: " + "\n    ".join(_label(c, values[c]) for c in label_columns))
    _zero_based(ax, frame, x, y)
    if annotate_all:                                  # room for the name of the rightmost point
        ax.set_xlim(right=ax.get_xlim()[1] + 0.08 * (ax.get_xlim()[1] - ax.get_xlim()[0]))
    ax.xaxis.set_major_formatter(value_axis_formatter(x))
    ax.yaxis.set_major_formatter(value_axis_formatter(y))
    ax.set_xlabel(x_label or x, fontsize=12)
    ax.set_ylabel(y_label or y, fontsize=12)
    ax.tick_params(labelsize=SLIDE_FONT_PT)
    ax.grid(alpha=0.3)
    legend = ax.legend(frameon=False, fontsize=SLIDE_FONT_PT, loc="lower right" if maximize_y else "upper right")
    if colours:                          # the marker stands for any design: not one design's colour
        legend.legend_handles[0].set_color("0.5")
    if key:                           # a legend outside the axes: constrained layout makes room for it
        blank = [Line2D([], [], linestyle="none")] * len(key)
        fig.legend(blank, key, loc="outside right upper", frameon=False, fontsize=SLIDE_FONT_PT, handlelength=0,
                   handletextpad=0, title="Pareto front\n" + ("(x lower, y higher is better)" if maximize_y else "(lower is better on both)"), title_fontsize=SLIDE_FONT_PT,
                   alignment="left").set_gid("pareto-key")
    if title:
        ax.set_title(title, loc="left", fontsize=14)
    return _save_formats(fig, path)


def _save_formats(fig, path) -> Path:
    from sim.report.style import save
    return save(fig, path, formats=("png", "svg"))


def interval_bars_chart(labels: Sequence[str], means: Sequence[float], halfwidths: Sequence[float], path,
                        y_label: str = "", title: str = "", value_format: str = "{:.4%}",
                        reference: tuple[float, str] | None = None,
                        colours: Mapping[str, str] | None = None) -> Path:
    """Availabilities (shares in [0, 1]) with 95% confidence intervals, one horizontal bar per design on a
    scale of nines (90%, 99%, 99.9%... equally spaced, so 99.9% and 99.99% differ, and no axis is cropped);
    an optional vertical reference line (value, label). ``colours``: the designs' report colours."""
    from sim.report.style import SLIDE_FONT_PT, design_colours, nines, nines_axis, NINES_CAP
    means, hw = np.asarray(means, float), np.nan_to_num(np.asarray(halfwidths, float))
    colours = dict(colours) if colours is not None else design_colours(labels)
    fig, ax = plt.subplots(figsize=(13.33, 7.5), dpi=DPI, layout="constrained")
    n = nines(means)
    lo, hi = nines(np.clip(means - hw, 0, 1)), nines(np.clip(means + hw, 0, 1))
    ref_n = float(nines(reference[0])) if reference is not None else 0.0
    finite = [v for v in (*n, *hi, ref_n) if np.isfinite(v)]
    last = nines_axis(ax, max(finite or [2.0]), "x")
    cap = last + NINES_CAP
    drawn, hi = np.where(np.isposinf(n), cap, n), np.where(np.isposinf(hi), cap, hi)
    y = np.arange(len(labels))
    ax.barh(y, np.nan_to_num(drawn), color=[colours.get(str(k), "0.5") for k in labels], height=0.6, alpha=0.9)
    err = np.nan_to_num(np.vstack([np.clip(drawn - lo, 0, None), np.clip(hi - drawn, 0, None)]))
    ax.errorbar(drawn, y, xerr=err, fmt="none", ecolor="0.15", capsize=5, lw=1.3, gid="ci95")
    for yi, m, h, end in zip(y, means, hw, np.fmax(drawn, hi)):
        text = value_format.format(m) + (f" ± {value_format.format(h)}" if h > 0 else "")
        ax.text(np.nan_to_num(end), yi, "  " + text, va="center", ha="left", fontsize=SLIDE_FONT_PT,
                bbox=dict(fc="white", ec="none", pad=1.0, alpha=0.85))
    if reference is not None:
        ax.axvline(ref_n, color="#d62728", ls="--", lw=1.4, label=reference[1])
        ax.legend(frameon=False, loc="lower right", fontsize=SLIDE_FONT_PT)
    ax.set_xlim(0, cap * 1.45)
    ax.set_yticks(y, [str(k) for k in labels], fontsize=SLIDE_FONT_PT)
    ax.invert_yaxis()
    ax.tick_params(labelsize=SLIDE_FONT_PT)
    ax.set_xlabel((y_label + ": " if y_label else "") + "each gridline one more nine (10x fewer failures)",
                  fontsize=12)
    ax.grid(axis="x", alpha=0.3)
    if title:
        ax.set_title(title, loc="left", fontsize=14)
    return _save_formats(fig, path)
