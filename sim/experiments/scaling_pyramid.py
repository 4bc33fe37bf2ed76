"""The scaling pyramid: a cost waterfall of four levers added one at a time, against what a lesson claims.

The course lesson this simulator accompanies says four levers take a $45K/month bill to $12K: queue
smoothing (-5%), prompt compression (-20%), a semantic cache at 42% hits (-42%) and model routing (-25% of
the remainder). Each cut applies to what the previous ones left, so the claims compose multiplicatively:
45 x 0.95 x 0.80 x 0.58 x 0.75 = $14.9K. The $12K is not what the lesson's own percentages give.

A waterfall is a staircase of bills: the baseline, then the bill after each lever is added to the ones
before it (the scenario's variants, in order, each holding the previous variant's overrides plus its own).
Every bill is a month extrapolated from the measured day's cost per request; every step is the *paired*
difference of two consecutive variants in one replication (the same traffic, the same draws), so its
interval is that of the lever, not of the traffic. The steps add up to baseline - final by construction,
replication by replication, hence in the means too.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd

from sim.experiments.sweep import ci_halfwidth


class LessonClaim(NamedTuple):
    """One lever as the lesson states it: the share of the bill left by the previous levers that it saves."""
    lever: str
    saved_share: float


LESSON_BASELINE_USD = 45_000.0
LESSON_FINAL_USD = 12_000.0
LESSON_CLAIMS = (LessonClaim("queue_smoothing", 0.05), LessonClaim("prompt_compression", 0.20),
                 LessonClaim("semantic_cache", 0.42), LessonClaim("model_routing", 0.25))

#: Quality and service metrics shown beside every step: a cost lever that hurts quality must be visible.
SIDE_EFFECTS = ("availability", "quality_failure_rate", "hallucination_rate", "false_hit_rate", "stale_rate",
                "cache_hit_rate", "strong_call_share", "latency_p95_s", "requests_shed", "requests_failed",
                "requests_rate_limited", "requests_timeout")


def compose_claims(baseline_usd: float, claims=LESSON_CLAIMS) -> list[float]:
    """The bill after each claimed cut, each applied to what the previous ones left (baseline first)."""
    bills = [float(baseline_usd)]
    for claim in claims:
        bills.append(bills[-1] * (1.0 - claim.saved_share))
    return bills


def monthly_bills(runs: pd.DataFrame, steps: list[str], requests_per_month: float) -> pd.DataFrame:
    """Replications x steps: each run's cost per request x the month's requests."""
    table = runs.pivot(index="replication", columns="variant", values="cost_per_request_usd")
    missing = [s for s in steps if s not in table.columns]
    if missing:
        raise ValueError(f"runs lack the steps {missing}")
    return table[steps].astype(float) * float(requests_per_month)


def _mean_ci(values) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    return (float(values.mean()) if len(values) else math.nan), ci_halfwidth(values)


def waterfall(runs: pd.DataFrame, steps: list[str], requests_per_month: float,
              claims=LESSON_CLAIMS) -> pd.DataFrame:
    """One row per step (the baseline first): the monthly bill, the step's saving in USD and as a share of the
    previous bill (mean and paired 95% half-width over replications), the lesson's claimed share and bill
    (composed from the simulated baseline and from the lesson's $45K), and the side effects' means."""
    bills = monthly_bills(runs, steps, requests_per_month)
    claimed = {c.lever: c.saved_share for c in claims}
    from_sim = compose_claims(bills[steps[0]].mean(), [LessonClaim(s, claimed.get(s, 0.0)) for s in steps[1:]])
    from_lesson = compose_claims(LESSON_BASELINE_USD, [LessonClaim(s, claimed.get(s, 0.0)) for s in steps[1:]])
    rows = []
    for k, step in enumerate(steps):
        row = {"step": step, "replications": len(bills)}
        row["cost_per_month_usd"], row["cost_per_month_usd_ci95"] = _mean_ci(bills[step])
        if k == 0:
            row.update(saved_usd=math.nan, saved_usd_ci95=math.nan, saved_share=math.nan, saved_share_ci95=math.nan)
        else:
            before = bills[steps[k - 1]]
            row["saved_usd"], row["saved_usd_ci95"] = _mean_ci(before - bills[step])
            row["saved_share"], row["saved_share_ci95"] = _mean_ci(1.0 - bills[step] / before)
        row["lesson_saved_share"] = claimed.get(step, math.nan) if k else math.nan
        row["lesson_cost_per_month_usd"] = from_lesson[k]
        row["lesson_cost_from_simulated_baseline_usd"] = from_sim[k]
        by_variant = runs[runs["variant"] == step]
        for metric in SIDE_EFFECTS:
            if metric in by_variant:
                row[metric], row[f"{metric}_ci95"] = _mean_ci(by_variant[metric].dropna())
        rows.append(row)
    return pd.DataFrame(rows)


class Verdict(NamedTuple):
    """The three finals side by side: the lesson's stated one, its claims composed, and the simulation's."""
    baseline_usd: float
    final_usd: float
    final_usd_ci95: float
    saved_share: float
    saved_share_ci95: float
    lesson_final_usd: float
    lesson_composed_usd: float


def verdict(runs: pd.DataFrame, steps: list[str], requests_per_month: float) -> Verdict:
    bills = monthly_bills(runs, steps, requests_per_month)
    final, final_ci = _mean_ci(bills[steps[-1]])
    saved, saved_ci = _mean_ci(1.0 - bills[steps[-1]] / bills[steps[0]])
    return Verdict(float(bills[steps[0]].mean()), final, final_ci, saved, saved_ci, LESSON_FINAL_USD,
                   compose_claims(LESSON_BASELINE_USD)[-1])


def usd_k(value: float) -> str:
    return f"${value / 1000:,.1f}K"


def plus_minus(half_width: float, fmt) -> str:
    """`` ± x`` with ``fmt`` (a function of the half-width), or nothing for one replication (no interval)."""
    return "" if pd.isna(half_width) else f" ± {fmt(half_width)}"


def verdict_text(v: Verdict) -> str:
    """The discrepancy in plain words."""
    lesson_share = 1 - v.lesson_final_usd / LESSON_BASELINE_USD
    composed_share = 1 - v.lesson_composed_usd / LESSON_BASELINE_USD
    return (f"The lesson says {usd_k(LESSON_BASELINE_USD)} -> {usd_k(v.lesson_final_usd)} "
            f"(-{lesson_share:.0%}); its own four percentages composed give {usd_k(v.lesson_composed_usd)} "
            f"(-{composed_share:.0%}). The simulation, baseline {usd_k(v.baseline_usd)}, ends at "
            f"{usd_k(v.final_usd)}{plus_minus(v.final_usd_ci95, usd_k)} "
            f"(-{v.saved_share:.1%}{plus_minus(v.saved_share_ci95, '{:.1%}'.format)})."
            + ("" if not pd.isna(v.final_usd_ci95) else " One replication: no intervals."))


def _side_effects(row: pd.Series) -> str:
    shown = [("wrong answers", "quality_failure_rate", "{:.2%}"), ("cache hits", "cache_hit_rate", "{:.1%}"),
             ("false hits", "false_hit_rate", "{:.3%}"), ("stale", "stale_rate", "{:.2%}"),
             ("to the strong model", "strong_call_share", "{:.0%}"), ("availability", "availability", "{:.2%}"),
             ("p95", "latency_p95_s", "{:.1f} s")]
    return ", ".join(f"{label} {fmt.format(row[m])}" for label, m, fmt in shown
                     if m in row and not pd.isna(row[m]))


def step_lines(table: pd.DataFrame) -> list[str]:
    """One line per step: what it saved against what the lesson claims, and what quality and service did."""
    first = table.iloc[0]
    lines = [f"{first.step:<19} {usd_k(first.cost_per_month_usd)}"
             f"{plus_minus(first.cost_per_month_usd_ci95, usd_k)} a month; {_side_effects(first)}"]
    for _, r in table.iloc[1:].iterrows():
        verb = "saves" if r.saved_usd >= 0 else "adds"
        lines.append(
            f"{r.step:<19} {verb} ${abs(r.saved_usd):,.0f}{plus_minus(r.saved_usd_ci95, '{:,.0f}'.format)} a month "
            f"({abs(r.saved_share):.1%}{plus_minus(r.saved_share_ci95, '{:.1%}'.format)} of the bill before it; "
            f"the lesson claims it "
            f"saves {r.lesson_saved_share:.0%}) -> {usd_k(r.cost_per_month_usd)}; {_side_effects(r)}")
    return lines


MECHANISMS = """How each lever acts on the bill in the simulator:
- queue smoothing changes no price and no token. A 429 is not billed and retrying it costs nothing, so
  holding requests until the key's limits have room saves money only where a request failed after paid
  calls. What it does is answer, by waiting, requests that would have failed at the peak -- and those are
  then billed: the bill rises by about the share of requests it rescues (a little more where per-second
  buckets refuse the large calls first). Its benefit is availability, not cost.
- prompt compression removes input tokens only: keeping a share r of them saves (1 - r) x the input
  tokens' share of the bill (about half at Sonnet 4's 1:5 price ratio and these token counts).
- the semantic cache saves a whole call per hit (the embedding of every query costs ~0.2% of a call),
  so its saving is about its hit rate; its price is stale and wrong answers served from the cache.
- routing sends the easy requests to Claude Haiku 3.5 (about a quarter of Sonnet 4's price): its saving
  is about (1 - strong share) x 73%, paid for in wrong answers on the hard requests it misroutes."""
