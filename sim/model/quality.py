"""Answer quality by model and request: a weak model on a hard request gets it wrong more often.

The picture: a clinic with a consultant and a junior doctor. Most cases are routine and both get them right
about equally often. Some cases -- the hardest fifth, say -- are beyond the junior: he still gets some of
them right, but far less often than the consultant. Whether a patient is such a case is a fact about the
patient, not about who sees him.

Here every request has a latent flag, **needs the strong model**, derived from its ``complexity`` (a Beta
draw in [0, 1], see :mod:`sim.model.workload`):

* deterministic (``needs_strong_width = 0``, the default): a request needs the strong model when its
  complexity is at least ``needs_strong_complexity``. The default, 0.4224, is the 80th percentile of the
  workload's default Beta(2, 5), so the hardest 20% of requests need it;
* probabilistic (``needs_strong_width > 0``): ``P(needs strong | c) = 1 / (1 + exp(-(c - c0) / width))``,
  so an easy-looking request is sometimes hard and vice versa. :meth:`QualityParams.for_share` places ``c0``
  so that a given share of a Beta(alpha, beta) workload needs the strong model either way.

A model has a **strength** ``s`` in [0, 1] (the tiers ``"strong"`` = 1 and ``"cheap"`` = 0, or anything
between) and answers a request wrongly with probability

    P(wrong | s, request) = base(s) + (1 - s) * hard_extra_error * needs_strong,
    base(s) = cheap_error + s * (strong_error - cheap_error)

clipped to [0, 1]. ``base`` can be overridden per model with its own ``hallucination_prob``. The strong
model's error does not depend on the flag; the cheap model's rises by ``hard_extra_error`` on requests that
need the strong one. :meth:`QualityModel.p_wrong` averages over the flag given the complexity (a step or a
logistic curve in complexity, rising for any model weaker than 1).

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
is counted and no answer draws add noise.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from scipy.optimize import brentq
from scipy.special import betainc, betaincinv, expit

from sim.policies.router import STRONG, TIERS, Router, router_scores, threshold_for_strong_share

DEFAULT_COMPLEXITY_ALPHA = 2.0      # the workload's default complexity ~ Beta(2, 5)
DEFAULT_COMPLEXITY_BETA = 5.0
DEFAULT_NEEDS_STRONG_SHARE = 0.2
_DEFAULT_NEEDS_STRONG_COMPLEXITY = float(betaincinv(DEFAULT_COMPLEXITY_ALPHA, DEFAULT_COMPLEXITY_BETA,
                                                    1.0 - DEFAULT_NEEDS_STRONG_SHARE))   # 0.4224

# RouteLLM's published trade-off points (MT Bench, GPT-4 vs Mixtral 8x7B; best router vs random), rounded:
# (router AUC in our model, share of strong-model calls, performance gap recovered).
ROUTELLM_POINTS = ((0.9, 0.13, 0.5), (0.9, 0.30, 0.8), (0.5, 0.50, 0.5))


def call_cost_usd(input_tokens: float, output_tokens: float, input_usd_per_mtok: float,
                  output_usd_per_mtok: float) -> float:
    """The price of one call at list prices per million tokens."""
    return (input_tokens * input_usd_per_mtok + output_tokens * output_usd_per_mtok) / 1e6


# Example prices (catalogue.yaml): Claude Sonnet 4 $3 / $15 and Claude Haiku 3.5 $0.80 / $4 per 1M tokens, for
# a call of 1,500 input and 300 output tokens: $0.0090 and $0.0024.
EXAMPLE_STRONG_CALL_USD = call_cost_usd(1500, 300, 3.0, 15.0)
EXAMPLE_CHEAP_CALL_USD = call_cost_usd(1500, 300, 0.80, 4.0)


@dataclass(frozen=True)
class QualityParams:
    """How often each model is wrong, and which requests need the strong model."""

    needs_strong_complexity: float = _DEFAULT_NEEDS_STRONG_COMPLEXITY
    """Complexity at which a request needs the strong model (the logistic midpoint when probabilistic)."""
    needs_strong_width: float = 0.0
    """0: deterministic step at ``needs_strong_complexity``; > 0: logistic width, in complexity units."""
    strong_error: float = 0.02
    """P(wrong) of the strong model (strength 1) on any request."""
    cheap_error: float = 0.02
    """P(wrong) of the cheap model (strength 0) on a request that does not need the strong model. Equal to
    ``strong_error`` by default: the calibration needs the gap between the models on the hard requests."""
    hard_extra_error: float = 0.30
    """Extra P(wrong) of the cheap model on a request that needs the strong model (scaled by 1 - strength).
    PGR does not depend on it while the base errors are equal; it sets the absolute error rates."""

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise ValueError(f"{f.name}: must be a finite number, got {value!r}")
            if f.name != "needs_strong_width" and not 0.0 <= value <= 1.0:
                raise ValueError(f"{f.name}: must be in [0, 1], got {value!r}")
        if self.needs_strong_width < 0:
            raise ValueError(f"needs_strong_width: must be >= 0, got {self.needs_strong_width!r}")

    @classmethod
    def for_share(cls, share: float, complexity_alpha: float = DEFAULT_COMPLEXITY_ALPHA,
                  complexity_beta: float = DEFAULT_COMPLEXITY_BETA, **overrides) -> "QualityParams":
        """Parameters under which ``share`` of a Beta(alpha, beta) workload needs the strong model."""
        if not 0.0 < share < 1.0:
            raise ValueError(f"share: must be in (0, 1), got {share!r}")
        width = float(overrides.get("needs_strong_width", 0.0))
        if width == 0.0:
            c0 = float(betaincinv(complexity_alpha, complexity_beta, 1.0 - share))
        else:
            def excess(c0):
                return needs_strong_share(cls(needs_strong_complexity=0.5, needs_strong_width=width),
                                          complexity_alpha, complexity_beta, midpoint=c0) - share
            c0 = brentq(excess, -5.0, 6.0)
            if not 0.0 <= c0 <= 1.0:
                raise ValueError(f"for_share: share {share} needs a logistic midpoint {c0:.3f} outside [0, 1]; "
                                 f"use a smaller needs_strong_width")
        return cls(needs_strong_complexity=c0, **overrides)


def needs_strong_share(params: QualityParams, complexity_alpha: float = DEFAULT_COMPLEXITY_ALPHA,
                       complexity_beta: float = DEFAULT_COMPLEXITY_BETA, midpoint: float | None = None) -> float:
    """The expected share of a Beta(alpha, beta) workload that needs the strong model."""
    c0 = params.needs_strong_complexity if midpoint is None else midpoint
    if params.needs_strong_width == 0.0:
        return float(1.0 - betainc(complexity_alpha, complexity_beta, min(max(c0, 0.0), 1.0)))
    # E[logistic] under the Beta density, by the midpoint rule on a fine grid (smooth integrand).
    edges = np.linspace(0.0, 1.0, 4001)
    mass = np.diff(betainc(complexity_alpha, complexity_beta, edges))
    mid = 0.5 * (edges[:-1] + edges[1:])
    return float(np.sum(mass * expit((mid - c0) / params.needs_strong_width)))


def quality_gap_recovered(error_routed, error_all_cheap, error_all_strong):
    """PGR: the share of the quality gap between all-cheap and all-strong that routing recovers."""
    return (np.asarray(error_all_cheap) - error_routed) / (np.asarray(error_all_cheap) - error_all_strong)


class QualityModel:
    """P(wrong answer) by model strength and request; vectorised over requests."""

    def __init__(self, params: QualityParams | None = None):
        self.params = params or QualityParams()

    @staticmethod
    def strength(model) -> np.ndarray:
        """``"strong"`` -> 1, ``"cheap"`` -> 0, a number (or array) in [0, 1] as it is."""
        if isinstance(model, str):
            if model not in TIERS:
                raise ValueError(f"model: one of {TIERS} or a strength in [0, 1], got {model!r}")
            return np.float64(1.0 if model == STRONG else 0.0)
        s = np.asarray(model, dtype=float)
        if np.any((s < 0) | (s > 1)) or np.any(np.isnan(s)):
            raise ValueError("model strength: must be in [0, 1]")
        return s

    def p_needs_strong(self, complexity) -> np.ndarray:
        """P(the request needs the strong model | complexity): a 0/1 step, or a logistic curve."""
        c = np.asarray(complexity, dtype=float)
        p = self.params
        if p.needs_strong_width == 0.0:
            return (c >= p.needs_strong_complexity).astype(float)
        return expit((c - p.needs_strong_complexity) / p.needs_strong_width)

    def draw_needs_strong(self, rng: np.random.Generator, complexity) -> np.ndarray:
        """The latent flag per request (no draw is taken when the flag is deterministic)."""
        c = np.asarray(complexity, dtype=float)
        if self.params.needs_strong_width == 0.0:
            return c >= self.params.needs_strong_complexity
        return rng.random(c.shape) < self.p_needs_strong(c)

    def p_wrong_given_need(self, model, needs_strong, base_error=None) -> np.ndarray:
        """P(wrong) of a model on requests whose flag (0/1, or its probability) is ``needs_strong``.

        ``base_error`` replaces the model's base error (e.g. its configured ``hallucination_prob``).
        """
        p = self.params
        s = self.strength(model)
        base = p.cheap_error + s * (p.strong_error - p.cheap_error) if base_error is None else base_error
        need = np.asarray(needs_strong, dtype=float)
        return np.clip(base + (1.0 - s) * p.hard_extra_error * need, 0.0, 1.0)

    def p_wrong(self, model, complexity, base_error=None) -> np.ndarray:
        """P(wrong) of a model on requests of the given complexity, averaged over the latent flag."""
        return self.p_wrong_given_need(model, self.p_needs_strong(complexity), base_error)

    def is_wrong(self, model, needs_strong, u, base_error=None) -> np.ndarray:
        """Whether each answer is wrong: ``u < P(wrong)``, with ``u`` one uniform draw per *request*.

        Pass the same ``u`` for every model that answers the same request: errors are then nested (whatever
        the strong model gets wrong, the cheap one gets wrong too -- an ambiguous or unanswerable request
        trips both), which is what keeps a cascade from beating the strong model alone.
        """
        return np.asarray(u) < self.p_wrong_given_need(model, needs_strong, base_error)


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
    import pandas as pd

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


def routing_calibration_chart(path, params: QualityParams | None = None, aucs=(0.5, 0.6, 0.75, 0.9, 0.99), *,
                              n_requests: int = 200_000, strong_call_usd: float = EXAMPLE_STRONG_CALL_USD,
                              cheap_call_usd: float = EXAMPLE_CHEAP_CALL_USD) -> Path:
    """Draw PGR vs share of strong calls (RouteLLM's points marked) and cost vs error rate, to ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    params = params or QualityParams()
    shares = np.linspace(0.0, 1.0, 41)
    curve = pgr_curve(params, aucs, shares, n_requests=n_requests, strong_call_usd=strong_call_usd,
                      cheap_call_usd=cheap_call_usd)
    fig = Figure(figsize=(11, 4.5))
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    for auc, rows in curve.groupby("auc"):
        left.plot(100 * rows["strong_call_share"], 100 * rows["pgr"], label=f"AUC {auc:g}")
        right.plot(100 * rows["error_rate"], 1000 * rows["cost_per_request_usd"], label=f"threshold, AUC {auc:g}")
    for i, (auc, share, pgr) in enumerate(ROUTELLM_POINTS):
        left.plot(100 * share, 100 * pgr, "k*" if auc > 0.5 else "kx", markersize=11,
                  label="RouteLLM best router" if i == 0 else ("RouteLLM random" if auc == 0.5 else None))
    left.set(xlabel="strong-model calls (%)", ylabel="quality gap recovered, PGR (%)", xlim=(0, 100),
             ylim=(0, 102), title="Threshold routing, 20% of requests need the strong model")
    left.legend(loc="lower right", fontsize=8)
    for recall, false_esc in ((0.8, 0.1), (0.95, 0.05)):
        point = cascade_point(params, recall, false_esc, n_requests=n_requests, strong_call_usd=strong_call_usd,
                              cheap_call_usd=cheap_call_usd)
        right.plot(100 * point["error_rate"], 1000 * point["cost_per_request_usd"], "o",
                   label=f"cascade, recall {recall:g}, false esc. {false_esc:g}")
    right.axhline(0.75 * 1000 * strong_call_usd, color="grey", linestyle=":", label="25% below all-strong")
    right.set(xlabel="wrong answers (%)", ylabel="cost per 1,000 requests (USD)",
              title="Cost and quality together (Sonnet 4 / Haiku 3.5)")
    right.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp" + path.suffix)
    fig.savefig(tmp)
    os.replace(tmp, path)
    return path
