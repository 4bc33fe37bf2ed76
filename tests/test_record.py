"""The recorder: its columns, and the conservation laws every run's frames must keep."""
import numpy as np
import pytest

import sim
from sim.record import CALL_STATUS, CALL_STATUSES, OUTCOMES, PENDING, Event, GrowableColumns, Recorder
from tests.conftest import small_scenario


def test_a_call_is_recorded_by_keyword_into_one_row():
    rec = Recorder(3)
    rec.call(request_id=2, call_index=0, attempt=1, target=1, start_s=1.5, end_s=2.0,
             status=CALL_STATUS["ok"], input_tokens=10, output_tokens=5, cost_usd=0.25, hallucinated=True)
    with pytest.raises(TypeError):
        rec.call(2, 0, 1, 1, 1.5, 2.0, 0, 10, 5, 0.25, False, False, False)    # no positional booleans
    row = rec.calls.frame().iloc[0]
    assert (row.request_id, row.target, row.status, row.cost_usd) == (2, 1, 0, 0.25)
    assert row.hallucinated and not row.parse_failed and not row.shadow
    assert (rec.outcome == PENDING).all() and np.isnan(rec.end_s).all()


def test_columns_grow_past_their_capacity_and_keep_every_row():
    cols = GrowableColumns({"a": "int64", "b": "float64"}, capacity=16)
    for k in range(100):
        j = cols.next_row()
        cols.columns["a"][j], cols.columns["b"][j] = k, k / 2
    frame = cols.frame()
    assert len(frame) == 100 and (frame.a == np.arange(100)).all() and (frame.b == frame.a / 2).all()


def test_events_come_out_in_time_order_stable_for_ties():
    rec = Recorder(0)
    rec.event(Event(5.0, "b", "x"))
    rec.event(Event(1.0, "a", "y", detail="first"))
    rec.event(Event(5.0, "c", "z"))
    assert list(rec.events_frame().kind) == ["a", "b", "c"]


def test_codes_are_appended_never_renumbered():
    # saved results and the hot path store codes: existing codes keep their meaning
    assert OUTCOMES[:7] == ("ok", "failed", "timeout", "refused", "rate_limited", "shed", "killed")
    assert CALL_STATUSES[:5] == ("ok", "error", "timeout", "rate_limited", "refused")


@pytest.fixture(scope="module")
def busy_run():
    """Retries, a breaker with fallback, an outage, a worker pool with patience, a limit some prompts
    exceed, a kill switch and shadow calls: every outcome path the recorder must keep straight."""
    scenario = small_scenario(**{
        "duration": "40m", "workload.rate_per_s": 2.0,
        "workload.input_tokens": {"type": "lognormal", "median": 1500, "p95": 6000},
        "providers.0.limits.input_tokens_per_min": 60000, "providers.0.models.0.refusal_rate": 0.01,
        "providers.0.models.0.error_rate": 0.05, "gateway.smooth_to_provider_limits": False,
        "gateway.workers": 6, "gateway.max_queue_wait_s": 5, "routing.chain": ["alpha/m1", "beta/m2"],
        "providers.1.limits.input_tokens_per_min": 5000,
        "resilience.retry.max_attempts": 3, "resilience.fallback": True, "resilience.breaker": {},
        "resilience.kill_switch": {"per_hour_usd": 6.0},
        "resilience.shadow": {"target": "beta/m2", "share": 0.2},
        "faults": [{"kind": "outage", "targets": ["alpha"], "start": "10m", "duration": "5m"}]})
    return sim.simulate(scenario)


def test_every_request_ends_in_exactly_one_outcome(busy_run):
    req, s = busy_run.requests, busy_run.summary
    assert req.outcome.notna().all() and req.end_s.notna().all()
    assert sum(s[f"requests_{o}"] for o in OUTCOMES) == s["requests_total"] == len(req)
    seen = set(req.outcome.astype(str))
    assert {"ok", "failed", "shed", "too_large", "killed"} <= seen, seen


def test_calls_rows_agree_with_their_requests(busy_run):
    req, calls = busy_run.requests, busy_run.calls
    production = calls[~calls.shadow]
    per_request = production.groupby("request_id").size().reindex(req.request_id, fill_value=0).to_numpy()
    np.testing.assert_array_equal(per_request, req.attempts.to_numpy())
    owner = req.set_index("request_id").loc[production.request_id]
    assert (production.start_s.to_numpy() >= owner.arrival_s.to_numpy() - 1e-9).all()
    assert (production.end_s.to_numpy() <= owner.end_s.to_numpy() + 1e-9).all()
    assert (calls.end_s >= calls.start_s).all()
    last = production.sort_values(["request_id", "start_s"], kind="stable").groupby("request_id").last()
    reached = req.set_index("request_id").loc[last.index]
    assert (reached.provider.astype(str) == last.provider.astype(str)).all()
    assert (req[req.attempts == 0].provider.astype(str) == "").all()
    ok = production[production.status == "ok"]
    assert (calls[calls.status != "ok"].cost_usd == 0).all()
    for column in ("input_tokens", "output_tokens", "cost_usd"):
        per = ok.groupby("request_id")[column].sum().reindex(req.request_id, fill_value=0).to_numpy()
        mine = req.llm_cost_usd if column == "cost_usd" else req[column]
        np.testing.assert_allclose(per, mine.to_numpy(), rtol=1e-12)
    assert (calls[calls.shadow].call_index == -1).all() and (production.call_index >= 0).all()


def test_costs_add_up_across_frames(busy_run):
    req, calls, ts, s = busy_run.requests, busy_run.calls, busy_run.timeseries, busy_run.summary
    production = calls[~calls.shadow]
    assert production.cost_usd.sum() == pytest.approx(req.llm_cost_usd.sum(), rel=1e-12)
    assert (req.cost_usd == req.llm_cost_usd + req.step_cost_usd + req.embedding_cost_usd).all()
    assert req.cost_usd.sum() == pytest.approx(s["cost_usd"], rel=1e-12)
    assert ts.cost_usd.sum() == pytest.approx(s["cost_usd"], rel=1e-9)
    assert calls[calls.shadow].cost_usd.sum() == pytest.approx(s["shadow_cost_usd"], rel=1e-12)


def test_only_ok_requests_have_a_first_token(busy_run):
    req = busy_run.requests
    assert req.ttft_s[req.outcome == "ok"].notna().all() and req.ttft_s[req.outcome != "ok"].isna().all()
    assert (req.queue_wait_s >= 0).all() and (req.queue_wait_s <= req.latency_s + 1e-9).all()
