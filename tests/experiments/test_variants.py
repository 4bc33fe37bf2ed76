"""Variants: designs run on common random numbers, saved side by side and compared in one frame."""
import math

import numpy as np
import pandas as pd
import pytest

from sim.errors import ScenarioError
from sim.experiments.variants import COMPARED, FAULT_COMPARED, add_fault_cost, comparison_frame, run_variants
from sim.model.run import simulate
from sim.report.tables import format_table
from sim.results import Result
from tests.conftest import small_scenario

OUTAGE = [{"kind": "outage", "targets": ["alpha"], "start": "4m", "duration": "3m"}]
DESIGNS = {"no_fallback": {"routing.chain": ["alpha/m1"]},
           "fallback": {"routing.chain": ["alpha/m1", "beta/m2"],
                        "resilience.breaker": {"window_size": 10, "minimum_calls": 5}}}


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    scenario = small_scenario(duration="10m", faults=OUTAGE, variants=DESIGNS)
    out = tmp_path_factory.mktemp("variants") / "cmp"
    report = run_variants(scenario, list(DESIGNS), out, seed=6, charts=False)
    return scenario, out, report


def test_every_variant_sees_the_same_traffic(compared):
    _, out, _ = compared
    a, b = (Result.load(out / name).requests for name in DESIGNS)
    for column in ("arrival_s", "user_id", "complexity", "intent_id", "llm_calls"):
        np.testing.assert_array_equal(a[column].to_numpy(), b[column].to_numpy(), err_msg=column)
    assert not a.outcome.equals(b.outcome)            # ...and the designs differ in what happens to it


def test_each_variant_is_run_as_its_own_design_with_the_given_seed(compared):
    scenario, out, _ = compared
    for name in DESIGNS:
        saved = Result.load(out / name)
        assert saved.summary["seed"] == 6
        assert saved.scenario == scenario.variant(name) and not saved.scenario.variants
    assert Result.load(out / "no_fallback").requests.provider.astype(str).isin(["alpha", ""]).all()
    assert (Result.load(out / "fallback").requests.provider.astype(str) == "beta").any()


def test_the_comparison_frame_is_the_saved_summaries_side_by_side(compared):
    _, out, report = compared
    table = pd.read_csv(out / "comparison.csv", index_col="variant")
    assert list(table.index) == list(DESIGNS)
    assert list(table.columns) == list(COMPARED + FAULT_COMPARED)
    for name in DESIGNS:
        saved = Result.load(out / name).summary
        for metric in ("requests_total", "availability", "cost_usd", "latency_p95_s", "failed_during_faults"):
            assert table.loc[name, metric] == pytest.approx(saved[metric]), (name, metric)
    assert table.loc["fallback", "availability"] > table.loc["no_fallback", "availability"]
    assert table.loc["fallback", "failed_during_faults"] < table.loc["no_fallback", "failed_during_faults"]
    assert all(name in report for name in DESIGNS) and "availability" in report


def test_the_cost_of_the_faults_is_the_difference_to_the_same_design_without_them():
    scenario = small_scenario(duration="10m", faults=OUTAGE, variants=DESIGNS).variant("fallback")
    summary = dict(simulate(scenario, seed=6).summary)
    add_fault_cost(summary, scenario, seed=6)
    calm = simulate(scenario.with_overrides({"faults": []}), seed=6).summary
    assert summary["extra_cost_usd"] == pytest.approx(summary["cost_usd"] - calm["cost_usd"])
    assert summary["extra_failed"] == ((summary["requests_total"] - summary["requests_ok"])
                                       - (calm["requests_total"] - calm["requests_ok"]))
    assert calm["requests_total"] == summary["requests_total"]       # the same traffic, calm or not


def test_comparison_frame_keeps_the_order_and_marks_missing_metrics():
    frame = comparison_frame({"b": {"availability": 0.5, "cost_usd": 2.0}, "a": {"availability": 1.0}},
                             ("availability", "cost_usd"))
    assert frame.index.name == "variant" and list(frame.index) == ["b", "a"]
    assert list(frame.columns) == ["availability", "cost_usd"]
    assert frame.loc["b", "cost_usd"] == 2.0 and frame.loc["a", "availability"] == 1.0
    assert frame.loc["a", "cost_usd"] is None or math.isnan(frame.loc["a", "cost_usd"])


def test_format_comparison_shows_rates_as_percentages_and_money_in_dollars():
    frame = comparison_frame({"x": {"availability": 0.98765, "cost_usd": 1234.5, "requests_total": 1500,
                                    "latency_p95_s": float("nan")}},
                             ("availability", "cost_usd", "requests_total", "latency_p95_s"))
    text = format_table(frame)
    assert "98.77%" in text and "$1,234" in text and "1,500" in text and " n/a" in text


def test_without_variant_names_the_base_scenario_is_run_and_saved(tmp_path):
    scenario = small_scenario(duration="5m")
    report = run_variants(scenario, [], tmp_path / "base", seed=2, charts=False)
    saved = Result.load(tmp_path / "base")
    assert saved.summary["seed"] == 2 and "availability" in report
    pd.testing.assert_frame_equal(saved.requests, simulate(scenario, seed=2).requests)


def test_rerunning_one_variant_keeps_the_others_and_compares_them_all(tmp_path):
    scenario = small_scenario(duration="5m", variants=DESIGNS)
    out = tmp_path / "cmp"
    run_variants(scenario, list(DESIGNS), out, seed=4, charts=False)
    kept_before = (out / "no_fallback" / "requests.parquet").read_bytes()
    report = run_variants(scenario, ["fallback"], out, seed=4, charts=False)
    assert (out / "no_fallback" / "requests.parquet").read_bytes() == kept_before
    assert list(pd.read_csv(out / "comparison.csv")["variant"]) == list(DESIGNS)
    assert "no_fallback" in report and "fallback" in report


def test_rerunning_one_variant_with_another_seed_is_refused_and_changes_nothing(tmp_path):
    scenario = small_scenario(duration="5m", variants=DESIGNS)
    out = tmp_path / "cmp"
    run_variants(scenario, list(DESIGNS), out, seed=4, charts=False)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(ScenarioError, match="another seed or version"):
        run_variants(scenario, ["fallback"], out, seed=5, charts=False)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_without_fault_cost_each_faulted_variant_runs_once_and_the_twin_metrics_are_left_out(tmp_path, monkeypatch):
    import sim.experiments.variants as variants
    scenario = small_scenario(duration="10m", faults=OUTAGE, variants=DESIGNS,
                              output={"fault_cost": False})
    runs = []
    real = variants.simulate
    monkeypatch.setattr(variants, "simulate", lambda s, **kw: runs.append(bool(s.faults)) or real(s, **kw))
    run_variants(scenario, list(DESIGNS), tmp_path / "cmp", seed=6, charts=False)
    assert runs == [True, True]                       # no calm twin
    table = pd.read_csv(tmp_path / "cmp" / "comparison.csv", index_col="variant")
    assert "extra_cost_usd" not in table.columns and "failed_during_faults" in table.columns
    for name in DESIGNS:
        assert "extra_cost_usd" not in Result.load(tmp_path / "cmp" / name).summary
    runs.clear()
    run_variants(scenario.with_overrides({"output.fault_cost": True}), list(DESIGNS), tmp_path / "twin",
                 seed=6, charts=False)
    assert runs == [True, False, True, False]         # the default: each faulted design and its calm twin
