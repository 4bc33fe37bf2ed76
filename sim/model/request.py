"""The request lifecycle: one SimPy process walks one user request through the layers.

A request arrives at the gateway (per-user rate limit, then a bounded queue in front of a pool of workers),
optionally runs a retrieval step, then makes its LLM calls, one after the other (an agent loop makes several,
with a tool step between them). Each LLM call asks the budget kill switch first (hard limit: no call, the
request is ``killed``; soft limit: the cheapest model), then walks the routing chain: a target whose circuit
breaker is open is skipped; on a target, an attempt passes the provider's admission (its RPM/TPM buckets,
either waited for by the gateway's smoothing limiter or answered with a 429, and its concurrency cap), then
takes the time the model draws, with whatever the fault timeline imposes; a failed attempt is retried after
a backoff while the retry policy allows, and with fallback on, a target that gave up hands the call to the
next one. A call larger than a whole minute of a provider's limits is answered "request too large" at once
and never retried (no wait would make it fit); fallback may still find a target whose limits hold it.
The request ends in exactly one outcome. A share of successful requests is mirrored to a shadow candidate
whose answer is judged but never returned.

One attempt is four steps, each a method: admission (:meth:`RequestFlow._ask_limits`, then the provider's
concurrency slot, in :meth:`RequestFlow._attempts`), the call itself (the model's draw and its time), the
accounting (:meth:`RequestFlow._account`: recorder, breaker feedback, kill-switch spend) and the retry
decision. Results travel as named tuples (:class:`CallResult`, :class:`sim.model.providers.AttemptResult`);
absent policies are null objects that admit everything and learn nothing (``NO_BREAKER``, ``NO_FAULTS``,
``NO_KILL_SWITCH``), so the path reads the same with or without them.

Three ways to run the same steps, chosen once per run; the results are identical, only the cost differs:

* the **generator path** (:meth:`RequestFlow.handle` -> ``_serve`` -> ``_llm_call`` -> ``_walk_chain`` ->
  ``_attempts``): one SimPy process per request, a plain generator with as few yields as the path needs. It
  runs every shape (cache, steps, agent loops, router, budget) and is the reference the others are tested
  against;
* the **callback path** (:mod:`sim.model.callback_path`, whose ``start_arrivals`` starts a run's requests;
  taken when every request is one LLM call with no
  cache, retrieval, compression, router or budget kill switch: the main job's shape): the same steps as a
  small state machine per request, each wait the very SimPy event the generator would wait on (a Timeout's
  priority and order; the gateway pool's and providers' ``simpy.Resource`` requests, the patience
  ``Request | Timeout``), its callback the next step. No process, no ``Initialize`` or process-end
  event, no generator resumed through five layers: about 2 events per request instead of 4;
* the **single-attempt path** (:meth:`RequestFlow._arrive`, the M/M/c shape: one attempt on one target with
  nothing around it): one Timeout per request, and a count plus a FIFO deque for the concurrency slots.

In all three, policies are called as methods and results are written straight into the recorder's columns.
``tests/model/test_callback_path.py`` and ``tests/model/test_single_attempt_path.py`` run each shortcut
against the generator path and compare the frames exactly.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import simpy

from sim.config import Scenario
from sim.model.cache_lookup import HIT, MISS
from sim.model.providers import (CONTEXT_EXCEEDED, ERROR, OK, RATE_LIMITED, REFUSED, TIMEOUT, TOO_LARGE, AttemptResult, Target,
                                 _new_tuple)
from sim.model.deployment_groups import DeploymentGroup
from sim.model.slots import SlotPool
from sim.model.streams import Streams
from sim.model.workload import Workload, scalar_column
from sim.policies.retry import RetryPolicy
from sim.policies.router import Router, threshold_for_strong_share
from sim.policies.token_bucket import KeyedTokenBuckets
from sim.record import CALL_STATUS, OUTCOME, Recorder

if TYPE_CHECKING:
    from sim.faults import FaultTimeline
    from sim.model.cache_lookup import CacheLookup
    from sim.model.shadow_traffic import ShadowTraffic
    from sim.policies.breaker import CircuitBreaker
    from sim.policies.kill_switch import BudgetKillSwitch

O_OK, O_SHED, O_RATE_LIMITED = OUTCOME["ok"], OUTCOME["shed"], OUTCOME["rate_limited"]
O_FAILED, O_REFUSED, O_KILLED = OUTCOME["failed"], OUTCOME["refused"], OUTCOME["killed"]
O_TIMEOUT, O_TOO_LARGE = OUTCOME["timeout"], OUTCOME["too_large"]
O_CONTEXT_EXCEEDED = OUTCOME["context_exceeded"]
ALL_OPEN_POLL_S = 0.5       # re-check interval while every breaker is open and a half-open trial is full
SPURIOUS_RETRY_AFTER_S = 1.0  # the Retry-After a sick rate-limit service sends with a spurious 429


@dataclass
class Policies:
    """The optional policies of one run (built by :func:`sim.model.run.build_resilience`); absent ones are
    None, and a target without a breaker is missing from ``breakers`` (keyed by target code)."""

    faults: FaultTimeline | None = None
    breakers: dict[int, CircuitBreaker] = field(default_factory=dict)
    kill_switch: BudgetKillSwitch | None = None
    shadow: ShadowTraffic | None = None
    cache: CacheLookup | None = None


class CallResult(NamedTuple):
    """How one LLM call of a request ended: its outcome and, when answered, what was wrong with the answer."""

    outcome: int                # an OUTCOME code
    wrong: bool = False         # hallucinated
    unparseable: bool = False   # failed structured-output parsing
    status: int = -1            # the CALL_STATUS of the last attempt it gave up after; -1 = none (an open
                                # breaker, no deployment to pick): fallback always moves on from it


KILLED, FAILED, SHED = CallResult(O_KILLED), CallResult(O_FAILED), CallResult(O_SHED)
TIMED_OUT, ANSWERED_FROM_CACHE = CallResult(O_TIMEOUT, status=TIMEOUT), CallResult(O_OK)
ANSWERED = tuple(tuple(CallResult(O_OK, wrong, unparseable) for unparseable in (False, True))
                 for wrong in (False, True))            # [wrong][unparseable], without a tuple per call
# the call's outcome once its last attempt on a target ended with this status
_GIVE_UP = {status: CallResult(outcome, status=status) for status, outcome in (
    (ERROR, O_FAILED), (TIMEOUT, O_TIMEOUT), (RATE_LIMITED, O_FAILED), (REFUSED, O_REFUSED),
    (TOO_LARGE, O_TOO_LARGE), (CONTEXT_EXCEEDED, O_CONTEXT_EXCEEDED))}
_STATUS_NAME = {ERROR: "error", TIMEOUT: "timeout", RATE_LIMITED: "rate_limited", REFUSED: "refused"}
_ENDS_THE_CHAIN = (O_OK, O_REFUSED, O_SHED)     # outcomes no fallback target can change


class LlmCall(NamedTuple):
    """One LLM call of a request: which one, and the tokens it sends and asks for."""

    request: int
    index: int                  # 0 for the request's first call; agent loops make more
    arrival_s: float            # the request's arrival: its deadline and its patience count from here
    input_tokens: int
    output_tokens: int


class Gate(NamedTuple):
    """What a provider's limits said to one attempt."""

    verdict: int                # GO, RATE_LIMITED_429, TOO_LARGE_400, SHED_AT_LIMITS or CONTEXT_400
    wait_s: float = 0.0         # smoothing: how long to wait before the call may go
    retry_after_s: float | None = None   # a 429's Retry-After
    unused_output: float = 0.0  # output tokens counted at admission beyond what the call produces (OpenAI's
                                # max_tokens reservation), given back when the call ends


GO, RATE_LIMITED_429, TOO_LARGE_400, SHED_AT_LIMITS, CONTEXT_400 = range(5)


PASS, TOO_LARGE_GATE, SHED_GATE, CONTEXT_GATE = Gate(GO), Gate(TOO_LARGE_400), Gate(SHED_AT_LIMITS), Gate(CONTEXT_400)


class _NoBreaker:
    """Stands in for a target without a circuit breaker: it always admits and learns nothing."""

    __slots__ = ()

    def allow(self) -> bool:
        return True

    def release(self) -> None:
        pass

    def record(self, ok: bool, duration_s: float, **verdicts) -> None:
        pass

    def next_admission_s(self) -> float:
        return -math.inf


class _NoKillSwitch:
    """Stands in for an absent budget kill switch: spend is never limited."""

    __slots__ = ()

    def state(self, user_id=None) -> str:
        return "normal"

    def record_spend(self, cost_usd: float, user_id=None) -> None:
        pass


class _NoFaults:
    """Stands in for an empty fault timeline."""

    __slots__ = ()

    def request_effect(self, now: float):
        return None

    def limit_factor(self, provider: str, model_label: str, now: float) -> float:
        return 1.0

    def call_effect(self, provider: str, model_label: str, now: float):
        return None


NO_BREAKER, NO_KILL_SWITCH, NO_FAULTS = _NoBreaker(), _NoKillSwitch(), _NoFaults()


class OnlineEvaluator:
    """What the breaker's AI conditions see: an evaluator's verdicts on answers, not the truth. It catches
    a bad answer with probability ``recall`` and flags a good one with ``false_positive_rate``."""

    def __init__(self, recall: float, false_positive_rate: float, uniform):
        self.recall, self.false_positive_rate, self._u = recall, false_positive_rate, uniform

    def flags(self, truly_bad: bool) -> bool:
        return self._u() < (self.recall if truly_bad else self.false_positive_rate)


class RequestFlow:
    """Wires the layers of one run together and runs each request through them."""

    def __init__(self, env: simpy.Environment, scenario: Scenario, workload: Workload, recorder: Recorder,
                 targets: list[Target], streams: Streams, policies: Policies | None = None):
        self.env = env
        self.rec = recorder
        policies = policies or Policies()
        self._setup_gateway(scenario.gateway)
        by_label = {t.label: t for t in targets}
        self.groups = self._setup_groups(scenario, by_label, streams)
        entries = lambda names: [self.groups.get(name) or by_label[name] for name in names]   # noqa: E731
        self.chain = entries(scenario.chain_entries)
        self.cheapest_first = sorted(self._chain_targets(self.chain), key=lambda t: t.model.price_rank)
        self._setup_router(scenario.routing, by_label, workload, streams)
        self.hard_extra_error = scenario.quality.hard_extra_error
        comp = scenario.compression
        self.compression = comp if comp.ratio < 1.0 else None
        self.compression_wrong = comp.hallucination_add if self.compression else 0.0
        res = scenario.resilience
        self.retry = RetryPolicy(scenario.resilience.retry)
        self.fallback = res.fallback
        # the failures after which fallback moves down the chain (-1: an open breaker, nothing to pick)
        self.fallback_on = frozenset([-1, *(CALL_STATUS[name] for name in res.fallback_on)])
        # a rejection for the context window, or a refusal, moving to a list of its own (LiteLLM's
        # context_window_fallbacks, content_policy_fallbacks)
        self.special_fallbacks = {outcome: entries(names)
                                  for outcome, names in ((O_CONTEXT_EXCEEDED, scenario.routing.context_window_fallbacks),
                                                         (O_REFUSED, scenario.routing.content_policy_fallbacks))
                                  if names}
        self.wait_when_all_open = res.when_all_open == "wait"
        self.cache = policies.cache
        self.cache_when_all_open = res.when_all_open == "cache_only" and self.cache is not None
        self._nearest = {}                    # request -> its cache lookup, while it waits for an LLM
        self._setup_breakers(res.breaker, policies.breakers, targets, streams)
        self.faults = policies.faults or NO_FAULTS
        self.kill_switch = policies.kill_switch or NO_KILL_SWITCH
        self.kill_limits = {w: getattr(res.kill_switch, f"per_{w}_usd") for w in ("hour", "day", "month")
                            if res.kill_switch and getattr(res.kill_switch, f"per_{w}_usd")}
        self.spend_overshoot_usd = 0.0
        self.shadow = policies.shadow
        self._jitter_u = streams.uniform("retry.jitter")
        wl = scenario.workload
        self.retrieval = wl.retrieval
        self.tools = wl.tools
        self._step_u = streams.uniform("steps")
        self._setup_columns(workload)
        # a call walks the chain (breakers, fallback, groups' picks, lists of their own), else it only
        # attempts the chain's first target
        self.walks_chain = bool(self.has_breakers or self.fallback or self.groups or self.special_fallbacks)
        self.single_attempt_path = self._single_attempt_path_applies(scenario, policies)
        self._free_slots, self._waiting = None, deque()

    def _setup_gateway(self, gw) -> None:
        self.workers = SlotPool(self.env, gw.workers) if gw.workers else None
        self.max_queue = gw.max_queue
        self.max_wait_s = gw.max_queue_wait_s
        self.patience_s = math.inf if gw.max_queue_wait_s is None else gw.max_queue_wait_s
        self.smooth = gw.smooth_to_provider_limits
        self.deadline_s = math.inf if gw.request_timeout_s is None else gw.request_timeout_s
        url = gw.user_rate_limit
        self.user_limit = KeyedTokenBuckets(url.requests_per_min / 60.0, url.burst) if url else None

    def _setup_breakers(self, settings, breakers: dict, targets: list[Target], streams: Streams) -> None:
        """A breaker per target (the null one where there is none), what counts against it, and the
        evaluator through which its AI conditions see answers (none: they see the truth)."""
        self.breaker_of = [breakers.get(t.code, NO_BREAKER) for t in targets]
        self.has_breakers = bool(breakers)
        self.not_health_signals = {REFUSED, TOO_LARGE, CONTEXT_EXCEEDED}
        if settings is None or not settings.record_rate_limited:
            self.not_health_signals.add(RATE_LIMITED)
        self.evaluator = None
        if settings and (settings.detector_recall < 1.0 or settings.detector_false_positive_rate > 0):
            self.evaluator = OnlineEvaluator(settings.detector_recall, settings.detector_false_positive_rate,
                                             streams.uniform("breaker.detector"))

    def _setup_columns(self, workload: Workload) -> None:
        # compact columns (sim.model.workload.scalar_column): list-like scalar reads at 1-8 bytes a request
        self.arrival_s = scalar_column(workload.arrival_s)
        self.user_id = scalar_column(workload.user_id)
        self.input_tokens = scalar_column(workload.input_tokens)
        self.output_tokens = scalar_column(workload.output_tokens)
        self.llm_calls = scalar_column(workload.llm_calls)
        self.has_retrieval = scalar_column(workload.retrieval)
        self.needs_strong = scalar_column(workload.needs_strong)
        self.answer_u = scalar_column(workload.answer_u)

    def _setup_router(self, routing, by_label, workload, streams) -> None:
        """The router and the chains it picks from: [routed model] + the other chain targets as fallbacks."""
        self.router = None
        if routing.strategy == "fixed":
            return
        strong, cheap = by_label[routing.strong], by_label[routing.cheap]
        threshold = routing.threshold
        if threshold is None and routing.strategy == "threshold":
            threshold = threshold_for_strong_share(workload.router_score, routing.strong_share)
        self.router = Router(routing.strategy, threshold=threshold if threshold is not None else 0.0,
                             weight=routing.weight, auc=routing.auc,
                             cascade_recall=routing.cascade_recall,
                             cascade_false_escalation=routing.cascade_false_escalation)
        self.strong_target, self.cheap_target = strong, cheap
        rest = [t for t in self.chain if t not in (strong, cheap)]
        # the kill switch's soft limit picks the cheapest of every model the router may use
        self.cheapest_first = sorted({t.code: t for t in [*self.chain, strong, cheap]}.values(),
                                     key=lambda t: t.model.price_rank)
        self.strong_chain, self.cheap_chain = [strong] + rest, [cheap] + rest
        self.router_score = scalar_column(workload.router_score)
        self._route_u = streams.uniform("router.route")
        self._cascade_u = streams.uniform("router.cascade")

    def _setup_groups(self, scenario: Scenario, by_label, streams: Streams) -> dict:
        """The model groups the chain names (``routing.groups``), each with its picker and its own stream."""
        clock = lambda: self.env.now    # noqa: E731
        routing = scenario.routing
        named = {*scenario.chain_entries, *routing.context_window_fallbacks, *routing.content_policy_fallbacks}
        return {name: DeploymentGroup(name, group, [by_label[label] for label in group.deployments], scenario,
                                      clock, streams.uniform(f"loadbalance.{name}"))
                for name, group in scenario.routing.groups.items() if name in named}

    @staticmethod
    def _chain_targets(chain) -> list[Target]:
        """Every target a chain can call: its targets, and its groups' deployments, once each in order."""
        out = {}
        for entry in chain:
            for target in (entry.targets if isinstance(entry, DeploymentGroup) else (entry,)):
                out.setdefault(target.code, target)
        return list(out.values())

    def _single_attempt_path_applies(self, scenario: Scenario, policies: Policies) -> bool:
        """Whether every request is one LLM call of one attempt on the chain's first target, with nothing
        around it (no gateway pool, cache, steps, router, breakers, fallback, budget, faults, shadow, limits,
        size checks or retries): the M/M/c shape, which :meth:`_arrive` runs with callbacks, not a process."""
        target = self.chain[0]
        return (not self.walks_chain and self.workers is None and self.cache is None and self.compression is None
                and self.router is None and self.kill_switch is NO_KILL_SWITCH
                and self.faults is NO_FAULTS and self.shadow is None and target.provider.limits is None
                and not target.model.size_limited and scenario.resilience.retry.max_attempts == 1
                and not any(self.has_retrieval) and all(n == 1 for n in self.llm_calls))

    # ------------------------------------------------------------------ arrivals
    def source(self):
        env, rec, user_limit, handle = self.env, self.rec, self.user_limit, self.handle
        shortcut, pool, serve = self.single_attempt_path, self.workers is not None, self._serve
        if shortcut:
            handle = self._arrive
            slots = self.chain[0].provider.slots
            self._free_slots = math.inf if slots is None else slots.capacity
        for i, t in enumerate(self.arrival_s):
            if t > env.now:
                yield env.timeout(t - env.now)
            if user_limit is not None and not user_limit.allow(self.user_id[i], t):
                rec.outcome[i] = O_RATE_LIMITED
                rec.end_s[i] = t
                continue
            if shortcut:
                handle(i)
            elif pool:
                env.process(handle(i))
            else:                                   # no gateway pool: nothing for handle to hold
                env.process(serve(i, env.now))

    # ------------------------------------------------------------------ one request, the single-attempt path
    # The same steps as handle -> _serve -> _llm_call -> _attempts -> _call, in the same order and with the
    # same draws, for the case _single_attempt_path_applies describes: no process per request, no event for
    # a concurrency slot (a count and a FIFO deque stand in for the provider's simpy.Resource), one Timeout
    # per request whose callback ends it. Two events per request instead of six.
    def _arrive(self, i: int) -> None:
        t0 = self.env.now
        call = _new_tuple(LlmCall, (i, 0, t0, self.input_tokens[i], self.output_tokens[i]))
        if t0 >= t0 + self.deadline_s:
            self._finish(i, O_TIMEOUT)
            return
        self.retry.record_call(False)
        if self._free_slots > 0:
            self._free_slots -= 1
            self._start(call)
        else:
            self._waiting.append(call)

    def _start(self, call: LlmCall) -> None:
        """The attempt goes: its wait for a slot is queue wait; the model draws; a Timeout ends it."""
        env, target = self.env, self.chain[0]
        start_s = env.now
        self.rec.queue_wait_s[call.request] += start_s - call.arrival_s
        answer = self._draw(call, target, 1, None, start_s)
        done = env.timeout(answer.duration_s)
        done.callbacks.append(lambda _: self._end(call, answer, start_s))

    def _end(self, call: LlmCall, answer: AttemptResult, start_s: float) -> None:
        """The attempt's answer: accounting, the request's outcome, and the slot to the next in line."""
        target = self.chain[0]
        self._account(call, target, NO_BREAKER, 1, start_s, answer)
        i = call.request
        if answer.status == OK:
            if answer.hallucinated:
                self.rec.hallucinated[i] = True
            if answer.parse_failed:
                self.rec.parse_failed[i] = True
            self._finish(i, O_OK)
        else:
            self._retry_delay_s(1, answer.status, None)       # max_attempts 1: None, after the jitter draw
            self._finish(i, _GIVE_UP[answer.status].outcome)
        if self._waiting:
            self._start(self._waiting.popleft())
        else:
            self._free_slots += 1

    # ------------------------------------------------------------------ one request
    def handle(self, i: int):
        """Request ``i`` from arrival to its outcome: a gateway worker (if the gateway has a pool), then the
        layers behind it; the worker is held until the request ends."""
        t0 = self.env.now
        slot = None
        if self.workers is not None:
            slot = yield from self._wait_for_worker(i, t0)
            if slot is None:
                return
        try:
            yield from self._serve(i, t0)
        finally:
            if slot is not None:
                self.workers.release(slot)

    def _wait_for_worker(self, i: int, t0: float):
        """A worker's slot, or None when the request is shed (queue full, or it waited its whole patience).
        The wait is recorded either way: an abandoner waited ``max_queue_wait_s``."""
        workers, env = self.workers, self.env
        if self.max_queue is not None and len(workers.queue) >= self.max_queue:
            self._finish(i, O_SHED)
            return None
        slot = workers.request()
        if not slot.triggered:
            if self.max_wait_s is None:
                yield slot
            else:
                yield slot | env.timeout(self.max_wait_s)
        self.rec.queue_wait_s[i] = env.now - t0
        if not slot.triggered:
            slot.cancel()
            self._finish(i, O_SHED)
            return None
        return slot

    def _serve(self, i: int, t0: float):
        """Cache, retrieval, compression, then the request's LLM calls one after the other (with a tool step
        between them, sometimes); the first call that fails ends the request."""
        if self.cache is not None:
            served = yield from self._cache_lookup(i)
            if served:
                return
        in_tok, out_tok, n_calls = self._spiked(i, t0)
        if self.has_retrieval[i]:
            yield from self._step(i, self.retrieval)
        if self.compression is not None:
            in_tok = max(1, round(in_tok * self.compression.ratio))
            if self.compression.latency_s > 0:
                yield self.env.timeout(self.compression.latency_s)
        outcome = O_OK
        direct = self.router is None and self.kill_switch is NO_KILL_SWITCH    # no budget, no routing
        for k in range(n_calls):
            if k and self.tools is not None and self._step_u() < self.tools.probability:
                yield from self._step(i, self.tools)
            call = _new_tuple(LlmCall, (i, k, t0, in_tok, out_tok))
            if direct:          # what _llm_call would do, one generator layer less
                result = yield from (self._walk_chain(call, self.chain) if self.walks_chain else
                                     self._attempts(call, self.chain[0], NO_BREAKER))
            else:
                result = yield from self._llm_call(call)
            outcome = result.outcome
            if outcome != O_OK:
                break
            if result.wrong:
                self.rec.hallucinated[i] = True
            if result.unparseable:
                self.rec.parse_failed[i] = True
        if self.cache is not None:
            self._store_in_cache(i, outcome)
        self._finish(i, outcome)
        if outcome == O_OK and self.shadow is not None and self.kill_switch.state(self.user_id[i]) == "normal":
            self.shadow.maybe_mirror(i, in_tok, out_tok)

    def _spiked(self, i: int, t0: float) -> tuple[int, int, int]:
        """Request ``i``'s (input tokens, output tokens, LLM calls), after any cost spike hitting it."""
        in_tok, out_tok, n_calls = self.input_tokens[i], self.output_tokens[i], self.llm_calls[i]
        spike = self.faults.request_effect(t0)
        if spike is not None:
            multiplier, extra_calls = spike
            in_tok, out_tok = round(in_tok * multiplier), round(out_tok * multiplier)
            n_calls += extra_calls
        return in_tok, out_tok, n_calls

    def _cache_lookup(self, i: int):
        """Embed and look up request ``i``; True when the cache answered it (the request is then finished)."""
        cache, rec = self.cache, self.rec
        if cache.latency_s > 0:
            yield self.env.timeout(cache.latency_s)
        rec.embedding_cost_usd[i] = self.input_tokens[i] * cache.embedding_usd_per_token
        state, found = cache.lookup(i, self.env.now)
        rec.cache[i] = state
        if state == MISS:
            self._nearest[i] = found
            return False
        if state != HIT:
            cache.verified_wrong(i, self.env.now)
        elif found.payload[1]:
            rec.hallucinated[i] = True          # the right question, but the stored answer was wrong
        rec.first_token_s[i] = self.env.now
        self._finish(i, O_OK)
        return True

    def _store_in_cache(self, i: int, outcome: int) -> None:
        """After a miss, a fresh answer may be stored (the insert policy decides)."""
        found = self._nearest.pop(i, None)
        rec = self.rec
        if outcome == O_OK and rec.cache[i] == MISS:
            self.cache.store(i, self.env.now, found, bool(rec.hallucinated[i] or rec.parse_failed[i]))

    def _serve_degraded(self, i: int) -> bool:
        """No provider can answer: serve the nearest cached entry if it is close enough (cache_only mode)."""
        found = self._nearest.get(i)
        state = self.cache.degraded(i, found, self.env.now)
        if state is None:
            return False
        self.rec.cache[i] = state
        return True

    def _finish(self, i: int, outcome: int) -> None:
        self.rec.outcome[i] = outcome
        self.rec.end_s[i] = self.env.now

    def _step(self, i: int, step):
        mean = step.latency.mean_s
        duration = mean if step.latency.type == "fixed" else -mean * math.log1p(-self._step_u())
        if duration > 0:
            yield self.env.timeout(duration)
        self.rec.step_cost_usd[i] += step.cost_usd

    # ------------------------------------------------------------------ one LLM call: budget, router, chain
    def _llm_call(self, call: LlmCall):
        """One LLM call: the kill switch's verdict, the router's chain, then the chain; a CallResult."""
        level = self.kill_switch.state(self.user_id[call.request])
        if level == "hard":
            return KILLED
        if level == "soft":
            return (yield from self._walk_chain(call, self.cheapest_first))
        router = self.router
        if router is None:
            if not self.walks_chain:                    # the common case: one target, no policies
                return (yield from self._attempts(call, self.chain[0], NO_BREAKER))
            return (yield from self._walk_chain(call, self.chain))
        tier = router.route(self.router_score[call.request],
                            self._route_u() if router.strategy == "weighted" else 0.0)
        result = yield from self._walk_chain(call, self.strong_chain if tier == "strong" else self.cheap_chain)
        answered_by_cheap = result.outcome == O_OK and self.rec.target[call.request] == self.cheap_target.code
        if router.strategy == "cascade" and answered_by_cheap \
                and router.escalate(result.wrong or result.unparseable, self._cascade_u()):
            # the cheap answer failed the confidence check: ask the strong model too (both are paid)
            return (yield from self._walk_chain(call, self.strong_chain))
        return result

    def _walk_chain(self, call: LlmCall, chain: list[Target]):
        """Try the chain's targets in order (skipping open breakers, falling back on failure)."""
        while True:
            result, tried = FAILED, False
            for target in chain:
                if target.__class__ is not Target:                # a model group: it picks per attempt
                    tried = True
                    result = yield from self._attempts(call, None, NO_BREAKER, target)
                else:
                    breaker = self.breaker_of[target.code]
                    if not breaker.allow():
                        continue
                    tried = True
                    result = yield from self._attempts(call, target, breaker)
                if self.special_fallbacks:          # a rejection for its context, a refusal: their own list
                    special = self.special_fallbacks.get(result.outcome)
                    if special is not None and chain is not special:
                        return (yield from self._walk_chain(call, special))
                if result.outcome in _ENDS_THE_CHAIN or not self.fallback or result.status not in self.fallback_on:
                    return result
            if not tried and self.cache_when_all_open and self._serve_degraded(call.request):
                return ANSWERED_FROM_CACHE
            if tried or not self.wait_when_all_open:
                return result
            wait_s = self._all_open_wait_s(call, chain)
            if wait_s is None:
                return result
            self._count_queue_wait(call, wait_s)
            yield self.env.timeout(wait_s)

    def _all_open_wait_s(self, call: LlmCall, chain: list[Target]) -> float | None:
        """Every breaker is open: the wait until the first admits again, or None if that is past the
        request's patience (no patience set: it does not wait)."""
        now = self.env.now
        deadline = call.arrival_s + (self.max_wait_s if self.max_wait_s is not None else 0.0)
        earliest = min(self.breaker_of[t.code].next_admission_s() for t in chain if t.__class__ is Target)
        if earliest <= now:
            earliest = now + ALL_OPEN_POLL_S
        return earliest - now if earliest <= deadline else None

    def _count_queue_wait(self, call: LlmCall, wait_s: float) -> None:
        """A wait for capacity before the request's first attempt is queue wait (docs/metrics.md)."""
        if call.index == 0 and self.rec.attempts[call.request] == 0:
            self.rec.queue_wait_s[call.request] += wait_s

    # ------------------------------------------------------------------ attempts on one target, with retries
    def _attempts(self, call: LlmCall, target: Target | None, breaker, group=None):
        """Attempts on one target until one is answered or the call gives up: admission, the call itself,
        its accounting, then the retry decision. A CallResult. With a model ``group``, each attempt first
        asks the group for its target (a retry may land on another deployment), and its outcome goes back
        to the group (cooldowns, in-flight counts, latencies)."""
        env = self.env
        attempt = 0
        failed: dict[str, int] = {}
        while True:
            attempt += 1
            if group is not None:
                now = env.now                           # deployments whose breaker is open sit out the pick
                open_now = [t.label for t in group.targets
                            if self.breaker_of[t.code].next_admission_s() > now] if self.has_breakers else ()
                target = group.pick(call.input_tokens, failed, open_now)
                if target is None:                      # no deployment to offer: the gateway's own 429
                    return FAILED
                breaker = self.breaker_of[target.code]
                if not breaker.allow():
                    return FAILED
                if not group.started(target):       # usage-based routing's own RPM check: the gateway's 429
                    failed[target.label] = group.finished(target, RATE_LIMITED, 0.0, 0, 0, None)
                    gave_up, delay_s = self._after_failure(call, attempt, RATE_LIMITED, None)
                    if gave_up is not None:
                        return gave_up
                    if delay_s > 0:
                        yield env.timeout(delay_s)
                    continue
            elif attempt > 1 and not breaker.allow():
                return FAILED
            t_ask = env.now
            if t_ask >= call.arrival_s + self.deadline_s:
                self._breaker_feedback(breaker, None)
                return TIMED_OUT
            self.retry.record_call(attempt > 1)
            gate = self._ask_limits(call, target)
            if gate.verdict == SHED_AT_LIMITS:
                self._breaker_feedback(breaker, None)
                return SHED
            if gate.wait_s > 0:
                yield env.timeout(gate.wait_s)
            # the attempt itself (inlined: one generator less per attempt): a 400 or a 429 straight away, or
            # an answer after a provider concurrency slot and the time the model draws
            start_s = env.now
            retry_after_s = None
            verdict = gate.verdict
            if verdict == TOO_LARGE_400:
                answer = AttemptResult(TOO_LARGE, 0.0)
            elif verdict == CONTEXT_400:
                answer = AttemptResult(CONTEXT_EXCEEDED, 0.0)
            else:
                provider = target.provider
                effect = self.faults.call_effect(provider.name, target.label, start_s)
                retry_after_s = gate.retry_after_s
                if retry_after_s is None and effect is not None and effect.forced_status == RATE_LIMITED:
                    retry_after_s = SPURIOUS_RETRY_AFTER_S
                if retry_after_s is not None:
                    if gate.unused_output:
                        provider.limits.settle(start_s, gate.unused_output, 0.0)
                    answer = AttemptResult(RATE_LIMITED, 0.0)
                else:
                    slot = None
                    if provider.slots is not None:
                        slot = provider.slots.request()
                        if not slot.triggered:
                            yield slot
                        start_s = env.now
                    if call.index == 0 and attempt == 1:
                        self.rec.queue_wait_s[call.request] += start_s - t_ask
                    answer = self._draw(call, target, attempt, effect, start_s)
                    yield env.timeout(answer.duration_s)
                    if slot is not None:
                        provider.slots.release(slot)
                    if gate.unused_output:
                        provider.limits.settle(env.now, gate.unused_output, 0.0)
            self._account(call, target, breaker, attempt, start_s, answer)
            if group is not None:
                code = group.finished(target, answer.status, answer.duration_s,
                                      call.input_tokens + call.output_tokens, call.output_tokens, retry_after_s)
                if code is not None:
                    failed[target.label] = code
            if answer.status == OK:
                return ANSWERED[answer.hallucinated][answer.parse_failed]
            gave_up, delay_s = self._after_failure(call, attempt, answer.status, retry_after_s)
            if gave_up is not None:
                return gave_up
            if delay_s > 0:
                yield env.timeout(delay_s)

    def _ask_limits(self, call: LlmCall, target: Target) -> Gate:
        """The provider's limits: with smoothing, the wait for a reservation (shed if it is past the
        request's patience); without, admitted now or a 429 with its Retry-After. A call larger than a
        whole minute's limit is never admitted (the provider's "request too large"). A call over the model's
        context window or maximum output is refused before the limits see it (nothing taken from them)."""
        if target.model.size_limited and target.model.rejects(call.input_tokens, call.output_tokens):
            return CONTEXT_GATE
        limits = target.provider.limits
        if limits is None:
            return PASS
        now = self.env.now
        # a rate_limit fault cutting the limits to a factor f makes each call weigh 1/f of them
        scale = 1.0 / self.faults.limit_factor(target.provider.name, target.label, now)
        in_tok = call.input_tokens * scale
        out_tok = limits.charged_output(call.output_tokens, target.model.requested_max_tokens) * scale
        unused = out_tok - call.output_tokens * scale
        if not self.smooth:
            admission = limits.try_admit(now, in_tok, out_tok, scale)
            if admission.admitted:
                return Gate(GO, 0.0, None, unused) if unused > 0 else PASS
            return TOO_LARGE_GATE if admission.too_large else Gate(RATE_LIMITED_429,
                                                                   retry_after_s=admission.retry_after_s)
        wait_s = limits.reserve(now, in_tok, out_tok, scale)
        if wait_s == math.inf:
            return TOO_LARGE_GATE
        if wait_s > 0 and now + wait_s - call.arrival_s > self.patience_s:
            limits.refund(now, in_tok, out_tok, scale)
            return SHED_GATE
        return _new_tuple(Gate, (GO, wait_s, None, unused)) if wait_s > 0 or unused > 0 else PASS

    def _draw(self, call: LlmCall, target: Target, attempt: int, effect, start_s: float) -> AttemptResult:
        """The model's answer to this attempt, within what is left of the request's deadline."""
        model = target.model
        extra_wrong = self.compression_wrong
        if model.cheap_tier and self.needs_strong[call.request]:
            extra_wrong += self.hard_extra_error
        left_s = max(0.0, call.arrival_s + self.deadline_s - start_s)
        return model.draw(call.input_tokens, call.output_tokens, 1 if attempt > 1 else 0, effect, extra_wrong,
                          self.answer_u[call.request] if call.index == 0 else None, left_s)

    def _account(self, call: LlmCall, target: Target, breaker, attempt: int, start_s: float,
                 answer: AttemptResult) -> None:
        """Write the attempt to ``calls`` and the request's columns, tell the breaker, count the spend."""
        rec, i = self.rec, call.request
        rec.call(request_id=i, call_index=call.index, attempt=attempt, target=target.code, start_s=start_s,
                 end_s=start_s + answer.duration_s, status=answer.status, input_tokens=call.input_tokens,
                 output_tokens=call.output_tokens, cost_usd=answer.cost_usd, hallucinated=answer.hallucinated,
                 parse_failed=answer.parse_failed)
        rec.attempts[i] += 1
        rec.target[i] = target.code
        if breaker is not NO_BREAKER:
            self._breaker_feedback(breaker, answer)
        if answer.status == OK:
            rec.input_tokens[i] += call.input_tokens
            rec.output_tokens[i] += call.output_tokens
            rec.llm_cost_usd[i] += answer.cost_usd
            rec.first_token_s[i] = start_s + answer.ttft_s
            if answer.cost_usd > 0 and self.kill_switch is not NO_KILL_SWITCH:
                self._spend(i, answer.cost_usd)

    def _breaker_feedback(self, breaker, answer: AttemptResult | None) -> None:
        """How the breaker's permit was used. An attempt never made (None), or one that says nothing about
        the provider's health (a refusal, a call too large, a 429 unless counted), gives it back; any other
        is recorded, its answer's quality as the online evaluator sees it."""
        if answer is None or answer.status in self.not_health_signals:
            breaker.release()
            return
        wrong, unparseable = answer.hallucinated, answer.parse_failed
        if self.evaluator is not None and answer.status == OK:
            wrong, unparseable = self.evaluator.flags(wrong), self.evaluator.flags(unparseable)
        breaker.record(answer.status == OK, answer.duration_s, hallucinated=wrong, parse_failed=unparseable,
                       cost_usd=answer.cost_usd)

    def _after_failure(self, call: LlmCall, attempt: int, status: int,
                       retry_after_s: float | None) -> tuple[CallResult | None, float]:
        """The retry decision after a failed attempt: (the call's result, 0.0) when it gives up -- the retry
        policy says no, or the retry would start after the deadline -- else (None, the backoff to wait)."""
        delay_s = self._retry_delay_s(attempt, status, retry_after_s)
        if delay_s is None:
            return _GIVE_UP[status], 0.0
        if self.env.now + delay_s >= call.arrival_s + self.deadline_s:
            return TIMED_OUT, 0.0                       # the retry would start after the deadline
        return None, delay_s

    def _retry_delay_s(self, attempt: int, status: int, retry_after_s: float | None) -> float | None:
        """The retry policy's answer after a failed attempt: the backoff, or None to give up. A call too
        large for the limits, or for the model's context window, is never retried (no retry could pass)."""
        if status == TOO_LARGE or status == CONTEXT_EXCEEDED:
            return None
        return self.retry.delay_s(attempt, _STATUS_NAME[status], self._jitter_u(), retry_after_s)

    def _spend(self, i: int, cost: float) -> None:
        """Count a finished call's cost against the budget; note how far past a hard limit spend has gone."""
        switch = self.kill_switch
        switch.record_spend(cost, self.user_id[i])
        for window, limit in self.kill_limits.items():
            over = switch.spend_usd(window) - limit
            if over > self.spend_overshoot_usd:
                self.spend_overshoot_usd = over
