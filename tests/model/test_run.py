"""One run end to end (sim.model.run.simulate): every request ends, the summary is complete, the seed is kept."""
import numpy as np
import pandas as pd
import pytest

import sim
from sim.model.run import simulate
from sim.record import OUTCOMES
from tests.conftest import small_scenario

HEADLINE = ("requests_total", "requests_ok", "availability", "error_rate", "latency_p50_s", "latency_p95_s",
            "latency_p99_s", "ttft_p95_s", "queue_wait_mean_s", "cost_usd", "cost_per_request_usd",
            "calls_total", "attempts_per_request", "failed_during_faults", "time_to_open_s",
            "breaker_transitions")
RUN_FACTS = ("seed", "replication", "simulated_time_s", "wall_time_s", "event_loop_wall_s")
WALL_CLOCK = ("wall_time_s", "event_loop_wall_s")


def busy_scenario(**overrides):
    """Overload, errors, a queue that sheds and retries: several outcomes in 10 minutes."""
    return small_scenario(**{"duration": "10m", "workload.rate_per_s": 3.0,
                             "providers.0.limits.requests_per_min": 120, "gateway.smooth_to_provider_limits": False,
                             "gateway.workers": 8, "gateway.max_queue": 20, "gateway.max_queue_wait_s": 10,
                             "providers.0.models.0.error_rate": 0.2, "resilience.retry.max_attempts": 2}
                          | overrides)


@pytest.fixture(scope="module")
def busy():
    return simulate(busy_scenario(), seed=21)


def test_every_request_that_arrived_has_exactly_one_known_outcome(busy):
    req = busy.requests
    assert len(req) == busy.summary["requests_total"] > 1000
    assert req.outcome.notna().all() and set(req.outcome.astype(str)) <= set(OUTCOMES)
    assert len(set(req.outcome.astype(str))) >= 3                     # the scenario exercises several
    counts = req.outcome.astype(str).value_counts()
    for outcome in OUTCOMES:
        assert busy.summary[f"requests_{outcome}"] == counts.get(outcome, 0), outcome
    np.testing.assert_array_equal(req.request_id.to_numpy(), np.arange(len(req)))


def test_the_run_drains_every_request_after_arrivals_stop(busy):
    req = busy.requests
    duration_s = busy.scenario.duration
    assert req.arrival_s.max() < duration_s
    assert (req.end_s >= req.arrival_s).all() and np.isfinite(req.end_s).all()
    assert busy.summary["simulated_time_s"] >= req.end_s.max()
    kinds = busy.events.kind.astype(str).tolist()
    assert kinds.count("run_start") == 1 and kinds.count("run_end") == 1
    run_end = busy.events.loc[busy.events.kind.astype(str) == "run_end", "time_s"].item()
    assert run_end == pytest.approx(busy.summary["simulated_time_s"])


def test_the_summary_holds_the_headline_numbers_and_the_run_facts(busy):
    for key in HEADLINE + RUN_FACTS:
        assert key in busy.summary, key
    assert busy.summary["availability"] == pytest.approx(busy.summary["requests_ok"] / len(busy.requests))
    assert busy.summary["calls_total"] == len(busy.calls[~busy.calls.shadow])
    assert 0 < busy.summary["event_loop_wall_s"] <= busy.summary["wall_time_s"]


def test_seed_and_replication_are_recorded_and_the_seed_defaults_to_the_scenarios():
    s = small_scenario(**{"duration": "5m"})
    assert s.seed == 3
    default = simulate(s)
    assert default.summary["seed"] == 3 and default.summary["replication"] == 0
    chosen = simulate(s, seed=8, replication=2)
    assert chosen.summary["seed"] == 8 and chosen.summary["replication"] == 2
    pd.testing.assert_frame_equal(default.requests, simulate(s, seed=3, replication=0).requests)
    assert not default.requests.arrival_s.equals(chosen.requests.arrival_s)


def test_the_same_seed_gives_identical_frames_events_and_summary():
    s = busy_scenario(**{"resilience.breaker": {"window_size": 20, "minimum_calls": 10,
                                                "failure_rate_threshold": 0.15}})
    a, b = simulate(s, seed=4, replication=1), simulate(s, seed=4, replication=1)
    for name in ("requests", "calls", "timeseries", "events"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    strip = lambda summary: {k: v for k, v in summary.items() if k not in WALL_CLOCK}   # noqa: E731
    assert str(strip(a.summary)) == str(strip(b.summary))          # str: NaN == NaN
    assert (a.events.kind.astype(str) == "breaker").any()         # the breaker's events are compared too


def test_the_package_entry_point_is_the_same_run():
    s = small_scenario(**{"duration": "5m"})
    pd.testing.assert_frame_equal(sim.simulate(s, seed=5, replication=1).calls,
                                  simulate(s, seed=5, replication=1).calls)
