"""One large run, timed by phase, with its peak resident memory: does a 10M-request day fit this machine?

    python benchmarks/large_day.py                      # bench.LARGE_DAY: demo.yaml at 667K DAU, capacity
                                                        # scaled alike (67 keys...): one day, ~10M requests
    python benchmarks/large_day.py --set workload.dau=66667 --out results/large_day   # ~1M, frames saved

It runs ``sim.simulate`` once (no tracemalloc: tracing would double the time), prints the simulated share
done every 5% to stderr (a pipe-friendly progress line with the rate and an ETA), then the wall time of the
run and its event loop, the requests and calls, and the peak resident set size of the process
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``: every page the process ever had resident at once, the
interpreter and libraries included) in total and per request. ``--out`` saves the frames as Parquet
(atomically, charts off) and times that too. ``--json`` writes the numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def peak_rss_bytes() -> int:
    """The process's peak resident set size (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="large_day.py", description="One large run: wall time by phase and "
                                     "peak resident memory per request.")
    parser.add_argument("scenario", nargs="?", default=str(ROOT / "experiments/demo.yaml"))
    parser.add_argument("--set", action="append", default=None, metavar="PATH=VALUE",
                        help="scenario overrides (default: bench.LARGE_DAY, ~10M requests in the demo's day)")
    parser.add_argument("--out", "-o", type=Path, default=None, help="save the frames there as Parquet (timed)")
    parser.add_argument("--json", type=Path, default=None, help="write the numbers to this JSON file")
    args = parser.parse_args(argv)
    import sim
    from sim.errors import ScenarioError
    from sim.model.run import simulate
    from bench import LARGE_DAY
    overrides = args.set if args.set is not None else LARGE_DAY
    try:
        scenario = sim.load_scenario(args.scenario, overrides + ["output.charts=false"])
    except ScenarioError as err:
        parser.error(str(err))
    rss_start = peak_rss_bytes()
    start = time.perf_counter()
    shown = set()

    def on_progress(fraction: float) -> None:
        pct = round(fraction * 100)
        if pct % 5 == 0 and pct not in shown:
            shown.add(pct)
            elapsed = time.perf_counter() - start
            eta = elapsed / fraction - elapsed if fraction > 0 else float("nan")
            print(f"  {pct:3d}% simulated  {elapsed:7.0f} s elapsed  ETA {eta:6.0f} s  "
                  f"peak RSS {peak_rss_bytes() / 2**30:.2f} GiB", file=sys.stderr, flush=True)

    result = simulate(scenario, on_progress=on_progress)
    wall_s = time.perf_counter() - start
    n, calls = len(result.requests), len(result.calls)
    out = {"scenario": scenario.name, "overrides": overrides, "requests": n, "calls": calls,
           "wall_s": wall_s, "event_loop_wall_s": result.summary["event_loop_wall_s"],
           "requests_per_s": n / wall_s, "peak_rss_bytes": peak_rss_bytes(),
           "peak_rss_before_run_bytes": rss_start,
           "frame_bytes": int(result.requests.memory_usage(deep=True).sum()
                              + result.calls.memory_usage(deep=True).sum()),
           "availability": result.summary["availability"], "cpus": os.cpu_count(),
           "load_average_after": os.getloadavg()}
    out["peak_rss_bytes_per_request"] = out["peak_rss_bytes"] / n
    if args.out is not None:
        save_start = time.perf_counter()
        result.save(args.out, charts=False)
        out["save_s"] = time.perf_counter() - save_start
        out["peak_rss_bytes"] = peak_rss_bytes()
    print(f"{n:,} requests ({calls:,} calls) in {wall_s:,.0f} s ({n / wall_s:,.0f} req/s; event loop "
          f"{out['event_loop_wall_s']:,.0f} s); peak RSS {out['peak_rss_bytes'] / 2**30:.2f} GiB = "
          f"{out['peak_rss_bytes'] / n:,.0f} B/request (before the run: {rss_start / 2**20:,.0f} MiB); frames "
          f"{out['frame_bytes'] / n:,.0f} B/request" + (f"; saved in {out['save_s']:,.0f} s" if args.out else ""))
    if args.json is not None:
        tmp = args.json.with_name(f"{args.json.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(out, indent=1) + "\n")
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
