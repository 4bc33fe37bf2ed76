"""Charts that must not mislead: the overlay of designs counts every request not served, shows coinciding
lines, the breaker's three states, the fault by name and stops at the last arrival; the CDF of the designs
tops out at their availability; a variant's own charts carry its name, its queue and its cost as headed."""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from sim.record import Event, events_frame
from sim.report.experiment_charts import build_variant_overlay_figure
from sim.report.latency import build_latency_cdf_figure, build_variants_latency_cdf_figure
from sim.report.style import design_colours, percent_text
from sim.report.timeline import build_timeline_figure

from tests.report.test_plots import make_result

FAULT = "primary down 15 min"
DURATION_S = 50 * 60.0


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def frame(shed_in_outage: int = 0, failed_in_outage: int = 0, breaker=None, minutes: int = 52) -> pd.DataFrame:
    """A per-minute timeseries of 52 minutes (two of them after the last arrival, at 50 min), outage 30-45."""
    t = np.arange(minutes) * 60.0
    outage = (t >= 1800) & (t < 2700)
    ts = pd.DataFrame({"t_s": t, "arrivals": np.where(t < DURATION_S, 300, 0), "completed_ok": 300,
                       "completed_failed": np.where(outage, failed_in_outage, 0),
                       "completed_shed": np.where(outage, shed_in_outage, 0), "completed_timeout": 0,
                       "error_rate": np.where(outage, 0.05, 0.0), "cost_usd": np.where(t < DURATION_S, 4.0, 0.5)})
    if breaker is not None:
        ts["anthropic/claude-sonnet-4.breaker"] = breaker(t)
    return ts


def outage_events(breaker_states=()) -> pd.DataFrame:
    rows = [Event(0.0, "run_start", "scenario"),
            Event(1800.0, "fault_start", "anthropic", fault_kind="outage", fault_name=FAULT),
            Event(2700.0, "fault_end", "anthropic", fault_kind="outage", fault_name=FAULT)]
    rows += [Event(at, "breaker", "anthropic/claude-sonnet-4", from_state=a, to_state=b)
             for at, a, b in breaker_states]
    return events_frame(rows + [Event(52 * 60.0, "run_end", "scenario")])


def overlay(**options):
    flapping = [(1830.0, "closed", "open"), (1860.0, "open", "half_open"), (1870.0, "half_open", "open"),
                (2720.0, "open", "half_open"), (2725.0, "half_open", "closed")]
    series = {"no_resilience": frame(failed_in_outage=300), "retries": frame(failed_in_outage=300),
              "breaker_fallback_queue": frame(shed_in_outage=72, breaker=lambda t: np.zeros(len(t)))}
    events = {"no_resilience": outage_events(), "retries": outage_events(),
              "breaker_fallback_queue": outage_events(flapping)}
    panels = [("not_served", "Requests not served per {interval}"), ("error_rate", "calls failing"),
              ("anthropic/claude-sonnet-4.breaker", "Circuit breaker"), ("cost_usd", "Cost (USD) per {interval}")]
    options = {"events": events, "duration_s": DURATION_S, "start_of_day_s": 13.5 * 3600,
               "colours": design_colours(["breaker_fallback_queue", "no_resilience", "retries"]), **options}
    return build_variant_overlay_figure(series, panels, **options)


def panel(fig, title_start: str):
    (ax,) = [a for a in fig.axes if a.get_title(loc="left").startswith(title_start)]
    return ax


def test_overlay_counts_every_request_not_served_so_a_queue_that_sheds_does_not_look_perfect():
    fig = overlay()
    ax = panel(fig, "Requests not served per 1 min")
    lines = {line.get_label(): line for line in ax.get_lines()}
    queue = lines["breaker_fallback_queue"]
    x, y = queue.get_xdata(), queue.get_ydata()
    in_outage = (x > 30) & (x < 45)                            # minutes since the start: 14:00-14:15
    assert (y[in_outage] == 72).all() and (y[~in_outage] == 0).all()
    assert lines["no_resilience"].get_ydata().max() == 300


def test_overlay_designs_keep_their_colour_and_coinciding_lines_differ_in_style():
    fig = overlay()
    lines = {line.get_label(): line for line in panel(fig, "Requests not served").get_lines()}
    colours = design_colours(["breaker_fallback_queue", "no_resilience", "retries"])
    assert {name: line.get_color() for name, line in lines.items()} == colours
    same = lines["no_resilience"], lines["retries"]                   # identical data
    assert np.array_equal(same[0].get_ydata(), same[1].get_ydata())
    assert same[0].get_linestyle() != same[1].get_linestyle()
    assert same[0].get_marker() != same[1].get_marker()
    assert same[0].get_linewidth() > same[1].get_linewidth()         # the later, thinner one drawn inside


def test_overlay_names_the_fault_in_the_legend():
    fig = overlay()
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert f"fault: {FAULT}" in labels
    assert labels[:3] == ["no_resilience", "retries", "breaker_fallback_queue"]


def test_overlay_breaker_is_a_step_chart_of_closed_half_open_open_from_events():
    fig = overlay()
    ax = panel(fig, "Circuit breaker")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["closed", "half-open", "open"]
    (line,) = ax.get_lines()                                          # small multiples: one design a row
    assert line.get_drawstyle() == "steps-post"
    assert set(np.round(line.get_ydata())) == {0.0, 1.0, 2.0}         # half-open within one minute shows
    assert "no breaker: no_resilience, retries" in ax.get_title(loc="left")
    assert [t.get_text() for t in ax.texts] == ["breaker_fallback_queue"]     # the one design that has it


def test_overlay_ends_at_the_last_arrival_and_labels_the_interval():
    fig = overlay()
    ax = panel(fig, "Cost (USD) per 1 min")
    assert ax.get_xlim()[1] == pytest.approx(DURATION_S / 60)
    assert all(line.get_ydata().min() == 4.0 for line in ax.get_lines())   # the drain's fall is not drawn
    assert "drain" in fig.axes[-1].get_xlabel() and "per 1 min interval" in fig.axes[-1].get_xlabel()


def test_overlay_shares_in_percent():
    ax = panel(overlay(), "calls failing")
    ax.figure.canvas.draw()
    assert all(t.get_text().endswith("%") for t in ax.get_yticklabels() if t.get_text())


def requests(n: int, failed_share: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    outcome = np.where(rng.random(n) < failed_share, "failed", "ok")
    return pd.DataFrame({"arrival_s": rng.uniform(0, 3600, n), "outcome": outcome,
                         "latency_s": rng.lognormal(1.0, 0.5, n)})


def test_cdf_of_the_designs_tops_out_at_their_availability():
    frames = {"calm": requests(5000, 0.0), "outage": requests(5000, 0.2, seed=1)}
    fig = build_variants_latency_cdf_figure(frames, warmup_s=300.0)
    ax = fig.axes[0]
    tops = {line.get_label().split(":")[0]: line.get_ydata().max() for line in ax.get_lines()
            if ":" in line.get_label()}
    measured = frames["outage"][frames["outage"]["arrival_s"] >= 300]
    assert tops["outage"] == pytest.approx((measured["outcome"] == "ok").mean())
    assert tops["outage"] == pytest.approx(0.8, abs=0.02) and tops["calm"] == pytest.approx(1.0)
    assert "never answered" in ax.get_ylabel()


def test_a_variants_own_charts_carry_its_name(scenario):  # noqa: F811
    result = make_result(scenario)
    assert "/ breaker_fallback" in build_timeline_figure(result, variant="breaker_fallback")._suptitle.get_text()
    assert "/ breaker_fallback" in build_latency_cdf_figure(result, variant="breaker_fallback").axes[0].get_title(loc="left")


def test_timeline_legends_leave_out_all_zero_series_and_show_a_queue_when_requests_waited(scenario):  # noqa: F811
    plain = build_timeline_figure(make_result(scenario))
    legends = [t.get_text() for ax in plain.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert "ok answers hallucinated" not in legends                      # no answer was wrong
    assert not any(ax.get_title(loc="left").startswith("Gateway queue") for ax in plain.axes)
    queued = build_timeline_figure(make_result(scenario, queued=True))
    assert any(ax.get_title(loc="left").startswith("Gateway queue") for ax in queued.axes)


def test_timeline_cumulative_cost_ends_at_the_headers_cost(scenario):  # noqa: F811
    result = make_result(scenario)
    fig = build_timeline_figure(result)
    cost = [ax for ax in fig.axes if ax.get_ylabel() == "cumulative USD"][0]
    (line,) = cost.get_lines()
    assert line.get_ydata()[-1] == pytest.approx(result.summary["cost_usd"])
    assert "cumulative, as in the header" in line.get_label()


def test_timeline_greys_out_the_drain_after_the_last_arrival(scenario):  # noqa: F811
    result = make_result(scenario)                      # requests still end after the hour's last arrival
    fig = build_timeline_figure(result)
    traffic = [ax for ax in fig.axes if ax.get_title(loc="left").startswith("Traffic")][0]
    assert any("drain" in t.get_text() for t in traffic.texts)


def test_one_percent_format():
    assert [percent_text(v) for v in (0.3, 0.005, 2.0, 0.30000000000000004, -0.0)] == \
        ["30%", "0.5%", "200%", "30%", "0%"]
