"""Replications and paired comparisons: intervals from independent replications, differences on common
random numbers, and the paired interval far narrower than the unpaired one on a resilience comparison."""
import numpy as np
import pandas as pd
import pytest

from sim.cli import main
from sim.experiments.replications import interval_table, paired_differences, replicate
from tests.conftest import EXPERIMENTS, small_scenario

OUTAGE = [{"kind": "outage", "targets": ["alpha"], "start": "3m", "duration": "4m"}]
DESIGNS = {"no_fallback": {"routing.chain": ["alpha/m1"]},
           "fallback": {"routing.chain": ["alpha/m1", "beta/m2"], "resilience.fallback": True,
                        "resilience.breaker": {"window_size": 10, "minimum_calls": 5}}}


@pytest.fixture(scope="module")
def runs():
    scenario = small_scenario(duration="10m", faults=OUTAGE, variants=DESIGNS)
    return replicate(scenario, list(DESIGNS), replications=6, seed=11)


def test_replications_are_independent_samples_and_variants_share_each_replication(runs):
    assert len(runs) == 12 and set(runs.replication) == set(range(6))
    totals = runs.pivot(index="replication", columns="variant", values="requests_total")
    assert (totals["fallback"] == totals["no_fallback"]).all()      # the same traffic in each replication
    assert totals["fallback"].nunique() > 1                          # and different traffic across them


def test_interval_table_holds_the_mean_and_the_t_half_width(runs):
    table = interval_table(runs, ["availability"])
    values = runs[runs.variant == "fallback"].availability.to_numpy()
    from scipy import stats
    expected = stats.t.ppf(0.975, 5) * values.std(ddof=1) / np.sqrt(6)
    assert table.loc["fallback", "availability"] == pytest.approx(values.mean())
    assert table.loc["fallback", "availability_ci95"] == pytest.approx(expected)


def test_paired_interval_is_markedly_narrower_than_the_unpaired_one(runs):
    paired = paired_differences(runs, ["availability", "cost_usd"], baseline="no_fallback")
    row = paired.loc["fallback"]
    assert row["availability_diff"] > 0                             # fallback saves requests in the outage
    assert row["availability_diff"] - row["availability_diff_ci95"] > 0     # and the interval says so
    assert row["cost_usd_diff_ci95"] < 0.5 * row["cost_usd_diff_ci95_unpaired"]


def test_run_with_replications_writes_runs_intervals_and_paired_differences(tmp_path, capsys):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(small_scenario(duration="5m", faults=OUTAGE, variants=DESIGNS).to_yaml())
    status = main(["run", str(scenario), "--replications", "3", "--out", str(tmp_path / "out"), "--no-charts"])
    assert status == 0
    out = capsys.readouterr().out
    assert "±" in out and "fallback - no_fallback" in out
    assert len(pd.read_parquet(tmp_path / "out" / "runs.parquet")) == 6
    assert {"availability", "availability_ci95"} <= set(pd.read_csv(tmp_path / "out" / "summary.csv").columns)
    assert "availability_diff_ci95" in pd.read_csv(tmp_path / "out" / "paired.csv").columns
    assert not (tmp_path / "out" / "comparison.png").exists()


def test_run_with_replications_draws_the_comparison_with_whiskers(tmp_path):
    from matplotlib.container import ErrorbarContainer
    from sim.experiments.replications import comparison_chart_of_replications
    import sim.report.comparison as comparison
    scenario = small_scenario(duration="5m", faults=OUTAGE, variants=DESIGNS)
    runs = replicate(scenario, list(reversed(DESIGNS)), replications=3, seed=5)
    drawn = {}
    original = comparison.build_comparison_figure
    comparison.build_comparison_figure = lambda *a, **k: drawn.setdefault("fig", original(*a, **k))
    try:
        comparison_chart_of_replications(scenario, runs, tmp_path / "comparison.png")
    finally:
        comparison.build_comparison_figure = original
    assert (tmp_path / "comparison.png").is_file() and (tmp_path / "comparison.svg").is_file()
    fig = drawn["fig"]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(DESIGNS)     # the scenario's order
    availability = fig.axes[0]
    assert any(isinstance(c, ErrorbarContainer) for c in availability.containers)
    assert "3 replications" in fig.get_suptitle()


@pytest.mark.slow
def test_the_95_percent_interval_covers_erlang_c_about_95_percent_of_the_time():
    # 60 independent experiments of 5 short replications each on an M/M/4 queue at rho 0.75: the t interval
    # of the mean queue wait must cover the exact Erlang C value in about 95% of them (binomial: 57 +- 1.7;
    # intervals half as wide would cover about 70%).
    import sim
    from sim.estimate import mmc_mean_wait_s
    scenario = sim.load_scenario(EXPERIMENTS / "validation" / "mmc.yaml",
                                 ["duration=8m", "warmup=1m", "workload.rate_per_s=3.0"])
    truth = mmc_mean_wait_s(3.0, 4, 1.0)
    covered = 0
    for experiment in range(60):
        row = interval_table(replicate(scenario, [], 5, seed=1000 + experiment), ["queue_wait_mean_s"]).iloc[0]
        covered += abs(row["queue_wait_mean_s"] - truth) <= row["queue_wait_mean_s_ci95"]
    assert 52 <= covered <= 60, covered


def mmc_scenario():
    import sim
    return sim.load_scenario(EXPERIMENTS / "validation" / "mmc.yaml",
                             ["duration=6m", "warmup=1m", "workload.rate_per_s=3.0"])


def test_replicating_to_a_precision_stops_when_the_half_widths_meet_it_and_tighter_needs_more():
    from sim.experiments.replications import relative_halfwidths, replicate_to_precision
    scenario, metrics = mmc_scenario(), ["queue_wait_mean_s", "latency_mean_s"]
    loose = replicate_to_precision(scenario, [], metrics, precision=0.3, max_replications=60, seed=5)
    tight = replicate_to_precision(scenario, [], metrics, precision=0.2, max_replications=60, seed=5)
    assert not loose.unmet and not tight.unmet
    assert 3 <= loose.replications < tight.replications <= 60
    assert len(tight.runs) == tight.replications and list(tight.runs["replication"]) == list(range(tight.replications))
    for reached, target in ((loose, 0.3), (tight, 0.2)):
        assert max(relative_halfwidths(reached.runs, metrics).values()) <= target
    capped = replicate_to_precision(scenario, [], metrics, precision=0.001, max_replications=5, seed=5)
    assert capped.replications == 5 and "queue_wait_mean_s" in capped.unmet


def test_run_with_precision_reports_the_replications_used(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(mmc_scenario().to_yaml())
    assert main(["run", str(path), "--precision", "0.001", "--max-replications", "4", "--out",
                 str(tmp_path / "out"), "--no-charts"]) == 0
    out = capsys.readouterr().out
    assert "4 replications; precision 0.001 not reached (cap 4) for:" in out and "availability" not in out.split(
        "for:")[1]
    assert len(pd.read_parquet(tmp_path / "out" / "runs.parquet")) == 4
    assert main(["run", str(path), "--precision", "0", "--out", str(tmp_path / "o2")]) == 2
    assert "--precision" in capsys.readouterr().err


def test_variants_run_with_replications_writes_the_same_rows_as_replications_alone(tmp_path):
    """run_variants(replications=3) keeps replication 0's frames and adds replications 1-2: its runs.parquet
    equals run_replications' (the same streams), so the report's intervals and the frames agree."""
    from sim.experiments.replications import run_replications
    from sim.experiments.variants import run_variants
    scenario = small_scenario(duration="10m", variants={"one_attempt": {"resilience.retry.max_attempts": 1},
                                                        "three_attempts": {"resilience.retry.max_attempts": 3}})
    names = list(scenario.variants)
    run_variants(scenario, names, tmp_path / "with_frames", replications=3)
    run_replications(scenario, names, tmp_path / "alone", 3)
    wall = ["event_loop_wall_s", "wall_time_s"]
    a = pd.read_parquet(tmp_path / "with_frames" / "runs.parquet").drop(columns=wall)
    b = pd.read_parquet(tmp_path / "alone" / "runs.parquet").drop(columns=wall)
    pd.testing.assert_frame_equal(a[b.columns].reset_index(drop=True), b, check_dtype=False)
    assert (tmp_path / "with_frames" / "one_attempt" / "requests.parquet").is_file()
    assert (tmp_path / "with_frames" / "paired.csv").is_file()
