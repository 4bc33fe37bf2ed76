"""Does the fitted latency model describe the log? Latency against output tokens, one panel per model.

Each panel shows the answered calls as points (a seeded sample of at most 4,000), the fitted median
``(ttft_s + n / tokens_per_s) x exp(-sigma^2 / 2)`` with its 5%-95% band, and the client timeout as a dashed
line with the timed-out calls on it (censored: their latency was at least that). Both axes are logarithmic, so
the lognormal noise is a band of constant width: points that leave it more often than one in ten, or bend
away from the line, say the model does not fit the log.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from sim.errors import ScenarioError
from sim.report.style import DPI, plt, ticker

CHART_SOFTWARE = "llm-traffic-sim fit-provider"
"""The PNG's Software tag: an existing chart is replaced only if it carries it."""
MAX_POINTS = 4000
Z90 = 1.6448536269514722


def _panel(ax, fit, rows: pd.DataFrame, rng: np.random.Generator) -> None:
    lat = fit.latency
    ok = rows[(rows["status"] == "ok") & (rows["latency_s"] > 0) & (rows["output_tokens"] > 0)]
    cut = rows[(rows["status"] == "timeout") & (rows["latency_s"] > 0) & (rows["output_tokens"] > 0)]
    if not len(ok):
        ax.set_visible(False)
        return
    for frame, style in ((ok, dict(s=6, alpha=0.25, color="#1f77b4", label=f"answered calls ({len(ok):,})")),
                         (cut, dict(s=10, marker="x", alpha=0.35, color="#d62728",
                                    label=f"timed out, latency at least this ({len(cut):,}; under the "
                                          "timeout: a request deadline)"))):
        if len(frame) > MAX_POINTS:
            frame = frame.iloc[np.sort(rng.choice(len(frame), MAX_POINTS, replace=False))]
        if len(frame):
            ax.scatter(frame["output_tokens"], frame["latency_s"], **style)
    tokens = pd.concat([ok["output_tokens"], cut["output_tokens"]]).to_numpy(float)
    low, high = np.percentile(tokens, [0.5, 99.5])
    n = np.geomspace(max(low, 1.0), max(high, 2.0), 200)
    sigma = lat.sigma.value
    median = (lat.ttft_s.value + n / lat.tokens_per_s.value) * math.exp(-sigma ** 2 / 2)
    ax.plot(n, median, color="k", lw=2, label=f"fitted median: ttft {lat.ttft_s.value:.3g} s, "
                                              f"{lat.tokens_per_s.value:.3g} tokens/s")
    ax.fill_between(n, median * math.exp(-Z90 * sigma), median * math.exp(Z90 * sigma), color="k", alpha=0.12,
                    label=f"fitted 5%-95% (sigma {sigma:.3g})")
    if fit.timeout_s is not None:
        ax.axhline(fit.timeout_s, color="#d62728", ls="--", lw=1, label=f"client timeout {fit.timeout_s:.3g} s")
    latency_low, latency_high = np.percentile(ok["latency_s"], [0.5, 99.5])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(n[0], n[-1])
    ax.set_ylim(0.7 * latency_low, 1.5 * max(latency_high, fit.timeout_s or 0.0))
    ax.set_xlabel("output tokens (log scale)")
    ax.set_ylabel("call latency, s (log scale)")
    plain = ticker.FuncFormatter(lambda v, _pos: f"{v:g}")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(ticker.FuncFormatter(lambda v, _pos: f"{v:g}" if f"{v:g}"[0] in "25" else ""))
    ax.tick_params(which="minor", labelsize=7)
    ax.set_title(f"{fit.label}: latency by {lat.method.replace('_', ' ')}", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)


def provider_fit_chart(path: str | Path, fit, log: pd.DataFrame) -> Path:
    """Write the chart of a :class:`sim.calibration.provider_fit.ProviderFit` over its normalised ``log`` to
    ``path`` (PNG), atomically; an existing file is replaced only if this command drew it."""
    path = Path(path)
    check_replaceable_chart(path)
    columns = min(len(fit.models), 2)
    rows_n = math.ceil(len(fit.models) / columns)
    fig, axes = plt.subplots(rows_n, columns, figsize=(7.5 * columns, 6.0 * rows_n), squeeze=False)
    rng = np.random.default_rng(0)
    try:
        for ax, model in zip(axes.flat, fit.models):
            rows = log[(log["provider"] == model.provider) & (log["model"] == model.model)]
            _panel(ax, model, rows, rng)
        for ax in list(axes.flat)[len(fit.models):]:
            ax.set_visible(False)
        fig.suptitle("Call latency against output tokens, and the fitted latency model", fontsize=11)
        fig.tight_layout()
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.png")
        try:
            fig.savefig(tmp, dpi=DPI, facecolor="white", metadata={"Software": CHART_SOFTWARE})
            os.replace(tmp, path)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise ScenarioError(f"--chart {path}: cannot write there: {err.strerror or err}") from None
    finally:
        plt.close(fig)
    return path


def check_replaceable_chart(path: Path) -> None:
    """ScenarioError unless ``path`` is a new ``.png`` or a chart this command drew."""
    if path.suffix.lower() != ".png":
        raise ScenarioError(f"--chart {path}: name a .png file")
    if path.is_dir():
        raise ScenarioError(f"--chart {path}: is a folder; name a .png file")
    if path.exists():
        from PIL import Image
        try:
            with Image.open(path) as image:
                software = image.info.get("Software")
        except Exception:               # not an image at all: certainly not ours
            software = None
        if software != CHART_SOFTWARE:
            raise ScenarioError(f"--chart {path}: the file exists and was not drawn by fit-provider; it is kept: "
                                "choose another name")
