"""The semantic cache in the request path: hits skip the provider, false and stale hits are wrong answers."""
import numpy as np
import pytest

import sim
from sim.metrics import quality_failed
from tests.conftest import small_scenario


def cached(**overrides):
    base = {"duration": "1h", "workload.rate_per_s": 3.0, "workload.n_intents": 2000, "cache.enabled": True,
            "providers.0.models.0.hallucination_prob": 0.0}
    return small_scenario(**{**base, **overrides})


@pytest.fixture(scope="module")
def run():
    return sim.simulate(cached(**{"cache.threshold": 0.80}))


def test_a_hit_skips_the_provider_and_costs_only_the_embedding(run):
    req, calls = run.requests, run.calls
    served = req[req.cache.isin(["hit", "false_hit", "stale"])]
    assert len(served) > 1000
    assert not calls.request_id.isin(served.request_id).any()
    assert (served.llm_cost_usd == 0).all() and (served.embedding_cost_usd > 0).all()
    np.testing.assert_allclose(served.cost_usd, served.embedding_cost_usd)
    assert served.latency_s.max() == pytest.approx(0.02)           # embedding + search time only
    misses = req[(req.cache == "miss") & (req.outcome == "ok")]
    assert calls.request_id.isin(misses.request_id).sum() >= len(misses)


def test_false_and_stale_hits_count_as_quality_failures(run):
    req = run.requests
    wrong = req[req.cache.isin(["false_hit", "stale"])]
    assert (req.cache == "false_hit").sum() > 0
    assert quality_failed(wrong).all()
    ok = req[req.outcome == "ok"]
    assert run.summary["quality_failure_rate"] == pytest.approx(quality_failed(ok).mean())
    assert run.summary["false_hit_rate"] == pytest.approx((req.cache == "false_hit").mean())


def test_costs_still_add_up_with_a_cache(run):
    req, calls = run.requests, run.calls
    assert calls.cost_usd.sum() == pytest.approx(req.llm_cost_usd.sum(), rel=1e-12)
    assert req.cost_usd.sum() == pytest.approx(run.summary["cost_usd"], rel=1e-12)
    assert run.timeseries.cost_usd.sum() == pytest.approx(run.summary["cost_usd"], rel=1e-9)


@pytest.mark.slow
def test_a_higher_threshold_trades_hits_for_fewer_false_hits():
    low, high = sim.simulate(cached(**{"cache.threshold": 0.80})), sim.simulate(cached(**{"cache.threshold": 0.95}))
    assert low.summary["cache_hit_rate"] > high.summary["cache_hit_rate"] + 0.1
    assert low.summary["false_hit_rate"] > high.summary["false_hit_rate"]


@pytest.mark.slow
def test_answers_that_change_go_stale_and_a_ttl_bounds_it():
    fast = {"cache.answer_change_rate_per_day": 24.0}              # answers change about hourly
    no_ttl = sim.simulate(cached(**fast)).summary
    short_ttl = sim.simulate(cached(**fast, **{"cache.ttl_s": 300})).summary
    assert no_ttl["stale_rate"] > 0.02
    assert short_ttl["stale_rate"] < no_ttl["stale_rate"] / 3
    assert short_ttl["cache_hit_rate"] < no_ttl["cache_hit_rate"]


def test_a_wrong_answer_once_cached_is_served_wrong_again():
    r = sim.simulate(cached(**{"providers.0.models.0.hallucination_prob": 0.2, "cache.threshold": 0.99}))
    hits = r.requests[r.requests.cache == "hit"]
    assert hits.hallucinated.mean() == pytest.approx(0.2, abs=0.05)


@pytest.mark.slow
def test_cache_only_serves_near_answers_when_every_breaker_is_open():
    outage = {"faults": [{"kind": "outage", "start": "20m", "duration": "20m"}],
              "resilience.breaker": {"minimum_calls": 10, "window_size": 20, "wait_in_open_s": 60},
              "resilience.fallback": True, "resilience.retry.max_attempts": 1,
              "cache.degraded_threshold": 0.6}
    fail_fast = sim.simulate(cached(**outage)).summary
    degraded = sim.simulate(cached(**outage, **{"resilience.when_all_open": "cache_only"})).summary
    assert degraded["availability"] > fail_fast["availability"] + 0.05
    assert degraded["false_hit_rate"] > fail_fast["false_hit_rate"]       # the price of degrading


@pytest.mark.slow
def test_the_default_cache_reaches_the_claimed_hit_rate_at_095_with_almost_no_false_hits():
    from tests.conftest import EXPERIMENTS
    scenario = sim.load_scenario(EXPERIMENTS / "cache_threshold.yaml", ["duration=4h", "warmup=2h"])
    summary = sim.simulate(scenario).summary
    assert 0.35 <= summary["cache_hit_rate"] <= 0.50
    assert summary["false_hit_rate"] < 0.01
