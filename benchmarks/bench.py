"""Speed as ratios to the textbook SimPy M/M/c model, measured in the same process on the same machine.

The yardstick (../shared/bench/textbook_mmc.py describes it): one generator per customer, a simpy.Resource
with c servers, exponential times from Python's `random`. Absolute speeds vary between machines; the ratio
of our requests per wall second to its customers per wall second is what we track.

    python benchmarks/bench.py [--quick]
"""
from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import simpy

import sim
import sim.model.run  # noqa: F401  (import cost is not simulation speed)

ROOT = Path(__file__).resolve().parents[1]


def textbook_customers_per_s(n=150_000, servers=8, utilisation=0.8, seed=1) -> float:
    rng = random.Random(seed)
    env = simpy.Environment()
    desk = simpy.Resource(env, servers)

    def customer(env):
        with desk.request() as turn:
            yield turn
            yield env.timeout(rng.expovariate(1.0))

    def arrivals(env):
        for _ in range(n):
            yield env.timeout(rng.expovariate(servers * utilisation))
            env.process(customer(env))

    env.process(arrivals(env))
    start = time.perf_counter()
    env.run()
    return n / (time.perf_counter() - start)


def scenario_requests_per_s(path: Path, overrides=(), variant: str | None = None) -> tuple[float, float, int]:
    """(requests per wall second of the whole run, of the event loop alone, requests)."""
    scenario = sim.load_scenario(path, list(overrides))
    if variant:
        scenario = scenario.variant(variant)
    start = time.perf_counter()
    result = sim.simulate(scenario)
    total = time.perf_counter() - start
    n = len(result.requests)
    return n / total, n / result.summary["event_loop_wall_s"], n


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    yard = textbook_customers_per_s(n=50_000 if quick else 150_000)
    rows = [("textbook SimPy M/M/c (yardstick)", yard, yard, 150_000)]
    cases = [("M/M/c scenario (validation/mmc.yaml)", ROOT / "experiments/validation/mmc.yaml",
              ["duration=2h"] if quick else [], None),
             ("main job (outage_replay, breaker+fallback+queue)", ROOT / "experiments/outage_replay.yaml",
              [], "breaker_fallback_queue"),
             ("a 10K-DAU day (experiments/demo.yaml)", ROOT / "experiments/demo.yaml",
              ["duration=4h"] if quick else [], None),
             ("semantic cache on (cache_threshold.yaml)", ROOT / "experiments/cache_threshold.yaml",
              ["duration=2h"] if quick else [], None)]
    for label, path, overrides, variant in cases:
        whole, loop, n = scenario_requests_per_s(path, overrides, variant)
        rows.append((label, whole, loop, n))
    print(f"{'case':<50} {'requests':>9} {'req/s (run)':>12} {'ratio':>6} {'req/s (loop)':>13} {'ratio':>6}")
    for label, whole, loop, n in rows:
        print(f"{label:<50} {n:>9,} {whole:>12,.0f} {whole / yard:>6.2f} {loop:>13,.0f} {loop / yard:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
