"""sim drive against a tiny in-test aiohttp stub with known delays and statuses (not sim serve), and a real
litellm.Router built from experiments/gateways/litellm_config.yaml in front of the same stub.

Every test is bounded: a few hundred requests at speed 100, each with a client deadline of about a wall
second, on loopback.
"""
from __future__ import annotations

import asyncio
import importlib.util
import json
import threading
import time

import numpy as np
import pytest
import yaml

from sim.cli import main
from sim.config import validate_scenario
from sim.errors import ScenarioError
from sim.live.driver import (CHARS_PER_TOKEN, drive, http_send, lag_warning, live_result, plan_drive, prompt_text,
                             save_live_run)
from sim.model.run import simulate
from sim.results import read_manifest
from tests.conftest import EXPERIMENTS

aiohttp = pytest.importorskip("aiohttp", reason="aiohttp (the live extra: pip install -e '.[live]') is not installed")
from aiohttp import web  # noqa: E402

SPEED = 100.0


def scenario(rate_per_s=5.0, duration="60s", **gateway):
    return validate_scenario({
        "name": "live-stub", "seed": 11, "duration": duration,
        "workload": {"rate_per_s": rate_per_s, "profile": {"type": "flat"},
                     "input_tokens": {"type": "lognormal", "median": 300, "p95": 1500},
                     "output_tokens": {"type": "lognormal", "median": 80, "p95": 300}},
        "providers": [{"name": "alpha", "models": [{"name": "m1", "input_usd_per_mtok": 3.0,
                                                     "output_usd_per_mtok": 15.0}]}],
        "gateway": {"request_timeout_s": 100, "max_queue_wait_s": 60, **gateway},
        "output": {"charts": False},
    })


class Stub:
    """An OpenAI-shaped endpoint: ``behaviour(request_id) -> (status, wall delay s)``; status None hangs.
    It records the monotonic time each request arrived and the most requests it held at once."""

    def __init__(self, behaviour, stream_delay_s: float = 0.0):
        self.behaviour = behaviour
        self.stream_delay_s = stream_delay_s
        self.received: dict[int, float] = {}
        self.bodies: dict[int, dict] = {}
        self.in_flight = self.peak = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        now = time.monotonic()
        body = await request.json()
        rid = int(request.headers.get("x-sim-request-id", -1 - len(self.received)))
        self.received[rid], self.bodies[rid] = now, body
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            status, delay = self.behaviour(rid)
            if status is None:
                await asyncio.sleep(3600)                       # a hung connection: the client gives up
            await asyncio.sleep(delay)
            headers = {"x-sim-provider": "alpha", "x-sim-model": "m1", "x-sim-request-id": str(rid)}
            if status != 200:
                return web.json_response({"error": {"message": f"stub {status}"}}, status=status, headers=headers)
            prompt = sum(len(m["content"]) for m in body["messages"]) // CHARS_PER_TOKEN
            usage = {"prompt_tokens": prompt, "completion_tokens": body["max_tokens"],
                     "total_tokens": prompt + body["max_tokens"]}
            if body.get("stream"):
                return await self.stream(request, headers, usage)
            return web.json_response({"id": f"c{rid}", "object": "chat.completion", "created": 0,
                                      "model": body["model"], "usage": usage,
                                      "choices": [{"index": 0, "finish_reason": "stop",
                                                   "message": {"role": "assistant", "content": "ok"}}],
                                      "sim": {"hallucinated": rid % 2 == 1, "parse_failed": False}},
                                     headers=headers)
        finally:
            self.in_flight -= 1

    async def stream(self, request, headers, usage) -> web.StreamResponse:
        resp = web.StreamResponse(headers={**headers, "content-type": "text/event-stream"})
        await resp.prepare(request)
        await asyncio.sleep(self.stream_delay_s)
        for text in ("hel", "lo"):
            chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m1",
                     "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        last = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m1", "choices": [],
                "usage": usage}
        await resp.write(f"data: {json.dumps(last)}\n\ndata: [DONE]\n\n".encode())
        return resp


async def serving(stub: Stub, coroutine_of_url):
    app = web.Application()
    app.router.add_post("/{provider}/v1/chat/completions", stub.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        return await coroutine_of_url(f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()


def drive_stub(plan, stub: Stub, concurrency=256, stream=False, speed=SPEED):
    async def go(root):
        async with aiohttp.ClientSession() as session:
            return await drive(plan, http_send(session, f"{root}/alpha/v1", stream), speed, concurrency)
    return asyncio.run(serving(stub, go))


def test_the_workload_is_sim_runs_and_arrivals_are_honoured_at_speed_100():
    sc = scenario()
    plan = plan_drive(sc)
    simulated = simulate(sc).requests
    assert np.array_equal(plan.drawn["arrival_s"], simulated["arrival_s"].to_numpy())    # the same requests
    stub = Stub(lambda rid: (200, 0.02))                                                  # 2 simulated s
    run = drive_stub(plan, stub)
    received = np.array([stub.received[i] for i in range(plan.n)])
    sent_at_s = (received - run.clock.start) * SPEED                    # simulated time the stub saw each
    lateness_s = sent_at_s - plan.drawn["arrival_s"]
    assert lateness_s.min() > -0.5 and np.quantile(lateness_s, 0.95) < 10.0    # 0.1 s wall: loose for a busy CI
    frame = live_result(run).requests
    assert (frame["outcome"] == "ok").all()
    # the upper bound leaves 0.1 s of wall time for a loaded machine
    assert frame["latency_s"].min() >= 2.0 - 0.2 and frame["latency_s"].median() < 2.0 + 10.0
    # the server's 4-characters-a-token count inverts the prompt: the drawn tokens come back as usage
    assert np.array_equal(frame["input_tokens"].to_numpy(), plan.input_tokens)
    assert np.array_equal(frame["output_tokens"].to_numpy(), plan.output_tokens)
    assert [stub.bodies[i]["max_tokens"] for i in range(plan.n)] == plan.output_tokens.tolist()
    expected_cost = plan.input_tokens * 3.0e-6 + plan.output_tokens * 15.0e-6
    assert np.allclose(frame["cost_usd"].to_numpy(), expected_cost)
    assert frame["hallucinated"].to_numpy().tolist() == [i % 2 == 1 for i in range(plan.n)]


def test_prompt_length_is_four_characters_a_token():
    assert len(prompt_text(1234)) == 1234 * CHARS_PER_TOKEN and prompt_text(0) == ""


def test_concurrency_cap_is_respected_and_requests_without_a_slot_are_shed():
    # 20 requests/s for 10 s arrive in 0.1 wall s; 3 slots held 0.2 wall s each; a slot waited for 30 s (0.3 wall s)
    sc = scenario(rate_per_s=20.0, duration="10s", max_queue_wait_s=30)
    plan = plan_drive(sc)
    stub = Stub(lambda rid: (200, 0.2))
    frame = live_result(drive_stub(plan, stub, concurrency=3)).requests
    assert stub.peak == 3
    shed = frame["outcome"] == "shed"
    assert 0 < shed.sum() < plan.n
    assert set(stub.received) == set(frame.loc[~shed, "request_id"])        # the shed were never sent
    waits = frame.loc[shed, "queue_wait_s"]
    assert waits.min() >= 30.0 - 0.5 and waits.max() < 30.0 + 30.0         # the gateway's max_queue_wait_s (+ lag)
    assert (frame.loc[~shed, "outcome"] == "ok").all()


def test_outcomes_map_from_statuses_and_the_client_deadline():
    statuses = {0: 200, 1: 429, 2: 500, 3: 529, 4: 504, 5: None}
    sc = scenario(rate_per_s=2.0, duration="30s")
    plan = plan_drive(sc, max_requests=24)
    whole = plan_drive(sc)                      # the driven span ends at the first request left out
    assert plan.scenario.duration == plan.duration_s == whole.drawn["arrival_s"][24]
    stub = Stub(lambda rid: (statuses[rid % 6], 0.0))
    frame = live_result(drive_stub(plan, stub)).requests
    expected = {0: "ok", 1: "rate_limited", 2: "failed", 3: "failed", 4: "timeout", 5: "timeout"}
    assert frame["outcome"].astype(str).tolist() == [expected[i % 6] for i in range(plan.n)]
    hung = frame[frame["request_id"] % 6 == 5]
    assert ((hung["latency_s"] > 100 - 1) & (hung["latency_s"] < 100 + 20)).all()     # request_timeout_s
    failed = frame[frame["outcome"] != "ok"]           # as the simulator counts: no tokens, no cost without an answer
    assert (failed[["cost_usd", "input_tokens", "output_tokens"]] == 0).all().all()


def test_streaming_measures_time_to_first_token():
    sc = scenario(rate_per_s=2.0, duration="10s")
    plan = plan_drive(sc)
    stub = Stub(lambda rid: (200, 0.0), stream_delay_s=0.03)                 # 3 simulated s
    frame = live_result(drive_stub(plan, stub, stream=True)).requests
    assert (frame["outcome"] == "ok").all()
    assert frame["ttft_s"].min() >= 3.0 - 0.2 and frame["ttft_s"].median() < 3.0 + 10.0
    assert np.array_equal(frame["output_tokens"].to_numpy(), plan.output_tokens)      # from the usage chunk


def test_a_live_run_folder_has_the_simulators_frames_and_sim_report_reads_it(tmp_path):
    sc = scenario(rate_per_s=2.0, duration="20s")
    plan = plan_drive(sc)
    run = drive_stub(plan, Stub(lambda rid: (200 if rid % 5 else 500, 0.01)))
    out = tmp_path / "live"
    save_live_run(run, out, "http://127.0.0.1:1/alpha/v1", 256, False)
    live = {name: __import__("pandas").read_parquet(out / f"{name}.parquet") for name in ("requests", "calls")}
    simulated = simulate(sc)
    for name in ("requests", "calls"):
        want = getattr(simulated, name)
        assert list(live[name].columns) == list(want.columns)
        for column in want.columns:
            if str(want[column].dtype) != "category":
                assert live[name][column].dtype == want[column].dtype, (name, column)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["requests_total"] == plan.n and summary["live"] is True
    assert summary["requests_failed"] == int(sum(i % 5 == 0 for i in range(plan.n)))
    manifest = read_manifest(out)
    assert manifest["live"]["speed"] == SPEED and manifest["live"]["requests_sent"] == plan.n
    assert main(["report", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "availability" in report and "live run" in report.lower() and "http://127.0.0.1:1/alpha/v1" in report


def test_drive_refuses_a_target_off_loopback_and_a_scenario_without_a_deadline(tmp_path, capsys):
    path = EXPERIMENTS / "demo.yaml"
    assert main(["drive", str(path), "--target", "http://example.com/v1", "--out", str(tmp_path / "x")]) == 2
    assert "loopback" in capsys.readouterr().err
    plan = plan_drive(scenario(request_timeout_s=None), max_requests=1)
    with pytest.raises(ScenarioError, match="request_timeout_s"):
        asyncio.run(drive(plan, None))


def test_litellm_router_from_the_proxy_config_retries_a_stub_500():
    if importlib.util.find_spec("litellm") is None:      # not importorskip: import_litellm sets its environment first
        pytest.skip("litellm (the live extra: pip install -e '.[live]') is not installed")
    from sim.live.litellm_router import litellm_send, router_arguments, router_from_scenario_config
    config = yaml.safe_load((EXPERIMENTS / "gateways" / "litellm_config.yaml").read_text())
    speed = 60.0
    args = router_arguments(config, "http://127.0.0.1:9", speed)
    assert args.kwargs["cooldown_time"] == pytest.approx(30 / speed)
    assert args.kwargs["timeout"] == pytest.approx(60 / speed)
    first = args.kwargs["model_list"][0]["litellm_params"]
    assert first["api_base"] == "http://127.0.0.1:9/gpt-4o-azure-eastus/v1" and first["model"] == "openai/gpt-4o"
    assert first["rpm"] == 2700 * 60 and "os.environ" not in json.dumps(args.kwargs)
    assert "router_settings.redis_host" in args.dropped

    calls = []
    stub = Stub(lambda rid: (500 if not calls.append(rid) and len(calls) == 1 else 200, 0.0))

    async def go(root):
        router = router_from_scenario_config(config, root, speed)
        sc = scenario(rate_per_s=1.0, duration="5s")
        plan = plan_drive(sc, max_requests=1, model="gpt-4o")
        return await drive(plan, litellm_send(router), speed, 4)

    run = asyncio.run(serving(stub, go))
    frame = live_result(run).requests
    assert len(calls) >= 2                                  # the 500 was retried (or fell back)
    assert frame["outcome"].astype(str).tolist() == ["ok"]
    assert str(frame["provider"].iloc[0]) == "alpha"        # the stub's x-sim-provider header came through


def test_the_drive_command_writes_a_live_run_folder(tmp_path, capsys):
    stub = Stub(lambda rid: (200, 0.0))
    loop, ready, box = asyncio.new_event_loop(), threading.Event(), {}

    async def start():
        app = web.Application()
        app.router.add_post("/{provider}/v1/chat/completions", stub.handle)
        box["runner"] = runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        box["port"] = site._server.sockets[0].getsockname()[1]

    def serve():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        path = tmp_path / "stub.yaml"
        path.write_text(scenario(rate_per_s=2.0, duration="20s").to_yaml())
        out = tmp_path / "live"
        target = f"http://127.0.0.1:{box['port']}/alpha/v1"
        assert main(["drive", str(path), "--target", target, "--speed", "100", "--out", str(out), "--quiet"]) == 0
    finally:
        asyncio.run_coroutine_threadsafe(box["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["requests_total"] == len(stub.received) > 0 and summary["availability"] == 1.0
    assert read_manifest(out)["live"]["target"] == target
    assert f"results: {out}/" in capsys.readouterr().out


def test_a_late_client_is_reported_in_simulated_seconds():
    assert lag_warning({"live_send_lag_p95_wall_s": 0.02, "live_speed": 60.0}) is not None      # 1.2 s > 0.5 s
    assert lag_warning({"live_send_lag_p95_wall_s": 0.02, "live_speed": 10.0}) is None          # 0.2 s
    assert lag_warning({"live_send_lag_p95_wall_s": float("nan"), "live_speed": 60.0}) is None


def test_align_reads_the_servers_clock_and_refuses_another_speed():
    from sim.live.driver import serve_clock
    served_at = time.monotonic() - 0.5                     # a server whose clock started 0.5 wall s ago

    async def health(request):
        return web.json_response({"status": "ok", "sim_time_s": (time.monotonic() - served_at) * SPEED,
                                  "speed": SPEED})

    async def go(root):
        async with aiohttp.ClientSession() as session:
            clock = await serve_clock(session, f"{root}/alpha/v1", SPEED)
            with pytest.raises(ScenarioError, match="speed 100"):
                await serve_clock(session, root, 10.0)
            return clock

    app = web.Application()
    app.router.add_get("/health", health)

    async def run():
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            return await go(f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}")
        finally:
            await runner.cleanup()

    clock = asyncio.run(run())
    assert abs(clock.start - served_at) < 0.05              # the same time axis, within a loopback round trip


def test_serves_headers_are_read_as_sent_or_as_a_litellm_proxy_forwards_them():
    from sim.live.driver import sim_headers
    assert sim_headers({"x-sim-provider": "a", "x-sim-model": "m", "x-sim-hallucinated": "1"}) == \
        {"provider": "a", "model": "m", "hallucinated": True}
    assert sim_headers({"llm_provider-x-sim-provider": "b", "llm_provider-x-sim-model": "n"}) == \
        {"provider": "b", "model": "n", "hallucinated": False}
