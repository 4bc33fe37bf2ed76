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

from sim.report.run_data import NOT_SERVED, breaker_series, fault_windows, with_derived_columns
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


def pareto_front(frame: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """The rows not dominated by another (lower or equal on both, lower on one); sorted by x."""
    values = frame[[x, y]].to_numpy(dtype=float)
    keep = [not np.any(np.all(values <= v, axis=1) & np.any(values < v, axis=1)) for v in values]
    return frame[keep].sort_values([x, y])


def _label(column: str, value) -> str:
    if isinstance(value, str):
        return value
    return f"{column.rsplit('.', 1)[-1]}={value:g}"


def tradeoff_chart(frame: pd.DataFrame, x: str, y: str, label_columns: Sequence[str], path,
                   x_label: str = "", y_label: str = "", title: str = "", annotate_all: bool = False) -> Path:
    """Scatter of configurations on two costs (lower is better on both) with the Pareto front drawn; the
    front's points are labelled (every point with ``annotate_all``)."""
    fig, ax = plt.subplots(figsize=(10, 6.5))
    ax.scatter(frame[x], frame[y], s=28, color="#7f7f7f", alpha=0.7, label="configuration")
    front = pareto_front(frame, x, y)
    if annotate_all:
        for row in frame.itertuples(index=False):
            values = dict(zip(frame.columns, row))
            ax.annotate(", ".join(_label(c, values[c]) for c in label_columns), (values[x], values[y]),
                        textcoords="offset points", xytext=(6, -10), fontsize=8, color="#555555")
    ax.plot(front[x], front[y], "-o", color="#d62728", lw=1.5, ms=6, label="Pareto front")
    for row in front.itertuples(index=False) if not annotate_all else ():
        values = dict(zip(front.columns, row))
        text = ", ".join(_label(c, values[c]) for c in label_columns)
        ax.annotate(text, (values[x], values[y]), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xlabel(x_label or x)
    ax.set_ylabel(y_label or y)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    if title:
        ax.set_title(title, loc="left")
    fig.tight_layout()
    return _save(fig, path)


def interval_bars_chart(labels: Sequence[str], means: Sequence[float], halfwidths: Sequence[float], path,
                        y_label: str = "", title: str = "", value_format: str = "{:.4%}",
                        reference: tuple[float, str] | None = None) -> Path:
    """Bars of shares in [0, 1] (means with 95% confidence intervals), zoomed to where they differ; an
    optional horizontal reference line (value, label)."""
    fig, ax = plt.subplots(figsize=(8, 5))
    x = np.arange(len(labels))
    ax.bar(x, means, yerr=halfwidths, capsize=6, color=VARIANT_COLORS[: len(labels)], alpha=0.85)
    for xi, m, h in zip(x, means, halfwidths):
        ax.annotate(value_format.format(m) + (f" ± {value_format.format(h)}" if np.isfinite(h) else ""),
                    (xi, m), textcoords="offset points", xytext=(0, 8), ha="center", fontsize=9)
    if reference is not None:
        ax.axhline(reference[0], color="#d62728", ls="--", lw=1.2, label=reference[1])
        ax.legend(frameon=False, loc="lower right")
    lo = min(np.nanmin(np.asarray(means) - np.nan_to_num(halfwidths)), reference[0] if reference else 1.0)
    ax.set_ylim(max(0.0, lo - (1 - lo) * 0.5), 1.0 + (1 - lo) * 0.15)
    ax.set_xticks(x, labels)
    ax.set_ylabel(y_label)
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title, loc="left")
    fig.tight_layout()
    return _save(fig, path)
