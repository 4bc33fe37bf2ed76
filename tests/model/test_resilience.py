"""Faults against resilience, end to end: the outage, the silent degradation and the runaway bill."""
import numpy as np
import pytest

import sim
from tests.conftest import EXPERIMENTS, small_scenario

OUTAGE_START, OUTAGE_END = 1800.0, 2700.0


@pytest.fixture(scope="module")
def outage():
    scenario = sim.load_scenario(EXPERIMENTS / "outage_replay.yaml")
    return {name: (scenario.variant(name), sim.simulate(scenario.variant(name)))
            for name in ("no_resilience", "breaker_fallback_2keys")}


def breaker_times(events, to_state):
    rows = events[(events.kind == "breaker") & (events.to_state == to_state)]
    return rows.time_s.to_numpy()


def test_without_fallback_every_call_to_the_failed_provider_fails(outage):
    _, r = outage["no_resilience"]
    calls = r.calls[r.calls.provider == "anthropic"]
    during = calls[(calls.start_s >= OUTAGE_START) & (calls.start_s < OUTAGE_END)]
    outside = calls[(calls.start_s < OUTAGE_START - 120) | (calls.start_s >= OUTAGE_END + 120)]
    assert len(during) > 3000
    assert (during.status != "ok").all()
    assert (outside.status == "ok").mean() > 0.98
    assert r.summary["failed_during_faults"] == pytest.approx(r.summary["requests_during_faults"], rel=0.01)


def test_breaker_opens_within_its_window_and_fallback_keeps_requests_alive(outage):
    scenario, r = outage["breaker_fallback_2keys"]
    cfg = scenario.resilience.breaker
    req = r.requests
    rate = ((req.arrival_s >= OUTAGE_START) & (req.arrival_s < OUTAGE_END)).sum() / (OUTAGE_END - OUTAGE_START)
    opened = breaker_times(r.events, "open")
    first_open = opened[opened >= OUTAGE_START][0]
    assert first_open - OUTAGE_START <= cfg.window_size / rate          # within one window of calls
    assert r.summary["time_to_open_s"] == pytest.approx(first_open - OUTAGE_START)
    after_open = req[(req.arrival_s >= first_open) & (req.arrival_s < OUTAGE_END)]
    assert len(after_open) > 3000
    assert (after_open.outcome != "ok").mean() < 0.01
    # only half-open probes still reach the primary: at most the permitted calls per wait_in_open
    probes = r.calls[(r.calls.start_s > first_open) & (r.calls.start_s < OUTAGE_END) & (r.calls.provider == "anthropic")]
    episodes = np.ceil((OUTAGE_END - first_open) / cfg.wait_in_open_s)
    assert len(probes) <= episodes * cfg.permitted_calls_in_half_open


def test_breaker_closes_within_wait_in_open_plus_the_probes_after_the_outage(outage):
    scenario, r = outage["breaker_fallback_2keys"]
    cfg = scenario.resilience.breaker
    closed = breaker_times(r.events, "closed")
    first_close = closed[closed >= OUTAGE_END][0]
    probes = r.calls[(r.calls.provider == "anthropic") & (r.calls.start_s >= OUTAGE_END)
                     & (r.calls.start_s <= first_close)]
    assert first_close - OUTAGE_END <= cfg.wait_in_open_s + probes.duration_s.max()
    assert not len(closed[(closed > OUTAGE_START) & (closed < OUTAGE_END)])   # no false recovery mid-outage
    assert r.summary["time_to_recover_s"] == pytest.approx(first_close - OUTAGE_END)


def test_a_classic_breaker_misses_silent_degradation_and_a_quality_breaker_catches_it():
    scenario = sim.load_scenario(EXPERIMENTS / "silent_degradation.yaml", ["duration=100m"])
    errors = sim.simulate(scenario.variant("error_breaker"))
    quality = sim.simulate(scenario.variant("quality_breaker"))
    assert errors.summary["breaker_transitions"] == 0
    detected = quality.summary["degradation_detected_after_s"]
    assert 0 < detected < 30 * 60
    late = lambda r: r.requests[(r.requests.arrival_s > 80 * 60) & (r.requests.outcome == "ok")]  # noqa: E731
    assert late(errors).hallucinated.mean() > 0.10
    assert late(quality).hallucinated.mean() < 0.06


@pytest.mark.slow
def test_kill_switch_stops_a_runaway_bill_and_overshoots_by_at_most_the_in_flight_bound():
    scenario = sim.load_scenario(EXPERIMENTS / "kill_switch.yaml", ["duration=150m"])
    free = sim.simulate(scenario.variant("no_kill_switch"))
    hard = sim.simulate(scenario.variant("hard_only"))
    assert hard.summary["requests_killed"] > 0
    assert hard.summary["cost_usd"] < 0.8 * free.summary["cost_usd"]
    assert 0 <= hard.summary["spend_overshoot_usd"] <= hard.summary["spend_overshoot_bound_usd"]
    assert hard.summary["kill_switch_hard_after_s"] > 0
    # the sliding hour's spend never exceeds limit + overshoot bound
    calls = hard.calls[hard.calls.cost_usd > 0]
    t, c = calls.end_s.to_numpy(), calls.cost_usd.to_numpy()
    order = np.argsort(t)
    t, c = t[order], np.cumsum(c[order])
    start = np.searchsorted(t, t - 3600.0, side="right")
    hourly = c - np.where(start > 0, c[np.maximum(start - 1, 0)], 0.0)
    assert hourly.max() <= 250 + hard.summary["spend_overshoot_bound_usd"]


@pytest.mark.parametrize("fault, check", [
    ({"kind": "outage", "mode": "hang"}, lambda w: (w.status == "timeout").all() and np.allclose(w.duration_s, 60)),
    ({"kind": "error_rate", "share": 0.3}, lambda w: abs((w.status == "error").mean() - 0.3) < 0.05),
    ({"kind": "rate_limit", "share": 0.5}, lambda w: abs((w.status == "rate_limited").mean() - 0.5) < 0.05),
])
def test_each_fault_kind_does_what_it_says(fault, check):
    scenario = small_scenario(**{"providers.0.models.0.error_rate": 0.0, "resilience.retry.max_attempts": 1,
                                 "faults": [{**fault, "targets": ["alpha"], "start": "10m", "duration": "10m"}]})
    calls = sim.simulate(scenario).calls
    window = calls[(calls.start_s >= 600) & (calls.start_s < 1200) & (calls.provider == "alpha")]
    assert len(window) > 400 and check(window)
    outside = calls[(calls.start_s < 600) | (calls.start_s >= 1260)]
    assert (outside.status == "ok").all()


def test_latency_fault_multiplies_durations_on_the_same_draws():
    base = small_scenario(**{"providers.0.models.0.error_rate": 0.0})
    slow = base.with_overrides({"faults": [{"kind": "latency", "latency_multiplier": 3, "start": "10m",
                                            "duration": "10m", "targets": ["alpha/m1"]}]})
    a, b = sim.simulate(base).calls, sim.simulate(slow).calls
    first = lambda c: c[(c.start_s >= 600) & (c.start_s < 1200)].sort_values("request_id").duration_s.to_numpy()  # noqa: E731
    np.testing.assert_allclose(first(b), 3 * first(a))


def test_cost_spike_multiplies_tokens_and_calls_of_the_affected_share():
    scenario = small_scenario(**{"faults": [{"kind": "cost_spike", "share": 0.1, "token_multiplier": 4,
                                             "extra_llm_calls": 5, "start": "10m", "duration": "10m"}]})
    req = sim.simulate(scenario).requests
    window = req[(req.arrival_s >= 600) & (req.arrival_s < 1200) & (req.outcome == "ok")]
    spiked = window.input_tokens > 1000
    assert abs(spiked.mean() - 0.1) < 0.04
    assert (window.input_tokens[spiked] == 6 * 4000).all()          # 1 + 5 calls, 4x 1,000 tokens each
    assert (req[req.arrival_s < 600].input_tokens <= 1000).all()


def test_a_request_deadline_turns_hanging_fallbacks_into_timeouts():
    hang = {"providers.0.models.0.error_rate": 0.0, "providers.0.models.0.timeout_s": 30,
            "resilience.fallback": True, "routing.chain": ["alpha/m1", "beta/m2"],
            "faults": [{"kind": "outage", "mode": "hang", "targets": ["alpha"], "start": "10m", "duration": "10m"}]}
    patient = sim.simulate(small_scenario(**hang))
    hurried = sim.simulate(small_scenario(**hang, **{"gateway.request_timeout_s": 20}))
    window = lambda r: r.requests[(r.requests.arrival_s >= 600) & (r.requests.arrival_s < 1200)]  # noqa: E731
    # without a deadline the fallback answers, late (a 30 s hang first); with one, the user gets a timeout
    assert (window(patient).outcome == "ok").mean() > 0.99
    assert window(patient).latency_s.median() > 30
    assert (window(hurried).outcome == "timeout").mean() > 0.99
    assert window(hurried).latency_s.max() <= 20 + 1e-6
    assert (hurried.requests.latency_s <= 20 + 1e-6).all()


@pytest.mark.slow
def test_an_imperfect_quality_detector_slows_detection_and_a_noisy_one_trips_falsely():
    scenario = sim.load_scenario(EXPERIMENTS / "silent_degradation.yaml", ["duration=100m"]).variant("quality_breaker")
    perfect = sim.simulate(scenario).summary
    weak = sim.simulate(scenario.with_overrides({"resilience.breaker.detector_recall": 0.6})).summary
    noisy = sim.simulate(scenario.with_overrides({"resilience.breaker.detector_false_positive_rate": 0.08})).summary
    assert weak["degradation_detected_after_s"] > perfect["degradation_detected_after_s"]
    assert perfect["false_trips"] == 0
    assert noisy["false_trips"] > 0                        # an evaluator that cries wolf trips before the fault
    assert noisy["breaker_transitions"] > perfect["breaker_transitions"]
