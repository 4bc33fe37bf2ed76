"""Workload generation: when requests arrive and how big they are.

This module is the *workload layer* of the simulator. It contains only pure
numpy/pandas functions. There is no SimPy here. Every random draw goes through
a ``numpy.random.Generator`` that the caller passes in, so a run is reproducible
from its seed and separate streams stay independent. Everything that scales with
the number of requests (150K to 1M and more) is vectorised.

Arrival processes
-----------------
* **Diurnal shape** (:func:`diurnal_hourly_weights`). There are 24 hour-of-day
  weights with mean 1.0. The traffic rate in hour ``h`` is ``base_rate * w[h]``,
  so ``base_rate`` is the long-run (daily mean) rate. The shape is a *von Mises*
  (circular normal) bump around ``peak_hour``, with its concentration solved so
  that ``max(w) / mean(w)`` equals the requested peak-to-average ratio.
* **Non-homogeneous Poisson process** (:func:`nhpp_arrival_times`). The rate is
  piecewise constant: one piece per clock hour, and the pattern repeats every day.
  The process is generated exactly. For each piece, draw
  ``N ~ Poisson(rate * length)``, then place ``N`` i.i.d. uniform points in the
  piece. Given the count, the points of a Poisson process on an interval are
  uniform order statistics, so this is the process itself, not an approximation.
  There is no thinning bound, no time step and no gap rounding.
* **Burstiness** (:func:`mmpp_arrival_times`). This is a two-state
  Markov-modulated Poisson process (MMPP). A hidden state switches between
  *burst* and *calm*, and the time spent in each state is exponential. While
  bursting, the diurnal rate is multiplied by ``m = burst_rate_multiplier``.
  While calm, it is multiplied by ``c``, which is chosen so that the long-run mean
  rate is unchanged. Burstiness therefore changes only the variance of the
  traffic, not its volume.
* **Steps** (:func:`step_rate_pieces`). A rate that changes every ``step_s``
  seconds from ``t = 0`` (one rate per minute of a fitted trace), not tied to
  the clock; the steps repeat if the run is longer than they are.
* **Clusters** (:func:`cluster_arrival_times`). A Neyman-Scott cluster process:
  cluster starts are a Poisson process at the profile's rate divided by the
  mean cluster size; each cluster holds a geometric number of requests, each
  delayed after the start by an exponential time. It reaches the dispersion of
  very bursty traces (a batch job firing dozens of calls within seconds), its
  parameters read as what they are (requests per burst, how fast a burst
  fires), and its index of dispersion has a closed form
  (:func:`cluster_index_of_dispersion`).

Request sizes
-------------
Token counts can be fixed, log-normal (set by median and p95, the two figures
that trace papers usually report), bootstrapped from an observed sample, or
drawn through a quantile table (:func:`sample_tokens_quantiles`).
Per-request "complexity" is a Beta draw. The number of LLM calls per request
(agent loops) is either fixed or geometric.

Traces
------
There are readers for the Azure LLM inference trace 2023 (Splitwise), the
Mooncake FAST'25 conversation trace, and any CSV. Each returns a DataFrame with
``arrival_s`` (seconds since the first request, sorted), ``input_tokens`` and
``output_tokens``. :func:`scale_trace` speeds up or slows down a trace, and tiles
it to fill a longer horizon.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "HOURS_PER_DAY",
    "SECONDS_PER_HOUR",
    "SECONDS_PER_DAY",
    "Z_95",
    "PiecewiseRate",
    "diurnal_hourly_weights",
    "piecewise_rates",
    "nhpp_arrival_times",
    "mmpp_calm_factor",
    "mmpp_index_of_dispersion",
    "mmpp_arrival_times",
    "mmpp_on_pieces",
    "step_rate_pieces",
    "hourly_rate_pieces",
    "poisson_on_pieces",
    "cluster_arrival_times",
    "cluster_index_of_dispersion",
    "cluster_sizes",
    "cluster_size_factor",
    "zipf_user_ids",
    "sample_tokens_fixed",
    "lognormal_params_from_median_p95",
    "sample_tokens_lognormal",
    "sample_tokens_empirical",
    "sample_tokens_quantiles",
    "sample_complexity",
    "sample_calls_per_request",
    "read_azure_trace",
    "read_mooncake_trace",
    "read_trace_csv",
    "scale_trace",
]

HOURS_PER_DAY = 24
SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = HOURS_PER_DAY * SECONDS_PER_HOUR
#: Standard normal 95th percentile, Phi^-1(0.95).
Z_95 = 1.6448536269514722


# --------------------------------------------------------------------------- #
# Diurnal shape
# --------------------------------------------------------------------------- #
def _circular_hour_distance(peak_hour: float) -> np.ndarray:
    """Distance, in hours, from each hour label 0..23 to ``peak_hour`` on a 24 h clock."""
    d = np.abs(np.arange(HOURS_PER_DAY, dtype=float) - (peak_hour % HOURS_PER_DAY))
    return np.minimum(d, HOURS_PER_DAY - d)


def diurnal_hourly_weights(peak_to_average: float = 3.0, peak_hour: float = 14.0) -> np.ndarray:
    """Return 24 hour-of-day rate weights with mean 1 and ``max / mean == peak_to_average``.

    Shape
    -----
    Weight ``w[h]`` applies to the clock hour ``[h:00, h+1:00)``. It is a von
    Mises (circular normal) bump evaluated at the hour label ``h``::

        w[h]  proportional to  exp(kappa * cos(2 * pi * (h - peak_hour) / 24))

    The result is rescaled to mean 1. The curve is smooth and periodic, with its
    maximum at ``peak_hour`` (14.0 makes 14:00-15:00 the busiest hour). The night
    trough is 12 h away, and its depth follows from the ratio: for an integer
    ``peak_hour``, peak / trough = ``exp(2 * kappa)``. The trough is always
    strictly positive, so no hour has zero traffic (except at the limit of 24, or
    through float underflow at extreme ratios above about 10).

    For any ``peak_hour``, ``max / mean`` rises strictly with ``kappa``. It is
    1 at ``kappa = 0`` (flat) and tends to ``24 / (number of hours tied at the
    peak)`` as ``kappa`` grows. ``kappa`` is found with Brent's method. A final
    affine touch, ``w <- 1 + lam * (w - 1)`` with ``lam`` within about 1e-12 of 1,
    keeps the mean at 1 and makes the ratio exact to floating-point precision.
    The two special ends are handled directly: ratio 1 gives a flat day, and
    ratio 24 puts all traffic in the peak hour.

    Typical values (integer ``peak_hour``): ratio 1.5 -> kappa 0.46, peak/trough
    2.5; ratio 2 -> kappa 0.88, peak/trough 5.8; ratio 3 -> kappa 1.76,
    peak/trough 34 (a sharp day; consider 1.5-2.5 for global services).

    Parameters
    ----------
    peak_to_average:
        Peak-hour rate divided by the daily mean rate, in ``[1, 24]``. If
        ``peak_hour`` is exactly half-way between two hour labels, those two
        hours tie and the largest reachable ratio is 12.
    peak_hour:
        Clock time (hours, may be fractional) of the maximum.
    """
    r = float(peak_to_average)
    if not (np.isfinite(r) and 1.0 <= r <= HOURS_PER_DAY):
        raise ValueError(f"peak_to_average must be in [1, 24], got {peak_to_average!r}")
    if not np.isfinite(peak_hour):
        raise ValueError(f"peak_hour must be finite, got {peak_hour!r}")

    cos_d = np.cos(2.0 * np.pi * _circular_hour_distance(peak_hour) / HOURS_PER_DAY)
    cos_max = cos_d.max()
    at_peak = np.isclose(cos_d, cos_max, rtol=0.0, atol=1e-12)
    r_limit = HOURS_PER_DAY / at_peak.sum()

    if r == 1.0:
        return np.ones(HOURS_PER_DAY)
    if r >= r_limit:
        if r > r_limit * (1 + 1e-12):
            raise ValueError(
                f"peak_to_average={r} is not reachable with peak_hour={peak_hour}: "
                f"{int(at_peak.sum())} hours tie at the peak, so the maximum is {r_limit:g}"
            )
        return at_peak.astype(float) * r_limit

    def ratio(kappa: float) -> float:
        # exp(kappa*(cos - cos_max)) <= 1 never overflows; max term is exactly 1.
        return 1.0 / np.mean(np.exp(kappa * (cos_d - cos_max)))

    from scipy.optimize import brentq   # here: only diurnal profiles solve for kappa, and scipy.optimize is slow to import
    hi = 1.0
    while ratio(hi) < r:
        hi *= 2.0
    kappa = brentq(lambda k: ratio(k) - r, 0.0, hi, xtol=1e-14, rtol=4 * np.finfo(float).eps)
    w = np.exp(kappa * (cos_d - cos_max))
    w /= w.mean()
    lam = (r - 1.0) / (w.max() - 1.0)
    w = 1.0 + lam * (w - 1.0)
    return w


# --------------------------------------------------------------------------- #
# Piecewise-constant rates
# --------------------------------------------------------------------------- #
def _validate_weights(hourly_weights) -> np.ndarray:
    w = np.asarray(hourly_weights, dtype=float)
    if w.shape != (HOURS_PER_DAY,):
        raise ValueError(f"hourly_weights must have shape (24,), got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("hourly_weights must be finite and non-negative")
    return w


def _validate_rate(base_rate_per_s: float) -> float:
    lam = float(base_rate_per_s)
    if not (np.isfinite(lam) and lam >= 0):
        raise ValueError(f"base_rate_per_s must be finite and >= 0, got {base_rate_per_s!r}")
    return lam


@dataclass(frozen=True, eq=False)
class PiecewiseRate:
    """A 24 h periodic, piecewise-constant rate ``rates_per_s[hour_of_day]``.

    ``rate(t_s)`` is vectorised. ``t_s`` is simulation time and
    ``start_offset_s`` is the clock time of day at ``t = 0``.
    """

    rates_per_s: np.ndarray
    start_offset_s: float = 0.0

    @property
    def mean_rate_per_s(self) -> float:
        """Long-run (daily mean) rate."""
        return float(np.mean(self.rates_per_s))

    def hour_of_day(self, t_s) -> np.ndarray:
        """Clock hour (0..23) containing each simulation time ``t_s``."""
        clock = (np.asarray(t_s, dtype=float) + self.start_offset_s) % SECONDS_PER_DAY
        return np.minimum((clock // SECONDS_PER_HOUR).astype(np.int64), HOURS_PER_DAY - 1)

    def __call__(self, t_s) -> np.ndarray:
        return self.rates_per_s[self.hour_of_day(t_s)]

    def expected_count(self, t0_s: float, t1_s: float) -> float:
        """Integral of the rate over ``[t0_s, t1_s)``: the expected number of arrivals."""
        starts, lengths = _hour_pieces(t1_s - t0_s, self.start_offset_s + t0_s)
        hours = _piece_hours(starts, lengths, self.start_offset_s + t0_s)
        return float(np.sum(self.rates_per_s[hours] * lengths))


def piecewise_rates(hourly_weights, base_rate_per_s: float, start_offset_s: float = 0.0) -> PiecewiseRate:
    """Rate in each clock hour, ``base_rate_per_s * hourly_weights[h]``, 24 h periodic.

    Returns a :class:`PiecewiseRate`. It is callable as ``rate(t_s)``, and its
    ``rates_per_s`` attribute holds the 24 rates. If the weights have mean 1,
    ``base_rate_per_s`` is the daily mean rate.
    """
    w = _validate_weights(hourly_weights)
    lam = _validate_rate(base_rate_per_s)
    return PiecewiseRate(rates_per_s=lam * w, start_offset_s=float(start_offset_s))


def _hour_pieces(duration_s: float, start_offset_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Split ``[0, duration_s)`` at clock-hour boundaries. Returns (starts, lengths)."""
    first = SECONDS_PER_HOUR - (start_offset_s % SECONDS_PER_HOUR)
    inner = np.arange(first, duration_s, SECONDS_PER_HOUR)
    inner = inner[(inner > 0) & (inner < duration_s)]
    edges = np.concatenate(([0.0], inner, [float(duration_s)]))
    return edges[:-1], np.diff(edges)


def _piece_hours(starts: np.ndarray, lengths: np.ndarray, start_offset_s: float) -> np.ndarray:
    """Clock hour of each piece, taken at its midpoint so boundary rounding cannot misassign it."""
    mid = (starts + 0.5 * lengths + start_offset_s) % SECONDS_PER_DAY
    return np.minimum((mid // SECONDS_PER_HOUR).astype(np.int64), HOURS_PER_DAY - 1)


def _poisson_on_pieces(
    rng: np.random.Generator, starts: np.ndarray, lengths: np.ndarray, rates_per_s: np.ndarray
) -> np.ndarray:
    """Exact Poisson process with a piecewise-constant rate over contiguous pieces.

    Piece ``i`` covers ``[starts[i], starts[i] + lengths[i])`` with rate
    ``rates_per_s[i]``. The count in each piece is Poisson and the points are
    uniform within it. This is fully vectorised: one Poisson draw per piece, and
    one uniform per arrival. The result is sorted.
    """
    counts = rng.poisson(rates_per_s * lengths)
    idx = np.repeat(np.arange(starts.size), counts)
    u = rng.random(idx.size)
    t = starts[idx] + u * lengths[idx]
    # u < 1, but start + u*len can round up to the piece end (measure-zero event).
    # Keep the half-open interval by stepping one ulp back; this is not clipping of the law.
    ends = starts[idx] + lengths[idx]
    bad = t >= ends
    if np.any(bad):
        t[bad] = np.nextafter(ends[bad], -np.inf)
    t.sort()
    return t


def _validate_duration(duration_s: float) -> float:
    d = float(duration_s)
    if not (np.isfinite(d) and d >= 0):
        raise ValueError(f"duration_s must be finite and >= 0, got {duration_s!r}")
    return d


def nhpp_arrival_times(
    rng: np.random.Generator,
    duration_s: float,
    base_rate_per_s: float,
    hourly_weights=None,
    start_offset_s: float = 0.0,
) -> np.ndarray:
    """Sorted arrival times in ``[0, duration_s)`` of an exact piecewise-constant NHPP.

    In clock hour ``h`` the rate is ``base_rate_per_s * hourly_weights[h]``.
    ``start_offset_s`` is the time of day at ``t = 0`` (for example
    ``9 * 3600`` starts the run at 09:00). The pattern repeats every 24 h, so
    multi-day runs are supported. With ``hourly_weights=None`` the rate is
    constant, which gives a homogeneous Poisson process.

    Method: the horizon is cut at clock-hour boundaries. Each piece gets
    ``N ~ Poisson(rate * length)`` points, placed uniformly in the piece. This
    reproduces the Poisson law exactly: counts in disjoint intervals are
    independent Poisson, and the gaps are exponential within constant-rate
    stretches.
    """
    d = _validate_duration(duration_s)
    lam = _validate_rate(base_rate_per_s)
    if d == 0.0 or lam == 0.0:
        return np.empty(0)
    if hourly_weights is None:
        return _poisson_on_pieces(rng, np.array([0.0]), np.array([d]), np.array([lam]))
    w = _validate_weights(hourly_weights)
    starts, lengths = _hour_pieces(d, float(start_offset_s))
    rates = lam * w[_piece_hours(starts, lengths, float(start_offset_s))]
    return _poisson_on_pieces(rng, starts, lengths, rates)


# --------------------------------------------------------------------------- #
# Markov-modulated Poisson process (burstiness)
# --------------------------------------------------------------------------- #
def _validate_mmpp(burst_rate_multiplier, mean_burst_s, mean_calm_s) -> tuple[float, float, float, float]:
    m = float(burst_rate_multiplier)
    if not (np.isfinite(m) and m >= 1.0):
        raise ValueError(f"burst_rate_multiplier must be >= 1, got {burst_rate_multiplier!r}")
    for name, v in (("mean_burst_s", mean_burst_s), ("mean_calm_s", mean_calm_s)):
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be finite and > 0, got {v!r}")
    p = mean_burst_s / (mean_burst_s + mean_calm_s)
    return m, p, float(mean_burst_s), float(mean_calm_s)


def mmpp_calm_factor(burst_rate_multiplier: float, mean_burst_s: float, mean_calm_s: float) -> float:
    """Calm-state multiplier ``c = (1 - p*m) / (1 - p)`` that keeps the long-run mean rate.

    ``p = mean_burst_s / (mean_burst_s + mean_calm_s)`` is the long-run fraction
    of time spent bursting, so ``p*m + (1-p)*c = 1``. Raises ``ValueError``
    (naming ``burst_rate_multiplier``) if ``c < 0``, that is if ``p*m > 1``: the
    bursts alone would carry more than the whole mean volume.
    """
    m, p, _, _ = _validate_mmpp(burst_rate_multiplier, mean_burst_s, mean_calm_s)
    c = (1.0 - p * m) / (1.0 - p)
    if c < -1e-12:
        raise ValueError(
            f"burst_rate_multiplier={m} is too large for a burst fraction "
            f"p=mean_burst_s/(mean_burst_s+mean_calm_s)={p:.4g}: p*m={p * m:.4g} > 1 would need "
            f"a negative calm rate; lower burst_rate_multiplier or mean_burst_s, or raise mean_calm_s"
        )
    return max(c, 0.0)


def mmpp_index_of_dispersion(
    base_rate_per_s: float,
    burst_rate_multiplier: float,
    mean_burst_s: float,
    mean_calm_s: float,
    window_s: float,
) -> float:
    """Theoretical index of dispersion of counts, Var[N(T)] / E[N(T)], for the MMPP.

    This holds for a constant base rate ``lam``, in the stationary state, with
    window ``T = window_s``. Write ``p`` for the burst fraction,
    ``gamma = 1/mean_burst_s + 1/mean_calm_s`` for the state-switching rate, and
    ``s2 = lam**2 * (m - 1)**2 * p / (1 - p)`` for the variance of the modulated
    intensity (note ``m - c = (m - 1)/(1 - p)``). Then::

        IDC(T) = 1 + 2 * s2 / (lam * gamma**2 * T) * (gamma*T - 1 + exp(-gamma*T))

    ``IDC`` is 1 for Poisson (``m = 1``). It rises with ``T`` towards the
    asymptote ``1 + 2 * lam * (m-1)**2 * p / ((1-p) * gamma)``, which grows
    linearly with the rate and with the burst length. Diurnal weights add more
    dispersion on top of this for windows comparable to an hour.
    """
    m, p, b, c_s = _validate_mmpp(burst_rate_multiplier, mean_burst_s, mean_calm_s)
    mmpp_calm_factor(m, b, c_s)
    lam = _validate_rate(base_rate_per_s)
    if lam == 0.0:
        return 1.0
    gamma = 1.0 / b + 1.0 / c_s
    s2 = lam**2 * (m - 1.0) ** 2 * p / (1.0 - p)
    gT = gamma * window_s
    return 1.0 + 2.0 * s2 / (lam * gamma**2 * window_s) * (gT - 1.0 + math.exp(-gT))


def _alternating_switch_times(
    rng: np.random.Generator, duration_s: float, first_mean_s: float, second_mean_s: float
) -> np.ndarray:
    """Switch times in ``(0, duration_s)`` of an alternating renewal process.

    Sojourns are exponential, with means alternating between ``first_mean_s``
    (the initial state) and ``second_mean_s``. The first sojourn is a full one,
    which by memorylessness is also the residual time of a stationary process.
    Draws are made in vectorised batches.
    """
    cycle = first_mean_s + second_mean_s
    chunks = []
    t_end = 0.0
    n_pairs = int(duration_s / cycle * 1.1) + 16
    while t_end < duration_s:
        a = rng.exponential(first_mean_s, n_pairs)
        bb = rng.exponential(second_mean_s, n_pairs)
        sojourns = np.empty(2 * n_pairs)
        sojourns[0::2] = a
        sojourns[1::2] = bb
        times = t_end + np.cumsum(sojourns)
        chunks.append(times)
        t_end = times[-1]
        n_pairs = int((duration_s - t_end) / cycle * 1.2) + 16
    times = np.concatenate(chunks)
    return times[times < duration_s]


def mmpp_arrival_times(
    rng: np.random.Generator,
    duration_s: float,
    base_rate_per_s: float,
    hourly_weights,
    burst_rate_multiplier: float,
    mean_burst_s: float,
    mean_calm_s: float,
    start_offset_s: float = 0.0,
) -> np.ndarray:
    """Sorted arrival times in ``[0, duration_s)`` of a diurnal two-state MMPP.

    The intensity is ``base_rate_per_s * hourly_weights[hour] * f(state)``, with
    ``f(burst) = burst_rate_multiplier`` and ``f(calm) = c`` from
    :func:`mmpp_calm_factor`. Burst and calm sojourns are exponential with means
    ``mean_burst_s`` and ``mean_calm_s``. The state at ``t = 0`` is drawn from the
    stationary distribution (burst with probability ``p``), so the process is
    stationary from the start. The state process is independent of the clock, so
    the long-run mean rate equals the NHPP's: ``E[f] = p*m + (1-p)*c = 1``.

    Generation is exact. The state switch times and the clock-hour boundaries
    are merged into one set of pieces. The rate is constant on each piece, and
    the points are drawn as in :func:`nhpp_arrival_times`.

    Dispersion: with flat weights, the index of dispersion of counts in windows
    of length ``T`` is given by :func:`mmpp_index_of_dispersion`. It is ``> 1``
    whenever ``m > 1``, and about ``1 + 2*lam*(m-1)^2*p/((1-p)*gamma)`` for
    windows much longer than a burst cycle. ``hourly_weights=None`` gives a flat
    day.
    """
    d = _validate_duration(duration_s)
    lam = _validate_rate(base_rate_per_s)
    _validate_mmpp(burst_rate_multiplier, mean_burst_s, mean_calm_s)
    w = np.ones(HOURS_PER_DAY) if hourly_weights is None else _validate_weights(hourly_weights)
    if d == 0.0 or lam == 0.0:
        return np.empty(0)
    starts, lengths, rates = hourly_rate_pieces(d, lam, w, start_offset_s)
    return mmpp_on_pieces(rng, starts, lengths, rates, burst_rate_multiplier, mean_burst_s, mean_calm_s)


def mmpp_on_pieces(
    rng: np.random.Generator,
    starts: np.ndarray,
    lengths: np.ndarray,
    rates_per_s: np.ndarray,
    burst_rate_multiplier: float,
    mean_burst_s: float,
    mean_calm_s: float,
) -> np.ndarray:
    """Sorted arrival times of a two-state MMPP modulating a piecewise-constant rate.

    The pieces are contiguous from ``starts[0] = 0``; the state process is
    drawn as in :func:`mmpp_arrival_times`, its switch times are merged with
    the pieces' edges, and each resulting piece is a Poisson piece.
    """
    m, p, mb, mc = _validate_mmpp(burst_rate_multiplier, mean_burst_s, mean_calm_s)
    c = mmpp_calm_factor(m, mb, mc)
    d = float(starts[-1] + lengths[-1])
    start_burst = bool(rng.random() < p)
    first_mean, second_mean = (mb, mc) if start_burst else (mc, mb)
    switches = _alternating_switch_times(rng, d, first_mean, second_mean)

    edges = np.union1d(np.concatenate((starts, switches)), [0.0])
    edges = np.append(edges, d)
    piece_starts, piece_lengths = edges[:-1], np.diff(edges)
    mid = piece_starts + 0.5 * piece_lengths
    # State of each piece: the number of switches at or before its start; its
    # parity says whether the state differs from the initial one.
    n_switched = np.searchsorted(switches, mid, side="right")
    in_burst = (n_switched % 2 == 0) == start_burst
    factor = np.where(in_burst, m, c)
    base = rates_per_s[np.searchsorted(starts, mid, side="right") - 1]
    return _poisson_on_pieces(rng, piece_starts, piece_lengths, base * factor)


# --------------------------------------------------------------------------- #
# Rate pieces, steps and clusters
# --------------------------------------------------------------------------- #
def hourly_rate_pieces(duration_s: float, base_rate_per_s: float, hourly_weights=None,
                       start_offset_s: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(starts, lengths, rates_per_s)`` of ``[0, duration_s)`` cut at clock hours, rate ``base * w[hour]``."""
    d = _validate_duration(duration_s)
    lam = _validate_rate(base_rate_per_s)
    w = np.ones(HOURS_PER_DAY) if hourly_weights is None else _validate_weights(hourly_weights)
    starts, lengths = _hour_pieces(d, float(start_offset_s))
    return starts, lengths, lam * w[_piece_hours(starts, lengths, float(start_offset_s))]


def step_rate_pieces(duration_s: float, base_rate_per_s: float, step_s: float,
                     weights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(starts, lengths, rates_per_s)`` of a rate in steps of ``step_s`` from ``t = 0``.

    Step ``i`` has rate ``base_rate_per_s * w[i % len(w)]`` with ``w`` the
    weights scaled to mean 1, so ``base_rate_per_s`` is the mean rate over one
    pass of the steps; the steps repeat if ``duration_s`` is longer than
    ``len(w) * step_s``, and the last piece is cut at ``duration_s``.
    """
    d = _validate_duration(duration_s)
    lam = _validate_rate(base_rate_per_s)
    step = float(step_s)
    if not (np.isfinite(step) and step > 0):
        raise ValueError(f"step_s must be finite and > 0, got {step_s!r}")
    w = np.asarray(weights, dtype=float)
    if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be a non-empty 1-D array, finite, >= 0, with a positive sum")
    w = w / w.mean()
    n = max(1, int(math.ceil(d / step)))
    starts = np.arange(n) * step
    lengths = np.minimum(starts + step, d) - starts
    return starts, lengths, lam * w[np.arange(n) % w.size]


def poisson_on_pieces(rng: np.random.Generator, starts: np.ndarray, lengths: np.ndarray,
                      rates_per_s: np.ndarray) -> np.ndarray:
    """Sorted arrival times of an exact Poisson process, rate ``rates_per_s[i]`` on piece ``i``."""
    if starts.size == 0:
        return np.empty(0)
    return _poisson_on_pieces(rng, np.asarray(starts, float), np.asarray(lengths, float),
                              np.asarray(rates_per_s, float))


def _validate_cluster(mean_cluster_size: float, cluster_spread_s: float,
                      cluster_size_shape: float) -> tuple[float, float, float]:
    mu, tau, r = float(mean_cluster_size), float(cluster_spread_s), float(cluster_size_shape)
    if not (np.isfinite(mu) and mu >= 1.0):
        raise ValueError(f"mean_cluster_size must be finite and >= 1, got {mean_cluster_size!r}")
    if not (np.isfinite(tau) and tau > 0):
        raise ValueError(f"cluster_spread_s must be finite and > 0, got {cluster_spread_s!r}")
    if not (np.isfinite(r) and r > 0):
        raise ValueError(f"cluster_size_shape must be finite and > 0, got {cluster_size_shape!r}")
    return mu, tau, r


def cluster_sizes(rng: np.random.Generator, n: int, mean_cluster_size: float,
                  cluster_size_shape: float = 1.0) -> np.ndarray:
    """``n`` cluster sizes ``1 + NegativeBinomial`` with mean ``mean_cluster_size`` and shape ``r``.

    The extra requests ``N - 1`` have mean ``m = mean_cluster_size - 1`` and
    variance ``m + m**2 / r``: ``r = 1`` is the geometric law on 1, 2, ...;
    a large ``r`` tends to ``1 + Poisson(m)`` (clusters of nearly equal size);
    a small ``r`` makes most clusters single requests and a few huge.
    """
    mu, _, r = _validate_cluster(mean_cluster_size, 1.0, cluster_size_shape)
    m = mu - 1.0
    if m == 0.0:
        return np.ones(int(n), dtype=np.int64)
    return 1 + rng.negative_binomial(r, r / (r + m), int(n))


def cluster_size_factor(mean_cluster_size: float, cluster_size_shape: float = 1.0) -> float:
    """``K = E[N(N-1)] / E[N]`` of :func:`cluster_sizes`: the excess dispersion of long windows.

    With ``m = mean - 1``, ``E[N(N-1)] = m + m**2 / r + mean**2 - mean``; ``K = 2 * m`` for ``r = 1``.
    """
    mu, _, r = _validate_cluster(mean_cluster_size, 1.0, cluster_size_shape)
    m = mu - 1.0
    return (m + m * m / r + mu * mu - mu) / mu


#: Cluster starts are drawn from this many spreads before ``t = 0``, so the
#: process is (to ``exp(-10)``, 5e-5 of the rate) stationary from the start.
CLUSTER_LEAD_SPREADS = 10.0


def cluster_arrival_times(
    rng: np.random.Generator,
    starts: np.ndarray,
    lengths: np.ndarray,
    rates_per_s: np.ndarray,
    mean_cluster_size: float,
    cluster_spread_s: float,
    cluster_size_shape: float = 1.0,
) -> np.ndarray:
    """Sorted arrival times in ``[0, duration)`` of a Neyman-Scott cluster process.

    Picture a batch job or an agent fan-out: something fires, and a run of
    requests follows within seconds. Cluster starts are a Poisson process with
    rate ``rates_per_s / mean_cluster_size`` on the pieces (contiguous from
    0); a cluster holds ``N`` requests, drawn by :func:`cluster_sizes`
    (geometric on ``1, 2, ...`` for ``cluster_size_shape = 1``); each request
    arrives ``Exp(cluster_spread_s)`` after its cluster's start. The request
    rate is therefore ``rates_per_s`` smoothed by the exponential delay. Starts are also drawn over a lead-in of
    :data:`CLUSTER_LEAD_SPREADS` spreads before 0 (at the first piece's
    rate), so the run does not start empty; requests at or after the end are
    dropped. ``mean_cluster_size = 1`` gives a Poisson process.

    Dispersion: with a flat rate, :func:`cluster_index_of_dispersion`.
    """
    mu, tau, shape = _validate_cluster(mean_cluster_size, cluster_spread_s, cluster_size_shape)
    starts, lengths = np.asarray(starts, float), np.asarray(lengths, float)
    rates = np.asarray(rates_per_s, float)
    if starts.size == 0:
        return np.empty(0)
    d = float(starts[-1] + lengths[-1])
    lead = CLUSTER_LEAD_SPREADS * tau
    centres = _poisson_on_pieces(rng, np.concatenate(([-lead], starts)), np.concatenate(([lead], lengths)),
                                 np.concatenate(([rates[0]], rates)) / mu)
    sizes = cluster_sizes(rng, centres.size, mu, shape)
    t = np.repeat(centres, sizes) + rng.exponential(tau, int(sizes.sum()))
    t = t[(t >= 0.0) & (t < d)]
    t.sort()
    return t


def cluster_index_of_dispersion(window_s, mean_cluster_size: float, cluster_spread_s: float,
                                cluster_size_shape: float = 1.0):
    """Variance over mean of the counts in windows of ``window_s`` of a flat-rate cluster process.

    With ``K = E[N(N-1)] / E[N]`` (:func:`cluster_size_factor`; ``2 * (mean - 1)``
    for geometric sizes), and two requests of one cluster ``Laplace(spread)``
    apart::

        IDC(T) = 1 + K * (1 - (tau / T) * (1 - exp(-T / tau)))

    It does not depend on the rate; it is 1 for ``T -> 0`` and tends to
    ``1 + K`` for windows much longer than the spread. Vectorised over
    ``window_s``.
    """
    mu, tau, shape = _validate_cluster(mean_cluster_size, cluster_spread_s, cluster_size_shape)
    T = np.asarray(window_s, dtype=float)
    return 1.0 + cluster_size_factor(mu, shape) * (1.0 - (tau / T) * -np.expm1(-T / tau))


# --------------------------------------------------------------------------- #
# Users
# --------------------------------------------------------------------------- #
def zipf_user_ids(rng: np.random.Generator, n: int, n_users: int, skew: float = 1.0) -> np.ndarray:
    """Draw ``n`` user ids in ``0..n_users-1`` with Zipf-skewed activity.

    User ``k`` is drawn with probability proportional to ``1 / (k+1)**skew``.
    ``skew = 0`` is uniform. ``skew = 1`` is classic Zipf, where the top user is
    ``H_{n_users}`` (about ``ln(n_users) + 0.577``) times more active than the
    average. Sampling is inverse-CDF with ``searchsorted``, which costs
    ``O(n_users + n log n_users)``. Returns ``int32``.
    """
    n = int(n)
    n_users = int(n_users)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if n_users < 1:
        raise ValueError(f"n_users must be >= 1, got {n_users}")
    if not (np.isfinite(skew) and skew >= 0):
        raise ValueError(f"skew must be finite and >= 0, got {skew!r}")
    weights = np.arange(1, n_users + 1, dtype=float) ** (-float(skew))
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    cdf[-1] = 1.0
    ids = np.searchsorted(cdf, rng.random(n), side="right")
    return ids.astype(np.int32)


# --------------------------------------------------------------------------- #
# Token counts and request shape
# --------------------------------------------------------------------------- #
def sample_tokens_fixed(n: int, value: int) -> np.ndarray:
    """``n`` copies of the token count ``value`` (an integer >= 1), as int64."""
    v = int(value)
    if v != value or v < 1:
        raise ValueError(f"value must be an integer >= 1, got {value!r}")
    return np.full(int(n), v, dtype=np.int64)


def lognormal_params_from_median_p95(median: float, p95: float) -> tuple[float, float]:
    """Return ``(mu, sigma)`` of the log-normal with the given median and 95th percentile.

    ``mu = ln(median)`` and ``sigma = ln(p95 / median) / z_0.95``, where
    ``z_0.95 = 1.6448536269514722``. ``p95 == median`` gives ``sigma = 0``
    (a point mass).
    """
    if not (np.isfinite(median) and median > 0):
        raise ValueError(f"median must be finite and > 0, got {median!r}")
    if not (np.isfinite(p95) and p95 >= median):
        raise ValueError(f"p95 must be finite and >= median ({median}), got {p95!r}")
    return math.log(median), math.log(p95 / median) / Z_95


def sample_tokens_lognormal(
    rng: np.random.Generator,
    n: int,
    median: float,
    p95: float,
    min_tokens: int = 1,
    max_tokens: int | None = None,
) -> np.ndarray:
    """Log-normal token counts set by their median and p95, rounded to integers (int64).

    Each draw ``x = exp(mu + sigma * Z)`` is rounded to the nearest integer and
    then bounded to ``[min_tokens, max_tokens]``. The bounds are a truncation of
    the model by design (a context window, or at least one token), not a
    numerical fix-up.

    Rounding bias: rounding to the nearest integer preserves quantiles up to
    +/- 0.5 token, so the median and p95 come out at ``round(median)`` and
    ``round(p95)``. For a smooth density spread over many integers, the mean
    shift from rounding is far below 0.5 token. The one visible bias is the lower
    bound. All mass below ``min_tokens - 0.5`` is lifted to ``min_tokens``, which
    raises the mean. This matters only when the median is within a few tokens of
    ``min_tokens``. Likewise ``max_tokens`` lowers the mean when p95 is near it.
    """
    mu, sigma = lognormal_params_from_median_p95(median, p95)
    lo = int(min_tokens)
    if lo < 1:
        raise ValueError(f"min_tokens must be >= 1, got {min_tokens!r}")
    if max_tokens is not None and int(max_tokens) < lo:
        raise ValueError(f"max_tokens must be >= min_tokens ({lo}), got {max_tokens!r}")
    x = np.rint(np.exp(mu + sigma * rng.standard_normal(int(n))))
    x = np.clip(x, lo, None if max_tokens is None else int(max_tokens))
    return x.astype(np.int64)


def sample_tokens_empirical(rng: np.random.Generator, n: int, values) -> np.ndarray:
    """Bootstrap ``n`` token counts from a 1-D sample of observed counts (int64).

    Each draw is an independent, uniform choice from ``values`` (sampling with
    replacement). This reproduces the empirical distribution, including its
    tail and any spikes (such as a max-tokens cap), but it never produces a value
    that was not observed. Non-integer values are rounded to the nearest integer.
    """
    v = np.asarray(values)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"values must be a non-empty 1-D array, got shape {v.shape}")
    v = v.astype(float)
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ValueError("values must be finite and >= 0")
    v = np.rint(v).astype(np.int64)
    return v[rng.integers(0, v.size, int(n))]


def sample_tokens_quantiles(rng: np.random.Generator, n: int, values) -> np.ndarray:
    """``n`` token counts through a quantile table, rounded to integers >= 0 (int64).

    ``values[k]`` is the quantile at probability ``k / (len(values) - 1)``
    (ascending, from the minimum to the maximum). A draw is ``Q(U)``, ``U``
    uniform, with ``Q`` linear between the points, then rounded. With a table
    of a trace's quantiles this reproduces its distribution to within one
    table step, without carrying the trace itself.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size < 2:
        raise ValueError(f"values must be a 1-D array of at least 2 quantiles, got shape {v.shape}")
    if not np.all(np.isfinite(v)) or np.any(v < 0) or np.any(np.diff(v) < 0):
        raise ValueError("values must be finite, >= 0 and ascending")
    u = rng.random(int(n)) * (v.size - 1)
    return np.rint(np.interp(u, np.arange(v.size), v)).astype(np.int64)


def sample_complexity(rng: np.random.Generator, n: int, alpha: float = 2.0, beta: float = 5.0) -> np.ndarray:
    """Per-request complexity in ``[0, 1]``, drawn from ``Beta(alpha, beta)`` (mean ``alpha/(alpha+beta)``).

    The defaults give mean 0.286 and mode 0.2: most requests are easy, and a
    tail of requests is hard.
    """
    for name, v in (("alpha", alpha), ("beta", beta)):
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be finite and > 0, got {v!r}")
    return rng.beta(alpha, beta, int(n))


def sample_calls_per_request(
    rng: np.random.Generator, n: int, mean_calls: float = 1.0, kind: str = "fixed"
) -> np.ndarray:
    """Number of LLM calls each request makes (agent loops), int64 >= 1.

    * ``kind="fixed"``: every request makes ``max(1, round(mean_calls))`` calls.
    * ``kind="geometric"``: ``P(K = k) = (1-q)**(k-1) * q`` for ``k = 1, 2, ...``,
      with ``q = 1 / mean_calls``, so ``E[K] = mean_calls`` and
      ``Var[K] = (1-q)/q**2``. This is an agent that, after each call, stops with
      probability ``q``. ``mean_calls = 1`` gives exactly one call.
    """
    mu = float(mean_calls)
    if not (np.isfinite(mu) and mu >= 1.0):
        raise ValueError(f"mean_calls must be finite and >= 1, got {mean_calls!r}")
    n = int(n)
    if kind == "fixed":
        return np.full(n, max(1, int(round(mu))), dtype=np.int64)
    if kind == "geometric":
        return rng.geometric(1.0 / mu, n).astype(np.int64)
    raise ValueError(f"kind must be 'fixed' or 'geometric', got {kind!r}")


# --------------------------------------------------------------------------- #
# Trace readers
# --------------------------------------------------------------------------- #

def _check_exists(path) -> Path:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"trace file not found: {p}")
    return p


def _require_columns(df: pd.DataFrame, columns, path: Path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"trace file {path}: missing column(s) {', '.join(repr(c) for c in missing)}; "
            f"found columns {list(df.columns)}"
        )


def _token_column(series: pd.Series, name: str, path: Path) -> np.ndarray:
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"trace file {path}: column {name!r} has {int(bad.sum())} missing/invalid value(s), "
            f"first at data row {row}"
        )
    return np.rint(values).astype(np.int64)


def _finish_trace(times_s: np.ndarray, inp: np.ndarray, out: np.ndarray) -> pd.DataFrame:
    order = np.argsort(times_s, kind="stable")
    t = times_s[order]
    t = t - t[0] if t.size else t
    return pd.DataFrame(
        {"arrival_s": t.astype(float), "input_tokens": inp[order], "output_tokens": out[order]}
    )


def read_trace_csv(
    path,
    time_column: str,
    input_column: str,
    output_column: str,
    time_unit: str = "s",
) -> pd.DataFrame:
    """Read any CSV request trace into ``arrival_s, input_tokens, output_tokens``.

    ``time_unit`` is ``"s"`` or ``"ms"`` for numeric times, or ``"datetime"`` for
    timestamp strings (ISO-8601-like, any number of fractional digits up to 9,
    optional fraction). ``arrival_s`` is in seconds since the earliest request,
    and rows are sorted by it (stable, so ties keep file order).

    Raises ``FileNotFoundError`` (with the path) if the file is missing, and
    ``ValueError`` naming the file and column if a column is absent or holds
    unparsable values.
    """
    if time_unit not in ("s", "ms", "datetime"):
        raise ValueError(f"time_unit must be 's', 'ms' or 'datetime', got {time_unit!r}")
    p = _check_exists(path)
    try:
        df = pd.read_csv(p)
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"trace file {p} is empty") from exc
    _require_columns(df, [time_column, input_column, output_column], p)

    raw = df[time_column]
    if time_unit == "datetime":
        try:
            ts = pd.to_datetime(raw.astype(str).str.strip(), format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise ValueError(f"trace file {p}: cannot parse column {time_column!r} as datetimes: {exc}") from exc
        if ts.isna().any():
            raise ValueError(f"trace file {p}: column {time_column!r} has missing timestamps")
        ns = ts.to_numpy(dtype="datetime64[ns]").astype(np.int64)
        # Integer nanoseconds relative to the earliest stamp: no float loss on epoch values.
        times_s = (ns - ns.min()).astype(float) / 1e9 if ns.size else ns.astype(float)
    else:
        times = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isfinite(times)):
            raise ValueError(f"trace file {p}: column {time_column!r} has missing/non-numeric times")
        times_s = times / 1000.0 if time_unit == "ms" else times

    inp = _token_column(df[input_column], input_column, p)
    out = _token_column(df[output_column], output_column, p)
    return _finish_trace(times_s, inp, out)


def read_azure_trace(path) -> pd.DataFrame:
    """Read an Azure LLM inference trace 2023 CSV (Splitwise, ISCA'24).

    Columns used: ``TIMESTAMP`` (``YYYY-MM-DD HH:MM:SS.fffffff``, 7 fractional
    digits, no time zone), ``ContextTokens`` (-> ``input_tokens``) and
    ``GeneratedTokens`` (-> ``output_tokens``). ``arrival_s`` is in seconds since
    the first request.
    """
    return read_trace_csv(path, "TIMESTAMP", "ContextTokens", "GeneratedTokens", time_unit="datetime")


def read_mooncake_trace(path) -> pd.DataFrame:
    """Read a Mooncake (FAST'25) JSON Lines trace.

    Fields used: ``timestamp`` (ms since the trace start), ``input_length`` and
    ``output_length``. ``hash_ids`` (prefix-cache block ids) is ignored.
    ``arrival_s`` is in seconds since the earliest request. The Mooncake
    conversation trace is quantised to 3 s, so many requests share an arrival time.
    """
    p = _check_exists(path)
    needed = ["timestamp", "input_length", "output_length"]
    rows = []
    with p.open("r", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"trace file {p}: line {lineno} is not valid JSON: {exc}") from exc
            missing = [k for k in needed if k not in rec]
            if missing:
                raise ValueError(
                    f"trace file {p}: missing column(s) {', '.join(repr(k) for k in missing)} "
                    f"at line {lineno}"
                )
            rows.append((rec["timestamp"], rec["input_length"], rec["output_length"]))
    if not rows:
        raise ValueError(f"trace file {p} is empty")
    arr = np.asarray(rows, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"trace file {p}: non-numeric timestamp/input_length/output_length values")
    return _finish_trace(arr[:, 0] / 1000.0, np.rint(arr[:, 1]).astype(np.int64), np.rint(arr[:, 2]).astype(np.int64))


def scale_trace(df: pd.DataFrame, speedup: float = 1.0, repeat_to_s: float | None = None) -> pd.DataFrame:
    """Change a trace's time scale and optionally tile it to fill a longer horizon.

    ``speedup``: arrival times are divided by ``speedup``. ``speedup = 2``
    compresses time, so arrivals are twice as dense (rate x2, the same requests
    in half the time). ``speedup = 0.5`` stretches time (rate /2). Token counts
    are unchanged.

    ``repeat_to_s``: after the speedup, the trace is repeated back to back until
    ``repeat_to_s`` seconds are covered, and only arrivals ``< repeat_to_s`` are
    kept. A value shorter than the trace truncates it. One repetition lasts
    ``period = span + span / (n - 1)``, the trace span plus one mean gap, so the
    join between copies looks like a typical gap and the tiled mean rate equals
    the trace's ``(n - 1) / span``. The result has a ``copy`` column (0, 1, ...)
    saying which repetition each row came from. Other columns are carried along.
    """
    if "arrival_s" not in df.columns:
        raise ValueError(f"scale_trace: DataFrame has no 'arrival_s' column; found {list(df.columns)}")
    s = float(speedup)
    if not (np.isfinite(s) and s > 0):
        raise ValueError(f"speedup must be finite and > 0, got {speedup!r}")
    out = df.sort_values("arrival_s", kind="stable").reset_index(drop=True)
    t = out["arrival_s"].to_numpy(dtype=float)
    t = (t - t[0]) / s if t.size else t
    out["arrival_s"] = t
    if repeat_to_s is None:
        return out

    horizon = float(repeat_to_s)
    if not (np.isfinite(horizon) and horizon > 0):
        raise ValueError(f"repeat_to_s must be finite and > 0, got {repeat_to_s!r}")
    n = t.size
    span = t[-1] - t[0] if n else 0.0
    if n < 2 or span <= 0:
        raise ValueError("scale_trace: repeat_to_s needs a trace with at least two distinct arrival times")
    period = span + span / (n - 1)
    copies = int(math.ceil(horizon / period))
    idx = np.tile(np.arange(n), copies)
    copy = np.repeat(np.arange(copies), n)
    times = t[idx] + copy * period
    keep = times < horizon
    tiled = out.iloc[idx[keep]].reset_index(drop=True)
    tiled["arrival_s"] = times[keep]
    tiled["copy"] = copy[keep].astype(np.int64)
    return tiled
