"""``sim serve`` on this machine: calls per wall second, and how late streamed answers are in scenario time.

Two measurements against a server in the same process (the client shares its event loop, so the numbers
are an upper bound on the server's own overhead):

* throughput: non-streaming calls to a model that answers in ~1 ms, 64 in flight, at ``--speed 1000``;
* timing: streamed calls to a noise-free model (TTFT 1 s, 200 tokens at 50 tokens/s: first text at 1 s, last
  at 5 s of scenario time) at speeds 1, 60 and 100, 1 and 10 in flight; the first text's and the end's arrival
  are converted to scenario seconds (wall x speed), so a fixed wall overhead grows with the speed.

    python benchmarks/live_serve.py
"""
from __future__ import annotations

import asyncio
import statistics
import time

import aiohttp

from sim.config import serve_settings, validate_scenario
from sim.live.server import LiveServer


def scenario(latency: dict):
    return validate_scenario({
        "name": "live-bench", "seed": 1, "duration": "10h",
        "workload": {"rate_per_s": 1.0, "profile": {"type": "flat"},
                     "input_tokens": {"type": "fixed", "value": 100}, "output_tokens": {"type": "fixed", "value": 7}},
        "providers": [{"name": "p", "models": [{"name": "m", "input_usd_per_mtok": 1, "output_usd_per_mtok": 1,
                                                "error_rate": 0.0, "latency": latency}]}]})


async def throughput(n: int = 2000, in_flight: int = 64) -> float:
    server = LiveServer(scenario({"type": "exponential", "mean_s": 0.001}), serve_settings(port=0, speed=1000))
    url = f"http://127.0.0.1:{await server.start()}/p/v1/chat/completions"
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    gate = asyncio.Semaphore(in_flight)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=in_flight)) as session:
        async def one():
            async with gate, session.post(url, json=body) as response:
                await response.read()
        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        elapsed = time.perf_counter() - start
    await server.stop()
    return n / elapsed


async def timing(speed: float, n: int, in_flight: int) -> tuple[list[float], list[float]]:
    latency = {"type": "ttft_throughput", "ttft_s": 1.0, "tokens_per_s": 50.0, "sigma": 0.0}
    server = LiveServer(scenario(latency), serve_settings(port=0, speed=speed))
    url = f"http://127.0.0.1:{await server.start()}/p/v1/chat/completions"
    body = {"model": "m", "max_tokens": 200, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    first_s, end_s, gate = [], [], asyncio.Semaphore(in_flight)
    async with aiohttp.ClientSession() as session:
        async def one():
            async with gate:
                start, first = time.perf_counter(), None
                async with session.post(url, json=body) as response:
                    async for line in response.content:
                        if first is None and b'"content":"tok' in line:
                            first = time.perf_counter() - start
                first_s.append(first * speed)
                end_s.append((time.perf_counter() - start) * speed)
        await asyncio.gather(*(one() for _ in range(n)))
    await server.stop()
    return first_s, end_s


async def main() -> None:
    print(f"throughput: {await throughput():.0f} non-streaming calls per wall second (64 in flight)")
    print("streamed answers, scenario seconds (expected: first text 1.000, end 5.000):")
    for speed in (1, 60, 100):
        for in_flight in (1, 10):
            first, end = await timing(speed, 10 if speed == 1 else 30, in_flight)
            print(f"  speed {speed:>3}, {in_flight:>2} in flight: first text median {statistics.median(first):.3f} "
                  f"max {max(first):.3f}; end median {statistics.median(end):.3f} max {max(end):.3f}")


if __name__ == "__main__":
    asyncio.run(main())
