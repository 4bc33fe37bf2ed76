"""The cost waterfall: a bill, then the bill after each lever, with what someone claimed each lever saves.

Each lever is a pair of floating bars from the bill before it to the bill after it: the simulated one
(green when it saves, red when it costs more) and the
claimed one beside it (hatched grey). A step's whisker is the 95% interval of its *paired* change (the
two bills on the same traffic), a whole bill's the interval of the bill itself. The first and last columns
are whole bills. Every simulated step is labelled with its change in dollars and as a share of the previous
bill, the claim with its share.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sim.report.style import DPI, SLIDE_FONT_PT, SLIDE_IN, UsdFormatter, plt, save

SAVES, COSTS, CLAIM, TOTAL = "#2ca02c", "#d62728", "0.62", "#1f77b4"


def _usd(value: float) -> str:
    return f"${value:,.0f}"


def _share(value: float) -> str:
    """A share with the decimals it needs to differ from 0 (a paired interval may be 0.02%)."""
    return f"{value:.2%}" if 0 < value < 0.001 else f"{value:.1%}"


def cost_waterfall_chart(table: pd.DataFrame, path, title: str, lesson_final_usd: float | None = None,
                         labels: dict[str, str] | None = None) -> Path:
    """``table``: one row per step (the baseline first) with ``cost_per_month_usd`` (+ ``_ci95``),
    ``saved_usd``, ``saved_share`` (+ ``_ci95``), ``lesson_saved_share`` and ``lesson_cost_per_month_usd``;
    PNG and SVG. ``lesson_final_usd``: the final bill the lesson states, drawn as a dashed line."""
    labels = labels or {}
    bills = table["cost_per_month_usd"].to_numpy(float)
    bills_ci = np.nan_to_num(table["cost_per_month_usd_ci95"].to_numpy(float))
    steps_ci = np.nan_to_num(table["saved_usd_ci95"].to_numpy(float))
    claimed = table["lesson_cost_per_month_usd"].to_numpy(float)
    n = len(table)
    fig, ax = plt.subplots(figsize=SLIDE_IN, dpi=DPI, layout="constrained")
    width, gap = 0.36, 0.02
    sim_x, claim_x = np.arange(n + 1) - (width + gap) / 2, np.arange(n + 1) + (width + gap) / 2
    top = max(bills.max() + bills_ci.max(), claimed.max())

    def whole(x, value, colour, hatch=None, ci=0.0):
        ax.bar(x, value, width, color=colour, hatch=hatch, edgecolor="white" if hatch is None else "0.35",
               linewidth=0.6)
        if ci > 0:
            ax.errorbar(x, value, yerr=ci, fmt="none", ecolor="0.15", capsize=4, lw=1.2)
        ax.text(x, value + ci + top * 0.012, _usd(value), ha="center", va="bottom", fontsize=SLIDE_FONT_PT - 1)

    whole(sim_x[0], bills[0], TOTAL, ci=bills_ci[0])
    whole(claim_x[0], claimed[0], CLAIM, hatch="//")
    for k in range(1, n):
        before, after = bills[k - 1], bills[k]
        ax.bar(sim_x[k], after - before, width, bottom=before, color=SAVES if after <= before else COSTS,
               edgecolor="white", linewidth=0.6)
        if steps_ci[k] > 0:
            ax.errorbar(sim_x[k], after, yerr=steps_ci[k], fmt="none", ecolor="0.15", capsize=4, lw=1.2)
        ax.plot([sim_x[k - 1] + width / 2, sim_x[k] - width / 2], [before, before], color="0.3", lw=0.8, ls=":")
        row = table.iloc[k]
        text = (f"{'-' if row.saved_usd >= 0 else '+'}{_usd(abs(row.saved_usd))}\n"
                f"{-row.saved_share:+.1%}" + ("" if pd.isna(row.saved_share_ci95) else f"\n± {_share(row.saved_share_ci95)}"))
        ax.text(sim_x[k], max(before, after + steps_ci[k]) + top * 0.012, text, ha="center", va="bottom",
                fontsize=SLIDE_FONT_PT - 1, color="0.1")
        c_before, c_after = claimed[k - 1], claimed[k]
        ax.bar(claim_x[k], c_after - c_before, width, bottom=c_before, color=CLAIM, hatch="//", edgecolor="0.35",
               linewidth=0.6)
        ax.text(claim_x[k], c_before + top * 0.012, f"claim\n{-row.lesson_saved_share:+.0%}", ha="center",
                va="bottom", fontsize=SLIDE_FONT_PT - 1, color="0.35")
    whole(sim_x[n], bills[-1], TOTAL, ci=bills_ci[-1])
    whole(claim_x[n], claimed[-1], CLAIM, hatch="//")
    if lesson_final_usd is not None:
        ax.hlines(lesson_final_usd, claim_x[n] - width / 2, claim_x[n] + width * 1.2, colors="#9467bd", linestyles="--",
                  lw=2)
        ax.text(claim_x[n] + width * 1.25, lesson_final_usd, f"lesson's stated\nfinal {_usd(lesson_final_usd)}",
                va="center", ha="left", fontsize=SLIDE_FONT_PT - 1, color="#9467bd")
    names = [labels.get(s, s.replace("_", " ")) for s in table["step"]]
    ticks = [names[0]] + [f"+ {s}" for s in names[1:]]
    if "quality_failure_rate" in table:        # what each step does to the answers, under its name
        ticks = [f"{t}\n{q:.2%} wrong" for t, q in zip(ticks, table["quality_failure_rate"])]
    ax.set_xticks(np.arange(n + 1), ticks + ["final bill"], fontsize=SLIDE_FONT_PT)
    ax.set_xlim(-0.6, n + 1.05)
    ax.set_ylim(0, top * 1.16)
    ax.yaxis.set_major_formatter(UsdFormatter())
    ax.tick_params(labelsize=SLIDE_FONT_PT)
    ax.set_ylabel("cost per month (USD, 30 days)", fontsize=12)
    if "quality_failure_rate" in table:
        ax.set_xlabel("under each step: share of answers wrong (model errors, stale or false cache hits, misrouted "
                      "hard requests)", fontsize=SLIDE_FONT_PT - 1, color="0.3")
    ax.grid(axis="y", alpha=0.3)
    from matplotlib.patches import Patch
    from matplotlib.lines import Line2D
    handles = [Patch(color=TOTAL, label="simulated bill (mean; whisker: 95% CI)"),
               Patch(color=SAVES, label="simulated lever: saves (whisker: paired 95% CI of the step)"), Patch(color=COSTS, label="simulated lever: costs more"),
               Patch(facecolor=CLAIM, hatch="//", edgecolor="0.35", label="lesson's claim, composed from $45K"),
               Line2D([], [], color="#9467bd", ls="--", lw=2, label="lesson's stated final bill")]
    ax.legend(handles=handles, loc="upper right", frameon=True, framealpha=0.95, fontsize=SLIDE_FONT_PT - 1)
    ax.set_title(title, loc="left", fontsize=14)
    return save(fig, path, formats=("png", "svg"))
