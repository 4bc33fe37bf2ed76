"""Charts that compare designs across runs: the pictures a design review asks for.

* :func:`variant_overlay_chart` -- *how did each design live through the same incident?* One panel per
  quantity (requests not served, error rate, p95 latency, breaker state, spend...), one line per variant,
  the fault windows shaded and named: the variants ran on the same traffic and the same faults, so the lines
  differ only by design.
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

from sim.report.run_data import breaker_series, fault_windows, with_derived_columns
from sim.report.style import DPI, TimeAxis, design_colours, no_data, percent_formatter, plt, ticker, usd_tick
from sim.report.tables import duration_text, metric_kind

from sim.report.style import DESIGN_COLOURS as VARIANT_COLORS  # noqa: E402  (one palette for every chart)


def _save(fig, path) -> Path:
    path = Path(path)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


FAULT_SHADE_COLOURS = ("#d62728", "#9467bd", "#ff7f0e", "#e377c2", "#8c564b")
#: Line styles and markers per design, in the designs' order: lines that coincide still show each design.
LINE_STYLES = ("-", (0, (6, 2)), (0, (1.5, 1.5)), (0, (6, 2, 1.5, 2)), (0, (10, 3)), (0, (3, 1, 1, 1, 1, 1)))
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
BREAKER_LEVELS = ("closed", "half-open", "open")


def _shade_faults(ax, events: pd.DataFrame | None, end_s: float, unit_s: float) -> list:
    """Shade each fault window; return one legend patch per fault, labelled with its name (else its kind)."""
    from matplotlib.patches import Patch

    if events is None or not len(events):
        return []
    colour_of: dict[str, str] = {}
    for row in fault_windows(events, end_s).itertuples():
        label = f"fault: {row.name or row.kind.replace('_', ' ')}"
        colour = colour_of.setdefault(label, FAULT_SHADE_COLOURS[len(colour_of) % len(FAULT_SHADE_COLOURS)])
        ax.axvspan(row.start_s / unit_s, row.end_s / unit_s, color=colour, alpha=0.12, lw=0, zorder=0)
    return [Patch(facecolor=c, alpha=0.25, label=label) for label, c in colour_of.items()]


def _interval_s(ts: pd.DataFrame) -> float:
    step = ts["t_s"].diff().median() if len(ts) > 1 else None
    return float(step) if step and np.isfinite(step) and step > 0 else 60.0


def _breaker_steps(column: str, ts: pd.DataFrame, events: pd.DataFrame | None, end_s: float):
    """(times_s, state codes) of the breaker named by ``column`` (``<subject>.breaker``): from the run's
    breaker events (every transition, half-open included), else sampled from the column; None without one."""
    return breaker_series(ts, events, _interval_s(ts), end_s).get(column[: -len(".breaker")])


def _plot_breaker(ax, steps, style, end_s, unit_s) -> None:
    """One design's breaker as a step chart over closed / half-open / open."""
    t, y = steps
    keep = t <= end_s
    t, y = np.append(t[keep], end_s), np.append(y[keep], y[keep][-1] if keep.any() else 0.0)
    ax.step(t / unit_s, y, where="post", color=style["color"], lw=1.3, zorder=3)
    ax.set_yticks([0, 1, 2], BREAKER_LEVELS, fontsize=8.5)
    ax.set_ylim(-0.4, 2.4)


def _rows(panels, timeseries, events_of, end_s):
    """(column, title, design, breaker steps) per axes: a breaker panel becomes small multiples, one row
    per design that has the breaker (overlaid, designs flapping open / half-open hid each other)."""
    rows = []
    for column, label in panels:
        if not column.endswith(".breaker"):
            rows.append((column, label, None, None))
            continue
        steps = {name: _breaker_steps(column, ts, events_of.get(name), end_s) for name, ts in timeseries.items()}
        missing = [name for name, st in steps.items() if st is None]
        if missing:
            label += " (no breaker: " + ", ".join(missing) + ")"
        present = [(name, st) for name, st in steps.items() if st is not None]
        for i, (name, st) in enumerate(present):
            rows.append((column, label if i == 0 else "", name, st))
        if not present:
            rows.append((column, label, None, None))
    return rows


def variant_overlay_chart(timeseries: Mapping[str, pd.DataFrame], panels: Sequence[tuple[str, str]], path,
                          **options) -> Path:
    """Save :func:`build_variant_overlay_figure` (same ``options``) as a PNG at ``path``."""
    return _save(build_variant_overlay_figure(timeseries, panels, **options), path)


def build_variant_overlay_figure(timeseries: Mapping[str, pd.DataFrame], panels: Sequence[tuple[str, str]],
                                 events: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None, title: str = "",
                                 smooth: int = 1, start_of_day_s: float | None = None,
                                 duration_s: float | None = None, colours: Mapping[str, str] | None = None,
                                 warmup_s: float = 0.0):
    """One panel per ``panels`` entry (timeseries column, title), one line per variant, faults shaded and
    named in the legend.

    A title may hold ``{interval}`` (the interval's length, "1 min"). The column :data:`NOT_SERVED` is the
    requests that ended without an answer; a ``<subject>.breaker`` column is drawn as small multiples, a
    step chart of closed / half-open / open for each design that has that breaker. Designs
    get ``colours`` (from :func:`~sim.report.style.design_colours` over the scenario's variants, by default
    over these), a line style and markers of their own, so that lines that coincide all show. ``events``:
    one frame (faults shaded from it) or one per variant (faults from the first, breakers from each).
    ``duration_s`` (the scenario's): the x axis ends there, the drain after the last arrival is not drawn.
    ``smooth`` = rolling intervals; ``start_of_day_s`` labels the time axis with clock times."""
    timeseries = {name: with_derived_columns(ts) for name, ts in timeseries.items()}
    events_of = dict(events) if isinstance(events, Mapping) else {}
    fault_events = next(iter(events_of.values()), None) if events_of else events
    interval_s = _interval_s(next(iter(timeseries.values())))
    run_end_s = max(float(ts["t_s"].iloc[-1]) + interval_s for ts in timeseries.values())
    end_s = float(duration_s) if duration_s else run_end_s
    axis = TimeAxis.for_run(end_s, start_of_day_s)
    unit_s = axis.unit_s
    colours = dict(colours or design_colours(timeseries))
    styles = {name: {"color": colours.get(name, VARIANT_COLORS[k % len(VARIANT_COLORS)]),
                     "ls": LINE_STYLES[k % len(LINE_STYLES)], "marker": MARKERS[k % len(MARKERS)]}
              for k, name in enumerate(timeseries)}
    rows = _rows(panels, timeseries, events_of, end_s)
    heights = [0.8 if design else 2.5 for _, _, design, _ in rows]
    fig, axes = plt.subplots(len(rows), 1, figsize=(12, sum(heights) + 0.6), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    fault_handles = []
    for ax, (column, label, design, steps) in zip(axes[:, 0], rows):
        if design is not None:
            _plot_breaker(ax, steps, styles[design], end_s, unit_s)
            ax.text(1.005, 0.5, design, transform=ax.transAxes, ha="left", va="center", fontsize=8.5,
                    color=styles[design]["color"])
        elif column.endswith(".breaker"):
            no_data(ax, "no design has this breaker")
        else:
            _plot_lines(ax, column, timeseries, styles, smooth, end_s, interval_s, unit_s)
        if warmup_s > 0:
            ax.axvspan(0, warmup_s / unit_s, facecolor=(0.5, 0.5, 0.5, 0.08), edgecolor=(0.45, 0.45, 0.45, 0.4),
                       hatch="///", linewidth=0, zorder=0)
        fault_handles = _shade_faults(ax, fault_events, end_s, unit_s) or fault_handles
        if label:
            ax.set_title(label.format(interval=duration_text(interval_s)), loc="left", fontsize=10.5)
        ax.grid(alpha=0.3)
    _overlay_legend(axes[0, 0], styles, fault_handles, warmup_s)
    for ax in axes[:, 0]:
        axis.apply(ax, end_s)
    note = ""
    if duration_s and run_end_s > end_s + 1e-9:
        note = "; the axis ends with the last arrival (the drain after it is not drawn)"
    axes[-1, 0].set_xlabel(f"{axis.label}; points per {duration_text(interval_s)} interval{note}")
    if title:
        fig.suptitle(title, x=0.01, ha="left", fontsize=12)
    fig.tight_layout()
    return fig


def _plot_lines(ax, column, timeseries, styles, smooth, end_s, interval_s, unit_s) -> None:
    """One line per design at the middle of each interval that starts before ``end_s``; the first design
    widest, so a later one drawn on top of it leaves it visible; markers staggered between designs."""
    n = len(timeseries)
    kind = metric_kind(column)
    top, bottom = 0.0, 0.0
    for k, (name, ts) in enumerate(timeseries.items()):
        if column not in ts:
            continue
        inside = ts["t_s"].to_numpy(float) < end_s - 1e-9
        t = ts["t_s"].to_numpy(float)[inside]
        y = pd.to_numeric(ts[column], errors="coerce")[inside].astype(float)
        if smooth > 1:
            y = y.rolling(smooth, min_periods=1).mean()
        x = (t + np.minimum(interval_s, end_s - t) / 2) / unit_s
        every = max(1, len(x) // 10)
        ax.plot(x, y.to_numpy(), color=styles[name]["color"], ls=styles[name]["ls"],
                lw=2.8 - 1.6 * k / max(n - 1, 1), marker=styles[name]["marker"], ms=5,
                markevery=(k * every // max(n, 1), every), zorder=2 + k, label=name)
        top = max(top, float(np.nanmax(y.to_numpy(), initial=0.0)))
        bottom = min(bottom, float(np.nanmin(y.to_numpy(), initial=0.0)))
    if kind == "pct":
        ax.yaxis.set_major_formatter(percent_formatter())
    elif kind == "usd":
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(usd_tick))
    if bottom >= 0:                 # counts, shares and costs start at zero, so a small change looks small
        ax.set_ylim(bottom=0, top=(top * 1.12) or 1)


def _overlay_legend(ax, styles, fault_handles, warmup_s) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], color=s["color"], ls=s["ls"], marker=s["marker"], ms=5, lw=1.6, label=name)
               for name, s in styles.items()]
    handles += fault_handles
    if warmup_s > 0:
        handles.append(Patch(facecolor=(0.5, 0.5, 0.5, 0.08), edgecolor=(0.45, 0.45, 0.45, 0.4), hatch="///",
                             label=f"warm-up ({duration_text(warmup_s)}, not in the summary)"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="design",
              alignment="left", fontsize=9)


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


#: Colours of a model group's deployments in :func:`deployment_share_chart`, in the group's order.
DEPLOYMENT_COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22")


def deployment_share_chart(calls: Mapping[str, pd.DataFrame], events: Mapping[str, pd.DataFrame],
                           deployments: Sequence[str], path, interval_s: float, end_s: float, title: str = "",
                           notes: Mapping[str, str] | None = None, start_of_day_s: float | None = None) -> Path:
    """*Where did each strategy send the traffic?* One panel per design: provider attempts started per
    interval, stacked by deployment (the group's, in order, then every other target as one band), with the
    calls answered 429 drawn as a black line and the fault windows shaded. ``notes`` adds a line of text
    under each panel's title (e.g. the design's 429s and calls into the fault)."""
    from matplotlib.patches import Patch
    names = list(calls)
    ncols = 2 if len(names) > 1 else 1
    nrows = -(-len(names) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(13.33, 2.6 * nrows + 1.2), dpi=DPI, sharex=True, sharey=True,
                             layout="constrained", squeeze=False)
    axis = TimeAxis.for_run(end_s, start_of_day_s)
    edges = np.arange(0.0, end_s + interval_s, interval_s)
    per = interval_s / 60.0
    bands = [*deployments, "other targets (fallback)"]
    colours = {**{d: DEPLOYMENT_COLOURS[i % len(DEPLOYMENT_COLOURS)] for i, d in enumerate(deployments)},
               "other targets (fallback)": "#ff7f0e"}
    fault_handles = []
    for k, name in enumerate(names):
        ax = axes[k // ncols][k % ncols]
        frame = calls[name]
        frame = frame[~frame["shadow"].to_numpy()] if "shadow" in frame else frame
        label = (frame["provider"].astype(str) + "/" + frame["model"].astype(str)).to_numpy()
        start = frame["start_s"].to_numpy()
        stacks = []
        for band in bands:
            mine = ~np.isin(label, deployments) if band == bands[-1] else label == band
            stacks.append(np.histogram(start[mine], edges)[0] / per)
        x = edges[:-1] / axis.unit_s
        ax.stackplot(x, *stacks, colors=[colours[b] for b in bands], alpha=0.85, step="post", lw=0)
        limited = np.histogram(start[(frame["status"].astype(str) == "rate_limited").to_numpy()], edges)[0] / per
        ax.step(x, limited, where="post", color="black", lw=1.3)
        fault_handles = _shade_faults(ax, events.get(name), end_s, axis.unit_s) or fault_handles
        ax.set_title(name.replace("_", " ") + (f"\n{notes[name]}" if notes and name in notes else ""),
                     fontsize=11, loc="left")
        ax.grid(alpha=0.3)
        axis.apply(ax, end_s)
        if k % ncols == 0:
            ax.set_ylabel("calls per minute")
    for k in range(len(names), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
        above = axes[k // ncols - 1][k % ncols]          # the panel above an empty slot shows the time axis
        above.tick_params(labelbottom=True)
        above.set_xlabel(axis.label)
    for ax in axes[-1]:
        if ax.get_visible():
            ax.set_xlabel(axis.label)
    handles = [Patch(facecolor=colours[b], alpha=0.85, label=b) for b in bands]
    handles.append(Line2D([], [], color="black", lw=1.3, label="of them answered 429"))
    fig.legend(handles=handles + fault_handles, loc="outside lower center", ncols=min(6, len(handles) + 1),
               fontsize=11, frameon=False)
    if title:
        fig.suptitle(title, fontsize=13)
    return _save(fig, path)
