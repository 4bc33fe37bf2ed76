"""The quality model against RouteLLM: cost and quality curves of threshold routing and of a cascade.

**Calibration** (docs/routing_calibration.md). RouteLLM (Ong et al. 2024, arXiv:2406.18665) reports the
*performance gap recovered*, ``PGR = (q(routed) - q(all cheap)) / (q(all strong) - q(all cheap))``, against
the share of calls sent to the strong model: its best routers recover 50% of the gap with about 13% strong
calls and 80% with about 30%; a random router needs 50% for 50%. With 20% of requests needing the strong
model, equal base errors and the binormal score of :mod:`sim.policies.router` at AUC 0.9, the model gives
12.8% -> 50% and 29.3% -> 80% without any fitting: when the whole gap between the models sits on the
"needs strong" requests, PGR at a share is the router's true-positive rate there, and the binormal ROC at
AUC 0.9 passes through (FPR 3.5%, TPR 50%) and (16.6%, 80%). A base-error gap between the models puts part
of the gap on easy requests, where only volume helps, and pulls every curve towards the random diagonal.

:func:`pgr_curve` draws a population (200,000 requests by default), scores it for each AUC from the same
noise (common random numbers), routes by threshold for each target share and reports PGR, the expected
error rate and, given per-call prices, the cost per request: cost and quality side by side. Quality is
*expected* quality (each request counts ``1 - P(wrong)``), so a weak model's partial credit on hard requests
is counted and no answer draws add noise. :func:`empirical_auc` measures a real router's AUC on labelled
traffic: the number a scenario's router ``auc`` stands for.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from sim.model.quality import DEFAULT_COMPLEXITY_ALPHA, DEFAULT_COMPLEXITY_BETA, QualityModel, QualityParams
from sim.policies.router import Router, router_scores, threshold_for_strong_share

# RouteLLM's published trade-off points (MT Bench, GPT-4 vs Mixtral 8x7B; best router vs random), rounded:
# (router AUC in our model, share of strong-model calls, performance gap recovered).
ROUTELLM_POINTS = ((0.9, 0.13, 0.5), (0.9, 0.30, 0.8), (0.5, 0.50, 0.5))


def call_cost_usd(input_tokens: float, output_tokens: float, input_usd_per_mtok: float,
                  output_usd_per_mtok: float) -> float:
    """The price of one call at list prices per million tokens."""
    return (input_tokens * input_usd_per_mtok + output_tokens * output_usd_per_mtok) / 1e6


# Example prices (provider_catalogue.yaml): Claude Sonnet 4 $3 / $15 and Claude Haiku 3.5 $0.80 / $4 per 1M tokens, for
# a call of 1,500 input and 300 output tokens: $0.0090 and $0.0024.
EXAMPLE_STRONG_CALL_USD = call_cost_usd(1500, 300, 3.0, 15.0)
EXAMPLE_CHEAP_CALL_USD = call_cost_usd(1500, 300, 0.80, 4.0)


def quality_gap_recovered(error_routed, error_all_cheap, error_all_strong):
    """PGR: the share of the quality gap between all-cheap and all-strong that routing recovers."""
    return (np.asarray(error_all_cheap) - error_routed) / (np.asarray(error_all_cheap) - error_all_strong)


def empirical_auc(scores: np.ndarray, needs_strong: np.ndarray) -> float:
    """The AUC of ``scores`` as a ranking of ``needs_strong`` (Mann-Whitney rank formula, ties averaged).

    ``(R_pos - n_pos (n_pos + 1) / 2) / (n_pos n_neg)`` where ``R_pos`` is the sum of the ranks (1 = lowest
    score) of the requests that need the strong model.
    """
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(needs_strong, dtype=bool)
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("empirical_auc: needs both requests that need the strong model and ones that do not")
    rank_sum_pos = float(rankdata(scores)[labels].sum())
    return (rank_sum_pos - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


# ------------------------------------------------------------------------------------ population, curves

@dataclass(frozen=True)
class _Population:
    needs_strong: np.ndarray    # bool, the latent flag
    error_strong: np.ndarray    # P(wrong) of the strong model, per request
    error_cheap: np.ndarray     # P(wrong) of the cheap model, per request
    score_seed: int             # the same score noise for every AUC (common random numbers)


def _population(params: QualityParams, n_requests: int, seed: int, complexity_alpha: float,
                complexity_beta: float) -> _Population:
    complexity_seq, need_seq, score_seq = np.random.SeedSequence(seed).spawn(3)
    complexity = np.random.default_rng(complexity_seq).beta(complexity_alpha, complexity_beta, int(n_requests))
    model = QualityModel(params)
    needs = model.draw_needs_strong(np.random.default_rng(need_seq), complexity)
    return _Population(needs, model.p_wrong_given_need("strong", needs), model.p_wrong_given_need("cheap", needs),
                       int(score_seq.generate_state(1)[0]))


def _scores(population: _Population, auc: float) -> np.ndarray:
    return router_scores(np.random.default_rng(population.score_seed), population.needs_strong, auc)


def pgr_curve(params: QualityParams, auc, shares, *, n_requests: int = 200_000, seed: int = 0,
              complexity_alpha: float = DEFAULT_COMPLEXITY_ALPHA, complexity_beta: float = DEFAULT_COMPLEXITY_BETA,
              strong_call_usd: float | None = None, cheap_call_usd: float | None = None):
    """Threshold routing's trade-off: one row per (auc, target share of strong calls).

    Columns: ``auc``, ``target_strong_share``, ``strong_call_share`` (realised), ``pgr``, ``error_rate``
    (expected share of wrong answers), ``error_rate_all_cheap``, ``error_rate_all_strong``; with both prices,
    also ``cost_per_request_usd`` and ``cost_vs_all_strong``. ``auc`` may be one value or several.
    """
    pop = _population(params, n_requests, seed, complexity_alpha, complexity_beta)
    all_cheap, all_strong = float(pop.error_cheap.mean()), float(pop.error_strong.mean())
    rows = []
    for a in np.atleast_1d(np.asarray(auc, dtype=float)):
        scores = _scores(pop, float(a))
        for share in np.atleast_1d(np.asarray(shares, dtype=float)):
            router = Router("threshold", threshold=threshold_for_strong_share(scores, share), auc=float(a))
            to_strong = router.route_many(scores)
            error = float(np.where(to_strong, pop.error_strong, pop.error_cheap).mean())
            rows.append({"auc": float(a), "target_strong_share": float(share),
                         "strong_call_share": float(to_strong.mean()),
                         "pgr": float(quality_gap_recovered(error, all_cheap, all_strong)),
                         "error_rate": error, "error_rate_all_cheap": all_cheap,
                         "error_rate_all_strong": all_strong})
    frame = pd.DataFrame(rows)
    if strong_call_usd is not None and cheap_call_usd is not None:
        frame["cost_per_request_usd"] = (frame["strong_call_share"] * strong_call_usd
                                         + (1.0 - frame["strong_call_share"]) * cheap_call_usd)
        frame["cost_vs_all_strong"] = frame["cost_per_request_usd"] / strong_call_usd
    return frame


def strong_share_for_pgr(params: QualityParams, auc: float, target_pgr: float, *, n_requests: int = 200_000,
                         seed: int = 0, complexity_alpha: float = DEFAULT_COMPLEXITY_ALPHA,
                         complexity_beta: float = DEFAULT_COMPLEXITY_BETA) -> float:
    """The smallest share of strong calls at which threshold routing recovers ``target_pgr`` of the gap.

    RouteLLM's CPT(x%). Sorting by score once makes every share a prefix: the gain of the top ``k`` requests
    is a cumulative sum, so this is exact for the drawn population.
    """
    pop = _population(params, n_requests, seed, complexity_alpha, complexity_beta)
    order = np.argsort(-_scores(pop, auc), kind="stable")
    gain = np.cumsum((pop.error_cheap - pop.error_strong)[order])
    if gain[-1] <= 0:
        raise ValueError("strong_share_for_pgr: the strong model is not better than the cheap one")
    k = int(np.searchsorted(gain / gain[-1], target_pgr - 1e-12)) + 1
    return min(k, gain.size) / gain.size


@dataclass(frozen=True)
class CascadeOutcome:
    """Per request, what a cascade did: drawn answers, escalations, calls and cost."""

    cheap_wrong: np.ndarray      # bool: the cheap model's answer was wrong
    escalated: np.ndarray        # bool: the check failed it and the strong model was called too
    final_wrong: np.ndarray      # bool: the answer the user got was wrong
    llm_calls: np.ndarray        # int: 1 or 2
    cost_usd: np.ndarray         # float: both calls paid when escalated


def simulate_cascade(rng: np.random.Generator, router: Router, model: QualityModel, needs_strong,
                     cheap_call_usd: float, strong_call_usd: float) -> CascadeOutcome:
    """Run a cascade over requests: cheap answer, confidence check, strong answer when escalated."""
    needs = np.asarray(needs_strong, dtype=bool)
    answer_u = rng.random(needs.shape)          # one per request, shared by both models (nested errors)
    cheap_wrong = model.is_wrong("cheap", needs, answer_u)
    escalated = router.escalate_many(cheap_wrong, rng.random(needs.shape))
    strong_wrong = model.is_wrong("strong", needs, answer_u)
    final_wrong = np.where(escalated, strong_wrong, cheap_wrong)
    llm_calls = 1 + escalated.astype(np.int64)
    cost_usd = cheap_call_usd + escalated * strong_call_usd
    return CascadeOutcome(cheap_wrong, escalated, final_wrong, llm_calls, cost_usd)


def cascade_point(params: QualityParams, cascade_recall: float, cascade_false_escalation: float, *,
                  n_requests: int = 200_000, seed: int = 0, complexity_alpha: float = DEFAULT_COMPLEXITY_ALPHA,
                  complexity_beta: float = DEFAULT_COMPLEXITY_BETA, strong_call_usd: float | None = None,
                  cheap_call_usd: float | None = None) -> dict:
    """A cascade's expected trade-off, errors nested as in :meth:`QualityModel.is_wrong`.

    Per request, with ``e_c >= e_s`` the cheap and strong errors, ``r`` the recall and ``f`` the
    false-escalation rate: ``P(escalate) = e_c r + (1 - e_c) f`` and ``P(wrong) = e_c (1 - r) + e_s r`` (a
    strong answer is wrong only where the cheap one was, and then it was escalated with probability ``r``;
    the code also covers ``e_c < e_s``). So with equal base errors a cascade recovers exactly ``r`` of the
    gap, whatever ``f`` costs.
    """
    pop = _population(params, n_requests, seed, complexity_alpha, complexity_beta)
    e_c, e_s = pop.error_cheap, pop.error_strong
    p_escalate = e_c * cascade_recall + (1.0 - e_c) * cascade_false_escalation
    both_wrong = np.minimum(e_c, e_s)
    only_strong_wrong = np.maximum(e_s - e_c, 0.0)     # zero unless the cheap model is the better one
    error = float((e_c * (1.0 - cascade_recall) + both_wrong * cascade_recall
                   + only_strong_wrong * cascade_false_escalation).mean())
    strong_share = float(p_escalate.mean())
    point = {"cascade_recall": cascade_recall, "cascade_false_escalation": cascade_false_escalation,
             "strong_call_share": strong_share, "llm_calls_per_request": 1.0 + strong_share,
             "error_rate": error, "pgr": float(quality_gap_recovered(error, e_c.mean(), e_s.mean()))}
    if strong_call_usd is not None and cheap_call_usd is not None:
        point["cost_per_request_usd"] = cheap_call_usd + strong_share * strong_call_usd
        point["cost_vs_all_strong"] = point["cost_per_request_usd"] / strong_call_usd
    return point


@dataclass(frozen=True)
class RoutingCalibration:
    """What the routing calibration chart shows: threshold-routing curves and two cascade points."""

    curve: pd.DataFrame         # pgr_curve rows, with costs, for several AUCs
    cascade_points: list[dict]  # cascade_point results
    strong_call_usd: float


def routing_calibration(params: QualityParams | None = None, aucs=(0.5, 0.6, 0.75, 0.9, 0.99), *,
                        n_requests: int = 200_000, strong_call_usd: float = EXAMPLE_STRONG_CALL_USD,
                        cheap_call_usd: float = EXAMPLE_CHEAP_CALL_USD,
                        cascades=((0.8, 0.1), (0.95, 0.05))) -> RoutingCalibration:
    """PGR and cost against the share of strong calls for each AUC, and cascades given (recall, false
    escalation): the data of :func:`sim.report.calibration_charts.routing_calibration_chart`."""
    params = params or QualityParams()
    curve = pgr_curve(params, aucs, np.linspace(0.0, 1.0, 41), n_requests=n_requests,
                      strong_call_usd=strong_call_usd, cheap_call_usd=cheap_call_usd)
    points = [cascade_point(params, recall, false_escalation, n_requests=n_requests,
                            strong_call_usd=strong_call_usd, cheap_call_usd=cheap_call_usd)
              for recall, false_escalation in cascades]
    return RoutingCalibration(curve, points, strong_call_usd)
