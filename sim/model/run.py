"""One run: build the model from a scenario, simulate until every request has ended, return the result.

The arrivals are drawn first (the workload), the environment is wired (providers and their limits, the
gateway, the request flow), and the SimPy environment runs to exhaustion: arrivals stop at ``duration`` but
the run drains, so every request that arrived has an outcome. The recorder's columns then become frames.
"""
from __future__ import annotations

import math
import time
import typing

import numpy as np
import pandas as pd
import simpy

from sim import metrics
from sim.config import FaultKind, Scenario
from sim.faults import FaultTimeline
from sim.model.cache_lookup import CacheLookup
from sim.model.callback_path import start_arrivals
from sim.model.providers import build_targets
from sim.model.request import Policies, RequestFlow
from sim.model.shadow_traffic import ShadowTraffic
from sim.model.streams import Streams
from sim.model.workload import generate_workload
from sim.policies.breaker import CAUSES, STATES, CircuitBreaker, Transition
from sim.policies.kill_switch import HARD, NORMAL, SOFT, BudgetKillSwitch, BudgetTrip
from sim.policies.load_balancer import AVAILABLE, COOLDOWN_CAUSES, COOLING_DOWN, CooldownTransition
from sim.policies.shadow_evaluator import required_samples
from sim.record import CACHE_STATES, CALL_STATUSES, OUTCOME, OUTCOMES, PENDING, Event, Recorder
from sim.results import Result

OUTCOME_OK = OUTCOME["ok"]

def simulate(scenario: Scenario, seed: int | None = None, replication: int = 0,
             on_progress: typing.Callable[[float], None] | None = None) -> Result:
    """Run the scenario once; ``seed`` defaults to the scenario's, ``replication`` picks a child stream.

    ``on_progress(fraction)``, if given, is called about 100 times with the simulated fraction of
    ``duration`` done (1.0 at the end); the run steps through the same events, so the result is identical.
    """
    seed = scenario.seed if seed is None else int(seed)
    wall_start = time.perf_counter()
    streams = Streams(seed, replication)
    workload = generate_workload(scenario, streams)
    env = simpy.Environment()
    recorder = Recorder(workload.n)
    targets = build_targets(env, scenario.providers, streams)
    policies = build_resilience(env, scenario, targets, recorder, streams, workload)
    flow = RequestFlow(env, scenario, workload, recorder, targets, streams, policies)
    n_requests, drawn = workload.n, workload.frame_columns()
    del workload             # the flow holds compact copies of what it reads; the frames need `drawn` only
    recorder.event(Event(0.0, "run_start", "scenario", detail=scenario.name))
    if policies.faults is not None:
        for event in policies.faults.events():
            recorder.event(event)
    start_arrivals(env, flow)
    loop_start = time.perf_counter()
    if on_progress is None:
        env.run()
    else:
        run_reporting(env, scenario.duration, on_progress)
    loop_wall_s = time.perf_counter() - loop_start
    recorder.event(Event(env.now, "run_end", "scenario", detail=f"{n_requests} requests"))
    record_policy_events(recorder, targets, policies, flow.groups.values())
    pending = int(np.sum(recorder.outcome == PENDING))
    if pending:
        raise RuntimeError(f"{pending} requests ended without an outcome: a layer dropped them")
    spend_overshoot_usd = flow.spend_overshoot_usd if policies.kill_switch is not None else None
    del flow                 # its columns are not needed for the frames: free them before building those
    result = build_result(scenario, drawn, recorder, targets, env.now)
    result.summary.update(metrics.resilience_summary(
        result.requests, result.calls, result.events, scenario.warmup,
        policies.faults.windows() if policies.faults is not None else [],
        spend_overshoot_usd=spend_overshoot_usd))
    if policies.shadow is not None:
        result.summary.update(shadow_summary(policies.shadow))
    result.summary.update({"seed": seed, "replication": replication, "simulated_time_s": float(env.now),
                           "event_loop_wall_s": loop_wall_s,
                           "wall_time_s": time.perf_counter() - wall_start})
    return result


def run_reporting(env: simpy.Environment, duration_s: float, on_progress: typing.Callable[[float], None],
                  chunks: int = 100) -> None:
    """``env.run()`` to exhaustion in ``chunks`` of simulated time, reporting the fraction after each.

    It steps event by event (no stop events are scheduled, so the clock only ever takes event times and the
    run is the same as ``env.run()``); the drain after ``duration_s`` is reported as 1.0 at the end.
    """
    for i in range(1, chunks + 1):
        until = duration_s * i / chunks
        while env.peek() < until:
            env.step()
        on_progress(i / chunks)
    env.run()
    on_progress(1.0)


def build_resilience(env, scenario: Scenario, targets, recorder, streams, workload) -> Policies:
    """The policies of the run: fault timeline, a breaker per target, the kill switch, shadow mode, cache."""
    res = scenario.resilience
    clock = lambda: env.now    # noqa: E731  (the policies' injected clock is the simulation's)
    faults = FaultTimeline(scenario.faults, streams.uniform, scenario.regions) if scenario.faults else None
    breakers = {}
    if res.breaker is not None:
        breakers = {t.code: CircuitBreaker(res.breaker, clock) for t in targets}
    kill_switch = None
    if res.kill_switch is not None:
        kill_switch = BudgetKillSwitch(res.kill_switch, clock)
    shadow = None
    if res.shadow is not None:
        candidate = next(t for t in targets if t.label == res.shadow.target)
        shadow = ShadowTraffic(env, res.shadow, candidate, recorder, streams)
    cache = None
    if scenario.cache.enabled:
        cache = CacheLookup(scenario, workload.intent_id, streams)
    return Policies(faults=faults, breakers=breakers, kill_switch=kill_switch, shadow=shadow, cache=cache)


def record_policy_events(recorder: Recorder, targets, policies: Policies, groups=()) -> None:
    """Breaker transitions, kill-switch trips and the model groups' cooldowns, their fields as columns of
    ``events``."""
    for code, breaker in policies.breakers.items():
        for transition in breaker.transitions:
            recorder.event(breaker_event(targets[code].label, transition))
    if policies.kill_switch is not None:
        for event in kill_switch_events(policies.kill_switch.trips):
            recorder.event(event)
    for group in groups:
        for transition in group.transitions:
            recorder.event(cooldown_event(transition))


def cooldown_event(tr: CooldownTransition) -> Event:
    """A deployment of a model group entering or leaving LiteLLM's cooldown, as an ``events`` row: the
    deployment ('provider/model') in ``subject``, the rule in ``reason``, the failed share it counted in
    ``value`` and the cooldown's length in ``limit`` (seconds)."""
    share = tr.failures / tr.calls if tr.calls else math.nan
    return Event(tr.time_s, "cooldown", tr.deployment_id, from_state=tr.from_state, to_state=tr.to_state,
                 reason=tr.cause, value=share, limit=tr.cooldown_s,
                 detail=f"{tr.from_state}->{tr.to_state}: {tr.reason}")


def breaker_event(target_label: str, tr: Transition) -> Event:
    """A breaker's state change as an ``events`` row: its cause in ``reason``, the rate and threshold."""
    return Event(tr.time_s, "breaker", target_label, from_state=tr.from_state, to_state=tr.to_state,
                 reason=tr.cause, value=tr.value, limit=tr.threshold,
                 detail=f"{tr.from_state}->{tr.to_state}: {tr.reason}")


def kill_switch_events(trips: list[BudgetTrip]) -> list[Event]:
    """Kill-switch level changes as ``events`` rows, each with the level its window left (``normal`` at first)."""
    level_of: dict[str, str] = {}
    events = []
    for trip in trips:
        before = level_of.get(trip.window, NORMAL)
        level_of[trip.window] = trip.level
        events.append(Event(trip.time_s, "kill_switch", trip.window, from_state=before, to_state=trip.level,
                            value=trip.spend_usd, limit=trip.limit_usd,
                            detail=f"{before}->{trip.level}: spend ${trip.spend_usd:,.2f} of ${trip.limit_usd:,.2f}"))
    return events


#: The categories of the ``events`` columns, the same in every run (see :func:`sim.record.events_frame`).
EVENT_VOCABULARIES = {
    "from_state": STATES + (NORMAL, SOFT, HARD, AVAILABLE, COOLING_DOWN),
    "to_state": STATES + (NORMAL, SOFT, HARD, AVAILABLE, COOLING_DOWN),
    # breakers' and cooldowns' causes share some names: each once
    "reason": tuple(dict.fromkeys(CAUSES + COOLDOWN_CAUSES + ("cooldown_elapsed",))),
    "fault_kind": typing.get_args(FaultKind),
}


def shadow_summary(shadow) -> dict:
    """The shadow evaluation's verdict, and the samples the closed form says the observed rates need."""
    ev = shadow.evaluator
    out = {f"shadow_{k}": v for k, v in ev.summary().items()}
    p_b, p_c = ev.true_failure_rate_baseline, ev.true_failure_rate_candidate
    out["shadow_required_samples"] = (
        required_samples(p_b, p_c, ev.config.margin, ev.config.confidence, judge_noise=ev.config.judge_noise)
        if ev.samples and p_c - p_b < ev.config.margin else None)
    out["shadow_cost_usd"] = shadow.cost_usd
    out["shadow_lost_to_limits"] = shadow.lost_to_limits
    return out


def _labelled(codes: np.ndarray, names) -> pd.Categorical:
    return pd.Categorical.from_codes(codes, categories=list(names))


def _names_of(codes: np.ndarray, names: list[str]) -> pd.Categorical:
    """``pd.Categorical(np.array(names, dtype=object)[codes])`` -- the categories are the names that occur,
    sorted -- built from the small integer codes without an object array or hashing a row per request."""
    present = np.flatnonzero(np.bincount(codes, minlength=len(names)))
    categories = sorted({names[k] for k in present})
    recode = np.full(len(names), -1, dtype=np.int8 if len(categories) < 128 else np.int32)
    for k in present:
        recode[k] = categories.index(names[k])
    # no name at all (no rows): object categories, as a Categorical of an empty object array has
    index = pd.Index(categories, dtype="str" if categories else object)
    return pd.Categorical.from_codes(recode[codes], categories=index)


def build_result(scenario: Scenario, drawn: dict[str, np.ndarray], rec: Recorder, targets, end_s: float) -> Result:
    """The frames and the summary from the workload's ``drawn`` frame columns and the recorder's columns.

    Memory: the frames take the recorder's and the workload's numpy columns as they are (no copy; the
    recorder is not written again), the categoricals are built from the codes, and each frame is built in
    its own function so that its temporaries are gone before the next one starts.
    """
    providers = [t.provider.name for t in targets] + [""]
    models = [t.model.name for t in targets] + [""]
    tiers = [t.model.config.tier for t in targets] + [""]
    requests = requests_frame(drawn, rec, providers, models, len(targets))
    calls = calls_frame(rec.calls.take(), providers, models, tiers)
    limits = {p.name: p.limits.per_minute(p.api_keys) for p in scenario.providers}
    events = rec.events_frame(EVENT_VOCABULARIES)
    ts = metrics.timeseries(requests, calls, scenario.output.interval_s, limits, end_s, events)
    summary = metrics.summary(requests, calls, scenario.warmup, scenario.duration,
                              patience_s=scenario.gateway.user_patience_s)
    return Result(scenario=scenario, requests=requests, calls=calls, timeseries=ts, events=events,
                  summary=summary)


def requests_frame(drawn: dict[str, np.ndarray], rec: Recorder, providers: list[str], models: list[str],
                   n_targets: int) -> pd.DataFrame:
    """One row per request: the drawn columns and the recorder's, shared, not copied."""
    arrival_s = drawn["arrival_s"]
    target = rec.target.copy()
    target[target < 0] = n_targets                    # requests that never reached a provider
    ttft_s = rec.first_token_s - arrival_s
    ttft_s[rec.outcome != OUTCOME_OK] = np.nan        # a time to first token only for an answer
    cost_usd = rec.llm_cost_usd + rec.step_cost_usd
    cost_usd += rec.embedding_cost_usd
    return pd.DataFrame({
        "request_id": np.arange(len(arrival_s)),
        "arrival_s": arrival_s,
        "user_id": drawn["user_id"],
        "outcome": _labelled(rec.outcome, OUTCOMES),
        "latency_s": rec.end_s - arrival_s,
        "ttft_s": ttft_s,
        "queue_wait_s": rec.queue_wait_s,
        "input_tokens": rec.input_tokens,
        "output_tokens": rec.output_tokens,
        "cost_usd": cost_usd,
        "llm_cost_usd": rec.llm_cost_usd,
        "step_cost_usd": rec.step_cost_usd,
        "embedding_cost_usd": rec.embedding_cost_usd,
        "cache": _labelled(rec.cache, CACHE_STATES),
        "provider": _names_of(target, providers),
        "model": _names_of(target, models),
        "attempts": rec.attempts,
        "llm_calls": drawn["llm_calls"],
        "hallucinated": rec.hallucinated,
        "parse_failed": rec.parse_failed,
        "complexity": drawn["complexity"],
        "intent_id": drawn["intent_id"],
        "end_s": rec.end_s,
    }, copy=False)


def calls_frame(c: dict[str, np.ndarray], providers: list[str], models: list[str], tiers: list[str]) -> pd.DataFrame:
    """One row per provider attempt, from the recorder's call columns (handed over, not copied)."""
    target = c["target"]
    return pd.DataFrame({
        "request_id": c["request_id"], "call_index": c["call_index"], "attempt": c["attempt"],
        "provider": _names_of(target, providers), "model": _names_of(target, models),
        "tier": _names_of(target, tiers),
        "start_s": c["start_s"], "end_s": c["end_s"], "duration_s": c["end_s"] - c["start_s"],
        "status": _labelled(c["status"], CALL_STATUSES),
        "input_tokens": c["input_tokens"], "output_tokens": c["output_tokens"], "cost_usd": c["cost_usd"],
        "hallucinated": c["hallucinated"], "parse_failed": c["parse_failed"], "shadow": c["shadow"],
    }, copy=False)
