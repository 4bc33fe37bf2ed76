"""Every chart, by one public name: ``sim.plot.timeline_chart(result, path)``.

The charts live in :mod:`sim.report` (one module per kind); this module only gathers them for notebooks and
scripts, so they need not know that layout. Importing it imports matplotlib. A ``*_chart`` function saves
a PNG and closes its figure (show it with ``IPython.display.Image(path)``); a ``build_*_figure`` function
returns the open figure instead (a notebook shows it inline).

* one run: :func:`timeline_chart` / :func:`build_timeline_figure`, :func:`latency_cdf_chart` /
  :func:`build_latency_cdf_figure`, :func:`write_run_charts` (both into a folder);
* designs: :func:`comparison_chart` / :func:`build_comparison_figure` (summaries side by side),
  :func:`variant_overlay_chart` (timelines overlaid, faults shaded), :func:`interval_bars_chart` (means with
  95% intervals), :func:`tradeoff_chart` (two costs and the Pareto front);
* many settings: :func:`sweep_chart` / :func:`build_sweep_figure`, :func:`tune_chart`.
"""
from sim.report.comparison import build_comparison_figure, comparison_chart
from sim.report.experiment_charts import interval_bars_chart, tradeoff_chart, variant_overlay_chart
from sim.report.latency import build_latency_cdf_figure, latency_cdf_chart
from sim.report.plots import write_run_charts
from sim.report.sweep import build_sweep_figure, sweep_chart
from sim.report.timeline import build_timeline_figure, timeline_chart
from sim.report.tune import tune_chart

__all__ = ["build_comparison_figure", "comparison_chart", "interval_bars_chart", "tradeoff_chart",
           "variant_overlay_chart", "build_latency_cdf_figure", "latency_cdf_chart", "write_run_charts",
           "build_sweep_figure", "sweep_chart", "build_timeline_figure", "timeline_chart", "tune_chart"]
