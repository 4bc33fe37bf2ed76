"""``sim serve``: the scenario's providers as HTTP services on loopback, for a real gateway to call.

Teams test a gateway's resilience against a fake provider that injects faults. This one is the scenario's:
each provider answers at ``http://127.0.0.1:PORT/<provider>/v1/chat/completions`` (OpenAI's shape) and
``.../<provider>/v1/messages`` (Anthropic's), with the model named in the body, non-streaming or streaming
(server-sent events) at the model's tokens per second after its time to first token, all played ``speed``
times faster than the wall clock (:class:`sim.live.clock.LiveClock`). What happens to each call is decided by
:class:`sim.live.providers.ServedScenario` with the simulator's own policy classes; this module only speaks
HTTP:

* an answer: 200, a body the official SDKs parse, ``usage`` with the counted tokens;
* rate limited: 429 with ``retry-after`` (whole wall seconds, rounded up, as HTTP requires) and
  ``retry-after-ms`` (exact, the header OpenAI's SDK reads first); every response of a provider with limits
  carries its buckets in OpenAI's ``x-ratelimit-*`` headers (platform.openai.com/docs/guides/rate-limits,
  "Rate limits in headers": ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``, resets as ``1s``,
  ``6m0s``, ``12ms``) or Anthropic's ``anthropic-ratelimit-*`` (docs.anthropic.com/en/api/rate-limits,
  "Response headers": ``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,
  reset}``, resets as RFC 3339 times);
* over the context window: 400 in each provider's error shape (OpenAI ``context_length_exceeded``,
  Anthropic ``invalid_request_error`` "prompt is too long"); a content-filter refusal: 400;
* a model's own 5xx: 500 (``server_error`` / ``api_error``); a failure forced by a fault (an outage, an
  error-rate fault): 503 for OpenAI, 529 ``overloaded_error`` for Anthropic (docs.anthropic.com/en/api/errors);
* a hang (an outage in ``hang`` mode, or a call the model would finish only after its timeout): the
  connection stays open with nothing sent until the client gives up, or 504 after ``max_hang_s`` wall seconds;
* silent degradation: ``x-sim-hallucinated: 1`` and ``"sim": {"hallucinated": true, "parse_failed": false}``
  in the body (in the last chunk when streaming).

Every response carries ``x-sim-provider``, ``x-sim-model``, ``x-sim-request-id`` (the caller's, echoed) and
``x-sim-status`` (the simulator's CALL_STATUS name). ``GET /health`` answers with the scenario name and the
scenario clock. aiohttp is imported here only; the rest of the package never needs it.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from aiohttp import web

from sim.config import Scenario, ServeSettings
from sim.live.clock import LiveClock
from sim.live.providers import (CONTEXT_EXCEEDED, NO_REQUEST_ID, OK, RATE_LIMITED, REFUSED, TIMEOUT,
                                TOO_LARGE, Decision, ServedProvider, ServedScenario)
from sim.policies.rate_limits import COMBINED, INPUT, OUTPUT, REQUESTS, BucketLevel
from sim.record import CALL_STATUSES

OPENAI, ANTHROPIC = "openai", "anthropic"
OUTPUT_WORD = "tok "            # every output token is these 4 characters, so the approximation inverts
HANG_POLL_S = 0.05


class BadCall(Exception):
    """A request the server cannot serve (bad JSON, unknown model...): HTTP status, error type, message."""

    def __init__(self, status: int, kind: str, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.kind, self.message, self.code = status, kind, message, code


class ParsedCall(NamedTuple):
    model: str
    input_tokens: int
    max_tokens: int | None
    stream: bool
    include_usage: bool


# ------------------------------------------------------------------------------------- the token approximation

def message_texts(body: dict, api: str) -> list[str]:
    """The texts a call sends: every message's content (a string, or the ``text`` of its parts) and, for
    Anthropic, the top-level ``system``."""
    texts = []
    blocks = [body.get("system")] if api == ANTHROPIC else []
    blocks += [m.get("content") for m in body.get("messages") or [] if isinstance(m, dict)]
    for content in blocks:
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts += [part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)]
    return texts


def count_tokens(texts: list[str], chars_per_token: float) -> int:
    """Input tokens as ``ceil(characters / chars_per_token)``, at least 1 (docs/live_mode.md)."""
    return max(1, math.ceil(sum(len(t) for t in texts) / chars_per_token))


def request_number(raw_id: str | None) -> int:
    """The ``x-sim-request-id`` as the calls log's ``request_id``: a non-negative int64, else -1 (none)."""
    try:
        number = int(raw_id)
    except (TypeError, ValueError):
        return NO_REQUEST_ID
    return number if 0 <= number < 2**63 else NO_REQUEST_ID


def parse_call(body, api: str, chars_per_token: float) -> ParsedCall:
    if not isinstance(body, dict):
        raise BadCall(400, "invalid_request_error", "the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadCall(400, "invalid_request_error", "'model' is required: the name of one of the provider's models")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadCall(400, "invalid_request_error", "'messages' must be a non-empty list")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise BadCall(400, "invalid_request_error", f"'max_tokens' must be a positive integer, got {max_tokens!r}")
    if api == ANTHROPIC and max_tokens is None:
        raise BadCall(400, "invalid_request_error", "max_tokens: Field required")
    options = body.get("stream_options") or {}
    return ParsedCall(model.removeprefix("openai/").removeprefix("anthropic/"),
                      count_tokens(message_texts(body, api), chars_per_token), max_tokens,
                      bool(body.get("stream")), bool(isinstance(options, dict) and options.get("include_usage")))


# ------------------------------------------------------------------------------------- headers and bodies

def openai_duration(seconds: float) -> str:
    """A reset time as OpenAI writes it: ``12ms``, ``1s``, ``1.5s``, ``6m0s``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    rest_text = f"{rest:.3f}".rstrip("0").rstrip(".")
    return f"{int(minutes)}m{rest_text}s" if minutes else f"{rest_text}s"


def rate_limit_headers(api: str, levels: list[BucketLevel], clock: LiveClock) -> dict[str, str]:
    """The provider's rate-limit headers from its buckets (limits per scenario minute, resets in wall time)."""
    by_kind = {level.kind: level for level in levels}
    headers = {}
    if api == OPENAI:
        tokens = by_kind.get(COMBINED) or by_kind.get(INPUT)
        for name, level in (("requests", by_kind.get(REQUESTS)), ("tokens", tokens)):
            if level is not None:
                headers[f"x-ratelimit-limit-{name}"] = str(int(level.limit_per_min))
                headers[f"x-ratelimit-remaining-{name}"] = str(max(0, int(level.remaining)))
                headers[f"x-ratelimit-reset-{name}"] = openai_duration(clock.wall_s(level.seconds_to_full))
        return headers
    now = datetime.now(timezone.utc)
    token_levels = [lv for lv in levels if lv.kind != REQUESTS]
    named = [("requests", by_kind.get(REQUESTS)), ("input-tokens", by_kind.get(INPUT)),
             ("output-tokens", by_kind.get(OUTPUT)),
             # Anthropic: "tokens" is the most restrictive token limit currently in effect
             ("tokens", min(token_levels, key=lambda lv: lv.remaining / lv.capacity) if token_levels else None)]
    for name, level in named:
        if level is not None:
            reset = now + timedelta(seconds=clock.wall_s(level.seconds_to_full))
            headers[f"anthropic-ratelimit-{name}-limit"] = str(int(level.limit_per_min))
            headers[f"anthropic-ratelimit-{name}-remaining"] = str(max(0, int(level.remaining)))
            headers[f"anthropic-ratelimit-{name}-reset"] = reset.isoformat(timespec="seconds").replace("+00:00", "Z")
    return headers


def error_body(api: str, kind: str, message: str, code: str | None = None) -> dict:
    if api == ANTHROPIC:
        return {"type": "error", "error": {"type": kind, "message": message}}
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def error_of(api: str, decision: Decision, model_name: str, provider: str, input_tokens: int, asked: int,
             window: float) -> tuple[int, str, str, str | None]:
    """(HTTP status, error type, message, OpenAI code) of a call that did not get an answer."""
    status = decision.status
    anthropic = api == ANTHROPIC
    if status == RATE_LIMITED:
        what = "spurious 429 (rate_limit fault)" if decision.forced else "over the provider's limits"
        return (429, "rate_limit_error" if anthropic else "requests",
                f"Rate limit reached for {model_name} at {provider}: {what}; retry after "
                f"{decision.retry_after_s:.3f} scenario seconds", "rate_limit_exceeded")
    if status == TOO_LARGE:
        return (429, "rate_limit_error" if anthropic else "tokens",
                f"Request too large for {model_name} at {provider}: more than a whole minute's limit",
                "rate_limit_exceeded")
    if status == CONTEXT_EXCEEDED:
        if anthropic:
            return 400, "invalid_request_error", f"prompt is too long: {input_tokens + asked} tokens > {window:g} maximum", None
        return (400, "invalid_request_error",
                f"This model's maximum context length is {window:g} tokens. However, you requested "
                f"{input_tokens + asked} tokens ({input_tokens} in the messages, {asked} in the completion). "
                "Please reduce the length of the messages or completion.", "context_length_exceeded")
    if status == REFUSED:
        if anthropic:
            return 400, "invalid_request_error", "Output blocked by content filtering policy", None
        return (400, "invalid_request_error", "Your request was rejected as a result of our safety system.",
                "content_policy_violation")
    if status == TIMEOUT:
        return (504, "timeout_error" if anthropic else "server_error",
                "sim serve: the call hung (fault or timeout) and was released after the server's max_hang_s", None)
    if decision.forced:
        if anthropic:
            return 529, "overloaded_error", "Overloaded", None
        return 503, "server_error", "The server is overloaded or not ready yet (sim: outage fault).", None
    if anthropic:
        return 500, "api_error", "Internal server error", None
    return 500, "server_error", "The server had an error while processing your request.", None


def output_text(tokens: int) -> str:
    return OUTPUT_WORD * tokens


def answer_body(api: str, call_id: str, model: str, call: ParsedCall, decision: Decision) -> dict:
    sim = {"hallucinated": decision.hallucinated, "parse_failed": decision.parse_failed}
    text, out = output_text(decision.output_tokens), decision.output_tokens
    if api == ANTHROPIC:
        return {"id": call_id, "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": call.input_tokens, "output_tokens": out}, "sim": sim}
    return {"id": call_id, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": call.input_tokens, "completion_tokens": out,
                      "total_tokens": call.input_tokens + out},
            "system_fingerprint": None, "sim": sim}


def sse(data: dict, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


# ------------------------------------------------------------------------------------- the server

class LiveServer:
    """The aiohttp application serving a scenario's providers; ``start`` / ``stop`` in a running loop."""

    def __init__(self, scenario: Scenario, settings: ServeSettings):
        self.scenario = scenario
        self.settings = settings
        self.served = ServedScenario(scenario, settings)
        self.clock = LiveClock(settings.speed)
        self.stopped = asyncio.Event()
        self.stop_reason = ""
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._ids = itertools.count(1)
        self._in_flight = 0

    # ------------------------------------------------------------------ lifecycle
    def application(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/health", self.health)
        app.router.add_post("/{provider}/v1/chat/completions", self.chat_completions)
        app.router.add_post("/{provider}/v1/messages", self.messages)
        app.router.add_route("*", "/{tail:.*}", self.not_found)
        return app

    async def start(self) -> int:
        """Listen (the scenario clock starts now); the port, chosen by the system when settings.port is 0."""
        self._runner = web.AppRunner(self.application(), handler_cancellation=True, access_log=None,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.clock = LiveClock(self.settings.speed)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def request_stop(self, reason: str) -> None:
        if not self.stopped.is_set():
            self.stop_reason = reason
            self.stopped.set()

    async def run_until_done(self) -> None:
        """Serve until the scenario duration has passed, ``max_calls`` calls have ended, or a stop request."""
        duration_s = self.settings.duration_s or self.scenario.duration
        try:
            await asyncio.wait_for(self.stopped.wait(), self.clock.wall_s(duration_s))
        except asyncio.TimeoutError:
            self.request_stop(f"the duration ({duration_s:g} scenario seconds) has passed")

    # ------------------------------------------------------------------ routes
    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "scenario": self.scenario.name, "sim_time_s": self.clock.now_sim(),
                                  "speed": self.clock.speed, "calls": self.served.n_calls,
                                  "in_flight": self._in_flight,
                                  "providers": sorted(self.served.providers)})

    async def not_found(self, request: web.Request) -> web.Response:
        names = ", ".join(self.served.providers)
        return web.json_response(error_body(OPENAI, "invalid_request_error",
                                            f"no route {request.method} {request.path}: this server answers POST "
                                            f"/<provider>/v1/chat/completions and /<provider>/v1/messages for "
                                            f"the providers {names}, and GET /health", "not_found"), status=404)

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        return await self.serve_call(request, OPENAI)

    async def messages(self, request: web.Request) -> web.StreamResponse:
        return await self.serve_call(request, ANTHROPIC)

    # ------------------------------------------------------------------ one call
    def _resolve(self, provider_name: str, model_name: str) -> tuple[ServedProvider, object]:
        provider = self.served.providers.get(provider_name)
        if provider is None:
            raise BadCall(404, "not_found_error", f"unknown provider {provider_name!r}: this scenario serves "
                          f"{', '.join(self.served.providers)} (URL /<provider>/v1/...)", "model_not_found")
        model = provider.models.get(model_name)
        if model is None:
            raise BadCall(404, "not_found_error", f"The model {model_name!r} does not exist at provider "
                          f"{provider_name!r}; it serves {', '.join(provider.models)}", "model_not_found")
        return provider, model

    async def serve_call(self, request: web.Request, api: str) -> web.StreamResponse:
        raw_id = request.headers.get("x-sim-request-id")
        headers = {"x-sim-provider": request.match_info["provider"]}
        if raw_id is not None:
            headers["x-sim-request-id"] = raw_id
        if self.stopped.is_set():
            return web.json_response(error_body(api, "api_error", "sim serve is stopping"), status=503,
                                     headers=headers)
        try:
            try:
                body = await request.json()
            except (ValueError, UnicodeDecodeError):
                raise BadCall(400, "invalid_request_error", "the request body is not valid JSON") from None
            call = parse_call(body, api, self.settings.chars_per_token)
            provider, model = self._resolve(request.match_info["provider"], call.model)
        except BadCall as bad:
            return web.json_response(error_body(api, bad.kind, bad.message, bad.code), status=bad.status,
                                     headers=headers)
        headers["x-sim-model"] = model.name
        request_id = request_number(raw_id)
        self._in_flight += 1
        try:
            return await self._play(request, api, call, provider, model, request_id, headers)
        finally:
            self._in_flight -= 1

    async def _play(self, request, api, call: ParsedCall, provider: ServedProvider, model, request_id: int,
                    headers: dict) -> web.StreamResponse:
        served, clock = self.served, self.clock
        attempt = served.attempt_of(request_id)
        output_tokens = served.output_tokens(call.max_tokens)
        log = dict(request_id=request_id, attempt=attempt, target=provider.codes[model.name],
                   input_tokens=call.input_tokens, output_tokens=output_tokens)
        slot = provider.slots
        decision: Decision | None = None
        start_s = clock.now_sim()
        try:
            if slot is not None:
                await slot.acquire()
                start_s = clock.now_sim()
            decision = served.decide(provider, model, start_s, call.input_tokens, output_tokens, call.max_tokens,
                                     attempt)
            headers["x-sim-status"] = CALL_STATUSES[decision.status]
            headers["x-sim-hallucinated"] = "1" if decision.hallucinated else "0"
            headers.update(rate_limit_headers(api, served.levels(provider, start_s), clock))
            if decision.status == OK:
                response = await self._answer(request, api, call, model.name, decision, headers, start_s)
            else:
                response = await self._fail(request, api, call, provider.name, model, decision, headers, start_s)
            self._log(provider, decision, start_s, log)
            return response
        except (asyncio.CancelledError, ConnectionResetError):
            # the client gave up (its timeout) or went away: what it saw is a timeout
            if decision is not None:
                self._log(provider, decision._replace(status=TIMEOUT, cost_usd=0.0, hallucinated=False,
                                                      parse_failed=False), start_s, log)
            raise
        finally:
            if slot is not None:
                slot.release()

    def _log(self, provider: ServedProvider, decision: Decision, start_s: float, log: dict) -> None:
        end_s = self.clock.now_sim()
        self.served.finish(provider, end_s, decision)
        self.served.record(start_s=start_s, end_s=end_s, status=decision.status, cost_usd=decision.cost_usd,
                           hallucinated=decision.hallucinated, parse_failed=decision.parse_failed, **log)
        if self.settings.max_calls is not None and self.served.n_calls >= self.settings.max_calls:
            self.request_stop(f"{self.settings.max_calls} calls have been served (--max-calls)")

    async def _sleep_until(self, start_s: float, sim_offset_s: float) -> None:
        """Sleep until ``sim_offset_s`` scenario seconds after ``start_s`` (absolute, so delays do not add up)."""
        wait = self.clock.wall_s(start_s + sim_offset_s - self.clock.now_sim())
        if wait > 0:
            await asyncio.sleep(wait)

    async def _fail(self, request, api, call: ParsedCall, provider_name: str, model, decision: Decision,
                    headers: dict, start_s: float) -> web.Response:
        if decision.status == TIMEOUT:
            await self._hang(request)
        else:
            await self._sleep_until(start_s, decision.duration_s)
        asked = decision.output_tokens if call.max_tokens is None else call.max_tokens
        status, kind, message, code = error_of(api, decision, model.name, provider_name, call.input_tokens, asked,
                                               model.context_window_tokens)
        if decision.retry_after_s is not None:
            wall = self.clock.wall_s(decision.retry_after_s)
            headers["retry-after"] = str(max(1, math.ceil(wall)))
            headers["retry-after-ms"] = str(max(1, math.ceil(wall * 1000)))
        return web.json_response(error_body(api, kind, message, code), status=status, headers=headers)

    async def _hang(self, request) -> None:
        """Hold the call with nothing sent until the client closes the connection or max_hang_s has passed."""
        deadline = time.monotonic() + self.settings.max_hang_s
        while time.monotonic() < deadline and not self.stopped.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                raise ConnectionResetError("the client closed a hung call")
            await asyncio.sleep(HANG_POLL_S)

    async def _answer(self, request, api, call: ParsedCall, model_name: str, decision: Decision, headers: dict,
                      start_s: float) -> web.StreamResponse:
        call_id = (f"msg_sim{uuid.uuid4().hex[:20]}" if api == ANTHROPIC else f"chatcmpl-sim{next(self._ids)}")
        if not call.stream:
            await self._sleep_until(start_s, decision.duration_s)
            return web.json_response(answer_body(api, call_id, model_name, call, decision), headers=headers)
        await self._sleep_until(start_s, decision.ttft_s)
        response = web.StreamResponse(headers={**headers, "content-type": "text/event-stream",
                                               "cache-control": "no-cache"})
        await response.prepare(request)
        events = (self._anthropic_events if api == ANTHROPIC else self._openai_events)(
            call_id, model_name, call, decision)
        # events due at the same moment go out in one write: two small writes in a row can wait for the
        # peer's delayed ACK (Nagle), which showed as ~20 ms of extra time to first token on loopback
        for offset_s, same_time in itertools.groupby(events, key=lambda event: event[0]):
            await self._sleep_until(start_s, offset_s)
            await response.write(b"".join(payload for _, payload in same_time))
        await response.write_eof()
        return response

    def _chunk_schedule(self, decision: Decision) -> list[tuple[float, int]]:
        """(scenario offset from the call's start, tokens) of each streamed chunk: the output spread evenly from
        the first token to the end, at most one chunk per ``stream_chunk_s`` of wall time. A chunk leaves when
        its first token is due, so the first text arrives at the time to first token and no token is late by
        more than one chunk; the closing event leaves at the end."""
        tokens, ttft, end = decision.output_tokens, decision.ttft_s, decision.duration_s
        if tokens <= 0:
            return []
        wall_stream_s = self.clock.wall_s(max(0.0, end - ttft))
        n_chunks = max(1, min(tokens, math.floor(wall_stream_s / self.settings.stream_chunk_s)))
        bounds = [round(k * tokens / n_chunks) for k in range(n_chunks + 1)]     # chunk k: tokens [b_k, b_k+1)
        return [(ttft + (end - ttft) * first / tokens, upto - first) for first, upto in zip(bounds, bounds[1:])]

    def _openai_events(self, call_id, model_name, call: ParsedCall, decision: Decision):
        created = int(time.time())
        base = {"id": call_id, "object": "chat.completion.chunk", "created": created, "model": model_name,
                "system_fingerprint": None}
        yield decision.ttft_s, sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                         "logprobs": None, "finish_reason": None}]})
        for offset, tokens in self._chunk_schedule(decision):
            yield offset, sse({**base, "choices": [{"index": 0, "delta": {"content": output_text(tokens)},
                                                    "logprobs": None, "finish_reason": None}]})
        sim = {"hallucinated": decision.hallucinated, "parse_failed": decision.parse_failed}
        yield decision.duration_s, sse({**base, "choices": [{"index": 0, "delta": {}, "logprobs": None,
                                                             "finish_reason": "stop"}], "sim": sim})
        if call.include_usage:
            usage = {"prompt_tokens": call.input_tokens, "completion_tokens": decision.output_tokens,
                     "total_tokens": call.input_tokens + decision.output_tokens}
            yield decision.duration_s, sse({**base, "choices": [], "usage": usage})
        yield decision.duration_s, b"data: [DONE]\n\n"

    def _anthropic_events(self, call_id, model_name, call: ParsedCall, decision: Decision):
        ttft, end = decision.ttft_s, decision.duration_s
        message = {"id": call_id, "type": "message", "role": "assistant", "model": model_name, "content": [],
                   "stop_reason": None, "stop_sequence": None,
                   "usage": {"input_tokens": call.input_tokens, "output_tokens": 1}}
        yield ttft, sse({"type": "message_start", "message": message}, "message_start")
        yield ttft, sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                        "content_block_start")
        for offset, tokens in self._chunk_schedule(decision):
            yield offset, sse({"type": "content_block_delta", "index": 0,
                               "delta": {"type": "text_delta", "text": output_text(tokens)}}, "content_block_delta")
        yield end, sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        sim = {"hallucinated": decision.hallucinated, "parse_failed": decision.parse_failed}
        yield end, sse({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                        "usage": {"output_tokens": decision.output_tokens}, "sim": sim}, "message_delta")
        yield end, sse({"type": "message_stop"}, "message_stop")


# ------------------------------------------------------------------------------------- the command

def serve(scenario: Scenario, settings: ServeSettings, log_path=None, announce=print) -> tuple[str, "object"]:
    """Serve until the duration has passed, ``max_calls`` calls have been served, or SIGINT/SIGTERM; write the
    calls log (if ``log_path``) and return (why it stopped, the calls frame). ``announce`` gets the start
    message (the URLs) once the server listens."""
    import signal
    from sim.live.providers import write_calls_log

    async def main():
        server = LiveServer(scenario, settings)
        port = await server.start()
        loop = asyncio.get_running_loop()
        names = {signal.SIGINT: "interrupted (SIGINT)", signal.SIGTERM: "terminated (SIGTERM)"}
        for signum, why in names.items():
            loop.add_signal_handler(signum, server.request_stop, why)
        base = f"http://{settings.host}:{port}"
        announce(f"serving scenario {scenario.name!r} at {base} (speed x{settings.speed:g}): "
                 + ", ".join(f"{base}/{name}/v1" for name in server.served.providers))
        try:
            await server.run_until_done()
        finally:
            for signum in names:
                loop.remove_signal_handler(signum)
            await server.stop()
        return server.stop_reason, server.served.calls_frame()

    reason, frame = asyncio.run(main())
    if log_path is not None:
        write_calls_log(frame, log_path, scenario.name)
    return reason, frame
