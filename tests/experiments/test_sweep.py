"""Sweeps: the full factorial, replications on common random numbers, the same rows from any executor."""
import pandas as pd
import pytest

import sim
from sim.cli import main
from sim.experiments.sweep import aggregate, ci_halfwidth, expand_grid, make_executor, parse_params, sweep
from tests.conftest import EXPERIMENTS, small_scenario


def test_params_parse_into_a_full_factorial():
    params = parse_params(["a.b=1,2,3", "c=x,y"])
    assert params == {"a.b": [1, 2, 3], "c": ["x", "y"]}
    grid = expand_grid(params)
    assert len(grid) == 6 and grid[0] == {"a.b": 1, "c": "x"} and grid[-1] == {"a.b": 3, "c": "y"}
    with pytest.raises(sim.ScenarioError, match="expected PATH=V1,V2"):
        parse_params(["a.b"])


def test_a_bad_value_fails_before_anything_runs():
    with pytest.raises(sim.ScenarioError, match="resilience.retry.max_attempts"):
        sweep(small_scenario(), {"resilience.retry.max_attempts": [2, 0]})


def serial_and_executor_rows(kind: str, replications: int):
    """The same small sweep run serially and through an executor of ``kind`` (wall times dropped)."""
    scenario = small_scenario(duration="5m")
    params = {"resilience.retry.max_attempts": [1, 3]}
    serial = sweep(scenario, params, replications=replications)
    executor, close = make_executor(kind, workers=2)
    try:
        other = sweep(scenario, params, replications=replications, executor=executor)
    finally:
        close()
    drop = ["wall_time_s", "event_loop_wall_s"]
    return serial.drop(columns=drop), other.drop(columns=drop)


def serial_and_executor_replications(kind: str):
    """The same replications of two variants run serially and through an executor of ``kind``."""
    from sim.experiments.replications import replicate
    scenario = small_scenario(duration="3m", variants={"one": {"resilience.retry.max_attempts": 1},
                                                       "three": {"resilience.retry.max_attempts": 3}})
    serial = replicate(scenario, ["one", "three"], 2)
    executor, close = make_executor(kind, workers=2)
    try:
        other = replicate(scenario, ["one", "three"], 2, executor=executor)
    finally:
        close()
    drop = ["wall_time_s", "event_loop_wall_s"]
    return serial.drop(columns=drop), other.drop(columns=drop)


def test_processes_give_the_same_replications_as_serial():
    serial, parallel = serial_and_executor_replications("processes")
    pd.testing.assert_frame_equal(serial, parallel)
    assert len(serial) == 4 and serial.groupby("replication").requests_total.nunique().eq(1).all()


def test_processes_give_the_same_rows_as_serial():
    serial, parallel = serial_and_executor_rows("processes", replications=2)
    pd.testing.assert_frame_equal(serial, parallel)
    # common random numbers: replication k of both settings saw the same traffic
    assert serial.groupby("replication").requests_total.nunique().eq(1).all()
    assert serial.groupby("resilience.retry.max_attempts").requests_total.nunique().eq(2).all()


def test_aggregate_gives_means_and_student_t_intervals():
    runs = pd.DataFrame({"p": [1, 1, 1, 2, 2, 2], "m": [1.0, 2.0, 3.0, 5.0, 5.0, 5.0]})
    table = aggregate(runs, ["p"], ["m"])
    assert list(table.m) == [2.0, 5.0]
    assert table.m_ci95[0] == pytest.approx(4.302652729911275 * 1.0 / 3 ** 0.5)     # t(0.975, 2) * s / sqrt(n)
    assert table.m_ci95[1] == 0.0
    assert ci_halfwidth([1.0]) != ci_halfwidth([1.0])                                # NaN with one value


def test_sweep_command_writes_runs_and_summary(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(small_scenario(duration="5m").to_yaml())
    out = tmp_path / "sweep"
    assert main(["sweep", str(path), "--param", "workload.rate_per_s=0.5,1.0", "--replications", "2",
                 "--out", str(out), "--no-charts"]) == 0
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 4 and set(runs["workload.rate_per_s"]) == {0.5, 1.0}
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 2 and "availability_ci95" in summary
    assert "results:" in capsys.readouterr().out


def test_breaker_tuning_grid_values_are_valid_for_its_scenario():
    from sim.experiments.registry import BREAKER_GRID
    scenario = sim.load_scenario(EXPERIMENTS / "breaker_tuning.yaml")
    for combo in expand_grid(BREAKER_GRID):
        scenario.with_overrides(combo)


@pytest.mark.slow
def test_a_dask_cluster_gives_the_same_rows_as_serial():
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    serial, distributed = serial_and_executor_rows("dask", replications=1)
    pd.testing.assert_frame_equal(serial, distributed)
    serial, distributed = serial_and_executor_replications("dask")
    pd.testing.assert_frame_equal(serial, distributed)
