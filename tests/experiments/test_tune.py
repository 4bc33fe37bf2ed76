"""The tuner against a known optimum (Erlang C), an impossible bound, and constraint parsing."""
import json
from pathlib import Path

import pytest

import sim
from sim.cli import main
from sim.errors import ScenarioError
from sim.estimate import mmc_mean_wait_s
from sim.experiments.tune import Constraint, Objective, parse_constraint, tune

MMC = Path(__file__).resolve().parents[2] / "experiments" / "validation" / "mmc.yaml"
RATE, BOUND_S = 3.0, 0.06
SERVERS = [4, 5, 6, 7, 8]


def _mmc():
    return sim.load_scenario(MMC, ["duration=30m", "warmup=2m", f"workload.rate_per_s={RATE}"])


def test_recommends_the_least_capacity_erlang_c_allows():
    # Independent of the simulator: the smallest c whose M/M/c mean wait is under the bound (c = 6,
    # 0.033 s; c = 5 waits 0.118 s), with both neighbours far from the bound.
    expected = min(c for c in SERVERS if c > RATE and mmc_mean_wait_s(RATE, c, 1.0) <= BOUND_S)
    assert mmc_mean_wait_s(RATE, expected - 1, 1.0) > 1.5 * BOUND_S
    assert mmc_mean_wait_s(RATE, expected, 1.0) < 0.6 * BOUND_S
    result = tune(_mmc(), {"providers.0.max_concurrency": SERVERS},
                  Objective("providers.0.max_concurrency", "min"), [f"queue_wait_mean_s<={BOUND_S}"],
                  replications=3, seed=11)
    assert result.feasible
    assert result.recommendation["point"]["params"] == {"providers.0.max_concurrency": expected}
    assert result.recommendation["binding_constraint"] == f"queue_wait_mean_s<={BOUND_S:g}"
    assert set(result.runs["stage"]) <= {"design", "refine"}
    # common random numbers: replication k is the same traffic at every point
    assert result.runs.groupby("replication")["requests_total"].nunique().eq(1).all()


def test_impossible_bound_is_infeasible_and_names_the_nearest_point(tmp_path):
    out = tmp_path / "t"
    code = main(["tune", str(MMC), "--set", "duration=20m", "--set", "warmup=2m", "--set",
                 f"workload.rate_per_s={RATE}", "--minimize", "cost_per_request_usd",
                 "--constraint", "queue_wait_mean_s<=0.0001", "--param", "providers.0.max_concurrency=4,5,6",
                 "--out", str(out), "--replications", "2"])
    assert code == 0
    rec = json.loads((out / "recommendation.json").read_text())
    assert rec["feasible"] is False
    assert rec["nearest"]["params"] == {"providers.0.max_concurrency": 6}     # the least waiting
    assert rec["failing"][0]["constraint"] == "queue_wait_mean_s<=0.0001"
    assert rec["failing"][0]["short_by"] > 0
    assert "NO FEASIBLE POINT" in (out / "recommendation.md").read_text()
    assert {"runs.parquet", "summary.csv"} <= {p.name for p in out.iterdir()}
    # the scenario says output.charts: false, which is about each run's own charts; the tune's chart stays
    assert (out / "tune.png").exists()


@pytest.mark.parametrize("text, expected", [
    ("availability>=0.999", Constraint("availability", ">=", 0.999)),
    ("  availability >= 99.9% ", Constraint("availability", ">=", 0.999)),
    ("false_hit_rate<0.005", Constraint("false_hit_rate", "<", 0.005)),
    ("latency_p95_s > 1e-3", Constraint("latency_p95_s", ">", 0.001)),
])
def test_parse_constraint(text, expected):
    got = parse_constraint(text)
    assert got.metric == expected.metric and got.op == expected.op
    assert got.bound == pytest.approx(expected.bound)


@pytest.mark.parametrize("text", ["availability", "availability=>0.9", "availability>=", ">=0.9",
                                  "availability>=abc", "availability==0.9"])
def test_bad_constraint_is_a_scenario_error(text):
    with pytest.raises(ScenarioError, match="--constraint"):
        parse_constraint(text)


def test_unknown_metric_lists_the_known_ones():
    with pytest.raises(ScenarioError, match=r"unknown metric 'availabilty'.*availability"):
        parse_constraint("availabilty>=0.9", known_metrics={"availability", "latency_p95_s"})


def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "t"
    base = ["tune", str(MMC), "--set", "duration=5m", "--set", "warmup=0", "--minimize", "cost_usd",
            "--param", "providers.0.max_concurrency=4,5", "--out", str(out)]
    assert main(base + ["--constraint", "availabilty>=0.9"]) == 2
    assert "availability" in capsys.readouterr().err
    assert main(base + ["--constraint", "availability>=0.9", "--replications", "1"]) == 2
    assert "at least 2" in capsys.readouterr().err
    assert main(base + ["--constraint", "availability>>0.9"]) == 2
    assert not out.exists()


def test_midpoints_refine_numeric_candidates():
    from sim.experiments.tune import _midpoints
    import pandas as pd
    assert _midpoints(pd.Series([0.8, 0.9, 1.0]), 0.9) == [0.85, 0.95]
    assert _midpoints(pd.Series([4, 8, 16]), 8) == [6, 12]
    assert _midpoints(pd.Series([4, 5]), 4) == []


def test_budget_caps_the_runs_samples_the_design_by_seed_and_reports_progress():
    scenario = sim.load_scenario(MMC, ["duration=5m", "warmup=0", f"workload.rate_per_s={RATE}"])
    params = {"providers.0.max_concurrency": [4, 5, 6, 7, 8, 9, 10, 12]}
    calls = []
    kwargs = dict(replications=2, seed=3, budget=10)
    a = tune(scenario, params, Objective("latency_p95_s"), ["availability>=0.5"],
             on_run=lambda done, total: calls.append((done, total)), **kwargs)
    b = tune(scenario, params, Objective("latency_p95_s"), ["availability>=0.5"], **kwargs)
    assert len(a.runs) <= 10
    assert calls == [(i, 10) for i in range(1, len(a.runs) + 1)]
    design = a.runs[a.runs["stage"] == "design"]["providers.0.max_concurrency"].unique()
    assert len(design) == 3                                  # 60% of 10 runs at 2 replications, not all 8
    assert a.runs.drop(columns=["wall_time_s", "event_loop_wall_s"]).equals(
        b.runs.drop(columns=["wall_time_s", "event_loop_wall_s"]))
