"""Speed as ratios to the textbook SimPy M/M/c model, measured in the same process on the same machine.

The yardstick (../shared/bench/textbook_mmc.py describes it): one generator per customer, a simpy.Resource
with c servers, exponential times from Python's `random`, six events per customer. Absolute speeds vary
between machines; the ratio of our requests per wall second to its customers per wall second is what we
track. One run measures the yardstick and every case, each ``--repeat`` times (medians, with min-max),
writes a JSON and prints the change against the previous JSON of the same host.

    python benchmarks/bench.py [--quick | --smoke] [--large] [--repeat N] [--json PATH] [--no-memory]

Per case: requests per wall second (the whole ``simulate`` call: workload, event loop, frames, summary),
SimPy events per request (events scheduled, read from the environment's event counter after the run, all
of which are processed since every run goes to exhaustion), peak traced memory (``tracemalloc``, which sees
numpy's buffers, measured in one extra, untimed run because tracing slows allocation) and bytes per request,
and the ratio to the yardstick. The semantic-cache cases time ``SemanticCache.lookup`` alone on a cache
filled with realistic paraphrase vectors (sim.model.similarity), indexed as the model indexes it.
"""
from __future__ import annotations

import argparse
import fnmatch
import contextlib
import datetime
import json
import os
import platform
import random
import socket
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import simpy

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:        # run as a script from anywhere: `python benchmarks/bench.py`
    sys.path.insert(0, str(ROOT))

import sim  # noqa: E402
import sim.model.run  # noqa: E402,F401  (import cost is not simulation speed)

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Measure:
    """What one execution of a case gives: how many requests, how many SimPy events."""

    requests: int
    events: int | None


@dataclass
class Case:
    """A named benchmark: ``run()`` does the timed work once and returns its Measure."""

    name: str
    label: str
    run: Callable[[], Measure]
    setup: Callable[[], None] = field(default=lambda: None)   # untimed preparation (e.g. filling a cache)


# ---------------------------------------------------------------------------------------- event counting
class _CountingEnvironment(simpy.Environment):
    """A SimPy environment that registers itself, so the bench can read its event counter after the run."""

    created: list[simpy.Environment] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _CountingEnvironment.created.append(self)


def events_scheduled(env: simpy.Environment) -> int:
    """Events scheduled so far: SimPy numbers each event it queues from an itertools.count (``_eid``)."""
    return next(env._eid)


@contextlib.contextmanager
def counting_environments():
    """While inside, ``simpy.Environment()`` (as sim.model.run calls it) is a registering subclass; its
    ``step`` is SimPy's own, so the timing is unaffected. Yields the list the environments are added to."""
    original = simpy.Environment
    _CountingEnvironment.created = []
    simpy.Environment = _CountingEnvironment
    try:
        yield _CountingEnvironment.created
    finally:
        simpy.Environment = original


# ---------------------------------------------------------------------------------------- the cases
def textbook_mmc(n: int, servers=8, utilisation=0.8, seed=1) -> Measure:
    """The yardstick: ../shared/bench/textbook_mmc.py, with the event counter read at the end."""
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
    env.run()
    return Measure(n, events_scheduled(env))


def scenario_case(name: str, label: str, path: str, overrides=(), variant: str | None = None) -> Case:
    """A whole ``sim.simulate`` of a scenario file (loading and validation are not timed)."""
    scenario = sim.load_scenario(ROOT / path, list(overrides))
    if variant:
        scenario = scenario.variant(variant)

    def run() -> Measure:
        with counting_environments() as envs:
            result = sim.simulate(scenario)
        return Measure(len(result.requests), sum(events_scheduled(e) for e in envs))

    return Case(name, label, run)


def semantic_cache_case(n_entries: int, n_queries: int, seed=11) -> Case:
    """Top-1 lookups on a cache holding ``n_entries`` paraphrase vectors, indexed by topic centroids with the
    scenario default's probe count, as sim.model.cache_lookup builds it. Only the lookups are timed."""
    from sim.config import CacheSettings
    from sim.model.similarity import SimilarityModel, SimilarityParams
    from sim.policies.semantic_cache import SemanticCache

    state = {}

    def setup():
        if state:
            return
        settings = CacheSettings()
        rng = np.random.default_rng(seed)
        params = SimilarityParams(n_intents=max(10_000, n_entries // 10), **settings.similarity.model_dump())
        model = SimilarityModel(params, rng)
        cache = SemanticCache(params.dim, n_entries, settings.threshold, eviction=settings.eviction,
                              partition_centroids=model.topic_centroids,
                              probe_neighbours=settings.probe_neighbours)
        block = 50_000
        for start in range(0, n_entries, block):          # in blocks: 10^6 x 64 float32 is 256 MB at once
            vectors = model.paraphrases(rng, rng.integers(0, params.n_intents, min(block, n_entries - start)))
            for vector, part in zip(vectors, cache.partitions_of(vectors).tolist()):
                cache.insert(vector, 0.0, None, part)
        queries = model.paraphrases(rng, rng.integers(0, params.n_intents, n_queries))
        state.update(cache=cache, queries=list(queries), probes=cache.probe_lists(queries))

    def run() -> Measure:
        lookup = state["cache"].lookup
        for vector, probes in zip(state["queries"], state["probes"]):
            lookup(vector, 1.0, probes)
        return Measure(n_queries, None)

    return Case(f"semantic_cache_{n_entries:.0e}".replace("+0", ""), f"SemanticCache.lookup, "
                f"{n_entries:,} entries", run, setup)


def scaled_demo(times: int, duration: str) -> list[str]:
    """The demo's system ``times`` over: users, API keys, gateway workers and queue all multiplied, so each
    request meets the same load and the time per request shows how the code scales, not a saturated
    provider (with the traffic alone scaled, 10x queues behind the limits and costs ~3x per request).
    A flat profile, so a short window carries the day's mean rate (a night window would be empty)."""
    return [f"duration={duration}", "workload.profile={type: flat}", f"workload.dau={10_000 * times}",
            f"providers.0.api_keys={times}", f"providers.1.api_keys={times}", f"gateway.workers={64 * times}",
            f"gateway.max_queue={5000 * times}"]


#: The demo's day at 667K DAU (~10M requests) with its capacity scaled alike (67x the API keys, gateway workers
#: and queue): with the traffic alone scaled, 99.4% of the requests are shed or refused and never call a model.
LARGE_DAY = ["workload.dau=666667", "providers.0.api_keys=67", "providers.1.api_keys=67", "gateway.workers=4267",
             "gateway.max_queue=333333"]


def build_cases(profile: str, large: bool = False) -> list[Case]:
    """Every case, sized for ``profile``: "full" (the default), "quick" (a minute or so) or "tiny" (tests)."""
    short = {"full": [], "quick": ["duration=2h"], "tiny": ["duration=10m", "warmup=0s"]}[profile]
    day = {"full": [], "quick": ["duration=4h"], "tiny": ["duration=10m"]}[profile]
    scaled = {"full": "30m", "quick": "5m", "tiny": "1m"}[profile]
    main_job = [] if profile != "tiny" else ["duration=35m", "workload.dau=1000"]
    cases = [
        scenario_case("mmc", "M/M/c scenario (validation/mmc.yaml)", "experiments/validation/mmc.yaml", short),
        scenario_case("main_job", "main job (outage_replay, breaker+fallback+queue)",
                      "experiments/outage_replay.yaml", main_job, "breaker_fallback_queue"),
        scenario_case("demo_day", "a 10K-DAU day (demo.yaml)", "experiments/demo.yaml", day),
        scenario_case("cache", "semantic cache on (cache_threshold.yaml)", "experiments/cache_threshold.yaml",
                      short),
    ]
    for times in (1, 10, 100):
        cases.append(scenario_case(f"demo_x{times}", f"demo at {times}x traffic (flat, {scaled})",
                                   "experiments/demo.yaml", scaled_demo(times, scaled)))
    queries = {"full": 2000, "quick": 500, "tiny": 50}[profile]
    sizes = (10_000, 100_000, 1_000_000) if profile != "tiny" else (1_000, 10_000)
    for n in sizes:
        cases.append(semantic_cache_case(n, queries if n < 1_000_000 else queries // 4))
    if large:   # ~10M requests: demo traffic scaled so one day holds 10^7 requests
        cases.append(scenario_case("large_10M", "10M requests (demo.yaml, 667K DAU, 1 day)",
                                   "experiments/demo.yaml", LARGE_DAY))
    return cases


def select_cases(cases: list[Case], patterns: str) -> list[Case]:
    """The cases whose names match any of the comma-separated shell patterns, in their usual order."""
    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    unmatched = [p for p in wanted if not any(fnmatch.fnmatchcase(c.name, p) for c in cases)]
    if not wanted or unmatched:
        raise ValueError(f"--cases: no case matches {', '.join(unmatched) or repr(patterns)}; "
                         f"the cases are {', '.join(c.name for c in cases)}")
    return [c for c in cases if any(fnmatch.fnmatchcase(c.name, p) for p in wanted)]


# ---------------------------------------------------------------------------------------- start-up
STARTUP_CODE = ("import sim, sim.model.run; "
                "sim.simulate(sim.load_scenario({path!r}, ['duration=1m', 'warmup=0s']))")


def startup_seconds(repeat: int) -> dict:
    """Wall seconds of a fresh interpreter that imports sim and simulates one simulated minute of the M/M/c
    scenario (imports, catalogue, first-call warm-up), minus a bare ``python -c pass``; median, min, max."""
    import subprocess
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    code = STARTUP_CODE.format(path=str(ROOT / "experiments/validation/mmc.yaml"))
    bare, full = [], []
    for _ in range(repeat):
        for sink, source in ((bare, "pass"), (full, code)):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", source], env=env, check=True)
            sink.append(time.perf_counter() - start)
    return {"label": "start-up: import sim + first simulate, less bare python",
            "seconds": summarise([f - b for f, b in zip(full, bare)]), "bare_python_s": summarise(bare)}


# ---------------------------------------------------------------------------------------- measuring
def timed(run: Callable[[], Measure]) -> tuple[float, Measure]:
    start = time.perf_counter()
    measure = run()
    return time.perf_counter() - start, measure


def peak_memory(run: Callable[[], Measure]) -> int:
    """Peak bytes traced by tracemalloc (Python objects and numpy buffers) during one untimed run."""
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def summarise(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def measure_all(cases: list[Case], yard_n: int, repeat: int, memory: bool = True,
                log=lambda line: print(line, file=sys.stderr, flush=True)) -> dict:
    """Run the yardstick and every case ``repeat`` times, round by round (a round = the yardstick then
    every case, so slow drifts of the machine hit all alike); returns the per-case results."""
    for case in cases:
        log(f"  setting up {case.name} ...")
        case.setup()
    yard_rates, rates = [], {c.name: [] for c in cases}
    measures: dict[str, Measure] = {}
    yard_events = None
    for r in range(repeat):
        seconds, m = timed(lambda: textbook_mmc(yard_n))
        yard_rates.append(m.requests / seconds)
        yard_events = m.events
        log(f"  round {r + 1}/{repeat}: yardstick {m.requests / seconds:,.0f} customers/s")
        for case in cases:
            seconds, m = timed(case.run)
            rates[case.name].append(m.requests / seconds)
            measures[case.name] = m
            log(f"  round {r + 1}/{repeat}: {case.name:<22} {m.requests:>10,} in {seconds:7.2f} s")
    yard = statistics.median(yard_rates)
    out = {"yardstick": {"label": "textbook SimPy M/M/c (yardstick)", "requests": yard_n,
                         "requests_per_s": summarise(yard_rates), "events_per_request": yard_events / yard_n,
                         "us_per_request": 1e6 / yard,
                         "ratio": 1.0}}
    for case in cases:
        m = measures[case.name]
        row = {"label": case.label, "requests": m.requests, "requests_per_s": summarise(rates[case.name]),
               "events_per_request": None if m.events is None else m.events / m.requests,
               "us_per_request": 1e6 / statistics.median(rates[case.name]),
               "ratio": statistics.median(rates[case.name]) / yard}
        if memory:
            log(f"  memory: {case.name} ...")
            peak = peak_memory(case.run)
            row.update(peak_memory_bytes=peak, bytes_per_request=peak / m.requests)
        out[case.name] = row
    if memory:
        peak = peak_memory(lambda: textbook_mmc(yard_n))
        out["yardstick"].update(peak_memory_bytes=peak, bytes_per_request=peak / yard_n)
    add_linearity(out)
    return out


def add_linearity(cases: dict) -> None:
    """Wall time per request of the demo at 10x and 100x traffic over that at 1x (1.0 = linear)."""
    base = cases.get("demo_x1")
    for times in (10, 100):
        row = cases.get(f"demo_x{times}")
        if base and row:
            row["time_per_request_vs_x1"] = (base["requests_per_s"]["median"]
                                             / row["requests_per_s"]["median"])


def deltas(current: dict, previous: dict) -> dict:
    """Per case in both: the change of the median requests per second and of the ratio, in %."""
    out = {}
    for name, row in current["cases"].items():
        old = previous.get("cases", {}).get(name)
        if not old:
            continue
        out[name] = {"requests_per_s_pct": 100.0 * (row["requests_per_s"]["median"]
                                                   / old["requests_per_s"]["median"] - 1.0),
                     "ratio_pct": 100.0 * (row["ratio"] / old["ratio"] - 1.0)}
    return out


def previous_json(host: str, exclude: Path, profile: str) -> Path | None:
    """The newest earlier results file of this host and profile in benchmarks/results/ (by the date in its
    name): quick and full cases differ in size, so their speeds are not comparable."""
    if not RESULTS.is_dir():
        return None
    for path in sorted(RESULTS.glob(f"{host}-*.json"), reverse=True):
        if path.resolve() == exclude.resolve():
            continue
        try:
            if json.loads(path.read_text()).get("profile") == profile:
                return path
        except (OSError, ValueError):
            continue                   # a file we cannot read is not a baseline
    return None


def write_json(path: Path, data: dict) -> None:
    """Atomically: a temporary name beside it, renamed when complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def table(data: dict, delta: dict) -> str:
    head = (f"{'case':<48} {'requests':>10} {'req/s median (min-max)':>28} {'us/req':>7} {'ratio':>6} {'ev/req':>7} "
            f"{'peak MB':>8} {'B/req':>7} {'delta':>7}")
    lines = [head, "-" * len(head)]
    for name, row in data["cases"].items():
        rps = row["requests_per_s"]
        spread = f"{rps['median']:,.0f} ({rps['min']:,.0f}-{rps['max']:,.0f})"
        ev = "-" if row["events_per_request"] is None else f"{row['events_per_request']:.2f}"
        peak = row.get("peak_memory_bytes")
        mb = "-" if peak is None else f"{peak / 1e6:,.1f}"
        bpr = "-" if peak is None else f"{row['bytes_per_request']:,.0f}"
        d = delta.get(name)
        dtxt = "-" if d is None else f"{d['ratio_pct']:+.1f}%"
        label = row["label"] + (f" [x{row['time_per_request_vs_x1']:.2f} time/req]"
                                if "time_per_request_vs_x1" in row else "")
        lines.append(f"{label:<48.60} {row['requests']:>10,} {spread:>28} {row['us_per_request']:>7.1f} {row['ratio']:>6.2f} {ev:>7} "
                     f"{mb:>8} {bpr:>7} {dtxt:>7}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.py", description="Requests per wall second of every case, as "
                                     "ratios to the textbook SimPy M/M/c model run in the same process.")
    parser.add_argument("--quick", action="store_true", help="shorter cases, one repetition (about a minute)")
    parser.add_argument("--smoke", action="store_true", help="tiny cases, to check the machinery (tests)")
    parser.add_argument("--large", action="store_true", help="add a 10M-request run (minutes, GBs of memory)")
    parser.add_argument("--repeat", type=int, default=None, help="repetitions per case (default 3; quick 1)")
    parser.add_argument("--json", "-o", type=Path, default=None, help="where to write the results "
                        "(default benchmarks/results/<host>-<date>.json)")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc runs")
    parser.add_argument("--cases", default=None, metavar="PATTERNS",
                        help="only the cases whose names match these comma-separated shell patterns (e.g. "
                        "'cache,semantic_cache_*'); the yardstick always runs, the start-up is skipped")
    args = parser.parse_args(argv)
    repeat = args.repeat if args.repeat is not None else (1 if args.quick or args.smoke else 3)
    if repeat < 1:
        parser.error(f"--repeat must be >= 1, got {repeat}")
    host = socket.gethostname().split(".")[0] or "host"
    now = datetime.datetime.now(datetime.timezone.utc)
    path = args.json or RESULTS / f"{host}-{now:%Y-%m-%dT%H%M%S}.json"
    profile = "tiny" if args.smoke else "quick" if args.quick else "full"
    cases = build_cases(profile, args.large)
    if args.cases is not None:
        try:
            cases = select_cases(cases, args.cases)
        except ValueError as exc:
            parser.error(str(exc))
    print(f"bench: {len(cases)} cases + yardstick, {repeat} repetition(s), profile {profile}", file=sys.stderr)
    load_before = os.getloadavg()
    yard_n = {"full": 150_000, "quick": 50_000, "tiny": 5_000}[profile]
    results = measure_all(cases, yard_n, repeat, memory=not args.no_memory)
    startup = None
    if args.cases is None:
        print("  start-up ...", file=sys.stderr, flush=True)
        startup = startup_seconds(repeat)
    data = {"host": host, "date": now.isoformat(timespec="seconds"), "profile": profile, "repeat": repeat,
            "python": platform.python_version(), "simpy": simpy.__version__, "cpus": os.cpu_count(),
            "load_average_before": load_before, "load_average_after": os.getloadavg(),
            "memory_method": "tracemalloc peak over one extra untimed run (includes numpy buffers)",
            "cases": results, "startup": startup,
            "cases_selected": args.cases}
    prev = previous_json(host, path, profile)
    previous = json.loads(prev.read_text()) if prev else {}
    delta = deltas(data, previous)
    data["compared_with"] = prev.name if prev else None
    data["deltas_pct"] = delta
    write_json(path, data)
    print(table(data, delta))
    if startup is not None:
        st = startup["seconds"]
        print(f"start-up (import sim + first simulate, less bare python): {st['median']:.2f} s "
              f"({st['min']:.2f}-{st['max']:.2f})")
    print(f"load average before/after: {load_before[0]:.2f} / {data['load_average_after'][0]:.2f}; "
          f"delta = change of the ratio against {data['compared_with'] or '(no earlier run of this host)'}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
