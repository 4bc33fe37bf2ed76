"""Shared test helpers: the repository root, the shared public data, small scenarios."""
from pathlib import Path

import pytest

import sim

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"
SHARED_DATA = (ROOT / ".." / "shared" / "data").resolve()


def shared_data(relative: str) -> Path:
    """A file of ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"public data not available: {path} (the shared/data folder sits beside the repo)")
    return path


def small_scenario(**overrides):
    """A fast, fully specified scenario for end-to-end tests (30 simulated minutes, ~1 request/s)."""
    data = {
        "name": "small", "seed": 3, "duration": "30m",
        "workload": {"rate_per_s": 1.0, "profile": {"type": "flat"},
                     "input_tokens": {"type": "fixed", "value": 1000},
                     "output_tokens": {"type": "fixed", "value": 200}},
        "providers": [
            {"name": "alpha", "models": [{"name": "m1", "input_usd_per_mtok": 3.0, "output_usd_per_mtok": 15.0,
                                           "error_rate": 0.01, "hallucination_prob": 0.05}]},
            {"name": "beta", "models": [{"name": "m2", "input_usd_per_mtok": 2.5, "output_usd_per_mtok": 10.0}]},
        ],
        "output": {"charts": False},
    }
    scenario = sim.config.validate_scenario(data)
    return scenario.with_overrides(overrides) if overrides else scenario
