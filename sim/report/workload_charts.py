"""The chart of a workload validation: the trace beside its fitted model and a plain Poisson model.

Six panels: requests and tokens per minute over the trace (one draw of each model), the Fano factor of
counts against the window (means over the replications), the inter-arrival times' survival function, and
the input and output token CDFs. It draws what :mod:`sim.calibration.workload_validation` computed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sim.calibration.workload_fit import FANO_WINDOWS_S
from sim.calibration.workload_validation import MINUTE_S, Sample, WorkloadValidation
from sim.report.style import plt, save

#: One style per source, the same in every panel.
SOURCE_STYLES = {"trace": {"color": "black", "lw": 2.0, "label": "trace"},
                 "fitted": {"color": "tab:blue", "lw": 1.6, "label": "fitted model"},
                 "poisson": {"color": "tab:orange", "lw": 1.3, "ls": "--",
                             "label": "Poisson at the same mean rate (and the fitted tokens)"}}


def _per_minute(sample: Sample) -> tuple[np.ndarray, np.ndarray]:
    n = int(sample.duration_s // MINUTE_S)
    minute = (sample.arrival_s // MINUTE_S).astype(np.int64)
    keep = minute < n
    requests = np.bincount(minute[keep], minlength=n)
    tokens = np.bincount(minute[keep], weights=(sample.input_tokens + sample.output_tokens)[keep], minlength=n)
    return requests, tokens


def _survival(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.sort(values[values > 0])
    return x, 1.0 - np.arange(1, x.size + 1) / (x.size + 1)


def workload_validation_chart(validation: WorkloadValidation, path: Path | str, title: str) -> Path:
    """Write the six-panel PNG comparing trace, fitted model and Poisson model to ``path``."""
    fig, axes = plt.subplots(2, 3, figsize=(16, 9.4), layout="constrained")
    (rpm, tpm, fano), (gaps, inp, out) = axes
    for name, sample in validation.samples.items():
        style = SOURCE_STYLES[name]
        requests, tokens = _per_minute(sample)
        minutes = np.arange(requests.size) + 0.5
        rpm.plot(minutes, requests, drawstyle="steps-mid", **style)
        tpm.plot(minutes, tokens / 1e3, drawstyle="steps-mid", **style)
        x, surv = _survival(np.diff(sample.arrival_s))
        gaps.loglog(x, surv, **style)
        if name != "poisson":           # it draws its tokens from the fitted model: the same curves
            for ax, values in ((inp, sample.input_tokens), (out, sample.output_tokens)):
                v = np.sort(np.maximum(values, 1))
                ax.semilogx(v, np.arange(1, v.size + 1) / v.size, drawstyle="steps-post",
                            **{**style, **({"ls": (0, (4, 3))} if name == "fitted" else {})})
        fano.loglog(validation.fano_curve["window_s"], validation.fano_curve[name], marker="o", ms=4, **style)
    for w in FANO_WINDOWS_S:
        fano.axvline(w, color="0.85", lw=0.8, zorder=0)
    fano.axhline(1.0, color="0.6", lw=0.8, ls=":")
    rpm.set(title="Requests per minute (one draw of each model)", xlabel="minutes since the first request",
            ylabel="requests per minute", ylim=(0, None))
    tpm.set(title="Tokens per minute, input + output (one draw)", xlabel="minutes since the first request",
            ylabel="thousand tokens per minute", ylim=(0, None))
    fano.set(title=f"Fano factor of counts, mean of {validation.replications} draws\n"
                   "(grey: the fitted windows; over 100 s few windows, noisy)", xlabel="window (s)",
             ylabel="variance / mean of counts (1 = Poisson)")
    gaps.set(title="Inter-arrival times", xlabel="gap between consecutive requests (s)",
             ylabel="share of gaps longer (survival)")
    inp.set(title="Input tokens per request", xlabel="input tokens (log scale)", ylabel="cumulative share")
    out.set(title="Output tokens per request", xlabel="output tokens (log scale)", ylabel="cumulative share")
    for ax in axes.flat:
        ax.grid(True, which="major", color="0.92")
    handles, labels = rpm.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, frameon=False, fontsize=10)
    fig.suptitle(title, fontsize=12)
    return save(fig, path)
