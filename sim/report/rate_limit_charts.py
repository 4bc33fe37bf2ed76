"""The rate-limit enforcement chart: how much of a nominal limit gets through, by how it is enforced.

One column per ``requested_max_tokens`` setting (what a call reserves at admission); on top, the tokens per
minute the key admitted against those offered, both as shares of the TPM limit, one line per enforcement
period, with the limit and the diagonal (everything admitted) for reference; below, the share of calls
answered 429 against the same offered load.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.report.style import DESIGN_COLOURS, percent_formatter, plt, save


def _period_label(period_s) -> str:
    period_s = float(period_s)
    return "whole minute (60 s bucket)" if period_s == 60 else f"{period_s:g} s bucket"


def _reservation_label(max_output) -> str:
    if max_output in (None, "none") or pd.isna(max_output):
        return "output counted as produced"
    return f"max_tokens {int(float(max_output)):,} reserved, settled at the end"


def enforcement_chart(table: pd.DataFrame, path, *, period: str, max_output: str, title: str) -> Path:
    settings = list(dict.fromkeys(table[max_output]))
    periods = sorted(dict.fromkeys(table[period]), key=float, reverse=True)
    fig, axes = plt.subplots(2, len(settings), figsize=(4.6 * len(settings), 7.4), sharex=True,
                             squeeze=False, constrained_layout=True)
    top = max(1.05, float(table["offered_share"].max()) * 1.05)
    for col, setting in enumerate(settings):
        rows = table[table[max_output] == setting]
        tput, refused = axes[0, col], axes[1, col]
        tput.plot([0, top], [0, top], color="0.75", lw=1, ls=":", label="everything offered admitted")
        tput.axhline(1.0, color="0.4", lw=1, ls="--", label="the nominal TPM limit")
        for i, p in enumerate(periods):
            line = rows[rows[period] == p].sort_values("offered_share")
            style = dict(color=DESIGN_COLOURS[i], marker="o", ms=4, capsize=3, label=_period_label(p))
            tput.errorbar(line.offered_share, line.admitted_share, yerr=line.get("admitted_share_ci95"), **style)
            refused.errorbar(line.offered_share, line.rate_limited_share, yerr=line.get("rate_limited_share_ci95"),
                             **style)
        tput.set_title(_reservation_label(setting), fontsize=10)
        tput.set_ylim(0, 1.25)
        tput.set_xlim(0, top)
        refused.set_ylim(0, 1)
        refused.set_xlabel("offered tokens per minute, share of the TPM limit")
        for ax in (tput, refused):
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_formatter(percent_formatter())
            ax.yaxis.set_major_formatter(percent_formatter())
    axes[0, 0].set_ylabel("admitted tokens per minute,\nshare of the TPM limit")
    axes[1, 0].set_ylabel("share of calls answered 429")
    axes[0, 0].legend(loc="lower right", fontsize=8.5, framealpha=0.9)   # clear of the lines (all above 25%)
    fig.suptitle(title, fontsize=11)
    return save(fig, path)
