"""The closed-form estimate of a scenario file: its mean volume, tokens, prices, latency and limits.

:mod:`sim.estimate` works on plain numbers; this module reads them off a scenario (the means of its
distributions, a trace's own statistics, the first routing target's price and latency, the provider's
per-key limits), which needs the workload layer to read traces. Every target of the fallback chain is then
checked alone against the whole peak (:attr:`Estimate.chain_checks`): when the primary is down, the next
target gets all of its traffic.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from sim.config import (DiurnalProfile, EmpiricalTokens, ExponentialLatency, FixedTokens, HourlyProfile,
                        QuantileTokens, Scenario, StepProfile)
from sim.estimate import TOKENS_PER_MTOK, Estimate, LimitCheck, check_limits, estimate_rate
from sim.model.arrivals import lognormal_params_from_median_p95
from sim.model.workload import rate_pieces, read_trace


def estimate_from_scenario(scenario: Scenario) -> Estimate:
    """The closed-form estimate of a scenario: its mean volume, mean tokens, first target's price and latency.

    Means are those of the configured distributions (a lognormal's mean is median x exp(sigma^2 / 2)); for a
    trace, the trace's own mean rate and tokens; the peak-to-average is the profile's.
    """
    wl = scenario.workload

    def mean_tokens(dist) -> float:
        if isinstance(dist, FixedTokens):
            return float(dist.value)
        if isinstance(dist, EmpiricalTokens):
            return float(pd.read_csv(dist.path)[dist.column].mean())
        if isinstance(dist, QuantileTokens):       # the mean of the piecewise-linear inverse CDF
            return float(np.mean(np.convolve(dist.values, [0.5, 0.5], mode="valid")))
        _, sigma = lognormal_params_from_median_p95(dist.median, dist.p95)
        return dist.median * math.exp(sigma ** 2 / 2)

    if wl.trace is not None:
        frame = read_trace(wl.trace, scenario.duration)
        rate = len(frame) / scenario.duration
        input_tokens, output_tokens = frame["input_tokens"].mean(), frame["output_tokens"].mean()
    elif isinstance(wl.profile, StepProfile):     # the run may end inside a step: its own mean rate
        _, lengths, rates = rate_pieces(scenario)
        rate = float((rates * lengths).sum() / lengths.sum())
        input_tokens, output_tokens = mean_tokens(wl.input_tokens), mean_tokens(wl.output_tokens)
    else:
        rate = wl.mean_rate_per_s
        input_tokens, output_tokens = mean_tokens(wl.input_tokens), mean_tokens(wl.output_tokens)
    if isinstance(wl.profile, DiurnalProfile):
        peak_to_average = wl.profile.peak_to_average
    elif isinstance(wl.profile, (HourlyProfile, StepProfile)):
        weights = np.asarray(wl.profile.weights, dtype=float)
        peak_to_average = float(weights.max() / weights.mean())
    else:
        peak_to_average = 1.0
    provider, model_name = scenario.chain[0]
    pconf = scenario.provider(provider)
    model = next(m for m in pconf.models if m.name == model_name)
    lat = model.latency
    latency_s = lat.mean_s if isinstance(lat, ExponentialLatency) else lat.ttft_s + output_tokens / lat.tokens_per_s
    limits = pconf.limits.model_dump(exclude={"preset"})
    est = estimate_rate(rate, input_tokens, output_tokens, model.input_usd_per_mtok, model.output_usd_per_mtok,
                        latency_s, peak_to_average=peak_to_average,
                        llm_calls_per_request=wl.llm_calls.mean, limits=limits)
    return dataclasses.replace(est, chain_checks=chain_checks(scenario, est))


def chain_checks(scenario: Scenario, est: Estimate) -> tuple[LimitCheck, ...]:
    """Each target of the routing chain alone against the whole peak of ``est``, with its provider's
    per-key limits times its ``api_keys``, and the day's cost at its model's prices."""
    checks = []
    for provider, model_name in scenario.chain:
        pconf = scenario.provider(provider)
        model = next(m for m in pconf.models if m.name == model_name)
        cost = (est.input_tokens_per_day * model.input_usd_per_mtok
                + est.output_tokens_per_day * model.output_usd_per_mtok) / TOKENS_PER_MTOK
        checks.append(check_limits(est.peak_need_per_min, pconf.limits.model_dump(exclude={"preset"}),
                                   pconf.api_keys, target=f"{provider}/{model_name}", cost_per_day_usd=cost))
    return tuple(checks)

