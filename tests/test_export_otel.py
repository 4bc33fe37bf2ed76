"""OpenTelemetry export: OTLP/JSON that the protobuf definitions accept, one trace per request, and numbers
a dashboard would compute from the spans equal to the run's own frames."""
import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pytest

from sim.cli import main
from sim.errors import ScenarioError
from sim.export.otel import (CLIENT, SERVER, STATUS_ERROR, default_start, export_otel, hex_ids_as_base64,
                             parse_start)
from sim.model.run import simulate
from tests.conftest import small_scenario

trace_service = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2",
                                    reason="opentelemetry-proto (a dev dependency) validates the OTLP output")
from google.protobuf import json_format  # noqa: E402  (installed with opentelemetry-proto)

START = dt.datetime(2026, 12, 1, 14, 0, tzinfo=dt.timezone.utc)
OUTAGE = [{"kind": "outage", "targets": ["alpha"], "start": "8m", "duration": "4m"}]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    scenario = small_scenario(duration="20m", faults=OUTAGE, output={"charts": False, "interval_s": 60},
                              **{"routing.chain": ["alpha/m1", "beta/m2"], "resilience.fallback": True,
                                 "resilience.retry.max_attempts": 2,
                                 "resilience.breaker": {"window_size": 10, "minimum_calls": 5}})
    result = simulate(scenario, seed=4)
    folder = tmp_path_factory.mktemp("otel") / "run"
    result.save(folder)
    path, n_spans, start = export_otel(folder, start=START, requests_per_batch=100)
    lines = path.read_text().splitlines()
    return result, folder, path, n_spans, [json.loads(line) for line in lines]


def spans_of(batches):
    return [span for batch in batches for rs in batch["resourceSpans"] for ss in rs["scopeSpans"]
            for span in ss["spans"]]


def attributes(span) -> dict:
    out = {}
    for a in span["attributes"]:
        (kind, value), = a["value"].items()
        out[a["key"]] = int(value) if kind == "intValue" else value
    return out


def test_every_line_is_an_export_request_the_otlp_protobuf_definitions_accept(exported):
    _, _, _, _, batches = exported
    assert len(batches) > 3
    for batch in batches:
        message = trace_service.ExportTraceServiceRequest()
        json_format.Parse(json.dumps(hex_ids_as_base64(batch)), message)        # unknown fields are errors
        assert len(message.resource_spans[0].scope_spans[0].spans) == len(batch["resourceSpans"][0]
                                                                          ["scopeSpans"][0]["spans"])
    for span in spans_of(batches):
        assert len(span["traceId"]) == 32 and len(span["spanId"]) == 16
        assert int(span["traceId"], 16) and int(span["spanId"], 16)           # lowercase hex, never all zero
        assert int(span["endTimeUnixNano"]) >= int(span["startTimeUnixNano"])


def test_a_misspelt_field_is_refused_so_the_validation_can_fail(exported):
    batch = json.loads(json.dumps(exported[4][0]))
    batch["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["startTimeUnixNanos"] = "1"
    with pytest.raises(json_format.ParseError):
        json_format.Parse(json.dumps(hex_ids_as_base64(batch)), trace_service.ExportTraceServiceRequest())


def test_one_trace_per_request_with_a_client_span_per_attempt_under_its_server_span(exported):
    result, _, _, n_spans, batches = exported
    spans = spans_of(batches)
    assert n_spans == len(spans) == len(result.requests) + len(result.calls)
    servers = {s["traceId"]: s for s in spans if s["kind"] == SERVER}
    clients = [s for s in spans if s["kind"] == CLIENT]
    assert len(servers) == len(result.requests) and len(clients) == len(result.calls)
    for span in clients:
        assert span["parentSpanId"] == servers[span["traceId"]]["spanId"]
    for batch in batches:                         # a trace never straddles two lines
        in_batch = spans_of([batch])
        traces = {s["traceId"] for s in in_batch if s["kind"] == SERVER}
        assert all(s["traceId"] in traces for s in in_batch)


def test_times_are_the_simulated_seconds_from_the_chosen_start(exported):
    result, _, _, _, batches = exported
    servers = [s for s in spans_of(batches) if s["kind"] == SERVER]
    start_ns = int(START.timestamp()) * 10**9
    arrival = result.requests.set_index("request_id")["arrival_s"]
    by_user = {}
    for s in servers:
        by_user.setdefault(attributes(s)["user.id"], []).append(s)
    first = min(servers, key=lambda s: int(s["startTimeUnixNano"]))
    assert (int(first["startTimeUnixNano"]) - start_ns) / 1e9 == pytest.approx(arrival.min(), abs=1e-6)
    last = max(servers, key=lambda s: int(s["endTimeUnixNano"]))
    assert (int(last["endTimeUnixNano"]) - start_ns) / 1e9 == pytest.approx(result.requests["end_s"].max(),
                                                                            abs=1e-6)


def test_gen_ai_attributes_add_up_to_the_calls_frame(exported):
    result, _, _, _, batches = exported
    clients = [attributes(s) | {"_status": s["status"]["code"], "_name": s["name"]}
               for s in spans_of(batches) if s["kind"] == CLIENT]
    calls = result.calls
    ok = calls[calls["status"] == "ok"]
    assert sum(c.get("gen_ai.usage.input_tokens", 0) for c in clients) == ok["input_tokens"].sum()
    assert sum(c.get("gen_ai.usage.output_tokens", 0) for c in clients) == ok["output_tokens"].sum()
    assert sum(c["llm_traffic_sim.cost_usd"] for c in clients) == pytest.approx(calls["cost_usd"].sum(), rel=1e-12)
    failed = [c for c in clients if "error.type" in c]
    assert len(failed) == (calls["status"] != "ok").sum() > 0
    assert all(c["_status"] == STATUS_ERROR for c in failed)
    assert {c["gen_ai.operation.name"] for c in clients} == {"chat"}
    assert all(c["_name"] == f"chat {c['gen_ai.request.model']}" for c in clients)
    assert {c["gen_ai.provider.name"] for c in clients} == set(calls["provider"].astype(str))


def test_an_alert_on_the_error_rate_per_minute_sees_what_the_run_saw(exported):
    """What a dashboard computes from the spans (failed client spans / all, per 1-minute bucket by end time)
    is the run's own timeseries error_rate: the rehearsal shows the outage the simulator simulated."""
    result, _, _, _, batches = exported
    start_ns = int(START.timestamp()) * 10**9
    rows = [((int(s["endTimeUnixNano"]) - start_ns) / 1e9, "error.type" in attributes(s))
            for s in spans_of(batches) if s["kind"] == CLIENT and not attributes(s)["llm_traffic_sim.shadow"]]
    ends, failed = np.array(rows).T
    n_bins = len(result.timeseries)
    minute = np.minimum((ends // 60).astype(int), n_bins - 1)
    calls = np.bincount(minute, minlength=n_bins)
    errors = np.bincount(minute, weights=failed, minlength=n_bins)
    from_spans = np.where(calls > 0, errors / np.maximum(calls, 1), np.nan)
    np.testing.assert_allclose(from_spans, result.timeseries["error_rate"].to_numpy(), rtol=1e-12)
    during = from_spans[8:12]                                          # the outage: minutes 8-12
    outside = np.concatenate([from_spans[:8], from_spans[13:]])
    assert np.nanmax(during) > 0.1 > np.nanmax(outside)                 # it stands out


def test_the_same_run_exports_the_same_ids_and_another_seed_others(exported, tmp_path):
    result, folder, path, _, batches = exported
    again, _, _ = export_otel(folder, tmp_path / "again.jsonl", start=START, requests_per_batch=100)
    assert again.read_text() == path.read_text()
    other = simulate(result.scenario, seed=5)
    other.save(tmp_path / "other")
    out, _, _ = export_otel(tmp_path / "other", start=START)
    first_ids = {s["traceId"] for s in spans_of(batches)}
    assert not first_ids & {s["traceId"] for s in spans_of([json.loads(x) for x in out.read_text().splitlines()])}


def test_the_default_start_is_the_latest_day_on_which_the_run_has_ended():
    now = dt.datetime(2026, 12, 3, 7, 0, tzinfo=dt.timezone.utc)
    assert default_start(13.5 * 3600, 3600, now) == dt.datetime(2026, 12, 2, 13, 30, tzinfo=dt.timezone.utc)
    assert default_start(3 * 3600, 3600, now) == dt.datetime(2026, 12, 3, 3, 0, tzinfo=dt.timezone.utc)
    assert default_start(0.0, 3 * 86400, now) == dt.datetime(2026, 11, 30, 0, 0, tzinfo=dt.timezone.utc)
    assert parse_start("2026-12-01T14:00:00Z") == START == parse_start("2026-12-01T14:00:00")


def test_the_cli_refuses_what_it_cannot_do_and_never_overwrites_unasked(exported, tmp_path, capsys):
    _, folder, _, _, _ = exported
    assert main(["export", "otel", str(folder.parent)]) == 2
    assert "not the results folder of one run" in capsys.readouterr().err
    assert main(["export", "otel", str(folder), "--start", "yesterday"]) == 2
    assert "--start 'yesterday'" in capsys.readouterr().err
    mine = tmp_path / "precious.jsonl"
    mine.write_text("keep me\n")
    assert main(["export", "otel", str(folder), "-o", str(mine), "--start", "2026-12-01T14:00:00Z"]) == 2
    assert mine.read_text() == "keep me\n" and "--force" in capsys.readouterr().err
    assert main(["export", "otel", str(folder), "-o", str(mine), "--force", "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(mine)
    assert mine.read_text().startswith('{"resourceSpans"')
    assert not list(tmp_path.glob(".*tmp*"))                    # no temporary left behind
