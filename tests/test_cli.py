"""The command line end to end: run writes frames, summary, scenario and charts; variants are compared."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
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


def test_run_of_variants_draws_their_overlay_and_a_manifest_per_variant(tmp_path, capsys):
    scenario = small_scenario(**{"duration": "5m", "output.charts": True}, variants={
        "one_attempt": {"resilience.retry.max_attempts": 1}, "three_attempts": {"resilience.retry.max_attempts": 3}})
    out = tmp_path / "cmp"
    assert main(["run", write_scenario(tmp_path, scenario), "--out", str(out)]) == 0
    assert (out / "variants_timeline.png").stat().st_size > 10_000
    assert (out / "latency_cdf_variants.png").stat().st_size > 10_000
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["variants"] == list(manifest["variants_sha256"]) == ["one_attempt", "three_attempts"]
    assert len(manifest["scenario_sha256"]) == 64           # the base scenario, written beside the variants


def test_check_prints_the_resolved_scenario(capsys):
    assert main(["check", str(EXPERIMENTS / "demo.yaml")]) == 0
    out = capsys.readouterr().out
    assert "claude-sonnet-4" in out and "ok:" in out
    assert re.search(r"# one run needs ~\d+ MiB of memory \(estimate\)", out)


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


# ------------------------------------------------------------------------------------------ bad command lines

def bad_run(tmp_path, capsys, argv):
    """Run the CLI; return (status, stderr) and check that no traceback was printed."""
    status = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return status, err


def tiny_scenario_file(tmp_path) -> str:
    return write_scenario(tmp_path, small_scenario(duration="2m"))


def test_a_folder_given_as_the_scenario_is_named_as_a_folder(tmp_path, capsys):
    status, err = bad_run(tmp_path, capsys, ["check", str(tmp_path)])
    assert status == 2 and "is a folder, not a scenario file" in err


def test_a_fifo_given_as_the_scenario_is_refused_without_blocking(tmp_path, capsys):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    status, err = bad_run(tmp_path, capsys, ["check", str(fifo)])
    assert status == 2 and "not a regular file" in err


def test_an_unreadable_scenario_is_one_line(tmp_path, capsys, monkeypatch):
    path = tiny_scenario_file(tmp_path)

    def refuse(self, *args, **kwargs):        # tests run as root, so chmod 000 would still be readable
        raise PermissionError(13, "Permission denied", str(self))
    monkeypatch.setattr(Path, "read_text", refuse)
    status, err = bad_run(tmp_path, capsys, ["check", path])
    assert status == 2 and err.strip() == f"error: {path}: cannot read: Permission denied"


@pytest.mark.parametrize("where", ["under_a_file", "proc", "root"])
def test_an_out_folder_that_cannot_be_written_is_one_line(tmp_path, capsys, where):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = {"under_a_file": str(blocker / "run"), "proc": "/proc/llm-traffic-sim-test", "root": "/"}[where]
    status, err = bad_run(tmp_path, capsys, ["run", tiny_scenario_file(tmp_path), "--out", out])
    assert status == 2 and err.startswith("error: --out ") and len(err.strip().splitlines()) == 1
    assert blocker.read_text() == "x"


def test_out_dot_never_deletes_what_the_run_did_not_write(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    monkeypatch.chdir(folder)
    scenario = tiny_scenario_file(tmp_path)
    for out in (".", str(folder), "./"):
        status, err = bad_run(tmp_path, capsys, ["run", scenario, "--out", out])
        assert status == 2 and "is not a results folder written by this program" in err
    assert (folder / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenario.yaml", "work"]


def test_a_results_folder_is_replaced_by_a_new_run(tmp_path, capsys):
    scenario, out = tiny_scenario_file(tmp_path), tmp_path / "run"
    assert main(["run", scenario, "--out", str(out), "--seed", "1"]) == 0
    assert main(["run", scenario, "--out", str(out), "--seed", "2"]) == 0
    assert json.loads((out / "summary.json").read_text())["seed"] == 2


def test_ctrl_c_prints_one_line_and_exits_130(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr("sim.experiments.variants.run_variants", interrupted)
    status, err = bad_run(tmp_path, capsys, ["run", tiny_scenario_file(tmp_path), "--out", str(tmp_path / "o")])
    assert status == 130 and err == "interrupted\n"
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args, message", [
    (["--executor", "dask", "--workers", "-1"], "--workers: must be at least 1, got -1"),
    (["--executor", "processes", "--workers", "-3"], "--workers: must be at least 1, got -3"),
    (["--executor", "processes", "--workers", "0"], "--workers: must be at least 1, got 0"),
    (["--executor", "serial", "--workers", "2"], "--workers: only with --executor processes or dask"),
    (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler: only with --executor dask"),
    (["--seed", "-1"], "--seed: must be in [0, 2**63), got -1"),
])
def test_bad_executor_arguments_are_one_line(tmp_path, capsys, args, message):
    argv = ["sweep", tiny_scenario_file(tmp_path), "--param", "resilience.retry.max_attempts=1,2",
            "--out", str(tmp_path / "sw")] + args
    status, err = bad_run(tmp_path, capsys, argv)
    assert status == 2 and message in err, err
    assert not (tmp_path / "sw").exists()


def test_an_unreachable_scheduler_is_one_line_within_seconds(tmp_path, capsys):
    argv = ["sweep", tiny_scenario_file(tmp_path), "--param", "resilience.retry.max_attempts=1",
            "--executor", "dask", "--scheduler", "tcp://127.0.0.1:1", "--out", str(tmp_path / "sw")]
    started = time.monotonic()
    status, err = bad_run(tmp_path, capsys, argv)
    assert status == 2 and "--scheduler tcp://127.0.0.1:1: no Dask scheduler answered within 5 s" in err
    assert time.monotonic() - started < 20


def test_a_run_with_no_requests_says_so_plainly():
    from sim.report.tables import format_summary
    text = format_summary({"requests_total": 0, "availability": float("nan")})
    assert "no request arrived" in text and "nan" not in text


def test_the_summary_counts_requests_that_waited_over_the_patience(tmp_path, capsys):
    scenario = small_scenario(**{"duration": "5m", "gateway.user_patience_s": 1.0,
                                 "workload.output_tokens.value": 300})
    out = tmp_path / "run"
    assert main(["run", write_scenario(tmp_path, scenario), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    latency = pd.read_parquet(out / "requests.parquet").latency_s
    assert summary["requests_waited_over_patience"] == int((latency > 1.0).sum()) > 0
    printed = capsys.readouterr().out
    assert re.search(rf"waited over 1 s \(patience\) +{summary['requests_waited_over_patience']:,}\n", printed)


def test_another_scenarios_results_are_kept_unless_force(tmp_path, capsys):
    out = tmp_path / "run"
    first = write_scenario(tmp_path, small_scenario(duration="2m", name="first"))
    assert main(["run", first, "--out", str(out), "--quiet"]) == 0
    (tmp_path / "other").mkdir()
    second = write_scenario(tmp_path / "other", small_scenario(duration="2m", name="second"))
    before = (out / "summary.json").read_bytes()
    status, err = bad_run(tmp_path, capsys, ["run", second, "--out", str(out)])
    assert status == 2 and "'first'" in err and "--force" in err
    assert (out / "summary.json").read_bytes() == before
    assert main(["run", second, "--out", str(out), "--force", "--quiet"]) == 0
    assert capsys.readouterr().out == f"results: {out}/\n"          # --quiet: no table, only the path
    assert json.loads((out / "manifest.json").read_text())["scenario"] == "second"


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_run_removes_the_temporary_folder(tmp_path, signum, status):
    scenario = write_scenario(tmp_path, small_scenario(duration="12h", name="long"))
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "sim", "run", scenario, "--out", str(out), "--no-charts"],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob("run.tmp-*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signum)
    assert proc.wait(timeout=30) == status
    assert "terminated" in proc.stderr.read() if signum == signal.SIGTERM else True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenario.yaml"]


def test_experiment_param_only_for_the_tuning_experiments(tmp_path, capsys):
    code = main(["experiment", "routing", "--param", "cache.threshold=0.9", "--out", str(tmp_path / "r")])
    assert code == 2
    assert "--param: only breaker_tuning, cache_threshold, rate_limit_enforcement take" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    code = main(["experiment", "breaker_tuning", "--param", "cache.threshold=0.9", "--out", str(tmp_path / "b")])
    assert code == 2 and not (tmp_path / "b").exists()
