"""How providers enforce their limits: the bucket's size (enforcement granularity), calls larger than a short
bucket, and OpenAI's reservation of max_tokens, checked with exact token-bucket arithmetic; and Poisson
traffic through a bucket against the exact M/D/1/K result."""
import math

import numpy as np
import pytest

import sim
from sim.policies.rate_limits import ProviderRateLimits
from sim.policies.token_bucket import TokenBucket
from tests.conftest import small_scenario


# ------------------------------------------------------------------ enforcement granularity

def test_the_enforcement_period_sets_the_bucket_not_the_rate():
    minute = TokenBucket.per_minute(60)                 # 60 RPM over the whole minute
    second = TokenBucket.per_minute(60, period_s=1)     # the same 60 RPM enforced per second
    assert (minute.rate_per_s, minute.capacity) == (1.0, 60.0)
    assert (second.rate_per_s, second.capacity) == (1.0, 1.0)
    burst_minute = sum(minute.try_take(0.0).admitted for _ in range(100))
    burst_second = sum(second.try_take(0.0).admitted for _ in range(100))
    assert (burst_minute, burst_second) == (60, 1)
    refused = second.try_take(0.25)
    assert not refused.admitted and refused.retry_after_s == pytest.approx(0.75)


def test_a_call_larger_than_a_short_bucket_passes_from_a_full_bucket_and_leaves_a_debt():
    # 6,000 TPM per second: a 100-token bucket refilled at 100 tokens/s; a call of up to 6,000 can pass
    bucket = TokenBucket.per_minute(6000, period_s=1)
    assert bucket.capacity == 100 and bucket.holds(6000) and not bucket.holds(6001)
    assert bucket.try_take(0.0, 1200).admitted
    assert bucket.level(0.0) == pytest.approx(-1100)
    wait = bucket.try_take(0.0, 50)
    assert not wait.admitted and wait.retry_after_s == pytest.approx(11.5)      # (50 + 1100) / 100
    big = bucket.try_take(11.5, 1200)                                            # level 50, not yet full
    assert not big.admitted and big.retry_after_s == pytest.approx(0.5)
    assert bucket.try_take(12.0, 1200).admitted
    assert bucket.try_take(12.0, 6001).too_large


def test_reservations_larger_than_a_short_bucket_queue_behind_each_other():
    bucket = TokenBucket.per_minute(6000, period_s=1)                            # 100 held, 100/s
    assert bucket.reserve(0.0, 1200) == 0.0                                      # full: goes now, level -1100
    assert bucket.reserve(0.0, 1200) == pytest.approx(12.0)                      # until full again: 1200/100
    assert bucket.reserve(0.0, 50) == pytest.approx(23.5)                        # level -2300 -> +50
    assert bucket.reserve(0.0, 6001) == math.inf


# ------------------------------------------------------------------ reserve max, settle actual

def test_openai_reserves_max_tokens_at_admission_and_settles_to_the_actual_output():
    limits = ProviderRateLimits(tokens_per_min=6000, reserve_max_output=True)    # 100 tokens/s, 6,000 held
    charged = limits.charged_output(200, requested_max_tokens=1000)
    assert charged == 1000
    for _ in range(3):                                                           # 3 x (1,000 in + 1,000 max)
        assert limits.try_admit(0.0, 1000, charged).admitted
    refused = limits.try_admit(0.0, 1000, charged)
    assert not refused.admitted and refused.retry_after_s == pytest.approx(20.0)  # 2,000 short at 100/s
    limits.settle(5.0, charged, 200)                  # the first call ends at 5 s having written 200 tokens
    # level: 0 + 5 s x 100 + 800 given back = 1,300; 2,000 needed
    again = limits.try_admit(5.0, 1000, charged)
    assert not again.admitted and again.retry_after_s == pytest.approx(7.0)


def test_without_the_reservation_rule_calls_count_what_they_produce():
    limits = ProviderRateLimits(tokens_per_min=6000, reserve_max_output=False)
    charged = limits.charged_output(200, requested_max_tokens=1000)
    assert charged == 200
    admitted = sum(limits.try_admit(0.0, 1000, charged).admitted for _ in range(10))
    assert admitted == 5                                                         # 6,000 // 1,200
    assert ProviderRateLimits(tokens_per_min=6000, reserve_max_output=True).charged_output(200, None) == 200
    assert ProviderRateLimits(reserve_max_output=True).charged_output(1500, 1000) == 1500   # produced more


def test_settling_touches_only_output_metered_buckets_and_never_overfills():
    limits = ProviderRateLimits(requests_per_min=60, input_tokens_per_min=6000, output_tokens_per_min=6000,
                                reserve_max_output=True)
    assert limits.try_admit(0.0, 3000, 3000).admitted
    limits.settle(0.0, 3000, 1000)
    # input still 3,000 short of full; output and requests as after the settlement
    assert not limits.try_admit(0.0, 3001, 0).admitted
    assert limits.try_admit(0.0, 3000, 5000).admitted
    limits.settle(1000.0, 5000, 0)                                               # long after: stays full
    assert limits.try_admit(1000.0, 6000, 6000).admitted
    assert not limits.try_admit(1000.0, 0, 1).admitted


# ------------------------------------------------------------------ Poisson traffic through a bucket

def md1k_throughput_share(rho: float, k: int) -> float:
    """Admitted share of the refill rate for Poisson arrivals (rate rho x refill) through a bucket of k
    requests, from the M/D/1/K queue it is equivalent to (the bucket's deficit is the queue's work; a call
    passes when the deficit is <= k - 1, i.e. fewer than k in the system). Embedded chain at departures:
    from i >= 1 (or 0, whose next service starts with an arrival) to j with j - i + 1 (or j) Poisson(rho)
    arrivals during one service, capped at k - 1; then throughput / refill = rho / (pi_0 + rho)."""
    a = np.array([math.exp(-rho) * rho ** n / math.factorial(n) for n in range(k + 1)])
    p = np.zeros((k, k))
    for i in range(k):
        base = max(i - 1, 0)
        for j in range(base, k - 1):
            p[i, j] = a[j - base]
        p[i, k - 1] = 1.0 - p[i, :k - 1].sum()
    w, v = np.linalg.eig(p.T)
    pi = np.real(v[:, np.argmin(abs(w - 1))])
    pi /= pi.sum()
    return rho / (pi[0] + rho)


def poisson_admitted_share(bucket: TokenBucket, rate_per_s: float, horizon_s: float, seed: int) -> float:
    """Admitted calls per second over the bucket's refill rate, for Poisson arrivals asking one each."""
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1 / rate_per_s, int(rate_per_s * horizon_s * 1.1)))
    arrivals = arrivals[arrivals < horizon_s]
    admitted = sum(bucket.try_take(t).admitted for t in arrivals)
    return admitted / horizon_s / bucket.rate_per_s


def test_md1k_chain_matches_its_closed_form_for_a_one_request_bucket():
    # k = 1: a call, then 1/r of refill, then an exponential wait for the next arrival: rho / (1 + rho)
    for rho in (0.5, 1.0, 2.0, 5.0):
        assert md1k_throughput_share(rho, 1) == pytest.approx(rho / (1 + rho), rel=1e-12)


def test_poisson_overload_gets_two_thirds_of_a_per_second_limit_and_all_of_a_per_minute_one():
    # twice the limit offered to 60 RPM: a per-second bucket (1 request) admits 2/3 of the limit, because after
    # each admission the bucket refills for 1 s and then sits full for a mean 0.5 s wasting refill
    per_second = poisson_admitted_share(TokenBucket.per_minute(60, period_s=1), 2.0, 20_000, seed=1)
    per_minute = poisson_admitted_share(TokenBucket.per_minute(60), 2.0, 20_000, seed=1)
    assert per_second == pytest.approx(2 / 3, abs=0.01)
    assert per_minute == pytest.approx(md1k_throughput_share(2.0, 60), abs=0.01)
    assert per_minute > 0.99


@pytest.mark.parametrize("capacity, rho", [(1, 1.0), (2, 2.0), (3, 1.0), (5, 1.5), (10, 1.0)])
def test_poisson_through_a_bucket_agrees_with_md1k(capacity, rho):
    bucket = TokenBucket(rate_per_s=1.0, capacity=capacity)
    measured = poisson_admitted_share(bucket, rho, 20_000, seed=capacity)
    assert measured == pytest.approx(md1k_throughput_share(rho, capacity), abs=0.012)


def test_a_bucket_smaller_than_one_request_behaves_as_a_one_request_bucket():
    # 50 RPM per second holds 0.83 requests: a request passes from a full bucket, as a 1-request bucket's would
    bucket = TokenBucket.per_minute(50, period_s=1)
    measured = poisson_admitted_share(bucket, 2 * 50 / 60, 20_000, seed=4)
    assert measured == pytest.approx(2 / 3, abs=0.012)


# ------------------------------------------------------------------ configuration

def test_a_provider_named_in_the_catalogue_enforces_as_documented_unless_the_scenario_says():
    def enforcement(name, **extra):
        return small_scenario(**{"providers.0.name": name, **extra}).providers[0].enforcement()

    catalogue = sim.provider_catalogue.load_catalogue()
    openai = catalogue.enforcement_for("openai")
    assert enforcement("openai") == (openai["period_s"], openai["reserve_max_output"])
    assert enforcement("OpenAI") == enforcement("openai")
    assert enforcement("anthropic")[0] == catalogue.enforcement_for("anthropic")["period_s"]
    assert enforcement("alpha") == (60.0, False)
    assert enforcement("openai", **{"providers.0.limits.enforcement_period_s": 10}) == (10.0, openai["reserve_max_output"])
    # and the model's limits are built with them
    from sim.model.providers import ProviderLimits
    built = ProviderLimits(small_scenario(**{"providers.0.name": "openai"}).providers[0])
    assert (built.period_s, built.reserve_max_output) == (openai["period_s"], openai["reserve_max_output"])


def test_documented_enforcement_yields_to_the_scenario():
    scenario = sim.config.validate_scenario({
        **small_scenario().model_dump(mode="json"),
        "providers": [{"name": "openai", "limits": {"tokens_per_min": 30000, "enforcement_period_s": 10,
                                                    "reserve_max_output": False},
                       "models": [{"name": "m", "input_usd_per_mtok": 1, "output_usd_per_mtok": 1}]}]})
    assert scenario.providers[0].enforcement() == (10.0, False)


@pytest.mark.parametrize("value", [0, -1, 61])
def test_an_enforcement_period_outside_a_minute_is_a_clear_error(value):
    with pytest.raises(sim.ScenarioError, match="enforcement_period_s"):
        small_scenario(**{"providers.0.limits.enforcement_period_s": value})


def test_the_catalogue_refuses_an_enforcement_entry_without_its_fields(tmp_path):
    from sim.provider_catalogue import load_catalogue
    text = (sim.provider_catalogue.Path(sim.provider_catalogue.__file__).with_name("provider_catalogue.yaml")
            .read_text())
    broken = text.replace("    period_s: 1\n", "    period_s: 0\n", 1)
    path = tmp_path / "catalogue.yaml"
    path.write_text(broken)
    with pytest.raises(sim.ScenarioError, match=r"enforcement\.\w+\.period_s: must be a number of seconds"):
        load_catalogue(path)


def test_levels_report_each_set_limit_after_what_was_taken():
    from sim.policies.rate_limits import BUCKET_NAMES
    limits = ProviderRateLimits(60, None, 6000, period_s=1.0)          # 1 request and 100 output tokens a second
    assert limits.try_admit(0.0, 500, 40).admitted
    requests, output = limits.levels(0.25)
    assert (requests.name, requests.limit_per_min, requests.capacity) == ("requests", 60, 1)
    assert requests.remaining == pytest.approx(0.25) and requests.seconds_to_full == pytest.approx(0.75)
    assert (output.name, output.capacity) == (BUCKET_NAMES[2], 100)
    assert output.remaining == pytest.approx(60 + 25) and output.seconds_to_full == pytest.approx(0.15)
