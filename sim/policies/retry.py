"""Retries with exponential backoff, jitter, Retry-After and a retry budget.

Picture a busy phone line. If everyone who gets a busy tone redials instantly, the line stays jammed
forever; if everyone waits a random, growing time before redialling, callers spread out and the line
clears. An LLM provider that answers 429 ("rate limited") or 503 is that busy line, and a gateway that
retries is the caller:

* **Exponential backoff** -- wait ``base_delay_s``, then ``multiplier`` times longer after each further
  failure, never more than ``max_delay_s``: ``cap(attempt) = min(max_delay_s, base_delay_s *
  multiplier ** (attempt - 1))`` where ``attempt`` is how many attempts have already been made.
* **Jitter** -- randomise the wait so that clients which failed together do not retry together
  (the "thundering herd"). With ``u`` uniform in [0, 1): ``full`` waits ``u * cap`` (mean ``cap / 2``),
  ``equal`` waits ``cap / 2 + u * cap / 2`` (mean ``3 cap / 4``, never less than half), ``none`` waits
  ``cap``. The draw ``u`` is supplied by the caller so the randomness stays in the caller's named random
  stream and a run can be reproduced.
* **Retry-After** -- a 429 often says how long to wait. Honouring it waits ``max(retry_after,
  backoff)``; a Retry-After beyond ``max_retry_after_s`` means "not any time soon", so the call gives up
  (and can fall back to another model) instead of holding a user for minutes.
* **Retry budget** -- during an outage every call fails, and with three attempts each the provider sees
  three times the traffic just when it can least take it (a retry storm). Like Envoy's and gRPC's retry
  budgets, retries are allowed only while they are less than ``retry_budget_ratio`` of all calls made
  through this policy (first attempts plus retries), with ``retry_budget_min_retries`` always allowed so a
  cold start can still retry. The counts are cumulative over the policy's life; the caller reports each
  call with :meth:`RetryPolicy.record_call`.

Everything here is arithmetic on arguments: no clock, no sleeping, no random generator.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal, Optional

from sim.policies._validation import check_fields, choice, flag, integer, number

Jitter = Literal["full", "equal", "none"]
RetryableStatus = Literal["error", "timeout", "rate_limited", "refused"]
MAX_ATTEMPTS = 100
"""Upper bound of ``max_attempts``: every attempt is a recorded call; a loop beyond it is a runaway."""


@dataclass(frozen=True)
class RetryConfig:
    """How one logical call is retried; ``max_attempts`` includes the first attempt.

    ``retry_on`` lists the attempt outcomes (statuses) worth retrying; anything else (``"ok"``, a
    ``"refused"`` ...) is final. ``retry_budget_ratio=None`` means no budget (unlimited retries). This is also
    the scenario's ``resilience.retry`` section (see :mod:`sim.policies._validation`).
    """

    __pydantic_config__ = {"extra": "forbid"}

    max_attempts: int = integer(3, "Attempts per call on one target, the first included (at most 100: every "
                                   "attempt is a recorded call, and no real client retries that often).",
                                ge=1, le=MAX_ATTEMPTS)
    base_delay_s: float = number(0.5, "Backoff before the first retry (before jitter).", ge=0, unit="s")
    multiplier: float = number(2.0, "Backoff growth per attempt.", ge=1)
    max_delay_s: float = number(20.0, "Backoff cap.", ge=0, unit="s")
    jitter: Jitter = choice("full", "Jitter on the backoff: full (u * cap), equal (cap/2 + u * cap/2), none.")
    honor_retry_after: bool = flag(True, "Wait at least a 429's Retry-After.")
    max_retry_after_s: float = number(60.0, "Give up when Retry-After exceeds this.", ge=0, unit="s")
    retry_budget_ratio: Optional[float] = number(
        None, "Retries may be at most this share of all calls (Envoy/gRPC retry budget); None = no budget.",
        ge=0, le=1)
    retry_budget_min_retries: int = integer(10, "Retries always allowed before the budget applies (so a cold "
                                                "start can retry).", ge=0)
    retry_on: tuple[RetryableStatus, ...] = dataclasses.field(
        default=("error", "timeout", "rate_limited"),
        metadata={"description": "Attempt outcomes worth retrying; any other outcome is final."})

    def __post_init__(self) -> None:
        check_fields(self)


def _check_attempt(attempt: object) -> None:
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise ValueError(f"attempt: must be an integer >= 1 (attempts already made), got {attempt!r}")


def backoff_cap_s(config: RetryConfig, attempt: int) -> float:
    """The exponential backoff before jitter after ``attempt`` attempts: ``min(max, base * mult**(attempt-1))``."""
    _check_attempt(attempt)
    # Compare exponents in log space so a large attempt number cannot overflow the float.
    if config.base_delay_s == 0.0:
        return 0.0
    if config.multiplier > 1.0:
        room = math.log(config.max_delay_s / config.base_delay_s) if config.max_delay_s > 0 else -math.inf
        if (attempt - 1) * math.log(config.multiplier) >= room:
            return config.max_delay_s
    return min(config.max_delay_s, config.base_delay_s * config.multiplier ** (attempt - 1))


def expected_backoff_s(config: RetryConfig, attempt: int) -> float:
    """Mean backoff after ``attempt`` attempts for the configured jitter (``u`` uniform on [0, 1)).

    full: ``cap / 2``; equal: ``3 cap / 4``; none: ``cap``. Retry-After is not included.
    """
    cap_s = backoff_cap_s(config, attempt)
    if config.jitter == "full":
        return cap_s / 2.0
    if config.jitter == "equal":
        return 0.75 * cap_s
    return cap_s


class RetryPolicy:
    """Decides whether and when to retry; one instance per retry budget (e.g. per deployment or per gateway).

    Usage in a caller's loop, where ``attempt`` counts attempts already made::

        policy.record_call(is_retry=attempt > 1)
        status, retry_after_s = make_attempt()
        delay_s = policy.delay_s(attempt, status, u=rng.random(), retry_after_s=retry_after_s)
        if delay_s is None: give up (or fall back); else wait delay_s and try again.
    """

    def __init__(self, config: RetryConfig) -> None:
        self.config = config
        self.calls_total = 0
        """Attempts reported through :meth:`record_call` (first attempts and retries)."""
        self.retries_total = 0
        """Of which retries."""

    def backoff_s(self, attempt: int, u: float) -> float:
        """Jittered exponential backoff after ``attempt`` attempts, given a uniform draw ``u`` in [0, 1)."""
        if isinstance(u, bool) or not isinstance(u, (int, float)) or not (0.0 <= u <= 1.0):
            raise ValueError(f"u: must be a uniform draw in [0, 1), got {u!r}")
        cap_s = backoff_cap_s(self.config, attempt)
        if self.config.jitter == "full":
            return u * cap_s
        if self.config.jitter == "equal":
            return cap_s / 2.0 + u * cap_s / 2.0
        return cap_s

    def budget_allows_retry(self) -> bool:
        """True while retries are under ``retry_budget_ratio`` of all calls, or under the minimum allowance."""
        ratio = self.config.retry_budget_ratio
        if ratio is None or self.retries_total < self.config.retry_budget_min_retries:
            return True
        return self.calls_total > 0 and self.retries_total / self.calls_total < ratio

    def delay_s(self, attempt: int, status: str, u: float, retry_after_s: Optional[float] = None) -> Optional[float]:
        """Seconds to wait before the next attempt, or ``None`` when there should be no further attempt.

        ``None`` when: ``attempt >= max_attempts``; ``status`` is not in ``retry_on``; Retry-After is
        honoured and exceeds ``max_retry_after_s``; or the retry budget is spent. Otherwise the jittered
        backoff, or ``max(retry_after_s, backoff)`` when a Retry-After is given and honoured. This is a
        question, not a booking: report the retry with :meth:`record_call` when it is actually made.
        """
        _check_attempt(attempt)
        if retry_after_s is not None and (not (retry_after_s >= 0.0) or math.isinf(retry_after_s)):
            raise ValueError(f"retry_after_s: must be a finite number >= 0 or None, got {retry_after_s!r}")
        if attempt >= self.config.max_attempts:
            return None
        if status not in self.config.retry_on:
            return None
        use_retry_after = retry_after_s is not None and self.config.honor_retry_after
        if use_retry_after and retry_after_s > self.config.max_retry_after_s:
            return None
        if not self.budget_allows_retry():
            return None
        backoff = self.backoff_s(attempt, u)
        return max(retry_after_s, backoff) if use_retry_after else backoff

    def record_call(self, is_retry: bool) -> None:
        """Count one attempt actually made (``is_retry`` for every attempt after a call's first)."""
        self.calls_total += 1
        if is_retry:
            self.retries_total += 1
