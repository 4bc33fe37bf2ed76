"""The simulator against what is known exactly: Erlang C, Little's law, token-bucket throughput, the diurnal
profile and the closed-form cost estimate."""
import numpy as np
import pytest
from scipy import stats

import sim
from sim.estimate import erlang_c, mmc_mean_wait_s
from sim.experiments.scenario_estimate import estimate_from_scenario
from tests.conftest import EXPERIMENTS, small_scenario
from tests.measures import measured_peak_to_average

MMC = EXPERIMENTS / "validation" / "mmc.yaml"


def test_erlang_c_closed_form_matches_textbook_values():
    assert erlang_c(1, 0.5) == pytest.approx(0.5)                     # M/M/1: P(wait) = rho
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)                   # c=2, a=1: 1/3
    assert mmc_mean_wait_s(0.5, 1, 1.0) == pytest.approx(1.0)         # M/M/1: rho/(mu-lambda) = 0.5/0.5
    # c=4, a=3.6 by the textbook sum: (a^4/4! * c/(c-a)) / (sum_{k<4} a^k/k! + a^4/4! * c/(c-a))
    #   = 69.984 / (18.856 + 69.984)
    assert erlang_c(4, 3.6) == pytest.approx(69.984 / 88.84, rel=1e-9)


@pytest.mark.parametrize("rate, servers, mean_s, duration", [
    (0.5, 1, 1.0, "3h"),     # M/M/1, rho 0.5
    (1.6, 2, 1.0, "3h"),     # rho 0.8
    (3.6, 4, 1.0, "6h"),     # rho 0.9
    (6.0, 8, 1.0, "2h"),     # rho 0.75, many servers
])
@pytest.mark.slow
def test_mmc_queue_wait_agrees_with_erlang_c(rate, servers, mean_s, duration):
    scenario = sim.load_scenario(MMC, [f"workload.rate_per_s={rate}", f"providers.0.max_concurrency={servers}",
                                       f"providers.0.models.0.latency.mean_s={mean_s}", f"duration={duration}"])
    waits, waited = [], []
    for rep in range(8):
        req = sim.simulate(scenario, replication=rep).requests
        req = req[req.arrival_s >= scenario.warmup]
        waits.append(req.queue_wait_s.mean())
        waited.append((req.queue_wait_s > 0).mean())
    theory_wait = mmc_mean_wait_s(rate, servers, mean_s)
    theory_p = erlang_c(servers, rate * mean_s)
    for sample, theory in ((waits, theory_wait), (waited, theory_p)):
        lo, hi = stats.t.interval(0.95, len(sample) - 1, loc=np.mean(sample), scale=stats.sem(sample))
        assert lo <= theory <= hi, (sample, theory)
        assert abs(np.mean(sample) - theory) < 0.12 * theory     # and the interval is not uselessly wide


@pytest.mark.slow
def test_littles_law_holds_for_queue_and_system():
    scenario = sim.load_scenario(MMC, ["duration=3h", "warmup=0"])
    r = sim.simulate(scenario)
    req, ts = r.requests, r.timeseries
    horizon = len(ts) * scenario.output.interval_s
    lam = len(req) / horizon
    # time-average counts (exact integrals) equal arrival rate x mean time in the state
    assert ts.in_flight.mean() == pytest.approx(lam * req.latency_s.mean(), rel=1e-9)
    assert ts.queue_length.mean() == pytest.approx(lam * req.queue_wait_s.mean(), rel=1e-9)
    # and the queue length agrees with Erlang C's Lq = lambda Wq within simulation noise
    assert ts.queue_length.mean() == pytest.approx(3.6 * mmc_mean_wait_s(3.6, 4, 1.0), rel=0.25)


@pytest.mark.slow
def test_diurnal_profile_peak_to_average_is_reproduced():
    scenario = small_scenario(**{"duration": "4d", "workload.rate_per_s": 0.2,
                                 "workload.profile": {"type": "diurnal", "peak_to_average": 3.0}})
    r = sim.simulate(scenario)
    measured = measured_peak_to_average(r.requests.arrival_s.to_numpy(), duration_s=scenario.duration)
    assert measured == pytest.approx(3.0, rel=0.06)


@pytest.mark.slow
@pytest.mark.parametrize("smooth", [True, False])
def test_token_bucket_throughput_equals_the_limit_under_overload(smooth):
    # 2 requests/s offered against a 60 RPM key: whatever the design, 1 call/s gets through
    scenario = small_scenario(**{"duration": "1h", "workload.rate_per_s": 2.0,
                                 "providers.0.limits.requests_per_min": 60,
                                 "providers.0.models.0.error_rate": 0.0,
                                 "providers.0.models.0.hallucination_prob": 0.0,
                                 "gateway.smooth_to_provider_limits": smooth,
                                 "resilience.retry.max_attempts": 50,
                                 "resilience.retry.max_delay_s": 5})
    calls = sim.simulate(scenario).calls
    admitted = calls[calls.status != "rate_limited"]
    minutes = admitted[(admitted.start_s >= 600) & (admitted.start_s < 3000)]
    rate_per_min = len(minutes) / 40.0
    assert rate_per_min == pytest.approx(60.0, rel=0.01)
    per_minute = np.bincount((admitted.start_s // 60).astype(int))
    assert per_minute.max() <= 60 + 60      # never more than one bucket plus one minute of refill


@pytest.mark.slow
def test_one_simulated_day_reproduces_the_closed_form_cost_within_2_percent():
    scenario = sim.load_scenario(EXPERIMENTS / "validation" / "load_estimate.yaml")
    est = estimate_from_scenario(scenario)
    r = sim.simulate(scenario)
    assert r.summary["cost_usd"] == pytest.approx(est.cost_per_day_usd, rel=0.02)
    assert r.summary["requests_total"] == pytest.approx(est.requests_per_day, rel=0.02)
