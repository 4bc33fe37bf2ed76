"""--param ranges and durations, the factorial and Latin hypercube designs, shown metrics, and resumable sweeps."""
import pandas as pd
import pytest

import sim
from sim.cli import main
from sim.experiments.checkpoint import SweepCheckpoint, checkpoint_dir, sweep_manifest
from sim.experiments.sweep import (KNOWN_METRICS, default_metrics, design_combos, numeric_metrics, parse_params,
                                   sweep)
from tests.conftest import EXPERIMENTS, small_scenario


def test_ranges_lists_and_durations_parse_to_values():
    params = parse_params(["a=0.85:0.97:0.03", "b=10:1000:3log", "c=30s:2m:30s", "d=1m,5m,15m", "e=1:5:2",
                           "f=x,y", "g=0:1:0.3"])
    assert params == {"a": [0.85, 0.88, 0.91, 0.94, 0.97], "b": [10, 100, 1000], "c": [30, 60, 90, 120],
                      "d": [60, 300, 900], "e": [1, 3, 5], "f": ["x", "y"], "g": [0, 0.3, 0.6, 0.9]}
    assert all(isinstance(v, int) for v in params["e"]) and isinstance(params["g"][1], float)


@pytest.mark.parametrize("item, problem", [
    ("a=1:0:1", "starts above its end"), ("a=0:1:0", "step must be positive"), ("a=0:1:-0.1", "step must be"),
    ("a=1:10:1log", "at least 2 points"), ("a=0:10:3log", "must be positive"), ("a=0:1:0.00001", "cap"),
    ("a=1:2", "a:b:step"), ("a=1:2:x", "not a number or a duration")])
def test_bad_ranges_name_the_item_and_the_problem(item, problem):
    with pytest.raises(sim.ScenarioError, match=rf"--param '{item}'.*{problem}"):
        parse_params([item])


def test_too_many_combinations_in_all_are_refused():
    with pytest.raises(sim.ScenarioError, match="10000"):
        parse_params(["a=1:200:1", "b=1:100:1"])


def test_latin_hypercube_is_seeded_stratified_and_respects_types():
    params = parse_params(["t=0.5:0.9:0.1", "n=10:1000:3log", "w=5:50:5", "mode=x,y"])
    combos = design_combos(params, "lhs", samples=8, seed=7)
    assert combos == design_combos(params, "lhs", samples=8, seed=7) != design_combos(params, "lhs", 8, seed=8)
    t = sorted(c["t"] for c in combos)
    assert all(0.5 + 0.05 * i <= v <= 0.5 + 0.05 * (i + 1) for i, v in enumerate(t))   # one per stratum
    assert all(isinstance(c["w"], int) and 5 <= c["w"] <= 50 for c in combos)
    assert all(10 <= c["n"] <= 1000 for c in combos) and sum(c["n"] < 100 for c in combos) == 4  # log-uniform
    assert sorted(c["mode"] for c in combos) == ["x"] * 4 + ["y"] * 4
    assert len(design_combos(params, "factorial")) == 5 * 3 * 10 * 2
    with pytest.raises(sim.ScenarioError, match="--samples"):
        design_combos(params, "lhs")


def test_known_metrics_are_exactly_the_numeric_summary_of_a_run():
    runs = sweep(small_scenario(duration="2m"), {"workload.rate_per_s": [1.0]})
    measured = set(numeric_metrics(runs, ["workload.rate_per_s"])) - {"simulated_time_s", "event_loop_wall_s",
                                                                      "wall_time_s"}
    assert measured == set(KNOWN_METRICS)


def test_default_metrics_follow_the_scenarios_features():
    assert default_metrics(small_scenario()) == ["availability", "latency_p95_s", "cost_per_request_usd"]
    breaker = default_metrics(sim.load_scenario(EXPERIMENTS / "breaker_tuning.yaml"))
    assert {"failed_during_faults", "false_trips", "time_to_open_s"} <= set(breaker)
    cache = default_metrics(sim.load_scenario(EXPERIMENTS / "cache_threshold.yaml"))
    assert {"cache_hit_rate", "false_hit_rate", "stale_rate"} <= set(cache)
    kill = sim.load_scenario(EXPERIMENTS / "kill_switch.yaml")
    assert "requests_killed" not in default_metrics(kill)
    assert "requests_killed" in default_metrics(kill.variant("hard_only"))


def write_small(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(small_scenario(duration="3m").to_yaml())
    return path


def test_sweep_command_lhs_metrics_and_every_metric_in_the_summary(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["sweep", str(write_small(tmp_path)), "--param", "workload.rate_per_s=0.5:2:0.5", "--design", "lhs",
                 "--samples", "3", "--metrics", "availability,requests_total", "--out", str(out), "--no-charts"]) == 0
    printed = capsys.readouterr().out
    assert "requests_total" in printed and "latency_p95_s" not in printed
    for summary in (pd.read_csv(out / "summary.csv"), pd.read_parquet(out / "summary.parquet")):
        assert len(summary) == 3 and {f"{m}_ci95" for m in KNOWN_METRICS} <= set(summary.columns)
    assert not checkpoint_dir(out).exists()


def test_an_unknown_metric_is_refused_listing_the_known_ones(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["sweep", str(write_small(tmp_path)), "--param", "workload.rate_per_s=1", "--metrics", "avail",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--metrics: unknown avail" in err and "availability" in err and not out.exists()


class Interrupt(Exception):
    pass


def test_an_interrupted_sweep_resumes_to_the_same_rows(tmp_path):
    scenario = small_scenario(duration="3m")
    params = {"workload.rate_per_s": [0.5, 1.0, 1.5]}
    manifest = sweep_manifest(scenario.to_yaml(), params, "factorial", None, scenario.seed, 2)
    folder = checkpoint_dir(tmp_path / "out")
    whole = sweep(scenario, params, replications=2)

    def stop_after_two(done, total):
        if done == 2:
            raise Interrupt
    with pytest.raises(Interrupt):
        sweep(scenario, params, replications=2, on_run=stop_after_two,
              checkpoint=SweepCheckpoint.open(folder, manifest, resume=False))
    assert len(list(folder.glob("run_*.json"))) == 2
    with pytest.raises(sim.ScenarioError, match="--resume"):
        SweepCheckpoint.open(folder, manifest, resume=False)
    with pytest.raises(sim.ScenarioError, match="replications differ"):
        SweepCheckpoint.open(folder, {**manifest, "replications": 3}, resume=True)
    progress = []
    resumed = sweep(scenario, params, replications=2, on_run=lambda d, t: progress.append((d, t)),
                    checkpoint=SweepCheckpoint.open(folder, manifest, resume=True))
    assert progress[0] == (2, 6) and progress[-1] == (6, 6) and len(progress) == 5
    drop = ["wall_time_s", "event_loop_wall_s"]
    pd.testing.assert_frame_equal(resumed.drop(columns=drop), whole.drop(columns=drop))


def test_the_command_refuses_a_leftover_checkpoint_without_resume_and_removes_only_its_own(tmp_path, capsys):
    path, out = write_small(tmp_path), tmp_path / "sweep"
    args = ["sweep", str(path), "--param", "workload.rate_per_s=0.5,1", "--out", str(out), "--no-charts"]
    folder = checkpoint_dir(out)
    folder.mkdir()
    (folder / "mine.txt").write_text("not the program's")
    assert main(args + ["--resume"]) == 2 and "not a sweep checkpoint" in capsys.readouterr().err
    (folder / "mine.txt").unlink()
    folder.rmdir()
    scenario = sim.load_scenario(path)
    SweepCheckpoint.open(folder, sweep_manifest(scenario.to_yaml(), parse_params(args[3:4]), "factorial", None,
                                                scenario.seed, 1), resume=False)
    (folder / "notes.txt").write_text("user file")
    assert main(args) == 2 and "--resume" in capsys.readouterr().err and not out.exists()
    assert main(args + ["--resume"]) == 0 and (out / "runs.parquet").exists()
    assert (folder / "notes.txt").read_text() == "user file" and not list(folder.glob("run_*"))


def test_breaker_tuning_takes_param_values_for_its_grid_and_refuses_others(tmp_path):
    from sim.experiments.registry import breaker_tuning
    scenario = small_scenario(duration="3m", resilience={"breaker": {"window_size": 10}})
    with pytest.raises(sim.ScenarioError, match="cache.threshold is not swept"):
        breaker_tuning(scenario, tmp_path / "x", params=parse_params(["cache.threshold=0.9"]))
    params = parse_params(["resilience.breaker.failure_rate_threshold=0.3,0.5",
                           "resilience.breaker.window_size=20", "resilience.breaker.wait_in_open_s=30s"])
    breaker_tuning(scenario, tmp_path / "b", replications=1, params=params, charts=False)
    runs = pd.read_parquet(tmp_path / "b" / "runs.parquet")
    assert len(runs) == 2 and set(runs["resilience.breaker.wait_in_open_s"]) == {30}
