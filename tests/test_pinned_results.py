"""Results pinned before any speed work: fixed scenarios and seeds must give the same numbers, exactly.

An optimisation of the hot path (fewer events, batched draws, another recorder) must not change what a run
says. These cases cover the paths such work touches: a fault, a circuit breaker with fallback, the gateway
queue, the semantic cache, the quality breaker on a silent degradation and the budget kill switch. Each pins
every summary metric (relative 1e-9, room for a reordered float sum and nothing else) and a digest of each
frame's columns (exact: any change to any request, call, interval or event shows).

When a change is *meant* to change results (a correction), regenerate and say why in the commit:

    PIN_UPDATE=1 .venv/bin/python -m pytest tests/test_pinned_results.py
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.results import FRAMES

ROOT = Path(__file__).resolve().parents[1]
PINNED = Path(__file__).with_name("pinned_results.json")
UNPINNED = {"wall_time_s", "event_loop_wall_s"}     # wall-clock, not results

#: case -> (scenario file, variant or None, overrides, seed)
CASES = {
    "outage_breaker_fallback_queue": ("outage_replay.yaml", "breaker_fallback_queue",
                                      ["duration=40m", "warmup=5m"], 7),
    "outage_retries": ("outage_replay.yaml", "retries", ["duration=40m", "warmup=5m"], 7),
    "cache": ("cache_threshold.yaml", None, ["duration=40m", "warmup=5m", "cache.threshold=0.85"], 7),
    "silent_degradation_quality_breaker": ("silent_degradation.yaml", "quality_breaker",
                                           ["duration=100m", "warmup=10m"], 7),
    "kill_switch": ("kill_switch.yaml", "kill_switch", ["duration=80m"], 7),
}


def frame_digest(frame: pd.DataFrame) -> str:
    """A digest of a frame's column names, dtypes and values (NaN-stable), independent of pandas' storage."""
    h = hashlib.sha256()
    for name in frame.columns:
        column = frame[name]
        h.update(f"{name}:{column.dtype}".encode())
        if pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
            h.update(np.ascontiguousarray(column.to_numpy()).tobytes())
        else:                                           # strings, categories, objects: by their text
            h.update("\x1f".join(map(str, column.tolist())).encode())
    return h.hexdigest()


def run_case(name: str) -> dict:
    path, variant, overrides, seed = CASES[name]
    scenario = sim.load_scenario(ROOT / "experiments" / path, overrides + ["output.charts=false"])
    if variant is not None:
        scenario = scenario.variant(variant)
    result = sim.simulate(scenario, seed=seed)
    summary = {k: v for k, v in result.summary.items() if k not in UNPINNED and isinstance(v, (int, float))
               and not isinstance(v, bool)}
    digests = {frame: frame_digest(getattr(result, frame)) for frame in FRAMES}
    return {"summary": summary, "frames": digests}


def _same(pinned: float, now: float) -> bool:
    if pinned is None or now is None:
        return pinned is None and now is None
    if math.isnan(pinned) or math.isnan(now):
        return math.isnan(pinned) and math.isnan(now)
    return now == pytest.approx(pinned, rel=1e-9, abs=1e-12)


def _json_number(value):
    return None if isinstance(value, float) and math.isnan(value) else value


@pytest.fixture(scope="module")
def pinned() -> dict:
    if os.environ.get("PIN_UPDATE"):
        data = {}
        for name in CASES:
            case = run_case(name)
            case["summary"] = {k: _json_number(v) for k, v in case["summary"].items()}
            data[name] = case
        PINNED.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    if not PINNED.exists():
        pytest.fail(f"{PINNED.name} is missing: regenerate it with PIN_UPDATE=1 (see this module's docstring)")
    return json.loads(PINNED.read_text())


@pytest.mark.parametrize("name", list(CASES))
def test_a_fixed_scenario_and_seed_give_the_pinned_results(name, pinned):
    assert name in pinned, f"case {name} is not pinned: regenerate with PIN_UPDATE=1"
    now = run_case(name)
    expected = pinned[name]
    metrics = {k: (v if v is not None else math.nan) for k, v in expected["summary"].items()}
    missing = sorted(set(metrics) - set(now["summary"]))
    added = sorted(set(now["summary"]) - set(metrics))
    assert not missing and not added, f"summary metrics missing {missing}, new {added}"
    changed = {k: (metrics[k], now["summary"][k]) for k in metrics if not _same(metrics[k], now["summary"][k])}
    assert not changed, f"{name}: summary metrics changed (pinned, now): {changed}"
    frames = [f for f in FRAMES if expected["frames"].get(f) != now["frames"][f]]
    assert not frames, f"{name}: frames changed although every summary metric agrees: {frames}"


def test_the_digest_sees_a_single_changed_value():
    frame = pd.DataFrame({"a": [1.0, 2.0, math.nan], "b": ["x", "y", "z"]})
    changed = frame.copy()
    changed.loc[1, "a"] = 2.0000000001
    assert frame_digest(frame) == frame_digest(frame.copy())
    assert frame_digest(frame) != frame_digest(changed)
    assert frame_digest(frame) != frame_digest(frame.rename(columns={"b": "c"}))
