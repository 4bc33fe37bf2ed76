"""Charts: each writes a real PNG of the expected size, faults and the warm-up are shaded where they happened,
figures are closed, and the comparison table holds and formats the summary values."""
import math
import struct
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import sim
from sim import metrics
from sim.report import plots
from sim.record import Event, events_frame
from sim.results import Result

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
OUTCOMES = ("ok", "failed", "timeout", "refused", "rate_limited", "shed", "killed")
STATUSES = ("ok", "error", "timeout", "rate_limited", "refused")


# ----------------------------------------------------------------------------------------------- helpers

def png_size(path: Path) -> tuple[int, int]:
    data = Path(path).read_bytes()
    assert len(data) > 1000, "PNG is (nearly) empty"
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def expected_px(fig) -> tuple[int, int]:
    w, h = fig.get_size_inches() * plots.DPI
    return round(w), round(h)


def assert_png_like(path: Path, fig) -> None:
    """``fig`` is the same chart built by its build_* function: the file must have its pixel size."""
    w, h = png_size(path)
    ew, eh = expected_px(fig)
    plt.close(fig)
    assert abs(w - ew) <= 1 and abs(h - eh) <= 1, ((w, h), (ew, eh))


def make_result(scenario, faults=(), extra_events=(), ts_columns=None, limits=None, n=600, seed=0,
                queued=False) -> Result:
    """A small synthetic run: n requests over the scenario's hour, one call each, some failures; with
    ``queued``, every request waited a tenth of its latency in the gateway's queue."""
    rng = np.random.default_rng(seed)
    arrival = np.sort(rng.uniform(0, scenario.duration, n))
    latency = rng.lognormal(0.3, 0.6, n)
    outcome = np.where(rng.random(n) < 0.9, "ok", rng.choice(["failed", "timeout", "shed"], n))
    ok = outcome == "ok"
    cost = np.where(outcome == "shed", 0.0, 0.002)
    requests = pd.DataFrame({
        "request_id": np.arange(n), "arrival_s": arrival, "user_id": rng.integers(0, 20, n),
        "outcome": pd.Categorical(outcome, categories=OUTCOMES), "latency_s": latency,
        "ttft_s": np.where(ok, latency * 0.3, np.nan), "queue_wait_s": latency * (0.1 if queued else 0.0),
        "input_tokens": 100, "output_tokens": 100, "cost_usd": cost, "llm_cost_usd": cost,
        "step_cost_usd": 0.0, "provider": pd.Categorical(["p1"] * n), "model": pd.Categorical(["m"] * n),
        "attempts": 1, "llm_calls": 1, "hallucinated": False, "parse_failed": False, "complexity": 0.5,
        "intent_id": 0, "end_s": arrival + latency,
    })
    sent = outcome != "shed"
    status = np.select([outcome == "failed", outcome == "timeout"], ["error", "timeout"], "ok")[sent]
    calls = pd.DataFrame({
        "request_id": requests["request_id"][sent].to_numpy(), "call_index": 0, "attempt": 1,
        "provider": "p1", "model": "m", "start_s": arrival[sent], "end_s": (arrival + latency)[sent],
        "duration_s": latency[sent], "status": pd.Categorical(status, categories=STATUSES),
        "input_tokens": 100, "output_tokens": 100, "cost_usd": cost[sent], "hallucinated": False,
        "parse_failed": False,
    })
    end_s = float(requests["end_s"].max())
    ts = metrics.timeseries(requests, calls, scenario.output.interval_s, limits or {}, end_s)
    for name, values in (ts_columns or {}).items():
        ts[name] = values(ts["t_s"].to_numpy()) if callable(values) else values
    rows = [Event(0.0, "run_start", "scenario"), Event(end_s, "run_end", "scenario")]
    for subject, kind, start, stop in faults:
        rows.append(Event(start, "fault_start", subject, fault_kind=kind, fault_name=f"{kind} {subject}"))
        if stop is not None:
            rows.append(Event(stop, "fault_end", subject, fault_kind=kind, fault_name=f"{kind} {subject}"))
    rows.extend(extra_events)
    events = events_frame(rows)
    summary = metrics.summary(requests, calls, scenario.warmup, scenario.duration)
    summary["seed"] = scenario.seed
    return Result(scenario=scenario, requests=requests, calls=calls, timeseries=ts,
                  events=events, summary=summary)


def panel_axes(fig):
    """The timeline's data panels: every axes but the fault strip and the cost panel's twin."""
    return [ax for ax in fig.axes if any(p.get_gid() == "warmup" for p in ax.patches)
            and not ax.get_title(loc="left").startswith("Injected")]


def spans(ax, gid: str) -> list[tuple[float, float]]:
    """x extents (data units) of the axvspan patches tagged ``gid`` (Polygon or Rectangle alike)."""
    out = []
    for patch in ax.patches:
        if patch.get_gid() == gid:
            xs = patch.get_patch_transform().transform(patch.get_path().vertices)[:, 0]
            out.append((round(float(xs.min()), 6), round(float(xs.max()), 6)))
    return sorted(out)


@pytest.fixture(autouse=True)
def close_figures():
    plt.close("all")
    yield
    plt.close("all")


def bottom_axes(fig):
    (ax,) = [a for a in fig.axes if a.get_xlabel()]
    return ax


# ----------------------------------------------------------------------------------------------- timeline

def test_faults_are_shaded_on_every_panel_and_named(scenario):
    result = make_result(scenario, faults=[("p1", "outage", 1200.0, 1800.0),
                                           ("p1/m", "rate_limit", 3000.0, None)])   # never ends
    fig = plots.build_timeline_figure(result)
    end_min = float(result.events["time_s"].max()) / 60
    axes = panel_axes(fig)
    assert len(axes) == 4                                  # traffic, latency, errors, cost
    for ax in axes:
        assert spans(ax, "fault") == [(20.0, 30.0), (50.0, round(end_min, 6))]
        assert spans(ax, "warmup") == [(0.0, 5.0)]
    strip = [ax for ax in fig.axes if ax.get_title(loc="left").startswith("Injected")]
    assert len(strip) == 1
    labels = {t.get_text() for t in strip[0].get_yticklabels()}
    assert labels == {"p1", "p1/m"}
    legend = {t.get_text() for t in strip[0].get_legend().get_texts()}
    assert legend == {"outage", "rate limit"}
    plt.close(fig)


def test_no_fault_no_fault_shading(scenario):
    fig = plots.build_timeline_figure(make_result(scenario))
    axes = panel_axes(fig)
    assert len(axes) == 4
    assert all(spans(ax, "fault") == [] for ax in fig.axes)
    assert not any(ax.get_title(loc="left").startswith("Injected") for ax in fig.axes)
    assert bottom_axes(fig).get_xlabel() == "time since start (min)"
    plt.close(fig)


def test_breaker_and_utilisation_panels_only_when_recorded(scenario):
    plain = plots.build_timeline_figure(make_result(scenario))
    titles = [ax.get_title(loc="left") for ax in plain.axes]
    assert not any("breaker" in t or "utilisation" in t for t in titles)
    plt.close(plain)

    breaker = {"p1/m.breaker": lambda t: np.where((t >= 1200) & (t < 1800), 2.0, 0.0),
               "p1/m.v2.breaker": 0.0}                     # a model name may itself contain dots
    fig = plots.build_timeline_figure(make_result(scenario, ts_columns=breaker, limits={"p1": {"rpm": 20.0}}))
    (ax,) = [a for a in fig.axes if a.get_title(loc="left").startswith("Circuit breaker")]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["p1/m", "p1/m.v2"]
    (ax,) = [a for a in fig.axes if "utilisation" in a.get_title(loc="left")]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["p1: requests/min", "limit"]
    plt.close(fig)


def test_breaker_state_falls_back_to_events(scenario):
    events = [Event(1000.0, "breaker", "p1/m", "closed", "open", "failure_rate", 0.62, 0.5),
              Event(1030.0, "breaker", "p1/m", "open", "half_open", "wait_in_open_elapsed"),
              Event(1040.0, "breaker", "p1/m", "half_open", "closed", "trial_passed"),
              Event(2000.0, "kill_switch", "hour", "normal", "hard", value=10.2, limit=10.0)]
    fig = plots.build_timeline_figure(make_result(scenario, extra_events=events))
    (ax,) = [a for a in fig.axes if a.get_title(loc="left").startswith("Circuit breaker")]
    (line,) = ax.get_lines()
    assert list(np.round(line.get_ydata()[:4])) == [0, 2, 1, 0]
    strip = [a for a in fig.axes if a.get_title(loc="left").startswith("Injected")]
    assert [t.get_text() for t in strip[0].get_yticklabels()] == ["kill switch"]
    plt.close(fig)


def test_long_runs_are_drawn_in_hours(scenario):
    long = scenario.model_copy(update={"duration": 7 * 3600.0, "warmup": 1800.0})
    fig = plots.build_timeline_figure(make_result(long, n=300))
    assert bottom_axes(fig).get_xlabel() == "time since start (h)"
    assert spans(panel_axes(fig)[0], "warmup") == [(0.0, 0.5)]
    plt.close(fig)


def test_fault_windows_pairs_per_fault_and_target():
    def fault_event(time_s, kind, subject, fault_kind, name):
        return Event(time_s, kind, subject, fault_kind=fault_kind, fault_name=name)

    ev = events_frame([fault_event(10.0, "fault_start", "a", "outage", "down"),
                       fault_event(20.0, "fault_start", "a", "latency", "slow"),
                       fault_event(30.0, "fault_end", "a", "latency", "slow"),
                       fault_event(40.0, "fault_end", "a", "outage", "down"),
                       fault_event(5.0, "fault_end", "b", "outage", "down"),      # an end without a start: ignored
                       fault_event(50.0, "fault_start", "b", "outage", "down"),   # a start without an end: to the end
                       fault_event(60.0, "fault_start", "a", "outage", "again"),  # same kind, another fault
                       fault_event(70.0, "fault_end", "a", "outage", "again")])
    w = plots.fault_windows(ev, end_s=100.0)
    assert list(w.itertuples(index=False, name=None)) == [
        ("a", "outage", "down", 10.0, 40.0), ("a", "latency", "slow", 20.0, 30.0),
        ("b", "outage", "down", 50.0, 100.0), ("a", "outage", "again", 60.0, 70.0)]


# ----------------------------------------------------------------------------------------- latency CDF

def test_latency_cdf_marks_the_percentiles(scenario):
    result = make_result(scenario)
    fig = plots.build_latency_cdf_figure(result)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    req = result.requests
    ok = req[(req["outcome"] == "ok") & (req["arrival_s"] >= scenario.warmup)]
    for col in ("latency_s", "ttft_s"):
        want = np.quantile(ok[col], [0.5, 0.95, 0.99])
        markers = [ln for ln in ax.get_lines() if ln.get_marker() == "o"
                   and np.allclose(ln.get_xdata(), want)]
        assert len(markers) == 1, col
        assert np.allclose(markers[0].get_ydata(), [0.5, 0.95, 0.99])
    plt.close(fig)


def test_write_run_charts_writes_pngs_of_the_figure_size(scenario, tmp_path):
    result = make_result(scenario, faults=[("p1", "outage", 1200.0, 1800.0)])
    paths = plots.write_run_charts(result, tmp_path / "run")
    assert paths == [tmp_path / "run" / "timeline.png", tmp_path / "run" / "latency_cdf.png"]
    assert_png_like(paths[0], plots.build_timeline_figure(result))
    assert_png_like(paths[1], plots.build_latency_cdf_figure(result))
    assert plt.get_fignums() == []
    plots.comparison_chart(SUMMARIES, tmp_path / "c.png")
    plots.sweep_chart(sweep_runs(), "rate_per_s", ["latency_p95_s"], tmp_path / "s.png")
    assert plt.get_fignums() == [], "a chart function left a figure open"


def test_charts_cope_with_no_ok_requests(scenario):
    result = make_result(scenario)
    result.requests["outcome"] = pd.Categorical(["failed"] * len(result.requests), categories=OUTCOMES)
    result.requests["ttft_s"] = np.nan
    for col in ("latency_p50_s", "latency_p95_s", "latency_p99_s"):
        result.timeseries[col] = np.nan
    for fig in (plots.build_timeline_figure(result), plots.build_latency_cdf_figure(result)):
        assert any("no ok requests" in t.get_text() for ax in fig.axes for t in ax.texts)
        plt.close(fig)


# ------------------------------------------------------------------------------------------ comparison

SUMMARIES = {
    "baseline": {"requests_total": 10000, "availability": 0.995, "requests_failed": 50, "latency_p50_s": 2.0238,
                 "latency_p95_s": 7.1705, "ttft_p95_s": 0.41234, "cost_usd": 1234.5678,
                 "cost_per_request_usd": 0.00012346, "seed": 7},
    "with_fallback": {"requests_total": 10000, "availability": 0.99995, "requests_failed": 1,
                      "latency_p50_s": 10.24896, "latency_p95_s": 0.0123456, "ttft_p95_s": None,
                      "cost_usd": 12.3, "cost_per_request_usd": 1.5, "seed": 7},
}


def test_comparison_chart(tmp_path):
    out = plots.comparison_chart(SUMMARIES, tmp_path / "cmp.png", title="Fallback or not")
    fig = plots.build_comparison_figure(SUMMARIES)
    titled = [ax for ax in fig.axes if ax.get_title(loc="left")]
    assert [ax.get_title(loc="left") for ax in titled] == [
        "availability (one gridline per nine)", "requests not answered", "latency p95 (s)", "cost per request (USD)"]
    for ax, metric in zip(titled, ("availability", "requests_failed", "latency_p95_s", "cost_per_request_usd")):
        assert len(ax.patches) == 2 or metric == "requests_failed"           # one bar per variant
        bar_values = [t.get_text().strip() for t in ax.texts]
        assert bar_values == [plots.format_value(metric, s[metric]) for s in SUMMARIES.values()]
    assert [t.get_text() for t in titled[0].get_yticklabels()] == ["baseline", "with_fallback"]
    assert "seed 7 (common random numbers)" in fig.get_suptitle()
    assert_png_like(out, fig)
    assert (tmp_path / "cmp.svg").is_file()


def test_comparison_table_values():
    df = plots.comparison_table(SUMMARIES)
    assert list(df.index) == ["baseline", "with_fallback"]
    assert list(df.columns) == list(plots.DEFAULT_TABLE_METRICS)
    assert df.loc["baseline", "latency_p95_s"] == pytest.approx(7.1705)
    assert df.loc["with_fallback", "availability"] == pytest.approx(0.99995)
    assert math.isnan(df.loc["with_fallback", "ttft_p95_s"])
    chosen = plots.comparison_table(SUMMARIES, metrics=["cost_usd", "not_a_metric"])
    assert list(chosen.columns) == ["cost_usd", "not_a_metric"]
    assert chosen["not_a_metric"].isna().all()


def test_format_table(monkeypatch):
    monkeypatch.setattr("sim.report.tables.TABLE_WIDTH", None)          # --wide: one block
    text = plots.format_table(plots.comparison_table(SUMMARIES))
    lines = text.splitlines()
    assert lines[0].split() == ["variant", *plots.DEFAULT_TABLE_METRICS]
    assert set(lines[1].replace(" ", "")) == {"-"}
    baseline, fallback = lines[2].split(), lines[3].split()
    assert baseline == ["baseline", "10,000", "99.50%", "50", "2.02", "7.17", "0.412", "$1,235", "$0.000123"]
    assert fallback == ["with_fallback", "10,000", "99.995%", "1", "10.2", "0.0123", "n/a", "$12.30", "$1.50"]
    assert len({len(line) for line in lines[:2]}) == 1                       # columns line up


@pytest.mark.parametrize("metric, value, text", [
    ("availability", 1.0, "100%"), ("availability", 0.9, "90.00%"), ("availability", 0.999999, "99.9999%"),
    ("error_rate", 0.0, "0%"), ("error_rate", 0.00001, "<0.01%"), ("latency_p99_s", 1234.4, "1,234"),
    ("latency_p99_s", 0.000123456, "0.000123"), ("latency_p99_s", 9.996, "10.0"), ("cost_usd", 0.0, "$0"),
    ("cost_usd", 0.5, "$0.500"), ("cost_usd", 42.0, "$42.00"), ("requests_total", 1234567, "1,234,567"),
    ("latency_p95_s", float("nan"), "n/a"), ("latency_p95_s", None, "n/a"), ("mean_concurrency", 3.14159, "3.14"),
])
def test_format_value(metric, value, text):
    assert plots.format_value(metric, value) == text


# ----------------------------------------------------------------------------------------------- sweep

def sweep_runs() -> pd.DataFrame:
    rows = []
    for c in (4, 8):
        for rate in (1.0, 2.0, 3.0, 3.5):
            for rep in range(2):
                rho = rate / c
                rows.append({"rate_per_s": rate, "concurrency": c, "replication": rep,
                             "latency_p95_s": 1 / (1 - rho) + 0.1 * rep, "availability": 1.0,
                             "cost_per_request_usd": 0.0002})
    return pd.DataFrame(rows)


def test_sweep_chart_with_hue_and_knee(tmp_path):
    runs = sweep_runs()
    ys = ["latency_p95_s", "availability", "cost_per_request_usd"]
    out = plots.sweep_chart(runs, "rate_per_s", ys, tmp_path / "sweep.png", hue="concurrency", knee=3.0)
    fig = plots.build_sweep_figure(runs, "rate_per_s", ys, hue="concurrency", knee=3.0)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == len(ys)
    for ax in visible:
        knees = [ln for ln in ax.get_lines() if ln.get_gid() == "knee"]
        assert len(knees) == 1 and list(knees[0].get_xdata()) == [3.0, 3.0]
        means = [ln for ln in ax.get_lines() if ln.get_gid() != "knee"]
        assert len(means) == 2                                                # one line per concurrency
    first = visible[0].get_lines()[0]
    expected = runs[runs.concurrency == 4].groupby("rate_per_s")["latency_p95_s"].mean()
    assert np.allclose(first.get_ydata(), expected.to_numpy())
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["4", "8", "knee: rate_per_s = 3"]
    assert_png_like(out, fig)


def test_sweep_chart_single_metric_without_hue(tmp_path):
    out = plots.sweep_chart(sweep_runs(), "concurrency", ["latency_p95_s"], tmp_path / "s.png")
    assert png_size(out)
    with pytest.raises(KeyError):
        plots.sweep_chart(sweep_runs(), "rate_per_s", ["nope"], tmp_path / "bad.png")


# ------------------------------------------------------------------------------------------------ import

def test_import_sim_does_not_import_matplotlib():
    code = "import sys, sim, sim.results; assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ------------------------------------------------------------------------------------------ real runs

@pytest.fixture(scope="module")
def incident_run():
    """A run that really recorded an outage with breaker trips, and a kill switch going soft then hard."""
    from tests.test_metrics import incident_scenario
    return sim.simulate(incident_scenario())


def lane_bars(strip, lane: int) -> list[tuple[float, float]]:
    """x extents of the bars drawn in one lane of the event strip (lanes are at y = 0, 1, 2...)."""
    out = []
    for coll in strip.collections:
        for path in coll.get_paths():
            xs, ys = path.vertices[:, 0], path.vertices[:, 1]
            if abs((ys.min() + ys.max()) / 2 - lane) < 1e-6:
                out.append((round(float(xs.min()), 6), round(float(xs.max()), 6)))
    return sorted(out)


def test_kill_switch_and_breaker_lanes_on_a_real_run(incident_run):
    fig = plots.build_timeline_figure(incident_run)
    (strip,) = [a for a in fig.axes if a.get_title(loc="left").startswith("Injected")]
    lanes = [t.get_text() for t in strip.get_yticklabels()]
    assert lanes == ["alpha", "all", "kill switch"]
    ks = incident_run.events[incident_run.events["kind"] == "kill_switch"]
    soft_s, hard_s = ks["time_s"]
    end_s = max(float(incident_run.events["time_s"].max()), incident_run.scenario.duration)   # the chart's end
    end_min = round(end_s / 60, 6)
    assert lane_bars(strip, lanes.index("kill switch")) == [(round(soft_s / 60, 6), round(hard_s / 60, 6)),
                                                             (round(hard_s / 60, 6), end_min)]
    legend = {t.get_text() for t in strip.get_legend().get_texts()}
    assert {"kill switch soft", "kill switch hard", "outage", "cost spike"} <= legend
    assert lane_bars(strip, lanes.index("alpha")) == [(10.0, 15.0)]
    (breaker,) = [a for a in fig.axes if a.get_title(loc="left").startswith("Circuit breaker")]
    (line,) = breaker.get_lines()
    drawn = line.get_ydata()                        # every transition, from the breaker events
    br = incident_run.events[incident_run.events["kind"] == "breaker"]
    codes = br["to_state"].astype(object).map(metrics.BREAKER_STATE_CODE).to_numpy(float)
    assert np.array_equal(drawn, np.concatenate([[0.0], codes, codes[-1:]]))
    assert set(drawn) == {0.0, 1.0, 2.0}            # half-open shows, though no interval ends in it
    plt.close(fig)


def test_a_loaded_run_draws_the_same_lanes(incident_run, tmp_path):
    incident_run.save(tmp_path / "run", charts=False)
    loaded = Result.load(tmp_path / "run")
    assert plots.kill_switch_windows(loaded.events, 1800.0) == plots.kill_switch_windows(incident_run.events, 1800.0)
    pd.testing.assert_frame_equal(plots.fault_windows(loaded.events, 1800.0),
                                  plots.fault_windows(incident_run.events, 1800.0))


def test_kill_switch_level_is_the_worst_of_its_windows():
    events = events_frame([Event(10.0, "kill_switch", "hour", "normal", "soft"),
                           Event(20.0, "kill_switch", "user_day:7", "normal", "hard"),
                           Event(30.0, "kill_switch", "user_day:7", "hard", "normal"),
                           Event(40.0, "kill_switch", "hour", "soft", "normal"),
                           Event(50.0, "kill_switch", "day", "normal", "soft")])
    assert plots.kill_switch_windows(events, 100.0) == [(10.0, 20.0, "soft"), (20.0, 30.0, "hard"),
                                                        (30.0, 40.0, "soft"), (50.0, 100.0, "soft")]


# ------------------------------------------------------------------------------------------ clock time

def with_start(scenario, start_of_day_s):
    return scenario.model_copy(update={"workload": scenario.workload.model_copy(
        update={"start_time_of_day": start_of_day_s})})


def test_time_axis_shows_clock_times_when_the_run_starts_at_a_time_of_day(scenario):
    fig = plots.build_timeline_figure(make_result(with_start(scenario, 13 * 3600 + 27 * 60)))
    ax = bottom_axes(fig)
    assert ax.get_xlabel() == "time of day (HH:MM)"
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["13:30", "13:40", "13:50", "14:00", "14:10", "14:20"]
    assert np.allclose(ax.get_xticks(), [3, 13, 23, 33, 43, 53])          # minutes after the 13:27 start
    plt.close(fig)


def test_clock_times_wrap_at_midnight_and_long_runs_tick_in_hours(scenario):
    long = with_start(scenario.model_copy(update={"duration": 7 * 3600.0, "warmup": 0.0}), 22 * 3600)
    fig = plots.build_timeline_figure(make_result(long, n=300))
    ticks = [t.get_text() for t in bottom_axes(fig).get_xticklabels()]
    assert ticks[:4] == ["22:00", "23:00", "00:00", "01:00"]
    plt.close(fig)


def test_clock_times_of_a_run_longer_than_a_day_name_the_day():
    from sim.report.style import TimeAxis
    axis = TimeAxis.for_run(3 * 86400.0, 8 * 3600.0)
    fig, ax = plt.subplots()
    axis.apply(ax, 3 * 86400.0)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["d1 12:00", "d2 00:00", "d2 12:00", "d3 00:00",
                                                            "d3 12:00", "d4 00:00"]
    plt.close(fig)


def test_charts_never_read_the_detail_column(incident_run):
    from sim.report.run_data import breaker_series
    blank = incident_run.events.assign(detail="")
    assert plots.kill_switch_windows(blank, 1800.0) == plots.kill_switch_windows(incident_run.events, 1800.0)
    pd.testing.assert_frame_equal(plots.fault_windows(blank, 1800.0), plots.fault_windows(incident_run.events, 1800.0))
    no_columns = incident_run.timeseries[["t_s"]]                   # force the breaker lane to read events
    got, want = (breaker_series(no_columns, ev, 60.0, 1800.0) for ev in (blank, incident_run.events))
    assert got.keys() == want.keys() == {"alpha/m1"}
    assert all(np.array_equal(a, b) for a, b in zip(got["alpha/m1"], want["alpha/m1"]))
    assert set(got["alpha/m1"][1]) == {0.0, 1.0, 2.0}               # from events, half-open is seen too
