"""Budget kill switch: stop an LLM application from spending money it does not have.

Picture a pay-as-you-go phone with a spending cap. As you approach the cap the phone warns you and
switches to the cheap plan; at the cap it stops making calls, but a call already in progress is not cut
off -- it finishes and is billed. An LLM application has the same risk in a sharper form: a retry storm, a
prompt-injection loop or a traffic spike can run up thousands of dollars in an hour, and the bill only
arrives afterwards.

:class:`BudgetKillSwitch` watches spend over sliding windows -- the last hour, day and 30-day "month",
and per user per day -- each with an optional limit in USD:

* ``normal`` -- below ``soft_fraction * limit`` in every window;
* ``soft`` -- some window has reached ``soft_fraction * limit``: the gateway should route everything to
  the cheapest model and stop optional (shadow / evaluation) traffic;
* ``hard`` -- some window has reached its limit: reject new LLM calls.

Spend is counted when a call *finishes* (that is when its tokens, hence its price, are known). So the
switch can only stop calls that have not started; calls already in flight when the limit is reached still
finish and are billed, and the spend overshoots the limit -- by at most :func:`max_overshoot_usd`.

**Granularity.** Windows are kept as per-minute buckets (``BUCKET_S = 60`` s, bucket ``k`` holds spend
recorded in ``[60k, 60k + 60)``) in a deque with a running sum, so recording is O(1) amortised and a
30-day window holds at most 43,201 buckets. A bucket leaves a window of length ``W`` when the clock
reaches ``(k + 1) * 60 + W``: every dollar counts for at least the full window and at most one minute
more. Erring on the side of remembering spend a little longer keeps the switch conservative. Recoveries
(``hard`` -> ``soft`` -> ``normal`` as old spend slides out) happen at those bucket boundaries and are
stamped with the boundary time, whenever they are first noticed.

Time comes from an injected ``clock`` (a callable returning seconds): ``lambda: env.now`` in a
simulation, ``time.time`` in a gateway, a fake clock in a test.
"""
from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from dataclasses import dataclass
from typing import Callable, Hashable, NamedTuple, Optional

from sim.policies._validation import check_fields, number

Clock = Callable[[], float]

BUCKET_S = 60.0
HOUR_S = 3600.0
DAY_S = 86400.0
MONTH_S = 30 * DAY_S

NORMAL = "normal"
SOFT = "soft"
HARD = "hard"
_LEVEL_RANK = {NORMAL: 0, SOFT: 1, HARD: 2}

_GLOBAL_WINDOWS = (("hour", HOUR_S, "per_hour_usd"), ("day", DAY_S, "per_day_usd"),
                   ("month", MONTH_S, "per_month_usd"))


@dataclass(frozen=True)
class KillSwitchConfig:
    """Spend limits in USD per sliding window (``None`` = no limit) and where the soft level starts.

    This is also the scenario's ``resilience.kill_switch`` section (see :mod:`sim.policies._validation`).
    """

    __pydantic_config__ = {"extra": "forbid"}

    per_hour_usd: Optional[float] = number(None, "Spend limit over a sliding hour; None = none.", gt=0)
    per_day_usd: Optional[float] = number(None, "Spend limit over a sliding day; None = none.", gt=0)
    per_month_usd: Optional[float] = number(None, "Spend limit over a sliding 30 days; None = none.", gt=0)
    per_user_per_day_usd: Optional[float] = number(None, "Spend limit per user per day; None = none.", gt=0)
    soft_fraction: float = number(0.8, "Soft limit as a share of each limit.", gt=0, le=1)

    def __post_init__(self) -> None:
        check_fields(self)


class BudgetTrip(NamedTuple):
    """A change of level in one window: the new ``level``, the window's spend and limit at that moment."""

    time_s: float
    level: str
    window: str
    spend_usd: float
    limit_usd: float


def max_overshoot_usd(max_in_flight_calls: int, max_cost_per_call_usd: float) -> float:
    """Upper bound on how far a window's spend can go past its hard limit: ``max_in_flight_calls * max_cost``.

    Why: spend is counted when a call finishes, and new calls are admitted only while the level is not
    ``hard``. Take any moment when a window's spend ``S`` is at or above the limit ``L``, and go back to the
    last instant ``t`` just before which ``S`` was still below ``L``. From ``t`` on the switch has been hard,
    so every call finishing since ``t`` -- the one whose bill crossed the limit included -- was already in
    flight just before ``t``: at most ``max_in_flight_calls`` calls, each billed at most
    ``max_cost_per_call_usd``. Old spend sliding out of the window only lowers ``S``. Hence
    ``S < L + max_in_flight_calls * max_cost_per_call_usd`` at all times, for every window (per-user windows
    with the user's own in-flight maximum). The bound is tight up to the strict inequality: spend just
    below ``L`` with ``max_in_flight_calls`` maximal-cost calls in flight reaches it.

    It is why a cap on concurrency is also a cap on financial exposure, and why the hard limit should sit
    this far below what the organisation can actually afford.
    """
    if isinstance(max_in_flight_calls, bool) or not isinstance(max_in_flight_calls, int) or max_in_flight_calls < 0:
        raise ValueError(f"max_in_flight_calls: must be an integer >= 0, got {max_in_flight_calls!r}")
    if not (max_cost_per_call_usd >= 0.0) or math.isinf(max_cost_per_call_usd):
        raise ValueError(f"max_cost_per_call_usd: must be a finite number >= 0, got {max_cost_per_call_usd!r}")
    return max_in_flight_calls * float(max_cost_per_call_usd)


class _SlidingSpend:
    """Spend over a sliding window as per-minute buckets (oldest first) with a running sum."""

    __slots__ = ("name", "span_s", "limit_usd", "buckets", "total_usd", "level")

    def __init__(self, name: str, span_s: float, limit_usd: Optional[float]) -> None:
        self.name = name
        self.span_s = span_s
        self.limit_usd = limit_usd
        self.buckets: deque[list] = deque()     # [bucket_index, spend_usd]
        self.total_usd = 0.0
        self.level = NORMAL

    def expiry_s(self, bucket_index: int) -> float:
        return (bucket_index + 1) * BUCKET_S + self.span_s

    def add(self, bucket_index: int, cost_usd: float) -> bool:
        """Add spend; True if this opened a new oldest bucket (the caller schedules its expiry)."""
        self.total_usd += cost_usd
        if self.buckets and self.buckets[-1][0] == bucket_index:
            self.buckets[-1][1] += cost_usd
            return False
        self.buckets.append([bucket_index, cost_usd])
        return len(self.buckets) == 1

    def pop_oldest(self) -> None:
        _, spend_usd = self.buckets.popleft()
        # Running float sums drift by a few ulps; an empty window must read exactly zero.
        self.total_usd = max(0.0, self.total_usd - spend_usd) if self.buckets else 0.0


class BudgetKillSwitch:
    """Tracks spend against :class:`KillSwitchConfig` limits and says ``normal``, ``soft`` or ``hard``.

    Call :meth:`record_spend` when a call finishes and :meth:`state` before starting one. Every level
    change of a limited window is appended to :attr:`trips` as a :class:`BudgetTrip`; window names are
    ``"hour"``, ``"day"``, ``"month"`` and ``"user_day:<user_id>"``.
    """

    def __init__(self, config: KillSwitchConfig, clock: Clock) -> None:
        self.config = config
        self._clock = clock
        self.trips: list[BudgetTrip] = []
        self.total_spend_usd = 0.0
        """All spend ever recorded (no window)."""
        self._global = {name: _SlidingSpend(name, span_s, getattr(config, field))
                        for name, span_s, field in _GLOBAL_WINDOWS}
        self._users: dict[Hashable, _SlidingSpend] = {}
        # (expiry_s, tie-breaker, window) for each window's oldest bucket; stale entries are skipped.
        self._expiries: list[tuple[float, int, _SlidingSpend, Hashable]] = []
        self._sequence = itertools.count()
        self._now_s = -math.inf

    # ------------------------------------------------------------------------------------------ public API

    def record_spend(self, cost_usd: float, user_id: Optional[Hashable] = None) -> None:
        """Count ``cost_usd`` spent now (when a call finished), globally and for ``user_id`` if given."""
        if isinstance(cost_usd, bool) or not isinstance(cost_usd, (int, float)) or not (cost_usd >= 0.0) \
                or math.isinf(cost_usd):
            raise ValueError(f"record_spend.cost_usd: must be a finite number >= 0, got {cost_usd!r}")
        now_s = self._advance()
        bucket_index = math.floor(now_s / BUCKET_S)
        cost_usd = float(cost_usd)
        self.total_spend_usd += cost_usd
        touched = list(self._global.values())
        if user_id is not None and self.config.per_user_per_day_usd is not None:
            window = self._users.get(user_id)
            if window is None:
                window = self._users[user_id] = _SlidingSpend(f"user_day:{user_id}", DAY_S,
                                                              self.config.per_user_per_day_usd)
            touched.append(window)
        for window in touched:
            key = user_id if window.name.startswith("user_day:") else None
            if window.add(bucket_index, cost_usd):
                self._schedule_expiry(window, key)
            self._update_level(window, now_s)

    def state(self, user_id: Optional[Hashable] = None) -> str:
        """``"normal"``, ``"soft"`` or ``"hard"``: the worst level over the global windows and, when
        ``user_id`` is given, that user's daily window."""
        self._advance()
        level = max((w.level for w in self._global.values()), key=_LEVEL_RANK.__getitem__)
        if user_id is not None and user_id in self._users:
            level = max(level, self._users[user_id].level, key=_LEVEL_RANK.__getitem__)
        return level

    def allows_call(self, user_id: Optional[Hashable] = None) -> bool:
        """True unless the level (for this user) is ``hard``."""
        return self.state(user_id) != HARD

    def spend_usd(self, window: str = "hour", user_id: Optional[Hashable] = None) -> float:
        """Current spend in ``"hour"``, ``"day"`` or ``"month"``, or in ``user_id``'s day when given."""
        self._advance()
        if user_id is not None:
            if self.config.per_user_per_day_usd is None:
                raise ValueError("spend_usd: per-user spend is only tracked when per_user_per_day_usd is set")
            user_window = self._users.get(user_id)
            return 0.0 if user_window is None else user_window.total_usd
        if window not in self._global:
            raise ValueError(f"spend_usd.window: must be one of {tuple(self._global)}, got {window!r}")
        return self._global[window].total_usd

    # ------------------------------------------------------------------------------------------ internals

    def _schedule_expiry(self, window: _SlidingSpend, user_key: Optional[Hashable]) -> None:
        oldest_index = window.buckets[0][0]
        heapq.heappush(self._expiries, (window.expiry_s(oldest_index), next(self._sequence), window, user_key))

    def _advance(self) -> float:
        """Slide every window forward to the clock's time, in time order, recording recoveries."""
        now_s = float(self._clock())
        if now_s < self._now_s:
            raise ValueError(f"clock went backwards: {now_s!r} < {self._now_s!r}")
        self._now_s = now_s
        while self._expiries and self._expiries[0][0] <= now_s:
            expiry_s, _, window, user_key = heapq.heappop(self._expiries)
            if not window.buckets or window.expiry_s(window.buckets[0][0]) != expiry_s:
                continue
            window.pop_oldest()
            self._update_level(window, expiry_s)
            if window.buckets:
                self._schedule_expiry(window, user_key)
            elif user_key is not None and self._users.get(user_key) is window:
                del self._users[user_key]      # an idle user costs no memory
        return now_s

    def _update_level(self, window: _SlidingSpend, time_s: float) -> None:
        if window.limit_usd is None:
            return
        spend_usd = window.total_usd
        if spend_usd >= window.limit_usd:
            level = HARD
        elif spend_usd >= self.config.soft_fraction * window.limit_usd:
            level = SOFT
        else:
            level = NORMAL
        if level != window.level:
            window.level = level
            self.trips.append(BudgetTrip(time_s, level, window.name, spend_usd, window.limit_usd))
