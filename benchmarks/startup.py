"""The fixed cost of a run, measured in fresh processes: imports, scenario loading, the first run's warm-up.

Each repetition starts a new interpreter that times ``import sim``, ``import sim.model.run``, loading a tiny
scenario, and two runs of it; the fixed cost is everything up to the end of the first run minus that run's
own event loop (``summary["event_loop_wall_s"]``); ``cpu_to_first_result_s`` is the process's CPU time up to
the first result (interpreter start and the tiny loop included), steadier than wall time on a busy machine. The second run shows what a warm process pays per run.
``--sweep`` times, also in fresh processes, a sweep of 20 short runs (2 rates x 10 replications) in this
process and with ``--executor processes`` (pool start-up included): what a tuning user waits for.

    python benchmarks/startup.py [--repeat 5] [--scenario experiments/validation/mmc.yaml] [--set duration=2m]
    python benchmarks/startup.py --sweep [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
import sim
t1 = time.perf_counter()
import sim.model.run
t2 = time.perf_counter()
scenario = sim.load_scenario(sys.argv[1], sys.argv[2:])
t3 = time.perf_counter()
first = sim.simulate(scenario)
t4 = time.perf_counter()
cpu4 = time.process_time()
second = sim.simulate(scenario)
t5 = time.perf_counter()
print(json.dumps({"import_sim_s": t1 - t0, "import_model_run_s": t2 - t1, "load_scenario_s": t3 - t2,
                  "first_run_s": t4 - t3, "first_loop_s": first.summary["event_loop_wall_s"],
                  "second_run_s": t5 - t4, "second_loop_s": second.summary["event_loop_wall_s"],
                  "fixed_cost_s": t4 - t0 - first.summary["event_loop_wall_s"],
                  "cpu_to_first_result_s": cpu4,
                  "requests": len(first.requests),
                  "heavy_modules": sorted(m for m in ("pandas", "scipy", "scipy.optimize", "scipy.stats",
                                                      "matplotlib", "pyarrow") if m in sys.modules)}))
"""


SWEEP_PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
import sim
from sim.experiments.sweep import make_executor
scenario = sim.load_scenario(sys.argv[2], sys.argv[3:])
executor, close = make_executor(sys.argv[1])
try:
    runs = sim.sweep(scenario, {"workload.rate_per_s": [3.0, 3.6]}, replications=10, executor=executor)
finally:
    close()
import resource
cpu = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
          for f in ("ru_utime", "ru_stime"))
print(json.dumps({"wall_s": time.perf_counter() - t0, "cpu_s": cpu, "runs": len(runs)}))
"""


def _probe(code: str, args: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"the probe failed:\n{out.stderr}")
    return json.loads(out.stdout)


def measure_sweep(scenario: str, overrides: list[str], repeat: int) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds of a 20-run sweep, fresh process and pool workers included, per executor."""
    out = {}
    for kind in ("serial", "processes"):
        probes = [_probe(SWEEP_PROBE, [kind, scenario, *overrides]) for _ in range(repeat)]
        out[kind] = (statistics.median(p["wall_s"] for p in probes), statistics.median(p["cpu_s"] for p in probes))
    return out


def measure(scenario: str, overrides: list[str], repeat: int) -> list[dict]:
    return [_probe(PROBE, [scenario, *overrides]) for _ in range(repeat)]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes to time (medians are printed)")
    parser.add_argument("--scenario", default=str(ROOT / "experiments/validation/mmc.yaml"))
    parser.add_argument("--set", action="append", default=None, help="override (default: duration=2m, warmup=0)")
    parser.add_argument("--sweep", action="store_true", help="time a 20-run sweep, serial and processes")
    args = parser.parse_args(argv)
    overrides = args.set if args.set is not None else ["duration=2m", "warmup=0"]
    if args.sweep:
        walls = measure_sweep(args.scenario, overrides, args.repeat)
        print(f"20-run sweep of {args.scenario} ({' '.join(overrides)}), medians of {args.repeat} fresh processes:")
        for kind, (wall, cpu) in walls.items():
            print(f"  {kind:<10} {wall:8.2f} s wall {cpu:8.2f} s CPU (the process and its workers)")
        return 0
    runs = measure(args.scenario, overrides, args.repeat)
    print(f"{args.scenario} ({runs[0]['requests']} requests), medians of {len(runs)} fresh processes:")
    for key in ("import_sim_s", "import_model_run_s", "load_scenario_s", "first_run_s", "first_loop_s",
                "second_run_s", "second_loop_s", "fixed_cost_s", "cpu_to_first_result_s"):
        print(f"  {key:<20} {statistics.median(r[key] for r in runs):8.3f}")
    print(f"  heavy modules loaded: {', '.join(runs[0]['heavy_modules']) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
