"""Shadow mode end to end: mirrored calls are recorded apart, billed apart, judged, and stop at a decision."""
import pytest

import sim
from tests.conftest import EXPERIMENTS


@pytest.fixture(scope="module")
def runs():
    scenario = sim.load_scenario(EXPERIMENTS / "shadow_mode.yaml", ["duration=100m"])
    return {name: sim.simulate(scenario.variant(name)) for name in scenario.variants}


def test_shadow_calls_are_recorded_apart_and_not_billed_to_requests(runs):
    r = runs["candidate_as_good"]
    shadow = r.calls[r.calls.shadow]
    assert len(shadow) > 1000 and (shadow.model == "gpt-4.1").all()
    production = r.calls[~r.calls.shadow]
    assert production.cost_usd.sum() == pytest.approx(r.requests.llm_cost_usd.sum(), rel=1e-12)
    assert shadow.cost_usd.sum() == pytest.approx(r.summary["shadow_cost_usd"], rel=1e-12)
    assert r.timeseries.shadow_cost_usd.sum() == pytest.approx(r.summary["shadow_cost_usd"], rel=1e-9)
    assert (r.requests.model == "claude-sonnet-4").all()          # users only ever get the baseline


def test_an_equal_candidate_is_promoted_and_a_worse_one_rejected(runs):
    good, worse = runs["candidate_as_good"].summary, runs["candidate_worse"].summary
    assert good["shadow_decision"] == "promote"
    assert worse["shadow_decision"] == "reject"
    for s in (good, worse):
        assert 0 < s["shadow_decided_at_s"] < 100 * 60
        # mirroring stops at the decision: only the calls already in flight come after it
        assert s["shadow_samples"] - s["shadow_decided_after_samples"] < 20
    assert good["shadow_required_samples"] < good["shadow_decided_after_samples"] * 2
    assert worse["shadow_true_failure_rate_candidate"] > worse["shadow_true_failure_rate_baseline"] + 0.03
