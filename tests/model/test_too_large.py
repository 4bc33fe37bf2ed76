"""A call larger than a whole minute of a provider's limits: the provider answers "request too large".

No wait makes such a call admissible, so it is recorded as one attempt with status ``too_large``, never
retried, and the request ends ``too_large`` unless fallback finds a target whose limits hold it.
"""
import numpy as np
import pytest

import sim
from tests.conftest import EXPERIMENTS, small_scenario

# every request sends 1,000 input tokens; alpha's key admits 800 a minute, beta has no limits
TOO_SMALL_A_KEY = {"duration": "10m", "providers.0.limits.input_tokens_per_min": 800,
                   "providers.0.models.0.error_rate": 0.0}


@pytest.mark.parametrize("smooth", [False, True])
@pytest.mark.parametrize("max_attempts", [1, 3])
def test_a_call_larger_than_the_bucket_ends_too_large_without_retries_or_waiting(smooth, max_attempts):
    scenario = small_scenario(**TOO_SMALL_A_KEY, **{"gateway.smooth_to_provider_limits": smooth,
                                                    "resilience.retry.max_attempts": max_attempts})
    r = sim.simulate(scenario)
    req, calls = r.requests, r.calls
    assert len(req) > 100 and (req.outcome == "too_large").all()
    assert (calls.status == "too_large").all() and len(calls) == len(req)     # one attempt each, no retry
    assert (calls.duration_s == 0).all() and (calls.cost_usd == 0).all()
    assert np.allclose(req.latency_s, 0.0) and (req.queue_wait_s == 0).all()  # answered at once: no wait
    assert r.summary["requests_too_large"] == len(req) and r.summary["availability"] == 0.0


@pytest.mark.parametrize("smooth", [False, True])
def test_with_fallback_a_target_with_bigger_limits_serves_it(smooth):
    scenario = small_scenario(**TOO_SMALL_A_KEY, **{"gateway.smooth_to_provider_limits": smooth,
                                                    "resilience.fallback": True,
                                                    "routing.chain": ["alpha/m1", "beta/m2"],
                                                    "providers.1.models.0.error_rate": 0.0})
    r = sim.simulate(scenario)
    assert (r.requests.outcome == "ok").all() and (r.requests.provider == "beta").all()
    tried = r.calls.groupby("request_id").provider.agg(lambda p: list(p.astype(str)))
    assert all(providers == ["alpha", "beta"] for providers in tried)
    assert set(r.calls[r.calls.provider == "alpha"].status) == {"too_large"}


def test_only_the_calls_too_large_are_refused():
    # lognormal prompts with a p95 of 6,000 tokens against a 4,000-token minute: a few percent never fit
    scenario = small_scenario(**{"duration": "20m", "gateway.smooth_to_provider_limits": False,
                                 "workload.input_tokens": {"type": "lognormal", "median": 1500, "p95": 6000},
                                 "providers.0.limits.input_tokens_per_min": 4000,
                                 "providers.0.models.0.error_rate": 0.0, "resilience.retry.max_attempts": 1})
    r = sim.simulate(scenario)
    calls = r.calls
    too_large = calls.status == "too_large"
    assert too_large.any() and (calls.input_tokens[too_large] > 4000).all()
    assert (calls.input_tokens[~too_large] <= 4000).all()
    assert (r.requests.outcome == "too_large").sum() == too_large.sum()


def test_the_outage_replay_with_a_tier1_key_runs_instead_of_crashing():
    # the repro of issue 7: Tier 1's 30,000 input tokens a minute cannot hold the lognormal tail of prompts
    scenario = sim.load_scenario(EXPERIMENTS / "outage_replay.yaml",
                                 ["providers.0.limits.preset=anthropic-tier1-sonnet4", "duration=20m", "faults=[]",
                                  "warmup=0"]).variant("no_resilience")
    r = sim.simulate(scenario)
    assert r.summary["requests_too_large"] > 0
    assert sum(r.summary[f"requests_{o}"] for o in sim.record.OUTCOMES) == r.summary["requests_total"]


def test_provider_limits_refuse_a_call_no_bucket_can_hold_in_both_modes():
    from sim.model.providers import ProviderLimits
    config = small_scenario(**{"providers.0.limits.input_tokens_per_min": 800,
                               "providers.0.limits.requests_per_min": 60}).providers[0]
    limits = ProviderLimits(config)
    assert limits.fits(800, 10) and not limits.fits(801, 10) and not limits.fits(100, 10, requests=61)
    refused = limits.try_admit(0.0, 801, 10)
    assert not refused.admitted and refused.too_large
    assert limits.reserve(0.0, 801, 10) == float("inf")
    assert limits.try_admit(0.0, 800, 10).admitted            # nothing was taken or reserved by the refusals
    short = limits.try_admit(0.0, 100, 10)
    assert not short.admitted and not short.too_large and short.retry_after_s == pytest.approx(100 / (800 / 60))


def test_a_shadow_call_too_large_for_the_candidate_is_a_lost_sample():
    scenario = small_scenario(**{"duration": "10m", "providers.1.limits.input_tokens_per_min": 800,
                                 "resilience.shadow": {"target": "beta/m2", "share": 1.0}})
    r = sim.simulate(scenario)
    assert r.summary["shadow_lost_to_limits"] == (r.requests.outcome == "ok").sum() > 100
    assert not r.calls.shadow.any() and r.summary["shadow_cost_usd"] == 0
