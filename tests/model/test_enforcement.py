"""Enforcement granularity and OpenAI's max_tokens reservation, end to end through the request flow."""
import pytest

import sim
from tests.conftest import small_scenario
from tests.policies.test_rate_limits import md1k_throughput_share


def overloaded(name: str, **extra):
    """2 requests/s of Poisson traffic against a 60 RPM key, one attempt each, no smoothing: a 429 is lost."""
    return small_scenario(**{"duration": "40m", "warmup": "2m", "workload.rate_per_s": 2.0,
                             "providers.0.name": name, "providers.0.limits.requests_per_min": 60,
                             "providers.0.models.0.error_rate": 0.0, "gateway.smooth_to_provider_limits": False,
                             "resilience.retry.max_attempts": 1, "routing.chain": [f"{name}/m1"], **extra})


def admitted_per_s(scenario) -> float:
    calls = sim.simulate(scenario).calls
    calls = calls[calls.start_s >= scenario.warmup]
    return (calls.status != "rate_limited").sum() / (scenario.duration - scenario.warmup)


def test_a_documented_per_second_limit_admits_two_thirds_of_poisson_overload():
    per_second = admitted_per_s(overloaded("anthropic"))        # documented: 1 s buckets
    per_minute = admitted_per_s(overloaded("alpha"))            # unknown provider: a whole minute's bucket
    assert per_second == pytest.approx(md1k_throughput_share(2.0, 1), abs=0.03)     # 2/3 of 1 call/s
    assert per_minute == pytest.approx(1.0, abs=0.03)
    explicit = admitted_per_s(overloaded("anthropic", **{"providers.0.limits.enforcement_period_s": 60}))
    assert explicit == pytest.approx(per_minute, abs=0.03)


def reservation_scenario(requested_max_tokens, reserve: bool, smooth: bool = False):
    # 12,000 TPM over the whole minute (200 tokens/s); calls of 1,000 in + 200 out, 30 s long, 0.25/s offered
    # (300 tokens/s): counted as produced, the key passes 200/1,200 = 1/6 call per second; reserving 1,000
    # output tokens for 30 s holds 800 more per call in flight, and gives them back when the call ends
    return small_scenario(**{"duration": "60m", "warmup": "5m", "workload.rate_per_s": 0.25,
                             "providers.0.limits.tokens_per_min": 12_000,
                             "providers.0.limits.reserve_max_output": reserve,
                             "providers.0.models.0.requested_max_tokens": requested_max_tokens,
                             "providers.0.models.0.latency": {"type": "exponential", "mean_s": 30.0},
                             "providers.0.models.0.timeout_s": "1h", "gateway.request_timeout_s": None,
                             "providers.0.models.0.error_rate": 0.0, "gateway.smooth_to_provider_limits": smooth,
                             "resilience.retry.max_attempts": 1, "routing.chain": ["alpha/m1"]})


@pytest.mark.parametrize("smooth", [False, True])
def test_the_reservation_is_given_back_when_the_call_ends(smooth):
    counted = admitted_per_s(reservation_scenario(1000, reserve=False, smooth=smooth))
    reserved = admitted_per_s(reservation_scenario(1000, reserve=True, smooth=smooth))
    assert counted == pytest.approx(200 / 1200, rel=0.05)
    # settled at the end: the long-run throughput is still what the calls use (a 12,000-token bucket keeps
    # every refund), but each call needs 2,000 at admission, so more calls are refused at the margin
    assert reserved == pytest.approx(200 / 1200, rel=0.05)
