"""What every chart shares: the headless matplotlib setup, sizes and colours, saving, legends, axis formats,
and the time axis (minutes or hours since the start, or clock times when the run starts at a time of day).

matplotlib is imported here, with the Agg backend unless a session already chose one, and only when a
chart module is imported (``import sim`` does not).
"""
from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np

import matplotlib

if "matplotlib.pyplot" not in sys.modules:   # headless by default, without switching a session's backend
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402

from sim.report.tables import clock_text, metric_kind  # noqa: E402

#: Resolution of every saved chart (pixels per inch); figure sizes are chosen so 10 pt text stays legible.
DPI = 110
TIMELINE_WIDTH_IN = 13.0
HOURS_ABOVE_S = 6 * 3600.0          # a run longer than this is drawn in hours, otherwise in minutes
#: A figure meant for a slide: 16:9 at the size of a widescreen slide, so its text keeps its size when pasted.
SLIDE_IN = (13.33, 7.5)
SLIDE_FONT_PT = 11.0                #: the smallest text on a slide figure
LEGEND_X = 1.085                    # legends sit right of the axes, clear of a twin axis' tick labels


# ----------------------------------------------------------------------------------------- design colours

#: One colour per design, in the order the designs are listed (the scenario's ``variants:`` order).
DESIGN_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#7f7f7f",
                  "#bcbd22", "#e377c2")


def design_colours(names) -> dict[str, str]:
    """``{design: colour}`` for designs in their listed order: every chart of one report calls this with the
    same list, so a design has the same colour in the comparison, the overlay and the CDFs."""
    return {str(name): DESIGN_COLOURS[i % len(DESIGN_COLOURS)] for i, name in enumerate(names)}


# ------------------------------------------------------------------------------------------------ saving

def save(fig, path, formats: tuple[str, ...] = ("png",)) -> Path:
    """Save ``fig`` at :data:`DPI` (creating the folder) once per format, ``path`` with that suffix
    (``formats=("png", "svg")``: ``chart.png`` and ``chart.svg``), and close it, even if saving fails.
    Returns ``path`` (the PNG's name is the one given)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        for fmt in formats:
            fig.savefig(path.with_suffix(f".{fmt}"), dpi=DPI, facecolor="white", format=fmt)
    finally:
        plt.close(fig)
    return path


def legend_outside(ax, handles=None, labels=None, **kwargs):
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    return ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(LEGEND_X, 1.0), borderaxespad=0.0,
                     frameon=False, fontsize=9, handlelength=2.2, **kwargs)


def no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.45", fontsize=10)


# ------------------------------------------------------------------------------------------- value axes

def usd_tick(value: float, _pos=None) -> str:
    v = float(value)
    text = f"{abs(v):,.0f}" if abs(v) >= 1000 else f"{abs(v):,.6f}".rstrip("0").rstrip(".")
    return ("-$" if v < 0 else "$") + (text or "0")


def percent_text(share: float, _pos=None) -> str:
    """A share in [0, 1] as a percent with as few decimals as it needs: 0.3 -> 30%, 0.005 -> 0.5%."""
    return f"{round(float(share) * 100, 6) + 0.0:g}%"


def percent_formatter():
    """The one percent tick format of every chart (30%, 2.5%, 200%), for shares stored in [0, 1]."""
    return ticker.FuncFormatter(percent_text)


def axis_formatter(name: str):
    """A tick formatter for a summary metric: percent, dollars, or plain numbers."""
    kind = metric_kind(name)
    if kind == "pct":
        return percent_formatter()
    if kind == "usd":
        return ticker.FuncFormatter(usd_tick)
    return ticker.FuncFormatter(lambda v, _: f"{v:,g}")


class UsdFormatter(ticker.Formatter):
    """Dollars with as many decimals as the tick spacing needs ($0.008, $0.010, $0.012; $1,200), not 6."""

    tick_values: tuple = ()

    def set_locs(self, locs):
        self.tick_values = tuple(locs)

    def __call__(self, value, pos=None):
        locs = [v for v in self.tick_values if np.isfinite(v)]
        step = min((abs(b - a) for a, b in zip(locs, locs[1:]) if b != a), default=abs(value) or 1.0)
        decimals = 0 if step >= 1 else next((d for d in range(2, 7) if abs(round(step, d) - step) < step * 1e-6), 6)
        text = f"{abs(value):,.{decimals}f}"
        return ("-$" if value < 0 and float(text.replace(",", "")) else "$") + text


def value_axis_formatter(name: str):
    """Like :func:`axis_formatter`, but money at the precision of the ticks (:class:`UsdFormatter`)."""
    return UsdFormatter() if metric_kind(name) == "usd" else axis_formatter(name)


#: Gaps worth naming on a time axis, in seconds, and their unit.
_DURATION_UNITS = ((86400.0, "d"), (3600.0, "h"), (60.0, "min"), (1.0, "s"))


def duration_tick(value: float, _pos=None) -> str:
    """Seconds as the largest unit that gives a short number: 600 -> 10 min, 14400 -> 4 h, 604800 -> 7 d."""
    v = float(value)
    for unit_s, name in _DURATION_UNITS:
        if abs(v) >= unit_s:
            return f"{v / unit_s:.3g} {name}"
    return "0" if v == 0 else f"{v:.3g} s"


# ------------------------------------------------------------------------- availability as "nines"

#: Availability 1.0 has infinitely many nines; a bar for it is drawn this many nines past the axis' last tick.
NINES_CAP = 0.35


def nines(availability) -> np.ndarray:
    """-log10(1 - availability): 0.9 -> 1, 0.999 -> 3, 0.9999 -> 4 (inf for 1, NaN outside [0, 1])."""
    a = np.asarray(availability, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = -np.log10(1.0 - a)
    return np.where((a >= 0) & (a <= 1), out, np.nan)


def nines_text(n: float) -> str:
    """The availability at ``n`` nines as a tick label: 0 -> 0%, 1 -> 90%, 3 -> 99.9%."""
    if n <= 0:
        return "0%"
    a = (1 - 10.0 ** -n) * 100
    decimals = max(0, int(math.ceil(n - 1e-9)) - 2)
    return f"{a:.{decimals}f}%"


def nines_axis(ax, top_nines: float, axis: str = "x") -> int:
    """Ticks at whole nines (0%, 90%, 99%, 99.9%...) up to at least ``top_nines``; returns the last tick."""
    last = max(2, int(math.ceil(top_nines + 0.05)))
    ticks = list(range(0, last + 1))
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(ticker.FixedLocator(ticks))
    target.set_major_formatter(ticker.FuncFormatter(lambda v, _: nines_text(v)))
    minor = [k + math.log10(1 / (1 - f)) for k in range(last) for f in (0.5, 0.8)]   # 50%, 80% of each decade
    target.set_minor_locator(ticker.FixedLocator([m for m in minor if m < last]))
    return last


def wrap_label(text: str, width: int) -> str:
    """Break a label into lines of at most ~width characters, after spaces, '_', '-' or '/'."""
    lines, line = [], ""
    for token in re.split(r"(?<=[ _\-/])", text):
        while len(token) > width:                     # a word longer than a line is cut
            if line:
                lines.append(line)
                line = ""
            lines.append(token[:width])
            token = token[width:]
        if line and len(line) + len(token.rstrip()) > width:
            lines.append(line)
            line = ""
        line += token
    if line:
        lines.append(line)
    return "\n".join(ln.rstrip() for ln in lines)


def pad_flat_axis(ax, values: np.ndarray, metric: str) -> None:
    """Give a metric that does not vary a sensible y range instead of matplotlib's +-tiny ticks."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if not len(finite):
        return
    lo, hi = finite.min(), finite.max()
    if hi - lo > 1e-9 * max(abs(hi), abs(lo), 1e-12):
        return
    if hi > 0:
        top = hi * 1.2
        if metric_kind(metric) == "pct" and hi <= 1:
            top = min(top, 1.05) if hi > 0.5 else top
        ax.set_ylim(0, top)
    elif hi < 0:
        ax.set_ylim(hi * 1.2, 0)
    else:
        ax.set_ylim(-1, 1)


# ------------------------------------------------------------------------------------------- time axis

#: Steps between clock-time ticks, in seconds: the first that gives at most :data:`MAX_CLOCK_TICKS` ticks.
CLOCK_STEPS_S = (60, 120, 300, 600, 900, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400,
                 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400)
MAX_CLOCK_TICKS = 10


class TimeAxis(NamedTuple):
    """How a chart draws simulated time: x values are seconds since the start divided by ``unit_s``;
    with ``start_of_day_s`` (the run's ``workload.start_time_of_day``) the ticks are clock times."""

    unit_s: float
    unit_name: str
    start_of_day_s: float | None = None

    @classmethod
    def for_run(cls, end_s: float, start_of_day_s: float | None = None) -> "TimeAxis":
        """Hours for a run longer than :data:`HOURS_ABOVE_S`, else minutes; clock times when the run starts
        at a time of day (a start of 0 counts as unset: such runs keep the time since the start)."""
        unit_s, unit_name = (3600.0, "h") if end_s > HOURS_ABOVE_S else (60.0, "min")
        start = float(start_of_day_s) if start_of_day_s else None
        return cls(unit_s, unit_name, start)

    @property
    def label(self) -> str:
        if self.start_of_day_s is not None:
            return "time of day (HH:MM)"
        return f"time since start ({self.unit_name})"

    def _tick_text(self, offset_s: float, end_s: float) -> str:
        """``HH:MM``; in a run of more than a day, prefixed by the day it falls on (``d2 00:00``)."""
        at_s = self.start_of_day_s + offset_s
        if end_s <= 86400:
            return clock_text(at_s)
        return f"d{int(at_s // 86400) + 1} {clock_text(at_s)}"

    def apply(self, ax, end_s: float) -> None:
        """Set the x range to the run and, for clock time, ticks at round clock times labelled ``HH:MM``."""
        ax.set_xlim(0, end_s / self.unit_s)
        if self.start_of_day_s is None:
            return
        start = self.start_of_day_s
        step = next((s for s in CLOCK_STEPS_S if end_s / s <= MAX_CLOCK_TICKS), CLOCK_STEPS_S[-1])
        first = math.ceil(start / step) * step - start          # seconds after the start of the first tick
        ticks_s = np.arange(first, end_s + 1e-9, step)
        ax.set_xticks(ticks_s / self.unit_s, [self._tick_text(t, end_s) for t in ticks_s])
        minor = step / 2 if step in (120, 600, 1800, 3600, 2 * 3600) else None
        if minor:
            first_minor = math.ceil(start / minor) * minor - start
            ax.set_xticks(np.arange(first_minor, end_s + 1e-9, minor) / self.unit_s, minor=True)


__all__ = ["DPI", "TIMELINE_WIDTH_IN", "HOURS_ABOVE_S", "plt", "ticker", "save", "legend_outside", "no_data",
           "usd_tick", "percent_text", "percent_formatter", "axis_formatter", "wrap_label", "pad_flat_axis",
           "TimeAxis", "DESIGN_COLOURS", "design_colours", "UsdFormatter", "value_axis_formatter",
           "duration_tick", "nines", "nines_text", "nines_axis", "SLIDE_IN", "SLIDE_FONT_PT"]
