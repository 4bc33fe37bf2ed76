"""Circuit breaker: stop calling a model deployment that is failing, then probe carefully before trusting it again.

The picture is the fuse box in a house. When a circuit draws too much current the breaker trips and the
circuit goes dark, so that one faulty kettle does not set the wiring on fire; after a while someone flips it
back and watches whether it trips again. In an LLM gateway the "circuit" is one deployment (a provider's
model behind one endpoint). When too many of its recent calls fail, are too slow, or -- particular to LLMs --
come back as hallucinations, unparseable output or unexpectedly expensive answers, the gateway stops sending
it traffic (the breaker is *open*) and lets the router fall back to another deployment instead of queueing
users behind a sick one. After ``wait_in_open_s`` the breaker goes *half-open*: a few trial calls are let
through; if they look healthy the breaker *closes* (normal service, a fresh window of statistics), otherwise
it opens again for another wait.

Vocabulary and semantics follow resilience4j's ``CircuitBreaker``:

* ``closed`` -- calls flow; every result is recorded in a sliding window.
* the sliding window is either the last ``window_size`` *calls* (``window_type="count"``) or the calls of
  the last ``window_size`` *seconds* (``window_type="time"``), kept like resilience4j as one aggregate per
  epoch second, so a call drops out between ``window_size - 1`` and ``window_size`` seconds after it was
  recorded, depending on where in its second it fell;
* rates are only judged once the window holds at least ``minimum_calls`` calls (for a count window at most
  ``window_size`` can ever be held, so the effective minimum is ``min(minimum_calls, window_size)``);
* the breaker trips when a rate is **greater than or equal to** its threshold; a call is *slow* when its
  duration is strictly greater than ``slow_call_duration_s``; slow calls are counted whether they succeeded
  or failed, exactly like resilience4j's "slow success" + "slow error";
* ``open`` -- calls are refused until ``wait_in_open_s`` has passed; the first :meth:`CircuitBreaker.allow`
  after that moves the breaker to ``half_open`` (resilience4j's default, with its automatic transition
  disabled: nothing happens without traffic, and :attr:`CircuitBreaker.state` keeps reporting ``open``
  until a caller asks);
* ``half_open`` -- at most ``permitted_calls_in_half_open`` trial calls are admitted for the whole
  half-open episode; once that many results are in, the trial is judged against the same thresholds
  (``>=`` means failed -> ``open``, otherwise -> ``closed`` with a fresh window).

The LLM-specific trip conditions are judged over the same window: the hallucination rate and the
parse-failure rate (fractions of recorded calls flagged so by the caller, e.g. by a grader or a JSON schema
check) and the mean cost per call in USD (a model that suddenly writes ten times longer answers is an
incident even when every call "succeeds").

A second, simpler ``mode="cooldown"`` imitates LiteLLM's router cooldown: ``cooldown_failures`` failed
calls within ``cooldown_window_s`` put the deployment in ``open`` for ``cooldown_s``; when that time has
passed it is simply back in ``closed`` -- no half-open probing, and the failure count starts again from
zero. (LiteLLM's ``allowed_fails = k`` cools down on the ``k + 1``-th failure, i.e. ``cooldown_failures =
k + 1`` here.) The cooldown ends at a fixed instant, so that transition is stamped with the exact expiry
time ``opened_at + cooldown_s`` whenever it is first noticed (by ``allow``, ``record`` or ``state``).

Results that arrive while the breaker is open -- calls admitted while it was still closed that finish
after it tripped -- are *not* added to any window and trigger nothing: the window that caused the trip is
frozen as evidence, and a fresh window starts when the breaker closes again. They are counted in
:attr:`CircuitBreaker.ignored_results` so they are not silently lost. In ``half_open`` only as many results
are accepted as trial permits were issued; extra ones are stragglers from before the trip and are ignored
the same way. (A straggler that happens to finish while a trial permit is outstanding cannot be told apart
from the trial call with a plain ``bool`` permit; resilience4j has the same property.)

Time comes from an injected ``clock`` (a callable returning seconds), so the class is plain Python: a
simulation passes ``lambda: env.now``, a real gateway ``time.monotonic``, a unit test a fake clock.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Callable, Literal, NamedTuple, Optional

from sim.policies._validation import MAX_COUNT, check_fields, choice, integer, number

Clock = Callable[[], float]

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"
STATES = (CLOSED, HALF_OPEN, OPEN)

#: Why a breaker opens: the threshold that was met (a rate's name, or the cooldown's failure count).
TRIP_CAUSES = ("failure_rate", "slow_call_rate", "hallucination_rate", "parse_failure_rate", "cost_per_request",
               "cooldown_failures")
#: Why a breaker leaves ``open`` or ``half_open`` without a threshold being met.
RECOVERY_CAUSES = ("wait_in_open_elapsed", "trial_passed", "cooldown_elapsed")
CAUSES = TRIP_CAUSES + RECOVERY_CAUSES

Mode = Literal["breaker", "cooldown"]
WindowType = Literal["count", "time"]


@dataclass(frozen=True)
class BreakerConfig:
    """Settings of one :class:`CircuitBreaker`; defaults are resilience4j's where it has one.

    Rates are fractions in (0, 1], not percents. ``window_size`` counts calls for a count window and whole
    seconds for a time window. The ``hallucination_rate_threshold``, ``parse_failure_rate_threshold`` and
    ``cost_per_request_threshold_usd`` conditions are off when ``None``. The ``cooldown_*`` fields are only
    used in ``mode="cooldown"``; the other rate/window fields only in ``mode="breaker"``. This is also the
    scenario's ``resilience.breaker`` section (see :mod:`sim.policies._validation`).
    """

    __pydantic_config__ = {"extra": "forbid"}

    mode: Mode = choice("breaker", "resilience4j state machine, or LiteLLM-style cooldown "
                                   "(N fails in a window -> out for T s).")
    window_type: WindowType = choice("count", "Sliding window over calls or seconds.")
    window_size: int = integer(100, "Calls (count window) or seconds (time window).", ge=1, le=MAX_COUNT)
    minimum_calls: int = integer(100, "Calls in the window before rates are evaluated.", ge=1)
    failure_rate_threshold: float = number(0.5, "Open when the failure rate is >= this.", gt=0, le=1)
    slow_call_rate_threshold: float = number(1.0, "Open when the slow-call rate is >= this.", gt=0, le=1)
    slow_call_duration_s: float = number(60.0, "A call slower than this is slow.", gt=0, unit="s")
    wait_in_open_s: float = number(60.0, "Time open before half-open probing.", gt=0, unit="s")
    permitted_calls_in_half_open: int = integer(10, "Trial calls in half-open.", ge=1)
    hallucination_rate_threshold: Optional[float] = number(
        None, "Open when the share of wrong answers in the window is >= this; None = off.", gt=0, le=1)
    parse_failure_rate_threshold: Optional[float] = number(
        None, "Open when the share of unparseable answers in the window is >= this; None = off.", gt=0, le=1)
    cost_per_request_threshold_usd: Optional[float] = number(
        None, "Open when the mean cost per call in the window is >= this; None = off.", gt=0)
    cooldown_failures: int = integer(3, "cooldown mode: failures that start a cooldown.", ge=1)
    cooldown_window_s: float = number(60.0, "cooldown mode: window counting failures.", gt=0, unit="s")
    cooldown_s: float = number(60.0, "cooldown mode: how long a target sits out.", gt=0, unit="s")

    def __post_init__(self) -> None:
        check_fields(self)

    @property
    def effective_minimum_calls(self) -> int:
        """Calls the window must hold before rates are judged (a count window can never hold more than its size)."""
        if self.window_type == "count":
            return min(self.minimum_calls, self.window_size)
        return self.minimum_calls


class Transition(NamedTuple):
    """One state change: when, from what, to what, and why, as data.

    ``cause`` is one of :data:`CAUSES`. When a threshold was met (a cause in :data:`TRIP_CAUSES`),
    ``value`` is what the window or trial measured (a rate, a mean cost in USD, or a count of failures) and
    ``threshold`` the setting it met; for ``cooldown_failures``, ``window_s`` is the window the failures
    were counted in. :attr:`reason` renders it all as one sentence, for people.
    """

    time_s: float
    from_state: str
    to_state: str
    cause: str
    value: float = math.nan
    threshold: float = math.nan
    window_s: float = math.nan

    @property
    def reason(self) -> str:
        """Human-readable, e.g. ``"failure_rate 0.62 >= 0.50"``; never parse it, read the fields."""
        if self.cause == "cooldown_failures":
            return (f"cooldown_failures {self.value:.0f} >= {self.threshold:.0f} "
                    f"within {self.window_s:g}s")
        if self.cause in TRIP_CAUSES:
            fmt = ".6f" if self.cause == "cost_per_request" else ".2f"
            text = f"{self.cause} {self.value:{fmt}} >= {self.threshold:{fmt}}"
            return f"half_open trial failed: {text}" if self.from_state == HALF_OPEN else text
        return {"wait_in_open_elapsed": "wait_in_open elapsed", "trial_passed": "half_open trial passed",
                "cooldown_elapsed": "cooldown elapsed"}.get(self.cause, self.cause)


TransitionCallback = Callable[[Transition], None]


class _ThresholdMet(NamedTuple):
    cause: str
    value: float
    threshold: float


@dataclass(frozen=True)
class WindowStats:
    """What the breaker currently sees in its window (closed) or trial (half-open)."""

    calls: int
    failure_rate: float
    slow_call_rate: float
    hallucination_rate: float
    parse_failure_rate: float
    mean_cost_usd: float


class _Tally:
    """Running sums of call outcomes; the unit that windows add and subtract."""

    __slots__ = ("calls", "failures", "slow", "hallucinated", "parse_failed", "cost_usd")

    def __init__(self) -> None:
        self.calls = 0
        self.failures = 0
        self.slow = 0
        self.hallucinated = 0
        self.parse_failed = 0
        self.cost_usd = 0.0

    def add(self, outcome: "_Outcome") -> None:
        self.calls += 1
        self.failures += outcome.failed
        self.slow += outcome.slow
        self.hallucinated += outcome.hallucinated
        self.parse_failed += outcome.parse_failed
        self.cost_usd += outcome.cost_usd

    def subtract_outcome(self, outcome: "_Outcome") -> None:
        self.calls -= 1
        self.failures -= outcome.failed
        self.slow -= outcome.slow
        self.hallucinated -= outcome.hallucinated
        self.parse_failed -= outcome.parse_failed
        self._subtract_cost(outcome.cost_usd)

    def replace(self, evicted: "_Outcome", outcome: "_Outcome") -> None:
        """:meth:`subtract_outcome` of ``evicted`` then :meth:`add` of ``outcome``, in one call (the same
        arithmetic in the same order: a full count window does this on every call)."""
        failed, slow, hallucinated, parse_failed, cost_usd = evicted
        calls = self.calls - 1
        cost = 0.0 if calls == 0 else max(0.0, self.cost_usd - cost_usd)
        failed_in, slow_in, hallucinated_in, parse_failed_in, cost_in = outcome
        self.calls = calls + 1
        self.failures = self.failures - failed + failed_in
        self.slow = self.slow - slow + slow_in
        self.hallucinated = self.hallucinated - hallucinated + hallucinated_in
        self.parse_failed = self.parse_failed - parse_failed + parse_failed_in
        self.cost_usd = cost + cost_in

    def subtract_tally(self, other: "_Tally") -> None:
        self.calls -= other.calls
        self.failures -= other.failures
        self.slow -= other.slow
        self.hallucinated -= other.hallucinated
        self.parse_failed -= other.parse_failed
        self._subtract_cost(other.cost_usd)

    def _subtract_cost(self, cost_usd: float) -> None:
        # Running float sums drift by a few ulps; an empty window must read exactly zero.
        self.cost_usd = 0.0 if self.calls == 0 else max(0.0, self.cost_usd - cost_usd)

    def stats(self) -> WindowStats:
        if self.calls == 0:
            return WindowStats(0, 0.0, 0.0, 0.0, 0.0, 0.0)
        n = self.calls
        return WindowStats(n, self.failures / n, self.slow / n, self.hallucinated / n,
                           self.parse_failed / n, self.cost_usd / n)


class _Outcome(NamedTuple):
    failed: int
    slow: int
    hallucinated: int
    parse_failed: int
    cost_usd: float


_new_outcome = tuple.__new__     # an _Outcome from a tuple of every field, without NamedTuple's slow __new__


class _CountWindow:
    """The last ``size`` outcomes in a ring buffer, with running sums: O(1) per call."""

    def __init__(self, size: int) -> None:
        self._ring: list[Optional[_Outcome]] = [None] * size
        self._next = 0
        self.totals = _Tally()

    def add(self, outcome: _Outcome, now_s: float) -> _Tally:
        """Add the outcome; the window's totals after it (what :meth:`current` would return)."""
        ring, slot = self._ring, self._next
        evicted = ring[slot]
        if evicted is None:
            self.totals.add(outcome)
        else:
            self.totals.replace(evicted, outcome)
        ring[slot] = outcome
        slot += 1
        self._next = 0 if slot == len(ring) else slot
        return self.totals

    def current(self, now_s: float) -> _Tally:
        return self.totals


class _TimeWindow:
    """Outcomes of the last ``size_s`` epoch seconds, one aggregate per second (resilience4j's layout).

    Only seconds that saw calls are stored, oldest first, in a deque; each second is added once and evicted
    once, so recording is O(1) amortised however long the gaps between calls.
    """

    def __init__(self, size_s: int) -> None:
        self._size_s = size_s
        self._buckets: deque[tuple[int, _Tally]] = deque()
        self.totals = _Tally()

    def _evict(self, now_s: float) -> None:
        oldest_kept = math.floor(now_s) - self._size_s + 1
        while self._buckets and self._buckets[0][0] < oldest_kept:
            _, tally = self._buckets.popleft()
            self.totals.subtract_tally(tally)

    def add(self, outcome: _Outcome, now_s: float) -> _Tally:
        """Add the outcome; the window's totals after it (what :meth:`current` would return)."""
        self._evict(now_s)
        second = math.floor(now_s)
        if not self._buckets or self._buckets[-1][0] != second:
            self._buckets.append((second, _Tally()))
        self._buckets[-1][1].add(outcome)
        self.totals.add(outcome)
        return self.totals

    def current(self, now_s: float) -> _Tally:
        self._evict(now_s)
        return self.totals


class CircuitBreaker:
    """A per-deployment circuit breaker (resilience4j semantics) with LLM-specific trip conditions.

    Usage, once per call::

        if breaker.allow():
            ...make the call...
            breaker.record(ok, duration_s, hallucinated=..., parse_failed=..., cost_usd=...)
        else:
            ...fall back / fail fast...

    ``clock`` returns the current time in seconds. ``on_transition(transition)`` is called with the
    :class:`Transition` after every state change, which is also appended to :attr:`transitions`.
    """

    def __init__(self, config: BreakerConfig, clock: Clock, *,
                 on_transition: Optional[TransitionCallback] = None) -> None:
        self.config = config
        self._clock = clock
        self._on_transition = on_transition
        self._state = CLOSED
        self.transitions: list[Transition] = []
        self.ignored_results = 0
        """Results recorded while open, or beyond the issued trial permits while half-open (see module doc)."""
        self._opened_at_s = 0.0
        self._evidence = WindowStats(0, 0.0, 0.0, 0.0, 0.0, 0.0)
        self._window = self._new_window()
        self._recent_failures_s: deque[float] = deque()   # cooldown mode: times of failures in the window
        self._trial = _Tally()
        self._trial_permits_issued = 0
        # settings read on every call, kept as attributes (the config is frozen)
        self._cooldown_mode = config.mode == "cooldown"
        self._slow_call_duration_s = config.slow_call_duration_s
        self._minimum_calls = config.effective_minimum_calls
        # (cause, the _Tally field whose share is compared, threshold) for each threshold set, in check order
        self._thresholds = [(cause, field, threshold) for cause, field, threshold in (
            ("failure_rate", "failures", config.failure_rate_threshold),
            ("slow_call_rate", "slow", config.slow_call_rate_threshold),
            ("hallucination_rate", "hallucinated", config.hallucination_rate_threshold),
            ("parse_failure_rate", "parse_failed", config.parse_failure_rate_threshold),
            ("cost_per_request", "cost_usd", config.cost_per_request_threshold_usd)) if threshold is not None]

    # ------------------------------------------------------------------------------------------ public API

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half_open"``.

        Reading it never admits a call. An expired *cooldown* is applied (it ends at a fixed instant), but
        an expired breaker wait is not: like resilience4j, the breaker stays ``open`` until :meth:`allow`
        is next asked.
        """
        self._end_cooldown_if_due(self._clock())
        return self._state

    def allow(self) -> bool:
        """Ask to make one call now; ``True`` admits it (and, in half-open, uses up one trial permit)."""
        if self._state == CLOSED:           # the common case, first: nothing to update (a cooldown ends in open)
            return True
        now_s = self._clock()
        self._end_cooldown_if_due(now_s)
        if self._state == CLOSED:
            return True
        if self._state == OPEN:
            if self.config.mode == "cooldown":
                return False
            if now_s - self._opened_at_s < self.config.wait_in_open_s:
                return False
            self._transition(Transition(now_s, OPEN, HALF_OPEN, "wait_in_open_elapsed"))
        # half-open
        if self._trial_permits_issued < self.config.permitted_calls_in_half_open:
            self._trial_permits_issued += 1
            return True
        return False

    def next_admission_s(self) -> float:
        """The earliest time at which :meth:`allow` could admit a call: now, unless the breaker is open."""
        now_s = self._clock()
        self._end_cooldown_if_due(now_s)
        if self._state != OPEN:
            return now_s
        wait_s = self.config.cooldown_s if self.config.mode == "cooldown" else self.config.wait_in_open_s
        return max(now_s, self._opened_at_s + wait_s)

    def release(self) -> None:
        """Give back a permit from :meth:`allow` whose call was never made (e.g. the retry budget said no).

        Only matters in half-open, where permits are scarce; elsewhere it does nothing.
        """
        if self._state == HALF_OPEN and self._trial_permits_issued > self._trial.calls:
            self._trial_permits_issued -= 1

    def record(self, ok: bool, duration_s: float, *, hallucinated: bool = False, parse_failed: bool = False,
               cost_usd: float = 0.0) -> None:
        """Record the result of a finished call.

        ``ok`` is False for an error or timeout; ``duration_s`` is the call's latency (compared strictly
        against ``slow_call_duration_s``); ``hallucinated``/``parse_failed`` are quality verdicts on an
        answer; ``cost_usd`` is what the call was billed.
        """
        if not 0.0 <= duration_s < math.inf:
            raise ValueError(f"record.duration_s: must be a finite number >= 0, got {duration_s!r}")
        if not 0.0 <= cost_usd < math.inf:
            raise ValueError(f"record.cost_usd: must be a finite number >= 0, got {cost_usd!r}")
        now_s = self._clock()
        if self._cooldown_mode:
            self._end_cooldown_if_due(now_s)
        if self._state == OPEN:
            self.ignored_results += 1
            return
        # (failed, slow, hallucinated, parse_failed, cost_usd), built as a plain tuple: this runs per call
        outcome = _new_outcome(_Outcome, (0 if ok else 1, 1 if duration_s > self._slow_call_duration_s else 0,
                                          1 if hallucinated else 0, 1 if parse_failed else 0, float(cost_usd)))
        if self._state == HALF_OPEN:
            self._record_trial(outcome, now_s)
        elif self.config.mode == "cooldown":
            self._record_cooldown(outcome, now_s)
        else:
            self._record_closed(outcome, now_s)

    def window_stats(self) -> WindowStats:
        """Rates over the sliding window (closed), the trial results so far (half-open), or -- while open --
        the statistics that tripped it (the window, or the failed trial), frozen as evidence."""
        now_s = self._clock()
        self._end_cooldown_if_due(now_s)
        if self._state == HALF_OPEN:
            return self._trial.stats()
        if self._state == OPEN:
            return self._evidence
        return self._window.current(now_s).stats()

    # ------------------------------------------------------------------------------------------ internals

    def _new_window(self):
        if self.config.window_type == "count":
            return _CountWindow(self.config.window_size)
        return _TimeWindow(self.config.window_size)

    def _threshold_met(self, tally: _Tally) -> Optional[_ThresholdMet]:
        """The first threshold the tally meets or exceeds; None if healthy."""
        # the rates of tally.stats(), computed only for the thresholds that are set (this runs per call)
        n = tally.calls
        for cause, field, threshold in self._thresholds:
            value = getattr(tally, field) / n if n else 0.0
            if value >= threshold:
                return _ThresholdMet(cause, float(value), float(threshold))
        return None

    def _record_closed(self, outcome: _Outcome, now_s: float) -> None:
        tally = self._window.add(outcome, now_s)
        if tally.calls < self._minimum_calls:
            return
        met = self._threshold_met(tally)
        if met is not None:
            self._open(Transition(now_s, CLOSED, OPEN, *met), tally.stats())

    def _record_trial(self, outcome: _Outcome, now_s: float) -> None:
        if self._trial.calls >= self._trial_permits_issued:
            self.ignored_results += 1       # a straggler admitted before the breaker opened
            return
        self._trial.add(outcome)
        if self._trial.calls < self.config.permitted_calls_in_half_open:
            return
        met = self._threshold_met(self._trial)
        if met is None:
            self._close(Transition(now_s, HALF_OPEN, CLOSED, "trial_passed"))
        else:
            self._open(Transition(now_s, HALF_OPEN, OPEN, *met), self._trial.stats())

    def _record_cooldown(self, outcome: _Outcome, now_s: float) -> None:
        self._window.add(outcome, now_s)          # observability only: cooldown mode judges failures alone
        if not outcome.failed:
            return
        failures = self._recent_failures_s
        failures.append(now_s)
        horizon_s = now_s - self.config.cooldown_window_s
        while failures and failures[0] <= horizon_s:
            failures.popleft()
        if len(failures) >= self.config.cooldown_failures:
            cfg = self.config
            self._open(Transition(now_s, CLOSED, OPEN, "cooldown_failures", float(len(failures)),
                                  float(cfg.cooldown_failures), float(cfg.cooldown_window_s)),
                       self._window.totals.stats())

    def _end_cooldown_if_due(self, now_s: float) -> None:
        if self.config.mode != "cooldown" or self._state != OPEN:
            return
        expires_at_s = self._opened_at_s + self.config.cooldown_s
        if now_s >= expires_at_s:
            self._close(Transition(expires_at_s, OPEN, CLOSED, "cooldown_elapsed"))

    def _open(self, transition: Transition, evidence: WindowStats) -> None:
        self._opened_at_s = transition.time_s
        self._evidence = evidence
        self._transition(transition)

    def _close(self, transition: Transition) -> None:
        self._window = self._new_window()
        self._recent_failures_s.clear()
        self._transition(transition)

    def _transition(self, transition: Transition) -> None:
        assert transition.from_state == self._state, (transition, self._state)
        self._state = transition.to_state
        if transition.to_state == HALF_OPEN:
            self._trial = _Tally()
            self._trial_permits_issued = 0
        self.transitions.append(transition)
        if self._on_transition is not None:
            self._on_transition(transition)
