"""The workload: who asks what, and when.

Before the simulation starts, every user request of the run is drawn at once, as columns: its arrival time,
the user who sends it, its input and output tokens per LLM call, a complexity score in [0, 1] (what a router
reads), the intent it expresses (what a semantic cache matches on), how many LLM calls it makes (an agent
loop makes several), whether it runs a retrieval step, whether it is hard enough to need a strong model, the
router's noisy score of that, and the draw that decides whether an answer to it is wrong. Drawing them ahead, each column from its own named
stream, keeps the per-request path of the simulation lean and gives two designs the same traffic.

Volume comes from daily active users x requests per user per day, or an explicit mean rate, shaped by a
time-of-day profile (flat, diurnal, or 24 hourly weights) or a rate in steps from the start (one a minute, as
fitted from a trace by sim/calibration/workload_fit.py), and optionally made bursty (a two-state MMPP, or
clusters of requests); or it comes from a replayed trace, whose arrival times and token counts are used as
they are.
"""
from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.config import (ClusterBurstiness, DiurnalProfile, EmpiricalTokens, FixedTokens, HourlyProfile,
                        LognormalTokens, MMPPBurstiness, QuantileTokens, Scenario, StepProfile, TraceConfig)
from sim.errors import ScenarioError
from sim.model import arrivals as arr
from sim.model.quality import QualityModel, QualityParams
from sim.model.streams import Streams
from sim.policies.router import router_scores


@dataclass
class Workload:
    """One row per user request, as numpy columns."""

    arrival_s: np.ndarray        # float64, sorted
    user_id: np.ndarray          # int32
    input_tokens: np.ndarray     # int64, per LLM call
    output_tokens: np.ndarray    # int64, per LLM call
    complexity: np.ndarray       # float64 in [0, 1]
    intent_id: np.ndarray        # int32
    llm_calls: np.ndarray        # int32 >= 1
    retrieval: np.ndarray        # bool
    needs_strong: np.ndarray     # bool: the request is hard enough to need a strong model
    router_score: np.ndarray | None   # float64: the router's noisy view of needs_strong (binormal, skill =
                                      # AUC); None when the scenario routes nothing (strategy ``fixed``)
    answer_u: np.ndarray         # float64 in [0, 1): the request's answer draw, shared by every model so
                                 # that whatever a strong model gets wrong, a weaker one does too

    @property
    def n(self) -> int:
        return len(self.arrival_s)

    def frame_columns(self) -> dict[str, np.ndarray]:
        """The columns the ``requests`` frame shows as drawn; the rest serve the run only, so a run that
        keeps these alone frees the others once the request flow holds its copies."""
        return {name: getattr(self, name) for name in FRAME_COLUMNS}


#: The workload's columns that appear in the ``requests`` frame as they were drawn.
FRAME_COLUMNS = ("arrival_s", "user_id", "llm_calls", "complexity", "intent_id")

#: numpy dtype -> the array.array type code holding the same values (a bool becomes 0 / 1).
_TYPECODES = {"float64": "d", "int64": "q", "int32": "i", "int16": "h", "int8": "b", "bool": "b"}


def scalar_column(values: np.ndarray) -> array:
    """A column for the request path's scalar reads: an ``array.array`` with the same values.

    Reading one element from it gives a plain Python ``float`` / ``int`` like a list's (a numpy scalar read is
    ~3x slower and yields numpy scalars), at 1-8 bytes per element instead of a list's ~36 (an 8-byte pointer
    and a 24-32-byte object). A read costs ~30 ns more than a list's. Booleans come back as 0 / 1.
    """
    values = np.ascontiguousarray(values)
    column = array(_TYPECODES[values.dtype.name], [0]) * len(values)      # exact size (frombytes over-allocates)
    memoryview(column).cast("B")[:] = memoryview(values.view(np.uint8)).cast("B")
    return column


def hourly_weights(scenario: Scenario) -> np.ndarray | None:
    profile = scenario.workload.profile
    if isinstance(profile, DiurnalProfile):
        return arr.diurnal_hourly_weights(profile.peak_to_average, profile.peak_hour)
    if isinstance(profile, HourlyProfile):
        w = np.asarray(profile.weights, dtype=float)
        return w / w.mean()
    return None


def rate_pieces(scenario: Scenario):
    """``(starts, lengths, rates_per_s)`` of the run: the profile's steps, or its clock hours."""
    wl = scenario.workload
    if isinstance(wl.profile, StepProfile):
        return arr.step_rate_pieces(scenario.duration, wl.mean_rate_per_s, wl.profile.step_s, wl.profile.weights)
    return arr.hourly_rate_pieces(scenario.duration, wl.mean_rate_per_s, hourly_weights(scenario),
                                  wl.start_time_of_day)


def _arrival_times(scenario: Scenario, rng: np.random.Generator) -> np.ndarray:
    wl = scenario.workload
    if isinstance(wl.burstiness, ClusterBurstiness):
        b = wl.burstiness
        return arr.cluster_arrival_times(rng, *rate_pieces(scenario), b.mean_cluster_size, b.cluster_spread_s,
                                         b.cluster_size_shape)
    if isinstance(wl.profile, StepProfile):
        pieces = rate_pieces(scenario)
        if isinstance(wl.burstiness, MMPPBurstiness):
            b = wl.burstiness
            return arr.mmpp_on_pieces(rng, *pieces, b.burst_rate_multiplier, b.mean_burst_s, b.mean_calm_s)
        return arr.poisson_on_pieces(rng, *pieces)
    weights = hourly_weights(scenario)
    if isinstance(wl.burstiness, MMPPBurstiness):
        b = wl.burstiness
        return arr.mmpp_arrival_times(rng, scenario.duration, wl.mean_rate_per_s, weights,
                                      b.burst_rate_multiplier, b.mean_burst_s, b.mean_calm_s,
                                      start_offset_s=wl.start_time_of_day)
    return arr.nhpp_arrival_times(rng, scenario.duration, wl.mean_rate_per_s, weights,
                                  start_offset_s=wl.start_time_of_day)


def sample_tokens(dist, n: int, rng: np.random.Generator, field: str) -> np.ndarray:
    """``n`` token counts from a scenario's token distribution ``dist`` (``field`` names it in errors)."""
    if isinstance(dist, FixedTokens):
        return arr.sample_tokens_fixed(n, dist.value)
    if isinstance(dist, LognormalTokens):
        return arr.sample_tokens_lognormal(rng, n, dist.median, dist.p95, max_tokens=dist.max_tokens)
    if isinstance(dist, EmpiricalTokens):
        frame = pd.read_csv(dist.path)
        if dist.column not in frame.columns:
            raise ScenarioError(f"{field}.column: {dist.column!r} is not a column of {dist.path} "
                                f"(columns: {', '.join(map(str, frame.columns))})")
        return arr.sample_tokens_empirical(rng, n, frame[dist.column].to_numpy())
    if isinstance(dist, QuantileTokens):
        return arr.sample_tokens_quantiles(rng, n, dist.values)
    raise TypeError(dist)


def read_trace(trace: TraceConfig, duration_s: float):
    """The trace as a frame (arrival_s, input_tokens, output_tokens), sped up, tiled and cut to duration."""
    try:
        if trace.format == "azure":
            frame = arr.read_azure_trace(trace.path)
        elif trace.format == "mooncake":
            frame = arr.read_mooncake_trace(trace.path)
        else:
            frame = arr.read_trace_csv(trace.path, trace.time_column, trace.input_column,
                                       trace.output_column, time_unit=trace.time_unit)
    except (ValueError, FileNotFoundError, KeyError) as err:
        raise ScenarioError(f"workload.trace: {err}") from None
    frame = arr.scale_trace(frame, speedup=trace.speedup, repeat_to_s=duration_s if trace.repeat else None)
    return frame[frame["arrival_s"] < duration_s].reset_index(drop=True)


def generate_workload(scenario: Scenario, streams: Streams) -> Workload:
    """Draw every request of the run, each column from its own named stream."""
    wl = scenario.workload
    if wl.trace is not None:
        frame = read_trace(wl.trace, scenario.duration)
        arrival_s = frame["arrival_s"].to_numpy(dtype=float)
        input_tokens = frame["input_tokens"].to_numpy(dtype=np.int64)
        output_tokens = frame["output_tokens"].to_numpy(dtype=np.int64)
        n = len(arrival_s)
    else:
        arrival_s = _arrival_times(scenario, streams.generator("arrivals"))
        n = len(arrival_s)
        input_tokens = sample_tokens(wl.input_tokens, n, streams.generator("tokens.input"), "workload.input_tokens")
        output_tokens = sample_tokens(wl.output_tokens, n, streams.generator("tokens.output"), "workload.output_tokens")
    n_users = wl.n_users or wl.dau or 1000
    user_id = arr.zipf_user_ids(streams.generator("users"), n, n_users, wl.user_skew)
    complexity = arr.sample_complexity(streams.generator("complexity"), n, wl.complexity_alpha, wl.complexity_beta)
    intent_id = arr.zipf_user_ids(streams.generator("intents"), n, wl.n_intents, wl.intent_skew)
    llm_calls = arr.sample_calls_per_request(streams.generator("llm_calls"), n, wl.llm_calls.mean,
                                             wl.llm_calls.kind).astype(np.int32)
    p_retrieval = wl.retrieval.probability if wl.retrieval else 0.0
    retrieval = streams.generator("retrieval").random(n) < p_retrieval
    quality = QualityModel(QualityParams.for_share(scenario.quality.needs_strong_share, wl.complexity_alpha,
                                                   wl.complexity_beta))
    needs_strong = quality.draw_needs_strong(streams.generator("quality.needs"), complexity)
    router_score = None         # drawn only for a router (its own stream: no other draw depends on it)
    if scenario.routing.strategy != "fixed":
        router_score = router_scores(streams.generator("router.score"), needs_strong, scenario.routing.auc)
    answer_u = streams.generator("quality.answer").random(n)
    return Workload(arrival_s, user_id.astype(np.int32), input_tokens.astype(np.int64),
                    output_tokens.astype(np.int64), complexity, intent_id.astype(np.int32), llm_calls, retrieval,
                    needs_strong, router_score, answer_u)
