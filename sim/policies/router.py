"""Model routing: send each request to a strong (expensive) or a cheap model, without knowing which it needs.

The picture is a hospital triage nurse. Most patients could be seen by a junior doctor; a few need the
consultant. The nurse cannot know for sure who is which -- only an impression from a short look (a *score*).
Sending everyone to the consultant is safe and expensive; sending everyone to the junior is cheap and some
patients are badly served. A good nurse ranks the patients well: the ones who really need the consultant
tend to get higher scores. How well is one number, the **AUC** of the score: the probability that a randomly
chosen "needs the consultant" patient scores higher than a randomly chosen one who does not (0.5 = coin
flip, 1 = perfect ranking).

In an LLM application the consultant is a strong model (e.g. Claude Sonnet 4) and the junior a cheap one
(e.g. Claude Haiku 3.5). Each request carries a latent truth, "needs the strong model" (the cheap model
would likely get it wrong; see :mod:`sim.model.quality`). The router never sees that truth, only its own
noisy score. Four strategies:

* ``fixed``: always the same tier (``fixed_tier``), the baselines "all strong" and "all cheap".
* ``threshold``: the strong model when ``score >= threshold``, else the cheap one. The threshold sets the
  *share* of strong calls, hence the cost; :func:`threshold_for_strong_share` finds the threshold for a
  target share on a sample of scores (what an operator would do on yesterday's traffic).
* ``cascade``: always ask the cheap model first; when its answer fails a confidence check (a verifier, a
  self-consistency vote, a parse check), ask the strong model too -- and pay for both calls. The check is
  itself imperfect: it catches a wrong cheap answer with probability ``cascade_recall`` and escalates a
  right one anyway with probability ``cascade_false_escalation``.
* ``weighted``: a random split, the strong model with probability ``weight`` (an A/B split or a canary;
  also exactly what a router with AUC 0.5 achieves).

**The score model** (binormal, equal variance). For a request with latent flag ``needs_strong`` in {0, 1}
the router's score is ``d * needs_strong + Z`` with ``Z ~ N(0, 1)`` independent of everything else. The
difference of a positive and a negative score is ``N(d, 2)``, so ``AUC = Phi(d / sqrt(2))`` and the
separation that gives a target AUC is ``d = sqrt(2) * Phi^-1(auc)`` (:func:`score_separation`) -- exact in
expectation, not fitted. AUC 0.5 gives ``d = 0``: the score carries no information and threshold routing is
a random split. AUC 0.9 gives ``d = 1.81``. A perfect router (AUC 1) would need ``d = inf``; it is capped at
``d = 40``, which no 64-bit normal draw overlaps.

Randomness stays with the caller: :func:`router_scores` takes the caller's generator (a named stream), and
:meth:`Router.route` / :meth:`Router.escalate` take a uniform draw ``u``, so a run is reproducible and this
class is deterministic. Vectorised twins (``route_many``, ``escalate_many``) serve experiments that route a
whole workload at once. Nothing here imports the rest of ``sim``.
"""
from __future__ import annotations

import math

import numpy as np

STRONG = "strong"
CHEAP = "cheap"
TIERS = (STRONG, CHEAP)
STRATEGIES = ("fixed", "threshold", "cascade", "weighted")
MAX_SEPARATION = 40.0     # the separation used for AUC = 1: the two score clouds never overlap


def _check_unit(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}: must be in [0, 1], got {value!r}")
    return value


def score_separation(auc: float) -> float:
    """The gap ``d`` between the mean scores of "needs strong" and other requests that gives ``auc``."""
    auc = _check_unit("auc", auc)
    if auc < 0.5:
        raise ValueError(f"auc: a router worse than a coin flip is not modelled (use 1 - auc and flip the "
                         f"score), got {auc!r}")
    from scipy.special import ndtri     # here, not at import: scipy costs ~0.3 s and `import sim` stays light
    return min(MAX_SEPARATION, math.sqrt(2.0) * float(ndtri(auc)))


def router_scores(rng: np.random.Generator, needs_strong: np.ndarray, auc: float) -> np.ndarray:
    """One router score per request, ``d * needs_strong + N(0, 1)``, whose AUC is ``auc`` in expectation."""
    needs_strong = np.asarray(needs_strong, dtype=bool)
    return score_separation(auc) * needs_strong + rng.standard_normal(needs_strong.shape)


def threshold_for_strong_share(scores: np.ndarray, share: float) -> float:
    """The threshold at which ``round(share * n)`` of ``scores`` are ``>=`` it (exactly, barring ties).

    Share 0 gives ``+inf`` (nothing routed strong); share 1 gives the lowest score (everything).
    """
    share = _check_unit("share", share)
    scores = np.asarray(scores, dtype=float).ravel()
    if scores.size == 0:
        raise ValueError("threshold_for_strong_share: no scores")
    k = int(round(share * scores.size))
    if k == 0:
        return math.inf
    # The k-th largest score: exactly k scores are >= it when there are no ties.
    return float(np.partition(scores, scores.size - k)[scores.size - k])


class Router:
    """Picks "strong" or "cheap" per request; for ``cascade``, decides whether to escalate.

    ``auc`` is the router's skill: it does not change :meth:`route` (which only compares the score it is
    given) but :meth:`scores` draws scores of that quality, so a scenario states the skill in one place.
    Counters (``routed_strong``, ``routed_cheap``, ``cascade_checks``, ``escalated``) record the decisions
    taken through the scalar methods.
    """

    def __init__(self, strategy: str, *, threshold: float = 0.0, weight: float = 0.5, auc: float = 0.9,
                 fixed_tier: str = STRONG, cascade_recall: float = 0.8,
                 cascade_false_escalation: float = 0.1):
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy: one of {STRATEGIES}, got {strategy!r}")
        if fixed_tier not in TIERS:
            raise ValueError(f"fixed_tier: one of {TIERS}, got {fixed_tier!r}")
        if math.isnan(float(threshold)):
            raise ValueError("threshold: must be a number, got nan")
        self.strategy = strategy
        self.threshold = float(threshold)
        self.weight = _check_unit("weight", weight)
        self.auc = auc
        self.separation = score_separation(auc)
        self.fixed_tier = fixed_tier
        self.cascade_recall = _check_unit("cascade_recall", cascade_recall)
        self.cascade_false_escalation = _check_unit("cascade_false_escalation", cascade_false_escalation)
        self.routed_strong = self.routed_cheap = 0
        self.cascade_checks = self.escalated = 0

    def __repr__(self) -> str:
        return (f"Router({self.strategy!r}, threshold={self.threshold}, weight={self.weight}, auc={self.auc}, "
                f"fixed_tier={self.fixed_tier!r}, cascade_recall={self.cascade_recall}, "
                f"cascade_false_escalation={self.cascade_false_escalation})")

    def scores(self, rng: np.random.Generator, needs_strong: np.ndarray) -> np.ndarray:
        """Scores of this router's skill for requests with the given latent flags."""
        return router_scores(rng, needs_strong, self.auc)

    # ---------------------------------------------------------------------------------- one request

    def route(self, score: float, u: float) -> str:
        """The tier of the first call: ``"strong"`` or ``"cheap"``. ``u`` is a uniform draw (``weighted``)."""
        strategy = self.strategy
        if strategy == "threshold":
            tier = STRONG if score >= self.threshold else CHEAP
        elif strategy == "weighted":
            tier = STRONG if u < self.weight else CHEAP
        elif strategy == "cascade":
            tier = CHEAP
        else:
            tier = self.fixed_tier
        if tier == STRONG:
            self.routed_strong += 1
        else:
            self.routed_cheap += 1
        return tier

    def escalate(self, cheap_answer_wrong: bool, u: float) -> bool:
        """Cascade: whether the cheap answer fails the confidence check, so the strong model is called too."""
        if self.strategy != "cascade":
            raise ValueError(f"escalate: only the cascade strategy escalates, this router is {self.strategy!r}")
        self.cascade_checks += 1
        p = self.cascade_recall if cheap_answer_wrong else self.cascade_false_escalation
        escalated = u < p
        self.escalated += escalated
        return escalated

    # ------------------------------------------------------------------------------ whole workloads

    def route_many(self, scores: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
        """Vectorised :meth:`route`: True where the first call goes to the strong model (no counters)."""
        scores = np.asarray(scores, dtype=float)
        if self.strategy == "threshold":
            return scores >= self.threshold
        if self.strategy == "weighted":
            if u is None:
                raise ValueError("route_many: the weighted strategy needs uniform draws u")
            return np.asarray(u) < self.weight
        if self.strategy == "cascade":
            return np.zeros(scores.shape, dtype=bool)
        return np.full(scores.shape, self.fixed_tier == STRONG)

    def escalate_many(self, cheap_answer_wrong: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`escalate` (no counters)."""
        if self.strategy != "cascade":
            raise ValueError(f"escalate_many: only the cascade strategy escalates, this router is "
                             f"{self.strategy!r}")
        wrong = np.asarray(cheap_answer_wrong, dtype=bool)
        p = np.where(wrong, self.cascade_recall, self.cascade_false_escalation)
        return np.asarray(u) < p
