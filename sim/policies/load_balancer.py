"""Load balancing: which of several deployments of the same model gets this call.

The picture is a supermarket with several tills selling the same goods. A shopper (a call) can go to any
open till; the store's rule decides which: pick at random in proportion to each till's speed, join the
shortest queue, go to the till that has served the fewest customers this minute, or to the one that has
been fastest lately. A till whose card reader keeps failing is closed for a few minutes (a *cooldown*),
and a shopper turned away at one till does not necessarily avoid it on the second try.

In an LLM gateway the tills are *deployments* -- API keys, Azure regions, OpenAI and Azure serving the same
model -- grouped behind one model name. LiteLLM calls the group a ``model_group`` and each member a
deployment (``model_info.id``); Portkey calls them the ``targets`` of a ``loadbalance`` strategy. This
module reproduces their choices as plain state machines (the strategies themselves are in
:mod:`sim.policies.deployment_strategies`), with the semantics read from their source (every rule below
names the file and function it comes from; see ``docs/load_balancing.md``):

* :class:`SimpleShuffle` -- LiteLLM ``simple-shuffle`` (``litellm/router_utils/simple_shuffle.py``,
  ``simple_shuffle``): a weighted random pick by ``weight``, else ``rpm``, else ``tpm``, else uniform; a
  deployment without the field weighs 0. Current LiteLLM takes the first field that some deployment sets
  to a positive value; older versions let the **first** healthy deployment alone decide
  (``litellm_rules="legacy"``).
* :class:`LeastBusy` -- LiteLLM ``least-busy`` (``litellm/router_strategy/least_busy.py``): the candidate
  with the fewest calls in flight, counted from call start to success or failure. Older versions took the
  minimum over every deployment ever seen and, when that one was not a candidate (cooling down, already
  tried), picked a *uniform* random candidate instead.
* :class:`LowestUsage` -- LiteLLM ``usage-based-routing-v2`` (``litellm/router_strategy/lowest_tpm_rpm_v2.py``):
  the lowest tokens used, among deployments where ``used + input_tokens <= tpm`` and ``rpm_used + 1 < rpm``;
  ties at random. Usage is kept per UTC minute (``%H-%M`` keys) and read as a sliding window,
  ``this minute + last minute x the share of it still in the trailing 60 s``. RPM is also enforced at call
  start (``pre_call_check``: a 429 from the gateway itself). Older versions (``litellm_rules="legacy"``)
  read the current minute alone (usage resets on the minute) and their RPM check in selection compared a
  deployment id with per-minute key names, so it never applied.
* :class:`LowestLatency` -- LiteLLM ``latency-based-routing`` (``litellm/router_strategy/lowest_latency.py``):
  the mean of the last ``max_latency_list_size`` latencies per deployment (seconds per completion token;
  time to first token when streaming), a uniform pick among deployments within ``lowest_latency_buffer``
  x the lowest mean. A deployment with no data counts as latency 0, so it is tried first. A timeout adds
  a 1000 s penalty. Older LiteLLM kept the *first* ``size - 1`` values once the list was full and measured
  TTFT per token (``litellm_rules="legacy"``).
* :class:`PortkeyWeighted` -- Portkey ``loadbalance`` (``src/handlers/handlerUtils.ts``,
  ``tryTargetsRecursively``): weights (default 1) normalised by their sum, the first target whose weight
  exceeds ``u * total`` minus the weights before it.

:class:`DeploymentCooldown` is LiteLLM's cooldown (``litellm/router_utils/cooldown_handlers.py``): a failed
call puts its deployment out of rotation for ``cooldown_time`` (its own, else the response's ``Retry-After``,
else the group's, default 5 s) when the status warrants it
(``_is_cooldown_required``: 429, 401, 408, 404 and every non-4xx; other 4xx never) and either

* the default percentage rule (``_should_cooldown_deployment``) holds: a 429 in a group of several
  deployments; or all calls of the deployment's current "minute" failed and there were at least
  ``SINGLE_DEPLOYMENT_TRAFFIC_FAILURE_THRESHOLD`` (1000) of them; or more than
  ``DEFAULT_FAILURE_THRESHOLD_PERCENT`` (50 %) failed over at least
  ``DEFAULT_FAILURE_THRESHOLD_MINIMUM_REQUESTS`` (5) calls in a group of several; or the status is not
  retryable (``litellm._should_retry``: only 408, 409, 429 and 5xx are) -- so a single-deployment group
  cools down only on 401/404 or a wipe-out of 1000 calls;
* or, when ``allowed_fails`` or an ``allowed_fails_policy`` is set, the legacy rule
  (``should_cooldown_based_on_allowed_fails_policy``): the ``allowed_fails + 1``-th failure, each counted
  failure expiring ``cooldown_time`` after the last one.

The "minute" counters (``router_callbacks/track_deployment_metrics.py``) are in-memory cache entries with a
60 s TTL. In the Python ``increment_cache`` every increment renews it, so they count since the deployment was
last idle for 60 s (``counter_window="renewed"``); LiteLLM 1.110 counts in its Rust core, where the TTL is
set by the first increment and kept, a fixed 60 s window (``"fixed"``, the default: measured with a real
Router, see docs/load_balancing.md). A cooldown is a cache entry with TTL ``cooldown_time``: it ends on its own at
``start + cooldown_time`` (``CooldownCache._corrected_active_cooldown``: active while time remains), without
probing, and is recorded here as typed :class:`CooldownTransition` pairs and :class:`CooldownWindow` rows.

:class:`DeploymentPicker` puts it together for one model group: drop deployments cooling down (when all
are, LiteLLM raises "No deployments available", :class:`NoDeploymentAvailable`; Portkey's breaker filter
keeps them all instead), drop deployments this request already tried as configured, then ask the
strategy. Randomness stays with the caller: every pick takes a uniform draw ``u`` in [0, 1), so the
simulator feeds it from a named stream and this module holds no random generator.

Time comes from an injected ``clock`` (seconds): ``lambda: env.now`` in the simulation, ``time.time`` in a
gateway, a fake clock in a test. Simulated time 0 is taken as the start of a minute.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Collection, Literal, Mapping, NamedTuple, Optional, Sequence

from sim.policies._validation import MAX_COUNT, SettingError, check_fields, choice, flag, integer, number, text
from sim.policies.deployment_strategies import (
    MINUTE_S, STRATEGIES, TIMEOUT_LATENCY_PENALTY_S, LeastBusy, LowestLatency, LowestUsage, PortkeyWeighted,
    SimpleShuffle, uniform_index, weighted_index)

__all__ = ["AVAILABLE", "COOLDOWN_CAUSES", "COOLING_DOWN", "CooldownTransition", "CooldownWindow", "Deployment",
           "DeploymentCooldown", "DeploymentPicker", "LeastBusy", "LoadBalancingConfig", "LowestLatency",
           "LowestUsage", "MINUTE_S", "NoDeploymentAvailable", "PortkeyWeighted", "STRATEGIES", "SimpleShuffle",
           "TIMEOUT_LATENCY_PENALTY_S", "cooldown_required", "portkey_falls_back", "should_retry", "uniform_index",
           "weighted_index"]

Clock = Callable[[], float]

LITELLM_DEFAULT_ALLOWED_FAILS = 3
"""``litellm.allowed_fails``: what the legacy rule uses when neither the policy nor ``allowed_fails`` says."""

Strategy = Literal["simple-shuffle", "least-busy", "usage-based-routing-v2", "latency-based-routing",
                   "portkey-loadbalance"]
SkipTried = Literal["non_retryable", "all", "none"]
LiteLLMRules = Literal["current", "legacy"]
CounterWindow = Literal["fixed", "renewed"]

AVAILABLE = "available"
COOLING_DOWN = "cooling_down"
#: Why a deployment starts cooling down (the rule of LiteLLM's cooldown handler that fired).
COOLDOWN_CAUSES = ("rate_limited", "all_failed", "failure_rate", "non_retryable", "allowed_fails")


def should_retry(status_code: int) -> bool:
    """LiteLLM's ``litellm._should_retry``: 408, 409, 429 and every 5xx are worth retrying, nothing else."""
    return status_code in (408, 409, 429) or status_code >= 500


def cooldown_required(status_code: int) -> bool:
    """LiteLLM's ``_is_cooldown_required``: of the 4xx only 429, 401, 408 and 404 count; every other status does."""
    if 400 <= status_code < 500:
        return status_code in (429, 401, 408, 404)
    return True


def portkey_falls_back(status_code: int, on_status_codes: Optional[Sequence[int]] = None) -> bool:
    """Whether Portkey's ``fallback`` strategy moves on to the next target after this response.

    ``tryTargetsRecursively`` stops at the first response whose status is not in ``on_status_codes``
    or, when no codes are given, at the first ``ok`` (2xx) response.
    """
    if on_status_codes is not None:
        return status_code in on_status_codes
    return not 200 <= status_code < 300


# --------------------------------------------------------------------------------------------- settings

@dataclass(frozen=True)
class Deployment:
    """One deployment of a model group: LiteLLM's ``model_list`` entry or one Portkey target."""

    __pydantic_config__ = {"extra": "forbid"}

    id: str = text("Unique within the model group (LiteLLM model_info.id, a Portkey target's name).")
    rpm: Optional[int] = integer(None, "Requests per minute it allows (LiteLLM rpm); None = unknown.", ge=1)
    tpm: Optional[int] = integer(None, "Tokens per minute it allows (LiteLLM tpm); None = unknown.", ge=1)
    weight: Optional[float] = number(None, "Share of traffic (LiteLLM/Portkey weight); None = not set.", ge=0)
    cooldown_s: Optional[float] = number(None, "Its own cooldown_time; None = the group's; 0 = never cooled "
                                               "down.", ge=0, unit="s")
    region: Optional[str] = text("Where it runs (for faults that hit a region); None = not said.", None)

    def __post_init__(self) -> None:
        check_fields(self)
        if not self.id:
            raise SettingError("Deployment", "id", "String should have at least 1 character", self.id)


@dataclass(frozen=True)
class LoadBalancingConfig:
    """How one model group's deployments share traffic and sit out failures; defaults are LiteLLM's.

    ``allowed_fails`` and the ``allowed_fails_*`` fields switch LiteLLM's cooldown from the percentage rule
    to the legacy count rule (LiteLLM itself treats ``allowed_fails: 3``, its default, as unset: an
    importer should map it to ``None``). ``skip_tried`` says which deployments a retry of the same request
    avoids (see :class:`DeploymentPicker`).
    """

    __pydantic_config__ = {"extra": "forbid"}

    strategy: Strategy = choice("simple-shuffle", "LiteLLM routing_strategy, or Portkey's weighted loadbalance.")
    litellm_rules: LiteLLMRules = choice(
        "current", "Which LiteLLM: current, or the older behaviour of each strategy and of allowed_fails_policy "
                   "(see docs/load_balancing.md).")
    lowest_latency_buffer: float = number(
        0.0, "latency-based: pick among deployments within this fraction above the lowest mean.", ge=0)
    max_latency_list_size: int = integer(10, "latency-based: latencies kept per deployment.", ge=1, le=MAX_COUNT)
    latency_ttl_s: float = number(3600.0, "latency-based: the stored latencies expire after this long without "
                                          "a write.", gt=0, unit="s")
    cooldown_s: float = number(5.0, "LiteLLM cooldown_time: how long a deployment sits out.", gt=0, unit="s")
    disable_cooldowns: bool = flag(False, "LiteLLM disable_cooldowns: never take a deployment out.")
    counter_window: CounterWindow = choice(
        "fixed", "LiteLLM's per-minute success and failure counters: fixed (a window of counter_ttl_s from "
                 "the first call after the last one expired, as LiteLLM 1.110's Rust core counts, measured) or "
                 "renewed (every call renews the TTL, as the older Python increment_cache: under steady traffic "
                 "the counters never reset).")
    counter_ttl_s: float = number(
        MINUTE_S, "TTL of LiteLLM's per-minute success and failure counters, renewed by every call (LiteLLM "
                  "hard-codes 60 s of wall time: a live run compressed by a speed factor stretches it by that "
                  "factor in simulated time).", gt=0, unit="s")
    failure_rate_threshold: float = number(
        0.5, "Cool down when more than this share of the minute's calls failed.", gt=0, lt=1)
    failure_rate_minimum_calls: int = integer(5, "Calls in the minute before the failure share counts.", ge=1)
    all_failed_minimum_calls: int = integer(
        1000, "Cool down even a lone deployment when this many calls in the minute all failed.", ge=1)
    allowed_fails: Optional[int] = integer(
        None, "Legacy rule: cool down on the (n+1)-th failure; None = percentage rule.", ge=0)
    allowed_fails_rate_limit: Optional[int] = integer(None, "allowed_fails_policy for 429s.", ge=0)
    allowed_fails_timeout: Optional[int] = integer(None, "allowed_fails_policy for 408s.", ge=0)
    allowed_fails_authentication: Optional[int] = integer(None, "allowed_fails_policy for 401s.", ge=0)
    allowed_fails_internal_server: Optional[int] = integer(None, "allowed_fails_policy for 500s.", ge=0)
    skip_tried: SkipTried = choice(
        "non_retryable", "Which deployments a retry avoids: those that failed with a non-retryable status "
                         "(LiteLLM), every one tried, or none.")

    def __post_init__(self) -> None:
        check_fields(self)

    @property
    def uses_allowed_fails(self) -> bool:
        """True when LiteLLM's legacy count rule decides cooldowns (``allowed_fails`` or a policy is set)."""
        return any(v is not None for v in (self.allowed_fails, self.allowed_fails_rate_limit,
                                           self.allowed_fails_timeout, self.allowed_fails_authentication,
                                           self.allowed_fails_internal_server))

    def allowed_fails_for(self, status_code: int) -> int:
        """The legacy rule's allowance for this status: the policy's if set (0 included), else ``allowed_fails``.

        (Older LiteLLM wrote ``policy or allowed_fails``, so a policy of 0 fell through to ``allowed_fails``.)
        """
        policy = {429: self.allowed_fails_rate_limit, 408: self.allowed_fails_timeout,
                  401: self.allowed_fails_authentication, 500: self.allowed_fails_internal_server}.get(status_code)
        if policy is not None and (policy or self.litellm_rules == "current"):
            return policy
        return LITELLM_DEFAULT_ALLOWED_FAILS if self.allowed_fails is None else self.allowed_fails


# --------------------------------------------------------------------------------------------- outcomes

class NoDeploymentAvailable(Exception):
    """No deployment of the group can take the call: LiteLLM's ``RouterRateLimitError`` (a 429).

    ``reason`` is ``"all_cooling_down"`` (some cooling down, the rest ``unavailable``), ``"all_unavailable"``,
    ``"all_tried"`` or ``"over_limits"`` (usage- or latency-based routing found every deployment over its
    TPM/RPM); ``retry_after_s`` is what LiteLLM tells the client
    (the shortest cooldown duration in force, not the time left); ``cooling_down`` lists the deployments
    cooling down.
    """

    status_code = 429

    def __init__(self, reason: str, retry_after_s: float = math.nan, cooling_down: tuple[str, ...] = ()) -> None:
        wait = f", Try again in {retry_after_s:g} seconds" if not math.isnan(retry_after_s) else ""
        super().__init__(f"No deployments available for selected model{wait} ({reason})")
        self.reason = reason
        self.retry_after_s = retry_after_s
        self.cooling_down = cooling_down


class CooldownTransition(NamedTuple):
    """A deployment entering or leaving cooldown, as data (a row of the run's ``events`` frame).

    ``cause`` is one of :data:`COOLDOWN_CAUSES` when it starts, ``"cooldown_elapsed"`` when it ends (stamped
    with the exact expiry time). On a start, ``status_code`` is the failure that triggered it, ``failures``
    and ``calls`` what the rule counted, ``cooldown_s`` how long it lasts.
    """

    time_s: float
    deployment_id: str
    from_state: str
    to_state: str
    cause: str
    status_code: int = 0
    failures: int = 0
    calls: int = 0
    cooldown_s: float = math.nan

    @property
    def reason(self) -> str:
        """For people, e.g. ``"failure_rate: 4/6 failed, status 500"``; never parse it, read the fields."""
        if self.to_state == AVAILABLE:
            return "cooldown elapsed"
        return f"{self.cause}: {self.failures}/{self.calls} failed, status {self.status_code}"


class CooldownWindow(NamedTuple):
    """One cooldown of one deployment: out of rotation from ``start_s`` until ``end_s``."""

    deployment_id: str
    start_s: float
    end_s: float
    cause: str
    status_code: int


TransitionCallback = Callable[[CooldownTransition], None]


# --------------------------------------------------------------------------------------------- cooldown

class _ExpiringCount:
    """A cache counter with a TTL: set by its first increment, and either kept (``renew=False``: a fixed
    window from the first call, as LiteLLM 1.110's Rust core counts) or renewed by every increment (the older
    Python ``increment_cache``)."""

    __slots__ = ("value", "expires_at_s")

    def __init__(self) -> None:
        self.value = 0
        self.expires_at_s = -math.inf

    def get(self, now_s: float) -> int:
        return 0 if now_s > self.expires_at_s else self.value     # the cache evicts when now > expiry

    def set(self, value: int, now_s: float, ttl_s: float) -> None:
        self.value = value
        self.expires_at_s = now_s + ttl_s

    def add(self, now_s: float, ttl_s: float, renew: bool) -> None:
        if now_s > self.expires_at_s:
            self.value, self.expires_at_s = 1, now_s + ttl_s
        else:
            self.value += 1
            if renew:
                self.expires_at_s = now_s + ttl_s


class DeploymentCooldown:
    """LiteLLM's per-deployment failure counting and cooldown for one model group (see the module doc).

    Usage: :meth:`record_success` / :meth:`record_failure` after every call; :meth:`is_cooling_down` before
    picking. Every start and end of a cooldown is appended to :attr:`transitions` (and passed to
    ``on_transition``); :attr:`windows` holds one :class:`CooldownWindow` per cooldown.
    """

    def __init__(self, deployments: Sequence[Deployment], config: LoadBalancingConfig, clock: Clock, *,
                 on_transition: Optional[TransitionCallback] = None) -> None:
        self.config = config
        self._clock = clock
        self._on_transition = on_transition
        self._by_id = {d.id: d for d in deployments}
        self._single = len(self._by_id) == 1
        self._renew = config.counter_window == "renewed"
        self._successes = {d: _ExpiringCount() for d in self._by_id}
        self._failures = {d: _ExpiringCount() for d in self._by_id}
        self._counted_fails = {d: _ExpiringCount() for d in self._by_id}   # the legacy rule's counter
        self._active: dict[str, int] = {}                                   # id -> index in windows
        self.transitions: list[CooldownTransition] = []
        self.windows: list[CooldownWindow] = []

    def record_success(self, deployment_id: str) -> None:
        """A call to the deployment succeeded."""
        now = self._now()
        counter = self._successes[deployment_id]
        counter.add(now, self.config.counter_ttl_s, self._renew)

    def record_failure(self, deployment_id: str, status_code: int, *, retry_after_s: Optional[float] = None) -> bool:
        """A call failed with the HTTP ``status_code`` (>= 400); True if this put the deployment in cooldown.

        ``retry_after_s`` is the response's ``Retry-After``; it sets the cooldown when the deployment has no
        ``cooldown_s`` of its own (LiteLLM: the deployment's ``cooldown_time``, else the header, else the
        router's). A cooldown of 0 skips the cooldown logic (``_should_run_cooldown_logic``).
        """
        if isinstance(status_code, bool) or not isinstance(status_code, int) or not 400 <= status_code < 600:
            raise ValueError(f"status_code: a failed call's HTTP status must be in [400, 600), got {status_code!r}")
        now = self._now()
        counter = self._failures[deployment_id]
        counter.add(now, self.config.counter_ttl_s, self._renew)
        duration = self.cooldown_s(deployment_id, retry_after_s)
        if self.config.disable_cooldowns or duration == 0 or not cooldown_required(status_code):
            return False
        cause = self._cooldown_cause(deployment_id, status_code, now)
        if cause is None:
            return False
        self._start(deployment_id, status_code, cause, now, duration)
        return True

    def is_cooling_down(self, deployment_id: str) -> bool:
        self._now()
        return deployment_id in self._active

    def cooling_down(self) -> tuple[str, ...]:
        """Ids of the deployments out of rotation now, in group order."""
        self._now()
        return tuple(d for d in self._by_id if d in self._active)

    def minute_counts(self, deployment_id: str) -> tuple[int, int]:
        """(successes, failures) in the deployment's current "minute" (since it was last idle for 60 s)."""
        now = self._now()
        return self._successes[deployment_id].get(now), self._failures[deployment_id].get(now)

    def cooldown_s(self, deployment_id: str, retry_after_s: Optional[float] = None) -> float:
        """How long a cooldown of the deployment lasts: its own setting, else ``retry_after_s``, else the group's."""
        own = self._by_id[deployment_id].cooldown_s
        if own is not None:
            return own
        if retry_after_s is not None and retry_after_s >= 0:
            return float(retry_after_s)
        return self.config.cooldown_s

    def min_active_cooldown_s(self) -> float:
        """The shortest cooldown duration among deployments cooling down now (LiteLLM's ``get_min_cooldown``)."""
        self._now()
        windows = [self.windows[i] for i in self._active.values()]
        return min((w.end_s - w.start_s for w in windows), default=self.config.cooldown_s)

    # -- rules

    def _cooldown_cause(self, deployment_id: str, status_code: int, now: float) -> Optional[str]:
        if self.config.uses_allowed_fails:
            return self._allowed_fails_cause(deployment_id, status_code, now)
        successes, failures = self._successes[deployment_id].get(now), self._failures[deployment_id].get(now)
        calls = successes + failures
        share_failed = failures / calls if calls else 0.0
        if status_code == 429 and not self._single:
            return "rate_limited"
        if share_failed == 1.0 and calls >= self.config.all_failed_minimum_calls:
            return "all_failed"
        if (share_failed > self.config.failure_rate_threshold
                and calls >= self.config.failure_rate_minimum_calls and not self._single):
            return "failure_rate"
        if not should_retry(status_code):
            return "non_retryable"
        return None

    def _allowed_fails_cause(self, deployment_id: str, status_code: int, now: float) -> Optional[str]:
        counter = self._counted_fails[deployment_id]
        updated = counter.get(now) + 1
        if updated > self.config.allowed_fails_for(status_code):
            return "allowed_fails"
        counter.set(updated, now, self.config.cooldown_s)      # LiteLLM: ttl = the router's cooldown_time
        return None

    # -- state

    def _start(self, deployment_id: str, status_code: int, cause: str, now: float, duration: float) -> None:
        successes, failures = self.minute_counts(deployment_id)
        if cause == "allowed_fails":
            failures, successes = self._counted_fails[deployment_id].get(now) + 1, 0
        if deployment_id in self._active:            # a straggler's failure renews the cache entry
            index = self._active[deployment_id]
            self.windows[index] = self.windows[index]._replace(end_s=now + duration)
        else:
            self._active[deployment_id] = len(self.windows)
            self.windows.append(CooldownWindow(deployment_id, now, now + duration, cause, status_code))
            self._emit(CooldownTransition(now, deployment_id, AVAILABLE, COOLING_DOWN, cause, status_code,
                                          failures, successes + failures, duration))

    def _now(self) -> float:
        """The clock's time, after ending every cooldown that has expired (stamped with its expiry)."""
        now = self._clock()
        if not self._active:
            return now
        expired = sorted((self.windows[i].end_s, d) for d, i in self._active.items() if now >= self.windows[i].end_s)
        for end_s, deployment_id in expired:
            del self._active[deployment_id]
            self._emit(CooldownTransition(end_s, deployment_id, COOLING_DOWN, AVAILABLE, "cooldown_elapsed"))
        return now

    def _emit(self, transition: CooldownTransition) -> None:
        self.transitions.append(transition)
        if self._on_transition is not None:
            self._on_transition(transition)


# --------------------------------------------------------------------------------------------- the picker

class DeploymentPicker:
    """Chooses one deployment of a model group per attempt, skipping those cooling down or already tried.

    Usage, per attempt of a request::

        deployment = picker.pick(u, input_tokens=..., failed={id: status, ...})   # may raise NoDeploymentAvailable
        if picker.call_started(deployment.id):      # False: usage-based routing's own 429, no provider call
            ...call it...
            picker.call_succeeded(deployment.id, duration_s, total_tokens=..., completion_tokens=...)
            # or picker.call_failed(deployment.id, status_code, timed_out=...)

    ``failed`` maps the deployments this request already tried to the status they failed with.
    ``config.skip_tried`` decides which of them the pick avoids:

    * ``"non_retryable"`` (LiteLLM): only those that failed with a status LiteLLM does not retry (400, 401,
      404, ...); a 408/429/5xx deployment can be picked again unless it is cooling down. If avoiding them
      leaves nothing, they are all candidates again (``_deployment_ids_to_skip_on_retry``, PR #40014);
    * ``"all"``: every tried deployment; none left raises :class:`NoDeploymentAvailable` (``"all_tried"``),
      as LiteLLM's opt-in ``enable_weighted_failover`` (PR #27980) excludes failed ids for the retry;
    * ``"none"``: retries see the same candidates as the first attempt.

    ``unavailable`` names deployments out of rotation for another reason -- their own circuit breaker is
    open, a fault took their region down -- and is treated like a cooldown. When every deployment is
    cooling down or unavailable, LiteLLM raises :class:`NoDeploymentAvailable` (``"all_cooling_down"``);
    with ``strategy="portkey-loadbalance"`` they all stay candidates, as Portkey's circuit-breaker filter does.
    """

    def __init__(self, deployments: Sequence[Deployment], config: LoadBalancingConfig, clock: Clock, *,
                 on_transition: Optional[TransitionCallback] = None) -> None:
        self.deployments = _checked_group(deployments)
        self.config = config
        self._clock = clock
        self._by_id = {d.id: d for d in self.deployments}
        self.cooldown = DeploymentCooldown(self.deployments, config, clock, on_transition=on_transition)
        self.strategy = STRATEGIES[config.strategy](config)

    def pick(self, u: float, *, input_tokens: int = 0, streaming: bool = False,
             failed: Optional[Mapping[str, int]] = None, unavailable: Collection[str] = ()) -> Deployment:
        """The deployment for this attempt, chosen with the uniform draw ``u`` in [0, 1)."""
        if not 0.0 <= u < 1.0:
            raise ValueError(f"u: must be a uniform draw in [0, 1), got {u!r}")
        candidates = self._in_rotation(unavailable)
        candidates = self._not_tried(candidates, failed or {})
        chosen = self.strategy.choose(candidates, u, self._clock(), input_tokens=input_tokens, streaming=streaming)
        if chosen is None:
            raise NoDeploymentAvailable("over_limits")
        return chosen

    def call_started(self, deployment_id: str) -> bool:
        """The call is about to go out; False if the strategy refuses it (usage-based RPM: a 429)."""
        return self.strategy.call_started(self._by_id[deployment_id], self._clock())

    def call_succeeded(self, deployment_id: str, duration_s: float, *, total_tokens: int = 0,
                       completion_tokens: int = 0, ttft_s: Optional[float] = None) -> None:
        """The call returned; ``ttft_s`` only for streaming calls."""
        self.strategy.call_succeeded(self._by_id[deployment_id], self._clock(), duration_s, total_tokens,
                                     completion_tokens, ttft_s)
        self.cooldown.record_success(deployment_id)

    def call_failed(self, deployment_id: str, status_code: int, *, timed_out: bool = False,
                    retry_after_s: Optional[float] = None) -> bool:
        """The call failed with ``status_code`` (``Retry-After``: ``retry_after_s``); True if it now cools down."""
        cooled = self.cooldown.record_failure(deployment_id, status_code, retry_after_s=retry_after_s)
        self.strategy.call_failed(self._by_id[deployment_id], self._clock(), timed_out)
        return cooled

    def _in_rotation(self, unavailable: Collection[str]) -> list[Deployment]:
        cooling = self.cooldown.cooling_down()
        if not cooling and not unavailable:
            return list(self.deployments)
        available = [d for d in self.deployments if d.id not in cooling and d.id not in unavailable]
        if available or self.config.strategy == "portkey-loadbalance":
            return available or list(self.deployments)
        if not cooling:
            raise NoDeploymentAvailable("all_unavailable")
        raise NoDeploymentAvailable("all_cooling_down", self.cooldown.min_active_cooldown_s(), tuple(cooling))

    def _not_tried(self, candidates: list[Deployment], failed: Mapping[str, int]) -> list[Deployment]:
        mode = self.config.skip_tried
        if mode == "none" or not failed:
            return candidates
        if mode == "all":
            left = [d for d in candidates if d.id not in failed]
            if not left:
                raise NoDeploymentAvailable("all_tried")
            return left
        refused = {d for d, status in failed.items() if not should_retry(status)}
        return [d for d in candidates if d.id not in refused] or candidates


def _checked_group(deployments: Sequence[Deployment]) -> tuple[Deployment, ...]:
    group = tuple(deployments)
    if not group:
        raise SettingError("DeploymentPicker", "deployments", "List should have at least 1 item", [])
    seen: set[str] = set()
    for index, deployment in enumerate(group):
        if not isinstance(deployment, Deployment):
            raise SettingError("DeploymentPicker", f"deployments.{index}", "Input should be a Deployment", deployment)
        if deployment.id in seen:
            raise SettingError("DeploymentPicker", f"deployments.{index}.id", "ids must be unique in a model group",
                               deployment.id)
        seen.add(deployment.id)
    return group
