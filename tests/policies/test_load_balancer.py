"""Load balancing across deployments with a fake clock: each LiteLLM / Portkey rule checked against its
definition (frequencies against the weights, counts against hand-computed windows), cooldown and retries."""
import math
from collections import Counter

import numpy as np
import pydantic
import pytest
from scipy.stats import chisquare

from sim.policies.load_balancer import (
    Deployment, DeploymentCooldown, DeploymentPicker, LoadBalancingConfig, NoDeploymentAvailable,
    cooldown_required, portkey_falls_back, should_retry, weighted_index)


class FakeClock:
    def __init__(self, t_s: float = 0.0) -> None:
        self.t_s = t_s

    def __call__(self) -> float:
        return self.t_s


def group(*ids, **fields):
    return [Deployment(i, **fields) for i in ids]


def make(deployments, clock=None, **settings):
    clock = clock or FakeClock()
    return DeploymentPicker(deployments, LoadBalancingConfig(**settings), clock), clock


def frequencies(picker, n, seed=7, **pick):
    rng = np.random.default_rng(seed)
    return Counter(picker.pick(float(u), **pick).id for u in rng.random(n))


def assert_matches_weights(counts, ids, weights, n):
    observed = [counts.get(i, 0) for i in ids]
    expected = [n * w / sum(weights) for w in weights]
    assert sum(observed) == n
    assert chisquare(observed, expected).pvalue > 1e-3, (observed, expected)


# ------------------------------------------------------------------------------------------ settings

def test_defaults_are_litellms():
    cfg = LoadBalancingConfig()
    assert cfg.strategy == "simple-shuffle" and cfg.cooldown_s == 5.0          # DEFAULT_COOLDOWN_TIME_SECONDS
    assert (cfg.lowest_latency_buffer, cfg.max_latency_list_size, cfg.latency_ttl_s) == (0.0, 10, 3600.0)
    assert (cfg.failure_rate_threshold, cfg.failure_rate_minimum_calls, cfg.all_failed_minimum_calls) == (0.5, 5, 1000)
    assert not cfg.uses_allowed_fails and cfg.skip_tried == "non_retryable"


@pytest.mark.parametrize("field, value", [
    ("strategy", "round-robin"), ("litellm_rules", "newest"), ("lowest_latency_buffer", -0.1), ("max_latency_list_size", 0),
    ("cooldown_s", 0.0), ("failure_rate_threshold", 1.0), ("failure_rate_minimum_calls", 0),
    ("allowed_fails", -1), ("allowed_fails_timeout", 1.5), ("skip_tried", "some"), ("disable_cooldowns", 1),
])
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        LoadBalancingConfig(**{field: value})
    with pytest.raises(pydantic.ValidationError, match=field):      # the same declaration read by pydantic
        pydantic.TypeAdapter(LoadBalancingConfig).validate_python({field: value})


@pytest.mark.parametrize("fields, name", [({"id": ""}, "id"), ({"id": "a", "rpm": 0}, "rpm"),
                                          ({"id": "a", "weight": -1.0}, "weight"),
                                          ({"id": "a", "cooldown_s": -1.0}, "cooldown_s")])
def test_deployment_rejects_bad_values_naming_the_field(fields, name):
    with pytest.raises(ValueError, match=f"Deployment.{name}"):
        Deployment(**fields)


def test_a_group_needs_unique_ids_and_at_least_one_deployment():
    with pytest.raises(ValueError, match=r"deployments.1.id: ids must be unique"):
        make(group("a", "a"))
    with pytest.raises(ValueError, match="deployments"):
        make([])
    picker, _ = make(group("a"))
    for bad in (-0.1, 1.0, math.nan):
        with pytest.raises(ValueError, match="u: must be a uniform draw"):
            picker.pick(bad)


def test_status_rules_are_litellms():
    assert [s for s in (400, 401, 404, 408, 409, 422, 429, 500, 503) if should_retry(s)] == [408, 409, 429, 500, 503]
    assert [s for s in (400, 401, 403, 404, 408, 409, 422, 429, 500, 529) if cooldown_required(s)] == \
        [401, 404, 408, 429, 500, 529]


# ------------------------------------------------------------------------------------------ weighted picks

def test_weighted_index_boundaries():
    weights = [1.0, 0.0, 3.0]
    assert weighted_index(0.0, weights) == 0
    assert weighted_index(0.2499, weights) == 0
    assert weighted_index(0.25, weights) == 2          # the zero weight is never selected
    assert weighted_index(0.9999999, weights) == 2


def test_simple_shuffle_frequencies_follow_weight():
    ids, weights = ["a", "b", "c"], [1.0, 3.0, 6.0]
    picker, _ = make([Deployment(i, weight=w, rpm=100) for i, w in zip(ids, weights)])
    assert_matches_weights(frequencies(picker, 30_000), ids, weights, 30_000)


def test_simple_shuffle_uses_rpm_then_tpm_when_no_weight():
    by_rpm, _ = make([Deployment("a", rpm=100, tpm=900), Deployment("b", rpm=300, tpm=100)])
    assert_matches_weights(frequencies(by_rpm, 20_000), ["a", "b"], [100, 300], 20_000)
    by_tpm, _ = make([Deployment("a", tpm=900), Deployment("b", tpm=100)])
    assert_matches_weights(frequencies(by_tpm, 20_000), ["a", "b"], [900, 100], 20_000)


def test_simple_shuffle_field_any_deployment_sets():
    # Current LiteLLM: b's weight counts although a sets none (a weighs 0: never picked).
    picker, _ = make([Deployment("a", rpm=100), Deployment("b", rpm=100, weight=100.0)])
    assert set(frequencies(picker, 2_000)) == {"b"}
    zero, _ = make([Deployment("a", weight=0.0, rpm=100), Deployment("b", weight=0.0, rpm=300)])
    assert_matches_weights(frequencies(zero, 20_000), ["a", "b"], [100, 300], 20_000)     # all-zero: next field


def test_simple_shuffle_field_decided_by_the_first_deployment_in_older_litellm():
    # The first has no weight, so older LiteLLM weights by rpm although the second sets weight=100.
    picker, _ = make([Deployment("a", rpm=100), Deployment("b", rpm=100, weight=100.0)],
                     litellm_rules="legacy")
    assert_matches_weights(frequencies(picker, 20_000), ["a", "b"], [1, 1], 20_000)
    # The first sets weight; the second has none and weighs 0: never picked.
    picker, _ = make([Deployment("a", weight=1.0), Deployment("b", rpm=100)], litellm_rules="legacy")
    assert set(frequencies(picker, 2_000)) == {"a"}


def test_simple_shuffle_without_any_weight_is_uniform():
    picker, _ = make(group("a", "b", "c", "d"))
    assert_matches_weights(frequencies(picker, 20_000), list("abcd"), [1, 1, 1, 1], 20_000)


def test_portkey_weights_default_to_one_and_are_normalised():
    picker, _ = make([Deployment("a", weight=5.0), Deployment("b", weight=3.0), Deployment("c"),
                      Deployment("z", weight=0.0)], strategy="portkey-loadbalance")
    counts = frequencies(picker, 30_000)
    assert "z" not in counts
    assert_matches_weights(counts, ["a", "b", "c"], [5, 3, 1], 30_000)
    zero, _ = make([Deployment("a", weight=0.0)], strategy="portkey-loadbalance")
    with pytest.raises(NoDeploymentAvailable):
        zero.pick(0.5)


def test_portkey_fallback_status_codes():
    assert portkey_falls_back(500) and portkey_falls_back(429) and not portkey_falls_back(200)
    assert portkey_falls_back(429, [429, 503]) and not portkey_falls_back(500, [429, 503])


# ------------------------------------------------------------------------------------------ least busy

def test_least_busy_picks_the_fewest_in_flight():
    picker, _ = make(group("a", "b", "c"), strategy="least-busy")
    assert picker.pick(0.9).id == "a"                   # all idle: the first seen
    for deployment_id in ("a", "a", "b", "c", "c"):
        picker.call_started(deployment_id)
    assert picker.pick(0.9).id == "b"                   # a:2, b:1, c:2
    picker.call_started("b")
    picker.call_succeeded("c", 1.0)
    assert picker.pick(0.9).id == "c"                   # a:2, b:2, c:1
    picker.call_failed("a", 400)
    picker.call_failed("a", 400)
    assert picker.pick(0.9).id == "a"                   # a:0


def test_least_busy_picks_the_least_busy_candidate_when_the_idlest_is_excluded():
    picker, _ = make(group("a", "b", "c"), strategy="least-busy", skip_tried="all")
    picker.call_started("a")
    picker.call_failed("a", 500)
    picker.call_started("b")
    picker.call_started("c")
    picker.call_started("c")
    assert {picker.pick(u, failed={"a": 500}).id for u in (0.1, 0.9)} == {"b"}


def test_legacy_least_busy_picks_at_random_when_the_least_busy_is_excluded():
    picker, _ = make(group("a", "b", "c"), strategy="least-busy", skip_tried="all", litellm_rules="legacy")
    picker.call_started("a")
    picker.call_failed("a", 500)                        # tried and failed: back to 0 in flight
    picker.call_started("b")
    picker.call_started("c")
    # "a" is idle but already tried: LiteLLM then picks uniformly among the others, not the less busy one.
    assert {picker.pick(u, failed={"a": 500}).id for u in (0.1, 0.9)} == {"b", "c"}


# ------------------------------------------------------------------------------------------ usage based

def test_usage_based_picks_lowest_tokens_in_a_sliding_minute():
    picker, clock = make(group("a", "b", "c", tpm=10_000), strategy="usage-based-routing-v2")
    clock.t_s = 30.0
    for deployment_id, tokens in (("a", 500), ("b", 200), ("c", 900)):
        picker.call_started(deployment_id)
        picker.call_succeeded(deployment_id, 1.0, total_tokens=tokens, completion_tokens=10)
    assert picker.pick(0.99).id == "b"
    clock.t_s = 75.0                                    # 15 s into the next minute: the last one weighs 3/4
    picker.call_succeeded("b", 1.0, total_tokens=400)
    assert picker.strategy.tokens_used("a", clock()) == pytest.approx(500 * 0.75)
    assert picker.strategy.tokens_used("b", clock()) == pytest.approx(400 + 200 * 0.75)
    assert picker.pick(0.5).id == "a"                   # a 375 < b 550 < c 675
    clock.t_s = 120.0                                   # two minutes on: nothing left
    assert picker.strategy.tokens_used("b", clock()) == pytest.approx(400 * 1.0)
    assert picker.strategy.tokens_used("a", clock()) == 0


def test_legacy_usage_based_resets_on_the_minute():
    picker, clock = make(group("a", "b", "c", tpm=10_000), strategy="usage-based-routing-v2", litellm_rules="legacy")
    clock.t_s = 30.0
    for deployment_id, tokens in (("a", 500), ("b", 200), ("c", 900)):
        picker.call_succeeded(deployment_id, 1.0, total_tokens=tokens, completion_tokens=10)
    assert picker.pick(0.99).id == "b"
    clock.t_s = 59.99
    assert picker.strategy.tokens_used("c", clock()) == 900
    clock.t_s = 60.0                                    # a new UTC minute: every count reads 0, ties at random
    assert picker.strategy.tokens_used("c", clock()) == 0
    assert [picker.pick(u).id for u in (0.0, 0.5, 0.99)] == ["a", "b", "c"]


def test_usage_based_skips_deployments_over_their_tpm():
    picker, _ = make([Deployment("a", tpm=1_000), Deployment("b", tpm=5_000)], strategy="usage-based-routing-v2")
    picker.call_succeeded("b", 1.0, total_tokens=3_000)
    assert picker.pick(0.5, input_tokens=1_000).id == "a"       # 0 + 1000 <= 1000
    assert picker.pick(0.5, input_tokens=1_001).id == "b"       # a: 1001 > 1000; b: 4001 <= 5000
    with pytest.raises(NoDeploymentAvailable, match="over_limits"):
        picker.pick(0.5, input_tokens=2_001)


def test_usage_based_rpm_in_selection_and_at_call_start():
    picker, clock = make([Deployment("a", rpm=3)], strategy="usage-based-routing-v2")
    assert picker.call_started("a") and picker.call_started("a")
    with pytest.raises(NoDeploymentAvailable):          # 2 + 1 >= 3: selection leaves it out
        picker.pick(0.5)
    assert picker.call_started("a")                     # but a call may still start: 3 <= 3
    assert not picker.call_started("a")                 # pre_call_check: 3 >= 3, the gateway's own 429
    clock.t_s = 60.0
    assert not picker.call_started("a")                 # the sliding window still holds 3 * 1.0
    clock.t_s = 80.0
    assert picker.call_started("a")                     # 3 * 2/3 = 2 < 3, then 1 + 2 = 3 <= 3


def test_legacy_usage_based_enforces_rpm_at_call_start_not_in_selection():
    picker, clock = make([Deployment("a", rpm=2)], strategy="usage-based-routing-v2", litellm_rules="legacy")
    assert picker.call_started("a") and picker.call_started("a")
    assert picker.pick(0.5).id == "a"                   # selection ignores RPM (the key mismatch)
    assert not picker.call_started("a")
    clock.t_s = 60.0
    assert picker.call_started("a")


# ------------------------------------------------------------------------------------------ latency based

def succeed(picker, deployment_id, seconds_per_token, tokens=100, ttft_s=None):
    picker.call_started(deployment_id)
    picker.call_succeeded(deployment_id, seconds_per_token * tokens, total_tokens=tokens + 50,
                          completion_tokens=tokens, ttft_s=ttft_s)


def test_latency_based_tries_a_deployment_without_data_first():
    picker, _ = make(group("a", "b"), strategy="latency-based-routing")
    succeed(picker, "a", 0.001)
    assert picker.pick(0.0).id == "b" and picker.pick(0.99).id == "b"     # no data counts as latency 0


def test_latency_based_picks_within_the_buffer_of_the_lowest_mean():
    strict, _ = make(group("a", "b", "c"), strategy="latency-based-routing")
    buffered, _ = make(group("a", "b", "c"), strategy="latency-based-routing", lowest_latency_buffer=0.5)
    for picker in (strict, buffered):
        for deployment_id, spt in (("a", 0.020), ("b", 0.010), ("c", 0.014)):
            succeed(picker, deployment_id, spt)
    assert {strict.pick(u).id for u in np.linspace(0, 0.999, 21)} == {"b"}
    # 0.014 <= 0.010 * 1.5 < 0.020: b and c share the traffic evenly, a gets none.
    assert_matches_weights(frequencies(buffered, 10_000), ["b", "c"], [1, 1], 10_000)


def test_latency_list_slides_over_the_newest_values():
    picker, _ = make(group("a"), strategy="latency-based-routing", max_latency_list_size=4)
    for spt in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0):
        succeed(picker, "a", spt)
    assert picker.strategy.mean_latency("a", 0.0) == pytest.approx((3 + 4 + 5 + 6) / 4)


def test_legacy_latency_list_keeps_its_first_values_once_full():
    picker, _ = make(group("a"), strategy="latency-based-routing", max_latency_list_size=4, litellm_rules="legacy")
    for spt in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0):
        succeed(picker, "a", spt)
    # Older LiteLLM's update once full: the first size-1 values stay, the newest replaces the last.
    assert picker.strategy.mean_latency("a", 0.0) == pytest.approx((1 + 2 + 3 + 6) / 4)


def test_latency_timeout_penalty_and_streaming_ttft_in_seconds():
    picker, _ = make(group("a", "b"), strategy="latency-based-routing")
    succeed(picker, "a", 0.010, tokens=50, ttft_s=1.0)      # short answers, slow first token
    succeed(picker, "b", 0.005, tokens=500, ttft_s=3.0)     # long answers, slower first token
    assert picker.pick(0.5).id == "b"                       # per completion token b is faster
    assert picker.pick(0.5, streaming=True).id == "a"       # but streaming ranks the first token: 1 s < 3 s
    picker.call_failed("b", 408, timed_out=True)            # b: latencies [0.005, 1000]
    assert picker.strategy.mean_latency("b", 0.0) == pytest.approx((0.005 + 1000) / 2)
    assert picker.strategy.mean_latency("b", 0.0, streaming=True) == pytest.approx(3.0)


def test_legacy_latency_streaming_divides_ttft_by_tokens_and_by_the_latency_lists_length():
    picker, _ = make(group("a", "b"), strategy="latency-based-routing", litellm_rules="legacy")
    succeed(picker, "a", 0.010, tokens=50, ttft_s=1.0)      # ttft 0.02 s per token
    succeed(picker, "b", 0.005, tokens=500, ttft_s=3.0)     # ttft 0.006 s per token
    assert picker.pick(0.5, streaming=True).id == "b"       # the long answer hides the slow first token
    picker.call_failed("b", 408, timed_out=True)
    assert picker.strategy.mean_latency("b", 0.0, streaming=True) == pytest.approx(0.006 / 2)


def test_latency_map_expires_after_its_ttl_without_writes():
    picker, clock = make(group("a", "b"), strategy="latency-based-routing", latency_ttl_s=100.0)
    succeed(picker, "a", 0.01)
    succeed(picker, "b", 0.02)
    clock.t_s = 100.0
    assert picker.strategy.mean_latency("b", clock()) == pytest.approx(0.02)
    clock.t_s = 100.5
    assert picker.strategy.mean_latency("b", clock()) == 0.0


def test_latency_without_completion_tokens_is_plain_seconds_or_lost_in_legacy():
    current, _ = make(group("a", "b"), strategy="latency-based-routing")
    legacy, _ = make(group("a", "b"), strategy="latency-based-routing", litellm_rules="legacy")
    for picker in (current, legacy):
        picker.call_succeeded("b", 3.0, total_tokens=10, completion_tokens=0)
    assert current.strategy.mean_latency("b", 0.0) == 3.0
    assert legacy.strategy.mean_latency("b", 0.0) == 0.0


# ------------------------------------------------------------------------------------------ cooldown

def run_calls(picker, deployment_id, outcomes):
    """Record outcomes in order (True = success, an int = a failure's status); the cooldown flags."""
    flags = []
    for outcome in outcomes:
        if outcome is True:
            picker.call_succeeded(deployment_id, 1.0)
            flags.append(False)
        else:
            flags.append(picker.call_failed(deployment_id, outcome))
    return flags


def test_failure_rate_rule_needs_more_than_half_failed_over_five_calls():
    picker, _ = make(group("a", "b"))
    assert run_calls(picker, "a", [True, 500, 500, 500]) == [False] * 4      # 3/4 failed but only 4 calls
    assert run_calls(picker, "a", [500]) == [True]                            # 4/5 > 0.5 over 5 calls
    other, _ = make(group("a", "b"))
    assert run_calls(other, "a", [True, True, True, 500, 500, 500]) == [False] * 6     # 3/6 is not > 0.5
    assert run_calls(other, "a", [500]) == [True]                                      # 4/7 > 0.5
    t = picker.cooldown.transitions[0]
    assert (t.cause, t.failures, t.calls, t.status_code, t.cooldown_s) == ("failure_rate", 4, 5, 500, 5.0)


def test_a_429_cools_down_at_once_unless_the_deployment_is_alone():
    pair, _ = make(group("a", "b"))
    assert run_calls(pair, "a", [429]) == [True]
    assert pair.cooldown.transitions[0].cause == "rate_limited"
    alone, _ = make(group("a"))
    assert run_calls(alone, "a", [429] * 20) == [False] * 20


def test_a_lone_deployment_cools_down_only_on_non_retryable_errors_or_a_thousand_failures():
    alone, _ = make(group("a"))
    assert not any(run_calls(alone, "a", [500] * 999))
    assert run_calls(alone, "a", [500]) == [True]
    assert alone.cooldown.transitions[0][4:7] == ("all_failed", 500, 1000)
    auth, _ = make(group("a"))
    assert run_calls(auth, "a", [401]) == [True] and auth.cooldown.transitions[0].cause == "non_retryable"


def test_other_client_errors_never_cool_down():
    picker, _ = make(group("a", "b"))
    assert not any(run_calls(picker, "a", [400] * 50 + [422] * 50))


def test_renewed_minute_counters_renew_their_ttl_on_every_call():
    picker, clock = make(group("a", "b"), counter_window="renewed")
    for t in (0, 50, 100, 150):                         # never idle 60 s: four failures still counted
        clock.t_s = float(t)
        picker.call_failed("a", 503)
    assert picker.cooldown.minute_counts("a") == (0, 4)
    clock.t_s = 210.0                                   # the cache evicts only once now > last write + 60
    assert picker.cooldown.minute_counts("a") == (0, 4)
    clock.t_s = 210.5                                   # idle for more than 60 s: the counters expired
    assert picker.cooldown.minute_counts("a") == (0, 0)


def test_fixed_minute_counters_expire_60_s_after_their_first_call():
    picker, clock = make(group("a", "b"))                # LiteLLM 1.110's Rust core, the default
    for t in (0, 50):
        clock.t_s = float(t)
        picker.call_failed("a", 503)
    clock.t_s = 60.0                                     # the window opened at 0 still holds both
    assert picker.cooldown.minute_counts("a") == (0, 2)
    clock.t_s = 60.5                                     # expired, although the last failure was at 50
    assert picker.cooldown.minute_counts("a") == (0, 0)
    picker.call_failed("a", 503)                         # the next call opens a new window
    assert picker.cooldown.minute_counts("a") == (0, 1)


@pytest.mark.parametrize("window, failures_to_cool", [("fixed", 5), ("renewed", 42)])
def test_the_probe_of_a_real_router_gives_the_fixed_window(window, failures_to_cool):
    """The probe run against litellm 1.110.2 (docs/load_balancing.md): 40 successes in 2 s, one more at
    +30 s, failures from +67 s. A real Router cooled the deployment at the 5th failure: its success counter
    had expired 60 s after its first call. With renewed counters it would hold 41 and need 42 failures."""
    picker, clock = make(group("a", "b"), counter_window=window)
    for i in range(40):
        clock.t_s = i * 0.05
        picker.call_succeeded("a", 0.05)
    clock.t_s = 32.0
    picker.call_succeeded("a", 0.05)
    clock.t_s = 69.0
    failures = 0
    while not picker.call_failed("a", 500):
        failures += 1
        clock.t_s += 0.01
    assert failures + 1 == failures_to_cool


def test_cooldown_ends_after_cooldown_time_and_the_deployment_is_skipped_meanwhile():
    picker, clock = make([Deployment("a"), Deployment("b", cooldown_s=30.0)], cooldown_s=7.0)
    clock.t_s = 10.0
    assert picker.call_failed("a", 429) and picker.call_failed("b", 429)
    assert picker.cooldown.cooling_down() == ("a", "b")
    clock.t_s = 16.999
    assert picker.cooldown.is_cooling_down("a")
    clock.t_s = 17.0                                    # active while start + cooldown - now > 0
    assert not picker.cooldown.is_cooling_down("a") and picker.cooldown.is_cooling_down("b")
    assert {picker.pick(u).id for u in (0.0, 0.99)} == {"a"}
    clock.t_s = 40.001
    assert picker.cooldown.cooling_down() == ()
    ends = [(t.time_s, t.deployment_id) for t in picker.cooldown.transitions if t.to_state == "available"]
    assert ends == [(17.0, "a"), (40.0, "b")]           # stamped with the exact expiry
    assert [(w.deployment_id, w.start_s, w.end_s) for w in picker.cooldown.windows] == [("a", 10.0, 17.0),
                                                                                        ("b", 10.0, 40.0)]


def test_all_cooling_down_raises_like_litellm_and_portkey_keeps_them_all():
    picker, _ = make([Deployment("a", cooldown_s=20.0), Deployment("b", cooldown_s=8.0)])
    picker.call_failed("a", 429)
    picker.call_failed("b", 429)
    with pytest.raises(NoDeploymentAvailable, match="Try again in 8 seconds") as error:
        picker.pick(0.5)
    assert (error.value.reason, error.value.retry_after_s, error.value.cooling_down) == \
        ("all_cooling_down", 8.0, ("a", "b"))
    assert error.value.status_code == 429
    portkey, _ = make(group("a", "b"), strategy="portkey-loadbalance")
    portkey.call_failed("a", 429)
    assert {portkey.pick(u).id for u in (0.0, 0.99)} == {"b"}
    portkey.call_failed("b", 429)
    assert {portkey.pick(u).id for u in (0.0, 0.99)} == {"a", "b"}


def test_allowed_fails_cools_down_on_the_next_failure_and_forgets_after_cooldown_time():
    picker, clock = make(group("a", "b"), allowed_fails=2, cooldown_s=10.0)
    assert run_calls(picker, "a", [500, 500, 500]) == [False, False, True]
    assert picker.cooldown.transitions[0][4:7] == ("allowed_fails", 500, 3)
    fresh, clock = make(group("a", "b"), allowed_fails=2, cooldown_s=10.0)
    for t in (0.0, 9.0, 18.5):                          # each failure renews the counter's TTL (10 s) ...
        clock.t_s = t
        fresh.call_failed("a", 500)
    assert fresh.cooldown.is_cooling_down("a")
    spaced, clock = make(group("a", "b"), allowed_fails=2, cooldown_s=10.0)
    for t in (0.0, 10.5, 21.0):                         # ... and one more than 10 s later starts afresh
        clock.t_s = t
        assert not spaced.call_failed("a", 500)


def test_legacy_allowed_fails_policy_of_zero_falls_through():
    picker, _ = make(group("a", "b"), allowed_fails_timeout=0, litellm_rules="legacy")
    # `policy or allowed_fails`: 0 is falsy, so LiteLLM's default 3 applies.
    assert run_calls(picker, "a", [408] * 4) == [False, False, False, True]


def test_allowed_fails_policy_per_status_then_allowed_fails_then_three():
    picker, _ = make(group("a", "b"), allowed_fails_timeout=0, allowed_fails_rate_limit=1)
    assert run_calls(picker, "b", [429, 429]) == [False, True]
    assert run_calls(picker, "a", [408]) == [True]                  # a policy of 0: the first one
    assert run_calls(picker, "a", [401] * 4) == [False] * 3 + [True]    # no policy for 401: LiteLLM's default 3
    explicit, _ = make(group("a", "b"), allowed_fails=1, allowed_fails_timeout=2)
    assert run_calls(explicit, "a", [500, 500]) == [False, True]


def test_disable_cooldowns_keeps_everyone_in_rotation():
    picker, _ = make(group("a", "b"), disable_cooldowns=True)
    assert not any(run_calls(picker, "a", [429, 401] + [500] * 20))


def test_transitions_reach_the_callback_as_data():
    seen = []
    clock = FakeClock()
    picker = DeploymentPicker(group("a", "b"), LoadBalancingConfig(), clock, on_transition=seen.append)
    picker.call_failed("a", 404)
    clock.t_s = 6.0
    picker.cooldown.cooling_down()
    assert [(t.time_s, t.from_state, t.to_state, t.cause) for t in seen] == [
        (0.0, "available", "cooling_down", "non_retryable"), (5.0, "cooling_down", "available", "cooldown_elapsed")]
    assert seen == picker.cooldown.transitions
    assert "non_retryable" in seen[0].reason


def test_a_bad_status_is_refused_before_any_state_changes():
    picker, _ = make(group("a", "b"), strategy="least-busy")
    picker.call_started("a")
    for bad in (200, 0, "500", True):
        with pytest.raises(ValueError, match="status_code"):
            picker.call_failed("a", bad)
    assert picker.strategy.in_flight["a"] == 1 and picker.cooldown.minute_counts("a") == (0, 0)


def test_cooldown_can_be_used_on_its_own():
    clock = FakeClock()
    cooldown = DeploymentCooldown(group("a", "b"), LoadBalancingConfig(), clock)
    cooldown.record_failure("a", 429)
    assert cooldown.cooling_down() == ("a",)


# ------------------------------------------------------------------------------------------ retries

def test_litellm_retry_avoids_only_deployments_that_refused_for_good():
    picker, _ = make(group("a", "b"))
    assert {picker.pick(u, failed={"a": 500}).id for u in (0.0, 0.99)} == {"a", "b"}   # transient: may repeat
    assert {picker.pick(u, failed={"a": 400}).id for u in (0.0, 0.99)} == {"b"}
    # Every deployment refused: LiteLLM falls back to the whole list rather than "no deployments".
    assert {picker.pick(u, failed={"a": 400, "b": 401}).id for u in (0.0, 0.99)} == {"a", "b"}


def test_retry_skipping_every_tried_deployment():
    picker, _ = make(group("a", "b", "c"), skip_tried="all")
    assert {picker.pick(u, failed={"a": 500, "c": 429}).id for u in (0.0, 0.5, 0.99)} == {"b"}
    with pytest.raises(NoDeploymentAvailable, match="all_tried"):
        picker.pick(0.5, failed={"a": 500, "b": 500, "c": 500})
    none, _ = make(group("a", "b"), skip_tried="none")
    assert {none.pick(u, failed={"a": 400}).id for u in (0.0, 0.99)} == {"a", "b"}


def test_same_draws_give_the_same_picks():
    def run():
        picker, clock = make(group("a", "b", "c", rpm=60), strategy="least-busy")
        rng = np.random.default_rng(3)
        out = []
        for step, u in enumerate(rng.random(300)):
            clock.t_s = step * 0.1
            d = picker.pick(float(u)).id
            picker.call_started(d)
            if step % 3:
                picker.call_succeeded(d, 0.5)
            out.append(d)
        return out
    assert run() == run()


@pytest.mark.parametrize("failure_share", [0.7, 0.9])
def test_steady_traffic_never_resets_the_minute_counters(failure_share):
    # A deployment serves 300 calls without error, then fails a share q of its calls, one call every 0.4 s.
    # The counters never idle 60 s, so they hold everything since the start: the percentage rule fires
    # only when failures f exceed successes 300 + (1 - q) n, i.e. after t = 300 / ((2q - 1) * 2.5) s.
    picker, clock = make(group("a", "b"), counter_window="renewed")
    for _ in range(300):
        picker.call_succeeded("a", 1.0)
        clock.t_s += 0.4
    start_s = clock.t_s
    for call in range(10_000):
        if math.floor((call + 1) * failure_share) > math.floor(call * failure_share):     # exactly q of calls fail
            if picker.call_failed("a", 500):
                break
        else:
            picker.call_succeeded("a", 1.0)
        clock.t_s += 0.4
    expected_s = 300 / ((2 * failure_share - 1) * 2.5)
    assert clock.t_s - start_s == pytest.approx(expected_s, abs=2 * 0.4 / (2 * failure_share - 1))


@pytest.mark.parametrize("counter_ttl_s", [None, 120.0])    # LiteLLM's 60 s, or stretched by a live run's speed
def test_a_deployment_that_fails_everything_cools_down_when_its_success_counter_expires(counter_ttl_s):
    picker, clock = make(group("a", "b"), counter_window="renewed",
                         **({} if counter_ttl_s is None else {"counter_ttl_s": counter_ttl_s}))
    ttl_s = counter_ttl_s or 60.0
    for _ in range(300):
        picker.call_succeeded("a", 1.0)
        clock.t_s += 0.4
    last_success_s = clock.t_s - 0.4
    while not picker.call_failed("a", 500):
        clock.t_s += 0.4
    assert last_success_s + ttl_s < clock.t_s <= last_success_s + ttl_s + 0.4


def test_cooldown_time_is_the_deployments_own_else_retry_after_else_the_groups():
    picker, clock = make([Deployment("a"), Deployment("b", cooldown_s=30.0), Deployment("c"),
                          Deployment("never", cooldown_s=0.0)], cooldown_s=5.0)
    picker.call_failed("a", 429, retry_after_s=12.0)
    picker.call_failed("b", 429, retry_after_s=12.0)
    picker.call_failed("c", 429)
    assert not picker.call_failed("never", 429)         # cooldown_time 0: LiteLLM skips the cooldown logic
    assert [(w.deployment_id, w.end_s) for w in picker.cooldown.windows] == [("a", 12.0), ("b", 30.0), ("c", 5.0)]
    with pytest.raises(NoDeploymentAvailable) as error:
        picker.pick(0.5, unavailable={"never"})
    assert error.value.retry_after_s == 5.0             # the shortest cooldown in force, as get_min_cooldown


def test_unavailable_deployments_are_skipped_like_cooling_ones():
    picker, _ = make(group("a", "b", "c"))
    assert {picker.pick(u, unavailable={"a", "c"}).id for u in (0.0, 0.5, 0.99)} == {"b"}
    with pytest.raises(NoDeploymentAvailable, match="all_unavailable"):
        picker.pick(0.5, unavailable={"a", "b", "c"})
    picker.call_failed("b", 429)
    with pytest.raises(NoDeploymentAvailable, match="all_cooling_down"):
        picker.pick(0.5, unavailable={"a", "c"})
    portkey, _ = make(group("a", "b"), strategy="portkey-loadbalance")
    assert {portkey.pick(u, unavailable={"a", "b"}).id for u in (0.0, 0.99)} == {"a", "b"}


def test_a_scenario_section_of_deployments_validates_through_pydantic():
    adapter = pydantic.TypeAdapter(list[Deployment])
    group_ = adapter.validate_python([{"id": "azure-eu", "rpm": 600, "region": "westeurope"}, {"id": "openai"}])
    assert [d.id for d in group_] == ["azure-eu", "openai"] and group_[0].region == "westeurope"
    for bad, field in (({"id": "a", "rpm": 0}, "rpm"), ({"id": "a", "zone": "x"}, "zone"), ({"id": ""}, "id")):
        with pytest.raises(pydantic.ValidationError, match=field):
            adapter.validate_python([bad])
