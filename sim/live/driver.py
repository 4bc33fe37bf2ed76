"""``sim drive``: replay a scenario's workload against a live endpoint and record what the client saw.

A load tester for one scenario. The workload is drawn exactly as ``sim run`` draws it for the same seed
(:func:`sim.model.workload.generate_workload` on the same named streams), so the live run and the simulated
run see the same requests: the same arrival times and the same input and output tokens. Each request is sent
at its arrival time, compressed by ``speed`` (:class:`sim.live.clock.LiveClock`: at speed 60 a simulated
minute takes a wall second), as one OpenAI-shaped chat completion:

* the prompt is ``CHARS_PER_TOKEN`` (4) characters per input token, one user message, so a server that counts
  ``len(text) / 4`` tokens (``sim serve`` does) reads the request's input tokens back exactly;
* ``max_tokens`` is the request's output tokens; ``model`` is the name the scenario's traffic asks for;
* the header ``x-sim-request-id`` carries the request's row number, which ``sim serve`` echoes and logs.

The client is bounded like a real gateway's front door: at most ``concurrency`` requests in flight; a request
that finds no free slot within the gateway's ``max_queue_wait_s`` (else its ``request_timeout_s``) is **shed**
without being sent, and one that is not answered within ``gateway.request_timeout_s`` of its arrival (less
what it waited for a slot) is a **timeout** (the connection is closed, as a client that gives up does). Both
deadlines are simulated seconds, so they are divided by ``speed`` on the wall clock.

Answers map to the simulator's outcomes: 2xx ``ok``; 429 ``rate_limited``; 408 and 504 (and the client's own
deadline) ``timeout``; 413 ``too_large``; a 400 naming the context length ``context_exceeded``; any other
status, a refused connection or a broken stream ``failed``. What the client records per request becomes the
simulator's ``requests`` frame, built by the same function as a simulated run's
(:func:`sim.model.run.requests_frame`), so ``sim report`` and every comparison read a live run folder as they
read a simulated one. What the client cannot see stays empty: the ``calls`` frame (provider attempts are
``sim serve``'s to log), ``attempts`` (1 per request sent, unless the send function knows better), and
``ttft_s`` without ``--stream``. As in the simulator, tokens and cost are those of the answer: a request that
failed has none (the answer's ``usage`` when it gives one, else the request's drawn tokens).

The core, :func:`drive`, takes an async ``send(request) -> Reply`` function: :func:`http_send` posts to an
OpenAI-compatible base URL (``sim serve``'s ``/<provider>/v1``, a LiteLLM proxy), and
:func:`sim.live.litellm_router.litellm_send` calls an in-process ``litellm.Router``.
"""
from __future__ import annotations

import asyncio
import gc
import ipaddress
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Awaitable, Callable, NamedTuple
from urllib.parse import urlsplit

import numpy as np

from sim.config import Scenario
from sim.errors import ScenarioError
from sim.live.clock import LiveClock

#: The token approximation live mode shares with ``sim serve``: a token is 4 characters of the prompt.
CHARS_PER_TOKEN = 4
#: Requests in flight at most (the driver's ``--concurrency``), when not given.
DEFAULT_CONCURRENCY = 256
#: Simulated seconds of send lag (p95) beyond which the drive says the client fell behind its schedule.
LAG_WARNING_S = 0.5
#: What a missing optional dependency's message tells the user to run.
LIVE_EXTRA = "pip install -e '.[live]'"
_PROMPT_UNIT = "tok "            # CHARS_PER_TOKEN characters: a token, for a server that counts by length


@dataclass(frozen=True)
class LiveRequest:
    """One request as sent: its row in the workload, the simulated arrival time and the tokens drawn."""

    request_id: int
    arrival_s: float
    model: str
    input_tokens: int
    output_tokens: int
    stream: bool = False

    def prompt(self) -> str:
        return prompt_text(self.input_tokens)

    def messages(self) -> list[dict]:
        return [{"role": "user", "content": self.prompt()}]


class Reply(NamedTuple):
    """What a ``send`` function reports about one request: its outcome (an ``OUTCOMES`` name) and what the
    answer said. ``first_token_at`` is the ``time.monotonic()`` reading when the first content arrived
    (streaming), NaN when unknown; ``provider`` and ``model`` name the deployment that answered, as the
    server's ``x-sim-provider`` / ``x-sim-model`` headers (or the router) say."""

    outcome: str
    status: int = 0                 # the HTTP status, 0 when there was none
    input_tokens: int = -1          # the answer's usage; -1 when it gave none
    output_tokens: int = -1
    provider: str = ""
    model: str = ""
    first_token_at: float = math.nan
    hallucinated: bool = False
    parse_failed: bool = False
    attempts: int = 1
    error: str = ""                 # a short reason for people (exception type, status text)


Send = Callable[[LiveRequest], Awaitable[Reply]]


def prompt_text(input_tokens: int) -> str:
    """A prompt of exactly ``CHARS_PER_TOKEN * input_tokens`` characters."""
    n = max(int(input_tokens), 0)
    return _PROMPT_UNIT * n


def outcome_of_status(status: int, body: str = "") -> str:
    """The simulator's outcome for an HTTP answer (see the module doc)."""
    if 200 <= status < 300:
        return "ok"
    if status == 429:
        return "rate_limited"
    if status in (408, 504):
        return "timeout"
    if status == 413:
        return "too_large"
    if status == 400 and "context" in body.lower():
        return "context_exceeded"
    return "failed"


# ------------------------------------------------------------------------------------------------ the plan

@dataclass
class DrivePlan:
    """The requests to send: the scenario's workload, cut to ``duration_s`` and ``max_requests``."""

    scenario: Scenario
    seed: int
    model: str
    duration_s: float
    drawn: dict[str, np.ndarray]      # the workload's frame columns (arrival_s, user_id...), cut
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    drawn_total: int                  # requests in the whole scenario's workload

    @property
    def n(self) -> int:
        return len(self.input_tokens)

    def request(self, i: int, stream: bool) -> LiveRequest:
        return LiveRequest(i, float(self.drawn["arrival_s"][i]), self.model, int(self.input_tokens[i]),
                           int(self.output_tokens[i]), stream)


def traffic_model(scenario: Scenario) -> str:
    """The model name the scenario's traffic asks for: the chain's first entry (a group's name, or the model
    of a 'provider/model' target), else the first provider's first model."""
    chain = scenario.routing.chain
    if chain:
        first = chain[0]
        return first if first in scenario.routing.groups else first.split("/", 1)[-1]
    return scenario.providers[0].models[0].name


def plan_drive(scenario: Scenario, seed: int | None = None, duration_s: float | None = None,
               max_requests: int | None = None, model: str | None = None) -> DrivePlan:
    """The workload ``sim run`` draws for ``seed`` (replication 0), cut to the first ``duration_s`` simulated
    seconds and the first ``max_requests`` requests; the driven span ends where the cut does (with
    ``max_requests``, at the next request's arrival), and the plan's scenario is cut to it."""
    from sim.model.streams import Streams
    from sim.model.workload import generate_workload
    seed = scenario.seed if seed is None else int(seed)
    if duration_s is not None and not duration_s > 0:
        raise ScenarioError(f"--duration: must be > 0, got {duration_s:g} s")
    if max_requests is not None and max_requests < 1:
        raise ScenarioError(f"--max-requests: must be >= 1, got {max_requests}")
    workload = generate_workload(scenario, Streams(seed, 0))
    span = scenario.duration if duration_s is None else min(float(duration_s), scenario.duration)
    keep = int(np.searchsorted(workload.arrival_s, span, side="left"))
    driven = driven_scenario(scenario, span)
    if max_requests is not None and max_requests < keep:
        keep = max_requests
        try:                                        # [0, next arrival) holds exactly the kept requests
            span, driven = float(workload.arrival_s[keep]), driven_scenario(scenario, float(workload.arrival_s[keep]))
        except ScenarioError:                       # too short a scenario (inside the warm-up...): keep the span
            pass
    drawn = {name: values[:keep].copy() for name, values in workload.frame_columns().items()}
    return DrivePlan(driven, seed, model or traffic_model(scenario), span, drawn,
                     workload.input_tokens[:keep].copy(), workload.output_tokens[:keep].copy(), workload.n)


def driven_scenario(scenario: Scenario, duration_s: float) -> Scenario:
    """The scenario cut to the driven span (what the live run folder's scenario.yaml, summary and charts say)."""
    if duration_s >= scenario.duration:
        return scenario
    try:
        return scenario.with_overrides({"duration": duration_s})
    except ScenarioError as err:
        raise ScenarioError(f"--duration {duration_s:g} s: the scenario cut to it is not valid ({err}); drive "
                            "longer, or change the scenario with --set") from None


# ------------------------------------------------------------------------------------------------ the core

@dataclass
class DriveRun:
    """What a drive recorded: the recorder's columns, the deployments seen, the wall times."""

    plan: DrivePlan
    clock: LiveClock
    recorder: object                            # sim.record.Recorder
    targets: list[tuple[str, str]]              # (provider, model) pairs, by the recorder's target code
    send_lag_s: np.ndarray                      # wall seconds between a request's arrival time and its send
    wall_s: float = 0.0
    started_utc: str = ""
    errors: Counter = field(default_factory=Counter)
    unpriced: int = 0

    @property
    def end_s(self) -> float:
        ends = self.recorder.end_s
        return float(np.nanmax(ends)) if len(ends) and np.isfinite(ends).any() else self.plan.duration_s


def deadlines(scenario: Scenario) -> tuple[float, float]:
    """(request timeout, longest wait for a slot), simulated seconds, from the scenario's gateway."""
    gw = scenario.gateway
    if gw.request_timeout_s is None:
        raise ScenarioError("gateway.request_timeout_s: drive needs a client deadline to bound every request; "
                            "the scenario sets none (null): give one, e.g. --set gateway.request_timeout_s=100")
    wait = gw.max_queue_wait_s if gw.max_queue_wait_s is not None else gw.request_timeout_s
    return float(gw.request_timeout_s), float(min(wait, gw.request_timeout_s))


class _Prices:
    """USD per token of each scenario (provider, model); a model name alone when the provider is unknown."""

    def __init__(self, scenario: Scenario):
        self.by_pair = {}
        by_model: dict[str, list] = {}
        for p in scenario.providers:
            for m in p.models:
                price = (m.input_usd_per_mtok / 1e6, m.output_usd_per_mtok / 1e6)
                self.by_pair[(p.name, m.name)] = price
                by_model.setdefault(m.name, []).append(price)
        self.by_model = {name: prices[0] for name, prices in by_model.items() if len(set(prices)) == 1}

    def of(self, provider: str, model: str):
        return self.by_pair.get((provider, model)) or self.by_model.get(model)


async def drive(plan: DrivePlan, send: Send, speed: float = 1.0, concurrency: int = DEFAULT_CONCURRENCY,
                on_done: Callable[[int, int], None] | None = None, clock: LiveClock | None = None) -> DriveRun:
    """Send every request of ``plan`` through ``send`` at its arrival time / ``speed``; record the outcomes.

    ``clock`` is the live clock to send by (default: a new one starting now); give the server's
    (:func:`serve_clock`, or the same object in process) so that arrival times and the server's fault
    timeline and calls log share one time axis. A request whose arrival has already passed on it is sent at
    once (its lateness is in ``live_send_lag_*``). Returns when every request has ended (answered, failed,
    timed out or shed): the last ends at most the request timeout after the last arrival, so a drive stops
    by itself.
    """
    from sim.record import OUTCOME, Recorder
    if concurrency < 1:
        raise ScenarioError(f"--concurrency: must be >= 1, got {concurrency}")
    timeout_s, slot_wait_s = deadlines(plan.scenario)
    n = plan.n
    rec = Recorder(n)
    prices = _Prices(plan.scenario)
    targets: list[tuple[str, str]] = []
    code_of: dict[tuple[str, str], int] = {}
    if clock is not None and clock.speed != speed:
        raise ScenarioError(f"--speed {speed:g}: the clock to drive by runs at speed {clock.speed:g}")
    # the objects alive now (modules, frames, the plan) leave the collector's generations: a full collection
    # of a heap with pandas loaded pauses the loop 0.1 s or more, which sends requests late by that x speed
    gc.collect()
    gc.freeze()             # undone when the drive ends (below)
    if clock is None:
        clock = LiveClock(speed, start=time.monotonic() + 0.05)     # a moment to schedule the first arrivals
    run = DriveRun(plan, clock, rec, targets, np.full(n, np.nan),
                   started_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    slots = asyncio.Semaphore(concurrency)
    done = 0

    def record(i: int, reply: Reply, start_s: float, end_s: float) -> None:
        req_in, req_out = int(plan.input_tokens[i]), int(plan.output_tokens[i])
        rec.outcome[i] = OUTCOME.get(reply.outcome, OUTCOME["failed"])
        rec.end_s[i] = end_s
        rec.attempts[i] = reply.attempts
        ok = reply.outcome == "ok"
        if ok:          # as the simulator counts them: the tokens and the cost of the answer, none for a failure
            rec.input_tokens[i] = reply.input_tokens if reply.input_tokens >= 0 else req_in
            rec.output_tokens[i] = reply.output_tokens if reply.output_tokens >= 0 else req_out
        if math.isfinite(reply.first_token_at):
            rec.first_token_s[i] = (reply.first_token_at - clock.start) * clock.speed
        rec.hallucinated[i] = reply.hallucinated
        rec.parse_failed[i] = reply.parse_failed
        if reply.provider or reply.model:
            key = (reply.provider, reply.model)
            if key not in code_of:
                code_of[key] = len(targets)
                targets.append(key)
            rec.target[i] = code_of[key]
        price = prices.of(reply.provider, reply.model)
        if price is None:
            run.unpriced += ok
        elif ok:
            rec.llm_cost_usd[i] = rec.input_tokens[i] * price[0] + rec.output_tokens[i] * price[1]
        if reply.error:
            run.errors[reply.error] += 1

    async def one(i: int) -> None:
        nonlocal done
        arrival = float(plan.drawn["arrival_s"][i])
        try:
            await asyncio.wait_for(slots.acquire(), clock.wall_s(slot_wait_s))
        except TimeoutError:
            end = clock.now_sim()
            rec.outcome[i], rec.end_s[i] = OUTCOME["shed"], end
            rec.queue_wait_s[i] = end - arrival
        else:
            try:
                start = clock.now_sim()
                run.send_lag_s[i] = clock.wall_s(start - arrival)
                rec.queue_wait_s[i] = max(0.0, start - arrival)
                left_s = max(timeout_s - (start - arrival), 0.0)
                try:
                    reply = await asyncio.wait_for(send(plan.request(i, stream_of(send))), clock.wall_s(left_s))
                except TimeoutError:
                    reply = Reply("timeout", error="client deadline (gateway.request_timeout_s)")
                except Exception as err:       # a refused connection, a broken stream: the request failed
                    reply = Reply("failed", error=type(err).__name__)
                record(i, reply, start, clock.now_sim())
            finally:
                slots.release()
        done += 1
        if on_done is not None:
            on_done(done, n)

    wall_start = time.perf_counter()
    try:
        tasks = []
        for i in range(n):
            delay = clock.start + clock.wall_s(float(plan.drawn["arrival_s"][i])) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    finally:
        gc.unfreeze()
    run.wall_s = time.perf_counter() - wall_start
    return run


def stream_of(send: Send) -> bool:
    """Whether ``send`` asks for streamed answers (an attribute the send factories set)."""
    return bool(getattr(send, "stream", False))


# ------------------------------------------------------------------------------------------------ HTTP

def check_loopback(url: str) -> str:
    """``url`` if it names a loopback host (live mode never sends traffic elsewhere); ScenarioError if not."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ScenarioError(f"--target: expected a base URL like http://127.0.0.1:8765/<provider>/v1, got {url!r}")
    host = parts.hostname
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ScenarioError(f"--target: live mode drives loopback endpoints only (127.0.0.1, ::1, localhost); "
                            f"got host {host!r}")
    return url.rstrip("/")


def import_aiohttp():
    try:
        import aiohttp
    except ImportError:
        raise ScenarioError(f"drive: needs aiohttp, the live mode's optional dependency: {LIVE_EXTRA}") from None
    return aiohttp


def http_send(session, base_url: str, stream: bool = False) -> Send:
    """A ``send`` that posts OpenAI chat completions to ``base_url``/chat/completions with ``session``."""
    url = check_loopback(base_url) + "/chat/completions"

    async def send(req: LiveRequest) -> Reply:
        body = {"model": req.model, "messages": req.messages(), "max_tokens": req.output_tokens}
        if req.stream:
            body.update(stream=True, stream_options={"include_usage": True})
        async with session.post(url, json=body, headers={"x-sim-request-id": str(req.request_id)}) as resp:
            head = sim_headers(resp.headers)
            if resp.status >= 300:
                text = await resp.text()
                return Reply(outcome_of_status(resp.status, text), resp.status, error=f"HTTP {resp.status}", **head)
            if req.stream:
                return await _read_stream(resp, head)
            return _reply_of(await resp.json(content_type=None), resp.status, head)

    send.stream = stream
    return send


def sim_headers(headers) -> dict:
    """serve's ``x-sim-*`` headers, as serve sends them or as a LiteLLM proxy forwards them
    (``llm_provider-x-sim-provider``)."""
    def get(name: str, default: str = "") -> str:
        return headers.get(name) or headers.get(f"llm_provider-{name}") or default
    return {"provider": get("x-sim-provider"), "model": get("x-sim-model"),
            "hallucinated": get("x-sim-hallucinated", "0") == "1"}


def _reply_of(data: dict, status: int, head: dict, first_token_at: float = math.nan) -> Reply:
    usage = data.get("usage") or {}
    marks = data.get("sim") or {}
    return Reply("ok", status, int(usage.get("prompt_tokens", -1)), int(usage.get("completion_tokens", -1)),
                 head["provider"], head["model"] or str(data.get("model") or ""), first_token_at,
                 bool(marks.get("hallucinated", head["hallucinated"])), bool(marks.get("parse_failed", False)))


async def _read_stream(resp, head: dict) -> Reply:
    """An SSE chat-completion stream: the first content's time, the usage chunk, the ``sim`` marks."""
    import json
    first_at, chunks, last = math.nan, 0, {}
    async for raw in resp.content:
        line = raw.decode("utf-8", "replace").strip()
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            break
        data = json.loads(payload)
        for choice in data.get("choices") or ():
            if (choice.get("delta") or {}).get("content"):
                chunks += 1
                if math.isnan(first_at):
                    first_at = time.monotonic()
        if data.get("usage") or data.get("sim"):
            last = {**last, **{k: data[k] for k in ("usage", "sim") if data.get(k)}}
    reply = _reply_of(last, resp.status, head, first_at)
    return reply if reply.output_tokens >= 0 else reply._replace(output_tokens=chunks)


async def drive_http(plan: DrivePlan, target: str, speed: float, concurrency: int, stream: bool = False,
                     on_done: Callable[[int, int], None] | None = None, align: bool = False) -> DriveRun:
    """:func:`drive` through one aiohttp session to ``target`` (connections capped at ``concurrency``); with
    ``align``, by the clock of the ``sim serve`` at ``target`` (:func:`serve_clock`)."""
    aiohttp = import_aiohttp()
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None)) as session:
        clock = await serve_clock(session, target, speed) if align else None
        return await drive(plan, http_send(session, target, stream), speed, concurrency, on_done, clock)


def server_root(url: str) -> str:
    """``scheme://host:port`` of a URL (where ``sim serve`` answers ``GET /health``)."""
    parts = urlsplit(check_loopback(url))
    return f"{parts.scheme}://{parts.netloc}"


async def serve_clock(session, url: str, speed: float) -> LiveClock:
    """The live clock of the ``sim serve`` at ``url``, read from its ``GET /health`` (``sim_time_s``, ``speed``):
    a clock that reads what the server's reads, give or take half a loopback round trip."""
    health = server_root(url) + "/health"
    try:
        async with session.get(health) as resp:
            sent_at = time.monotonic()
            data = await resp.json(content_type=None) if resp.status == 200 else {}
    except Exception as err:
        raise ScenarioError(f"--align: cannot read the server's clock at {health}: {type(err).__name__} {err}") \
            from None
    if "sim_time_s" not in data:
        raise ScenarioError(f"--align: {health} does not answer like sim serve (no sim_time_s)")
    if float(data.get("speed", speed)) != speed:
        raise ScenarioError(f"--speed {speed:g}: the server at {health} runs at speed {float(data['speed']):g}; "
                            "drive at the same speed")
    return LiveClock(speed, start=sent_at - float(data["sim_time_s"]) / speed)


# ------------------------------------------------------------------------------------------------ the result

def live_result(run: DriveRun):
    """The drive as a :class:`sim.results.Result`: the simulator's frames and summary for a live run."""
    from sim import metrics
    from sim.faults import FaultTimeline
    from sim.model.run import EVENT_VOCABULARIES, calls_frame, requests_frame
    from sim.model.streams import Streams
    from sim.record import CALL_COLUMNS, Event, GrowableColumns, events_frame
    from sim.results import Result
    plan, scenario = run.plan, run.plan.scenario
    providers = [p for p, _ in run.targets] + [""]
    models = [m for _, m in run.targets] + [""]
    tiers = [_tier(scenario, p, m) for p, m in run.targets] + [""]
    requests = requests_frame(plan.drawn, run.recorder, providers, models, len(run.targets))
    calls = calls_frame(GrowableColumns(CALL_COLUMNS, capacity=0).take(), providers, models, tiers)
    end_s = max(run.end_s, plan.duration_s)
    events = [Event(0.0, "run_start", "scenario", detail=f"{scenario.name} (live)")]
    windows = []
    if scenario.faults:          # the scenario's fault timeline, as sim serve plays it
        timeline = FaultTimeline(scenario.faults, Streams(plan.seed, 0).uniform, scenario.regions)
        events += timeline.events()
        windows = timeline.windows()
    events.append(Event(end_s, "run_end", "scenario", detail=f"{plan.n} requests (live)"))
    events = events_frame(events, EVENT_VOCABULARIES)
    limits = {p.name: p.limits.per_minute(p.api_keys) for p in scenario.providers}
    ts = metrics.timeseries(requests, calls, scenario.output.interval_s, limits, end_s, events)
    summary = metrics.summary(requests, calls, scenario.warmup, plan.duration_s,
                              patience_s=scenario.gateway.user_patience_s)
    summary.update(metrics.resilience_summary(requests, calls, events, scenario.warmup, windows))
    lag = run.send_lag_s[np.isfinite(run.send_lag_s)]
    summary.update({"seed": plan.seed, "replication": 0, "simulated_time_s": end_s, "wall_time_s": run.wall_s,
                    "live": True, "live_speed": run.clock.speed,
                    "live_send_lag_p95_wall_s": float(np.quantile(lag, 0.95)) if len(lag) else math.nan,
                    "live_send_lag_max_wall_s": float(lag.max()) if len(lag) else math.nan,
                    "live_unpriced_answers": run.unpriced})
    return Result(scenario=scenario, requests=requests, calls=calls, timeseries=ts, events=events, summary=summary)


def _tier(scenario: Scenario, provider: str, model: str) -> str:
    for p in scenario.providers:
        for m in p.models:
            if p.name == provider and m.name == model:
                return m.tier
    return ""


def save_live_run(run: DriveRun, out, target: str, concurrency: int, stream: bool, charts: bool = False):
    """Write the live run's folder atomically; its manifest says it is live and how it was driven."""
    from sim.results import atomic_dir
    result = live_result(run)
    live = {"mode": "drive", "target": target, "speed": run.clock.speed, "concurrency": concurrency,
            "stream": stream, "model": run.plan.model, "requests_sent": run.plan.n,
            "requests_in_scenario": run.plan.drawn_total, "duration_s": run.plan.duration_s,
            "wall_start_utc": run.started_utc, "wall_s": round(run.wall_s, 3),
            "errors": dict(run.errors.most_common(10))}
    with atomic_dir(out, live=live) as tmp:
        result.write_into(tmp, charts=charts)
    return result


def lag_warning(summary: dict) -> str | None:
    """A sentence when the driver sent late (its event loop, or an in-process Router, saturated): the live
    run's latencies then include time the simulation does not have."""
    lag_wall = summary.get("live_send_lag_p95_wall_s")
    speed = summary.get("live_speed") or 1.0
    if lag_wall is None or not math.isfinite(lag_wall) or lag_wall * speed <= LAG_WARNING_S:
        return None
    return (f"warning: requests were sent late, p95 {lag_wall * 1e3:.0f} ms of wall time ({lag_wall * speed:.2g} "
            f"simulated s) after their arrival: the client could not keep up at speed {speed:g}; lower --speed "
            "(queue_wait_s and latency_s include the lag)")
