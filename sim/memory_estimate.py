"""How much memory a run will take, estimated before it starts, and a refusal when the machine lacks it.

A run keeps every request and every provider call as a row, so its memory grows with what the scenario asks
for: requests (rate x duration), calls (requests x LLM calls x attempts), timeseries intervals
(duration / interval), the users and intents whose popularity is drawn, and the semantic cache's embeddings.
A scenario can ask for far more than a machine holds (``workload.n_users: 1e9`` took 15.8 GB for 100
requests); it is far kinder to say so before starting than to swap for an hour and be killed.

The bytes per item were measured with ``tracemalloc`` on this code base (peak traced memory of runs of 9K to
150K requests, and the growth of the peak per extra request, 220 bytes with one call each): about 300 bytes
per request with its one call (200 + 100 per call; the frames alone hold 126 + 72), 250 per timeseries
interval, 16 per user or intent, and with the cache on about 180 x ``dim`` per request, 5 x ``dim`` per
intent and 8 x ``dim`` per topic (its centroid). The estimate is for the largest instant of one run, with a
fixed allowance for the interpreter and the libraries; it is meant to be right within a factor of two, which
is enough to refuse a run that needs 31 GiB on a 24 GiB machine. Calls are counted at up to three attempts
each, and the timeseries over the run's drain (its longest possible request) as well as its duration.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sim.errors import ScenarioError

BYTES_PER_REQUEST = 200
BYTES_PER_CALL = 100
BYTES_PER_INTERVAL = 250
BYTES_PER_USER = 16
BYTES_PER_INTENT = 16
CACHE_BYTES_PER_REQUEST_PER_DIM = 180
CACHE_BYTES_PER_INTENT_PER_DIM = 5
BASE_BYTES = 200 * 2**20          # the interpreter, numpy, pandas, simpy
TRACE_BYTES_PER_ROW = 20          # a trace row is at least this many bytes of text


@dataclass(frozen=True)
class MemoryEstimate:
    """The expected peak memory of one run, in bytes, by part."""

    requests: float
    calls: float
    bytes_by_part: dict

    @property
    def total_bytes(self) -> float:
        return sum(self.bytes_by_part.values())


def expected_requests(scenario) -> float:
    """Requests the run will generate, at the most: the peak of the time-of-day profile for the whole run."""
    workload = scenario.workload
    if workload.trace is not None:
        rows = Path(workload.trace.path).stat().st_size / TRACE_BYTES_PER_ROW
        return rows * (max(1.0, scenario.duration / 3600.0) if workload.trace.repeat else 1.0)
    return workload.mean_rate_per_s * _profile_peak(workload.profile) * scenario.duration


def _profile_peak(profile) -> float:
    if profile.type == "diurnal":
        return profile.peak_to_average
    if profile.type in ("hourly", "steps"):
        return max(profile.weights) * len(profile.weights) / sum(profile.weights)
    return 1.0


def longest_request_s(scenario) -> float:
    """How long a request can live after arriving: the run drains for this long after ``duration``."""
    gateway = scenario.gateway
    if gateway.request_timeout_s is not None:
        return gateway.request_timeout_s
    retry = scenario.resilience.retry
    slowest_call_s = max(m.timeout_s for p in scenario.providers for m in p.models)
    per_call_s = retry.max_attempts * (slowest_call_s + retry.max_delay_s)
    return (gateway.max_queue_wait_s or 0.0) + scenario.workload.llm_calls.mean * per_call_s


def estimate_run_memory(scenario) -> MemoryEstimate:
    """Peak bytes of one run of ``scenario`` (requests, calls, intervals, users, intents, cache)."""
    workload = scenario.workload
    requests = expected_requests(scenario)
    attempts = scenario.resilience.retry.max_attempts
    calls = requests * workload.llm_calls.mean * min(attempts, 3)
    users = workload.n_users or workload.dau or 1000
    parts = {
        "requests": requests * BYTES_PER_REQUEST,
        "calls": calls * BYTES_PER_CALL,
        "timeseries": (scenario.duration + longest_request_s(scenario)) / scenario.output.interval_s
                      * BYTES_PER_INTERVAL,
        "users": users * BYTES_PER_USER,
        "intents": workload.n_intents * BYTES_PER_INTENT,
        "base": BASE_BYTES,
    }
    if scenario.cache.enabled:
        dim = scenario.cache.similarity.dim
        parts["cache"] = (requests * CACHE_BYTES_PER_REQUEST_PER_DIM * dim
                          + workload.n_intents * CACHE_BYTES_PER_INTENT_PER_DIM * dim
                          + scenario.cache.similarity.n_topics * 8 * dim)
    return MemoryEstimate(requests=requests, calls=calls, bytes_by_part=parts)


def available_memory_bytes() -> float | None:
    """Memory the machine can give a new run now (MemAvailable), or None where it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_fits_in_memory(scenario, available_bytes: float | None = None, where: str = "") -> MemoryEstimate:
    """The estimate, or ScenarioError with it when it exceeds the memory available."""
    estimate = estimate_run_memory(scenario)
    available = available_memory_bytes() if available_bytes is None else available_bytes
    if available is not None and estimate.total_bytes > available:
        scenario_parts = {k: v for k, v in estimate.bytes_by_part.items() if k != "base"}
        biggest = max(scenario_parts, key=scenario_parts.get)
        raise ScenarioError(
            f"{where + ': ' if where else ''}this run needs ~{format_bytes(estimate.total_bytes)} "
            f"(~{estimate.requests:.3g} requests; largest part: {biggest}, {format_bytes(estimate.bytes_by_part[biggest])}); "
            f"the machine has {format_bytes(available)} available; {_ADVICE[biggest]}")
    return estimate


_ADVICE = {
    "requests": "shorten duration or lower the rate",
    "calls": "shorten duration, lower the rate or workload.llm_calls.mean",
    "timeseries": "raise output.interval_s",
    "users": "lower workload.n_users (or dau)",
    "intents": "lower workload.n_intents",
    "cache": "lower the rate, duration, workload.n_intents, cache.similarity.n_topics or .dim",
}


def format_bytes(n_bytes: float) -> str:
    if n_bytes >= 2**30:
        return f"{n_bytes / 2**30:,.1f} GiB"
    return f"{n_bytes / 2**20:,.0f} MiB"
