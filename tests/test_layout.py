"""The repository's shape: which code the tests import, and what the simulation core may import."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

import sim
from tests.conftest import ROOT


def test_the_tests_import_this_trees_sim_package():
    # Plain `pytest` and `python -m pytest` must both test the working tree, not an installed copy.
    assert Path(sim.__file__).resolve().parent == ROOT / "sim"


@pytest.mark.slow
def test_plain_pytest_without_the_current_folder_on_sys_path_finds_the_helpers_and_this_tree():
    # `python -P` does not put the current folder on sys.path: what the `pytest` script sees.
    test = "tests/test_layout.py::test_the_tests_import_this_trees_sim_package"
    out = subprocess.run([sys.executable, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 passed" in out.stdout


def _core_modules() -> list[str]:
    return sorted(f"sim.{package}.{path.stem}" for package in ("model", "policies", "calibration")
                  for path in (ROOT / "sim" / package).glob("*.py") if path.stem != "__init__")


def test_neither_a_run_nor_the_simulation_core_nor_the_calibration_imports_matplotlib():
    modules = _core_modules()
    assert "sim.model.run" in modules and "sim.calibration.similarity" in modules
    # One fresh interpreter: what running a scenario loads, then what importing every core module adds.
    code = ("import json, sys; import sim.model.run; print(json.dumps(sorted(sys.modules))); "
            f"import {', '.join(modules)}; print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    after_run, after_core = (set(json.loads(line)) for line in out.stdout.splitlines())
    assert "sim.model.run" in after_run and set(modules) <= after_core
    for loaded in (after_run, after_core):
        assert not any(name == "matplotlib" or name.startswith("matplotlib.") for name in loaded)


def test_the_model_layer_holds_no_calibration_or_charts():
    for path in (ROOT / "sim" / "model").glob("*.py"):
        text = path.read_text()
        assert "matplotlib" not in text, path
        for name in ("def pgr_curve", "def production_stream_benchmark", "def calibration_chart",
                     "def paraphrase_pair_cosines", "ROUTELLM_POINTS"):
            assert name not in text, (path, name)
