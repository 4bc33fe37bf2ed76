"""The twin check: one scenario lived through twice, once by a real gateway and once by the simulator.

A simulator is only as good as its model of the gateway. The twin check measures that: a real LiteLLM Router,
configured by the same file ``sim import litellm`` reads, sits in front of ``sim serve`` playing the
scenario's providers and faults in compressed wall-clock time, and ``sim drive`` sends it the scenario's
requests; the same imported scenario is then simulated on the same requests. Both sides are reduced to the
same numbers -- availability, failed and rate-limited requests, p50/p95 latency, cost, where the calls went
and when deployments were cooled down -- and set side by side.

Both sides come as the simulator's frames: the live ``requests`` frame recorded by the driver, the live
``calls`` frame logged by the server, and the live cooldowns the Router reported (deployment, start, length
in simulated seconds). Cooldowns on the simulated side are the ``cooldown`` rows of ``events``.

A difference is a finding, never noise to hide: each row of the comparison says how far apart the two are,
and the experiment's report explains each one (a modelling gap, a setting the import misread, time
compression).
"""
from __future__ import annotations

import asyncio
import math
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.faults import FaultWindow
from sim.metrics import calls_into_faults

__all__ = ["TWIN_METRICS", "side_metrics", "simulated_cooldowns", "compare_sides", "LiveTwin",
           "run_live", "compressed_scenario"]


#: The rows of the comparison, in order, with what each is (for the report).
TWIN_METRICS = {
    "requests_total": "requests sent",
    "availability": "share answered",
    "requests_failed": "requests failed (after retries and fallbacks)",
    "requests_timeout": "requests timed out",
    "requests_rate_limited": "requests refused with a 429 at the end",
    "latency_p50_s": "latency p50 of answered requests (s)",
    "latency_p95_s": "latency p95 of answered requests (s)",
    "cost_per_request_usd": "cost per request (USD)",
    "calls_total": "provider calls (attempts)",
    "calls_per_request": "provider calls per request",
    "calls_into_fault": "calls sent to the faulted deployments during the fault",
    "fallback_calls": "calls to deployments outside the primary group",
    "cooldowns": "deployments cooled down (times)",
    "first_cooldown_after_fault_s": "first cooldown of a faulted deployment, after the fault began (s)",
    "cooldown_s_during_fault": "seconds the faulted deployments spent cooling down during the fault (the union "
                               "of their cooldowns, per deployment)",
}


def _quantile(values: np.ndarray, q: float) -> float:
    return float(np.quantile(values, q)) if len(values) else math.nan


def side_metrics(requests: pd.DataFrame, calls: pd.DataFrame, cooldowns: pd.DataFrame, window: FaultWindow,
                 primary: list[str]) -> dict:
    """The twin numbers of one side. ``window``: the fault, its targets expanded to providers (or
    provider/model targets); ``primary``: the providers of the group the traffic asks for (calls elsewhere
    are fallbacks); ``cooldowns``: rows of (``time_s``, ``deployment``, ``length_s``)."""
    outcome = requests["outcome"].astype(str).to_numpy()
    n = len(requests)
    ok = outcome == "ok"
    latency = requests["latency_s"].to_numpy()[ok]
    provider = calls["provider"].astype(str).to_numpy()
    faulted = [target.split("/")[0] for target in window.targets]       # the deployments, by provider
    mine = cooldowns[cooldowns["deployment"].astype(str).isin(faulted)] if len(cooldowns) else cooldowns
    after = mine[mine["time_s"] >= window.start_s] if len(mine) else mine
    cooled_s = 0.0                  # the union of each faulted deployment's cooldowns, inside the window
    for _, rows in (mine.groupby("deployment") if len(mine) else ()):
        reach = window.start_s
        for start_s, end_s in sorted(zip(rows["time_s"], rows["time_s"] + rows["length_s"])):
            lo, hi = max(start_s, reach), min(end_s, window.end_s)   # a cooldown re-started while cooling
            if hi > lo:                                              # down overlaps the one before it
                cooled_s += hi - lo
                reach = hi
    return {
        "requests_total": n,
        "availability": float(ok.mean()) if n else math.nan,
        "requests_failed": int((outcome == "failed").sum()),
        "requests_timeout": int((outcome == "timeout").sum()),
        "requests_rate_limited": int((outcome == "rate_limited").sum()),
        "latency_p50_s": _quantile(latency, 0.5),
        "latency_p95_s": _quantile(latency, 0.95),
        "cost_per_request_usd": float(requests["cost_usd"].sum() / n) if n else math.nan,
        "calls_total": len(calls),
        "calls_per_request": len(calls) / n if n else math.nan,
        "calls_into_fault": calls_into_faults(calls, [window]),
        "fallback_calls": int((~np.isin(provider, primary)).sum()),
        "cooldowns": len(cooldowns),
        "first_cooldown_after_fault_s": float(after["time_s"].min() - window.start_s) if len(after) else math.nan,
        "cooldown_s_during_fault": cooled_s,
    }


def simulated_cooldowns(events: pd.DataFrame) -> pd.DataFrame:
    """The ``cooldown`` rows of a simulated run's events as (``time_s``, ``deployment``, ``length_s``): the
    provider of the deployment (its ``provider/model`` subject cut at the slash) and the cooldown's length."""
    rows = events[(events["kind"] == "cooldown") & (events["to_state"].astype(str) == "cooling_down")]
    return pd.DataFrame({"time_s": rows["time_s"].to_numpy(float),
                         "deployment": rows["subject"].astype(str).str.split("/").str[0].to_numpy(),
                         "length_s": rows["limit"].to_numpy(float)})


def compare_sides(live: dict, simulated: dict) -> pd.DataFrame:
    """One row per twin metric: the live value, the simulated one, their difference (simulated - live) and
    the relative difference to the live value."""
    rows = []
    for metric, meaning in TWIN_METRICS.items():
        a, b = live.get(metric, math.nan), simulated.get(metric, math.nan)
        diff = b - a if np.isfinite(a) and np.isfinite(b) else math.nan
        rel = diff / abs(a) if np.isfinite(diff) and a else math.nan
        rows.append({"metric": metric, "meaning": meaning, "live": a, "simulated": b, "difference": diff,
                     "relative": rel})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------- the live side

@dataclass
class LiveTwin:
    """What the live side recorded: the driver's result (requests frame, summary), the server's calls log,
    the Router's cooldowns in simulated seconds, and the wall time it took."""

    result: object                  # sim.results.Result of the drive
    calls: pd.DataFrame
    cooldowns: pd.DataFrame
    wall_s: float
    server_output: str


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _CooldownTap:
    """Records every cooldown a LiteLLM Router starts (its ``router_cooldown_event_callback``, which both its
    Python and its Rust core call through ``cooldown_handlers``): wall time, deployment, length."""

    def __init__(self, default_s: float):
        from litellm.router_utils import cooldown_handlers
        self.module, self.default_s, self.rows = cooldown_handlers, default_s, []
        self.original = cooldown_handlers.router_cooldown_event_callback

    def __enter__(self):
        original, rows, default_s = self.original, self.rows, self.default_s

        async def tapped(*args, **kwargs):
            length = kwargs.get("cooldown_time")
            rows.append((time.monotonic(), str(kwargs.get("deployment_id")),
                         float(length) if length is not None else default_s))
            return await original(*args, **kwargs)

        self.module.router_cooldown_event_callback = tapped
        return self

    def __exit__(self, *exc):
        self.module.router_cooldown_event_callback = self.original

    def frame(self, clock) -> pd.DataFrame:
        """The cooldowns in simulated seconds on ``clock`` (the drive's, aligned with the server's)."""
        return pd.DataFrame({"time_s": [(w - clock.start) * clock.speed for w, _, _ in self.rows],
                             "deployment": [d for _, d, _ in self.rows],
                             "length_s": [length * clock.speed for _, _, length in self.rows]},
                            columns=["time_s", "deployment", "length_s"])


def run_live(scenario_path: Path, scenario, litellm_config: dict, speed: float, work: Path, seed: int,
             concurrency: int = 256, announce=print) -> LiveTwin:
    """Play ``scenario`` live: ``sim serve`` in a child process on a free loopback port, a real
    ``litellm.Router`` built from ``litellm_config`` in this process in front of it, and the scenario's
    requests driven through the Router on the server's clock. Bounded: the server stops by itself after the
    scenario's duration plus the request timeout, and is terminated if it is still up after the drive."""
    from sim.live.driver import plan_drive
    from sim.live.litellm_router import drive_litellm, import_litellm
    import_litellm(speed)                       # before the clock starts: the import takes seconds
    port = _free_loopback_port()
    log = work / "calls.parquet"                # the live run folder's calls frame, as the server logs it
    timeout_s = float(scenario.gateway.request_timeout_s or 0.0)
    serve_for = scenario.duration + timeout_s + 120.0
    command = [sys.executable, "-m", "sim", "serve", str(scenario_path), "--port", str(port), "--speed",
               repr(speed), "--duration", f"{serve_for:g}s", "--log", str(log), "--seed", str(seed), "--quiet"]
    plan = plan_drive(scenario, seed)
    default_cooldown_s = float((litellm_config.get("router_settings") or {}).get("cooldown_time", 5.0)) / speed
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    try:
        line = server.stdout.readline()             # the start line, once it listens
        output.append(line)
        if not re.search(rf"127\.0\.0\.1:{port}\b", line):
            server.wait(timeout=10)
            raise RuntimeError(f"sim serve did not start: {line.strip()} {server.stdout.read().strip()}")
        announce(f"live: sim serve at http://127.0.0.1:{port} (speed x{speed:g}); driving {plan.n} requests "
                 f"through a litellm.Router, about {plan.duration_s / speed:.0f} wall s")
        started = time.monotonic()
        with _CooldownTap(default_cooldown_s) as tap:
            run = asyncio.run(drive_litellm(plan, litellm_config, f"http://127.0.0.1:{port}", speed, concurrency,
                                            align=True))
        wall_s = time.monotonic() - started
        cooldowns = tap.frame(run.clock)
    finally:
        if server.poll() is None:
            server.terminate()                       # SIGTERM: it writes its calls log and stops
        try:
            rest, _ = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            rest, _ = server.communicate()
        output.append(rest or "")
    from sim.live.driver import live_result
    calls = pd.read_parquet(log) if log.exists() else pd.DataFrame()
    return LiveTwin(live_result(run), calls, cooldowns, wall_s, "".join(output))


def compressed_scenario(scenario, speed: float):
    """The scenario as a live run at ``speed`` plays it: LiteLLM's per-minute counters keep their 60 s of
    *wall* time, which is ``60 x speed`` simulated seconds (:class:`~sim.policies.load_balancer.
    LoadBalancingConfig` ``counter_ttl_s``). Everything else the harness scales by the speed itself."""
    from sim.config import validate_scenario
    data = scenario.model_dump(mode="json")
    for group in data["routing"]["groups"].values():       # group names may hold dots: no override paths
        group["load_balancing"]["counter_ttl_s"] = 60.0 * speed
    return validate_scenario(data)
