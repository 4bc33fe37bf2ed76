"""Closed-form load and cost estimates: the back-of-the-envelope numbers before any simulation.

Given how many people use an LLM feature and how big its prompts and answers are, a few multiplications
already answer the first capacity questions:

* **Volume.** ``requests_per_day = dau * requests_per_user_per_day``. Each user request makes
  ``llm_calls_per_request`` LLM API calls (1 for a plain chat turn, more for agents or retrieval chains), and each
  call sends ``input_tokens`` and receives ``output_tokens``.
* **Cost.** Providers bill per million tokens, input and output at different prices:
  ``cost_per_day_usd = (input_tokens_per_day * input_usd_per_mtok + output_tokens_per_day * output_usd_per_mtok)
  / 1e6``, and a month is ``days_per_month`` days (30 by default). Textbook check: 10,000 DAU x 15 requests x
  2,000 input tokens at $3 per million input tokens is 300 M tokens = $900 a day, $27,000 a 30-day month.
* **Rate.** Traffic is spread over 86,400 s a day on average, but it is not flat: ``peak_to_average`` (3 by
  default) scales the average rate to the busy-hour rate that capacity must be sized for.
* **Concurrency (Little's law).** The number of calls in flight is ``L = lambda * W``: the arrival rate of LLM
  calls times how long each one takes (``latency_s``, seconds per LLM call). Textbook check: 5,000 DAU x 10
  requests = 50,000 a day = 0.5787 req/s on average, 1.736 req/s at a 3x peak, and with 4 s per call about
  6.94 requests in flight at peak. In-flight calls are what connection pools and provider concurrency caps see.
  (If a request's calls run one after another, the same number counts the user requests in flight, because
  each then lasts ``llm_calls_per_request * latency_s``.)
* **Keys.** Providers rate-limit each API key (or organization) per minute: requests (RPM), input tokens
  (ITPM), output tokens (OTPM) and, at OpenAI, input + output tokens together in one TPM bucket
  (``tokens_per_min``). At peak, one key must absorb ``peak_requests_per_min`` API calls,
  ``peak_input_tokens_per_min`` and ``peak_output_tokens_per_min``. With per-key ``limits``, the number of keys
  needed to spread the peak load is ``ceil(max(need / limit))`` over the limits that are set, and the limit
  giving that maximum is the one that binds. E.g. 100,000 input tokens per minute against a 40,000 TPM key
  needs 3 keys.

* **Fallback.** A provider that goes down hands its whole peak to the next target of the fallback chain, so
  every target must be checked alone: with its own limits times its ``api_keys``, can it carry the peak?
  :func:`check_limits` gives, per target, the load over each limit, the limit that binds and the keys that
  target would need (e.g. 144,000 combined tokens a minute against 2 keys of 90,000 TPM: 80%, it carries it).

These are averages over a steady peak: bursts within the minute, retries and queueing delays are what the
simulator is for. All functions are pure; bad input raises :class:`sim.errors.ScenarioError` (a
``ValueError``) naming the parameter.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple

from sim.errors import ScenarioError

__all__ = ["Estimate", "LimitCheck", "check_limits", "estimate", "estimate_rate", "SECONDS_PER_DAY", "LIMIT_KEYS"]

SECONDS_PER_DAY = 86_400
SECONDS_PER_MIN = 60
TOKENS_PER_MTOK = 1_000_000
#: Per-key limit fields understood in ``limits``; other keys (e.g. ``source``, ``note``) are ignored.
LIMIT_KEYS = ("requests_per_min", "input_tokens_per_min", "output_tokens_per_min", "tokens_per_min")
# A need/limit ratio within this of an integer counts as that integer (2.0000000001 keys is 2 keys, not 3).
_RATIO_ROUNDING_DIGITS = 9


@dataclass(frozen=True)
class LimitCheck:
    """One provider (a chain target) alone against the peak: what each of its limits would have to carry."""

    target: str                 # "provider/model", or "" when not from a scenario
    api_keys: int               # keys the provider has; each multiplies the per-key limits
    utilisation: dict[str, float] = field(default_factory=dict, hash=False)   # need / (limit x api_keys)
    binding_limit: str | None = None   # the limit key with the largest utilisation (None: no limit set)
    keys_needed: int = 1        # keys of these per-key limits that the peak needs
    carries_peak_alone: bool = True    # keys_needed <= api_keys: every limit holds the whole peak
    cost_per_day_usd: float | None = None   # the day's traffic at this target's prices


def check_limits(need: Mapping[str, float], limits: Mapping[str, Any] | None, api_keys: int = 1,
                 target: str = "", cost_per_day_usd: float | None = None) -> LimitCheck:
    """``need`` (per minute, by limit key) against one key's ``limits`` pooled over ``api_keys`` keys.

    The binding limit is the one with the largest need / limit (ties: the first in :data:`LIMIT_KEYS`);
    ``keys_needed`` is ``ceil`` of that ratio per key (at least 1).
    """
    if isinstance(api_keys, bool) or not isinstance(api_keys, int) or api_keys < 1:
        raise ScenarioError(f"api_keys: must be a whole number >= 1, got {api_keys!r}")
    per_key = _parse_limits(limits) or {}
    per_key_load = {key: need[key] / limit for key, limit in per_key.items() if limit is not None}
    binding = keys = None
    if per_key_load:
        binding = max(per_key_load, key=lambda key: (per_key_load[key], -LIMIT_KEYS.index(key)))
        keys = max(1, math.ceil(round(per_key_load[binding], _RATIO_ROUNDING_DIGITS)))
    return LimitCheck(target=target, api_keys=api_keys,
                      utilisation={key: load / api_keys for key, load in per_key_load.items()},
                      binding_limit=binding, keys_needed=keys or 1, carries_peak_alone=(keys or 1) <= api_keys,
                      cost_per_day_usd=cost_per_day_usd)


@dataclass(frozen=True)
class Estimate:
    """Closed-form load, cost and capacity figures. Rates are per second unless the name says otherwise."""

    # volume (per day)
    requests_per_day: float  # user requests per day
    llm_calls_per_request: float
    llm_calls_per_day: float
    input_tokens_per_day: float
    output_tokens_per_day: float
    # cost
    cost_per_request_usd: float  # one user request, all its LLM calls
    cost_per_day_usd: float
    cost_per_month_usd: float
    days_per_month: float
    # rate and concurrency
    average_rps: float  # user requests per second, daily average
    peak_rps: float  # user requests per second at peak
    peak_to_average: float
    latency_s: float  # seconds one LLM call is in flight
    average_concurrency: float  # LLM calls in flight on average (Little's law)
    peak_concurrency: float  # LLM calls in flight at peak
    # what one key would have to absorb at peak
    peak_requests_per_min: float  # LLM API requests per minute
    peak_input_tokens_per_min: float
    peak_output_tokens_per_min: float
    peak_tokens_per_min: float  # input + output, for combined (OpenAI-style) TPM limits
    # against per-key limits (None when no limits were given)
    keys_needed: int | None = None
    binding_limit: str | None = None  # the limit key whose need/limit ratio is largest
    limit_utilisation: dict[str, float] = field(default_factory=dict, hash=False)  # need / limit, per set limit
    # every target of a scenario's fallback chain alone against the peak (empty when not from a scenario)
    chain_checks: tuple[LimitCheck, ...] = field(default=(), hash=False)

    @property
    def peak_need_per_min(self) -> dict[str, float]:
        """What one provider must absorb per minute at peak, by limit key."""
        return {"requests_per_min": self.peak_requests_per_min, "input_tokens_per_min": self.peak_input_tokens_per_min,
                "output_tokens_per_min": self.peak_output_tokens_per_min, "tokens_per_min": self.peak_tokens_per_min}

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-serialisable dict of every field."""
        return dataclasses.asdict(self)


def estimate(
    dau: float,
    requests_per_user_per_day: float,
    input_tokens: float,
    output_tokens: float,
    input_usd_per_mtok: float,
    output_usd_per_mtok: float,
    latency_s: float,
    peak_to_average: float = 3.0,
    llm_calls_per_request: float = 1.0,
    limits: Mapping[str, Any] | None = None,
    days_per_month: float = 30,
) -> Estimate:
    """Estimate load and cost from daily active users.

    ``input_tokens`` / ``output_tokens`` are per LLM call, prices are USD per million tokens, ``latency_s`` is
    seconds per LLM call. ``limits`` is one key's limits: a mapping with any of ``requests_per_min``,
    ``input_tokens_per_min``, ``output_tokens_per_min``, ``tokens_per_min`` (combined input + output), each a
    positive number or ``None`` for unlimited; a catalogue limit preset can be passed as it is.
    """
    _check("dau", dau)
    _check("requests_per_user_per_day", requests_per_user_per_day)
    return _estimate(dau * requests_per_user_per_day, **_call_shape(locals()))


def estimate_rate(
    rate_per_s: float,
    input_tokens: float,
    output_tokens: float,
    input_usd_per_mtok: float,
    output_usd_per_mtok: float,
    latency_s: float,
    peak_to_average: float = 3.0,
    llm_calls_per_request: float = 1.0,
    limits: Mapping[str, Any] | None = None,
    days_per_month: float = 30,
) -> Estimate:
    """Like :func:`estimate`, from an explicit average rate of user requests per second (``rate_per_s``)."""
    _check("rate_per_s", rate_per_s)
    return _estimate(rate_per_s * SECONDS_PER_DAY, **_call_shape(locals()))


_CALL_SHAPE = ("input_tokens", "output_tokens", "input_usd_per_mtok", "output_usd_per_mtok", "latency_s",
               "peak_to_average", "llm_calls_per_request", "limits", "days_per_month")


def _call_shape(arguments: dict) -> dict:
    """The per-call arguments both entry points pass on unchanged."""
    return {name: arguments[name] for name in _CALL_SHAPE}


def _estimate(
    requests_per_day: float,
    *,
    input_tokens: float,
    output_tokens: float,
    input_usd_per_mtok: float,
    output_usd_per_mtok: float,
    latency_s: float,
    peak_to_average: float,
    llm_calls_per_request: float,
    limits: Mapping[str, Any] | None,
    days_per_month: float,
) -> Estimate:
    for name, value in (
        ("input_tokens", input_tokens),
        ("output_tokens", output_tokens),
        ("input_usd_per_mtok", input_usd_per_mtok),
        ("output_usd_per_mtok", output_usd_per_mtok),
        ("latency_s", latency_s),
        ("llm_calls_per_request", llm_calls_per_request),
        ("days_per_month", days_per_month),
    ):
        _check(name, value)
    _check("peak_to_average", peak_to_average, minimum=1.0)
    per_key = _parse_limits(limits)

    llm_calls_per_day = requests_per_day * llm_calls_per_request
    input_tokens_per_day = llm_calls_per_day * input_tokens
    output_tokens_per_day = llm_calls_per_day * output_tokens
    # Cost from token totals (not per-request cost x count) so round textbook figures come out exact.
    cost_per_day_usd = (
        input_tokens_per_day * input_usd_per_mtok + output_tokens_per_day * output_usd_per_mtok
    ) / TOKENS_PER_MTOK
    cost_per_request_usd = (
        llm_calls_per_request * (input_tokens * input_usd_per_mtok + output_tokens * output_usd_per_mtok)
    ) / TOKENS_PER_MTOK

    average_rps = requests_per_day / SECONDS_PER_DAY
    peak_rps = average_rps * peak_to_average
    average_calls_per_s = average_rps * llm_calls_per_request
    peak_calls_per_s = peak_rps * llm_calls_per_request
    peak_requests_per_min = peak_calls_per_s * SECONDS_PER_MIN
    need = {
        "requests_per_min": peak_requests_per_min,
        "input_tokens_per_min": peak_requests_per_min * input_tokens,
        "output_tokens_per_min": peak_requests_per_min * output_tokens,
        "tokens_per_min": peak_requests_per_min * (input_tokens + output_tokens),
    }

    keys_needed: int | None = None
    binding_limit: str | None = None
    utilisation: dict[str, float] = {}
    if per_key is not None:     # with no limit set (all unlimited) one key carries everything
        one_key = check_limits(need, per_key)
        keys_needed, binding_limit, utilisation = one_key.keys_needed, one_key.binding_limit, one_key.utilisation

    return Estimate(
        requests_per_day=requests_per_day,
        llm_calls_per_request=llm_calls_per_request,
        llm_calls_per_day=llm_calls_per_day,
        input_tokens_per_day=input_tokens_per_day,
        output_tokens_per_day=output_tokens_per_day,
        cost_per_request_usd=cost_per_request_usd,
        cost_per_day_usd=cost_per_day_usd,
        cost_per_month_usd=cost_per_day_usd * days_per_month,
        days_per_month=days_per_month,
        average_rps=average_rps,
        peak_rps=peak_rps,
        peak_to_average=peak_to_average,
        latency_s=latency_s,
        average_concurrency=average_calls_per_s * latency_s,
        peak_concurrency=peak_calls_per_s * latency_s,
        peak_requests_per_min=peak_requests_per_min,
        peak_input_tokens_per_min=need["input_tokens_per_min"],
        peak_output_tokens_per_min=need["output_tokens_per_min"],
        peak_tokens_per_min=need["tokens_per_min"],
        keys_needed=keys_needed,
        binding_limit=binding_limit,
        limit_utilisation=utilisation,
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check(name: str, value: Any, *, minimum: float = 0.0) -> None:
    if not _is_number(value) or not math.isfinite(value):
        raise ScenarioError(f"{name}: must be a finite number, got {value!r}")
    if value < minimum:
        raise ScenarioError(f"{name}: must be >= {minimum:g}, got {value!r}")


def _parse_limits(limits: Mapping[str, Any] | None) -> dict[str, float | None] | None:
    if limits is None:
        return None
    if not isinstance(limits, Mapping):
        raise ScenarioError(f"limits: must be a mapping of {', '.join(LIMIT_KEYS)} (or None), got {limits!r}")
    present = [key for key in LIMIT_KEYS if key in limits]
    if not present:
        raise ScenarioError(
            f"limits: has none of {', '.join(LIMIT_KEYS)}; got keys {', '.join(map(str, limits)) or '(none)'}"
        )
    parsed: dict[str, float | None] = {}
    for key in present:
        value = limits[key]
        if value is not None:
            if not _is_number(value) or not math.isfinite(value) or value <= 0:
                raise ScenarioError(f"limits.{key}: must be a finite number > 0 or None (unlimited), got {value!r}")
        parsed[key] = value
    return parsed


def erlang_c(servers: int, offered_load: float) -> float:
    """Erlang C: the probability that an arrival to an M/M/c queue has to wait.

    ``offered_load`` is a = lambda / mu (in Erlangs); requires a < servers. Computed with the numerically
    stable recurrence for Erlang B, then C = B / (1 - rho (1 - B)).
    """
    if servers < 1 or not 0 <= offered_load < servers:
        raise ScenarioError(f"erlang_c: need servers >= 1 and 0 <= offered_load < servers, "
                            f"got servers={servers}, offered_load={offered_load}")
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = offered_load * blocking / (k + offered_load * blocking)
    rho = offered_load / servers
    return blocking / (1.0 - rho * (1.0 - blocking))


def mmc_mean_wait_s(arrival_rate_per_s: float, servers: int, mean_service_s: float) -> float:
    """Mean time in queue (before service) of an M/M/c queue: C(c, a) / (c mu - lambda)."""
    mu = 1.0 / mean_service_s
    return erlang_c(servers, arrival_rate_per_s / mu) / (servers * mu - arrival_rate_per_s)


class MMcDQueue(NamedTuple):
    """Stationary M/M/c+D quantities (FCFS, every arrival's patience exactly D seconds)."""

    p_wait: float            # P(an arrival finds every server busy), the virtual wait V > 0
    p_abandon: float         # P(V >= D): the arrival gives up after waiting D
    mean_wait_s: float       # E[min(V, D)]: mean time in queue of all arrivals, abandoners included
    mean_queue_length: float  # time-average number waiting = lambda E[min(V, D)] (Little)


def mmc_deterministic_patience(arrival_rate_per_s: float, servers: int, mean_service_s: float,
                               patience_s: float) -> MMcDQueue:
    """M/M/c+D: Poisson arrivals, c exponential servers, FCFS, a customer leaves after waiting ``patience_s``.

    Derivation (level crossing on the virtual waiting time V, the wait an infinitely patient arrival would
    have; Baccelli & Hebuterne 1981, Zeltyn & Mandelbaum 2005 for M/M/n+G with G a point mass at D).
    While all c servers are busy, V falls at rate 1. An arrival that finds V = y joins if y < D (an
    abandoner never uses a server, so it adds no work) and V jumps to y + Exp(c mu): the time until the
    next of the c busy servers frees after the ones it waits for. An arrival finding c - 1 busy takes the
    last server and V jumps from 0 to Exp(c mu). Equating down-crossings of level x > 0 with up-crossings:

        f(x) = lambda pi_{c-1} e^{-c mu x} + lambda int_0^x f(y) 1{y < D} e^{-c mu (x - y)} dy,

    whose solution is f(x) = lambda pi_{c-1} exp(lambda min(x, D) - c mu x). Below c busy the queue is the
    Erlang birth-death chain, pi_j = pi_0 a^j / j! (a = lambda / mu). With b = lambda - c mu,

        J = int_0^inf f / (lambda pi_{c-1}) = (e^{bD} - 1) / b + e^{bD} / (c mu)   (D + 1/(c mu) if b = 0)
        1 = pi_0 (sum_{j<c} a^j / j! + a^{c-1} / (c-1)! lambda J)                 (normalisation)
        P(V > 0) = lambda pi_{c-1} J   (PASTA),   P(V >= D) = lambda pi_{c-1} e^{bD} / (c mu)
        E[min(V, D)] = lambda pi_{c-1} (int_0^D x e^{bx} dx + D e^{bD} / (c mu)),
        int_0^D x e^{bx} dx = (e^{bD} (bD - 1) + 1) / b^2   (D^2 / 2 if b = 0).

    Every arrival spends min(V, D) in the queue (abandoners exactly D), so by Little the time-average
    number waiting is lambda E[min(V, D)]. Valid for any load, rho = lambda / (c mu) above 1 included.
    """
    if servers < 1 or not arrival_rate_per_s > 0 or not mean_service_s > 0 or not patience_s >= 0:
        raise ScenarioError(f"mmc_deterministic_patience: need servers >= 1 and positive rates and times, got "
                            f"servers={servers}, rate={arrival_rate_per_s}, service={mean_service_s}, "
                            f"patience={patience_s}")
    lam, c, d = arrival_rate_per_s, servers, patience_s
    c_mu = c / mean_service_s
    a = lam * mean_service_s
    b = lam - c_mu
    x = b * d
    grow = math.exp(x)
    below_d = d * (math.expm1(x) / x if x else 1.0)                  # int_0^D e^{bx} dx
    if abs(x) < 1e-2:       # the closed form cancels near b = 0: its series, sum_k (k-1) x^k / k!
        x_below_d = d * d * (1 / 2 + x / 3 + x * x / 8 + x ** 3 / 30 + x ** 4 / 144)
    else:
        x_below_d = d * d * (grow * (x - 1.0) + 1.0) / (x * x)      # int_0^D x e^{bx} dx
    beyond_d = grow / c_mu
    erlang_terms = [1.0]
    for j in range(1, c):
        erlang_terms.append(erlang_terms[-1] * a / j)
    pi_0 = 1.0 / (sum(erlang_terms) + erlang_terms[-1] * lam * (below_d + beyond_d))
    scale = lam * pi_0 * erlang_terms[-1]            # lambda pi_{c-1}
    mean_wait_s = scale * (x_below_d + d * beyond_d)
    return MMcDQueue(p_wait=scale * (below_d + beyond_d), p_abandon=scale * beyond_d,
                     mean_wait_s=mean_wait_s, mean_queue_length=lam * mean_wait_s)
