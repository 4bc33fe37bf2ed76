"""A provider's rate limits on one pool of API keys: its RPM, input TPM, output TPM and combined TPM buckets.

Picture the provider's side of the wire: every call it receives is weighed against up to four token buckets
(:mod:`sim.policies.token_bucket`), one per limit the provider publishes, and passes only if every bucket
has room. Two rules of how a provider enforces them are settings here, because they change how much of the
nominal limit a client actually gets:

* ``period_s``, the enforcement granularity: each bucket holds ``limit x period_s / 60``. 60 s is a bucket of
  the whole minute (a burst of the full RPM passes at once); 1 s is what Anthropic and OpenAI document ("60
  RPM may be enforced as about 1 request per second"), and a short bucket wastes refill whenever it is full
  and nobody is asking: Poisson traffic at twice the limit gets about 2/3 of it through a 1-request bucket
  (docs/rate_limits.md derives this).
* ``reserve_max_output``, OpenAI's accounting: a call is counted at admission as its prompt plus the
  ``max_tokens`` it asks for (:meth:`ProviderRateLimits.charged_output`), and the unused part is given back
  when it finishes (:meth:`ProviderRateLimits.settle`). Without the rule a call counts what it produces.

``requests`` is the request count to charge: more than 1 while a fault cuts the limits (a limit cut to 1/4 is
the same as every call costing 4 times as much of it). Time is passed in as ``now``; there is no clock here.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from sim.policies.token_bucket import ADMITTED, TOO_LARGE, Admission, TokenBucket

#: What each bucket meters, by its position in :meth:`ProviderRateLimits._amounts`.
REQUESTS, INPUT, OUTPUT, COMBINED = range(4)
#: Their names, as the provider's rate-limit headers say them (``x-ratelimit-remaining-requests``...).
BUCKET_NAMES = ("requests", "input_tokens", "output_tokens", "tokens")


class BucketLevel(NamedTuple):
    """One limit's state at a moment, what a provider reports in its rate-limit headers."""

    kind: int                   # REQUESTS, INPUT, OUTPUT or COMBINED
    limit_per_min: float        # the limit, per minute (all keys pooled)
    capacity: float             # what the bucket holds when full (limit x period / 60)
    remaining: float            # what it holds now (negative while in debt)
    seconds_to_full: float      # until it is full again, if nothing more is taken

    @property
    def name(self) -> str:
        return BUCKET_NAMES[self.kind]


class ProviderRateLimits:
    """The buckets of the limits that are set (``None`` = unlimited), per minute, all keys pooled."""

    def __init__(self, requests_per_min: float | None = None, input_tokens_per_min: float | None = None,
                 output_tokens_per_min: float | None = None, tokens_per_min: float | None = None, *,
                 period_s: float = 60.0, reserve_max_output: bool = False):
        limits = (requests_per_min, input_tokens_per_min, output_tokens_per_min, tokens_per_min)
        # (bucket, which amount it meters)
        self._buckets = [(TokenBucket.per_minute(limit, period_s=period_s), kind)
                         for kind, limit in enumerate(limits) if limit]
        self.period_s = float(period_s)
        self.reserve_max_output = bool(reserve_max_output)

    @property
    def active(self) -> bool:
        return bool(self._buckets)

    @staticmethod
    def _amounts(input_tokens, output_tokens, requests):
        return (requests, input_tokens, output_tokens, input_tokens + output_tokens)

    def levels(self, now: float) -> list[BucketLevel]:
        """Every set limit's :class:`BucketLevel` at ``now`` (nothing is taken)."""
        out = []
        for bucket, kind in self._buckets:
            level = bucket.level(now)
            out.append(BucketLevel(kind, bucket.rate_per_s * 60.0, bucket.capacity, level,
                                   max(0.0, bucket.capacity - level) / bucket.rate_per_s))
        return out

    def charged_output(self, output_tokens: float, requested_max_tokens: float | None) -> float:
        """The output tokens a call is counted for at admission: its ``requested_max_tokens`` under the
        reservation rule (or what it produces, if that is more or no maximum is sent), else what it produces."""
        if self.reserve_max_output and requested_max_tokens is not None and requested_max_tokens > output_tokens:
            return requested_max_tokens
        return output_tokens

    def fits(self, input_tokens: float, output_tokens: float, requests: float = 1.0) -> bool:
        """Whether the call can ever be admitted; a call larger than a whole minute's limit never is (the
        provider answers "request too large", however long the caller waits)."""
        amounts = self._amounts(input_tokens, output_tokens, requests)
        return all(bucket.holds(amounts[kind]) for bucket, kind in self._buckets)

    def try_admit(self, now: float, input_tokens: float, output_tokens: float,
                  requests: float = 1.0) -> Admission:
        """Admitted with the tokens taken from every bucket, or refused (a 429) with the Retry-After of the
        slowest bucket and nothing taken; ``too_large`` when some bucket can never hold the call."""
        amounts = self._amounts(input_tokens, output_tokens, requests)
        wait = 0.0
        for bucket, kind in self._buckets:
            amount = amounts[kind]
            if not bucket.holds(amount):
                return TOO_LARGE
            short = bucket.needs(amount) - bucket.level(now)
            if short > 0:
                wait = max(wait, short / bucket.rate_per_s)
        if wait > 0:
            return Admission(False, wait)
        for bucket, kind in self._buckets:
            bucket.try_take(now, amounts[kind])
        return ADMITTED

    def reserve(self, now: float, input_tokens: float, output_tokens: float, requests: float = 1.0) -> float:
        """Reserve in every bucket (FIFO smoothing); the wait until all are covered. A call too large for
        some bucket (see :meth:`fits`) is reserved in none and waits ``math.inf``."""
        # :meth:`fits` and the max over the buckets' waits, as plain loops: this runs once per attempt
        amounts = (requests, input_tokens, output_tokens, input_tokens + output_tokens)
        for bucket, kind in self._buckets:
            if amounts[kind] > bucket.largest_ask:          # not bucket.holds(...), without the call
                return math.inf
        wait_s = 0.0
        for bucket, kind in self._buckets:
            bucket_wait_s = bucket.reserve(now, amounts[kind])
            if bucket_wait_s > wait_s:
                wait_s = bucket_wait_s
        return wait_s

    def refund(self, now: float, input_tokens: float, output_tokens: float, requests: float = 1.0) -> None:
        """Give back a whole reservation (a call that was shed before it went)."""
        amounts = self._amounts(input_tokens, output_tokens, requests)
        for bucket, kind in self._buckets:
            bucket.refund(now, amounts[kind])

    def settle(self, now: float, charged_output: float, used_output: float) -> None:
        """A call admitted with ``charged_output`` output tokens has finished having produced
        ``used_output``: give the difference back to the output and combined buckets."""
        if charged_output <= used_output:
            return
        for bucket, kind in self._buckets:
            if kind == OUTPUT or kind == COMBINED:
                bucket.settle(now, charged_output, used_output)
