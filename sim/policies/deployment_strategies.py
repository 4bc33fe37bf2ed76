"""How LiteLLM's and Portkey's load-balancing strategies choose among a model group's deployments.

One class per strategy, each deciding among the candidates that :class:`~sim.policies.load_balancer.DeploymentPicker`
leaves (not cooling down, not excluded for this retry) and learning from the calls it is told about. The
semantics and their sources are in :mod:`sim.policies.load_balancer` and ``docs/load_balancing.md``. A
choice takes the caller's uniform draw ``u``; nothing here holds a random generator.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Optional, Sequence

if TYPE_CHECKING:                   # annotations only: load_balancer imports this module
    from sim.policies.load_balancer import Deployment, LoadBalancingConfig

MINUTE_S = 60.0
"""TTL of LiteLLM's per-deployment success/failure counters, and the length of a usage minute."""
TIMEOUT_LATENCY_PENALTY_S = 1000.0
"""What LiteLLM's latency-based routing records for a call that timed out (``async_log_failure_event``)."""


def uniform_index(u: float, n: int) -> int:
    """The index a uniform draw ``u`` in [0, 1) selects among ``n`` equally likely items."""
    return min(int(u * n), n - 1)


def weighted_index(u: float, weights: Sequence[float]) -> int:
    """The first index whose cumulative weight exceeds ``u * total`` (``random.choices``' and Portkey's rule).

    A zero weight is never selected; the caller guarantees a positive total.
    """
    target = u * sum(weights)
    cumulative = 0.0
    for index, weight in enumerate(weights):
        cumulative += weight
        if target < cumulative:
            return index
    return max(i for i, w in enumerate(weights) if w > 0)       # u * total rounded up to the total


class _Strategy:
    """How one strategy chooses among the candidates, and what it learns from calls (no-ops by default)."""

    def __init__(self, config: LoadBalancingConfig) -> None:
        self.config = config

    def choose(self, candidates: list[Deployment], u: float, now_s: float, *, input_tokens: int,
               streaming: bool) -> Optional[Deployment]:
        raise NotImplementedError

    def call_started(self, deployment: Deployment, now_s: float) -> bool:
        return True

    def call_succeeded(self, deployment: Deployment, now_s: float, duration_s: float, total_tokens: int,
                       completion_tokens: int, ttft_s: Optional[float]) -> None:
        pass

    def call_failed(self, deployment: Deployment, now_s: float, timed_out: bool) -> None:
        pass


class SimpleShuffle(_Strategy):
    """LiteLLM ``simple-shuffle``: weighted by ``weight``, else ``rpm``, else ``tpm``, else uniform.

    Current LiteLLM: the first field with a positive value on some candidate. ``litellm_rules="legacy"``:
    the first field the first candidate sets; older LiteLLM then
    divides by the weights' sum and fails when it is zero, where this falls back to uniform.
    """

    def choose(self, candidates, u, now_s, *, input_tokens, streaming):
        weights = self._weights(candidates)
        if weights:
            return candidates[weighted_index(u, weights)]
        return candidates[uniform_index(u, len(candidates))]

    def _weights(self, candidates: list[Deployment]) -> Optional[list[float]]:
        first_only = self.config.litellm_rules == "legacy"
        for field in ("weight", "rpm", "tpm"):
            weights = [getattr(d, field) or 0 for d in candidates]
            if first_only and getattr(candidates[0], field) is not None:
                return weights if sum(weights) > 0 else None
            if not first_only and max(weights) > 0:
                return weights
        return None


class PortkeyWeighted(_Strategy):
    """Portkey ``loadbalance``: weight default 1, normalised by the sum; all zero is Portkey's error."""

    def choose(self, candidates, u, now_s, *, input_tokens, streaming):
        weights = [1.0 if d.weight is None else d.weight for d in candidates]
        if sum(weights) <= 0:
            return None
        return candidates[weighted_index(u, weights)]


class LeastBusy(_Strategy):
    """LiteLLM ``least-busy``: the candidate with the fewest calls in flight; ties to the first in group order.

    ``litellm_rules="legacy"`` (@00e06b86): the minimum over every deployment ever seen (ties to the first
    seen), and a uniform random candidate when that deployment is not a candidate.
    """

    def __init__(self, config: LoadBalancingConfig) -> None:
        super().__init__(config)
        self.in_flight: dict[str, int] = {}          # insertion order = first seen, as LiteLLM's dict
        self._current = config.litellm_rules == "current"

    def choose(self, candidates, u, now_s, *, input_tokens, streaming):
        if self._current:
            return min(candidates, key=lambda d: self.in_flight.get(d.id, 0))
        for d in candidates:
            self.in_flight.setdefault(d.id, 0)
        least = min(self.in_flight, key=self.in_flight.__getitem__)     # first of the minima
        for d in candidates:
            if d.id == least:
                return d
        return candidates[uniform_index(u, len(candidates))]    # the least busy is not a candidate

    def call_started(self, deployment, now_s):
        self.in_flight[deployment.id] = self.in_flight.get(deployment.id, 0) + 1
        return True

    def _finished(self, deployment: Deployment) -> None:
        self.in_flight[deployment.id] = self.in_flight.get(deployment.id, 0) - 1

    def call_succeeded(self, deployment, now_s, duration_s, total_tokens, completion_tokens, ttft_s):
        self._finished(deployment)

    def call_failed(self, deployment, now_s, timed_out):
        self._finished(deployment)


class _MinuteCount:
    """A count per calendar minute (LiteLLM's ``{id}:tpm:{%H-%M}`` keys), this minute's and the last one's.

    :meth:`get` is the fixed window (0 in a new minute); :meth:`sliding` is current LiteLLM's sliding-window
    estimate, ``this minute + last minute * (1 - seconds into this minute / 60)``.
    """

    __slots__ = ("minute", "value", "previous")

    def __init__(self) -> None:
        self.minute = -2
        self.value = 0.0
        self.previous = 0.0

    def get(self, now_s: float) -> float:
        return self.value if self.minute == int(now_s // MINUTE_S) else 0.0

    def sliding(self, now_s: float) -> float:
        minute = int(now_s // MINUTE_S)
        previous = self.value if self.minute == minute - 1 else (self.previous if self.minute == minute else 0.0)
        return self.get(now_s) + previous * (1.0 - (now_s - minute * MINUTE_S) / MINUTE_S)

    def add(self, amount: float, now_s: float) -> float:
        minute = int(now_s // MINUTE_S)
        if minute != self.minute:
            self.previous = self.value if self.minute == minute - 1 else 0.0
            self.minute, self.value = minute, 0.0
        self.value += amount
        return self.value


class LowestUsage(_Strategy):
    """LiteLLM ``usage-based-routing-v2``: lowest TPM used, skipping deployments at their TPM/RPM limit.

    Current LiteLLM counts usage as a sliding window over this and the last minute and skips a deployment
    when ``rpm_used + 1 >= rpm``; ``litellm_rules="legacy"`` (@cb025a7f): the current calendar minute only,
    and RPM is not checked in selection (ids compared with per-minute key names), only at call start.
    """

    def __init__(self, config: LoadBalancingConfig) -> None:
        super().__init__(config)
        self.tokens: dict[str, _MinuteCount] = {}
        self.requests: dict[str, _MinuteCount] = {}
        self._current = config.litellm_rules == "current"

    def _used(self, counts: dict[str, _MinuteCount], deployment_id: str, now_s: float) -> float:
        count = counts.get(deployment_id)
        if count is None:
            return 0.0
        return count.sliding(now_s) if self._current else count.get(now_s)

    def tokens_used(self, deployment_id: str, now_s: float) -> float:
        return self._used(self.tokens, deployment_id, now_s)

    def requests_started(self, deployment_id: str, now_s: float) -> float:
        return self._used(self.requests, deployment_id, now_s)

    def choose(self, candidates, u, now_s, *, input_tokens, streaming):
        fitting = [(self.tokens_used(d.id, now_s), d) for d in candidates if self._fits(d, now_s, input_tokens)]
        if not fitting:
            return None
        lowest = min(used for used, _ in fitting)
        tied = [d for used, d in fitting if used == lowest]
        return tied[uniform_index(u, len(tied))]

    def _fits(self, deployment: Deployment, now_s: float, input_tokens: int) -> bool:
        if deployment.tpm is not None and self.tokens_used(deployment.id, now_s) + input_tokens > deployment.tpm:
            return False
        return not (self._current and deployment.rpm is not None
                    and self.requests_started(deployment.id, now_s) + 1 >= deployment.rpm)

    def call_started(self, deployment, now_s):
        """``pre_call_check``: LiteLLM's own 429 once the count reached ``rpm`` (then not counted), or when
        the count goes over it (counted)."""
        if deployment.rpm is not None and self.requests_started(deployment.id, now_s) >= deployment.rpm:
            return False
        self.requests.setdefault(deployment.id, _MinuteCount()).add(1, now_s)
        return deployment.rpm is None or self.requests_started(deployment.id, now_s) <= deployment.rpm

    def call_succeeded(self, deployment, now_s, duration_s, total_tokens, completion_tokens, ttft_s):
        self.tokens.setdefault(deployment.id, _MinuteCount()).add(total_tokens, now_s)


class _LatencyRecord:
    __slots__ = ("latency", "ttft", "minute_tokens", "minute_requests")

    def __init__(self) -> None:
        self.latency: list[float] = []
        self.ttft: list[float] = []
        self.minute_tokens = _MinuteCount()
        self.minute_requests = _MinuteCount()


def _append_capped(values: list[float], value: float, size: int, sliding: bool) -> list[float]:
    """Append, keeping at most ``size``: drop the oldest (current LiteLLM) or, as older LiteLLM did once
    the list is full, keep the first ``size - 1`` and replace the last."""
    if len(values) < size:
        return values + [value]
    return values[len(values) - size + 1:] + [value] if sliding else values[:size - 1] + [value]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


class LowestLatency(_Strategy):
    """LiteLLM ``latency-based-routing``: lowest mean latency (seconds per completion token), within the buffer.

    Current LiteLLM: lists slide (the newest ``max_latency_list_size`` values), a call without
    completion tokens records plain seconds, streaming ranks by time to first token in seconds.
    ``litellm_rules="legacy"`` (lowest_latency.py @015b9454): once full the first ``size - 1`` values stay, calls without
    completion tokens are lost, TTFT is per completion token and its sum is divided by the latency list's
    length.
    """

    def __init__(self, config: LoadBalancingConfig) -> None:
        super().__init__(config)
        self.records: dict[str, _LatencyRecord] = {}
        self._last_write_s = -math.inf
        self._current = config.litellm_rules == "current"

    def mean_latency(self, deployment_id: str, now_s: float, streaming: bool = False) -> float:
        """The score LiteLLM compares: 0 for a deployment without data (so it is tried first)."""
        self._expire(now_s)
        record = self.records.get(deployment_id)
        if record is None:
            return 0.0
        if not (streaming and record.ttft):
            return _mean(record.latency)
        if self._current:
            return _mean(record.ttft)
        return sum(record.ttft) / len(record.latency) if record.latency else 0.0

    def choose(self, candidates, u, now_s, *, input_tokens, streaming):
        scored = [(self.mean_latency(d.id, now_s, streaming), d) for d in candidates if self._fits(d, now_s, input_tokens)]
        if not scored:
            return None
        lowest = min(score for score, _ in scored)
        ceiling = lowest + self.config.lowest_latency_buffer * lowest
        valid = [d for score, d in scored if score <= ceiling]
        return valid[uniform_index(u, len(valid))]

    def _fits(self, deployment: Deployment, now_s: float, input_tokens: int) -> bool:
        record = self.records.get(deployment.id)
        tokens = 0 if record is None else record.minute_tokens.get(now_s)
        requests = 0 if record is None else record.minute_requests.get(now_s)
        return ((deployment.tpm is None or tokens + input_tokens <= deployment.tpm)
                and (deployment.rpm is None or requests + 1 <= deployment.rpm))

    def call_succeeded(self, deployment, now_s, duration_s, total_tokens, completion_tokens, ttft_s):
        if completion_tokens <= 0 and not self._current:
            return          # older LiteLLM divides by zero here; its handler swallows the error
        record = self._record(deployment.id, now_s)
        self._append(record, "latency", duration_s / completion_tokens if completion_tokens > 0 else duration_s)
        if ttft_s is not None:
            self._append(record, "ttft", ttft_s if self._current else ttft_s / completion_tokens)
        record.minute_tokens.add(total_tokens, now_s)
        record.minute_requests.add(1, now_s)

    def call_failed(self, deployment, now_s, timed_out):
        if timed_out:
            self._append(self._record(deployment.id, now_s), "latency", TIMEOUT_LATENCY_PENALTY_S)

    def _append(self, record: _LatencyRecord, name: str, value: float) -> None:
        setattr(record, name, _append_capped(getattr(record, name), value, self.config.max_latency_list_size,
                                             sliding=self._current))

    def _record(self, deployment_id: str, now_s: float) -> _LatencyRecord:
        self._expire(now_s)
        self._last_write_s = now_s      # every write renews the whole map's TTL
        return self.records.setdefault(deployment_id, _LatencyRecord())

    def _expire(self, now_s: float) -> None:
        if now_s > self._last_write_s + self.config.latency_ttl_s:
            self.records.clear()


STRATEGIES: dict[str, type[_Strategy]] = {
    "simple-shuffle": SimpleShuffle, "least-busy": LeastBusy, "usage-based-routing-v2": LowestUsage,
    "latency-based-routing": LowestLatency, "portkey-loadbalance": PortkeyWeighted}
