"""The LLM layer: providers, their keys and limits, and the models that answer.

A provider (Anthropic, OpenAI, ...) meters each API key with requests-per-minute and input/output
tokens-per-minute limits, refilled continuously; N keys behind a perfect rotation give N times the limits.
How it enforces them (the buckets' size, OpenAI's reservation of max_tokens) is :mod:`sim.policies.rate_limits`.
It may also cap calls in flight (``max_concurrency``). A model answers a call after its time to first token
plus the output tokens at its streaming speed, with lognormal noise; some calls fail (5xx), some are refused
by the content filter, some run past the client's timeout, and some answers are wrong (hallucination) or
unparseable (structured output) although the call succeeded. Only successful calls are billed, at the
model's price per million input and output tokens. A call larger than the model's context window (input +
the output it asks for) or asking for more than its maximum output is rejected before anything else, as the
provider's 400 "context length exceeded" (:meth:`ModelRuntime.rejects`): it costs nothing and no retry or
wait could change it.

:class:`ModelRuntime.draw` decides one attempt's fate from the model's named random streams, as a plain
method; the SimPy request process only waits for the time it returns.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import simpy

from sim.config import ExponentialLatency, ModelConfig, ProviderConfig
from sim.model.slots import SlotPool
from sim.model.streams import Streams
from sim.policies.rate_limits import ProviderRateLimits
from sim.record import CALL_STATUS

OK, ERROR, TIMEOUT, RATE_LIMITED, REFUSED, TOO_LARGE, CONTEXT_EXCEEDED = (
    CALL_STATUS[s] for s in ("ok", "error", "timeout", "rate_limited", "refused", "too_large", "context_exceeded"))


class AttemptResult(NamedTuple):
    """How one provider attempt ended; an unanswered attempt has no first token and costs nothing."""

    status: int                 # a CALL_STATUS code
    duration_s: float
    ttft_s: float = math.nan
    cost_usd: float = 0.0
    hallucinated: bool = False
    parse_failed: bool = False


# The hot path builds its named tuples with tuple.__new__ and every field: the same object as calling the
# class, without the Python-level __new__ that makes a NamedTuple ten times slower to create than a tuple.
_new_tuple = tuple.__new__


class ProviderLimits(ProviderRateLimits):
    """The rate limits of a provider's keys (:class:`ProviderRateLimits`) built from its configuration."""

    def __init__(self, config: ProviderConfig):
        per_min = config.limits.per_minute(config.api_keys)
        period_s, reserve_max_output = config.enforcement()
        super().__init__(per_min["rpm"], per_min["itpm"], per_min["otpm"], per_min["tpm"],
                         period_s=period_s, reserve_max_output=reserve_max_output)


class ModelRuntime:
    """One model of one provider: its price, latency, failure and quality draws."""

    def __init__(self, provider: str, config: ModelConfig, streams: Streams):
        self.provider = provider
        self.name = config.name
        self.label = f"{provider}/{config.name}"
        self.config = config
        self.input_usd_per_token = config.input_usd_per_mtok / 1e6
        self.output_usd_per_token = config.output_usd_per_mtok / 1e6
        lat = config.latency
        self.exponential_mean_s = lat.mean_s if isinstance(lat, ExponentialLatency) else None
        if self.exponential_mean_s is None:
            self.ttft_s, self.seconds_per_token, self.sigma = lat.ttft_s, 1.0 / lat.tokens_per_s, lat.sigma
            self.noise_shift = -0.5 * lat.sigma ** 2      # keeps the noise factor's mean at 1
        noise = streams.exponential if self.exponential_mean_s is not None else streams.normal
        # First attempts, retries and shadow calls ("lanes" 0, 1, 2) draw from separate streams, so a design
        # that retries or mirrors more does not shift the draws of later first attempts (common random
        # numbers across variants).
        lanes = ("", "/retry", "/shadow")
        self._noise = tuple(noise(f"latency/{self.label}{lane}") for lane in lanes)
        self._status_u = tuple(streams.uniform(f"errors/{self.label}{lane}") for lane in lanes)
        self._quality_u = tuple(streams.uniform(f"quality/{self.label}{lane}") for lane in lanes)
        self.error_rate = config.error_rate
        self.refusal_bound = config.error_rate + config.refusal_rate
        self.timeout_s = config.timeout_s
        self.hallucination_prob = config.hallucination_prob
        self.parse_failure_prob = config.parse_failure_prob
        self.price_rank = self.cost_usd(1000, 250)     # a reference call, to find the cheapest model
        window, most_out = config.context_window_tokens, config.max_output_tokens
        self.context_window_tokens = math.inf if window is None else window
        self.max_output_tokens = math.inf if most_out is None else most_out
        self.size_limited = window is not None or most_out is not None
        self.requested_max_tokens = config.requested_max_tokens     # what each call sends as max_tokens, if any
        self.cheap_tier = config.tier == "cheap"

    def rejects(self, input_tokens: int, output_tokens: int) -> bool:
        """Whether the provider refuses this call outright (400): input + the output asked for over the context
        window, or more output asked for than the model's maximum. The output asked for is the call's
        ``max_tokens`` when the model sends one (``requested_max_tokens``), else the output it will produce."""
        asked = output_tokens if self.requested_max_tokens is None else self.requested_max_tokens
        return self.rejects_asked(input_tokens, asked)

    def rejects_asked(self, input_tokens: int, asked_output_tokens: int) -> bool:
        """Whether a call asking for ``asked_output_tokens`` (its ``max_tokens``) is refused outright (400)."""
        return (input_tokens + asked_output_tokens > self.context_window_tokens
                or asked_output_tokens > self.max_output_tokens)

    def cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        return input_tokens * self.input_usd_per_token + output_tokens * self.output_usd_per_token

    def draw(self, input_tokens: int, output_tokens: int, lane: int = 0, effect=None, extra_wrong: float = 0.0,
             answer_u: float | None = None, timeout_s: float | None = None) -> AttemptResult:
        """One attempt's :class:`AttemptResult`.

        ``lane`` 0 is a first attempt, 1 a retry, 2 a shadow call. ``effect`` is the fault timeline's verdict
        for this attempt (None when no fault applies): a forced failure, a latency multiplier, added
        hallucination and parse-failure probabilities. ``extra_wrong`` adds to the hallucination probability
        (a cheap model on a hard request); ``answer_u``, when given, decides the answer instead of the
        model's own stream (the request's shared draw); ``timeout_s`` shortens the client's timeout (what is
        left of the request's deadline).
        """
        noise, status_u, quality_u = self._noise[lane], self._status_u[lane], self._quality_u[lane]
        timeout = self.timeout_s if timeout_s is None or timeout_s > self.timeout_s else timeout_s
        if self.exponential_mean_s is None:
            factor = math.exp(self.sigma * noise() + self.noise_shift)
            ttft = self.ttft_s * factor
            duration = ttft + output_tokens * self.seconds_per_token * factor
        else:
            duration = self.exponential_mean_s * noise()
            ttft = duration
        u = status_u()
        hallucination_prob, parse_failure_prob = self.hallucination_prob + extra_wrong, self.parse_failure_prob
        if effect is not None:
            if effect.forced_status is not None:
                if effect.forced_status == TIMEOUT or effect.forced_after_s >= timeout:
                    return AttemptResult(TIMEOUT, timeout)
                return AttemptResult(effect.forced_status, effect.forced_after_s)
            duration *= effect.latency_multiplier
            ttft *= effect.latency_multiplier
            hallucination_prob = min(1.0, hallucination_prob + effect.hallucination_add)
            parse_failure_prob = min(1.0, parse_failure_prob + effect.parse_failure_add)
        if u < self.refusal_bound:
            status = ERROR if u < self.error_rate else REFUSED
            return AttemptResult(status, min(ttft, timeout))
        if duration > timeout:
            return AttemptResult(TIMEOUT, timeout)
        hallucinated = parse_failed = False
        if hallucination_prob:
            hallucinated = (quality_u() if answer_u is None else answer_u) < hallucination_prob
        if parse_failure_prob:
            parse_failed = quality_u() < parse_failure_prob
        # self.cost_usd(...), inlined: once per answer
        cost_usd = input_tokens * self.input_usd_per_token + output_tokens * self.output_usd_per_token
        return _new_tuple(AttemptResult, (OK, duration, ttft, cost_usd, hallucinated, parse_failed))


@dataclass
class ProviderRuntime:
    name: str
    config: ProviderConfig
    limits: ProviderLimits | None
    slots: simpy.Resource | None
    models: dict[str, ModelRuntime] = field(default_factory=dict)


@dataclass
class Target:
    """A (provider, model) pair a request can be sent to; its index is its code in the frames."""

    code: int
    provider: ProviderRuntime
    model: ModelRuntime
    label: str = field(init=False)      # "provider/model", read on every attempt

    def __post_init__(self) -> None:
        self.label = self.model.label


def build_targets(env: simpy.Environment, providers: list[ProviderConfig], streams: Streams) -> list[Target]:
    targets = []
    for pconf in providers:
        limits = ProviderLimits(pconf)
        runtime = ProviderRuntime(pconf.name, pconf, limits if limits.active else None,
                                  SlotPool(env, pconf.max_concurrency) if pconf.max_concurrency else None)
        for mconf in pconf.models:
            model = runtime.models[mconf.name] = ModelRuntime(pconf.name, mconf, streams)
            targets.append(Target(len(targets), runtime, model))
    return targets
