"""Measurements of simulated output that the validation tests compare with closed forms.

They measure what a run produced (the peak-to-average ratio of its arrivals); nothing in the simulator needs
them, so they live beside the tests rather than in the runtime modules.
"""
import numpy as np


def measured_peak_to_average(arrival_times_s, bin_s: float = 3600.0, duration_s: float | None = None) -> float:
    """Peak bin count divided by mean bin count (``bin_s`` bins, hourly by default).

    If ``duration_s`` is given, only the ``floor(duration_s / bin_s)`` complete
    bins starting at 0 are used. Pass a whole number of bins to avoid dropping
    data. If it is None, the bins run up to the one holding the last arrival, and
    a partial last bin counts as full (slightly raising the ratio). For a
    multi-day NHPP from :func:`diurnal_hourly_weights` this estimates
    ``peak_to_average``, with a small upward bias: the maximum of several noisy
    peak-hour counts.
    """
    t = np.asarray(arrival_times_s, dtype=float)
    if not (np.isfinite(bin_s) and bin_s > 0):
        raise ValueError(f"bin_s must be > 0, got {bin_s!r}")
    if t.size == 0:
        raise ValueError("measured_peak_to_average: no arrivals")
    if duration_s is None:
        n_bins = int(np.floor(t.max() / bin_s)) + 1
    else:
        n_bins = int(np.floor(float(duration_s) / bin_s + 1e-9))
        if n_bins < 1:
            raise ValueError(f"duration_s={duration_s} is shorter than one bin of {bin_s} s")
    b = np.floor(t / bin_s).astype(np.int64)
    b = b[(b >= 0) & (b < n_bins)]
    counts = np.bincount(b, minlength=n_bins)
    mean = counts.mean()
    if mean == 0:
        raise ValueError("measured_peak_to_average: no arrivals inside the bins")
    return float(counts.max() / mean)
