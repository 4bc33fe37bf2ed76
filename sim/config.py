"""The scenario: one typed description of the system under study, and the single source of every default.

A scenario says who sends traffic (workload), what stands between them and the models (gateway), which
providers and models answer and at what price and speed (providers), how a request picks a model (routing),
how failures are handled (resilience) and what to write (output). It is read from YAML, may be changed from
the command line by dotted path (``--set providers.0.max_concurrency=8``) and may declare named ``variants``,
each a set of such overrides, so that two designs can be run on the same traffic and compared.

Every field has a default and a description here and nowhere else; the fully resolved scenario is written
beside every result, so a number can always be traced to the settings that produced it.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import re
import typing
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args

import yaml
from pydantic_core import PydanticCustomError
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo,
                      field_validator, model_validator)

from sim.errors import ScenarioError
from sim.policies._validation import SettingError, field_types, flag, number, number_problem, text, unit_of
from sim.policies.breaker import BreakerConfig
from sim.policies.kill_switch import KillSwitchConfig
from sim.policies.load_balancer import LoadBalancingConfig
from sim.policies.retry import RetryConfig
from sim.policies.shadow_evaluator import ShadowConfig
from sim.provider_catalogue import load_catalogue, missing_limits, without_provenance
from sim.scenario_file import load_yaml_text, read_yaml_file

# --------------------------------------------------------------------------------------------- durations

_DURATION_UNITS_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|min|s|m|h|d)")


_CLOCK_TIME = re.compile(r"(\d{1,2}):([0-5]\d)(?::([0-5]\d(?:\.\d*)?))?")


def parse_duration_s(value: Any) -> float:
    """Seconds from a number (already seconds) or a string such as ``90s``, ``15m``, ``2h``, ``1d``, ``1h30m``.

    A clock time (``13:30``) is not a duration: it is rejected rather than read as YAML 1.1's base-60 810.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration (seconds or a string like '90s', '15m', '2h', '1d')")
    if isinstance(value, (int, float)):
        return _finite_seconds(float(value))
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if _CLOCK_TIME.fullmatch(text):
            raise ValueError(f"{value!r} is a clock time, not a duration; write a duration such as '13h30m' "
                             "or '90s' (clock times are for workload.start_time_of_day and faults' at)")
        try:
            seconds = float(text)
        except ValueError:
            seconds = None
        if seconds is not None:
            return _finite_seconds(seconds)
        parts = _DURATION_PART.findall(text)
        if parts and "".join(n + u for n, u in parts) == text:
            return _finite_seconds(sum(float(n) * _DURATION_UNITS_S[u] for n, u in parts))
    raise ValueError(f"{value!r} is not a duration (use seconds or a string like '90s', '15m', '2h', '1d')")


def _finite_seconds(seconds: float) -> float:
    if not math.isfinite(seconds):
        raise ValueError(f"must be a finite number of seconds, got {seconds}")
    if seconds > MAX_DURATION_S:
        raise ValueError(f"must be at most a year ({MAX_DURATION_S:,.0f} s), got {seconds:g} s")
    return seconds


def parse_time_of_day_s(value: Any) -> float:
    """Seconds after midnight from a clock time ``HH:MM`` or ``HH:MM:SS``, or a duration since midnight."""
    if isinstance(value, str) and _CLOCK_TIME.fullmatch(value.strip()):
        hours, minutes, seconds = _CLOCK_TIME.fullmatch(value.strip()).groups()
        if int(hours) > 23:
            raise ValueError(f"{value!r} is not a clock time (hours run 00 to 23)")
        return int(hours) * 3600.0 + int(minutes) * 60.0 + float(seconds or 0.0)
    return parse_duration_s(value)


Duration = Annotated[float, BeforeValidator(parse_duration_s)]
TimeOfDay = Annotated[float, BeforeValidator(parse_time_of_day_s), Field(ge=0.0, lt=86400.0)]
NonNegDuration = Annotated[Duration, Field(ge=0)]
PosDuration = Annotated[Duration, Field(gt=0)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]

# Bounds on what a scenario may ask for: each is far beyond any real system, and far below what would make
# the machine swap (a billion users alone would take 16 GB). sim/memory_estimate.py checks the whole run.
MAX_DURATION_S = 366 * 86400.0
MAX_INTERVALS = 1_000_000
MAX_TOKENS = 10_000_000
MAX_USERS = 100_000_000
MAX_SLOTS = 1_000_000


class Section(BaseModel):
    """Base of every config section: unknown fields are errors, values are checked on assignment too.

    Two rules hold for every numeric field of every section: NaN and infinity are refused (a NaN ramp factor
    silently switched a fault off), and so is a boolean (YAML's ``true`` is not the number 1).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_boolean_as_number(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, value in data.items():
                if name in cls.model_fields and _holds_boolean(value) and not _field_takes_booleans(cls, name):
                    raise PydanticCustomError(BOOLEAN_AS_NUMBER, "{field}: expected a number or text, got a "
                                              "boolean (true/false)", {"field": name})
        return data


BOOLEAN_AS_NUMBER = "boolean_as_number"


def _holds_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    return isinstance(value, (list, tuple)) and any(_holds_boolean(v) for v in value)


@lru_cache(maxsize=None)
def _field_takes_booleans(model: type, field_name: str) -> bool:
    """Whether the field's type admits a boolean anywhere (``bool``, ``Any``), read from its annotation."""
    def admits(tp: Any) -> bool:
        return tp is bool or tp is Any or any(admits(arg) for arg in typing.get_args(tp))
    return admits(model.model_fields[field_name].annotation)


# --------------------------------------------------------------------------------------------- workload

class FixedTokens(Section):
    type: Literal["fixed"] = "fixed"
    value: int = Field(gt=0, le=MAX_TOKENS, description="Tokens in every request.")


class LognormalTokens(Section):
    type: Literal["lognormal"] = "lognormal"
    median: float = Field(gt=0, le=MAX_TOKENS, description="Median tokens per request.")
    p95: float = Field(gt=0, le=MAX_TOKENS, description="95th percentile of tokens per request (must exceed "
                                                        "the median).")
    max_tokens: int | None = Field(None, gt=0, le=MAX_TOKENS, description="Upper cut (e.g. the context "
                                                                          "window); None = none.")

    @model_validator(mode="after")
    def _p95_above_median(self):
        if self.p95 <= self.median:
            raise ValueError(f"p95 ({self.p95}) must be greater than median ({self.median})")
        return self


class EmpiricalTokens(Section):
    type: Literal["empirical"] = "empirical"
    path: str = Field(description="CSV file (relative paths are relative to the scenario file).")
    column: str = Field(description="Column of token counts to bootstrap from.")

    @field_validator("path")
    @classmethod
    def _exists(cls, v: str, info: ValidationInfo) -> str:
        return _existing_path(v, info)


class QuantileTokens(Section):
    """Token counts drawn from a quantile table: the inverse CDF through the points, rounded to integers."""

    type: Literal["quantiles"] = "quantiles"
    values: list[float] = Field(min_length=2, max_length=100_001, description="Token counts at evenly spaced "
                                "probabilities 0, 1/(n-1), ..., 1 (the minimum, ..., the maximum), ascending; "
                                "a draw interpolates linearly between them.")
    source: str = Field("", description="Where the quantiles come from (e.g. the trace they were fitted to).")

    @field_validator("values")
    @classmethod
    def _ascending_counts(cls, v: list[float]) -> list[float]:
        if any(x < 0 or x > MAX_TOKENS for x in v):
            raise ValueError(f"every value must be in [0, {MAX_TOKENS:,}]")
        if any(b < a for a, b in zip(v, v[1:])):
            raise ValueError("values must be ascending (quantiles at increasing probabilities)")
        if v[-1] < 0.5:
            raise ValueError("the largest value must be at least 1 token")
        return v


TokenDistribution = Annotated[Union[FixedTokens, LognormalTokens, EmpiricalTokens, QuantileTokens],
                              Field(discriminator="type")]


class FlatProfile(Section):
    type: Literal["flat"] = "flat"


class DiurnalProfile(Section):
    type: Literal["diurnal"] = "diurnal"
    peak_to_average: float = Field(3.0, ge=1.0, le=24.0,
                                    description="Busiest hour's rate over the daily mean rate (3 is typical).")
    peak_hour: float = Field(14.0, ge=0.0, lt=24.0, description="Hour of day (0-24) of the peak.")


def _relative_weights(cls, v: list[float]) -> list[float]:
    """Relative weights (normalised later): none negative, and a positive sum."""
    if any(w < 0 for w in v) or sum(v) <= 0:
        raise ValueError("weights must be >= 0 with a positive sum")
    return v


class HourlyProfile(Section):
    type: Literal["hourly"] = "hourly"
    weights: list[float] = Field(min_length=24, max_length=24,
                                 description="24 relative weights, hour 0 to 23; normalised to mean 1.")

    _positive = field_validator("weights")(_relative_weights)


class StepProfile(Section):
    """A rate shape in consecutive steps from t=0 (one per minute, say), repeated if the run is longer."""

    type: Literal["steps"] = "steps"
    step_s: PosDuration = Field(60.0, description="Length of one step.")
    weights: list[float] = Field(min_length=1, max_length=MAX_INTERVALS, description="Relative rate of each "
                                 "step, from t=0; normalised to mean 1 (so rate_per_s stays the mean rate).")

    _positive = field_validator("weights")(_relative_weights)


Profile = Annotated[Union[FlatProfile, DiurnalProfile, HourlyProfile, StepProfile], Field(discriminator="type")]


class NoBurstiness(Section):
    type: Literal["none"] = "none"


class MMPPBurstiness(Section):
    """Two-state Markov-modulated Poisson process; the long-run mean rate is kept."""

    type: Literal["mmpp"] = "mmpp"
    burst_rate_multiplier: float = Field(3.0, gt=1.0, description="Rate multiplier while in a burst.")
    mean_burst_s: PosDuration = Field(60.0, description="Mean length of a burst (exponential).")
    mean_calm_s: PosDuration = Field(600.0, description="Mean time between bursts (exponential).")

    @model_validator(mode="after")
    def _calm_rate_non_negative(self):
        p_burst = self.mean_burst_s / (self.mean_burst_s + self.mean_calm_s)
        if p_burst * self.burst_rate_multiplier > 1.0:
            raise ValueError("burst_rate_multiplier x burst share exceeds 1: the mean rate cannot be kept; "
                             "shorten mean_burst_s or lower burst_rate_multiplier")
        return self


class ClusterBurstiness(Section):
    """Requests come in clusters (a Neyman-Scott process): cluster starts follow the profile's rate divided by
    the mean cluster size, so the mean rate is kept; a cluster holds 1 + a negative binomial number of
    requests (geometric for shape 1), each delayed from the start by an exponential time (see
    sim/model/arrivals.py, cluster_arrival_times)."""

    type: Literal["cluster"] = "cluster"
    mean_cluster_size: float = Field(10.0, ge=1.0, le=1e6, description="Mean requests per cluster (geometric "
                                     "on 1, 2, ...; 1 = Poisson).")
    cluster_spread_s: PosDuration = Field(5.0, le=86400.0, description="Mean delay of a cluster's requests "
                                          "after its start (exponential).")
    cluster_size_shape: float = Field(1.0, gt=0, le=1e6, description="Shape r of the cluster size, 1 + "
                                      "NegativeBinomial(mean - 1, r): 1 = geometric; large = clusters of nearly "
                                      "equal size; small = mostly single requests and a few huge clusters.")


Burstiness = Annotated[Union[NoBurstiness, MMPPBurstiness, ClusterBurstiness], Field(discriminator="type")]


class CallsPerRequest(Section):
    kind: Literal["fixed", "geometric"] = Field("fixed", description="Fixed count, or geometric (agent loops).")
    mean: float = Field(1.0, ge=1.0, le=1000.0, description="Mean LLM calls per user request.")


class StepLatency(Section):
    type: Literal["fixed", "exponential"] = "exponential"
    mean_s: NonNegDuration = Field(0.1, description="Mean latency of the step.")


class StepConfig(Section):
    """A non-LLM step of the request (retrieval, a tool call) with its own latency and cost."""

    probability: Probability = Field(1.0, description="Share of requests that run the step.")
    latency: StepLatency = Field(default_factory=StepLatency)
    cost_usd: float = Field(0.0, ge=0, description="Cost of one execution of the step.")


class TraceConfig(Section):
    """Replay a real request trace: its arrival times and token counts drive the workload."""

    path: str = Field(description="Trace file (relative paths are relative to the scenario file).")
    format: Literal["azure", "mooncake", "csv"] = Field("azure", description="azure CSV, mooncake JSONL, or csv.")
    time_column: str = Field("arrival_s", description="csv format: arrival-time column.")
    time_unit: Literal["s", "ms", "datetime"] = Field("s", description="csv format: unit of time_column.")
    input_column: str = Field("input_tokens", description="csv format: input-token column.")
    output_column: str = Field("output_tokens", description="csv format: output-token column.")
    speedup: float = Field(1.0, gt=0, le=1e6, description="Time compression: 2 replays the trace twice as fast.")
    repeat: bool = Field(False, description="Tile the trace to fill the scenario duration.")

    @field_validator("path")
    @classmethod
    def _exists(cls, v: str, info: ValidationInfo) -> str:
        return _existing_path(v, info)


class WorkloadConfig(Section):
    dau: int | None = Field(None, gt=0, le=MAX_USERS, description="Daily active users (with "
                                                                  "requests_per_user_per_day).")
    requests_per_user_per_day: float | None = Field(None, gt=0, le=86_400.0, description="Requests per active "
                                                    "user per day (at most one a second).")
    rate_per_s: float | None = Field(None, gt=0, le=1e6, description="Explicit mean arrival rate (instead of "
                                                                     "DAU).")
    trace: TraceConfig | None = Field(None, description="Replay a trace instead of generating arrivals.")
    profile: Profile = Field(default_factory=DiurnalProfile, description="Time-of-day shape of the rate.")
    start_time_of_day: TimeOfDay = Field(0.0, description="Time of day at t=0: a clock time ('13:30', "
                                         "'08:15:30') or a duration since midnight ('8h'). Needed to place "
                                         "faults at a clock time (faults' at).")
    burstiness: Burstiness = Field(default_factory=NoBurstiness)
    n_users: int | None = Field(None, gt=0, le=MAX_USERS, description="Distinct users; default: dau, else 1000.")
    user_skew: float = Field(0.5, ge=0, description="Zipf exponent of per-user activity (0 = uniform; 1 gives the top user ~10% of traffic at 10K users).")
    input_tokens: TokenDistribution = Field(
        default_factory=lambda: LognormalTokens(median=1500, p95=6000), description="Input tokens per LLM call.")
    output_tokens: TokenDistribution = Field(
        default_factory=lambda: LognormalTokens(median=300, p95=1200), description="Output tokens per LLM call.")
    complexity_alpha: float = Field(2.0, gt=0, le=1e4, description="Beta(alpha, beta) shape of request "
                                    "complexity (at most 10^4: beyond it the quantiles the router needs are NaN).")
    complexity_beta: float = Field(5.0, gt=0, le=1e4, description="Beta(alpha, beta) shape of request "
                                   "complexity (at most 10^4).")
    n_intents: int = Field(10_000, gt=0, le=MAX_USERS, description="Distinct intents (what users ask), for the cache.")
    intent_skew: float = Field(1.0, ge=0, description="Zipf exponent of intent popularity.")
    llm_calls: CallsPerRequest = Field(default_factory=CallsPerRequest, description="LLM calls per request.")
    retrieval: StepConfig | None = Field(None, description="Retrieval step before the LLM calls.")
    tools: StepConfig | None = Field(None, description="Tool step after each LLM call but the last.")

    @model_validator(mode="after")
    def _one_volume(self):
        by_dau = self.dau is not None or self.requests_per_user_per_day is not None
        chosen = [by_dau, self.rate_per_s is not None, self.trace is not None]
        if sum(chosen) != 1:
            raise ValueError("give exactly one volume: dau + requests_per_user_per_day, rate_per_s, or trace")
        if by_dau and (self.dau is None or self.requests_per_user_per_day is None):
            raise ValueError("dau and requests_per_user_per_day go together")
        return self

    @property
    def mean_rate_per_s(self) -> float | None:
        """Daily mean arrival rate, or None for a trace."""
        if self.rate_per_s is not None:
            return self.rate_per_s
        if self.dau is not None:
            return self.dau * self.requests_per_user_per_day / 86400.0
        return None


# --------------------------------------------------------------------------------------------- gateway

class UserRateLimit(Section):
    requests_per_min: float = Field(gt=0, description="Sustained requests per minute per user.")
    burst: int = Field(10, gt=0, le=1_000_000, description="Bucket size: requests a user may send at once.")


class GatewayConfig(Section):
    """What stands between users and the providers: workers, a queue, limits and the patience of clients.

    The defaults are finite on purpose. Real clients give up: a browser tab is closed, a reverse proxy cuts the
    connection (nginx's and many load balancers' idle timeouts are 60-100 s), an SDK times out. A gateway
    with an unbounded queue and no deadline instead holds every request until it is served, and a 15-minute
    outage then reports 99.999% availability with a p95 of 436 s. Set a field to null to get the unbounded
    behaviour explicitly (queueing-theory validation needs it).
    """

    user_rate_limit: UserRateLimit | None = Field(None, description="Per-user token bucket; None = off.")
    workers: int | None = Field(None, gt=0, le=MAX_SLOTS, description="Worker concurrency (requests in service); None = unbounded.")
    max_queue: int | None = Field(10_000, ge=0, le=100_000_000, description="Queue capacity; arrivals beyond "
                                  "it are shed. Default 10,000 (a bounded queue, as every real gateway has); "
                                  "None = unbounded.")
    max_queue_wait_s: PosDuration | None = Field(
        60.0, description="Longest wait before a queued request is shed, for a worker slot or for room in the "
                          "provider's limits (smooth_to_provider_limits). Default 60 s: within the request "
                          "timeout, so a waiting request is shed, not left to time out; None = no limit.")
    request_timeout_s: PosDuration | None = Field(
        100.0, description="End-to-end deadline of a request from its arrival: calls are cut short to what is "
                           "left of it, and no retry or fallback starts after it (outcome timeout). Default "
                           "100 s, a common proxy timeout (Cloudflare's is 100 s): clients do not wait longer; "
                           "None = none.")
    user_patience_s: PosDuration = Field(
        30.0, description="How long a person waits for an answer before giving up on it in their head; changes "
                          "nothing in the run, but the summary counts requests whose end-to-end time exceeded "
                          "it (requests_waited_over_patience), so a run that only 'succeeds' by making people "
                          "wait says so.")
    smooth_to_provider_limits: bool = Field(
        True, description="Hold requests until the provider's RPM/TPM buckets have room (BullMQ limiter) "
                          "instead of sending them and collecting 429s.")


# --------------------------------------------------------------------------------------------- providers

class TTFTThroughputLatency(Section):
    """Call duration = (ttft_s + output_tokens / tokens_per_s) x lognormal noise of mean 1."""

    type: Literal["ttft_throughput"] = "ttft_throughput"
    ttft_s: NonNegDuration = Field(0.6, description="Mean time to first token.")
    tokens_per_s: float = Field(60.0, gt=0, description="Output speed once streaming.")
    sigma: float = Field(0.3, ge=0, le=5.0, description="Sigma of the mean-one lognormal noise factor.")


class ExponentialLatency(Section):
    """Call duration ~ Exponential(mean_s), independent of tokens: for queueing-theory validation."""

    type: Literal["exponential"] = "exponential"
    mean_s: PosDuration = Field(description="Mean call duration.")


Latency = Annotated[Union[TTFTThroughputLatency, ExponentialLatency], Field(discriminator="type")]


class ModelConfig(Section):
    name: str = Field(description="Model name, unique within its provider.")
    catalogue: str | None = Field(None, description="Catalogue entry to take prices and latency from.")
    input_usd_per_mtok: float = Field(ge=0, description="Price per 1M input tokens.")
    output_usd_per_mtok: float = Field(ge=0, description="Price per 1M output tokens.")
    latency: Latency = Field(default_factory=TTFTThroughputLatency)
    error_rate: Probability = Field(0.002, description="Share of calls failing with a 5xx.")
    refusal_rate: Probability = Field(0.0, description="Share of calls refused by the content filter.")
    timeout_s: PosDuration = Field(60.0, description="Client timeout of one call.")
    tier: Literal["strong", "cheap"] = Field("strong", description="Quality tier: a cheap model is wrong more "
                                                                   "often on requests that need a strong one.")
    hallucination_prob: Probability = Field(0.0, description="Share of answers that are wrong.")
    parse_failure_prob: Probability = Field(0.0, description="Share of structured outputs that fail to parse.")
    context_window_tokens: int | None = Field(
        None, gt=0, le=MAX_TOKENS, description="Most tokens one call may hold, input + output (the output it asks "
                                               "for). A larger call is rejected at once as the provider does (400 "
                                               "'context length exceeded': status context_exceeded, not retried). "
                                               "None = no limit; catalogue models fill it.")
    max_output_tokens: int | None = Field(
        None, gt=0, le=MAX_TOKENS, description="Most output tokens one call may ask for; a call asking for more is "
                                               "rejected like one over the context window. None = no limit of its "
                                               "own; catalogue models fill it.")

    requested_max_tokens: int | None = Field(
        None, gt=0, le=MAX_TOKENS, description="The max_tokens (max_completion_tokens) each call sends. Changes no "
                                               "answer; a provider that reserves it (limits.reserve_max_output) "
                                               "counts it against the token limits until the call finishes, and a "
                                               "call whose input + requested_max_tokens exceeds the context window "
                                               "is rejected. None = not sent (the output produced is counted).")

    @model_validator(mode="after")
    def _output_fits_the_window(self):
        window, most_out = self.context_window_tokens, self.max_output_tokens
        if window is not None and most_out is not None and most_out > window:
            raise ValueError(f"max_output_tokens ({most_out}) exceeds context_window_tokens ({window})")
        asked = self.requested_max_tokens
        if asked is not None and most_out is not None and asked > most_out:
            raise ValueError(f"requested_max_tokens ({asked}) exceeds the model's max_output_tokens ({most_out}): "
                             "the provider would reject every call")
        return self

    @model_validator(mode="before")
    @classmethod
    def _from_catalogue(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("catalogue"):
            try:
                entry = without_provenance(load_catalogue().model(data["catalogue"]))
            except KeyError as err:
                raise ValueError(err.args[0]) from None
            data = deep_merge({k: v for k, v in entry.items() if k in cls.model_fields}, data)
        if isinstance(data, dict) and isinstance(data.get("latency"), dict):
            data = {**data, "latency": {"type": "ttft_throughput", **data["latency"]}}
        return data


class LimitsConfig(Section):
    """Per-API-key limits, enforced as continuously refilling token buckets (as providers do)."""

    preset: str | None = Field(None, description="Catalogue limit preset to start from (`python -m sim catalogue "
                                                  "limits` lists them); a limit it does not publish (its "
                                                  "must_supply) must be set beside it.")
    requests_per_min: float | None = Field(None, gt=0, description="RPM per key; None = unlimited.")
    input_tokens_per_min: float | None = Field(None, gt=0, description="Input TPM per key; None = unlimited.")
    output_tokens_per_min: float | None = Field(None, gt=0, description="Output TPM per key; None = unlimited.")
    tokens_per_min: float | None = Field(None, gt=0, description="Combined input+output TPM per key (OpenAI "
                                                                  "style); None = unlimited.")
    enforcement_period_s: float | None = Field(
        None, gt=0, le=60, description="Enforcement granularity: each bucket holds this many seconds of the "
                                       "minute's limit (capacity = limit x period / 60) and refills at limit/60 "
                                       "per second. 60 = a whole minute's quota can be spent at once; 1 = about "
                                       "a second's worth (Anthropic, OpenAI). A call larger than the bucket but "
                                       "within the minute's limit passes from a full bucket. None = the "
                                       "provider's documented value (the catalogue's 'enforcement' section, by "
                                       "provider name: anthropic and openai 1 s, google 60 s), 60 s for a "
                                       "provider the catalogue does not name.")
    reserve_max_output: bool | None = Field(
        None, description="Count a call at admission as its input plus its model's max_output_tokens against "
                          "the output and combined token limits, and give back the unused part when it "
                          "finishes (OpenAI's rule); false = count the output it produces. None = the "
                          "provider's documented rule (catalogue, by provider name: openai true), else false.")

    @model_validator(mode="before")
    @classmethod
    def _from_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("preset"):
            try:
                entry = load_catalogue().limit_preset(data["preset"])
            except KeyError as err:
                raise ValueError(err.args[0]) from None
            base = {k: v for k, v in entry.items() if k in cls.model_fields}
            data = {**base, **data}
            missing = missing_limits(entry, data)
            if missing:
                raise ValueError(f"preset {data['preset']!r} publishes no value for {', '.join(missing)} "
                                 f"({entry.get('tier', 'this')} tier: negotiated or not found); set "
                                 f"{' and '.join(missing)} beside the preset")
        return data

    def per_minute(self, keys: int = 1) -> dict[str, float | None]:
        """The limits of ``keys`` keys pooled, by bucket: rpm, itpm, otpm, tpm."""
        pooled = lambda v: v * keys if v else None   # noqa: E731
        return {"rpm": pooled(self.requests_per_min), "itpm": pooled(self.input_tokens_per_min),
                "otpm": pooled(self.output_tokens_per_min), "tpm": pooled(self.tokens_per_min)}


class ProviderConfig(Section):
    name: str = Field(description="Provider name, unique in the scenario.")
    api_keys: int = Field(1, gt=0, le=100_000, description="API keys; each multiplies the per-key limits.")
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    max_concurrency: int | None = Field(None, gt=0, le=MAX_SLOTS, description="Calls in flight at once; None = unbounded.")
    region: str | None = Field(None, min_length=1, max_length=100,
                               description="Cloud region of this deployment (eastus, us-east-1); a fault's target "
                                           "'region:eastus' hits every provider in it. None = not said.")
    models: list[ModelConfig] = Field(min_length=1)

    def enforcement(self) -> tuple[float, bool]:
        """(period_s, reserve_max_output): the scenario's, or else as the catalogue documents this provider
        (by name), or else a whole-minute bucket counting the output produced."""
        documented = load_catalogue().enforcement_for(self.name) or {"period_s": 60.0, "reserve_max_output": False}
        period = self.limits.enforcement_period_s
        reserve = self.limits.reserve_max_output
        return (float(documented["period_s"] if period is None else period),
                bool(documented["reserve_max_output"] if reserve is None else reserve))

    @model_validator(mode="after")
    def _unique_models(self):
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError(f"model names must be unique within a provider: {names}")
        return self


# --------------------------------------------------------------------------------------------- routing, resilience, output

class ModelGroup(Section):
    """Several deployments of one model behind one name (LiteLLM's model group, Portkey's loadbalance): each
    attempt goes to one of them, picked by the group's strategy among those not cooling down."""

    deployments: list[str] = Field(min_length=1, description="The 'provider/model' targets serving this name "
                                                             "(each provider section is one deployment: its "
                                                             "own keys, limits and faults).")
    weights: list[float] | None = Field(None, description="Share of traffic per deployment, in the order of "
                                                          "deployments (simple-shuffle, Portkey loadbalance); "
                                                          "None = by rpm, else tpm, else evenly (LiteLLM).")
    load_balancing: LoadBalancingConfig = Field(default_factory=LoadBalancingConfig,
                                                description="Strategy and cooldown (LiteLLM's defaults).")

    @field_validator("load_balancing", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> Any:
        return _settings_input(LoadBalancingConfig, value)

    @model_validator(mode="after")
    def _weights_match(self):
        if len(set(self.deployments)) != len(self.deployments):
            raise ValueError(f"deployments must be distinct: {self.deployments}")
        if self.weights is not None:
            if len(self.weights) != len(self.deployments):
                raise ValueError(f"weights: {len(self.weights)} given for {len(self.deployments)} deployments")
            if any(not (w >= 0) for w in self.weights) or not sum(self.weights) > 0:
                raise ValueError(f"weights: must be >= 0 and not all 0, got {self.weights}")
        return self


class RoutingConfig(Section):
    """Which model answers: a fixed chain, or a router choosing between a strong and a cheap model."""

    strategy: Literal["fixed", "threshold", "cascade", "weighted"] = Field(
        "fixed", description="fixed: the chain's first target; threshold: the router's score >= threshold "
                             "-> strong, else cheap; cascade: cheap first, escalate to strong when its answer "
                             "fails a confidence check (both calls paid); weighted: a random split.")
    chain: list[str] = Field(default_factory=list,
                             description="Ordered 'provider/model' targets; the first serves, later ones are "
                                         "fallbacks (after the routed model for the other strategies). "
                                         "Empty = the first model of the first provider.")
    groups: dict[str, ModelGroup] = Field(default_factory=dict,
                                          description="Model groups by name: a chain entry may name one "
                                                      "instead of a 'provider/model' target.")
    context_window_fallbacks: list[str] = Field(
        default_factory=list, description="Targets or groups tried, in order, when a call is rejected for its "
                                          "context window (LiteLLM's context_window_fallbacks), in place of the "
                                          "rest of the chain. Empty = it moves down the chain like any failure "
                                          "(resilience.fallback_on).")
    content_policy_fallbacks: list[str] = Field(
        default_factory=list, description="Targets or groups tried, in order, when a call is refused by the "
                                          "content filter (LiteLLM's content_policy_fallbacks). Empty = a "
                                          "refusal is final.")
    strong: str | None = Field(None, description="The strong 'provider/model' (router strategies).")
    cheap: str | None = Field(None, description="The cheap 'provider/model' (router strategies).")
    auc: float = Field(0.9, ge=0.5, le=1.0, description="Router skill: the AUC of its score as a ranking of "
                                                       "the requests that need the strong model (0.5 = random).")
    strong_share: Probability | None = Field(None, description="threshold: set the threshold so this share "
                                                               "of requests goes to the strong model.")
    threshold: float | None = Field(None, description="threshold: explicit score threshold (binormal score: "
                                                      "0 = the mean score of requests that do not need it).")
    weight: Probability = Field(0.5, description="weighted: share of requests sent to the strong model.")
    cascade_recall: Probability = Field(0.8, description="cascade: P(a wrong cheap answer is caught).")
    cascade_false_escalation: Probability = Field(0.1, description="cascade: P(a right cheap answer is "
                                                                   "escalated anyway).")

    @model_validator(mode="after")
    def _router_needs_models(self):
        if self.strategy != "fixed" and (self.strong is None or self.cheap is None):
            raise ValueError(f"strategy {self.strategy!r} needs routing.strong and routing.cheap")
        if self.strategy == "threshold" and (self.strong_share is None) == (self.threshold is None):
            raise ValueError("strategy 'threshold' needs exactly one of strong_share or threshold")
        return self


class SimilaritySettings(Section):
    """The similarity model of query traffic (sim/model/similarity.py; docs/cache_calibration.md).

    Intents are grouped in topics; a query is a paraphrase of its intent (a noisy unit vector around the
    intent's centroid) or, with ``repeat_share``, a verbatim repeat of an earlier one. Defaults are fitted to
    real MiniLM question pairs (paraphrases median cosine 0.84, related non-paraphrases 0.43).
    """

    dim: int = Field(64, ge=8, le=4096, description="Embedding dimensions.")
    n_topics: int = Field(700, gt=0, le=MAX_USERS, description="Topics grouping the workload's intents (siblings).")
    sibling_spread_median: float = Field(0.9, gt=0, description="Median offset of an intent from its topic.")
    sibling_spread_log_sd: float = Field(0.6, ge=0, description="Log-sd of that offset across intents.")
    paraphrase_noise_median: float = Field(0.45, gt=0, description="Median paraphrase noise of an intent.")
    paraphrase_noise_log_sd: float = Field(0.38, ge=0, description="Log-sd of paraphrase noise across intents.")
    repeat_share: Probability = Field(0.35, description="P(a query repeats an earlier paraphrase verbatim): "
                                                        "the knob that sets a strict cache's hit rate.")


class CacheSettings(Section):
    """A semantic cache in front of the LLM calls: top-1 cosine >= threshold answers from the cache."""

    enabled: bool = Field(False, description="Look every request up in the cache first.")
    threshold: float = Field(0.95, ge=-1.0, le=1.0, description="Cosine similarity that counts as a hit.")
    ttl_s: PosDuration | None = Field(None, description="Entries expire this long after insertion; None = never.")
    capacity: int = Field(100_000, gt=0, le=MAX_USERS, description="Entries held; beyond it the eviction policy drops one.")
    eviction: Literal["lru", "fifo"] = Field("lru", description="Which entry a full cache drops.")
    insert_policy: Literal["on_miss", "verified"] = Field(
        "on_miss", description="on_miss: store every answered miss; verified (vCache-like): store only after "
                               "a verified wrong match, or a miss with no near neighbour.")
    probe_neighbours: int = Field(1, ge=0, le=10_000, description="Extra index partitions searched (IVF nprobe - 1).")
    embedding_usd_per_mtok: float = Field(0.02, ge=0, description="Price of embedding a query (per 1M tokens).")
    embedding_latency_s: NonNegDuration = Field(0.02, description="Time to embed a query and search.")
    answer_change_rate_per_day: float = Field(1 / 30, ge=0, description="How often an intent's right answer "
                                              "changes (knowledge changes); a hit older than it is stale.")
    degraded_threshold: float = Field(0.85, ge=-1.0, le=1.0, description="When every provider is unavailable "
                                      "(resilience.when_all_open: cache_only), serve the nearest entry above this.")
    similarity: SimilaritySettings = Field(default_factory=SimilaritySettings)


class CompressionSettings(Section):
    """Prompt compression (LLMLingua-style): fewer input tokens for a little time and some quality."""

    ratio: float = Field(1.0, gt=0, le=1, description="Input tokens kept (0.5 = half); 1 = no compression.")
    latency_s: NonNegDuration = Field(0.05, description="Time to compress one prompt.")
    hallucination_add: Probability = Field(0.0, description="Extra P(wrong answer) from the lost context.")


class QualitySettings(Section):
    """Which requests need the strong model, and how much more often a cheap model gets those wrong.

    Calibrated against RouteLLM's published curve (docs/routing_calibration.md): 20% of requests need the
    strong model; a model of tier ``cheap`` answers them wrong with ``hard_extra_error`` on top of its own
    ``hallucination_prob``.
    """

    needs_strong_share: float = Field(0.2, gt=0, lt=1, description="Share of requests (the most complex) "
                                                                   "that need the strong model.")
    hard_extra_error: Probability = Field(0.30, description="Extra P(wrong) of a cheap-tier model on them.")


# The resilience sections are the policies' own config dataclasses (one declaration per setting: default,
# bounds, unit, description; see sim/policies/_validation.py), extended where the scenario needs more.

@dataclass(frozen=True)
class BreakerSettings(BreakerConfig):
    """A circuit breaker per target (provider/model), in resilience4j's vocabulary, plus AI signals."""

    record_rate_limited: bool = flag(False, "Count 429s as failures (resilience4j would; most gateways do "
                                            "not, since a 429 is not a broken target).")
    detector_recall: float = number(1.0, "The online evaluator feeding the AI trip conditions: P(it flags a "
                                         "wrong or unparseable answer).", ge=0, le=1)
    detector_false_positive_rate: float = number(0.0, "P(the evaluator flags a good answer).", ge=0, le=1)


@dataclass(frozen=True, kw_only=True)
class ShadowSettings(ShadowConfig):
    """Mirror a share of traffic to a candidate model; a noisy judge compares quality."""

    target: str = text("Candidate 'provider/model'.")
    share: float = number(0.1, "Share of successful requests mirrored.", ge=0, le=1)


def _settings_dataclass(annotation: Any) -> type | None:
    """The settings dataclass a field holds (``X`` or ``X | None``), or None."""
    for candidate in (annotation, *get_args(annotation)):
        if dataclasses.is_dataclass(candidate):
            return candidate
    return None


def _settings_input(section: type, value: Any) -> Any:
    """Raw input of a settings dataclass, made ready for pydantic: durations (``30s``) in seconds for fields
    declared with unit ``s``, and booleans refused for numbers (pydantic's lax mode would read True as 1)."""
    if not isinstance(value, dict):
        return value
    hints = field_types(section)
    out = dict(value)
    for field in dataclasses.fields(section):
        raw = out.get(field.name)
        if unit_of(field) == "s" and isinstance(raw, str):
            try:
                out[field.name] = parse_duration_s(raw)
            except ValueError as err:
                raise SettingError(section.__name__, field.name, str(err), raw) from None
        elif isinstance(raw, bool) and float in (hints[field.name], *get_args(hints[field.name])):
            raise SettingError(section.__name__, field.name, number_problem(raw), raw)
    return out


#: The final failures of a chain entry after which fallback may move on (resilience.fallback_on).
FallbackStatus = Literal["error", "timeout", "rate_limited", "context_exceeded", "too_large"]
FALLBACK_STATUSES = get_args(FallbackStatus)


class ResilienceConfig(Section):
    retry: RetryConfig = Field(default_factory=RetryConfig, description="Retries with backoff, per call.")
    breaker: BreakerSettings | None = Field(None, description="Circuit breaker per target; None = none.")
    fallback: bool = Field(False, description="On failure (or an open breaker) move down routing.chain.")
    fallback_on: list[FallbackStatus] = Field(
        default_factory=lambda: list(FALLBACK_STATUSES),
        description="Which final failures of a chain entry move on to the next (with fallback): error (5xx), "
                    "timeout, rate_limited (429), context_exceeded, too_large. An open breaker, or a group "
                    "with no deployment left, always moves on; a refusal never does (see "
                    "routing.content_policy_fallbacks). Default: all five.")
    when_all_open: Literal["fail_fast", "wait", "cache_only"] = Field(
        "fail_fast", description="When every target's breaker is open: fail at once, wait (within the "
                                 "gateway's max_queue_wait_s) for the first to half-open, or serve the "
                                 "nearest cached answer above cache.degraded_threshold.")
    kill_switch: KillSwitchConfig | None = Field(None, description="Budget kill switch: at the soft limit the "
                                                 "cheapest model and no shadow traffic, at the hard limit no new "
                                                 "LLM calls; None = none.")
    shadow: ShadowSettings | None = Field(None, description="Shadow evaluation of a candidate; None = none.")

    @field_validator("retry", "breaker", "kill_switch", "shadow", mode="before")
    @classmethod
    def _settings_sections(cls, value: Any, info: ValidationInfo) -> Any:
        return _settings_input(_settings_dataclass(cls.model_fields[info.field_name].annotation), value)


# --------------------------------------------------------------------------------------------- faults

#: A fault target naming a region rather than a provider or model: 'region:eastus'.
REGION_PREFIX = "region:"

FaultKind = Literal["outage", "error_rate", "latency", "rate_limit", "degradation", "cost_spike"]


class FaultConfig(Section):
    """One injected fault: what breaks, for whom, from when, for how long and how badly.

    ``targets`` lists providers (``openai``), models (``openai/gpt-4o``) or regions (``region:eastus``: every
    provider whose ``region`` is eastus); one fault with several targets is a shared cause (a cloud region
    failing takes them down together). ``ramp`` scales the fault's
    magnitude over its life: (offset from start, factor) points, linear between, factor 1 if absent.
    """

    kind: FaultKind = Field(description="outage | error_rate | latency | rate_limit | degradation | cost_spike")
    targets: list[str] = Field(default_factory=list, description="Providers, provider/model or region:NAME; "
                                                                   "empty = all.")
    start: NonNegDuration = Field(description="Start, seconds from the run's start (or give at).")
    at: TimeOfDay | None = Field(None, exclude=True, description="Start at a clock time instead ('14:00'): the "
                                 "first such time at or after the run's start, which needs "
                                 "workload.start_time_of_day; resolved into start.")
    duration: PosDuration = Field(description="How long it lasts.")
    name: str = Field("", description="Label in events and charts (e.g. the incident id).")
    cause: str = Field("", description="Shared cause, for the record (e.g. 'azure-southcentralus power').")
    source: str = Field("", description="Where the numbers come from (an incident page).")
    mode: Literal["fail_fast", "hang"] = Field("fail_fast", description="outage: fail at once, or hang until "
                                                                        "the client's timeout.")
    share: Probability | None = Field(None, description="outage, error_rate: share of calls failing (outage "
                                      "default 1); rate_limit: share of calls answered with a spurious 429 "
                                      "(default 0); cost_spike: share of requests affected (required).")
    fail_after_s: NonNegDuration = Field(0.2, description="outage fail_fast / error_rate: time to the error.")
    latency_multiplier: float = Field(1.0, ge=1.0, le=1000.0, description="latency: calls take this many times longer.")
    limit_factor: float = Field(1.0, gt=0, le=1, description="rate_limit: provider limits multiplied by this.")
    hallucination_prob: Probability = Field(0.0, description="degradation: added probability of a wrong answer.")
    parse_failure_prob: Probability = Field(0.0, description="degradation: added parse-failure probability.")
    token_multiplier: float = Field(1.0, ge=1.0, le=1000.0, description="cost_spike: tokens of an affected request x this.")
    extra_llm_calls: int = Field(0, ge=0, le=1000, description="cost_spike: extra LLM calls of an affected request "
                                                      "(a runaway agent loop).")
    ramp: list[tuple[NonNegDuration, float]] = Field(default_factory=list,
                                                     description="(offset, factor) points scaling the magnitude.")

    @model_validator(mode="before")
    @classmethod
    def _at_resolved_by_the_scenario(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("at") is not None:
            if data.get("start") is not None:
                raise ValueError("give start or at, not both")
            raise ValueError("at (a clock time) needs workload.start_time_of_day, the time of day at t=0")
        return data

    @model_validator(mode="after")
    def _share_where_needed(self):
        if self.share is None and self.kind in ("error_rate", "cost_spike"):
            raise ValueError(f"a {self.kind} fault needs a share (of calls or requests affected)")
        return self

    @property
    def effective_share(self) -> float:
        """``share``, or the kind's default: an outage hits every call, a rate-limit cut adds no 429s."""
        if self.share is not None:
            return self.share
        return {"outage": 1.0, "rate_limit": 0.0}.get(self.kind, 0.0)

    @model_validator(mode="after")
    def _ramp_inside(self):
        offsets = [o for o, _ in self.ramp]
        if offsets != sorted(offsets):
            raise ValueError("ramp offsets must be increasing")
        if any(o > self.duration for o in offsets):
            raise ValueError(f"ramp offsets must lie within the fault's duration ({self.duration:g} s)")
        if any(f < 0 for _, f in self.ramp):
            raise ValueError("ramp factors must be >= 0")
        return self

    @property
    def end(self) -> float:
        return self.start + self.duration


class OutputConfig(Section):
    interval_s: PosDuration = Field(60.0, description="Width of a timeseries interval.")
    charts: bool = Field(True, description="Write PNG charts beside each run's frames (timeline, latency CDF). "
                                           "The charts of a sweep or a tune summarise many runs and are written "
                                           "unless --no-charts is given.")
    fault_cost: bool = Field(True, description="For each design with faults, also run it without them (same seed "
                                               "and traffic) to report extra_cost_usd and extra_failed, what the "
                                               "faults cost it. That twin run doubles the time of every faulted "
                                               "variant; false skips it and leaves both metrics out.")


# --------------------------------------------------------------------------------------------- the scenario

_FOLDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def folder_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a results folder's name, or None: it must stay one plain path component."""
    if _FOLDER_NAME.fullmatch(name):
        return None
    return (f"{name!r} names a results folder: use 1-100 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit (no '/', no '..', no spaces)")


class Scenario(Section):
    name: str = Field(description="Short name; results are written under results/<name>/, so it must be one "
                                  "plain folder name (letters, digits, '.', '_', '-').")
    description: str = Field("", description="What the scenario is for.")
    seed: int = Field(1, ge=0, lt=2**63, description="Seed of every random stream.")
    duration: PosDuration = Field(3600.0, le=MAX_DURATION_S, description="Arrivals are generated in "
                                  "[0, duration); at most a year.")
    warmup: NonNegDuration = Field(0.0, description="Requests arriving before this are left out of the summary.")
    workload: WorkloadConfig
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    providers: list[ProviderConfig] = Field(min_length=1)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    compression: CompressionSettings = Field(default_factory=CompressionSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    resilience: ResilienceConfig = Field(default_factory=ResilienceConfig)
    faults: list[FaultConfig] = Field(default_factory=list, description="Injected faults (the timeline).")
    output: OutputConfig = Field(default_factory=OutputConfig)
    variants: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                                description="Named designs: dotted-path overrides of the base; "
                                                            "each is written under OUT/<variant>/, so a name is "
                                                            "one plain folder name.")

    @field_validator("name")
    @classmethod
    def _name_is_a_folder_name(cls, name: str) -> str:
        problem = folder_name_problem(name)
        if problem:
            raise ValueError(problem)
        return name

    @field_validator("variants")
    @classmethod
    def _variant_names_are_folder_names(cls, variants: dict) -> dict:
        for name in variants:
            problem = folder_name_problem(name)
            if problem:
                raise ValueError(f"variant {problem}")
        return variants

    @model_validator(mode="before")
    @classmethod
    def _faults_at_clock_times(cls, data: Any) -> Any:
        """Turn each fault's ``at`` (a clock time) into its ``start``, from the workload's start time of day."""
        faults = data.get("faults") if isinstance(data, dict) else None
        if not isinstance(faults, list) or not any(isinstance(f, dict) and f.get("at") is not None
                                                    for f in faults):
            return data
        workload = data.get("workload")
        day_start = workload.get("start_time_of_day") if isinstance(workload, dict) else None
        if day_start is None:
            return data                 # FaultConfig says what is missing
        try:
            day_start_s = parse_time_of_day_s(day_start)
        except ValueError:
            return data                 # WorkloadConfig says what is wrong with it
        resolved = []
        for fault in faults:
            if isinstance(fault, dict) and fault.get("at") is not None and fault.get("start") is None:
                try:
                    at_s = parse_time_of_day_s(fault["at"])
                except ValueError:
                    resolved.append(fault)
                    continue
                fault = {k: v for k, v in fault.items() if k != "at"}
                fault["start"] = (at_s - day_start_s) % 86400.0
            resolved.append(fault)
        return {**data, "faults": resolved}

    @model_validator(mode="after")
    def _consistent(self):
        if self.warmup >= self.duration:
            raise ValueError(f"warmup ({self.warmup:g} s) must end before duration ({self.duration:g} s)")
        rate = self.workload.mean_rate_per_s
        if rate is not None and rate * (self.duration - self.warmup) < 1.0:
            raise ValueError(f"workload: {rate:g} requests/s over the {self.duration - self.warmup:g} s measured "
                             f"expects {rate * (self.duration - self.warmup):.3g} requests: the run would "
                             "measure nothing; raise the rate or the duration")
        intervals = self.duration / self.output.interval_s
        if intervals > MAX_INTERVALS:
            raise ValueError(f"output.interval_s ({self.output.interval_s:g} s) cuts the run's "
                             f"{self.duration:g} s into {intervals:.3g} intervals; at most {MAX_INTERVALS:,} "
                             f"(use interval_s >= {self.duration / MAX_INTERVALS:.3g})")
        names = [p.name for p in self.providers]
        if len(set(names)) != len(names):
            raise ValueError(f"provider names must be unique: {names}")
        known = {f"{p.name}/{m.name}" for p in self.providers for m in p.models}
        for name, group in self.routing.groups.items():
            if "/" in name or name in known:
                raise ValueError(f"routing.groups: the name {name!r} must not contain '/' nor be a "
                                 f"'provider/model' target")
            for target in group.deployments:
                if target not in known:
                    raise ValueError(f"routing.groups.{name}.deployments: unknown target {target!r}; "
                                     f"known: {sorted(known)}")
        for field_name in ("chain", "context_window_fallbacks", "content_policy_fallbacks"):
            for target in getattr(self.routing, field_name):
                if target not in known and target not in self.routing.groups:
                    raise ValueError(f"routing.{field_name}: unknown target or group {target!r}; "
                                     f"known: {sorted(known | set(self.routing.groups))}")
        for field_name in ("strong", "cheap"):
            target = getattr(self.routing, field_name)
            if target is not None and target not in known:
                raise ValueError(f"routing.{field_name}: unknown target {target!r}; known: {sorted(known)}")
        shadow = self.resilience.shadow
        if shadow is not None and shadow.target not in known:
            raise ValueError(f"resilience.shadow.target: unknown target {shadow.target!r}; known: {sorted(known)}")
        for i, fault in enumerate(self.faults):
            if fault.start >= self.duration:
                raise ValueError(f"faults.{i}.start ({fault.start:g} s) is at or after the run's end "
                                 f"(duration {self.duration:g} s): the fault would never happen")
            regions = self.regions
            for target in fault.targets:
                if target.startswith(REGION_PREFIX):
                    if target not in regions:
                        raise ValueError(f"faults.{i}.targets: no provider is in region "
                                         f"{target[len(REGION_PREFIX):]!r} (give providers a region:); "
                                         f"regions: {sorted(regions) or 'none'}")
                elif target not in known and target not in names:
                    raise ValueError(f"faults.{i}.targets: unknown provider or model {target!r}; "
                                     f"known: {sorted(set(names) | known | set(regions))}")
        return self

    @property
    def regions(self) -> dict[str, tuple[str, ...]]:
        """Fault targets naming a region ('region:eastus') and the providers in it."""
        out: dict[str, list[str]] = {}
        for p in self.providers:
            if p.region is not None:
                out.setdefault(REGION_PREFIX + p.region, []).append(p.name)
        return {k: tuple(v) for k, v in out.items()}

    # ---- derived views the model uses
    @property
    def chain(self) -> list[tuple[str, str]]:
        """The routing chain as (provider, model) pairs, defaulted."""
        if self.routing.chain:
            return [tuple(t.split("/", 1)) for t in self.routing.chain]
        return [(self.providers[0].name, self.providers[0].models[0].name)]

    @property
    def chain_entries(self) -> list[str]:
        """The routing chain as written: 'provider/model' targets and model-group names, defaulted."""
        if self.routing.chain:
            return list(self.routing.chain)
        return [f"{self.providers[0].name}/{self.providers[0].models[0].name}"]

    def provider(self, name: str) -> ProviderConfig:
        return next(p for p in self.providers if p.name == name)

    def variant(self, name: str) -> "Scenario":
        """This scenario with the named variant's overrides applied (variants themselves dropped)."""
        if name not in self.variants:
            raise ScenarioError(f"variants: no variant {name!r}; known: {sorted(self.variants)}")
        data = self.model_dump(mode="json", exclude={"variants"})
        apply_overrides(data, self.variants[name], where=f"variants.{name}")
        return validate_scenario(data)

    def with_overrides(self, overrides: dict[str, Any] | list[str]) -> "Scenario":
        data = self.model_dump(mode="json")
        apply_overrides(data, overrides)
        return validate_scenario(data)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


# --------------------------------------------------------------------------------------------- loading

def _existing_path(value: str, info: ValidationInfo) -> str:
    base = (info.context or {}).get("base_dir")
    path = Path(value).expanduser()
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    if not path.is_file():
        raise ValueError(f"file not found: {path}")
    return str(path.resolve())


def _format_loc(loc: tuple) -> str:
    # Drop the discriminator tags pydantic inserts ('lognormal', 'function-after[...]') from the path.
    parts = [str(p) for p in loc if not (isinstance(p, str) and ("[" in p or p in _UNION_TAGS))]
    return ".".join(parts) or "scenario"


_UNION_TAGS = {"fixed", "lognormal", "empirical", "flat", "diurnal", "hourly", "none", "mmpp",
               "ttft_throughput", "exponential"}


def format_validation_error(err: ValidationError, where: str = "") -> str:
    lines = []
    for e in err.errors():
        path = _format_loc(e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        cause = (e.get("ctx") or {}).get("error")
        if isinstance(cause, SettingError):        # a settings dataclass's own check names its field
            path, msg = f"{path}.{cause.field}", cause.problem
        if e["type"] == BOOLEAN_AS_NUMBER:
            path = f"{path}.{e['ctx']['field']}" if path != "scenario" else e["ctx"]["field"]
            msg = "expected a number or text, got a boolean (true/false)"
        elif e["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            msg = "unknown field"
        elif e["type"] == "missing":
            msg = "required field is missing"
        lines.append(f"{where + ': ' if where else ''}{path}: {msg}")
    return "\n".join(lines)


def validate_scenario(data: Any, base_dir: str | Path | None = None) -> Scenario:
    """Validate a mapping into a Scenario, raising ScenarioError with field-named messages."""
    if not isinstance(data, dict):
        raise ScenarioError(f"scenario: expected a mapping of fields, got {type(data).__name__}")
    try:
        scenario = Scenario.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as err:
        raise ScenarioError(format_validation_error(err)) from None
    except RecursionError:
        raise ScenarioError("scenario: nested too deeply") from None
    for name, overrides in scenario.variants.items():   # a broken variant is a load-time error
        if not isinstance(overrides, dict):
            raise ScenarioError(f"variants.{name}: expected a mapping of dotted-path overrides")
        probe = scenario.model_dump(mode="json", exclude={"variants"})
        apply_overrides(probe, overrides, where=f"variants.{name}")
        try:
            Scenario.model_validate(probe, context={"base_dir": base_dir})
        except ValidationError as err:
            raise ScenarioError(format_validation_error(err, where=f"variants.{name}")) from None
    return scenario


def read_scenario_data(path: str | Path) -> dict:
    """The raw mapping of a scenario file, read by :func:`sim.scenario_file.read_yaml_file`."""
    path = Path(path)
    data = read_yaml_file(path)
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a YAML mapping of scenario fields, got {type(data).__name__}")
    return data


def load_scenario(path: str | Path, overrides: list[str] | dict[str, Any] | None = None) -> Scenario:
    """Read, override (``--set`` style) and validate a scenario file."""
    data = read_scenario_data(path)
    if overrides:
        apply_overrides(data, overrides)
    try:
        return validate_scenario(data, base_dir=Path(path).resolve().parent)
    except ScenarioError as err:
        raise ScenarioError(f"{path}: {err}") from None


# --------------------------------------------------------------------------------------------- overrides

def deep_merge(base: dict, top: dict) -> dict:
    """``base`` updated by ``top``, merging nested mappings (a catalogue entry under the user's fields)."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and "type" not in value:
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_set_options(items: list[str]) -> dict[str, Any]:
    """``['a.b=3', 'c=2h']`` -> ``{'a.b': 3, 'c': '2h'}``; values are read as YAML scalars."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ScenarioError(f"--set {item!r}: expected PATH=VALUE, e.g. workload.rate_per_s=3")
        try:
            out[key.strip()] = load_yaml_text(raw) if raw.strip() else None
        except yaml.YAMLError:
            out[key.strip()] = raw
    return out


def apply_overrides(data: dict, overrides: dict[str, Any] | list[str], where: str = "--set") -> dict:
    """Set each dotted path (list items by index) in the raw scenario mapping, in place."""
    if isinstance(overrides, list):
        overrides = parse_set_options(overrides)
    for dotted, value in overrides.items():
        keys = dotted.split(".")
        node: Any = data
        for depth, key in enumerate(keys):
            last = depth == len(keys) - 1
            here = ".".join(keys[:depth + 1])
            if isinstance(node, list):
                if not key.isdigit() or int(key) >= len(node):
                    raise ScenarioError(f"{where} {dotted}: {here}: index out of range (list has {len(node)} items)")
                key = int(key)
            elif isinstance(node, dict):
                if not last and node.get(key) is None:
                    node[key] = {}
            else:
                raise ScenarioError(f"{where} {dotted}: {'.'.join(keys[:depth])} is a value, not a section")
            if last:
                node[key] = copy.deepcopy(value)
            else:
                node = node[key]
    return data



# --------------------------------------------------------------------------------------------- live mode

class ServeSettings(Section):
    """The settings of ``python -m sim serve`` (live mode, docs/live_mode.md): how the scenario's providers are
    played on loopback. Not part of a scenario: the same scenario is served, driven and simulated."""

    host: Literal["127.0.0.1", "::1", "localhost"] = Field(
        "127.0.0.1", description="Loopback address to listen on; live mode never listens beyond this machine.")
    port: int = Field(8765, ge=0, le=65535, description="TCP port; 0 = any free port (printed at start).")
    speed: float = Field(1.0, gt=0, le=100_000, description="Time compression: scenario seconds per wall second "
                                                            "(60 = a scenario minute per wall second).")
    duration_s: PosDuration | None = Field(
        None, le=MAX_DURATION_S, description="Scenario seconds to serve before stopping by itself; None = the "
                                             "scenario's duration.")
    max_calls: int | None = Field(None, gt=0, le=100_000_000, description="Stop after this many calls have "
                                                                          "been answered; None = no bound.")
    chars_per_token: float = Field(4.0, gt=0, le=100, description="The token approximation: a request's input "
                                   "tokens are ceil(characters of its message texts / chars_per_token).")
    max_hang_s: PosDuration = Field(120.0, le=86_400.0, description="Wall seconds a hung call (an outage in "
                                    "hang mode, a call past its timeout) is held open at most if the client "
                                    "does not give up first; then it is answered 504.")
    stream_chunk_s: PosDuration = Field(0.02, le=10.0, description="Wall seconds between two streamed chunks "
                                        "at most often: faster models send several tokens per chunk.")
    seed: int | None = Field(None, ge=0, lt=2**63, description="Seed of the served draws; None = the scenario's.")


def serve_settings(**values: Any) -> ServeSettings:
    """:class:`ServeSettings` from command-line values (``None`` = the default), or ScenarioError naming the
    flag (``--max-calls: ...``)."""
    try:
        return ServeSettings(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as err:
        lines = []
        for e in err.errors():
            flag_name = "--" + str(e["loc"][0]).removesuffix("_s").replace("_", "-") if e["loc"] else "serve"
            lines.append(f"{flag_name}: {e['msg'].removeprefix('Value error, ')}")
        raise ScenarioError("\n".join(lines)) from None
