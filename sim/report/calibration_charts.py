"""Charts of the offline calibrations: the similarity model against real MiniLM pairs, routing against RouteLLM.

They draw what :mod:`sim.calibration` computed and compute nothing themselves; each writes one PNG to a
temporary name and renames it, so an interrupted call leaves no half-written file.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sim.calibration.routing import ROUTELLM_POINTS, RoutingCalibration

_PAIR_COLOURS = {"paraphrase": "tab:green", "sibling": "tab:orange", "unrelated": "tab:grey"}
_REAL_STYLES = {"paraphrase": ("tab:green", "real paraphrases, label>=4"),
                "non_paraphrase": ("tab:orange", "real non-paraphrases, label<=1"),
                "partly_equivalent": ("tab:red", "real partly equivalent, label 2-3"),
                "random": ("tab:grey", "real random pairs")}


def _new_figure(size_in: tuple[float, float]) -> Figure:
    fig = Figure(figsize=size_in)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path | str, dpi: int | None = None) -> Path:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp" + path.suffix)
    fig.savefig(tmp, dpi=dpi)
    os.replace(tmp, path)
    return path


def similarity_calibration_chart(path: Path | str, simulated: dict[str, np.ndarray],
                                 real: dict[str, np.ndarray]) -> Path:
    """Overlay the model's pair cosines (``pair_cosine_groups``) on the real MiniLM ones
    (``real_pair_groups``); write a PNG to ``path``."""
    bins, coarse = np.linspace(-0.4, 1.0, 57), np.linspace(-0.4, 1.0, 29)   # real groups are small
    fig = _new_figure((9, 4.8))
    ax = fig.subplots()
    for name, values in simulated.items():
        ax.hist(values, bins=bins, density=True, histtype="step", lw=2, color=_PAIR_COLOURS[name],
                label=f"model {name} (median {np.median(values):.2f})")
    for name, (colour, text) in _REAL_STYLES.items():
        values = real[name]
        ax.hist(values, bins=coarse, density=True, alpha=0.25, color=colour,
                label=f"{text} (n={len(values)}, median {np.median(values):.2f})")
    for t in (0.8, 0.9, 0.95):
        ax.axvline(t, color="k", ls=":", lw=1)
    ax.set_xlabel("cosine similarity")
    ax.set_ylabel("density")
    ax.set_title("Pair similarities: similarity model (lines) vs all-MiniLM-L6-v2 on SemEval-2016 STS (shaded)")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return _save(fig, path, dpi=110)


def routing_calibration_chart(path: Path | str, calibration: RoutingCalibration) -> Path:
    """PGR against the share of strong calls (RouteLLM's points marked) and cost against the error rate."""
    fig = _new_figure((11, 4.5))
    left, right = fig.subplots(1, 2)
    for auc, rows in calibration.curve.groupby("auc"):
        left.plot(100 * rows["strong_call_share"], 100 * rows["pgr"], label=f"AUC {auc:g}")
        right.plot(100 * rows["error_rate"], 1000 * rows["cost_per_request_usd"], label=f"threshold, AUC {auc:g}")
    for i, (auc, share, pgr) in enumerate(ROUTELLM_POINTS):
        left.plot(100 * share, 100 * pgr, "k*" if auc > 0.5 else "kx", markersize=11,
                  label="RouteLLM best router" if i == 0 else ("RouteLLM random" if auc == 0.5 else None))
    left.set(xlabel="strong-model calls (%)", ylabel="quality gap recovered, PGR (%)", xlim=(0, 100),
             ylim=(0, 102), title="Threshold routing, 20% of requests need the strong model")
    left.legend(loc="lower right", fontsize=8)
    for point in calibration.cascade_points:
        right.plot(100 * point["error_rate"], 1000 * point["cost_per_request_usd"], "o",
                   label=f"cascade, recall {point['cascade_recall']:g}, "
                         f"false esc. {point['cascade_false_escalation']:g}")
    right.axhline(0.75 * 1000 * calibration.strong_call_usd, color="grey", linestyle=":",
                  label="25% below all-strong")
    right.set(xlabel="wrong answers (%)", ylabel="cost per 1,000 requests (USD)",
              title="Cost and quality together (Sonnet 4 / Haiku 3.5)")
    right.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)
