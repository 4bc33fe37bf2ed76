"""A run's fixed cost: what the run path imports, what is parsed once per process, and warm pool workers.

Tuning multiplies every run by hundreds, so the fixed cost of a run (imports, catalogue, scenario validation)
must be paid once per process, not once per run. benchmarks/startup.py measures it; these tests keep the
structure that makes it small: plotting and scipy.optimize stay off the run path, the catalogue and a sweep's
scenario are parsed once, and a process pool's workers import the model before their first job.
"""
import json
import subprocess
import sys

import sim
import sim.provider_catalogue as catalogue
from sim.experiments import sweep as sweep_module
from tests.conftest import EXPERIMENTS, ROOT

TINY = [str(EXPERIMENTS / "validation" / "mmc.yaml"), "duration=2m", "warmup=0"]


def loaded_after(code: str, *args: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints a JSON object, which is returned."""
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_import_sim_loads_no_scipy_and_a_run_loads_no_plotting_nor_optimiser():
    code = """if True:
        import json, sys
        import sim
        after_import = sorted(sys.modules)
        import sim.model.run
        result = sim.simulate(sim.load_scenario(sys.argv[1], sys.argv[2:]))
        print(json.dumps({"import": after_import, "run": sorted(sys.modules), "n": len(result.requests)}))"""
    loaded = loaded_after(code, *TINY)
    assert loaded["n"] > 100                        # the run did happen
    assert not {m for m in loaded["import"] if m == "scipy" or m.startswith("scipy.")}
    for heavy in ("matplotlib", "scipy.optimize", "scipy.stats", "distributed", "tqdm"):
        assert heavy not in loaded["run"], f"{heavy} is imported on the run path"


def test_the_catalogue_is_parsed_once_per_process(monkeypatch):
    parsed = []
    real_parse = catalogue._parse
    monkeypatch.setattr(catalogue, "_parse", lambda *args: parsed.append(args[1]) or real_parse(*args))
    catalogue._load_packaged.cache_clear()
    try:
        path = sim.example_scenario("outage_replay")           # its models and limits come from the catalogue
        first = sim.load_scenario(path)
        sim.load_scenario(path, ["seed=5"])
        first.with_overrides({"seed": 6})
        assert parsed == ["sim/provider_catalogue.yaml"]
    finally:
        catalogue._load_packaged.cache_clear()


def test_a_sweep_validates_its_scenario_text_once_per_process():
    text = sim.load_scenario(*TINY[:1], TINY[1:]).to_yaml()
    sweep_module.base_scenario.cache_clear()
    rows = [sweep_module.run_one(text, {"workload.rate_per_s": rate}, None, 0) for rate in (2.0, 3.0)]
    info = sweep_module.base_scenario.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    assert rows[0]["requests_total"] < rows[1]["requests_total"]              # the override still took effect


def test_process_pool_workers_have_the_model_imported_before_their_first_job():
    code = """if True:
        import json, sys
        from sim.experiments.sweep import make_executor

        def model_loaded():
            return "sim.model.run" in sys.modules

        before = "sim.model.run" in sys.modules
        executor, close = make_executor("processes", workers=1)
        try:
            in_worker = executor.submit(model_loaded).result()
        finally:
            close()
        print(json.dumps({"before": before, "worker": in_worker}))"""
    loaded = loaded_after(code)
    assert loaded == {"before": False, "worker": True}


def test_the_fast_yaml_loader_reads_the_catalogue_as_the_pure_python_one_does():
    import yaml
    text = (ROOT / "sim" / "provider_catalogue.yaml").read_text(encoding="utf-8")
    assert yaml.load(text, Loader=catalogue._SAFE_LOADER) == yaml.load(text, Loader=yaml.SafeLoader)
