"""The experiment registry end to end on shortened scenarios: each writes its tables and charts."""
import pandas as pd
import pytest

import sim
from sim.cli import main
from sim.experiments.registry import EXPERIMENTS, SCENARIOS, run_experiment
from tests.conftest import shared_data


def test_every_catalogued_experiment_has_a_valid_scenario():
    from sim.experiments.registry import WITHOUT_SCENARIO
    for name in set(EXPERIMENTS) - WITHOUT_SCENARIO:
        scenario = sim.load_scenario(SCENARIOS / f"{name}.yaml")
        for variant in scenario.variants:
            scenario.variant(variant)


@pytest.mark.slow
def test_outage_replay_writes_variants_comparison_and_overlay(tmp_path):
    scenario = sim.load_scenario(SCENARIOS / "outage_replay.yaml", ["duration=50m", "warmup=0s",
                                                                   "workload.dau=3000"])
    report = run_experiment("outage_replay", scenario, tmp_path / "out", charts=True)
    out = tmp_path / "out"
    table = pd.read_csv(out / "comparison.csv", index_col="variant")
    assert list(table.index) == list(scenario.variants)
    assert table.loc["breaker_fallback_2keys", "failed_during_faults"] < table.loc["no_resilience", "failed_during_faults"] / 20
    assert (out / "variants_timeline.png").stat().st_size > 10_000
    assert (out / "no_resilience" / "timeline.png").exists()
    assert "breaker_fallback" in report


@pytest.mark.slow
def test_provider_redundancy_reports_availability_with_intervals(tmp_path):
    shared_data("incidents/provider_incidents.csv")
    scenario = sim.load_scenario(SCENARIOS / "provider_redundancy.yaml", ["duration=120d", "workload.rate_per_s=0.002"])
    run_experiment("provider_redundancy", scenario, tmp_path / "red", replications=3)
    table = pd.read_csv(tmp_path / "red" / "availability.csv")
    assert list(table.variant) == ["one_provider", "two_providers", "three_providers"]
    assert (table.availability.diff().dropna() >= -1e-4).all()        # more providers never clearly worse
    assert (table.failure_year_prob_upper95 > 0).all() and (table.failure_year_prob_upper95 <= 1).all()
    assert (tmp_path / "red" / "availability.png").exists()


def test_unknown_experiment_is_a_clear_error(capsys):
    assert main(["experiment", "nope"]) == 2
    assert "unknown 'nope'" in capsys.readouterr().err


@pytest.mark.slow
def test_load_balancing_compares_the_strategies_under_one_region_outage(tmp_path):
    scenario = sim.load_scenario(SCENARIOS / "load_balancing.yaml", [
        "duration=16m", "warmup=1m", "workload.rate_per_s=10", "faults.0.start=5m", "faults.0.duration=6m"])
    report = run_experiment("load_balancing", scenario, tmp_path / "lb", charts=True)
    out = tmp_path / "lb"
    table = pd.read_csv(out / "comparison.csv", index_col="variant")
    assert list(table.index) == list(scenario.variants)
    # Portkey's weighted loadbalance has no cooldown: it keeps sending a share to the dead region, which a
    # breaker per deployment stops; LiteLLM's strategies cool the region's deployment down
    assert table.loc["portkey_weighted", "cooldowns"] == 0
    assert table.loc["portkey_with_breakers", "calls_into_faults"] < table.loc["portkey_weighted", "calls_into_faults"] / 5
    assert table.loc["simple_shuffle", "cooldowns"] > 0
    # without the fallback group no call leaves the group, and nothing is answered that the fallback would not
    no_fallback = pd.read_parquet(out / "shuffle_no_fallback" / "calls.parquet")
    assert not (no_fallback["provider"].astype(str) == "anthropic").any()
    assert table.loc["shuffle_no_fallback", "availability"] <= table.loc["simple_shuffle", "availability"]
    calls = pd.read_parquet(out / "simple_shuffle" / "calls.parquet")
    dead = calls[(calls["provider"].astype(str) == "azure-eastus") & (calls["start_s"] >= 300) & (calls["start_s"] < 660)]
    assert len(dead) == table.loc["simple_shuffle", "calls_into_faults"] and (dead["status"].astype(str) == "error").all()
    assert (out / "deployments.png").stat().st_size > 20_000
    assert "usage_based" in report
