"""Charts and tables of runs, one module per chart; this module gathers their public names.

Every chart reads a run's frames and summary (a :class:`sim.results.Result`, or summaries as plain dicts),
never the SimPy model, so it works as well on a run loaded back from disk. The charts and the question each
one answers:

* :mod:`sim.report.timeline` -- :func:`timeline_chart`: *when did things go wrong, and what did it cost?*
* :mod:`sim.report.latency` -- :func:`latency_cdf_chart`: *how is latency distributed, how long is the tail?*
* :mod:`sim.report.comparison` -- :func:`comparison_chart`: *which variant is better, and by how much?*
  (with :func:`comparison_table` / :func:`format_table` from :mod:`sim.report.tables`, the same numbers
  as text)
* :mod:`sim.report.sweep` -- :func:`sweep_chart`: *where does the system bend?*
* :mod:`sim.report.experiment_charts` -- charts across the runs of an experiment.

Shared pieces: :mod:`sim.report.style` (matplotlib setup, saving, legends, the time axis),
:mod:`sim.report.run_data` (fault windows, kill-switch levels and breaker states read from typed events),
:mod:`sim.report.tables` (how every number is written).

Each ``*_chart`` function saves a PNG (at :data:`DPI`) and closes its figure, so charting many runs does not
accumulate figures; the matching ``build_*_figure`` function returns the open figure instead, for tests and
notebooks (close it with ``matplotlib.pyplot.close(fig)``).
"""
from __future__ import annotations

from pathlib import Path

from sim.report.comparison import build_comparison_figure, comparison_chart
from sim.report.latency import build_latency_cdf_figure, latency_cdf_chart
from sim.report.run_data import fault_windows, kill_switch_windows
from sim.report.style import DPI
from sim.report.sweep import build_sweep_figure, sweep_chart
from sim.report.tables import DEFAULT_TABLE_METRICS, comparison_table, format_table, format_value
from sim.report.timeline import build_timeline_figure, timeline_chart

__all__ = [
    "DPI", "DEFAULT_TABLE_METRICS", "build_timeline_figure", "timeline_chart", "build_latency_cdf_figure",
    "latency_cdf_chart", "write_run_charts", "build_comparison_figure", "comparison_chart",
    "comparison_table", "format_table", "format_value", "build_sweep_figure", "sweep_chart", "fault_windows",
    "kill_switch_windows",
]


def write_run_charts(result, folder, variant: str | None = None) -> list[Path]:
    """Write ``timeline.png`` and ``latency_cdf.png`` into ``folder``; return their paths. ``variant``: the
    design's name, in the titles."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [timeline_chart(result, folder / "timeline.png", variant=variant),
            latency_cdf_chart(result, folder / "latency_cdf.png", variant=variant)]
