"""Charts that don't mislead: the comparison, trade-off, sweep and tune charts a design review pastes on a
slide. Whiskers where there are intervals, availability on a scale where 99.9% and 99.99% differ, names
whole, money and rates with their units, axes from zero, the Pareto points labelled, SVG beside the PNG."""
import xml.etree.ElementTree as ET

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer

from sim.report.comparison import build_comparison_figure, comparison_chart
from sim.report.experiment_charts import pareto_front, tradeoff_chart
from sim.report.style import (DESIGN_COLOURS, SLIDE_FONT_PT, UsdFormatter, design_colours, duration_tick,
                              nines, nines_text)
from sim.report.sweep import build_sweep_figure

NAMES = ["no_resilience", "breaker_fallback_with_a_very_long_design_name", "breaker_fallback_queue", "two_keys"]


def summary(availability, failed=0, timeout=0, shed=0, **extra):
    total = 10_000
    return {"requests_total": total, "availability": availability, "requests_failed": failed,
            "requests_timeout": timeout, "requests_shed": shed, "latency_p95_s": 30.0,
            "cost_per_request_usd": 0.0108, "quality_failure_rate": 0.02, "seed": 7, **extra}


SUMMARIES = {NAMES[0]: summary(0.7, failed=2990, timeout=10), NAMES[1]: summary(0.999, failed=10),
             NAMES[2]: summary(0.9, timeout=80, shed=920), NAMES[3]: summary(0.9999, failed=1)}


def table_with_halfwidths() -> pd.DataFrame:
    frame = pd.DataFrame.from_dict(SUMMARIES, orient="index")
    for m in ("availability", "latency_p95_s", "cost_per_request_usd", "quality_failure_rate"):
        frame[f"{m}_ci95"] = frame[m] * 0.001 if m == "availability" else frame[m] * 0.1
    frame["availability_ci95"] = 0.00002
    frame["requests_not_ok"] = frame[["requests_failed", "requests_timeout", "requests_shed"]].sum(axis=1)
    frame["requests_not_ok_ci95"] = 25.0
    frame["replications"] = 5
    frame.index.name = "variant"
    return frame


def panels(fig) -> dict:
    return {ax.get_title(loc="left"): ax for ax in fig.axes if ax.get_title(loc="left")}


def errorbars(ax) -> list:
    return [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


def texts(fig) -> list:
    return [t for t in fig.findobj(plt.Text) if t.get_text().strip() and t.get_visible()]


def test_nines():
    assert np.allclose(nines([0.9, 0.999, 0.9999]), [1, 3, 4])
    assert np.isinf(nines(1.0)) and np.isnan(nines(1.5))
    assert [nines_text(n) for n in (0, 1, 2, 3, 4)] == ["0%", "90%", "99%", "99.9%", "99.99%"]


def test_comparison_availability_axis_tells_three_nines_from_four():
    fig = build_comparison_figure(SUMMARIES)
    ax = panels(fig)["availability (one gridline per nine)"]
    widths = [p.get_width() for p in ax.patches]
    lo, hi = ax.get_xlim()
    assert (widths[3] - widths[1]) / (hi - lo) > 0.1          # 99.99% visibly longer than 99.9%
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert {"99.9%", "99.99%"} <= set(labels)
    plt.close(fig)


def test_comparison_names_whole_in_scenario_order_and_colours():
    colours = design_colours(["other", *NAMES])                  # the scenario lists a design not run here
    fig = build_comparison_figure(SUMMARIES, colours=colours)
    ax = panels(fig)["latency p95 (s)"]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == NAMES
    assert [p.get_facecolor()[:3] for p in ax.patches] == [plt.matplotlib.colors.to_rgb(DESIGN_COLOURS[i])
                                                             for i in range(1, 5)]
    plt.close(fig)


def test_comparison_stacks_shed_and_timed_out_requests():
    fig = build_comparison_figure(SUMMARIES)
    ax = panels(fig)["requests not answered"]
    shed = [p for p in ax.patches if p.get_gid() == "outcome:requests_shed"]
    assert [p.get_width() for p in shed] == [0, 0, 920, 0]
    queue_total = sum(p.get_width() for p in ax.patches if abs(p.get_y() + p.get_height() / 2 - 2) < 1e-9)
    assert queue_total == 1000                                   # the queue that fails none does not look perfect
    assert "1,000" in [t.get_text().strip() for t in ax.texts]
    plt.close(fig)


def test_comparison_whiskers_only_with_halfwidths(tmp_path):
    single = build_comparison_figure(SUMMARIES)
    assert not any(errorbars(ax) for ax in single.axes)
    plt.close(single)
    fig = build_comparison_figure(table_with_halfwidths(), title="Primary down 15 minutes")
    for title, ax in panels(fig).items():
        assert len(errorbars(ax)) == 1, title
    assert "95% confidence intervals" in fig.get_suptitle() and "5 replications" in fig.get_suptitle()
    plt.close(fig)


def test_comparison_is_a_readable_16_9_slide_with_an_svg(tmp_path):
    fig = build_comparison_figure(table_with_halfwidths(), title="Primary down 15 minutes")
    w, h = fig.get_size_inches()
    assert w / h == pytest.approx(16 / 9, rel=0.01)
    small = [(t.get_text(), t.get_fontsize()) for t in texts(fig) if t.get_fontsize() < SLIDE_FONT_PT]
    assert not small
    plt.close(fig)
    out = comparison_chart(table_with_halfwidths().reset_index(), tmp_path / "comparison.png", title="x")
    assert out == tmp_path / "comparison.png" and out.stat().st_size > 1000
    root = ET.parse(tmp_path / "comparison.svg").getroot()
    assert root.tag.endswith("svg")


def test_usd_ticks_and_durations():
    fmt = UsdFormatter()
    fmt.set_locs([0.0, 0.0025, 0.005, 0.0075])
    assert [fmt(v) for v in (0.0, 0.0025, 0.005)] == ["$0.0000", "$0.0025", "$0.0050"]
    fmt.set_locs([0, 500, 1000, 1500])
    assert fmt(1500) == "$1,500"
    assert [duration_tick(v) for v in (600, 3600, 14400, 86400, 604800)] == ["10 min", "1 h", "4 h", "1 d", "7 d"]


def breaker_table() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for threshold in (0.2, 0.5):
        for window in (10, 50, 100):
            rows.append({"resilience.breaker.failure_rate_threshold": threshold,
                         "resilience.breaker.window_size": window,
                         "false_trips": float(rng.integers(0, 20)), "false_trips_ci95": 2.0,
                         "failed_during_faults": float(rng.integers(30, 300)), "failed_during_faults_ci95": 15.0})
    return pd.DataFrame(rows)


def test_tradeoff_chart_whiskers_both_ways_pareto_labels_and_zero_axes(tmp_path):
    table = breaker_table()
    out = tradeoff_chart(table, "false_trips", "failed_during_faults", ["resilience.breaker.failure_rate_threshold",
                         "resilience.breaker.window_size"], tmp_path / "tradeoff.png", title="t")
    assert out.is_file() and ET.parse(tmp_path / "tradeoff.svg").getroot().tag.endswith("svg")
    fig = plt.gcf()
    plt.close(fig)
    # rebuild to inspect: tradeoff_chart closes its figure, so draw again and keep it open
    import sim.report.experiment_charts as charts
    kept = {}
    original = charts._save_formats
    charts._save_formats = lambda fig, path: kept.setdefault("fig", fig) and path
    try:
        tradeoff_chart(table, "false_trips", "failed_during_faults", ["resilience.breaker.window_size"],
                       tmp_path / "t2.png")
    finally:
        charts._save_formats = original
    fig = kept["fig"]
    ax = fig.axes[0]
    bars = errorbars(ax)
    assert len(bars) == 1 and bars[0].has_xerr and bars[0].has_yerr
    front = pareto_front(table, "false_trips", "failed_during_faults")
    labels = [t for t in ax.texts if t.get_gid() == "pareto-label"]
    assert [t.get_text() for t in labels] == [str(k) for k in range(1, len(front) + 1)]
    key = [t.get_text() for t in fig.legends[0].get_texts()]
    assert key[0].startswith("1: window_size=")
    assert ax.get_xlim()[0] == 0 and ax.get_ylim()[0] == 0
    plt.close(fig)


def test_pareto_front_maximizing_y():
    frame = pd.DataFrame({"false_hit_rate": [0.0, 0.0, 0.001, 0.002], "cache_hit_rate": [0.2, 0.3, 0.4, 0.35]})
    front = pareto_front(frame, "false_hit_rate", "cache_hit_rate", maximize_y=True)
    assert list(front.index) == [1, 2]


def test_sweep_ttl_axis_in_minutes_hours_days_and_rates_from_zero():
    runs = pd.DataFrame({"cache.ttl_s": [600, 3600, 14400, 86400, 604800],
                         "cache_hit_rate": [0.2, 0.25, 0.25, 0.25, 0.25], "stale_rate": [0.0] * 5,
                         "cost_per_request_usd": [0.0100, 0.0096, 0.0096, 0.0096, 0.0096]})
    fig = build_sweep_figure(runs, "cache.ttl_s", ["cache_hit_rate", "stale_rate", "cost_per_request_usd"])
    fig.canvas.draw()
    hit, stale, cost = [ax for ax in fig.axes if ax.get_visible()]
    assert [t.get_text() for t in hit.get_xticklabels()] == ["10 min", "1 h", "4 h", "1 d", "7 d"]
    assert hit.get_ylim()[0] == 0 and hit.get_ylim()[1] > 0.25
    assert all(t.get_text().endswith("%") for t in hit.get_yticklabels() if t.get_text())
    assert stale.get_ylim() == (0, 0.01)
    assert all(t.get_text().startswith("$") and len(t.get_text()) <= 7 for t in cost.get_yticklabels()
               if t.get_text())
    plt.close(fig)


def test_interval_bars_put_availability_on_nines_with_whiskers(tmp_path):
    import sim.report.experiment_charts as charts
    from sim.report.experiment_charts import interval_bars_chart
    kept = {}
    original = charts._save_formats
    charts._save_formats = lambda fig, path: kept.setdefault("fig", fig) and path
    try:
        interval_bars_chart(["one", "two", "three"], [0.999, 0.9999, 0.99999], [0.0002, 0.00002, 0.000002],
                            tmp_path / "a.png", reference=(0.9999, "99.99%"))
    finally:
        charts._save_formats = original
    ax = kept["fig"].axes[0]
    widths = [p.get_width() for p in ax.patches]
    assert np.allclose(widths, [3, 4, 5])                      # one nine apart each, none cropped away
    assert ax.get_xlim()[0] == 0 and len(errorbars(ax)) == 1
    assert [t.get_text() for t in ax.get_yticklabels()] == ["one", "two", "three"]
    plt.close(kept["fig"])
