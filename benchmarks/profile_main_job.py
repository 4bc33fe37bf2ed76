"""Where the main job's time goes: a cProfile of one run, per simulated request.

    python benchmarks/profile_main_job.py [--top N] [--scenario PATH --variant NAME]

Prints the top functions by their own time (tottime) as microseconds and calls per request. cProfile slows
every Python call (roughly 2x here), so read the shares and the ordering, not the absolute microseconds.
One unprofiled run goes first, so the lazy imports of the first run (scipy, pandas' parquet...) are not
counted: the profile is the steady state that replications, sweeps and the bench see.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sim  # noqa: E402
import sim.model.run  # noqa: E402,F401


def profile(path: Path, variant: str | None, top: int, overrides: list[str] = ()) -> str:
    scenario = sim.load_scenario(path, list(overrides))
    if variant:
        scenario = scenario.variant(variant)
    sim.simulate(scenario)                  # warm-up: first-run imports and caches stay out of the profile
    profiler = cProfile.Profile()
    profiler.enable()
    result = sim.simulate(scenario)
    profiler.disable()
    n = len(result.requests)
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    lines = [f"{n:,} requests, {total:.2f} s under cProfile = {1e6 * total / n:.1f} us per request",
             f"{'us/req (own)':>12} {'share':>6} {'calls/req':>9} {'us/req (cum)':>12}  function"]
    for (filename, line, name), (_, ncalls, tottime, cumtime, _) in rows:
        where = filename.replace(str(ROOT) + "/", "")
        if "site-packages/" in where:
            where = where.split("site-packages/")[1]
        lines.append(f"{1e6 * tottime / n:>12.2f} {tottime / total:>6.1%} {ncalls / n:>9.2f} "
                     f"{1e6 * cumtime / n:>12.2f}  {name} ({where}:{line})")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="profile_main_job.py", description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=ROOT / "experiments/outage_replay.yaml")
    parser.add_argument("--variant", default="breaker_fallback_queue")
    parser.add_argument("--top", type=int, default=25, help="functions to list (default 25)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                        help="scenario overrides (repeatable); --variant '' profiles the base scenario")
    args = parser.parse_args(argv)
    print(profile(args.scenario, args.variant or None, args.top, args.overrides))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
