"""python -m sim fit-workload and validate-workload: files written, files refused, one-line errors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.cli import main
from sim.model import arrivals as A


@pytest.fixture
def trace_csv(tmp_path):
    """A generic CSV trace: 40 minutes of clustered arrivals, times in milliseconds."""
    rng = np.random.default_rng(1)
    t = A.cluster_arrival_times(rng, np.array([0.0]), np.array([2400.0]), np.array([2.0]), 8.0, 1.5)
    path = tmp_path / "trace.csv"
    pd.DataFrame({"t_ms": np.rint(t * 1000), "prompt": rng.integers(10, 2000, t.size),
                  "completion": rng.integers(1, 500, t.size)}).to_csv(path, index=False)
    return path


GENERIC = ["--format", "generic", "--time-col", "t_ms", "--time-unit", "ms", "--input-col", "prompt",
           "--output-col", "completion"]


def test_fit_writes_a_scenario_that_check_and_validate_accept(tmp_path, trace_csv, capsys):
    scenario = tmp_path / "workload.yaml"
    assert main(["fit-workload", str(trace_csv), *GENERIC, "-o", str(scenario)]) == 0
    printed = capsys.readouterr().out
    assert "KS" in printed and "Fano factor" in printed and str(scenario) in printed
    assert main(["check", str(scenario), "--quiet"]) == 0
    out = tmp_path / "validation"
    assert main(["validate-workload", str(trace_csv), *GENERIC, str(scenario), "-o", str(out),
                 "--replications", "2"]) == 0
    assert "poisson/trace" in capsys.readouterr().out
    table = pd.read_csv(out / "validation.csv")
    assert {"statistic", "trace", "fitted", "fitted/trace", "poisson", "poisson/trace"} <= set(table.columns)
    assert (out / "validation.png").stat().st_size > 10_000 and (out / "fano_curve.csv").is_file()


def test_fit_replaces_its_own_file_and_refuses_another(tmp_path, trace_csv, capsys):
    mine, other = tmp_path / "fitted.yaml", tmp_path / "notes.yaml"
    assert main(["fit-workload", str(trace_csv), *GENERIC, "-o", str(mine)]) == 0
    assert main(["fit-workload", str(trace_csv), *GENERIC, "-o", str(mine), "--tokens", "lognormal"]) == 0
    assert "type: lognormal" in mine.read_text()
    other.write_text("keep me\n")
    assert main(["fit-workload", str(trace_csv), *GENERIC, "-o", str(other)]) == 2
    assert "was not written by fit-workload" in capsys.readouterr().err
    assert other.read_text() == "keep me\n"


@pytest.mark.parametrize("args, message", [
    (["--format", "generic", "--time-col", "nope"], "missing column(s) 'nope'"),
    (["--format", "azure"], "missing column(s) 'TIMESTAMP'"),
    (["--step", "soon"], "--step"),
])
def test_bad_trace_arguments_are_one_line(trace_csv, capsys, args, message):
    assert main(["fit-workload", str(trace_csv), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_a_missing_trace_is_one_line(tmp_path, capsys):
    assert main(["fit-workload", str(tmp_path / "absent.csv")]) == 2
    assert "trace file not found" in capsys.readouterr().err


def test_a_trace_shorter_than_a_minute_fits_and_validates_with_gaps_marked(tmp_path, capsys):
    trace = tmp_path / "short.csv"
    times = np.cumsum(np.random.default_rng(2).exponential(0.4, 30))
    pd.DataFrame({"arrival_s": times, "input_tokens": 100, "output_tokens": 20}).to_csv(trace, index=False)
    scenario = tmp_path / "short.yaml"
    assert main(["fit-workload", str(trace), "--format", "generic", "-o", str(scenario)]) == 0
    assert "profile is flat" in capsys.readouterr().out
    assert main(["validate-workload", str(trace), "--format", "generic", str(scenario), "-o",
                 str(tmp_path / "v"), "--replications", "2", "--no-charts"]) == 0
    table = pd.read_csv(tmp_path / "v" / "validation.csv").set_index("statistic")
    assert np.isnan(table.loc["requests_per_min_mean", "trace"])       # no full minute: no number
    assert table.loc["input_tokens_p50", "fitted"] == 100
