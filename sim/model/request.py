"""The request lifecycle: one SimPy process walks one user request through the layers.

A request arrives at the gateway (per-user rate limit, then a bounded queue in front of a pool of workers),
optionally runs a retrieval step, then makes its LLM calls, one after the other (an agent loop makes several,
with a tool step between them). Each LLM call asks the budget kill switch first (hard limit: no call, the
request is ``killed``; soft limit: the cheapest model), then walks the routing chain: a target whose circuit
breaker is open is skipped; on a target, an attempt passes the provider's admission (its RPM/TPM buckets,
either waited for by the gateway's smoothing limiter or answered with a 429, and its concurrency cap), then
takes the time the model draws, with whatever the fault timeline imposes; a failed attempt is retried after
a backoff while the retry policy allows, and with fallback on, a target that gave up hands the call to the
next one. The request ends in exactly one outcome. A share of successful requests is mirrored to a shadow
candidate whose answer is judged but never returned.

The process is a plain generator with as few yields as the path needs: policies are called as methods and
results are written straight into the recorder's columns.
"""
from __future__ import annotations

import math

import simpy

from sim.config import Scenario
from sim.model.providers import ERROR, OK, RATE_LIMITED, REFUSED, TIMEOUT, Target
from sim.model.streams import Streams
from sim.model.workload import Workload
from sim.policies.retry import RetryConfig, RetryPolicy
from sim.policies.router import Router, threshold_for_strong_share
from sim.policies.token_bucket import KeyedTokenBuckets
from sim.model.cache_layer import HIT, MISS
from sim.record import OUTCOME, Recorder

_STATUS_NAME = {ERROR: "error", TIMEOUT: "timeout", RATE_LIMITED: "rate_limited", REFUSED: "refused"}
_GIVE_UP_OUTCOME = {ERROR: OUTCOME["failed"], TIMEOUT: OUTCOME["timeout"], RATE_LIMITED: OUTCOME["failed"],
                    REFUSED: OUTCOME["refused"]}
O_OK, O_SHED, O_RATE_LIMITED = OUTCOME["ok"], OUTCOME["shed"], OUTCOME["rate_limited"]
O_FAILED, O_REFUSED, O_KILLED = OUTCOME["failed"], OUTCOME["refused"], OUTCOME["killed"]
O_TIMEOUT = OUTCOME["timeout"]
ALL_OPEN_POLL_S = 0.5       # re-check interval while every breaker is open and a half-open trial is full
SPURIOUS_RETRY_AFTER_S = 1.0  # the Retry-After a sick rate-limit service sends with a spurious 429


class RequestFlow:
    """Wires the layers of one run together and runs each request through them."""

    def __init__(self, env: simpy.Environment, scenario: Scenario, workload: Workload, recorder: Recorder,
                 targets: list[Target], streams: Streams, *, faults=None, breakers=None, kill_switch=None,
                 shadow=None, cache=None):
        self.env = env
        self.rec = recorder
        gw = scenario.gateway
        self.workers = simpy.Resource(env, gw.workers) if gw.workers else None
        self.max_queue = gw.max_queue
        self.max_wait_s = gw.max_queue_wait_s
        self.smooth = gw.smooth_to_provider_limits
        self.deadline_s = gw.request_timeout_s
        url = gw.user_rate_limit
        self.user_limit = KeyedTokenBuckets(url.requests_per_min / 60.0, url.burst) if url else None
        by_label = {t.label: t for t in targets}
        self.chain = [by_label[f"{p}/{m}"] for p, m in scenario.chain]
        self.cheapest_first = sorted(self.chain, key=lambda t: t.model.price_rank)
        self._setup_router(scenario.routing, by_label, workload, streams)
        self.hard_extra_error = scenario.quality.hard_extra_error
        comp = scenario.compression
        self.compression = comp if comp.ratio < 1.0 else None
        self.compression_wrong = comp.hallucination_add if self.compression else 0.0
        res = scenario.resilience
        r = res.retry
        self.retry = RetryPolicy(RetryConfig(
            max_attempts=r.max_attempts, base_delay_s=r.base_delay_s, multiplier=r.multiplier,
            max_delay_s=r.max_delay_s, jitter=r.jitter, honor_retry_after=r.honor_retry_after,
            max_retry_after_s=r.max_retry_after_s, retry_budget_ratio=r.retry_budget_ratio,
            retry_budget_min_retries=r.retry_budget_min_retries))
        self.fallback = res.fallback
        self.wait_when_all_open = res.when_all_open == "wait"
        self.cache = cache                    # CacheLayer or None
        self.cache_when_all_open = res.when_all_open == "cache_only" and cache is not None
        self._nearest = {}                    # request -> its cache lookup, while it waits for an LLM
        self.record_rate_limited = res.breaker.record_rate_limited if res.breaker else False
        # what the breaker's AI conditions see: an online evaluator's verdicts, not the truth
        self.detector = None
        if res.breaker and (res.breaker.detector_recall < 1.0 or res.breaker.detector_false_positive_rate > 0):
            self.detector = (res.breaker.detector_recall, res.breaker.detector_false_positive_rate,
                             streams.uniform("breaker.detector"))
        self.faults = faults                  # FaultTimeline or None
        self.breakers = breakers or {}        # target code -> CircuitBreaker
        self.kill_switch = kill_switch        # BudgetKillSwitch or None
        self.kill_limits = {w: getattr(res.kill_switch, f"per_{w}_usd") for w in ("hour", "day", "month")
                            if res.kill_switch and getattr(res.kill_switch, f"per_{w}_usd")}
        self.spend_overshoot_usd = 0.0
        self.shadow = shadow                  # ShadowRun or None
        self._jitter_u = streams.uniform("retry.jitter")
        wl = scenario.workload
        self.retrieval = wl.retrieval
        self.tools = wl.tools
        self._step_u = streams.uniform("steps")
        # Python lists: scalar reads from them are several times cheaper than from numpy arrays.
        self.arrival_s = workload.arrival_s.tolist()
        self.user_id = workload.user_id.tolist()
        self.input_tokens = workload.input_tokens.tolist()
        self.output_tokens = workload.output_tokens.tolist()
        self.llm_calls = workload.llm_calls.tolist()
        self.has_retrieval = workload.retrieval.tolist()
        self.needs_strong = workload.needs_strong.tolist()
        self.answer_u = workload.answer_u.tolist()

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
        self.router_score = workload.router_score.tolist()
        self._route_u = streams.uniform("router.route")
        self._cascade_u = streams.uniform("router.cascade")

    # ------------------------------------------------------------------ arrivals
    def source(self):
        env, rec, user_limit, handle = self.env, self.rec, self.user_limit, self.handle
        for i, t in enumerate(self.arrival_s):
            if t > env.now:
                yield env.timeout(t - env.now)
            if user_limit is not None and not user_limit.allow(self.user_id[i], t):
                rec.outcome[i] = O_RATE_LIMITED
                rec.end_s[i] = t
                continue
            env.process(handle(i))

    # ------------------------------------------------------------------ one request
    def handle(self, i: int):
        env, rec = self.env, self.rec
        t0 = env.now
        slot = None
        workers = self.workers
        if workers is not None:
            if self.max_queue is not None and len(workers.queue) >= self.max_queue:
                self._finish(i, O_SHED)
                return
            slot = workers.request()
            if not slot.triggered:
                if self.max_wait_s is None:
                    yield slot
                else:
                    yield slot | env.timeout(self.max_wait_s)
                    if not slot.triggered:
                        slot.cancel()
                        rec.queue_wait_s[i] = env.now - t0      # it waited its whole patience
                        self._finish(i, O_SHED)
                        return
            rec.queue_wait_s[i] = env.now - t0
        try:
            if self.cache is not None:
                served = yield from self._cache_lookup(i)
                if served:
                    return
            in_tok, out_tok, n_calls = self.input_tokens[i], self.output_tokens[i], self.llm_calls[i]
            if self.faults is not None:
                spike = self.faults.request_effect(t0)
                if spike is not None:
                    multiplier, extra_calls = spike
                    in_tok, out_tok = round(in_tok * multiplier), round(out_tok * multiplier)
                    n_calls += extra_calls
            if self.has_retrieval[i]:
                yield from self._step(i, self.retrieval)
            if self.compression is not None:
                in_tok = max(1, round(in_tok * self.compression.ratio))
                if self.compression.latency_s > 0:
                    yield env.timeout(self.compression.latency_s)
            outcome = O_OK
            for k in range(n_calls):
                if k and self.tools is not None and self._step_u() < self.tools.probability:
                    yield from self._step(i, self.tools)
                outcome, wrong, unparseable = yield from self._llm_call(i, k, t0, in_tok, out_tok)
                if outcome != O_OK:
                    break
                if wrong:
                    rec.hallucinated[i] = True
                if unparseable:
                    rec.parse_failed[i] = True
            if self.cache is not None:
                found = self._nearest.pop(i, None)
                if outcome == O_OK and rec.cache[i] == MISS:
                    self.cache.store(i, env.now, found, bool(rec.hallucinated[i] or rec.parse_failed[i]))
            self._finish(i, outcome)
            if outcome == O_OK and self.shadow is not None and self._shadow_allowed(i):
                self.shadow.maybe_mirror(i, in_tok, out_tok)
        finally:
            if slot is not None:
                workers.release(slot)

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

    def _shadow_allowed(self, i: int) -> bool:
        return self.kill_switch is None or self.kill_switch.state(self.user_id[i]) == "normal"

    def _step(self, i: int, step):
        mean = step.latency.mean_s
        duration = mean if step.latency.type == "fixed" else -mean * math.log1p(-self._step_u())
        if duration > 0:
            yield self.env.timeout(duration)
        self.rec.step_cost_usd[i] += step.cost_usd

    # ------------------------------------------------------------------ one LLM call: budget, chain, breakers
    def _llm_call(self, i: int, k: int, t0: float, in_tok: int, out_tok: int):
        """One LLM call of request ``i``: (outcome, answer wrong, answer unparseable)."""
        chain = self.chain
        if self.kill_switch is not None:
            level = self.kill_switch.state(self.user_id[i])
            if level == "hard":
                return O_KILLED, False, False
            if level == "soft":
                return (yield from self._walk_chain(i, k, t0, in_tok, out_tok, self.cheapest_first))
        router = self.router
        if router is None:
            if not self.breakers and not self.fallback:      # the common case: one target, no policies
                return (yield from self._attempts(i, k, t0, in_tok, out_tok, chain[0], None))
            return (yield from self._walk_chain(i, k, t0, in_tok, out_tok, chain))
        tier = router.route(self.router_score[i], self._route_u() if router.strategy == "weighted" else 0.0)
        chain = self.strong_chain if tier == "strong" else self.cheap_chain
        result = yield from self._walk_chain(i, k, t0, in_tok, out_tok, chain)
        answered_by_cheap = result[0] == O_OK and self.rec.target[i] == self.cheap_target.code
        if router.strategy == "cascade" and answered_by_cheap \
                and router.escalate(result[1] or result[2], self._cascade_u()):
            # the cheap answer failed the confidence check: ask the strong model too (both are paid)
            return (yield from self._walk_chain(i, k, t0, in_tok, out_tok, self.strong_chain))
        return result

    def _walk_chain(self, i: int, k: int, t0: float, in_tok: int, out_tok: int, chain):
        """Try the chain's targets in order (skipping open breakers, falling back on failure)."""
        breakers = self.breakers
        while True:
            result, tried = (O_FAILED, False, False), False
            for target in chain:
                breaker = breakers.get(target.code)
                if breaker is not None and not breaker.allow():
                    continue
                tried = True
                result = yield from self._attempts(i, k, t0, in_tok, out_tok, target, breaker)
                if result[0] in (O_OK, O_REFUSED, O_SHED) or not self.fallback:
                    return result
            if not tried and self.cache_when_all_open and self._serve_degraded(i):
                return O_OK, False, False
            if tried or not self.wait_when_all_open:
                return result
            # every breaker is open: wait for the first to admit again, within the queue's patience
            now = self.env.now
            deadline = t0 + (self.max_wait_s if self.max_wait_s is not None else 0.0)
            earliest = min(breakers[t.code].next_admission_s() for t in chain)
            if earliest <= now:
                earliest = now + ALL_OPEN_POLL_S
            if earliest > deadline:
                return result
            yield self.env.timeout(earliest - now)

    # ------------------------------------------------------------------ attempts on one target, with retries
    def _attempts(self, i: int, k: int, t0: float, in_tok: int, out_tok: int, target: Target, breaker):
        env, rec = self.env, self.rec
        provider, model = target.provider, target.model
        faults = self.faults
        attempt = 0
        while True:
            attempt += 1
            if attempt > 1 and breaker is not None and not breaker.allow():
                return O_FAILED, False, False
            left_s = None
            if self.deadline_s is not None:
                left_s = t0 + self.deadline_s - env.now
                if left_s <= 0:
                    if breaker is not None:
                        breaker.release()
                    return O_TIMEOUT, False, False
            self.retry.record_call(attempt > 1)
            t_ask = env.now
            retry_after = None
            limits = provider.limits
            if limits is not None:
                # a rate_limit fault cutting the limits to a factor f makes each call weigh 1/f of them
                scale = 1.0 if faults is None else 1.0 / faults.limit_factor(provider.name, target.label, t_ask)
                if self.smooth:
                    wait = limits.reserve(t_ask, in_tok * scale, out_tok * scale, scale)
                    if wait > 0:
                        if self.max_wait_s is not None and t_ask + wait - t0 > self.max_wait_s:
                            limits.refund(t_ask, in_tok * scale, out_tok * scale, scale)
                            if breaker is not None:
                                breaker.release()
                            return O_SHED, False, False
                        yield env.timeout(wait)
                else:
                    retry_after = limits.try_admit(t_ask, in_tok * scale, out_tok * scale, scale)
            effect = faults.call_effect(provider.name, target.label, env.now) if faults is not None else None
            if not retry_after and effect is not None and effect.forced_status == RATE_LIMITED:
                retry_after = SPURIOUS_RETRY_AFTER_S
            if retry_after:
                status, duration, ttft, cost, halluc, parse_failed = RATE_LIMITED, 0.0, 0.0, 0.0, False, False
                start = env.now
            else:
                slot = None
                if provider.slots is not None:
                    slot = provider.slots.request()
                    if not slot.triggered:
                        yield slot
                if k == 0 and attempt == 1:
                    rec.queue_wait_s[i] += env.now - t_ask
                start = env.now
                extra_wrong = self.compression_wrong
                if model.cheap_tier and self.needs_strong[i]:
                    extra_wrong += self.hard_extra_error
                if left_s is not None:
                    left_s = max(0.0, t0 + self.deadline_s - env.now)   # after any wait for a slot or limits
                status, duration, ttft, cost, halluc, parse_failed = model.draw(
                    in_tok, out_tok, 1 if attempt > 1 else 0, effect, extra_wrong,
                    self.answer_u[i] if k == 0 else None, left_s)
                yield env.timeout(duration)
                if slot is not None:
                    provider.slots.release(slot)
            rec.call(i, k, attempt, target.code, start, start + duration, status,
                     in_tok, out_tok, cost, halluc, parse_failed, False)
            rec.attempts[i] += 1
            rec.target[i] = target.code
            if breaker is not None:
                if status == RATE_LIMITED and not self.record_rate_limited or status == REFUSED:
                    breaker.release()
                else:
                    seen_wrong, seen_unparseable = halluc, parse_failed
                    if self.detector is not None and status == OK:
                        seen_wrong, seen_unparseable = self._detected(halluc), self._detected(parse_failed)
                    breaker.record(status == OK, duration, hallucinated=seen_wrong,
                                   parse_failed=seen_unparseable, cost_usd=cost)
            if status == OK:
                rec.input_tokens[i] += in_tok
                rec.output_tokens[i] += out_tok
                rec.llm_cost_usd[i] += cost
                rec.first_token_s[i] = start + ttft
                if self.kill_switch is not None and cost > 0:
                    self._spend(i, cost)
                return O_OK, halluc, parse_failed
            delay = self.retry.delay_s(attempt, _STATUS_NAME[status], self._jitter_u(), retry_after)
            if delay is None:
                return _GIVE_UP_OUTCOME[status], False, False
            if self.deadline_s is not None and env.now + delay >= t0 + self.deadline_s:
                return O_TIMEOUT, False, False               # the retry would start after the deadline
            if delay > 0:
                yield env.timeout(delay)

    def _detected(self, truly_bad: bool) -> bool:
        """The evaluator's verdict on one answer: it catches a bad one with its recall, and sometimes
        flags a good one."""
        recall, false_positive_rate, u = self.detector
        return u() < (recall if truly_bad else false_positive_rate)

    def _spend(self, i: int, cost: float) -> None:
        """Count a finished call's cost against the budget; note how far past a hard limit spend has gone."""
        switch = self.kill_switch
        switch.record_spend(cost, self.user_id[i])
        for window, limit in self.kill_limits.items():
            over = switch.spend_usd(window) - limit
            if over > self.spend_overshoot_usd:
                self.spend_overshoot_usd = over
