"""Does a fitted workload look like its trace? Simulate it with the model's own generator and compare.

The fitted scenario's workload is drawn by :func:`sim.model.workload.generate_workload` (what ``sim run``
uses), ``replications`` times on independent streams, and each statistic is averaged over the replications:
one hour of very bursty traffic has few independent windows of a minute, so a single draw's Fano factor at
60 s is noisy. The same is done for a plain Poisson model at the trace's mean rate (no profile, no bursts,
the same tokens), as the baseline a fitted model must beat. Statistics: requests per minute, inter-arrival
CV, Fano factors at 1, 10 and 60 s, token p50/p95/p99 and tokens per minute; each compared as a ratio to the
trace's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.calibration.workload_fit import (FANO_WINDOWS_S, index_of_dispersion, interarrival_cv, spread_within_grid,
                                          time_grid_s, window_counts)
from sim.config import Scenario
from sim.model.streams import Streams
from sim.model.workload import generate_workload, rate_pieces

__all__ = ["CURVE_WINDOWS_S", "WorkloadValidation", "workload_statistics", "poisson_scenario",
           "validate_workload"]

#: Windows of the Fano-factor curve drawn in the chart (seconds).
CURVE_WINDOWS_S = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
MINUTE_S = 60.0
SOURCES = ("trace", "fitted", "poisson")


@dataclass(frozen=True)
class Sample:
    """One set of requests: arrival times and token counts over ``[0, duration_s)``."""

    arrival_s: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    duration_s: float


def workload_statistics(sample: Sample) -> dict[str, float]:
    """The compared statistics of one sample, by name."""
    t = sample.arrival_s
    per_minute = window_counts(t, MINUTE_S, sample.duration_s)
    minute = np.minimum((t // MINUTE_S).astype(np.int64), max(per_minute.size - 1, 0))
    tokens = np.bincount(minute, weights=sample.input_tokens + sample.output_tokens,
                         minlength=per_minute.size)[:per_minute.size]
    row = {"requests_per_min_mean": _stat(per_minute, np.mean, 1),
           "requests_per_min_sd": _stat(per_minute, lambda c: c.std(ddof=1), 2),
           "interarrival_cv": interarrival_cv(t)}
    row.update({f"fano_{w:g}s": index_of_dispersion(t, w, sample.duration_s) for w in FANO_WINDOWS_S})
    for column, values in (("input", sample.input_tokens), ("output", sample.output_tokens)):
        for q in (50, 95, 99):
            row[f"{column}_tokens_p{q}"] = float(np.percentile(values, q))
    row["tokens_per_min_mean"] = _stat(tokens, np.mean, 1)
    row["tokens_per_min_p95"] = _stat(tokens, lambda c: np.percentile(c, 95), 1)
    return row


def _stat(values: np.ndarray, statistic, at_least: int) -> float:
    """``statistic(values)``, or NaN for a sample too short for it (a trace shorter than a minute or two)."""
    return float(statistic(values)) if values.size >= at_least else float("nan")


def poisson_scenario(scenario: Scenario) -> Scenario:
    """The baseline: the same expected requests and tokens, arriving as a homogeneous Poisson process."""
    _, lengths, rates = rate_pieces(scenario)
    mean_rate = float(np.sum(rates * lengths) / scenario.duration)
    return scenario.with_overrides({"workload.rate_per_s": mean_rate, "workload.profile": {"type": "flat"},
                                    "workload.burstiness": {"type": "none"}})


def _simulate(scenario: Scenario, seed: int, replication: int) -> Sample:
    wl = generate_workload(scenario, Streams(seed, replication))
    return Sample(wl.arrival_s, wl.input_tokens, wl.output_tokens, scenario.duration)


def _curve(sample: Sample) -> list[float]:
    return [index_of_dispersion(sample.arrival_s, w, sample.duration_s) for w in CURVE_WINDOWS_S]


@dataclass(frozen=True)
class WorkloadValidation:
    """The comparison: a table of statistics, and the samples (trace, first replications) the charts draw."""

    table: pd.DataFrame           # one row per statistic: trace, fitted, fitted/trace, poisson, poisson/trace
    fano_curve: pd.DataFrame      # window_s and one column per source (means over the replications)
    samples: dict[str, Sample]    # the trace and replication 0 of each model
    replications: int
    seed: int
    notes: list[str]


def validate_workload(trace: pd.DataFrame, scenario: Scenario, replications: int = 5,
                      seed: int | None = None) -> WorkloadValidation:
    """Compare ``trace`` (arrival_s from 0, input_tokens, output_tokens) with ``scenario``'s workload and
    with a Poisson model of it, over ``replications`` independent draws each."""
    if replications < 1:
        raise ValueError(f"replications must be at least 1, got {replications}")
    seed = scenario.seed if seed is None else int(seed)
    notes = []
    grid = time_grid_s(trace["arrival_s"].to_numpy(dtype=float))
    if grid is not None:            # as the fit saw it (same placement: the fit's default seed)
        trace = spread_within_grid(trace, grid)
        notes.append(f"the trace's timestamps are on a {grid:g} s grid; it is compared with each arrival placed "
                     "uniformly in its cell, as fit-workload fitted it")
    t = np.sort(trace["arrival_s"].to_numpy(dtype=float))
    t = t - t[0]
    observed = Sample(t, trace["input_tokens"].to_numpy(np.int64), trace["output_tokens"].to_numpy(np.int64),
                      float(t[-1]))
    models = {"fitted": scenario, "poisson": poisson_scenario(scenario)}
    stats = {"trace": workload_statistics(observed)}
    curves = {"trace": _curve(observed)}
    samples = {"trace": observed}
    for name, model in models.items():
        draws = [_simulate(model, seed, rep) for rep in range(replications)]
        samples[name] = draws[0]
        stats[name] = pd.DataFrame([workload_statistics(d) for d in draws]).mean().to_dict()
        curves[name] = pd.DataFrame([_curve(d) for d in draws]).mean().tolist()    # NaN: no full window
    table = pd.DataFrame(stats)
    table.insert(2, "fitted/trace", table["fitted"] / table["trace"])
    table["poisson/trace"] = table["poisson"] / table["trace"]
    table.index.name = "statistic"
    fano_curve = pd.DataFrame({"window_s": CURVE_WINDOWS_S, **curves})
    return WorkloadValidation(table.reset_index(), fano_curve, samples, replications, seed, notes)
