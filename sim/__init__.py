"""llm-traffic-sim: a discrete-event simulator of a production LLM application's traffic path.

    import sim
    scenario = sim.load_scenario(sim.example_scenario("demo"), ["duration=2h"])
    result = sim.simulate(scenario, seed=1)
    result.summary["latency_p95_s"], result.requests.head()

Everything a notebook needs is a name of this package, so no notebook imports the internals:

* scenarios: :func:`load_scenario`, :class:`Scenario`, :func:`example_scenario`, :func:`example_scenarios`;
* one run: :func:`simulate` (a :class:`Result` with four frames and a summary);
* designs compared: :func:`run_variants`, :func:`replicate`, :func:`run_replications`,
  :func:`interval_table`, :func:`paired_differences`;
* many settings: :func:`parse_params`, :func:`sweep`, :func:`aggregate`, :func:`tune`, :class:`Objective`,
  :func:`write_tune`, :func:`format_recommendation`;
* closed forms: :func:`estimate`, :func:`estimate_rate`, :func:`estimate_scenario`, :func:`format_estimate`;
* reports and charts: :func:`build_report`, :func:`write_report`, and :mod:`sim.plot` (every chart function).

``import sim`` stays light: pandas and matplotlib are imported when one of the names that needs them is first
used (module ``__getattr__``), not at import time.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from sim.config import Scenario, load_scenario
from sim.errors import ScenarioError
from sim.estimate import Estimate, estimate, estimate_rate     # light (no pandas); shadows the module's name

EXPERIMENTS_DIR = Path(__file__).resolve().parents[1] / "experiments"
"""The scenario files shipped beside the package (``experiments/`` of the repository)."""


def simulate(scenario, seed=None, replication=0):
    """Run a scenario once (see :func:`sim.model.run.simulate`)."""
    from sim.model.run import simulate as _simulate
    return _simulate(scenario, seed=seed, replication=replication)


def example_scenarios() -> list[str]:
    """The names :func:`example_scenario` accepts: ``outage_replay``, ``incidents/textbook_15min_outage``..."""
    return sorted(p.relative_to(EXPERIMENTS_DIR).with_suffix("").as_posix()
                  for p in EXPERIMENTS_DIR.rglob("*.yaml") if not _is_gateway_config(p))


def _is_gateway_config(path: Path) -> bool:
    """A gateway's own config shipped as an importer's input (experiments/gateways/*_config.*), not a scenario."""
    return path.parent.name == "gateways" and path.stem.endswith("_config")


def example_scenario(name: str) -> Path:
    """The path of the shipped scenario ``experiments/<name>.yaml``, wherever the caller's working folder is.

    ``name`` may omit ``.yaml`` and may name a subfolder (``incidents/openai_2025_06_10_partial``).
    ScenarioError listing the known names when there is no such file."""
    path = EXPERIMENTS_DIR / (name if name.endswith(".yaml") else f"{name}.yaml")
    if not path.is_file():
        raise ScenarioError(f"example scenario {name!r}: no {path}; known: {', '.join(example_scenarios())}")
    return path


# name -> module holding it; imported on first use, so `import sim` loads neither pandas nor matplotlib
_LAZY = {
    "Result": "sim.results",
    "run_variants": "sim.experiments.variants",
    "comparison_frame": "sim.experiments.variants",
    "replicate": "sim.experiments.replications",
    "run_replications": "sim.experiments.replications",
    "interval_table": "sim.experiments.replications",
    "paired_differences": "sim.experiments.replications",
    "parse_params": "sim.experiments.sweep",
    "sweep": "sim.experiments.sweep",
    "aggregate": "sim.experiments.sweep",
    "write_sweep": "sim.experiments.sweep",
    "tune": "sim.experiments.tune",
    "Objective": "sim.experiments.tune",
    "TuneResult": "sim.experiments.tune",
    "write_tune": "sim.experiments.tune",
    "format_recommendation": "sim.experiments.tune",
    "build_report": "sim.report.document",
    "write_report": "sim.report.document",
    "render_markdown": "sim.report.document",
    "format_estimate": "sim.report.tables",
}
_RENAMED = {"estimate_scenario": ("sim.experiments.scenario_estimate", "estimate_from_scenario")}
_SUBMODULES = ("plot",)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _RENAMED:
        module, attribute = _RENAMED[name]
        value = getattr(importlib.import_module(module), attribute)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"sim.{name}")
    else:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = ["Scenario", "ScenarioError", "load_scenario", "simulate", "example_scenario", "example_scenarios",
           "EXPERIMENTS_DIR", "Estimate", "estimate", "estimate_rate", *_LAZY, *_RENAMED, *_SUBMODULES]
