"""Token buckets: how providers and gateways meter requests and tokens per minute.

Picture a bucket that holds at most ``capacity`` tokens and is refilled continuously at ``rate_per_s``.
A request that needs ``amount`` tokens may pass when the bucket holds that many, and takes them out.
Providers enforce their requests-per-minute and tokens-per-minute limits this way (Anthropic documents
continuous replenishment up to the per-minute maximum), so a key with a 30,000 TPM limit admits a burst of
30,000 tokens and then 500 tokens per second.

Two ways to ask:
- :meth:`TokenBucket.try_take` answers now with an :class:`Admission`: admitted (the tokens are taken) or,
  if the bucket is short, not admitted with the seconds until it would be (what a provider returns as
  ``Retry-After`` with a 429). Nothing is taken on refusal.
- :meth:`TokenBucket.reserve` takes, letting the level go negative, and returns how long the caller
  must wait until its reservation is covered. Callers served in order of their reservations then leave at
  exactly the refill rate: the smoothing a BullMQ-style queue limiter does in front of a provider.

An amount larger than the whole bucket can never be admitted (a provider answers such a call with
"request too large", however long the caller waits): ``try_take`` refuses it with an infinite
``retry_after_s`` and ``reserve`` takes nothing and returns ``math.inf``; :meth:`TokenBucket.holds` asks first.

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

    __slots__ = ("rate_per_s", "capacity", "_level", "_updated_s")

    def __init__(self, rate_per_s: float, capacity: float, *, start_full: bool = True, now: float = 0.0):
        if not rate_per_s > 0:
            raise ValueError(f"rate_per_s must be > 0, got {rate_per_s}")
        if not capacity > 0:
            raise ValueError(f"capacity must be > 0, got {capacity}")
        self.rate_per_s = float(rate_per_s)
        self.capacity = float(capacity)
        self._level = self.capacity if start_full else 0.0
        self._updated_s = float(now)

    @classmethod
    def per_minute(cls, limit_per_min: float, *, now: float = 0.0) -> "TokenBucket":
        """The provider convention: capacity of one minute's limit, refilled at limit/60 per second."""
        return cls(limit_per_min / 60.0, limit_per_min, now=now)

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
        """Whether ``amount`` fits in the bucket at all (a full bucket would admit it)."""
        return amount <= self.capacity

    def try_take(self, now: float, amount: float = 1.0) -> Admission:
        """Take ``amount`` if available (admitted); otherwise take nothing and say how long to wait."""
        self._refill(now)
        if self._level >= amount:
            self._level -= amount
            return ADMITTED
        if amount > self.capacity:
            return TOO_LARGE
        return Admission(False, (amount - self._level) / self.rate_per_s)

    def reserve(self, now: float, amount: float = 1.0) -> float:
        """Take ``amount`` now, possibly into debt; return the seconds until the debt is repaid.

        An amount larger than the bucket is never covered: nothing is taken and the wait is ``math.inf``.
        """
        if amount > self.capacity:
            return math.inf
        self._refill(now)
        self._level -= amount
        return -self._level / self.rate_per_s if self._level < 0 else 0.0

    def refund(self, now: float, amount: float) -> None:
        """Give back tokens of a reservation that was abandoned."""
        self._refill(now)
        self._level = min(self.capacity, self._level + amount)


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
