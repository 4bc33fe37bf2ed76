"""The callback path: a request of the common shape as a small state machine on SimPy events, not a process.

Picture a relay race run by a dispatcher instead of by runners: no one stands on the track waiting, the
dispatcher keeps a card per request ("on target 2, attempt 1, waiting for the provider") and, when a timer
rings, reads the card and does the next step. The steps are the generator path's (``RequestFlow.handle ->
_serve -> _walk_chain -> _attempts``), in the same order and with the same draws; only who carries the state
differs. A SimPy process per request costs an ``Initialize`` event, a process-end event and a generator
resumption through every layer at each wait; here each wait is the same SimPy event the generator path
waits on (a Timeout for the smoothing wait, the call and the backoff; the gateway pool's Request, or
Request | Timeout for a patience-bounded wait; a provider's concurrency Request), and its callback is the
continuation (:class:`RequestInFlight`).

Why the results are identical, not merely alike: SimPy orders events at the same time by (priority,
insertion). Every event the generator path schedules is scheduled here at the same moment and in the same
order, except the two this path removes, which carry no callbacks and so change nothing when processed (a
request's end) or run the request's first step right after the arrival (``Initialize``, urgent, so nothing
else can come between). The arrival source keeps that order by scheduling the next arrival before it starts
the requests that arrived now, as the generator source does by yielding before their ``Initialize`` runs.
``tests/model/test_callback_path.py`` runs both paths on scenarios with breakers, fallback, retries,
smoothing, 429s, shedding, abandonment, concurrency caps, faults and shadow traffic and compares the frames.

The shape it covers (:func:`callback_path_applies`): one LLM call per request, with no cache, retrieval,
compression, router or budget kill switch, and no cost-spike fault adding calls. Everything else stays on
the generator path, the general case and the reference.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from simpy.events import NORMAL

from sim.model.providers import CONTEXT_EXCEEDED, OK, RATE_LIMITED, TOO_LARGE, AttemptResult, _new_tuple
from sim.model.request import (_ENDS_THE_CHAIN, ANSWERED, CONTEXT_400, FAILED, NO_BREAKER, NO_FAULTS,
                               NO_KILL_SWITCH, O_OK, O_RATE_LIMITED, O_SHED, SHED, SHED_AT_LIMITS,
                               SPURIOUS_RETRY_AFTER_S, TIMED_OUT, TOO_LARGE_400, LlmCall)

if TYPE_CHECKING:
    from sim.model.request import RequestFlow


class _Wake:
    """A bare SimPy event for a wait nothing else shares: SimPy's ``step`` needs only its callbacks and its
    ``_ok``; scheduled with the environment's own ``schedule`` (normal priority, like a Timeout, so the
    order of events is a Timeout's), without a Timeout's construction."""

    __slots__ = ("callbacks",)
    _ok = True
    _value = None

    def __init__(self, callback):
        self.callbacks = (callback,)        # SimPy's step only iterates them; nothing else is ever added


def wake_after(env, delay_s: float, callback) -> None:
    """``callback(event)`` after ``delay_s`` (>= 0), as ``env.timeout(delay_s)`` with it as sole callback."""
    env.schedule(_Wake(callback), NORMAL, delay_s)


def callback_path_applies(flow: RequestFlow) -> bool:
    """Whether every request of the run has the shape :class:`RequestInFlight` runs: one LLM call, nothing in
    front of it but the gateway (its pool, queue and patience), nothing around it but the chain's policies
    (breakers, fallback, retries, limits with or without smoothing, concurrency caps, faults, shadow)."""
    spikes_add_calls = flow.faults is not NO_FAULTS and any(
        f.kind == "cost_spike" and f.extra_llm_calls for f in flow.faults.faults)
    return (not flow.groups and not flow.special_fallbacks and flow.cache is None and flow.compression is None and flow.router is None
            and flow.kill_switch is NO_KILL_SWITCH and not spikes_add_calls
            and not any(flow.has_retrieval) and all(n == 1 for n in flow.llm_calls))


def start_arrivals(env, flow: RequestFlow) -> None:
    """Start the run's requests: with the :class:`ArrivalClock` when they all have the callback path's shape
    (and the single-attempt path, leaner still, does not apply), else with the flow's arrival process (the
    generator and single-attempt paths). Before ``env.run()``: the clock schedules the first arrival at once,
    where the process would from its ``Initialize``; nothing else is scheduled yet, so the order is the same."""
    if not flow.single_attempt_path and callback_path_applies(flow):
        ArrivalClock(flow).start()
    else:
        env.process(flow.source())


class RequestInFlight:
    """One request on the callback path: where it is (the target, the attempt) and what it is waiting for.

    Each method is one step between two waits; a wait is a SimPy event whose callback is the next step.
    """

    __slots__ = ("flow", "i", "t0", "worker", "call", "pos", "tried", "result", "target", "breaker", "attempt",
                 "t_ask", "gate", "effect", "retry_after_s", "slot", "start_s", "answer", "attempts_made",
                 "answered_by")

    def __init__(self, flow: RequestFlow, i: int, t0: float):
        self.flow, self.i, self.t0 = flow, i, t0
        self.worker = self.slot = None
        self.attempts_made = 0          # the request's ``attempts`` and ``target`` columns, written at its end
        self.answered_by = -1

    # ------------------------------------------------------------------ the gateway (RequestFlow.handle)
    def begin(self) -> None:
        """A worker of the gateway's pool (shed when the queue is full), then the request's call."""
        flow = self.flow
        workers = flow.workers
        if workers is None:
            self.serve()
            return
        if flow.max_queue is not None and len(workers.queue) >= flow.max_queue:
            flow._finish(self.i, O_SHED)
            return
        slot = self.worker = workers.request()
        if slot.triggered:
            self._worker_answered(slot)
        elif flow.max_wait_s is None:
            slot.callbacks.append(self._worker_answered)
        else:
            (slot | flow.env.timeout(flow.max_wait_s)).callbacks.append(self._worker_answered)

    def _worker_answered(self, _event) -> None:
        """A worker, or the patience ran out first (the request abandons the queue: shed)."""
        flow, slot = self.flow, self.worker
        flow.rec.queue_wait_s[self.i] = flow.env.now - self.t0
        if not slot.triggered:
            slot.cancel()
            self.worker = None
            flow._finish(self.i, O_SHED)
            return
        self.serve()

    def serve(self) -> None:
        """The request's one LLM call (tokens after any cost spike), down the chain."""
        flow, i = self.flow, self.i
        in_tok, out_tok, _ = flow._spiked(i, self.t0)
        self.call = _new_tuple(LlmCall, (i, 0, self.t0, in_tok, out_tok))
        self.result, self.tried, self.pos = FAILED, False, 0
        self._next_target()

    # ------------------------------------------------------------------ the chain (RequestFlow._walk_chain)
    def _walk(self, _event) -> None:
        """A new walk down the chain, after every breaker was open and the wait for one to admit is over."""
        self.result, self.tried, self.pos = FAILED, False, 0
        self._next_target()

    def _next_target(self) -> None:
        """The next target whose breaker admits the call; when none is left, the chain's result (or, every
        breaker open and ``when_all_open: wait``, a wait until one admits again and a new walk)."""
        flow = self.flow
        chain = flow.chain
        while self.pos < len(chain):
            target = chain[self.pos]
            self.pos += 1
            breaker = flow.breaker_of[target.code]
            if not breaker.allow():
                continue
            self.tried = True
            self.target, self.breaker, self.attempt = target, breaker, 0
            self._attempt()
            return
        if self.tried or not flow.wait_when_all_open:
            self._done(self.result)
            return
        wait_s = flow._all_open_wait_s(self.call, chain)
        if wait_s is None:
            self._done(self.result)
            return
        if self.attempts_made == 0:         # RequestFlow._count_queue_wait: before the first attempt
            flow.rec.queue_wait_s[self.i] += wait_s
        wake_after(flow.env, wait_s, self._walk)

    def _target_gave_its_answer(self, result) -> None:
        self.result = result
        flow = self.flow
        if result.outcome in _ENDS_THE_CHAIN or not flow.fallback or result.status not in flow.fallback_on:
            self._done(result)
        else:
            self._next_target()

    # ------------------------------------------------------------------ attempts on a target (_attempts)
    def _attempt(self, _event=None) -> None:
        """Admission: the breaker (for a retry), the deadline, the retry count, the provider's limits."""
        flow, call, breaker = self.flow, self.call, self.breaker
        self.attempt += 1
        attempt = self.attempt
        if attempt > 1 and not breaker.allow():
            self._target_gave_its_answer(FAILED)
            return
        env = flow.env
        self.t_ask = env.now
        if self.t_ask >= call.arrival_s + flow.deadline_s:
            flow._breaker_feedback(breaker, None)
            self._target_gave_its_answer(TIMED_OUT)
            return
        flow.retry.record_call(attempt > 1)
        gate = self.gate = flow._ask_limits(call, self.target)
        if gate.verdict == SHED_AT_LIMITS:
            flow._breaker_feedback(breaker, None)
            self._target_gave_its_answer(SHED)
        elif gate.wait_s > 0:
            wake_after(env, gate.wait_s, self._go)
        else:
            self._go()

    def _go(self, _event=None) -> None:
        """The attempt goes: a 400 or a 429 at once, or a concurrency slot and then the call."""
        flow, gate, target = self.flow, self.gate, self.target
        start_s = flow.env.now
        verdict = gate.verdict
        if verdict == TOO_LARGE_400 or verdict == CONTEXT_400:
            self.retry_after_s = None
            self._answered(start_s, AttemptResult(TOO_LARGE if verdict == TOO_LARGE_400 else CONTEXT_EXCEEDED, 0.0))
            return
        provider = target.provider
        effect = self.effect = flow.faults.call_effect(provider.name, target.label, start_s)
        retry_after_s = self.retry_after_s = gate.retry_after_s
        if retry_after_s is None and effect is not None and effect.forced_status == RATE_LIMITED:
            retry_after_s = self.retry_after_s = SPURIOUS_RETRY_AFTER_S
        if retry_after_s is not None:
            if gate.unused_output:
                provider.limits.settle(start_s, gate.unused_output, 0.0)
            self._answered(start_s, AttemptResult(RATE_LIMITED, 0.0))
            return
        if provider.slots is not None:
            slot = self.slot = provider.slots.request()
            if not slot.triggered:
                slot.callbacks.append(self._call)
                return
        self._call()

    def _call(self, _event=None) -> None:
        """The model's draw, and a Timeout for the time it takes."""
        flow, call = self.flow, self.call
        env = flow.env
        start_s = self.start_s = env.now
        if self.attempt == 1 and start_s > self.t_ask:      # adding 0.0 would leave the column as it is
            flow.rec.queue_wait_s[call.request] += start_s - self.t_ask
        answer = self.answer = flow._draw(call, self.target, self.attempt, self.effect, start_s)
        wake_after(env, answer.duration_s, self._call_ended)

    def _call_ended(self, _event) -> None:
        provider, gate = self.target.provider, self.gate
        if self.slot is not None:
            provider.slots.release(self.slot)
            self.slot = None
        if gate.unused_output:
            provider.limits.settle(self.flow.env.now, gate.unused_output, 0.0)
        self._answered(self.start_s, self.answer)

    def _answered(self, start_s: float, answer: AttemptResult) -> None:
        """Accounting, then the retry decision: the answer, a give-up, or a backoff and the next attempt."""
        flow, call = self.flow, self.call
        self._account(start_s, answer)
        status = answer.status
        if status == OK:                                        # an answer ends the chain
            self._done(ANSWERED[answer.hallucinated][answer.parse_failed])
            return
        gave_up, delay_s = flow._after_failure(call, self.attempt, status, self.retry_after_s)
        if gave_up is not None:
            self._target_gave_its_answer(gave_up)
        elif delay_s > 0:
            wake_after(flow.env, delay_s, self._attempt)
        else:
            self._attempt()

    def _account(self, start_s: float, answer: AttemptResult) -> None:
        """:meth:`RequestFlow._account` for a request of one call and no budget: the attempt's row of ``calls``
        and the breaker's feedback now; of the request's columns, what an answer sets (the request's only
        answer, so ``=`` is the generator's ``+=`` from zero) now, and its attempts and last target at its
        end (:meth:`_done`), as one store each instead of a numpy ``+=`` per attempt (nothing on this path
        reads them before)."""
        flow, call, target = self.flow, self.call, self.target
        rec = flow.rec
        rec.call(request_id=call.request, call_index=call.index, attempt=self.attempt, target=target.code,
                 start_s=start_s, end_s=start_s + answer.duration_s, status=answer.status,
                 input_tokens=call.input_tokens, output_tokens=call.output_tokens, cost_usd=answer.cost_usd,
                 hallucinated=answer.hallucinated, parse_failed=answer.parse_failed)
        self.attempts_made += 1
        self.answered_by = target.code
        if self.breaker is not NO_BREAKER:
            flow._breaker_feedback(self.breaker, answer)
        if answer.status == OK:
            i = call.request
            rec.input_tokens[i] = call.input_tokens
            rec.output_tokens[i] = call.output_tokens
            rec.llm_cost_usd[i] = answer.cost_usd
            rec.first_token_s[i] = start_s + answer.ttft_s

    # ------------------------------------------------------------------ the end (_serve's and handle's tail)
    def _done(self, result) -> None:
        flow, i = self.flow, self.i
        if self.attempts_made:
            flow.rec.attempts[i] = self.attempts_made
            flow.rec.target[i] = self.answered_by
        outcome = result.outcome
        if outcome == O_OK:
            if result.wrong:
                flow.rec.hallucinated[i] = True
            if result.unparseable:
                flow.rec.parse_failed[i] = True
        flow._finish(i, outcome)
        if outcome == O_OK and flow.shadow is not None and flow.kill_switch.state(flow.user_id[i]) == "normal":
            flow.shadow.maybe_mirror(i, self.call.input_tokens, self.call.output_tokens)
        if self.worker is not None:
            flow.workers.release(self.worker)


class ArrivalClock:
    """The callback path's arrival source: a Timeout per arrival time, whose callback schedules the next one
    and then starts the requests arriving now (the generator source's order: it yields before their
    ``Initialize`` events run). The arrival a Timeout was set for arrives when it rings, whatever the float
    rounding of ``now + (t - now)``, as in the generator source."""

    __slots__ = ("flow", "_next", "_n")

    def __init__(self, flow: RequestFlow):
        self.flow, self._next, self._n = flow, 0, len(flow.arrival_s)

    def start(self) -> None:
        self._ring(None)

    def _ring(self, event) -> None:
        flow = self.flow
        arrival_s, now, n = flow.arrival_s, flow.env.now, self._n
        first = i = self._next
        if event is not None:
            i += 1                                  # the arrival this Timeout was set for
        while i < n and arrival_s[i] <= now:
            i += 1
        self._next = i
        if i < n:
            wake_after(flow.env, arrival_s[i] - now, self._ring)
        user_limit = flow.user_limit
        for j in range(first, i):
            if user_limit is not None and not user_limit.allow(flow.user_id[j], arrival_s[j]):
                flow.rec.outcome[j] = O_RATE_LIMITED       # the user's own limit: never reaches the gateway
                flow.rec.end_s[j] = arrival_s[j]
            else:
                RequestInFlight(flow, j, now).begin()
