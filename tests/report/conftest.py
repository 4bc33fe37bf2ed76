"""Fixtures shared by the chart tests."""
from pathlib import Path

import pytest

import sim

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scenario():
    """The M/M/c validation scenario cut to an hour with a five-minute warm-up: small, fast, and with no faults."""
    base = sim.load_scenario(ROOT / "experiments/validation/mmc.yaml")
    return base.model_copy(update={"duration": 3600.0, "warmup": 300.0})
