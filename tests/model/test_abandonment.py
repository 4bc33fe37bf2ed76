"""The gateway's bounded wait against M/M/c+D (FCFS, every request gives up after exactly D seconds).

The closed form (:func:`sim.estimate.mmc_deterministic_patience`) is checked against an independent route
(a heap-based FCFS simulation of the same queue, written here in a dozen lines) and against Erlang C as
D grows; then the simulator's time-average queue length and mean queue wait, abandoners included, are
compared with it at loads below and above 1.
"""
import heapq
import random

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import sim
from sim.estimate import erlang_c, mmc_deterministic_patience, mmc_mean_wait_s
from tests.conftest import EXPERIMENTS, small_scenario

MMC = EXPERIMENTS / "validation" / "mmc.yaml"


def fcfs_with_patience(rate_per_s, servers, mean_service_s, patience_s, n, seed):
    """(mean wait, P(abandon), P(wait > 0)) of n customers: each starts at the earliest free server or
    leaves after ``patience_s`` (an abandoner never takes a server, so its own wait decides it)."""
    rng = random.Random(seed)
    free_at = [0.0] * servers
    t = 0.0
    waits, abandoned = np.empty(n), 0
    for k in range(n):
        t += rng.expovariate(rate_per_s)
        wait = max(t, free_at[0]) - t
        if wait > patience_s:
            waits[k], abandoned = patience_s, abandoned + 1
            continue
        heapq.heapreplace(free_at, t + wait + rng.expovariate(1.0 / mean_service_s))
        waits[k] = wait
    return waits.mean(), abandoned / n, (waits > 0).mean()


def test_closed_form_reduces_to_erlang_c_without_abandonment():
    queue = mmc_deterministic_patience(3.6, 4, 1.0, 1e4)
    assert queue.p_wait == pytest.approx(erlang_c(4, 3.6), rel=1e-9)
    assert queue.mean_wait_s == pytest.approx(mmc_mean_wait_s(3.6, 4, 1.0), rel=1e-9)
    assert queue.p_abandon < 1e-12


def test_closed_form_at_critical_load_and_zero_patience():
    # b = lambda - c mu = 0: the limits of the formulas; D = 0 is Erlang's loss system (B(c, a) abandon)
    at_one = mmc_deterministic_patience(4.0, 4, 1.0, 1.0)
    below, above = (mmc_deterministic_patience(4.0 + h, 4, 1.0, 1.0) for h in (-1e-6, 1e-6))
    assert at_one.mean_wait_s == pytest.approx((below.mean_wait_s + above.mean_wait_s) / 2, rel=1e-8)
    loss = mmc_deterministic_patience(3.0, 2, 1.0, 0.0)
    assert loss.p_abandon == pytest.approx((9 / 2) / (1 + 3 + 9 / 2), rel=1e-12)   # Erlang B(2, 3)
    assert loss.mean_wait_s == 0.0


@pytest.mark.parametrize("rate, patience_s", [(3.6, 1.0), (4.8, 0.5)])
def test_closed_form_agrees_with_an_independent_fcfs_simulation(rate, patience_s):
    queue = mmc_deterministic_patience(rate, 4, 1.0, patience_s)
    mean_wait, p_abandon, p_wait = fcfs_with_patience(rate, 4, 1.0, patience_s, 300_000, seed=11)
    assert mean_wait == pytest.approx(queue.mean_wait_s, rel=0.03)
    assert p_abandon == pytest.approx(queue.p_abandon, rel=0.04)
    assert p_wait == pytest.approx(queue.p_wait, rel=0.02)


def _ci_contains(sample, theory, rel_width):
    lo, hi = stats.t.interval(0.99, len(sample) - 1, loc=np.mean(sample), scale=stats.sem(sample))
    assert lo <= theory <= hi, (sample, theory)
    assert abs(np.mean(sample) - theory) < rel_width * theory


@pytest.mark.parametrize("rate, patience_s", [
    (3.6, 1.0),     # rho 0.9
    (4.8, 0.5),     # rho 1.2: overloaded, the patience keeps the queue finite
    (4.8, 2.0),
])
def test_queue_with_patience_agrees_with_mmc_plus_d(rate, patience_s):
    """Every arrival waits min(V, D), abandoners exactly D: the queue length and the mean wait include them."""
    servers, warmup_s, duration_s = 4, 600.0, 2 * 3600.0
    scenario = sim.load_scenario(MMC, [f"workload.rate_per_s={rate}", f"gateway.workers={servers}",
                                       f"gateway.max_queue_wait_s={patience_s}", f"duration={duration_s}",
                                       f"warmup={warmup_s}"])
    queue = mmc_deterministic_patience(rate, servers, 1.0, patience_s)
    lengths, waits, shed, abandoners = [], [], [], []
    for rep in range(6):
        r = sim.simulate(scenario, replication=rep)
        ts, req = r.timeseries, r.requests
        lengths.append(ts.queue_length[(ts.t_s >= warmup_s) & (ts.t_s < duration_s)].mean())
        measured = req[req.arrival_s >= warmup_s]
        waits.append(measured.queue_wait_s.mean())
        shed.append((measured.outcome == "shed").mean())
        abandoners.append(measured[measured.outcome == "shed"])
    _ci_contains(shed, queue.p_abandon, 0.10)
    _ci_contains(lengths, queue.mean_queue_length, 0.08)
    _ci_contains(waits, queue.mean_wait_s, 0.08)
    gave_up = pd.concat(abandoners)
    assert np.allclose(gave_up.queue_wait_s, patience_s) and np.allclose(gave_up.latency_s, patience_s)


def _first_attempt_start_s(calls: pd.DataFrame, n: int) -> np.ndarray:
    first = np.full(n, np.nan)
    production = calls[~calls.shadow]
    first_rows = production.groupby("request_id").start_s.min()
    first[first_rows.index.to_numpy()] = first_rows.to_numpy()
    return first


def test_a_request_waiting_while_every_breaker_is_open_records_that_wait():
    # one target, down for 10 minutes; its breaker opens and requests wait (30 s patience) for a half-open
    scenario = small_scenario(**{"duration": "20m", "resilience.breaker": {},
                                 "resilience.when_all_open": "wait", "gateway.max_queue_wait_s": 30,
                                 "gateway.smooth_to_provider_limits": False, "resilience.retry.max_attempts": 1,
                                 "faults": [{"kind": "outage", "targets": ["alpha"], "start": "5m",
                                             "duration": "10m"}]})
    r = sim.simulate(scenario)
    req = r.requests
    first = _first_attempt_start_s(r.calls, len(req))
    # nothing else delays this path: the wait before the first attempt (or before giving up) is queue wait
    expected = np.where(np.isnan(first), req.latency_s, first - req.arrival_s)
    assert (expected > 1.0).sum() > 50                   # many requests did wait for the breaker
    assert np.allclose(req.queue_wait_s, expected, atol=1e-9)
    assert (req.queue_wait_s <= 30 + 1e-9).all()


@pytest.mark.parametrize("workers, sheds_at", [(1, "workers"), (10, "limiter")])
def test_a_shed_request_keeps_the_wait_it_had(workers, sheds_at):
    # a worker pool (20 s patience) in front of a smoothed 30 RPM key under 1 request/s: one worker sheds at
    # the pool after the whole patience; ten sheds at the limiter, up front, after some wait for a worker
    scenario = small_scenario(**{"duration": "20m", "gateway.workers": workers, "gateway.max_queue_wait_s": 20,
                                 "providers.0.limits.requests_per_min": 30, "resilience.retry.max_attempts": 1})
    r = sim.simulate(scenario)
    req = r.requests
    shed = req[req.outcome == "shed"]
    assert len(shed) > 200
    at_the_limiter = shed.latency_s < 20 - 1e-9
    assert at_the_limiter.all() if sheds_at == "limiter" else not at_the_limiter.any()
    assert (shed.queue_wait_s > 0).mean() > 0.9
    assert np.allclose(shed.queue_wait_s, shed.latency_s)       # nothing but waiting happened to them
    first = _first_attempt_start_s(r.calls, len(req))
    served = ~np.isnan(first)
    assert np.allclose(req.queue_wait_s[served], (first - req.arrival_s)[served])
