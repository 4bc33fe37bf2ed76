"""Token buckets: how providers and gateways meter requests and tokens per minute.

Picture a bucket that holds at most ``capacity`` tokens and is refilled continuously at ``rate_per_s``.
A request that needs ``amount`` tokens may pass when the bucket holds that many, and takes them out.
Providers enforce their requests-per-minute and tokens-per-minute limits this way (Anthropic documents
continuous replenishment up to the per-minute maximum). How big the bucket is, is the enforcement
granularity: a bucket holding the whole minute's quota lets a key with a 30,000 TPM limit send 30,000 tokens
at once and then 500 per second; a bucket holding one second's quota (Anthropic: "60 RPM may be enforced as
about 1 request per second"; OpenAI: per-minute limits "may be enforced over shorter periods") admits 500
tokens at once. :meth:`TokenBucket.per_minute` builds either from the limit and the enforcement period.

A short bucket may be smaller than one ask (a 2,000-token prompt against a 500-token second's bucket), yet
the provider still serves such a call: an ask up to ``largest_ask`` (the minute's limit) is admitted from a
full bucket and leaves it in debt, repaid by the refill before anything else passes. Only an ask larger than
``largest_ask`` is "request too large".

Two ways to ask:
- :meth:`TokenBucket.try_take` answers now with an :class:`Admission`: admitted (the tokens are taken) or,
  if the bucket is short, not admitted with the seconds until it would be (what a provider returns as
  ``Retry-After`` with a 429). Nothing is taken on refusal.
- :meth:`TokenBucket.reserve` takes, letting the level go negative, and returns how long the caller
  must wait until its reservation is covered. Callers served in order of their reservations then leave at
  exactly the refill rate: the smoothing a BullMQ-style queue limiter does in front of a provider.

An amount larger than ``largest_ask`` can never be admitted (a provider answers such a call with
"request too large", however long the caller waits): ``try_take`` refuses it with an infinite
``retry_after_s`` and ``reserve`` takes nothing and returns ``math.inf``; :meth:`TokenBucket.holds` asks first.

Reserve the most, settle the actual: OpenAI counts a call's prompt plus its ``max_tokens`` against TPM when
the call is admitted, before anyone knows how many tokens it will produce. :meth:`TokenBucket.settle` gives
back the part of such a reservation the call did not use once it has finished.

Time is passed in as ``now`` (seconds) on every call; the bucket has no clock of its own.
"""
from __future__ import annotations

import math
from typing import NamedTuple


class Admission(NamedTuple):
    """The answer to an ask: ``admitted`` (the tokens were taken), or not and ``retry_after_s`` until it
    could be; ``retry_after_s`` is ``math.inf`` when the ask is larger than the bucket (never admitted)."""

    admitted: bool
    retry_after_s: float = 0.0

    @property
    def too_large(self) -> bool:
        return self.retry_after_s == math.inf


ADMITTED = Admission(True, 0.0)
TOO_LARGE = Admission(False, math.inf)


class TokenBucket:
    """A continuously refilling bucket; ``rate_per_s`` = inf makes it unlimited."""

    __slots__ = ("rate_per_s", "capacity", "largest_ask", "_level", "_updated_s")

    def __init__(self, rate_per_s: float, capacity: float, *, largest_ask: float | None = None,
                 start_full: bool = True, now: float = 0.0):
        if not rate_per_s > 0:
            raise ValueError(f"rate_per_s must be > 0, got {rate_per_s}")
        if not capacity > 0:
            raise ValueError(f"capacity must be > 0, got {capacity}")
        if largest_ask is not None and not largest_ask >= capacity:
            raise ValueError(f"largest_ask must be >= capacity ({capacity}), got {largest_ask}")
        self.rate_per_s = float(rate_per_s)
        self.capacity = float(capacity)
        self.largest_ask = self.capacity if largest_ask is None else float(largest_ask)
        self._level = self.capacity if start_full else 0.0
        self._updated_s = float(now)

    @classmethod
    def per_minute(cls, limit_per_min: float, *, period_s: float = 60.0, now: float = 0.0) -> "TokenBucket":
        """A provider's per-minute limit enforced over ``period_s`` seconds: refilled at limit/60 per second,
        holding ``limit x period_s / 60`` (the whole minute's limit for 60 s), and admitting any single ask up
        to the minute's limit from a full bucket."""
        if not 0 < period_s <= 60:
            raise ValueError(f"period_s must be in (0, 60], got {period_s}")
        return cls(limit_per_min / 60.0, limit_per_min * period_s / 60.0, largest_ask=limit_per_min, now=now)

    def level(self, now: float) -> float:
        """Tokens available at ``now`` (negative while reservations are outstanding)."""
        self._refill(now)
        return self._level

    def _refill(self, now: float) -> None:
        elapsed = now - self._updated_s
        if elapsed > 0:
            self._level = min(self.capacity, self._level + elapsed * self.rate_per_s)
            self._updated_s = now

    def holds(self, amount: float) -> bool:
        """Whether ``amount`` can ever be admitted (a full bucket would admit it)."""
        return amount <= self.largest_ask

    def needs(self, amount: float) -> float:
        """The level at which ``amount`` is admitted: the amount itself, or a full bucket for an ask larger
        than the bucket (but not than ``largest_ask``)."""
        return amount if amount <= self.capacity else self.capacity

    def try_take(self, now: float, amount: float = 1.0) -> Admission:
        """Take ``amount`` if available (admitted); otherwise take nothing and say how long to wait."""
        self._refill(now)
        need = amount if amount <= self.capacity else self.capacity
        if self._level >= need and amount <= self.largest_ask:
            self._level -= amount
            return ADMITTED
        if amount > self.largest_ask:
            return TOO_LARGE
        return Admission(False, (need - self._level) / self.rate_per_s)

    def reserve(self, now: float, amount: float = 1.0) -> float:
        """Take ``amount`` now, possibly into debt; return the seconds until the bucket, before this
        reservation, would have reached the level that admits it (see :meth:`needs`).

        An amount larger than ``largest_ask`` is never covered: nothing is taken and the wait is ``math.inf``.
        """
        if amount > self.largest_ask:
            return math.inf
        level, capacity = self._level, self.capacity
        elapsed = now - self._updated_s
        if elapsed > 0:                         # _refill, inlined: this runs for every bucket of every attempt
            level = level + elapsed * self.rate_per_s
            if not level < capacity:
                level = capacity
            self._updated_s = now
        short = (amount if amount <= capacity else capacity) - level
        self._level = level - amount
        return short / self.rate_per_s if short > 0 else 0.0

    def refund(self, now: float, amount: float) -> None:
        """Give back tokens of a reservation that was abandoned (the bucket never holds more than full)."""
        self._refill(now)
        self._level = min(self.capacity, self._level + amount)

    def settle(self, now: float, reserved: float, used: float) -> None:
        """A call admitted with ``reserved`` tokens has finished having used ``used``: give back the rest
        (nothing when it used all of it or more)."""
        if reserved > used:
            self.refund(now, reserved - used)


class KeyedTokenBuckets:
    """One token bucket per key (a per-user rate limit), created full on first use."""

    __slots__ = ("rate_per_s", "capacity", "_level", "_updated_s")

    def __init__(self, rate_per_s: float, capacity: float):
        if not rate_per_s > 0 or not capacity > 0:
            raise ValueError("rate_per_s and capacity must be > 0")
        self.rate_per_s = float(rate_per_s)
        self.capacity = float(capacity)
        self._level: dict = {}
        self._updated_s: dict = {}

    def allow(self, key, now: float, amount: float = 1.0) -> bool:
        """Take ``amount`` from ``key``'s bucket if it holds that much; True when taken."""
        level = self._level.get(key)
        if level is None:
            level = self.capacity
        else:
            level = min(self.capacity, level + (now - self._updated_s[key]) * self.rate_per_s)
        self._updated_s[key] = now
        if level >= amount:
            self._level[key] = level - amount
            return True
        self._level[key] = level
        return False
