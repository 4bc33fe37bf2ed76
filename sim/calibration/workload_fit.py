"""Fit a workload to a request trace: its rate profile, its burstiness and its token distributions.

A trace (one row per request: arrival time, input tokens, output tokens) says how much traffic came when, how
clumped it was, and how big the requests were. This module turns that into the scenario's generative
workload, whose parameters a reader can see and change, instead of replaying the timestamps:

* **Rate profile.** The trace's span is cut into steps (one minute for a trace shorter than a day, one hour
  otherwise); a step's rate is its count over its length. Those raw rates carry the counts' own noise and the
  clusters' noise as well, so the profile is shrunk towards the mean rate, ``w_i = 1 + s * (r_i / r - 1)``,
  with the factor ``s`` fitted together with the clusters (below): a Poisson trace gives a flat profile.
* **Burstiness.** Two summaries: the inter-arrival coefficient of variation (1 for Poisson), and the index
  of dispersion (Fano factor: variance over mean) of the counts in windows of 1 s, 10 s and 60 s (1 for
  Poisson at every window; it grows with the window when requests come in bursts). The model is the profile
  driving a cluster process (:func:`sim.model.arrivals.cluster_arrival_times`), whose dispersion is, with
  ``K = 2 * (mean_cluster_size - 1)`` and for windows ``T`` no longer than a step::

      IDC(T) = 1 + K * (1 - (tau / T) * (1 - exp(-T / tau)))  +  (T / step) * s^2 * V

  where the last term is the shrunk profile's share and ``V`` is the index of dispersion of the trace's step
  counts (what the raw step rates would add at a whole step). The three unknowns (``K``, the spread ``tau``,
  ``s``) are fitted to the three windows' Fano factors by least squares on their logarithms. ``K`` does not
  say whether the clusters are many and small or few and large; the inter-arrival CV does (large clusters
  leave long silences), so the mean cluster size is chosen on the generator to match the trace's CV, and
  the size law's shape follows from ``K`` and the mean.
* **Tokens.** An empirical option (a table of the trace's quantiles at 0, 0.5 %, ..., 100 %, drawn by
  interpolation) beside a parametric one (a lognormal fitted by maximum likelihood on the logarithms), each
  with its Kolmogorov-Smirnov distance to the trace (the largest gap between the two CDFs) so the user can
  choose. Both are compared as integer counts (the simulator rounds its draws).

Nothing here runs a simulation; :mod:`sim.calibration.workload_validation` does, with the model's own
workload generator.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from sim.model import arrivals as arr

__all__ = ["FANO_WINDOWS_S", "TokenFit", "ClusterFit", "WorkloadFit", "interarrival_cv", "index_of_dispersion",
           "time_grid_s", "spread_within_grid", "profile_step_s", "fitted_duration_s", "step_rates",
           "fit_dispersion", "fit_cluster_burstiness", "size_shape_for", "fit_tokens", "ks_distance_integer",
           "fit_workload"]

#: Windows (seconds) whose count dispersion is fitted and compared.
FANO_WINDOWS_S = (1.0, 10.0, 60.0)
#: Probabilities of the empirical quantile table: 0, 0.005, ..., 1 (holds p50, p95 and p99 exactly).
QUANTILE_POINTS = 201
#: Below this mean cluster size the trace is called Poisson (no burstiness section).
MIN_CLUSTER_SIZE = 1.01


# ------------------------------------------------------------------------------------------ statistics

def interarrival_cv(arrival_s: np.ndarray) -> float:
    """Standard deviation over mean of the gaps between consecutive arrivals (1 for Poisson)."""
    gaps = np.diff(np.sort(np.asarray(arrival_s, dtype=float)))
    if gaps.size < 2 or gaps.mean() <= 0:
        return float("nan")
    return float(gaps.std() / gaps.mean())


def window_counts(arrival_s: np.ndarray, window_s: float, duration_s: float) -> np.ndarray:
    """Arrivals in each complete window ``[k*w, (k+1)*w)`` inside ``[0, duration_s)``."""
    n_windows = int(math.floor(duration_s / window_s + 1e-9))
    t = np.asarray(arrival_s, dtype=float)
    idx = (t[(t >= 0) & (t < n_windows * window_s)] // window_s).astype(np.int64)
    return np.bincount(idx, minlength=n_windows)[:n_windows]


def index_of_dispersion(arrival_s: np.ndarray, window_s: float, duration_s: float) -> float:
    """Fano factor (variance over mean) of the counts in complete windows of ``window_s``; 1 for Poisson."""
    counts = window_counts(arrival_s, window_s, duration_s)
    if counts.size < 2 or counts.mean() == 0:
        return float("nan")
    return float(counts.var(ddof=1) / counts.mean())


# ------------------------------------------------------------------------------------------ time grid

#: A trace whose timestamps tie this often, and whose gaps are multiples of the smallest one, is on a grid.
GRID_TIE_SHARE = 0.05


def time_grid_s(arrival_s: np.ndarray) -> float | None:
    """The grid a trace's timestamps were rounded to (Mooncake's 3 s), or None for a trace with fine times.

    A grid shows as many ties (equal timestamps) and every other gap a whole multiple of the smallest one.
    """
    gaps = np.diff(np.sort(np.asarray(arrival_s, dtype=float)))
    positive = gaps[gaps > 1e-9]
    if gaps.size == 0 or positive.size == 0 or np.mean(gaps <= 1e-9) < GRID_TIE_SHARE:
        return None
    q = float(positive.min())
    multiples = positive / q
    if np.mean(np.abs(multiples - np.rint(multiples)) < 0.01) < 0.99:
        return None
    return q


def spread_within_grid(trace: pd.DataFrame, grid_s: float, rng_seed: int = 0) -> pd.DataFrame:
    """The trace with each arrival moved to a uniform time inside its grid cell ``[t, t + grid)``.

    Rounded timestamps say only which cell a request fell in; placing it uniformly there is the assumption
    that carries no structure of its own, where keeping the ties would read as bursts of simultaneous
    requests. Rows keep their tokens; the result is sorted by time.
    """
    rng = np.random.default_rng(np.random.SeedSequence(rng_seed, spawn_key=(0x6D,)))
    spread = trace.assign(arrival_s=trace["arrival_s"].to_numpy(dtype=float) + rng.random(len(trace)) * grid_s)
    spread = spread.sort_values("arrival_s", kind="stable").reset_index(drop=True)
    spread["arrival_s"] -= spread["arrival_s"].iloc[0]
    return spread


# ------------------------------------------------------------------------------------------ rate profile

def profile_step_s(span_s: float) -> float:
    """One-minute steps for a trace shorter than a day, one-hour steps for a longer one."""
    return 60.0 if span_s <= 86400.0 else 3600.0


def fitted_duration_s(span_s: float) -> float:
    """The fitted workload's duration: the trace's span, up to the next whole second after its last arrival."""
    return float(math.floor(span_s) + 1)


def step_rates(arrival_s: np.ndarray, duration_s: float, step_s: float) -> tuple[np.ndarray, np.ndarray]:
    """``(rates_per_s, counts)`` of each step covering ``[0, duration_s)``; the last step may be partial, and
    its rate is its count over its length, so rate x length gives back every step's count."""
    n_steps = max(1, int(math.ceil(duration_s / step_s - 1e-9)))
    t = np.asarray(arrival_s, dtype=float)
    counts = np.bincount(np.minimum((t // step_s).astype(np.int64), n_steps - 1), minlength=n_steps)
    lengths = np.minimum(step_s, duration_s - np.arange(n_steps) * step_s)
    return counts / lengths, counts


# ------------------------------------------------------------------------------------------ burstiness

@dataclass(frozen=True)
class ClusterFit:
    """The burst model: clusters on top of a shrunk step profile, fitted to the Fano factors and the CV."""

    mean_cluster_size: float     # 1 = Poisson
    cluster_size_shape: float    # r of 1 + NegativeBinomial(mean - 1, r); 1 = geometric
    cluster_spread_s: float      # mean delay of a cluster's requests after its start
    profile_shrink: float        # s in w_i = 1 + s * (r_i / r - 1); 0 = flat, 1 = the raw step rates
    model_fano: dict[float, float]   # the fitted model's closed-form Fano factor at each window
    model_cv: float              # the fitted model's inter-arrival CV (simulated, mean of a few draws)

    @property
    def poisson(self) -> bool:
        return self.mean_cluster_size < MIN_CLUSTER_SIZE

    @property
    def size_factor(self) -> float:
        """``K = E[N(N-1)] / E[N]``: what the clusters add to the Fano factor of long windows."""
        return arr.cluster_size_factor(self.mean_cluster_size, self.cluster_size_shape)


def _model_fano(windows_s: np.ndarray, k: float, tau: float, shrink: float, step_dispersion: float,
                step_s: float) -> np.ndarray:
    clusters = k * (1.0 - (tau / windows_s) * -np.expm1(-windows_s / tau))
    return 1.0 + clusters + (windows_s / step_s) * shrink ** 2 * step_dispersion


def fit_dispersion(fano: dict[float, float], step_counts: np.ndarray, step_s: float):
    """``(K, spread_s, shrink, model_fano)`` whose closed-form Fano factors match ``fano``.

    ``step_counts`` are the trace's counts per full step (their dispersion is what the raw profile would add).
    Windows longer than a step are left out (the closed form holds for windows inside one step).
    """
    windows = np.array([w for w in sorted(fano) if w <= step_s and np.isfinite(fano[w])], dtype=float)
    if windows.size == 0:           # a trace too short for any window: nothing says it is not Poisson
        return 0.0, 1.0, 0.0, {}
    target = np.log(np.maximum([fano[w] for w in windows], 1.0))
    counts = np.asarray(step_counts, dtype=float)
    step_dispersion = float(counts.var(ddof=1) / counts.mean()) if counts.size > 1 and counts.mean() > 0 else 0.0

    def residuals(x):
        k, log_tau, shrink = x
        return np.log(_model_fano(windows, k, math.exp(log_tau), shrink, step_dispersion, step_s)) - target

    best = None
    k0 = max(float(np.exp(target.max())) - 1.0, 0.0)
    for tau0 in (0.1, 1.0, 10.0, 100.0):
        for shrink0 in (0.2, 0.9):
            res = optimize.least_squares(residuals, [k0, math.log(tau0), shrink0],
                                         bounds=([0.0, math.log(1e-3), 0.0], [1e7, math.log(86400.0), 1.0]))
            if best is None or res.cost < best.cost:
                best = res
    k, log_tau, shrink = (float(x) for x in best.x)
    tau = math.exp(log_tau)
    model = _model_fano(windows, k, tau, shrink, step_dispersion, step_s)
    return k, tau, shrink, {float(w): float(f) for w, f in zip(windows, model)}


def size_shape_for(mean_cluster_size: float, size_factor: float) -> float:
    """The shape ``r`` giving ``K = size_factor`` at this mean size: ``r = m^2 / (K * mean - m * (1 + mean))``
    with ``m = mean - 1`` (inf when the mean is too large for that K: sizes cannot be more regular than Poisson)."""
    m = mean_cluster_size - 1.0
    denominator = size_factor * mean_cluster_size - m * (1.0 + mean_cluster_size)
    return m * m / denominator if denominator > 0 else math.inf


#: The cluster-size shapes the fit may choose: from a few huge clusters among singles to nearly equal sizes.
SHAPE_RANGE = (1e-3, 1e4)
CV_GRID_POINTS = 16
CV_DRAWS = 3


def fit_cluster_burstiness(fano: dict[float, float], step_counts: np.ndarray, step_s: float,
                           pieces: tuple[np.ndarray, np.ndarray, np.ndarray], target_cv: float,
                           rng_seed: int = 0) -> ClusterFit:
    """Fit the cluster process: ``K``, spread and profile shrink to the Fano factors (closed form), then
    the mean cluster size to the inter-arrival CV.

    The Fano factors fix only ``K = E[N(N-1)] / E[N]``: few big clusters and many small ones can give the
    same ``K``. Fewer, bigger clusters leave longer silences between them, so the CV picks the mean size.
    It has no closed form once clusters overlap, so it is measured on the generator itself (``pieces``
    before shrinking: ``(starts, lengths, rates)``), on a grid of mean sizes with the same random numbers at
    every point, and interpolated to ``target_cv``.
    """
    k, tau, shrink, model_fano = fit_dispersion(fano, step_counts, step_s)
    starts, lengths, rates = pieces
    shrunk = rates.mean() * (1.0 + shrink * (rates / rates.mean() - 1.0))
    m_max = ((k - 2.0) + math.sqrt(k * k + 4.0)) / 2.0      # K = (mean^2 - 1) / mean: Poisson-sized clusters
    if k < 2 * (MIN_CLUSTER_SIZE - 1):
        return ClusterFit(1.0, 1.0, tau, shrink, model_fano, _simulated_cv(pieces[:2] + (shrunk,), 1.0, tau,
                                                                              1.0, rng_seed))
    means = 1.0 + m_max * np.geomspace(0.01, 1.0, CV_GRID_POINTS)
    shapes = np.clip([size_shape_for(mu, k) for mu in means], *SHAPE_RANGE)
    cvs = np.array([_simulated_cv((starts, lengths, shrunk), mu, tau, r, rng_seed) for mu, r in zip(means, shapes)])
    j = int(np.argmin(np.abs(np.log(cvs / target_cv))))
    mu, r, cv = means[j], shapes[j], cvs[j]
    miss = cvs - target_cv
    for i in (j - 1, j):            # a grid interval around the closest point that brackets the target
        if 0 <= i < cvs.size - 1 and miss[i] * miss[i + 1] < 0:
            mu = means[i] + miss[i] / (miss[i] - miss[i + 1]) * (means[i + 1] - means[i])
            r = float(np.clip(size_shape_for(mu, k), *SHAPE_RANGE))
            cv = _simulated_cv((starts, lengths, shrunk), mu, tau, r, rng_seed)
            break
    return ClusterFit(float(mu), float(r), tau, shrink, model_fano, float(cv))


def _simulated_cv(pieces, mean_size: float, spread_s: float, shape: float, rng_seed: int) -> float:
    rng = np.random.default_rng(np.random.SeedSequence(rng_seed, spawn_key=(0xC0,)))
    return float(np.mean([interarrival_cv(arr.cluster_arrival_times(rng, *pieces, mean_size, spread_s, shape))
                          for _ in range(CV_DRAWS)]))


# ------------------------------------------------------------------------------------------ tokens

def ks_distance_integer(values: np.ndarray, model_cdf) -> float:
    """Kolmogorov-Smirnov distance between integer ``values`` and a model of integer counts.

    ``model_cdf(k)`` is ``P(X <= k)`` at integers ``k``. Both CDFs are step functions on the integers, so the
    supremum is a maximum over integers between ``min - 1`` and ``max`` of the values.
    """
    v = np.asarray(values, dtype=np.int64)
    grid = np.arange(v.min() - 1, v.max() + 1)
    ecdf = np.searchsorted(np.sort(v), grid, side="right") / v.size
    return float(np.max(np.abs(ecdf - model_cdf(grid))))


def _quantile_table_cdf(table: np.ndarray):
    """``P(round(Q(U)) <= k)`` of the piecewise-linear quantile function through ``table``."""
    probs = np.linspace(0.0, 1.0, table.size)

    def cdf(k):
        x = np.asarray(k, dtype=float) + 0.5          # round(Q) <= k  <=>  Q < k + 0.5
        i = np.clip(np.searchsorted(table, x, side="right") - 1, 0, table.size - 2)
        lo, hi = table[i], table[i + 1]
        frac = np.where(hi > lo, (x - lo) / np.where(hi > lo, hi - lo, 1.0), 1.0)
        p = probs[i] + np.clip(frac, 0.0, 1.0) * (probs[i + 1] - probs[i])
        return np.where(x < table[0], 0.0, np.where(x >= table[-1], 1.0, p))
    return cdf


@dataclass(frozen=True)
class TokenFit:
    """One token column: its empirical quantile table and a lognormal, each with its KS distance."""

    column: str
    quantiles: tuple[float, ...]          # at probabilities 0, 1/(n-1), ..., 1
    lognormal_mu: float                   # of ln(tokens), tokens >= 1
    lognormal_sigma: float
    ks_empirical: float
    ks_lognormal: float
    p50: float
    p95: float
    p99: float

    @property
    def lognormal_median(self) -> float:
        return math.exp(self.lognormal_mu)

    @property
    def lognormal_p95(self) -> float:
        return math.exp(self.lognormal_mu + stats.norm.ppf(0.95) * self.lognormal_sigma)


def fit_tokens(values: np.ndarray, column: str) -> TokenFit:
    """The empirical quantile table and the maximum-likelihood lognormal of one token column."""
    v = np.asarray(values, dtype=np.int64)
    table = np.round(np.quantile(v, np.linspace(0.0, 1.0, QUANTILE_POINTS)), 1)
    logs = np.log(np.maximum(v, 1))
    mu, sigma = float(logs.mean()), float(max(logs.std(), 1e-6))

    def lognormal_cdf(k):       # the simulator rounds exp(mu + sigma Z) and lifts it to at least 1
        return np.where(k < 1, 0.0, stats.norm.cdf((np.log(np.asarray(k, float) + 0.5) - mu) / sigma))
    p50, p95, p99 = np.quantile(v, [0.5, 0.95, 0.99])
    return TokenFit(column=column, quantiles=tuple(float(x) for x in table), lognormal_mu=mu,
                    lognormal_sigma=sigma, ks_empirical=ks_distance_integer(v, _quantile_table_cdf(table)),
                    ks_lognormal=ks_distance_integer(v, lognormal_cdf), p50=float(p50), p95=float(p95),
                    p99=float(p99))


# ------------------------------------------------------------------------------------------ the whole fit

@dataclass(frozen=True)
class WorkloadFit:
    """Everything fitted from one trace; :mod:`sim.calibration.workload_scenario` writes it as a scenario."""

    source: str                   # where the trace came from (a path)
    n_requests: int
    span_s: float                 # first to last arrival
    step_s: float                 # profile resolution
    step_rates_per_s: tuple[float, ...]   # raw rate of each step (count / covered length)
    mean_rate_per_s: float        # mean of the step rates: the scenario's rate_per_s
    interarrival_cv: float
    fano: dict[float, float]      # the trace's Fano factor at each of FANO_WINDOWS_S
    burst: ClusterFit
    input_tokens: TokenFit
    output_tokens: TokenFit
    time_grid_s: float | None = None      # the grid the trace's timestamps were rounded to, if any
    notes: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        """The fitted scenario's duration: the trace's span, to the next whole second."""
        return fitted_duration_s(self.span_s)

    @property
    def profile_weights(self) -> np.ndarray:
        """Step weights (mean 1) after shrinking the raw rates towards their mean."""
        rates = np.asarray(self.step_rates_per_s)
        return 1.0 + self.burst.profile_shrink * (rates / rates.mean() - 1.0)


def fit_workload(trace: pd.DataFrame, source: str, step_s: float | None = None, rng_seed: int = 0) -> WorkloadFit:
    """Fit rate profile, cluster burstiness and token distributions to a trace frame.

    ``trace`` has ``arrival_s`` (seconds from the first request), ``input_tokens`` and ``output_tokens``, as
    :mod:`sim.model.arrivals`' readers return it. ``ValueError`` if it is too short to fit anything.
    """
    if len(trace) < 10:
        raise ValueError(f"the trace has {len(trace)} requests; at least 10 are needed to fit a workload")
    notes = []
    grid = time_grid_s(trace["arrival_s"].to_numpy(dtype=float))
    if grid is not None:
        trace = spread_within_grid(trace, grid, rng_seed)
        notes.append(f"timestamps are on a {grid:g} s grid: each arrival was placed uniformly in its cell "
                     f"before fitting (statistics of windows under {grid:g} s reflect that assumption)")
    t = np.sort(trace["arrival_s"].to_numpy(dtype=float))
    t = t - t[0]
    span = float(t[-1])
    if span <= 0:
        raise ValueError("every request of the trace arrives at the same time; there is no rate to fit")
    step = float(step_s) if step_s is not None else profile_step_s(span)
    if step < min(FANO_WINDOWS_S):
        raise ValueError(f"the profile step ({step:g} s) must be at least {min(FANO_WINDOWS_S):g} s, the shortest "
                         "window whose dispersion is fitted")
    duration = fitted_duration_s(span)
    rates, counts = step_rates(t, duration, step)
    full = counts[:int(duration // step)]
    if full.size < 2:
        notes.append(f"the trace spans less than two {step:g} s steps: the profile is flat")
        rates = np.full(1, t.size / duration)
        full = counts
    fano = {w: index_of_dispersion(t, w, span) for w in FANO_WINDOWS_S}
    pieces = arr.step_rate_pieces(duration, float(rates.mean()), step, rates)
    burst = fit_cluster_burstiness(fano, full, step, pieces, interarrival_cv(t), rng_seed)
    if step < max(FANO_WINDOWS_S):
        notes.append(f"windows longer than the {step:g} s step are not fitted")
    return WorkloadFit(source=source, n_requests=int(t.size), span_s=span, step_s=step,
                       step_rates_per_s=tuple(float(r) for r in rates), mean_rate_per_s=float(rates.mean()),
                       interarrival_cv=interarrival_cv(t), fano=fano, burst=burst,
                       input_tokens=fit_tokens(trace["input_tokens"].to_numpy(), "input_tokens"),
                       output_tokens=fit_tokens(trace["output_tokens"].to_numpy(), "output_tokens"),
                       time_grid_s=grid, notes=notes)
