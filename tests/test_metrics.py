"""Metrics on events a real run emitted: breaker states, time to open and to recover, false trips, the kill
switch's trip times and the detection of a silent degradation -- each checked against what the run's calls
say independently (the breaker's window, the running spend), not against the metric's own code."""
import math

import numpy as np
import pandas as pd
import pytest

import sim
from sim import metrics
from sim.faults import FaultWindow
from sim.record import EVENT_KINDS
from tests.conftest import small_scenario

OUTAGE_START_S, OUTAGE_END_S = 600.0, 900.0
SPIKE_START_S = 1200.0
WINDOW_SIZE, MINIMUM_CALLS, FAILURE_RATE_THRESHOLD = 20, 10, 0.5
PER_HOUR_USD, SOFT_FRACTION = 12.0, 0.8


def incident_scenario(**more):
    """30 simulated minutes: the primary (alpha) down for 5 minutes with a breaker and fallback, then a
    runaway loop that trips the hourly kill switch to soft and then hard."""
    return small_scenario(**{
        "routing.chain": ["alpha/m1", "beta/m2"],
        "resilience.fallback": True,
        "resilience.breaker": {"window_type": "count", "window_size": WINDOW_SIZE, "minimum_calls": MINIMUM_CALLS,
                               "failure_rate_threshold": FAILURE_RATE_THRESHOLD, "wait_in_open_s": 30,
                               "permitted_calls_in_half_open": 3},
        "resilience.kill_switch": {"per_hour_usd": PER_HOUR_USD, "soft_fraction": SOFT_FRACTION},
        "faults": [{"kind": "outage", "name": "alpha down", "targets": ["alpha"], "start": OUTAGE_START_S,
                    "duration": OUTAGE_END_S - OUTAGE_START_S},
                   {"kind": "cost_spike", "name": "loop", "start": SPIKE_START_S, "duration": 300, "share": 0.2,
                    "extra_llm_calls": 10, "token_multiplier": 3}],
        **more,
    })


@pytest.fixture(scope="module")
def incident():
    return sim.simulate(incident_scenario())


def breaker_rows(events: pd.DataFrame, to_state: str | None = None) -> pd.DataFrame:
    rows = events[events["kind"] == "breaker"]
    return rows if to_state is None else rows[rows["to_state"] == to_state]


# ------------------------------------------------------------------------------------------ the frame

def test_events_frame_is_typed(incident):
    ev = incident.events
    assert list(ev.columns) == ["time_s", "kind", "subject", "from_state", "to_state", "reason", "value", "limit",
                                "fault_kind", "fault_name", "detail"]
    assert list(ev["kind"].cat.categories) == list(EVENT_KINDS)
    for column in ("subject", "from_state", "to_state", "reason", "fault_kind"):
        assert isinstance(ev[column].dtype, pd.CategoricalDtype), column
    # the same categories in every run, whatever happened in it
    assert list(ev["to_state"].cat.categories) == ["closed", "half_open", "open", "normal", "soft", "hard",
                                                   "available", "cooling_down"]
    assert "hallucination_rate" in ev["reason"].cat.categories and "latency" in ev["fault_kind"].cat.categories
    assert ev["time_s"].is_monotonic_increasing
    breaker = breaker_rows(ev)
    assert set(breaker["subject"]) == {"alpha/m1"}
    assert set(breaker["to_state"]) == {"open", "half_open", "closed"}
    opened = breaker[breaker["to_state"] == "open"]
    assert (opened["value"] >= opened["limit"]).all() and (opened["limit"] == FAILURE_RATE_THRESHOLD).all()
    assert set(opened["reason"]) == {"failure_rate"}
    ks = ev[ev["kind"] == "kill_switch"]
    assert list(zip(ks["from_state"], ks["to_state"])) == [("normal", "soft"), ("soft", "hard")]
    assert (ks["limit"] == PER_HOUR_USD).all() and list(ks["subject"]) == ["hour", "hour"]
    faults = ev[ev["kind"].isin(["fault_start", "fault_end"])]
    assert set(zip(faults["fault_kind"], faults["fault_name"])) == {("outage", "alpha down"), ("cost_spike", "loop")}


@pytest.mark.parametrize("which", ["incident", "quiet"])
def test_events_survive_a_save_and_load(which, incident, tmp_path):
    run = incident if which == "incident" else sim.simulate(small_scenario(duration="2m"))   # no breaker, no fault
    run.save(tmp_path / "run", charts=False)
    loaded = sim.results.Result.load(tmp_path / "run")
    pd.testing.assert_frame_equal(loaded.events, run.events)


def test_no_metric_reads_the_detail_column(incident):
    """The people-only sentence can say anything: blanking it changes no number and no breaker state."""
    blank = incident.events.assign(detail="")
    windows = [FaultWindow(OUTAGE_START_S, OUTAGE_END_S, "outage", "alpha down", ("alpha",)),
               FaultWindow(SPIKE_START_S, SPIKE_START_S + 300, "cost_spike", "loop", ())]
    args = (incident.requests, incident.calls)
    assert metrics.resilience_summary(*args, blank, 0.0, windows) == \
        pytest.approx(metrics.resilience_summary(*args, incident.events, 0.0, windows), nan_ok=True)
    times = np.arange(0.0, 1800.0, 7.0)
    got = metrics.breaker_states(blank, times)
    assert got.keys() == {"alpha/m1"} and np.array_equal(got["alpha/m1"],
                                                         metrics.breaker_states(incident.events, times)["alpha/m1"])


# ------------------------------------------------------------------------------------------ the breaker

def test_breaker_states_follow_the_transitions(incident):
    ev = breaker_rows(incident.events)
    times = ev["time_s"].to_numpy()
    states = metrics.breaker_states(incident.events, np.concatenate([[0.0, OUTAGE_START_S], times,
                                                                      [incident.summary["simulated_time_s"]]]))
    codes = states["alpha/m1"]
    assert codes[0] == 0 and codes[1] == 0                      # closed until the outage
    expected = ev["to_state"].astype(object).map({"closed": 0, "half_open": 1, "open": 2}).to_numpy()
    assert np.array_equal(codes[2:-1], expected)                # at each transition: its new state
    assert codes[-1] == 0                                       # closed again at the end
    column = incident.timeseries["alpha/m1.breaker"].to_numpy()
    interval_s = incident.scenario.output.interval_s
    assert np.array_equal(column, states_at_bin_ends(incident.events, len(column), interval_s))


def states_at_bin_ends(events, n_bins, interval_s):
    return metrics.breaker_states(events, (np.arange(n_bins) + 1) * interval_s)["alpha/m1"]


def test_time_to_open_is_when_the_breaker_window_fills_with_failures(incident):
    """Rebuilt from the calls alone: the count window holds the last 20 results of alpha's calls (in the
    order they finished); the breaker opens at the first finish that makes it >= 10 calls and >= 50% failed."""
    calls = incident.calls[incident.calls["provider"] == "alpha"].sort_values("end_s", kind="stable")
    failed = (calls["status"] != "ok").astype(float)
    window_rate = failed.rolling(WINDOW_SIZE, min_periods=MINIMUM_CALLS).mean()
    first_open_s = calls["end_s"][(window_rate >= FAILURE_RATE_THRESHOLD).to_numpy()].iloc[0]
    assert first_open_s >= OUTAGE_START_S
    assert incident.summary["time_to_open_s"] == pytest.approx(first_open_s - OUTAGE_START_S)
    assert incident.summary["false_trips"] == 0


def test_time_to_recover_is_the_first_close_after_the_fault(incident):
    closes = breaker_rows(incident.events, "closed")["time_s"]
    after = closes[closes >= OUTAGE_END_S]
    recover_s = incident.summary["time_to_recover_s"]
    assert recover_s == pytest.approx(after.iloc[0] - OUTAGE_END_S)
    assert 0 < recover_s
    # no call to alpha succeeded between the fault's end and the close minus the wait in open
    ok = incident.calls[(incident.calls["provider"] == "alpha") & (incident.calls["status"] == "ok")]
    first_ok_after = ok["end_s"][ok["end_s"] >= OUTAGE_END_S].min()
    assert first_ok_after <= OUTAGE_END_S + recover_s


def test_false_trips_count_opens_outside_the_windows_of_that_target(incident):
    ev, args = incident.events, (incident.requests, incident.calls)
    opens_from_closed = int(((ev["kind"] == "breaker") & (ev["from_state"] == "closed")
                             & (ev["to_state"] == "open")).sum())
    assert opens_from_closed == 1

    def false_trips(*windows):
        return metrics.resilience_summary(*args, ev, 0.0, list(windows))["false_trips"]

    assert false_trips() == 1                                                   # no fault: a trip on noise
    assert false_trips(FaultWindow(0.0, 1800.0, "outage", "x", ("alpha",))) == 0   # the provider's fault
    assert false_trips(FaultWindow(0.0, 1800.0, "outage", "x", ("alpha/m1",))) == 0   # the model's
    assert false_trips(FaultWindow(0.0, 1800.0, "outage", "x", ())) == 0        # a fault on everything
    assert false_trips(FaultWindow(0.0, 1800.0, "outage", "x", ("beta",))) == 1  # another target's fault
    assert false_trips(FaultWindow(0.0, 300.0, "outage", "x", ("alpha",))) == 1  # over before the trip


def test_a_quiet_run_has_no_resilience_times():
    r = sim.simulate(small_scenario(**{"duration": "5m"}))
    assert r.summary["breaker_transitions"] == 0 and r.summary["false_trips"] == 0
    for key in ("time_to_open_s", "time_to_recover_s", "kill_switch_soft_after_s", "degradation_detected_after_s"):
        assert math.isnan(r.summary[key]), key


# ------------------------------------------------------------------------------------------ kill switch

def test_kill_switch_trips_when_the_running_spend_crosses_its_levels(incident):
    """Rebuilt from the calls alone: spend is counted when an ok call finishes; the run is shorter than the
    hour, so the window holds everything. Soft at 80% of the limit, hard at the limit."""
    ok = incident.calls[(incident.calls["status"] == "ok") & ~incident.calls["shadow"]].sort_values("end_s")
    spend = ok["cost_usd"].cumsum().to_numpy()
    soft_s = ok["end_s"].to_numpy()[np.argmax(spend >= SOFT_FRACTION * PER_HOUR_USD)]
    hard_s = ok["end_s"].to_numpy()[np.argmax(spend >= PER_HOUR_USD)]
    assert SPIKE_START_S < soft_s < hard_s
    assert incident.summary["kill_switch_soft_after_s"] == pytest.approx(soft_s - SPIKE_START_S)
    assert incident.summary["kill_switch_hard_after_s"] == pytest.approx(hard_s - SPIKE_START_S)
    assert incident.summary["requests_killed"] > 0


# ------------------------------------------------------------------------------------------ degradation

def test_degradation_is_detected_by_a_quality_trip_only():
    """A silent degradation of beta while alpha is down: an error breaker trips on alpha (not a detection);
    the hallucination threshold on beta's breaker is what detects the degradation."""
    scenario = incident_scenario(**{
        "resilience.breaker.hallucination_rate_threshold": 0.4,
        "faults": [{"kind": "outage", "name": "alpha down", "targets": ["alpha"], "start": 300, "duration": 1200},
                   {"kind": "degradation", "name": "beta wrong", "targets": ["beta"], "start": 600,
                    "duration": 600, "hallucination_prob": 0.8}]})
    r = sim.simulate(scenario)
    ev = r.events
    quality = ev[(ev["kind"] == "breaker") & (ev["to_state"] == "open")
                 & ev["reason"].isin(["hallucination_rate", "parse_failure_rate"]) & (ev["time_s"] >= 600)]
    assert set(quality["subject"]) == {"beta/m2"}
    assert r.summary["degradation_detected_after_s"] == pytest.approx(quality["time_s"].iloc[0] - 600)
    error_trips = ev[(ev["kind"] == "breaker") & (ev["reason"] == "failure_rate")]
    assert len(error_trips) and set(error_trips["subject"]) == {"alpha/m1"}


def test_the_timeseries_is_the_same_from_plain_text_columns_as_from_categoricals(incident):
    """timeseries compares categoricals by their codes; a frame whose label columns are plain text (as
    another tool may hand it over) must give the same frame, interval by interval."""
    scenario = incident.scenario
    limits = {p.name: p.limits.per_minute(p.api_keys) for p in scenario.providers}
    end_s = incident.summary["simulated_time_s"]
    as_text = {"requests": incident.requests.astype({"outcome": object, "cache": object, "provider": object}),
               "calls": incident.calls.astype({"status": object, "provider": object}),
               "events": incident.events.astype({"kind": object, "subject": object, "to_state": object})}
    assert not isinstance(as_text["calls"]["status"].dtype, pd.CategoricalDtype)
    coded = metrics.timeseries(incident.requests, incident.calls, scenario.output.interval_s, limits, end_s,
                               incident.events)
    text = metrics.timeseries(as_text["requests"], as_text["calls"], scenario.output.interval_s, limits, end_s,
                              as_text["events"])
    pd.testing.assert_frame_equal(coded, text, check_exact=True)
    pd.testing.assert_frame_equal(coded, incident.timeseries, check_exact=True)
    assert coded["completed_ok"].sum() == (incident.requests["outcome"] == "ok").sum()
    assert "alpha/m1.breaker" in coded and coded["alpha/m1.breaker"].max() == 2      # it opened
