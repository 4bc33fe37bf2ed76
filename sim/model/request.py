"""The request lifecycle: one SimPy process walks one user request through the layers.

A request arrives at the gateway (per-user rate limit, then a bounded queue in front of a pool of workers),
optionally runs a retrieval step, then makes its LLM calls, one after the other (an agent loop makes several,
with a tool step between them). Each LLM call is sent to a target (provider/model); an attempt first passes
the provider's admission (its RPM/TPM buckets, either waited for by the gateway's smoothing limiter or
answered with a 429, and its concurrency cap), then takes the time the model draws; a failed attempt is
retried after a backoff while the retry policy allows. The request ends in exactly one outcome.

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
from sim.policies.token_bucket import KeyedTokenBuckets
from sim.record import OUTCOME, Recorder

_STATUS_NAME = {ERROR: "error", TIMEOUT: "timeout", RATE_LIMITED: "rate_limited", REFUSED: "refused"}
_GIVE_UP_OUTCOME = {ERROR: OUTCOME["failed"], TIMEOUT: OUTCOME["timeout"], RATE_LIMITED: OUTCOME["failed"],
                    REFUSED: OUTCOME["refused"]}
O_OK, O_SHED, O_RATE_LIMITED = OUTCOME["ok"], OUTCOME["shed"], OUTCOME["rate_limited"]


class RequestFlow:
    """Wires the layers of one run together and runs each request through them."""

    def __init__(self, env: simpy.Environment, scenario: Scenario, workload: Workload, recorder: Recorder,
                 targets: list[Target], streams: Streams):
        self.env = env
        self.rec = recorder
        gw = scenario.gateway
        self.workers = simpy.Resource(env, gw.workers) if gw.workers else None
        self.max_queue = gw.max_queue
        self.max_wait_s = gw.max_queue_wait_s
        self.smooth = gw.smooth_to_provider_limits
        url = gw.user_rate_limit
        self.user_limit = KeyedTokenBuckets(url.requests_per_min / 60.0, url.burst) if url else None
        by_label = {t.label: t for t in targets}
        self.chain = [by_label[f"{p}/{m}"] for p, m in scenario.chain]
        r = scenario.resilience.retry
        self.retry = RetryPolicy(RetryConfig(
            max_attempts=r.max_attempts, base_delay_s=r.base_delay_s, multiplier=r.multiplier,
            max_delay_s=r.max_delay_s, jitter=r.jitter, honor_retry_after=r.honor_retry_after,
            max_retry_after_s=r.max_retry_after_s))
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
                        self._finish(i, O_SHED)
                        return
            rec.queue_wait_s[i] = env.now - t0
        try:
            if self.has_retrieval[i]:
                yield from self._step(i, self.retrieval)
            outcome = O_OK
            for k in range(self.llm_calls[i]):
                if k and self.tools is not None and self._step_u() < self.tools.probability:
                    yield from self._step(i, self.tools)
                outcome = yield from self._llm_call(i, k, t0)
                if outcome != O_OK:
                    break
            self._finish(i, outcome)
        finally:
            if slot is not None:
                workers.release(slot)

    def _finish(self, i: int, outcome: int) -> None:
        self.rec.outcome[i] = outcome
        self.rec.end_s[i] = self.env.now

    def _step(self, i: int, step):
        mean = step.latency.mean_s
        duration = mean if step.latency.type == "fixed" else -mean * math.log1p(-self._step_u())
        if duration > 0:
            yield self.env.timeout(duration)
        self.rec.step_cost_usd[i] += step.cost_usd

    # ------------------------------------------------------------------ one LLM call, with retries
    def _llm_call(self, i: int, k: int, t0: float):
        env, rec = self.env, self.rec
        target = self.chain[0]
        provider, model = target.provider, target.model
        in_tok, out_tok = self.input_tokens[i], self.output_tokens[i]
        attempt = 0
        while True:
            attempt += 1
            self.retry.record_call(attempt > 1)
            t_ask = env.now
            retry_after = None
            limits = provider.limits
            if limits is not None:
                if self.smooth:
                    wait = limits.reserve(t_ask, in_tok, out_tok)
                    if wait > 0:
                        if self.max_wait_s is not None and t_ask + wait - t0 > self.max_wait_s:
                            limits.refund(t_ask, in_tok, out_tok)
                            return O_SHED
                        yield env.timeout(wait)
                else:
                    retry_after = limits.try_admit(t_ask, in_tok, out_tok)
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
                status, duration, ttft, cost, halluc, parse_failed = model.draw(in_tok, out_tok, attempt > 1)
                yield env.timeout(duration)
                if slot is not None:
                    provider.slots.release(slot)
            rec.call(i, k, attempt, target.code, start, start + duration, status,
                     in_tok, out_tok, cost, halluc, parse_failed)
            rec.attempts[i] += 1
            rec.target[i] = target.code
            if status == OK:
                rec.input_tokens[i] += in_tok
                rec.output_tokens[i] += out_tok
                rec.llm_cost_usd[i] += cost
                rec.first_token_s[i] = start + ttft
                if halluc:
                    rec.hallucinated[i] = True
                if parse_failed:
                    rec.parse_failed[i] = True
                return O_OK
            delay = self.retry.delay_s(attempt, _STATUS_NAME[status], self._jitter_u(), retry_after)
            if delay is None:
                return _GIVE_UP_OUTCOME[status]
            if delay > 0:
                yield env.timeout(delay)

