"""The callback path (sim.model.callback_path: a request as a state machine on SimPy events, no process) must
give exactly the frames and summary of the generator path, which the test forces by turning the callback
path off: the generator path is the independent computation. Each case is chosen to exercise something the
state machine reproduces, and asserts that it did happen (a case that never sheds cannot show that shedding
is right): breakers opening and half-open trials, fallback, retries with backoff and Retry-After, smoothing
to the limits and shedding at them, 429s, the gateway pool's full queue and abandonment, concurrency caps,
a retry budget, a user rate limit, fault-forced failures and spurious 429s, the all-open wait, the online evaluator's
draws, a request deadline, context-window 400s, OpenAI's max_tokens reservation, a token cost spike and
shadow traffic."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
import sim.model.callback_path as callback_path
from sim.model.request import RequestFlow

ROOT = Path(__file__).resolve().parents[2]
EXP = ROOT / "experiments"
OUTAGE = ["duration=30m", "warmup=0s", "workload.dau=6000", "faults.0.start=8m", "faults.0.duration=10m"]
QUEUE = ["duration=30m", "warmup=0s", "workload.dau=14000", "faults.0.start=5m", "faults.0.duration=15m"]
BREAKER = ("resilience.breaker={window_type: count, window_size: 50, minimum_calls: 20, "
           "failure_rate_threshold: 0.5, wait_in_open_s: 30s, permitted_calls_in_half_open: 5}")


def _outcomes(r):
    return r.requests["outcome"].value_counts()


def _statuses(r):
    return r.calls["status"].value_counts()


def _breaker_moves(r):
    return set(zip(r.events["from_state"].astype(str), r.events["to_state"].astype(str)))


#: case -> (scenario file, variant, overrides, what must have happened in it)
CASES = {
    "breaker_fallback_queue": (
        "outage_replay.yaml", "breaker_fallback_queue", QUEUE,
        lambda r: _outcomes(r)["shed"] > 0 and ("half_open", "closed") in _breaker_moves(r)
        and (r.requests["queue_wait_s"] > 0).sum() > 100 and (r.calls["attempt"] == 2).sum() > 0),
    "breaker_fallback_429_retry_budget": (
        "outage_replay.yaml", "breaker_fallback",
        OUTAGE + ["resilience.retry.retry_budget_ratio=0.01", "resilience.retry.retry_budget_min_retries=3"],
        lambda r: _statuses(r)["rate_limited"] > 0 and (r.requests["model"] == "gpt-4o").sum() > 100),
    "retries_deadline": (
        "outage_replay.yaml", "retries", OUTAGE + ["gateway.request_timeout_s=3s", "faults.0.mode=hang"],
        lambda r: _outcomes(r)["timeout"] > 0 and (r.calls["attempt"] == 3).sum() > 0),
    "all_open_wait": (
        "outage_replay.yaml", "breaker_fallback_queue",
        OUTAGE + ["faults.0.targets=[anthropic, openai]", "resilience.when_all_open=wait"],
        lambda r: ("open", "half_open") in _breaker_moves(r) and _outcomes(r)["failed"] > 0),
    "gateway_pool_full_and_abandoned": (
        "demo.yaml", None, ["duration=20m", "workload.start_time_of_day=14:00", "gateway.workers=6",
                            "gateway.max_queue=40", "gateway.max_queue_wait_s=15s",
                            "gateway.user_rate_limit={requests_per_min: 1, burst: 1}"],
        lambda r: _outcomes(r)["shed"] > 0 and _outcomes(r)["rate_limited"] > 0
        and np.isclose(r.requests["queue_wait_s"], 15.0).sum() > 0
        and (r.requests.loc[r.requests["outcome"] == "shed", "queue_wait_s"] == 0).sum() > 0),
    "concurrency_caps_and_evaluator": (
        "outage_replay.yaml", "breaker_fallback",
        OUTAGE + ["providers.0.max_concurrency=12", "providers.1.max_concurrency=6",
                  "providers.0.models.0.hallucination_prob=0.1", "providers.0.models.0.refusal_rate=0.02",
                  "resilience.breaker.detector_recall=0.7", "resilience.breaker.detector_false_positive_rate=0.05",
                  "resilience.breaker.hallucination_rate_threshold=0.3"],
        lambda r: r.requests["hallucinated"].sum() > 0 and _statuses(r)["refused"] > 0
        and (r.requests["queue_wait_s"] > 0).sum() > 100),
    "spurious_429_fault": (
        "incidents/openai_2026_06_03_spurious_429.yaml", "breaker_fallback_429",
        ["duration=25m", "faults.0.start=5m", "faults.0.duration=15m"],
        lambda r: _statuses(r)["rate_limited"] > 100 and ("closed", "open") in _breaker_moves(r)),
    "context_window_reservation_cost_spike": (
        "rate_limit_enforcement.yaml", None,
        ["duration=15m", "warmup=0s", "providers.0.models.0.context_window_tokens=8000",
         "providers.0.models.0.max_output_tokens=4000",
         "providers.0.models.0.requested_max_tokens=2000", "providers.0.limits.reserve_max_output=true",
         "resilience.retry.max_attempts=2",
         "faults=[{kind: cost_spike, start: 5m, duration: 5m, share: 0.3, token_multiplier: 3.0}]"],
        lambda r: _outcomes(r)["context_exceeded"] > 0 and _statuses(r)["rate_limited"] > 0),
    "shadow": (
        "shadow_mode.yaml", "candidate_worse", ["duration=20m"],
        lambda r: r.calls["shadow"].sum() > 100),
}


def _run(path, variant, overrides, callbacks: bool, monkeypatch):
    scenario = sim.load_scenario(EXP / path, overrides + ["output.charts=false"])
    if variant is not None:
        scenario = scenario.variant(variant)
    taken = []
    original = callback_path.callback_path_applies

    def spy(flow):
        taken.append(callbacks and original(flow))
        return taken[-1]

    with monkeypatch.context() as patch:
        patch.setattr(callback_path, "callback_path_applies", spy)
        result = sim.simulate(scenario)
    assert taken == [callbacks], "the path under test was not the one taken"
    return result


@pytest.mark.parametrize("case", sorted(CASES))
def test_callback_path_gives_the_generator_paths_frames(case, monkeypatch):
    path, variant, overrides, happened = CASES[case]
    fast = _run(path, variant, overrides, True, monkeypatch)
    slow = _run(path, variant, overrides, False, monkeypatch)
    assert len(fast.requests) > 500
    assert happened(slow), f"{case}: the scenario does not exercise what it is meant to"
    for frame in ("requests", "calls", "timeseries", "events"):
        pd.testing.assert_frame_equal(getattr(fast, frame), getattr(slow, frame), check_exact=True, obj=frame)
    for key, value in slow.summary.items():
        if "wall" not in key:
            assert fast.summary[key] == value or (value != value and fast.summary[key] != fast.summary[key]), key


@pytest.mark.parametrize("path, variant, overrides, expected", [
    ("outage_replay.yaml", "breaker_fallback_queue", ["faults=[]"], True),
    ("demo.yaml", None, [], True),
    ("validation/mmc.yaml", None, [], False),                   # the single-attempt path takes it
    ("cache_threshold.yaml", None, [], False),
    ("routing.yaml", "complexity", [], False),
    ("demo.yaml", None, ["workload.llm_calls={kind: fixed, mean: 2}"], False),
])
def test_which_runs_take_the_callback_path(path, variant, overrides, expected):
    scenario = sim.load_scenario(EXP / path, overrides + ["duration=1m", "warmup=0s"])
    if variant is not None:
        scenario = scenario.variant(variant)
    import simpy

    from sim.model.providers import build_targets
    from sim.model.run import build_resilience
    from sim.model.streams import Streams
    from sim.model.workload import generate_workload
    from sim.record import Recorder

    env, streams = simpy.Environment(), Streams(scenario.seed, 0)
    workload = generate_workload(scenario, streams)
    recorder = Recorder(workload.n)
    targets = build_targets(env, scenario.providers, streams)
    policies = build_resilience(env, scenario, targets, recorder, streams, workload)
    flow = RequestFlow(env, scenario, workload, recorder, targets, streams, policies)
    assert (not flow.single_attempt_path and callback_path.callback_path_applies(flow)) is expected
