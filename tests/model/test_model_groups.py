"""Model groups in a run: deployments picked per attempt as the group's strategy says, LiteLLM's cooldown
taking a failing deployment out, its transitions in the events frame. (Branch groups12, work in progress.)"""
import math

import numpy as np
import pytest

import sim
from tests.conftest import small_scenario

OUTAGE = [{"kind": "outage", "targets": ["alpha"], "start": "10m", "duration": "5m"}]


def group_scenario(strategy="simple-shuffle", weights=(3, 1), **more):
    return small_scenario(duration="30m", **{
        "routing.groups": {"g": {"deployments": ["alpha/m1", "beta/m2"], "weights": list(weights),
                                 "load_balancing": {"strategy": strategy}}},
        "routing.chain": ["g"], **more})


def test_simple_shuffle_splits_calls_by_weight():
    """No failures: each call goes to alpha with probability 3/4, independently (binomial bound, 4 sd)."""
    result = sim.simulate(group_scenario(**{"providers.0.models.0.error_rate": 0.0}), seed=2)
    n = len(result.calls)
    share = (result.calls["provider"].astype(str) == "alpha").mean()
    assert n > 1000
    assert abs(share - 0.75) < 4 * math.sqrt(0.75 * 0.25 / n), share


def test_with_fixed_counters_a_down_deployment_is_cooled_within_a_window_of_the_fault():
    """LiteLLM 1.110's counters are fixed 60 s windows: the one open when the fault starts expires within 60 s,
    and the next window holds only failures, so the 5th of them cools the deployment down."""
    result = sim.simulate(group_scenario(faults=OUTAGE, **{"resilience.retry.max_attempts": 3}), seed=2)
    starts = result.events[(result.events["kind"] == "cooldown") & (result.events["to_state"] == "cooling_down")]
    first = starts["time_s"].iloc[0]
    assert 600 < first < 600 + 60 + 15 and set(starts["subject"].astype(str)) == {"alpha/m1"}
    alpha = result.calls[result.calls["provider"].astype(str) == "alpha"]
    failed_before = int(((alpha["end_s"] >= 600) & (alpha["end_s"] <= first) & (alpha["status"] == "error")).sum())
    assert failed_before >= 5


def test_a_down_deployment_is_cooled_down_and_its_traffic_moves():
    """Older LiteLLM's per-minute counters renew on every call, so a deployment that fails everything after
    healthy traffic is first cooled when its success counter expires, 60 s after its last success."""
    result = sim.simulate(group_scenario(faults=OUTAGE, **{"resilience.retry.max_attempts": 3,
                                                           "routing.groups.g.load_balancing.counter_window":
                                                               "renewed"}), seed=2)
    cooldowns = result.events[(result.events["kind"] == "cooldown")]
    starts = cooldowns[cooldowns["to_state"] == "cooling_down"]
    assert len(starts) > 0 and set(starts["subject"].astype(str)) == {"alpha/m1"}
    first = starts["time_s"].iloc[0]
    alpha_ok = result.calls[(result.calls["provider"].astype(str) == "alpha") & (result.calls["status"] == "ok")]
    last_ok = alpha_ok[alpha_ok["end_s"] < first]["end_s"].max()
    assert 590 < last_ok < 610                                 # its last answer came as the outage began
    assert last_ok + 60.0 <= first < last_ok + 75.0            # the first failure after the counter expired
    assert (starts["time_s"] >= 600).all() and (starts["time_s"] < 900 + 60).all()
    during = result.calls[(result.calls["start_s"] >= 700) & (result.calls["start_s"] < 900)]
    assert (during["provider"].astype(str) == "alpha").mean() < 0.5        # down from 3/4
    assert result.summary["availability"] > 0.95                           # retries re-pick the group


def test_without_groups_nothing_changes():
    """The same scenario with its one target as a plain chain entry and as a one-deployment group: the
    group draws from its own stream and a lone deployment is never cooled down by the percentage rule, so
    outcomes are those of the plain chain."""
    plain = sim.simulate(small_scenario(duration="20m", **{"routing.chain": ["alpha/m1"]}), seed=5)
    grouped = sim.simulate(small_scenario(duration="20m", **{
        "routing.groups": {"g": {"deployments": ["alpha/m1"]}}, "routing.chain": ["g"]}), seed=5)
    np.testing.assert_array_equal(plain.requests["outcome"].astype(str), grouped.requests["outcome"].astype(str))
    np.testing.assert_array_equal(plain.requests["latency_s"], grouped.requests["latency_s"])


def test_portkey_loadbalance_has_no_cooldown_and_leaves_a_broken_target_to_its_breaker():
    breaker = {"window_size": 10, "minimum_calls": 5, "failure_rate_threshold": 0.5, "wait_in_open_s": 30}
    without = sim.simulate(group_scenario("portkey-loadbalance", faults=OUTAGE,
                                          **{"resilience.retry.max_attempts": 3}), seed=2)
    assert not (without.events["kind"] == "cooldown").any()
    with_breaker = sim.simulate(group_scenario("portkey-loadbalance", faults=OUTAGE,
                                               **{"resilience.retry.max_attempts": 3,
                                                  "resilience.breaker": breaker}), seed=2)
    opened = with_breaker.events[(with_breaker.events["kind"] == "breaker")
                                 & (with_breaker.events["to_state"] == "open")]
    assert len(opened) > 0 and set(opened["subject"].astype(str)) == {"alpha/m1"}

    def alpha_calls_in_outage(result):
        calls = result.calls[(result.calls["start_s"] >= 620) & (result.calls["start_s"] < 900)]
        return (calls["provider"].astype(str) == "alpha").sum()
    assert alpha_calls_in_outage(with_breaker) < alpha_calls_in_outage(without) / 3


def test_a_region_fault_hits_every_provider_in_the_region_and_only_them():
    """``region:eastus`` expands to the providers whose region is eastus: the same calls fail as when they are
    listed by name, and the fault's windows and events name the providers."""
    regions = {"providers.0.region": "eastus", "providers.1.region": "westeurope"}
    by_region = sim.simulate(group_scenario(faults=[{**OUTAGE[0], "targets": ["region:eastus"]}], **regions),
                             seed=3)
    by_name = sim.simulate(group_scenario(faults=OUTAGE, **regions), seed=3)
    np.testing.assert_array_equal(by_region.calls["status"].astype(str), by_name.calls["status"].astype(str))
    alpha = by_region.calls[(by_region.calls["provider"].astype(str) == "alpha")
                            & (by_region.calls["start_s"] >= 610) & (by_region.calls["start_s"] < 890)]
    beta = by_region.calls[(by_region.calls["provider"].astype(str) == "beta")
                           & (by_region.calls["start_s"] >= 610) & (by_region.calls["start_s"] < 890)]
    assert len(alpha) > 0 and (alpha["status"].astype(str) == "error").all()
    assert (beta["status"].astype(str) == "ok").mean() > 0.95
    starts = by_region.events[by_region.events["kind"] == "fault_start"]
    assert list(starts["subject"].astype(str)) == ["alpha"]


def test_an_unknown_region_is_refused_with_the_regions_there_are():
    with pytest.raises(sim.ScenarioError, match=r"faults.0.targets: no provider is in region 'westus'.*region:eastus"):
        group_scenario(faults=[{**OUTAGE[0], "targets": ["region:westus"]}], **{"providers.0.region": "eastus"})
