"""The rate_limit_enforcement experiment on a short run and a small grid: its table, its chart, its shape."""
import pandas as pd
import pytest

import sim
from sim.cli import main
from sim.experiments.rate_limits import MAX_OUTPUT, PERIOD, RATE
from sim.experiments.registry import SCENARIOS, run_experiment


def test_per_second_enforcement_admits_less_of_the_same_limit(tmp_path):
    scenario = sim.load_scenario(SCENARIOS / "rate_limit_enforcement.yaml", ["duration=8m", "warmup=1m"])
    params = {PERIOD: [60, 1], MAX_OUTPUT: [None, 4000], RATE: [6.0]}
    report = run_experiment("rate_limit_enforcement", scenario, tmp_path / "out", replications=1, params=params)
    table = pd.read_csv(tmp_path / "out" / "enforcement.csv").set_index([PERIOD, MAX_OUTPUT])
    assert len(table) == 4 and "admitted_share" in report
    # common random numbers: every setting saw the same traffic
    assert table.offered_share.nunique() == 1 and table.offered_share.iloc[0] > 1.8
    # a whole-minute bucket passes the limit (plus at most its one-minute head start over 7 minutes)
    assert 0.97 < table.loc[(60, "none"), "admitted_share"] < 1 + 1 / 7
    # one second's bucket wastes refill, and reserving max_tokens in it wastes more
    assert table.loc[(1, "none"), "admitted_share"] < table.loc[(60, "none"), "admitted_share"] - 0.02
    assert table.loc[(1, "4000"), "admitted_share"] < table.loc[(1, "none"), "admitted_share"] - 0.2
    assert table.loc[(1, "4000"), "rate_limited_share"] > table.loc[(60, "4000"), "rate_limited_share"]
    assert (tmp_path / "out" / "enforcement.png").stat().st_size > 20_000
    assert len(pd.read_parquet(tmp_path / "out" / "runs.parquet")) == 4


def test_a_parameter_the_experiment_does_not_sweep_is_a_clear_error(tmp_path, capsys):
    code = main(["experiment", "rate_limit_enforcement", "--param", "cache.threshold=0.9",
                 "--out", str(tmp_path / "r")])
    assert code == 2
    assert "cache.threshold is not swept by this experiment" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_scenario_without_a_combined_tpm_limit_is_refused(tmp_path):
    scenario = sim.load_scenario(SCENARIOS / "rate_limit_enforcement.yaml",
                                 ["providers.0.limits.preset=anthropic-tier1-sonnet4", "duration=3m", "warmup=0s"])
    with pytest.raises(sim.ScenarioError, match="needs limits.tokens_per_min"):
        run_experiment("rate_limit_enforcement", scenario, tmp_path / "out", replications=1)
