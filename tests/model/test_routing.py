"""Routing end to end: the simulated router reproduces the calibrated quality curve, and a cascade pays twice."""
import pytest

import sim
from sim.calibration.routing import pgr_curve
from sim.model.quality import QualityParams
from tests.conftest import EXPERIMENTS


@pytest.fixture(scope="module")
def runs():
    scenario = sim.load_scenario(EXPERIMENTS / "routing.yaml", ["duration=80m"])
    return {name: sim.simulate(scenario.variant(name)) for name in scenario.variants}


def test_threshold_routing_recovers_the_gap_the_calibrated_curve_predicts(runs):
    strong, cheap, routed = (runs[n].summary["quality_failure_rate"] for n in ("strong_only", "cheap_only", "complexity"))
    assert runs["complexity"].summary["strong_call_share"] == pytest.approx(0.4, abs=0.01)
    simulated_pgr = (cheap - routed) / (cheap - strong)
    expected = pgr_curve(QualityParams.for_share(0.2), 0.9, [0.4]).iloc[0]["pgr"]
    assert simulated_pgr == pytest.approx(expected, abs=0.08)
    assert runs["complexity"].summary["cost_per_request_usd"] < 0.75 * runs["strong_only"].summary["cost_per_request_usd"]


def test_a_cascade_pays_for_both_calls_of_an_escalated_request(runs):
    r = runs["cascade"]
    answered = r.calls[r.calls.status == "ok"]
    per_request = answered.groupby("request_id").agg(n=("model", "size"), last=("model", "last"),
                                                     cost=("cost_usd", "sum"))
    escalated = per_request[per_request.n == 2]
    assert 0.08 < len(escalated) / len(per_request) < 0.25
    assert (escalated["last"] == "claude-sonnet-4").all()
    req = r.requests.set_index("request_id").loc[escalated.index]
    assert req.llm_cost_usd.to_numpy() == pytest.approx(escalated.cost.to_numpy())
    # the final answer is the strong model's: a caught cheap mistake is not counted as wrong
    assert r.summary["quality_failure_rate"] < runs["cheap_only"].summary["quality_failure_rate"] / 2


def test_prompt_compression_trades_input_tokens_for_time_and_quality():
    from tests.conftest import small_scenario
    base = small_scenario(**{"providers.0.models.0.hallucination_prob": 0.02})
    squeezed = base.with_overrides({"compression": {"ratio": 0.5, "latency_s": 0.1, "hallucination_add": 0.05}})
    a, b = sim.simulate(base), sim.simulate(squeezed)
    ok_a, ok_b = a.requests[a.requests.outcome == "ok"], b.requests[b.requests.outcome == "ok"]
    assert (ok_b.input_tokens == 500).all() and (ok_a.input_tokens == 1000).all()
    assert b.summary["llm_cost_usd"] < a.summary["llm_cost_usd"]
    assert b.summary["hallucination_rate"] == pytest.approx(0.07, abs=0.015)
    assert (b.requests.latency_s - a.requests.latency_s)[ok_a.index.intersection(ok_b.index)].median() == pytest.approx(0.1, abs=0.02)
