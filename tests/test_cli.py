"""The command line end to end: run writes frames, summary, scenario and charts; variants are compared."""
import json

import pandas as pd
import yaml

import sim
from sim.cli import main
from sim.results import Result
from tests.conftest import EXPERIMENTS, shared_data, small_scenario


def write_scenario(tmp_path, scenario) -> str:
    path = tmp_path / "scenario.yaml"
    path.write_text(scenario.to_yaml())
    return str(path)


def test_run_writes_frames_summary_scenario_and_charts(tmp_path, capsys):
    path = write_scenario(tmp_path, small_scenario(**{"duration": "10m", "output.charts": True}))
    out = tmp_path / "run"
    assert main(["run", path, "--out", str(out), "--seed", "4", "--set", "workload.rate_per_s=2"]) == 0
    printed = capsys.readouterr().out
    assert "availability" in printed and str(out) in printed
    for name in ("requests", "calls", "timeseries", "events"):
        assert len(pd.read_parquet(out / f"{name}.parquet")) > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 4 and summary["requests_total"] > 1000
    resolved = yaml.safe_load((out / "scenario.yaml").read_text())
    assert resolved["workload"]["rate_per_s"] == 2
    assert (out / "timeline.png").read_bytes()[:4] == b"\x89PNG"
    loaded = Result.load(out)
    assert loaded.summary["requests_total"] == summary["requests_total"]


def test_variants_run_on_common_random_numbers_and_are_compared(tmp_path, capsys):
    scenario = small_scenario(**{"duration": "10m"}, variants={
        "one_attempt": {"resilience.retry.max_attempts": 1},
        "three_attempts": {"resilience.retry.max_attempts": 3}})
    out = tmp_path / "cmp"
    assert main(["run", write_scenario(tmp_path, scenario), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "one_attempt" in printed and "three_attempts" in printed
    table = pd.read_csv(out / "comparison.csv", index_col="variant")
    assert table.loc["three_attempts", "availability"] > table.loc["one_attempt", "availability"]
    a = pd.read_parquet(out / "one_attempt" / "requests.parquet")
    b = pd.read_parquet(out / "three_attempts" / "requests.parquet")
    pd.testing.assert_series_equal(a.arrival_s, b.arrival_s)          # same traffic
    # the first attempt of every call is identical too: retries only add attempts
    first_a = pd.read_parquet(out / "one_attempt" / "calls.parquet").query("attempt == 1")
    first_b = pd.read_parquet(out / "three_attempts" / "calls.parquet").query("attempt == 1")
    assert (first_a.status.to_numpy() == first_b.status.to_numpy()).all()


def test_check_prints_the_resolved_scenario(capsys):
    assert main(["check", str(EXPERIMENTS / "demo.yaml")]) == 0
    out = capsys.readouterr().out
    assert "claude-sonnet-4" in out and "ok:" in out


def test_estimate_from_flags_reproduces_the_textbook_figures(capsys):
    assert main(["estimate", "--dau", "10000", "--requests-per-user-per-day", "15", "--input-tokens", "2000",
                 "--input-price-per-mtok", "3", "--json"]) == 0
    est = json.loads(capsys.readouterr().out)
    assert est["cost_per_day_usd"] == 900.0 and est["cost_per_month_usd"] == 27000.0
    assert main(["estimate", "--dau", "5000", "--requests-per-user-per-day", "10", "--latency-s", "4",
                 "--peak-to-average", "3", "--json"]) == 0
    assert abs(json.loads(capsys.readouterr().out)["peak_concurrency"] - 6.94) < 0.01


def test_estimate_from_a_scenario_tells_how_many_keys_are_needed(capsys):
    assert main(["estimate", str(EXPERIMENTS / "demo.yaml"), "--set", "providers.0.limits.preset=lesson-anthropic-key"]) == 0
    out = capsys.readouterr().out
    assert "Keys needed" in out or "keys needed" in out.lower()


def test_azure_trace_replay_drives_the_arrivals(tmp_path):
    trace = shared_data("traces/azure_llm_2023/AzureLLMInferenceTrace_conv.csv")
    scenario = small_scenario(**{"duration": "10m", "workload": {"trace": {"path": str(trace), "format": "azure"}}})
    r = sim.simulate(scenario)
    assert 2500 < len(r.requests) < 4500           # ~5.5 requests/s in the real trace's first 10 minutes
    assert r.requests.input_tokens[r.requests.outcome == "ok"].median() > 500
    assert r.requests.arrival_s.iloc[0] == 0.0
