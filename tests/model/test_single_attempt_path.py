"""The single-attempt path (callbacks, no process per request) must give exactly the frames of the generic
process path, which the test forces by turning the shortcut off: the generic path is the independent
computation. Scenarios are chosen to exercise what the shortcut reproduces: the queue for concurrency slots,
errors, refusals and client timeouts (with the retry policy's jitter draw), hallucination and parse
failures, a request deadline, and no concurrency cap at all."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import sim
from sim.model.request import RequestFlow

ROOT = Path(__file__).resolve().parents[2]
MMC = ROOT / "experiments" / "validation" / "mmc.yaml"
BASE = ["duration=30m", "warmup=0s"]
CASES = {
    "mmc": [],
    "errors_refusals_timeouts": ["providers.0.models.0.error_rate=0.05", "providers.0.models.0.refusal_rate=0.03",
                                 "providers.0.models.0.timeout_s=2.5",
                                 "providers.0.models.0.hallucination_prob=0.1",
                                 "providers.0.models.0.parse_failure_prob=0.05"],
    "deadline": ["gateway.request_timeout_s=3.0"],
    "no_concurrency_cap": ["providers.0.max_concurrency=null"],
}


def _run(overrides, shortcut: bool, monkeypatch):
    scenario = sim.load_scenario(MMC, BASE + overrides)
    with monkeypatch.context() as patch:
        if not shortcut:
            patch.setattr(RequestFlow, "_single_attempt_path_applies", lambda self, scenario, policies: False)
        return sim.simulate(scenario)


@pytest.mark.parametrize("case", sorted(CASES))
def test_single_attempt_path_gives_the_generic_paths_frames(case, monkeypatch):
    fast = _run(CASES[case], True, monkeypatch)
    slow = _run(CASES[case], False, monkeypatch)
    assert len(fast.requests) > 1000
    pd.testing.assert_frame_equal(fast.requests, slow.requests, check_exact=True)
    pd.testing.assert_frame_equal(fast.calls, slow.calls, check_exact=True)
    for key, value in slow.summary.items():
        if "wall" not in key:
            assert fast.summary[key] == value or (value != value and fast.summary[key] != fast.summary[key]), key


def test_the_shortcut_is_taken_for_mmc_and_not_with_retries(monkeypatch):
    taken = []
    original = RequestFlow._single_attempt_path_applies

    def spy(self, scenario, policies):
        taken.append(original(self, scenario, policies))
        return taken[-1]

    monkeypatch.setattr(RequestFlow, "_single_attempt_path_applies", spy)
    sim.simulate(sim.load_scenario(MMC, ["duration=5m", "warmup=0s"]))
    sim.simulate(sim.load_scenario(MMC, ["duration=5m", "warmup=0s", "resilience.retry.max_attempts=2"]))
    assert taken == [True, False]
