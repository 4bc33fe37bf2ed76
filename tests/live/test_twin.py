"""The twin check: its numbers from frames (checked on frames built by hand), its scenario kept equal to the
import of its LiteLLM config, and one short live run of the whole loop (real Router, sim serve, sim drive)."""
from __future__ import annotations

import importlib.util
import math

import numpy as np
import pandas as pd
import pytest
import yaml

import sim
from sim.importers import ImportOptions
from sim.importers.litellm import import_config
from sim.faults import FaultWindow
from sim.live.twin import compare_sides, compressed_scenario, side_metrics, simulated_cooldowns
from tests.conftest import EXPERIMENTS

TWIN_CONFIG = EXPERIMENTS / "gateways" / "twin_litellm_config.yaml"


def _requests(outcomes, latencies, costs):
    return pd.DataFrame({"outcome": pd.Categorical(outcomes), "latency_s": latencies, "cost_usd": costs})


def _calls(providers, starts):
    return pd.DataFrame({"provider": pd.Categorical(providers), "model": "m", "start_s": starts})


def test_side_metrics_count_what_the_frames_hold():
    requests = _requests(["ok", "ok", "timeout", "failed"], [1.0, 3.0, 60.0, 2.0], [0.01, 0.03, 0.0, 0.0])
    calls = _calls(["east", "east", "west", "claude", "east"], [5.0, 15.0, 16.0, 17.0, 40.0])
    cooldowns = pd.DataFrame({"time_s": [12.0, 14.0, 25.0, 31.0], "deployment": ["east", "east", "east", "west"],
                              "length_s": [5.0, 5.0, 30.0, 30.0]})
    fault = FaultWindow(10.0, 30.0, "outage", "east-outage", ("east",))
    m = side_metrics(requests, calls, cooldowns, fault, primary=["east", "west"])
    assert m["requests_total"] == 4 and m["availability"] == 0.5
    assert m["requests_failed"] == 1 and m["requests_timeout"] == 1
    assert m["latency_p50_s"] == 2.0 and m["cost_per_request_usd"] == pytest.approx(0.01)
    assert m["calls_into_fault"] == 1                       # east at 15; not east at 5 or 40, not west
    assert m["fallback_calls"] == 1 and m["calls_per_request"] == 5 / 4
    assert m["cooldowns"] == 4 and m["first_cooldown_after_fault_s"] == 2.0
    assert m["cooldown_s_during_fault"] == 7.0 + 5.0        # [12, 19) (two overlapping) and [25, 30) of east
    table = compare_sides(m, {**m, "availability": 0.75})
    row = table.set_index("metric").loc["availability"]
    assert row["difference"] == 0.25 and row["relative"] == 0.5


def test_simulated_cooldowns_are_the_cooldown_starts_of_the_events():
    events = pd.DataFrame({"time_s": [1.0, 6.0, 7.0], "kind": ["cooldown", "cooldown", "breaker"],
                           "subject": ["east/gpt-4o", "east/gpt-4o", "west/gpt-4o"],
                           "to_state": ["cooling_down", "available", "open"], "limit": [5.0, math.nan, 30.0]})
    frame = simulated_cooldowns(events)
    assert list(frame["deployment"]) == ["east"] and list(frame["length_s"]) == [5.0]


def test_the_twin_scenario_is_the_import_of_its_litellm_config():
    """Everything but the workload, the fault, the client's timeout and the description comes from the
    config: if either file changes alone, this fails."""
    imported = import_config(yaml.safe_load(TWIN_CONFIG.read_text()), str(TWIN_CONFIG), ImportOptions()).scenario
    twin = yaml.safe_load((EXPERIMENTS / "twin_litellm.yaml").read_text())
    for section in ("providers", "routing", "resilience"):
        assert twin[section] == imported[section], section
    scenario = sim.load_scenario(EXPERIMENTS / "twin_litellm.yaml")
    compressed = compressed_scenario(scenario, 10.0)
    assert {g.load_balancing.counter_ttl_s for g in compressed.routing.groups.values()} == {600.0}
    assert compressed.providers == scenario.providers


@pytest.mark.slow
def test_a_short_twin_runs_the_whole_loop(tmp_path):
    """Three simulated minutes at speed 15 (12 wall seconds; 15 requests a wall second, within the in-process
    Router's ~20 a second: at speed 30 the client fell behind and requests timed out): a real Router in front of sim serve, driven, then
    simulated; the sides see the same requests, East US is cooled down live during its outage, and the
    folder holds both sides and the comparison."""
    if importlib.util.find_spec("litellm") is None or importlib.util.find_spec("aiohttp") is None:
        pytest.skip("the twin check needs the live extra (pip install -e '.[live]')")
    from sim.experiments.registry import run_experiment
    scenario = sim.load_scenario(EXPERIMENTS / "twin_litellm.yaml", [
        "duration=3m", "workload.rate_per_s=1.0", "faults.0.start=1m", "faults.0.duration=90s"])
    run_experiment("twin_litellm", scenario, tmp_path / "twin", speed=15.0, charts=False)
    assert "| availability |" in (tmp_path / "twin" / "report.md").read_text()
    table = pd.read_csv(tmp_path / "twin" / "comparison.csv").set_index("metric")
    assert table.loc["requests_total", "live"] == table.loc["requests_total", "simulated"] > 120
    assert table.loc["availability", "live"] > 0.95
    assert table.loc["calls_into_fault", "live"] > 0
    cooldowns = pd.read_csv(tmp_path / "twin" / "live" / "cooldowns.csv")
    assert "azure-eastus" in set(cooldowns["deployment"])
    east = cooldowns[cooldowns["deployment"] == "azure-eastus"]
    assert ((east["time_s"] > 55) & (east["time_s"] < 160)).all()       # inside the outage, give or take
    live_calls = pd.read_parquet(tmp_path / "twin" / "live" / "calls.parquet")
    assert set(live_calls["provider"].astype(str)) <= {"azure-eastus", "azure-westeurope", "openai-gpt-4o",
                                                        "anthropic-sonnet"}
    assert np.isfinite(table.loc["latency_p50_s", "live"])
