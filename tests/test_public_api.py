"""The top-level package is the notebooks' whole API: every exported name resolves, and `import sim` stays light."""
import json
import subprocess
import sys

import pytest

import sim
from tests.conftest import ROOT

NOTEBOOK_NAMES = ("load_scenario", "simulate", "example_scenario", "run_variants", "replicate",
                  "run_replications", "interval_table", "paired_differences", "parse_params", "sweep", "aggregate",
                  "tune", "Objective", "write_tune", "build_report", "write_report", "estimate",
                  "estimate_scenario", "plot")


@pytest.mark.parametrize("name", sorted(set(sim.__all__) | set(NOTEBOOK_NAMES)))
def test_every_exported_name_resolves(name):
    assert name in sim.__all__
    assert getattr(sim, name) is not None
    assert name in dir(sim)


@pytest.mark.parametrize("name", sim.plot.__all__)
def test_every_chart_function_is_in_sim_plot(name):
    assert callable(getattr(sim.plot, name))


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_thing"):
        sim.no_such_thing


def test_estimate_is_the_function_and_its_module_still_imports():
    from sim.estimate import erlang_c
    assert callable(sim.estimate) and sim.estimate.__name__ == "estimate"
    assert erlang_c(1, 0.5) == pytest.approx(0.5)
    assert sim.estimate(1000, 10, 1000, 100, 3, 15, 2).requests_per_day == 10_000


def test_example_scenario_finds_shipped_files_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = sim.example_scenario("outage_replay")
    assert path == ROOT / "experiments" / "outage_replay.yaml" and path.is_absolute()
    assert sim.example_scenario("incidents/textbook_15min_outage.yaml").is_file()
    assert "incidents/openai_2025_06_10_partial" in sim.example_scenarios()
    assert sim.load_scenario(path, ["duration=50m"]).name == "outage_replay"
    with pytest.raises(sim.ScenarioError, match="known: .*outage_replay"):
        sim.example_scenario("no_such_scenario")


def test_import_sim_loads_neither_pandas_nor_matplotlib():
    code = "import json, sys, sim; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert "sim" in loaded
    for heavy in ("pandas", "matplotlib"):
        assert heavy not in loaded
