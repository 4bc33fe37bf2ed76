"""The scaling pyramid: the waterfall's arithmetic, and each lever doing what it is supposed to do."""
import math

import numpy as np
import pandas as pd
import pytest

import sim
from sim.experiments import scaling_pyramid as pyramid
from sim.experiments.registry import SCENARIOS, run_experiment

STEPS = ["baseline", "queue_smoothing", "prompt_compression", "semantic_cache", "model_routing"]


def synthetic_runs(cost_per_request: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"variant": v, "replication": k, "cost_per_request_usd": c}
                         for v, costs in cost_per_request.items() for k, c in enumerate(costs)])


def test_lessons_claims_compose_to_14_9k_not_12k():
    composed = pyramid.compose_claims(45_000)
    assert composed[-1] == pytest.approx(45_000 * 0.95 * 0.80 * 0.58 * 0.75)
    assert round(composed[-1]) == 14_877
    assert composed[-1] > pyramid.LESSON_FINAL_USD + 2_500           # the lesson's $12K is not its own product


def test_waterfall_steps_add_up_to_baseline_minus_final():
    rng = np.random.default_rng(3)
    base = rng.uniform(0.012, 0.013, size=6)
    factors = [1.0, 1.01, 0.8, 0.6, 0.57]                        # a lever may also cost more (1.01)
    costs, level = {}, base
    for step, f in zip(STEPS, factors):
        level = level * f * rng.uniform(0.99, 1.01, size=6)
        costs[step] = list(level)
    per_month = 3_600_000
    table = pyramid.waterfall(synthetic_runs(costs), STEPS, per_month)
    bills = {s: np.array(c) * per_month for s, c in costs.items()}
    assert table["saved_usd"].iloc[1:].sum() == pytest.approx(bills["baseline"].mean() - bills["model_routing"].mean())
    assert table["cost_per_month_usd"].tolist() == pytest.approx([b.mean() for b in bills.values()])
    # each step's share: the mean over replications of 1 - after / before, computed here independently
    for k in range(1, len(STEPS)):
        share = np.mean(1 - bills[STEPS[k]] / bills[STEPS[k - 1]])
        assert table["saved_share"].iloc[k] == pytest.approx(share)
    assert table["saved_usd"].iloc[1] < 0                          # the lever that costs more shows as such
    assert table["lesson_saved_share"].iloc[1:].tolist() == [0.05, 0.20, 0.42, 0.25]
    assert table["lesson_cost_per_month_usd"].iloc[-1] == pytest.approx(45_000 * 0.95 * 0.80 * 0.58 * 0.75)


def test_a_constant_step_has_a_zero_paired_interval_whatever_the_traffic():
    rng = np.random.default_rng(5)
    base = rng.uniform(0.01, 0.02, size=5)                         # the traffic varies a lot between replications
    runs = synthetic_runs({"baseline": list(base), "lever": list(base - 0.001)})
    table = pyramid.waterfall(runs, ["baseline", "lever"], 1000)
    assert table["saved_usd"].iloc[1] == pytest.approx(1.0)
    assert table["saved_usd_ci95"].iloc[1] == pytest.approx(0.0, abs=1e-9)
    assert table["cost_per_month_usd_ci95"].iloc[1] > 1.0          # while the bills' own intervals are wide


def test_verdict_states_the_three_finals():
    runs = synthetic_runs({"baseline": [0.0125, 0.0126], "model_routing": [0.0050, 0.0051]})
    v = pyramid.verdict(runs, ["baseline", "model_routing"], 3_600_000)
    text = pyramid.verdict_text(v)
    assert "$12.0K" in text and "$14.9K" in text and f"${v.final_usd / 1000:,.1f}K" in text
    assert v.saved_share == pytest.approx(np.mean([1 - 0.0050 / 0.0125, 1 - 0.0051 / 0.0126]))


def test_the_scenarios_baseline_costs_about_45k_a_month_in_closed_form():
    from sim.experiments.scenario_estimate import estimate_from_scenario
    baseline = sim.load_scenario(SCENARIOS / "scaling_pyramid.yaml").variant("baseline")
    estimate = estimate_from_scenario(baseline)
    # the closed form bills every call; the simulation leaves timed-out calls unbilled (~3% less)
    assert estimate.cost_per_month_usd == pytest.approx(pyramid.LESSON_BASELINE_USD, rel=0.05)
    sonnet = baseline.providers[0].models[0]
    assert (sonnet.input_usd_per_mtok, sonnet.output_usd_per_mtok) == (3.0, 15.0)   # the catalogue's Sonnet 4


@pytest.fixture(scope="module")
def tiny_levers():
    """Each step of the scenario on 30 minutes of the afternoon peak (same seed: the same traffic)."""
    scenario = sim.load_scenario(SCENARIOS / "scaling_pyramid.yaml",
                                 ["duration=30m", "warmup=10m", "workload.start_time_of_day=13:40",
                                  "output.charts=false"])
    return scenario, {name: sim.simulate(scenario.variant(name), seed=1).summary for name in scenario.variants}


def test_compression_cuts_input_tokens_and_the_input_share_of_the_bill(tiny_levers):
    scenario, s = tiny_levers
    before, after = s["queue_smoothing"], s["prompt_compression"]
    assert after["input_tokens_total"] == pytest.approx(0.6 * before["input_tokens_total"], rel=0.01)
    assert after["output_tokens_total"] == pytest.approx(before["output_tokens_total"], rel=0.01)
    sonnet = scenario.providers[0].models[0]
    input_usd = before["input_tokens_total"] * sonnet.input_usd_per_mtok / 1e6
    output_usd = before["output_tokens_total"] * sonnet.output_usd_per_mtok / 1e6
    expected = 1 - 0.4 * input_usd / (input_usd + output_usd)
    assert after["cost_usd"] / before["cost_usd"] == pytest.approx(expected, abs=0.01)
    assert after["hallucination_rate"] > before["hallucination_rate"]   # the assumed +1 point of wrong answers


def test_the_cache_saves_about_its_hit_rate(tiny_levers):
    _, s = tiny_levers
    before, after = s["prompt_compression"], s["semantic_cache"]
    assert 0.2 < after["cache_hit_rate"] < 0.6
    assert 1 - after["llm_cost_usd"] / before["llm_cost_usd"] == pytest.approx(after["cache_hit_rate"], abs=0.05)
    assert after["embedding_cost_usd"] > 0


def test_routing_sends_the_set_share_to_the_strong_model_and_costs_quality(tiny_levers):
    _, s = tiny_levers
    before, after = s["semantic_cache"], s["model_routing"]
    assert before["strong_call_share"] == 1.0
    assert after["strong_call_share"] == pytest.approx(0.4, abs=0.05)
    assert after["quality_failure_rate"] > before["quality_failure_rate"]
    # Haiku 3.5 costs 0.8/4 against Sonnet 4's 3/15 per Mtok: about 27% of the price on 60% of the calls
    assert after["llm_cost_usd"] / before["llm_cost_usd"] == pytest.approx(0.4 + 0.6 * 0.8 / 3, abs=0.06)


def test_queue_smoothing_trades_429s_for_waits_at_the_same_cost_per_answer():
    scenario = sim.load_scenario(SCENARIOS / "scaling_pyramid.yaml",
                                 ["duration=30m", "warmup=5m", "workload.start_time_of_day=13:45",
                                  "providers.0.limits.input_tokens_per_min=400000", "output.charts=false",
                                  # whole-minute buckets: with Anthropic's documented 1 s ones, calls larger
                                  # than a second's quota are refused more often without smoothing, so the
                                  # answered mix (and the cost per answer) differs; that is not this mechanism
                                  "providers.0.limits.enforcement_period_s=60"])
    s = {name: sim.simulate(scenario.variant(name), seed=1).summary for name in ("baseline", "queue_smoothing")}
    base, smooth = s["baseline"], s["queue_smoothing"]
    assert base["requests_failed"] > 20                            # 429s past the retries fail requests
    assert smooth["requests_failed"] < base["requests_failed"] / 5
    assert smooth["attempts_per_request"] < base["attempts_per_request"]
    assert smooth["queue_wait_mean_s"] > base["queue_wait_mean_s"]
    per_answer = {n: v["cost_usd"] / v["requests_ok"] for n, v in s.items()}
    assert per_answer["queue_smoothing"] == pytest.approx(per_answer["baseline"], rel=0.03)


@pytest.mark.slow
def test_experiment_writes_the_waterfall_and_a_report(tmp_path):
    from sim.cli import main
    scenario = sim.load_scenario(SCENARIOS / "scaling_pyramid.yaml",
                                 ["duration=30m", "warmup=5m", "workload.start_time_of_day=13:45"])
    out = tmp_path / "pyramid"
    text = run_experiment("scaling_pyramid", scenario, out, replications=2)
    table = pd.read_csv(out / "waterfall.csv")
    assert table["step"].tolist() == STEPS
    assert table["saved_usd"].iloc[1:].sum() == pytest.approx(table["cost_per_month_usd"].iloc[0]
                                                              - table["cost_per_month_usd"].iloc[-1])
    assert (out / "waterfall.png").stat().st_size > 10_000 and (out / "waterfall.svg").exists()
    assert "$14.9K" in text and "$12.0K" in (out / "waterfall.md").read_text()
    assert main(["report", str(out)]) == 0
    assert "waterfall" in (out / "report.md").read_text()
    assert not math.isnan(table["quality_failure_rate"].iloc[-1])
