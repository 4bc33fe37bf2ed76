"""A seed fixes everything; named streams keep components independent; nothing is lost or double-counted."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import sim
from sim.model.streams import Streams
from sim.record import OUTCOMES
from tests.conftest import ROOT, small_scenario

FRAMES = ("requests", "calls", "timeseries")


def fingerprint(result) -> dict:
    return {name: int(pd.util.hash_pandas_object(getattr(result, name), index=False).sum()) for name in FRAMES}


def test_same_seed_gives_identical_frames():
    s = small_scenario()
    a, b = sim.simulate(s, seed=5), sim.simulate(s, seed=5)
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))


@pytest.mark.slow
def test_same_seed_gives_identical_frames_in_a_fresh_process():
    code = ("import json, sys; sys.path.insert(0, '.'); from tests.conftest import small_scenario; "
            "from tests.model.test_reproducibility import fingerprint; import sim; "
            "print(json.dumps(fingerprint(sim.simulate(small_scenario(), seed=5))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    import json
    assert json.loads(out.stdout) == fingerprint(sim.simulate(small_scenario(), seed=5))


def test_a_different_seed_gives_different_traffic():
    s = small_scenario()
    a, b = sim.simulate(s, seed=5), sim.simulate(s, seed=6)
    assert not np.array_equal(a.requests.arrival_s.to_numpy()[:50], b.requests.arrival_s.to_numpy()[:50])


def test_replications_are_distinct_children_of_one_seed():
    s = small_scenario()
    a, b = sim.simulate(s, seed=5, replication=0), sim.simulate(s, seed=5, replication=1)
    assert fingerprint(a) != fingerprint(b)
    assert Streams(5, 1).generator("x").random() == Streams(5, 1).generator("x").random()


def test_changing_provider_latency_leaves_the_arrivals_and_content_untouched():
    base = sim.simulate(small_scenario(), seed=9).requests
    slower = sim.simulate(small_scenario(**{"providers.0.models.0.latency.ttft_s": 3.0}), seed=9).requests
    for col in ("arrival_s", "user_id", "complexity", "intent_id", "llm_calls"):
        np.testing.assert_array_equal(base[col].to_numpy(), slower[col].to_numpy())
    assert not np.allclose(base.latency_s, slower.latency_s)


def test_changing_error_rate_leaves_latency_draws_of_first_attempts_untouched():
    # errors and latency are separate streams: the k-th call draws the same latency noise either way
    base = sim.simulate(small_scenario(**{"providers.0.models.0.error_rate": 0.0}), seed=9).calls
    flaky = sim.simulate(small_scenario(**{"providers.0.models.0.error_rate": 0.0,
                                            "providers.0.models.0.hallucination_prob": 0.5}), seed=9).calls
    np.testing.assert_array_equal(base.duration_s.to_numpy(), flaky.duration_s.to_numpy())
    assert flaky.hallucinated.mean() == pytest.approx(0.5, abs=0.05)


def test_every_request_has_exactly_one_outcome_and_costs_add_up():
    s = small_scenario(**{"workload.rate_per_s": 3.0, "providers.0.limits.requests_per_min": 120,
                          "gateway.smooth_to_provider_limits": False, "gateway.workers": 8,
                          "gateway.max_queue": 30, "gateway.max_queue_wait_s": 20, "resilience.retry.max_attempts": 2, "providers.0.models.0.error_rate": 0.1, "providers.0.models.0.refusal_rate": 0.01,
                          "gateway.user_rate_limit": {"requests_per_min": 6, "burst": 3},
                          "workload.n_users": 50, "workload.retrieval": {"probability": 0.5, "cost_usd": 0.001}})
    r = sim.simulate(s)
    req, calls = r.requests, r.calls
    assert req.outcome.notna().all() and set(req.outcome.unique()) <= set(OUTCOMES)
    assert sum(r.summary[f"requests_{o}"] for o in OUTCOMES) == r.summary["requests_total"] == len(req)
    assert len(set(req.outcome.unique())) >= 4          # the scenario exercises several outcomes
    assert calls.cost_usd.sum() == pytest.approx(req.llm_cost_usd.sum(), rel=1e-12)
    assert req.cost_usd.sum() == pytest.approx(r.summary["cost_usd"], rel=1e-12)
    assert r.timeseries.cost_usd.sum() == pytest.approx(r.summary["cost_usd"], rel=1e-9)
    per_request = calls.groupby("request_id").size().reindex(req.request_id, fill_value=0).to_numpy()
    np.testing.assert_array_equal(per_request, req.attempts.to_numpy())
    assert (req.latency_s >= 0).all() and (req.end_s >= req.arrival_s).all()
    assert r.timeseries.arrivals.sum() == len(req)
