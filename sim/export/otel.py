"""A simulated run as OpenTelemetry traces: load an outage into the dashboards and alerts you already have.

A team rarely finds out whether its alerts would fire on an outage until the outage. This module turns a
run's ``requests`` and ``calls`` frames into the spans a real gateway would have sent, so the rehearsal can
happen before: import the file into an OpenTelemetry Collector (its ``otlpjsonfile`` receiver) and watch the
dashboards and alert rules that read production traces react to the simulated incident.

The output is **OTLP/JSON** as the Collector's file exporter writes it and its ``otlpjsonfile`` receiver
reads it: one ``ExportTraceServiceRequest`` per line (JSON Lines), each holding a batch of traces. Field
names are the protobuf JSON mapping's (``resourceSpans``, ``startTimeUnixNano``...), 64-bit integers are
strings, enums are numbers, and -- as OTLP/JSON requires, unlike the generic protobuf mapping -- trace and
span ids are hex strings (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding).

Each request is one trace:

* a **server span** ``POST /v1/chat/completions`` (kind SERVER) from the request's arrival to its end, with
  the HTTP status a gateway would have answered (200; 429 for the per-user limit; 503 shed; 504 timeout;
  502 failed upstream; 402 refused by the budget kill switch; 400/413 for refusals and oversized requests)
  and the simulator's own view under ``llm_traffic_sim.*`` (outcome, cache outcome, cost, queue wait,
  attempts, wrong or unparseable answer);
* one **client span** per provider attempt (kind CLIENT), a child of it, named and attributed by the
  OpenTelemetry GenAI semantic conventions (https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/):
  ``chat {model}``, ``gen_ai.operation.name`` = ``chat``, ``gen_ai.provider.name`` (the conventions'
  well-known value where the provider is one: ``openai``, ``anthropic``, ``gcp.gemini``...; also written as
  ``gen_ai.system``, its name before semconv 1.37, for backends that still read that), ``gen_ai.request.model``,
  ``gen_ai.response.model`` and ``gen_ai.usage.input_tokens`` / ``output_tokens`` when answered, and
  ``error.type`` when not (``500``, ``429``, ``timeout``, ``content_filter``, ``request_too_large``,
  ``context_length_exceeded``), with the span status ERROR. Shadow calls (mirrored to a candidate model)
  are client spans too, marked ``llm_traffic_sim.shadow``.

Simulated seconds become wall-clock time from a chosen start (``start``): by default the most recent day on
which the run, started at the scenario's ``workload.start_time_of_day``, has already ended, so faults show
at their clock times and backends that refuse future or very old data accept the spans. Ids are derived
from the scenario's name, the seed, the replication and the request, so the same run exports the same ids.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from sim.errors import ScenarioError

SERVER, CLIENT = 2, 3                       # opentelemetry.proto.trace.v1.Span.SpanKind
STATUS_UNSET, STATUS_ERROR = 0, 2           # opentelemetry.proto.trace.v1.Status.StatusCode
ROUTE = "/v1/chat/completions"
SCOPE_NAME = "llm-traffic-sim"

#: The HTTP status a gateway answers a request with, by its outcome.
HTTP_STATUS = {"ok": 200, "failed": 502, "timeout": 504, "refused": 400, "rate_limited": 429, "shed": 503,
               "killed": 402, "too_large": 413, "context_exceeded": 400}
#: ``error.type`` of a provider attempt that was not answered, by its status in ``calls``.
ERROR_TYPE = {"error": "500", "timeout": "timeout", "rate_limited": "429", "refused": "content_filter",
              "too_large": "request_too_large", "context_exceeded": "context_length_exceeded"}
#: Provider names as the GenAI conventions' well-known ``gen_ai.provider.name`` values (others pass through).
PROVIDER_NAME = {"openai": "openai", "anthropic": "anthropic", "google": "gcp.gemini", "gemini": "gcp.gemini",
                 "vertex": "gcp.vertex_ai", "azure": "azure.ai.openai", "azure_openai": "azure.ai.openai",
                 "bedrock": "aws.bedrock", "aws": "aws.bedrock", "mistral": "mistral_ai", "cohere": "cohere",
                 "groq": "groq", "deepseek": "deepseek", "xai": "x_ai", "perplexity": "perplexity"}


def default_start(start_time_of_day_s: float, simulated_s: float, now: dt.datetime | None = None) -> dt.datetime:
    """The wall-clock time of simulated t = 0: the latest day's ``start_time_of_day`` from which the whole
    run (``simulated_s``) has ended by ``now`` (UTC)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    start = midnight + dt.timedelta(seconds=start_time_of_day_s)
    while start + dt.timedelta(seconds=simulated_s) > now:
        start -= dt.timedelta(days=1)
    return start


def parse_start(text: str) -> dt.datetime:
    """An ISO 8601 time (``2026-12-03T14:00:00Z``; without a zone it is UTC)."""
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ScenarioError(f"--start {text!r}: not an ISO 8601 time (e.g. 2026-12-03T14:00:00Z)") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _id(key: str, size: int) -> str:
    return hashlib.blake2b(key.encode(), digest_size=size).hexdigest()


def _attr(key: str, value) -> dict:
    if isinstance(value, (bool, np.bool_)):
        return {"key": key, "value": {"boolValue": bool(value)}}
    if isinstance(value, (int, np.integer)):
        return {"key": key, "value": {"intValue": str(int(value))}}
    if isinstance(value, (float, np.floating)):
        return {"key": key, "value": {"doubleValue": float(value)}}
    return {"key": key, "value": {"stringValue": str(value)}}


def _nanos(epoch_ns: int, t_s: float) -> str:
    return str(epoch_ns + int(round(t_s * 1e9)))


class TraceExport:
    """The spans of one run (its frames, scenario and summary), batched as OTLP/JSON requests."""

    def __init__(self, requests: pd.DataFrame, calls: pd.DataFrame, *, scenario_name: str, seed: int,
                 replication: int, start: dt.datetime, service_name: str):
        self.requests, self.calls = requests, calls
        self.start = start
        self._epoch_ns = int(start.timestamp()) * 10**9 + start.microsecond * 1000
        self._key = f"{scenario_name}|{seed}|{replication}"
        self.resource = {"attributes": [_attr("service.name", service_name),
                                        _attr("deployment.environment.name", "simulation"),
                                        _attr("llm_traffic_sim.scenario", scenario_name),
                                        _attr("llm_traffic_sim.seed", int(seed)),
                                        _attr("llm_traffic_sim.replication", int(replication))]}
        from sim.results import _package_version
        self.scope = {"name": SCOPE_NAME, "version": _package_version()}

    def trace_id(self, request_id: int) -> str:
        return _id(f"{self._key}|trace|{request_id}", 16)

    def server_span_id(self, request_id: int) -> str:
        return _id(f"{self._key}|request|{request_id}", 8)

    def call_span_id(self, row: int) -> str:
        return _id(f"{self._key}|call|{row}", 8)

    def server_span(self, r) -> dict:
        outcome = str(r.outcome)
        attributes = [_attr("http.request.method", "POST"), _attr("http.route", ROUTE),
                      _attr("http.response.status_code", HTTP_STATUS.get(outcome, 500)),
                      _attr("user.id", str(int(r.user_id))),
                      _attr("llm_traffic_sim.outcome", outcome), _attr("llm_traffic_sim.cache", str(r.cache)),
                      _attr("llm_traffic_sim.cost_usd", float(r.cost_usd)),
                      _attr("llm_traffic_sim.queue_wait_s", float(r.queue_wait_s)),
                      _attr("llm_traffic_sim.attempts", int(r.attempts)),
                      _attr("llm_traffic_sim.llm_calls", int(r.llm_calls))]
        if outcome == "ok":
            attributes += [_attr("llm_traffic_sim.hallucinated", bool(r.hallucinated)),
                           _attr("llm_traffic_sim.parse_failed", bool(r.parse_failed))]
        else:
            attributes.append(_attr("error.type", str(HTTP_STATUS.get(outcome, 500))))
        request_id = int(r.request_id)
        return self._span(request_id, self.server_span_id(request_id), None, f"POST {ROUTE}", SERVER,
                          float(r.arrival_s), float(r.end_s), attributes, None if outcome == "ok" else outcome)

    def call_span(self, row: int, c) -> dict:
        status_name, model, provider = str(c.status), str(c.model), str(c.provider)
        provider_name = PROVIDER_NAME.get(provider.lower(), provider)
        attributes = [_attr("gen_ai.operation.name", "chat"), _attr("gen_ai.provider.name", provider_name),
                      _attr("gen_ai.system", provider_name), _attr("gen_ai.request.model", model),
                      _attr("llm_traffic_sim.provider", provider), _attr("llm_traffic_sim.tier", str(c.tier)),
                      _attr("llm_traffic_sim.attempt", int(c.attempt)),
                      _attr("llm_traffic_sim.call_index", int(c.call_index)),
                      _attr("llm_traffic_sim.shadow", bool(c.shadow)),
                      _attr("llm_traffic_sim.cost_usd", float(c.cost_usd))]
        if status_name == "ok":
            attributes += [_attr("gen_ai.response.model", model),
                           _attr("gen_ai.usage.input_tokens", int(c.input_tokens)),
                           _attr("gen_ai.usage.output_tokens", int(c.output_tokens)),
                           _attr("llm_traffic_sim.hallucinated", bool(c.hallucinated)),
                           _attr("llm_traffic_sim.parse_failed", bool(c.parse_failed))]
        else:
            attributes.append(_attr("error.type", ERROR_TYPE.get(status_name, status_name)))
        request_id = int(c.request_id)
        return self._span(request_id, self.call_span_id(row), self.server_span_id(request_id), f"chat {model}",
                          CLIENT, float(c.start_s), float(c.end_s), attributes,
                          None if status_name == "ok" else status_name)

    def _span(self, request_id: int, span_id: str, parent_span_id: str | None, name: str, kind: int,
              start_s: float, end_s: float, attributes: list, failure: str | None) -> dict:
        """One span of request ``request_id``'s trace; status ERROR with ``failure`` as its message, or UNSET
        (what instrumentations leave on success)."""
        span = {"traceId": self.trace_id(request_id), "spanId": span_id}
        if parent_span_id is not None:
            span["parentSpanId"] = parent_span_id
        span.update({"name": name, "kind": kind, "startTimeUnixNano": _nanos(self._epoch_ns, start_s),
                     "endTimeUnixNano": _nanos(self._epoch_ns, end_s), "attributes": attributes,
                     "status": {"code": STATUS_UNSET} if failure is None else {"code": STATUS_ERROR,
                                                                                "message": failure}})
        return span

    def batches(self, requests_per_batch: int = 1000) -> Iterator[tuple[dict, int]]:
        """(ExportTraceServiceRequest as a dict, spans in it) per batch of ``requests_per_batch`` requests with
        all their calls; requests in arrival order, each trace whole in one batch."""
        requests = self.requests.sort_values("request_id", kind="stable")
        calls = self.calls.reset_index(drop=True)
        call_rows = np.argsort(calls["request_id"].to_numpy(), kind="stable")
        call_request = calls["request_id"].to_numpy()[call_rows]
        calls_sorted = calls.iloc[call_rows]
        request_ids = requests["request_id"].to_numpy()
        for first in range(0, len(requests), requests_per_batch):
            chunk = requests.iloc[first:first + requests_per_batch]
            lo = np.searchsorted(call_request, request_ids[first], side="left")
            hi = np.searchsorted(call_request, request_ids[first + len(chunk) - 1], side="right")
            spans = [self.server_span(r) for r in chunk.itertuples(index=False)]
            spans += [self.call_span(int(row), c) for row, c in
                      zip(call_rows[lo:hi], calls_sorted.iloc[lo:hi].itertuples(index=False))]
            yield ({"resourceSpans": [{"resource": self.resource,
                                       "scopeSpans": [{"scope": self.scope, "spans": spans}]}]}, len(spans))


def export_otel(folder: str | Path, out: str | Path | None = None, *, start: dt.datetime | None = None,
                service_name: str | None = None, requests_per_batch: int = 1000, force: bool = False,
                on_progress: Callable[[int, int], None] | None = None) -> tuple[Path, int, dt.datetime]:
    """Write the run in ``folder`` as OTLP/JSON lines to ``out`` (default ``folder/spans.otlp.jsonl``);
    returns (path, spans written, the wall-clock start used). The file appears whole or not at all; an
    existing file is replaced only with ``force``."""
    import yaml

    from sim.config import validate_scenario
    folder = Path(folder)
    if not (folder / "requests.parquet").is_file():
        runs = sorted(p.name for p in folder.iterdir() if (p / "requests.parquet").is_file()) \
            if folder.is_dir() else []
        hint = (f"; it holds the runs {', '.join(runs)}: export one of them, e.g. {folder / runs[0]}" if runs
                else "")
        raise ScenarioError(f"{folder}: not the results folder of one run (no requests.parquet){hint}")
    requested = Path(out) if out is not None else folder / "spans.otlp.jsonl"
    if requested.exists() and not force:
        raise ScenarioError(f"-o {requested}: the file exists; pass --force to replace it (nothing was written)")
    if requests_per_batch < 1:
        raise ScenarioError(f"--batch: must be >= 1, got {requests_per_batch}")
    scenario = validate_scenario(yaml.safe_load((folder / "scenario.yaml").read_text()))
    summary = json.loads((folder / "summary.json").read_text())
    requests = pd.read_parquet(folder / "requests.parquet")
    calls = pd.read_parquet(folder / "calls.parquet")
    simulated_s = float(summary.get("simulated_time_s") or
                        np.nanmax(requests["end_s"].to_numpy(), initial=scenario.duration))
    if start is None:
        start = default_start(scenario.workload.start_time_of_day or 0.0, simulated_s)
    export = TraceExport(requests, calls, scenario_name=scenario.name, seed=int(summary.get("seed", scenario.seed)),
                         replication=int(summary.get("replication", 0)), start=start,
                         service_name=service_name or f"llm-gateway ({scenario.name}, simulated)")
    tmp = requested.with_name(f".{requested.name}.tmp-{os.getpid()}")
    written, done = 0, 0
    total = len(requests)
    try:
        with open(tmp, "w", encoding="utf-8") as sink:
            for batch, n_spans in export.batches(requests_per_batch):
                sink.write(json.dumps(batch, separators=(",", ":")) + "\n")
                written += n_spans
                done = min(total, done + requests_per_batch)
                if on_progress is not None:
                    on_progress(done, total)
        os.replace(tmp, requested)
    finally:
        if tmp.exists():
            tmp.unlink()
    return requested, written, start


def hex_ids_as_base64(request: dict) -> dict:
    """A copy of an OTLP/JSON request with its hex trace and span ids in the generic protobuf JSON mapping's
    base64, so ``google.protobuf.json_format`` can parse it against the OTLP protobuf definitions."""
    import base64
    import copy
    out = copy.deepcopy(request)
    for resource_spans in out["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return out
