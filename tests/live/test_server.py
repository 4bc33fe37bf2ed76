"""``sim serve``: the scenario's providers over HTTP on loopback, checked against the scenario's parameters.

Each test starts its own server in a background thread (port 0, a small scenario, compressed time) and talks
to it with a plain aiohttp client; everything is bounded in calls and seconds.
"""
from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from contextlib import contextmanager

import pytest

aiohttp = pytest.importorskip("aiohttp", reason="live mode needs aiohttp: pip install -e '.[live]'")

from sim.config import serve_settings, validate_scenario          # noqa: E402
from sim.errors import ScenarioError                               # noqa: E402
from sim.live.providers import check_log_path, write_calls_log     # noqa: E402
from sim.live.server import LiveServer                             # noqa: E402
from sim.record import CALL_STATUS as CODES                          # noqa: E402

FAST = {"type": "exponential", "mean_s": 0.01}


def scenario(models=None, limits=None, faults=(), duration="1h", api_name="oa"):
    provider = {"name": api_name, "models": models or [{"name": "m1", "input_usd_per_mtok": 2.0,
                                                        "output_usd_per_mtok": 8.0, "error_rate": 0.0,
                                                        "latency": FAST}]}
    if limits:
        provider["limits"] = limits
    return validate_scenario({
        "name": "live-test", "seed": 11, "duration": duration,
        "workload": {"rate_per_s": 1.0, "profile": {"type": "flat"},
                     "input_tokens": {"type": "fixed", "value": 100},
                     "output_tokens": {"type": "fixed", "value": 7}},
        "providers": [provider, {"name": "an", "models": [{"name": "claude", "input_usd_per_mtok": 3.0,
                                                           "output_usd_per_mtok": 15.0, "error_rate": 0.0,
                                                           "latency": FAST}]}],
        "faults": list(faults), "output": {"charts": False}})


@contextmanager
def running(scen, **settings):
    """A LiveServer on a free port in a background thread; yields (base URL, server); stops it after."""
    server_box, ready = {}, threading.Event()

    def main():
        async def serve():
            server = LiveServer(scen, serve_settings(port=0, **settings))
            server_box["server"] = server
            server_box["port"] = await server.start()
            server_box["loop"] = asyncio.get_running_loop()
            ready.set()
            try:
                await server.run_until_done()
            finally:
                await server.stop()
        asyncio.run(serve())

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    assert ready.wait(10), "the server did not start"
    server = server_box["server"]
    try:
        yield f"http://127.0.0.1:{server_box['port']}", server
    finally:
        if thread.is_alive():                                          # else it stopped by itself
            try:
                server_box["loop"].call_soon_threadsafe(server.request_stop, "test over")
            except RuntimeError:                                       # its loop closed meanwhile
                pass
        thread.join(10)
        assert not thread.is_alive(), "the server did not stop"


def openai_body(content="hello", max_tokens=5, model="m1", **extra):
    return {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": max_tokens, **extra}


async def post(session, url, body, request_id=None, timeout_s=10.0):
    headers = {"x-sim-request-id": str(request_id)} if request_id is not None else {}
    async with session.post(url, json=body, headers=headers,
                            timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
        return response.status, response.headers.copy(), await response.json()


def run(coroutine):
    return asyncio.run(coroutine)


# ------------------------------------------------------------------------------------------- answers

def test_answers_carry_usage_by_the_token_approximation_in_both_shapes():
    texts = ["x" * 37, "y" * 10]                   # 47 characters -> ceil(47 / 4) = 12 tokens
    with running(scenario(), speed=10) as (base, _):
        async def calls():
            async with aiohttp.ClientSession() as s:
                openai = await post(s, f"{base}/oa/v1/chat/completions", {
                    "model": "m1", "max_tokens": 9, "messages": [
                        {"role": "system", "content": texts[0]},
                        {"role": "user", "content": [{"type": "text", "text": texts[1]}]}]}, request_id=41)
                anthropic = await post(s, f"{base}/an/v1/messages", {
                    "model": "claude", "max_tokens": 6, "system": texts[0],
                    "messages": [{"role": "user", "content": texts[1]}]}, request_id=42)
                unbounded = await post(s, f"{base}/oa/v1/chat/completions", {     # no max_tokens
                    "model": "m1", "messages": [{"role": "user", "content": "abcd"}]})
                return openai, anthropic, unbounded
        (st_o, h_o, b_o), (st_a, h_a, b_a), (_, _, b_u) = run(calls())
    assert b_u["usage"]["completion_tokens"] == 7          # drawn from the workload's output tokens (fixed 7)
    assert st_o == 200 and st_a == 200
    assert b_o["usage"] == {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21}
    assert b_o["object"] == "chat.completion" and b_o["choices"][0]["message"]["role"] == "assistant"
    assert len(b_o["choices"][0]["message"]["content"]) == 4 * 9          # the approximation inverts
    assert b_a["usage"] == {"input_tokens": 12, "output_tokens": 6} and b_a["type"] == "message"
    assert b_a["content"][0]["type"] == "text" and len(b_a["content"][0]["text"]) == 4 * 6
    assert (h_o["x-sim-provider"], h_o["x-sim-model"], h_o["x-sim-request-id"], h_o["x-sim-status"]) == \
        ("oa", "m1", "41", "ok")
    assert h_a["x-sim-request-id"] == "42" and b_a["sim"] == {"hallucinated": False, "parse_failed": False}


def test_openai_sdk_parses_answers_and_streams():
    openai = pytest.importorskip("openai", reason="the openai SDK is not installed (litellm brings it)")
    with running(scenario(), speed=10) as (base, _):
        client = openai.OpenAI(base_url=f"{base}/oa/v1", api_key="unused", max_retries=0, timeout=10)
        answer = client.chat.completions.create(model="m1", max_tokens=3,
                                                messages=[{"role": "user", "content": "abcdefgh"}])
        chunks = list(client.chat.completions.create(model="m1", max_tokens=4, stream=True,
                                                     stream_options={"include_usage": True},
                                                     messages=[{"role": "user", "content": "abcd"}]))
    assert answer.usage.prompt_tokens == 2 and answer.usage.completion_tokens == 3
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text) == 16 and chunks[-1].usage.completion_tokens == 4


# ------------------------------------------------------------------------------------------- streaming

def test_streamed_chunks_arrive_over_ttft_plus_tokens_at_the_model_rate():
    # no latency noise (sigma 0): TTFT 2 s, then 100 tokens at 50/s = 2 s more; at speed 10, 0.2 s + 0.2 s
    model = {"name": "m1", "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 1.0, "error_rate": 0.0,
             "latency": {"type": "ttft_throughput", "ttft_s": 2.0, "tokens_per_s": 50.0, "sigma": 0.0}}
    speed, ttft_wall, end_wall = 10.0, 0.2, 0.4
    with running(scenario(models=[model]), speed=speed) as (base, _):
        async def stream():
            arrivals, texts, events = [], [], []
            async with aiohttp.ClientSession() as s:
                t0 = time.monotonic()
                async with s.post(f"{base}/oa/v1/chat/completions",
                                  json=openai_body("hi", 100, stream=True)) as response:
                    async for line in response.content:
                        line = line.decode().strip()
                        if line.startswith("data: ") and line != "data: [DONE]":
                            delta = json.loads(line[6:])["choices"][0]["delta"].get("content")
                            if delta:
                                arrivals.append(time.monotonic() - t0)
                                texts.append(delta)
                async with s.post(f"{base}/an/v1/messages", json={
                        "model": "claude", "max_tokens": 3, "stream": True,
                        "messages": [{"role": "user", "content": "hi"}]}) as response:
                    async for line in response.content:
                        if line.startswith(b"event: "):
                            events.append(line.decode().split(": ", 1)[1].strip())
            return arrivals, "".join(texts), time.monotonic() - t0, events
        arrivals, text, _, events = run(stream())
    assert len(text) == 4 * 100
    # loose upper bounds (a busy machine is late, never early); the spread says it was streamed, not sent at once
    assert ttft_wall * 0.95 <= arrivals[0] <= ttft_wall + 0.25          # the first text at the TTFT
    assert end_wall * 0.95 <= arrivals[-1] <= end_wall + 0.35           # the last when the tokens are through
    assert arrivals[-1] - arrivals[0] >= 0.9 * (end_wall - ttft_wall) - 0.02 and len(arrivals) >= 5
    assert events == ["message_start", "content_block_start", "content_block_delta", "content_block_stop",
                      "message_delta", "message_stop"]


# ------------------------------------------------------------------------------------------- rate limits

def test_rpm_limit_answers_429_after_the_bucket_capacity_with_the_predicted_retry_after():
    # 12 RPM over a whole-minute bucket: capacity 12 requests, refilled at 0.2 per second; at speed 1 a burst
    # of 15 concurrent calls refills a negligible amount, so exactly 12 pass and 3 get a 429
    limits = {"requests_per_min": 12, "enforcement_period_s": 60}
    with running(scenario(limits=limits), speed=1.0) as (base, _):
        async def burst():
            async with aiohttp.ClientSession() as s:
                t0 = time.monotonic()
                out = await asyncio.gather(*(post(s, f"{base}/oa/v1/chat/completions", openai_body())
                                             for _ in range(15)))
                return out, time.monotonic() - t0
        results, burst_wall_s = run(burst())
    statuses = sorted(st for st, _, _ in results)
    assert statuses == [200] * 12 + [429] * 3
    refused = [(h, b) for st, h, b in results if st == 429]
    rate_per_s = 12 / 60
    for headers, body in refused:
        # retry after (1 request - level) / rate: the level is at most the refill during the burst
        wait_s = int(headers["retry-after-ms"]) / 1000
        assert (1 - burst_wall_s * rate_per_s) / rate_per_s - 0.002 <= wait_s <= 1 / rate_per_s + 0.002
        assert headers["retry-after"] == str(math.ceil(wait_s))
        assert headers["x-sim-status"] == "rate_limited" and body["error"]["code"] == "rate_limit_exceeded"
        assert headers["x-ratelimit-limit-requests"] == "12" and headers["x-ratelimit-remaining-requests"] == "0"
    remaining = sorted(int(h["x-ratelimit-remaining-requests"]) for st, h, _ in results if st == 200)
    assert remaining == list(range(12))                               # counted down by one per call


# ------------------------------------------------------------------------------------------- faults

def test_outage_fails_calls_inside_its_window_only():
    # outage of the "an" provider from scenario second 20 to 40; at speed 100 that is wall 0.2 s to 0.4 s
    fault = {"kind": "outage", "targets": ["an"], "start": 20, "duration": 20, "fail_after_s": 0.0}
    with running(scenario(faults=[fault]), speed=100.0) as (base, server):
        async def calls():
            out = []
            async with aiohttp.ClientSession() as s:
                for i in range(30):                                    # about 0.6 s of wall time
                    anthropic = await post(s, f"{base}/an/v1/messages", {
                        "model": "claude", "max_tokens": 2, "messages": [{"role": "user", "content": "x"}]},
                        request_id=i)
                    openai = await post(s, f"{base}/oa/v1/chat/completions", openai_body(), request_id=100 + i)
                    out += [anthropic, openai]
                    await asyncio.sleep(0.015)
            return out
        results = run(calls())
        calls_log = server.served.calls_frame()
    by_id = {int(h["x-sim-request-id"]): st for st, h, _ in results}
    start = calls_log.set_index("request_id")["start_s"]
    inside = [rid for rid in by_id if 20 <= start[rid] < 40]
    assert inside and len(inside) < len(by_id)
    for rid, status in by_id.items():
        hit = rid < 100 and 20 <= start[rid] < 40
        assert status == (529 if hit else 200), (rid, start[rid], status)
    assert set(calls_log.loc[calls_log["status"] == "error", "request_id"]) == {r for r in inside if r < 100}


def test_degradation_marks_hallucinations_at_the_faults_rate():
    n, p = 200, 0.3
    fault = {"kind": "degradation", "targets": ["oa"], "start": 0, "duration": "1h", "hallucination_prob": p}
    with running(scenario(faults=[fault]), speed=100.0) as (base, _):
        async def calls():
            async with aiohttp.ClientSession() as s:
                out = []
                for batch in range(n // 25):
                    out += await asyncio.gather(*(post(s, f"{base}/oa/v1/chat/completions", openai_body())
                                                  for _ in range(25)))
                clean = await post(s, f"{base}/an/v1/messages", {
                    "model": "claude", "max_tokens": 2, "messages": [{"role": "user", "content": "x"}]})
                return out, clean
        results, clean = run(calls())
    flags = [b["sim"]["hallucinated"] for _, _, b in results]
    assert all((h["x-sim-hallucinated"] == "1") == f for (_, h, _), f in zip(results, flags))
    sd = math.sqrt(n * p * (1 - p))
    assert n * p - 4 * sd <= sum(flags) <= n * p + 4 * sd             # binomial, 4 sigma
    assert clean[2]["sim"]["hallucinated"] is False                    # the other provider is not degraded


def test_hung_outage_holds_the_call_until_the_client_gives_up():
    fault = {"kind": "outage", "targets": ["oa"], "start": 0, "duration": "1h", "mode": "hang"}
    with running(scenario(faults=[fault]), speed=100.0, max_hang_s=5) as (base, server):
        async def call():
            async with aiohttp.ClientSession() as s:
                t0 = time.monotonic()
                with pytest.raises(asyncio.TimeoutError):
                    await post(s, f"{base}/oa/v1/chat/completions", openai_body(), request_id=5, timeout_s=0.3)
                return time.monotonic() - t0
        waited = run(call())
        deadline = time.monotonic() + 2
        while server.served.n_calls < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        log = server.served.calls_frame()
    assert 0.3 <= waited < 1.0
    assert list(log["status"]) == ["timeout"] and log["duration_s"].iloc[0] >= 0.3 * 100 * 0.9


def test_hang_is_released_with_504_after_the_servers_bound():
    fault = {"kind": "outage", "targets": ["oa"], "start": 0, "duration": "1h", "mode": "hang"}
    with running(scenario(faults=[fault]), speed=100.0, max_hang_s=0.2) as (base, _):
        async def call():
            async with aiohttp.ClientSession() as s:
                return await post(s, f"{base}/oa/v1/chat/completions", openai_body(), timeout_s=5)
        status, headers, body = run(call())
    assert status == 504 and headers["x-sim-status"] == "timeout" and "max_hang_s" in body["error"]["message"]


# ------------------------------------------------------------------------------------------- errors

def test_unknown_provider_model_or_route_is_404_with_a_clear_message_and_context_window_is_400():
    model = {"name": "m1", "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 1.0, "error_rate": 0.0,
             "latency": FAST, "context_window_tokens": 50}
    with running(scenario(models=[model]), speed=10) as (base, _):
        async def calls():
            async with aiohttp.ClientSession() as s:
                provider = await post(s, f"{base}/nope/v1/chat/completions", openai_body())
                model_ = await post(s, f"{base}/oa/v1/chat/completions", openai_body(model="gpt-9"))
                async with s.get(f"{base}/oa/v2/other") as r:
                    route = r.status, await r.json()
                big = await post(s, f"{base}/oa/v1/chat/completions", openai_body("z" * 200, 10))   # 50 + 10 > 50
                async with s.get(f"{base}/health") as r:
                    health = await r.json()
                return provider, model_, route, big, health
        provider, model_, route, big, health = run(calls())
    assert provider[0] == 404 and "unknown provider 'nope'" in provider[2]["error"]["message"]
    assert "oa, an" in provider[2]["error"]["message"]
    assert model_[0] == 404 and "'gpt-9' does not exist" in model_[2]["error"]["message"] and "m1" in model_[2]["error"]["message"]
    assert route[0] == 404 and "/<provider>/v1/chat/completions" in route[1]["error"]["message"]
    assert big[0] == 400 and big[2]["error"]["code"] == "context_length_exceeded"
    assert "60 tokens" in big[2]["error"]["message"]
    assert health["scenario"] == "live-test" and health["sim_time_s"] > 0


# ------------------------------------------------------------------------------------------- the calls log

def test_calls_log_has_the_simulators_columns_and_round_trips(tmp_path):
    from sim.model.run import simulate
    scen = scenario(duration="2m")
    with running(scen, speed=10) as (base, server):
        async def calls():
            async with aiohttp.ClientSession() as s:
                for i in range(3):
                    await post(s, f"{base}/oa/v1/chat/completions", openai_body("abcd" * 25, 7), request_id=9)
        run(calls())
        frame = server.served.calls_frame()
    simulated = simulate(scen).calls
    assert list(frame.columns) == list(simulated.columns)
    assert [str(t) for t in frame.dtypes] == [str(t) for t in simulated.dtypes]
    assert list(frame["attempt"]) == [1, 2, 3] and set(frame["request_id"]) == {9}
    # an ok call costs its tokens at the model's prices: 25 input and 7 output tokens at $2 and $8 per million
    assert frame["cost_usd"].iloc[0] == pytest.approx((25 * 2.0 + 7 * 8.0) / 1e6)
    path = tmp_path / "calls.parquet"
    write_calls_log(frame, path, scen.name)
    write_calls_log(frame, path, scen.name)                           # ours: replaced
    import pandas as pd
    assert pd.read_parquet(path).shape == frame.shape
    foreign = tmp_path / "other.parquet"
    foreign.write_text("not ours")
    with pytest.raises(ScenarioError, match="not written by sim serve"):
        check_log_path(foreign)
    assert foreign.read_text() == "not ours"


def test_cli_serves_for_its_duration_then_writes_the_log(tmp_path, capsys):
    from sim.cli import main
    path = tmp_path / "scenario.yaml"
    import yaml
    path.write_text(yaml.safe_dump(scenario().model_dump(mode="json")))
    log = tmp_path / "calls.parquet"
    assert main(["serve", str(path), "--port", "0", "--speed", "1000", "--duration", "0.5s", "--log", str(log)]) == 0
    out = capsys.readouterr().out
    assert "serving scenario 'live-test' at http://127.0.0.1:" in out and "/oa/v1" in out
    assert "stopped: the duration (0.5 scenario seconds) has passed; 0 calls served" in out and log.is_file()
    assert main(["serve", str(path), "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err


def test_rate_limit_fault_answers_spurious_429s_at_its_share():
    n, share = 120, 0.25
    fault = {"kind": "rate_limit", "targets": ["an"], "start": 0, "duration": "1h", "share": share}
    with running(scenario(faults=[fault]), speed=100.0) as (base, _):
        async def calls():
            async with aiohttp.ClientSession() as s:
                return await asyncio.gather(*(post(s, f"{base}/an/v1/messages", {
                    "model": "claude", "max_tokens": 2, "messages": [{"role": "user", "content": "x"}]})
                    for _ in range(n)))
        results = run(calls())
    refused = [(h, b) for st, h, b in results if st == 429]
    sd = math.sqrt(n * share * (1 - share))
    assert n * share - 4 * sd <= len(refused) <= n * share + 4 * sd
    from sim.model.request import SPURIOUS_RETRY_AFTER_S
    for headers, body in refused:
        assert body == {"type": "error", "error": {"type": "rate_limit_error", "message": body["error"]["message"]}}
        assert int(headers["retry-after-ms"]) == math.ceil(SPURIOUS_RETRY_AFTER_S / 100 * 1000)


def test_anthropic_rate_limit_headers_report_every_bucket():
    limits = {"requests_per_min": 50, "input_tokens_per_min": 30000, "output_tokens_per_min": 8000,
              "enforcement_period_s": 60}
    data = scenario().model_dump(mode="json")
    data["providers"][1]["limits"] = limits                            # the Anthropic-shaped provider "an"
    with running(validate_scenario(data), speed=10.0) as (base, _):
        async def one():
            async with aiohttp.ClientSession() as s:
                return await post(s, f"{base}/an/v1/messages", {
                    "model": "claude", "max_tokens": 20, "messages": [{"role": "user", "content": "y" * 400}]})
        status, headers, _ = run(one())
    assert status == 200
    assert headers["anthropic-ratelimit-requests-limit"] == "50"
    assert headers["anthropic-ratelimit-requests-remaining"] == "49"
    assert headers["anthropic-ratelimit-input-tokens-remaining"] == str(30000 - 100)
    assert headers["anthropic-ratelimit-output-tokens-remaining"] == str(8000 - 20)
    # "tokens" is the most restrictive limit now: input, with 100/30000 used against output's 20/8000
    assert headers["anthropic-ratelimit-tokens-limit"] == "30000"
    assert headers["anthropic-ratelimit-requests-reset"].endswith("Z")


def test_request_ids_outside_int64_or_not_numbers_are_logged_as_none():
    from sim.live.server import request_number
    assert [request_number(v) for v in ("7", " 8", "-1", "--5", "x", None, str(2**63), str(2**63 - 1))] == \
        [7, 8, -1, -1, -1, -1, -1, 2**63 - 1]


def test_live_clock_plays_scenario_time_speed_times_faster():
    from sim.live.clock import LiveClock
    wall = [100.0]
    clock = LiveClock(60, monotonic=lambda: wall[0])
    wall[0] = 102.5
    assert clock.now_sim() == pytest.approx(150.0)
    assert clock.wall_s(900) == pytest.approx(15.0) and clock.sim_s(0.5) == pytest.approx(30.0)
    with pytest.raises(ValueError, match="speed"):
        LiveClock(0)


def test_litellm_router_parses_answers_streams_and_every_error(monkeypatch):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")      # no network fetch of the price list
    litellm = pytest.importorskip("litellm", reason="litellm is not installed (pip install -e '.[live]')")
    model = {"name": "m1", "input_usd_per_mtok": 2.0, "output_usd_per_mtok": 8.0, "error_rate": 0.0,
             "latency": FAST, "context_window_tokens": 1000}
    limits = {"requests_per_min": 3, "enforcement_period_s": 60}

    def router_at(base):
        return litellm.Router(model_list=[
            {"model_name": "gpt", "litellm_params": {"model": "openai/m1", "api_base": f"{base}/oa/v1", "api_key": "-"}},
            {"model_name": "claude", "litellm_params": {"model": "anthropic/claude", "api_base": f"{base}/an",
                                                        "api_key": "-"}}], num_retries=0)

    def asking(router):
        return lambda name, **kw: router.completion(model=name, **{
            "messages": [{"role": "user", "content": "abcdefgh"}], "max_tokens": 3, **kw})

    with running(scenario(models=[model], limits=limits), speed=10) as (base, _):
        ask = asking(router_at(base))
        answer, claude = ask("gpt"), ask("claude")
        streamed = "".join(c.choices[0].delta.content or "" for c in ask("claude", stream=True))
        with pytest.raises(litellm.ContextWindowExceededError):
            ask("gpt", max_tokens=2000)                                # 2 + 2000 > 1000: refused before the limits
        ask("gpt"), ask("gpt")                                         # the 2nd and 3rd admitted
        with pytest.raises(litellm.RateLimitError):
            ask("gpt")                                                 # the 4th within a minute of a 3 RPM key
    outage = {"kind": "outage", "start": 0, "duration": "1h"}           # every provider down
    with running(scenario(faults=[outage]), speed=10) as (base, _):
        ask = asking(router_at(base))
        with pytest.raises(litellm.ServiceUnavailableError):            # 503 in the OpenAI shape
            ask("gpt")
        with pytest.raises(litellm.InternalServerError, match="overloaded_error"):   # 529 in Anthropic's
            ask("claude")
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (2, 3)
    assert (claude.usage.prompt_tokens, claude.usage.completion_tokens) == (2, 3)
    assert streamed == "tok " * 3


def test_max_concurrency_queues_calls_and_max_calls_stops_the_server():
    # one call at a time, each 2 scenario seconds without noise (TTFT 2 s, a 1-token answer at 1000/s)
    model = {"name": "m1", "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 1.0, "error_rate": 0.0,
             "latency": {"type": "ttft_throughput", "ttft_s": 2.0, "tokens_per_s": 1000.0, "sigma": 0.0}}
    data = scenario(models=[model]).model_dump(mode="json")
    data["providers"][0]["max_concurrency"] = 1
    with running(validate_scenario(data), speed=20.0, max_calls=3) as (base, server):
        async def calls():
            async with aiohttp.ClientSession() as s:
                return await asyncio.gather(*(post(s, f"{base}/oa/v1/chat/completions", openai_body(max_tokens=1),
                                                   request_id=i) for i in range(3)))
        results = run(calls())
        deadline = time.monotonic() + 5
        while server.stop_reason == "" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "3 calls have been served" in server.stop_reason          # stopped by itself
        log = server.served.calls_frame()
    assert [st for st, _, _ in results] == [200, 200, 200]
    starts, ends = log["start_s"].to_numpy(), log["end_s"].to_numpy()
    assert (starts[1:] >= ends[:-1] - 0.05).all()                     # each waited for the one before
    assert ends[-1] - starts[0] >= 3 * 2.0 * 0.98


def test_sigterm_stops_the_server_and_writes_the_log(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import urllib.request
    from pathlib import Path

    import pandas as pd
    import yaml
    root = Path(__file__).resolve().parents[2]
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario().model_dump(mode="json")))
    log = tmp_path / "calls.parquet"
    proc = subprocess.Popen([sys.executable, "-m", "sim", "serve", str(path), "--port", "0", "--speed", "10",
                             "--log", str(log), "--quiet"], cwd=root, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(root)})
    try:
        line = proc.stdout.readline()
        base = line.split(" at ")[1].split(" ")[0]
        request = urllib.request.Request(f"{base}/oa/v1/chat/completions", method="POST",
                                         data=json.dumps(openai_body()).encode(),
                                         headers={"content-type": "application/json", "x-sim-request-id": "3"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143 and "stopped: terminated (SIGTERM); 1 call served" in out
    assert list(pd.read_parquet(log)["request_id"]) == [3]


def test_served_draws_are_the_simulations_first_attempts_in_arrival_order():
    # one provider, no limits, no retries: the n-th served call draws what the n-th simulated attempt drew
    from sim.config import ServeSettings
    from sim.live.providers import ServedScenario
    from sim.model.run import simulate
    model = {"name": "m1", "input_usd_per_mtok": 2.0, "output_usd_per_mtok": 8.0, "error_rate": 0.05,
             "latency": {"type": "ttft_throughput", "ttft_s": 0.5, "tokens_per_s": 40.0, "sigma": 0.4}}
    data = scenario(models=[model], duration="5m").model_dump(mode="json")
    data["providers"] = data["providers"][:1]
    data["resilience"] = {"retry": {"max_attempts": 1}}
    scen = validate_scenario(data)
    simulated = simulate(scen).calls.sort_values("start_s", kind="stable")
    served = ServedScenario(scen, ServeSettings())
    provider = served.providers["oa"]
    decisions = [served.decide(provider, provider.models["m1"], start, 100, 7, 7)
                 for start in simulated["start_s"]]
    assert len(simulated) > 200
    assert [d.status for d in decisions] == [CODES[s] for s in simulated["status"]]
    assert [d.duration_s for d in decisions] == pytest.approx(list(simulated["duration_s"]), rel=1e-9)
    assert [d.cost_usd for d in decisions] == pytest.approx(list(simulated["cost_usd"]), rel=1e-9)
