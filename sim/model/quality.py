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

**Calibration** (docs/routing_calibration.md): the defaults reproduce RouteLLM's published trade-off
between the share of strong-model calls and the quality gap recovered without any fitting; the curves and
the cascade's closed form are in :mod:`sim.calibration.routing`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from sim.policies.router import STRONG, TIERS

DEFAULT_COMPLEXITY_ALPHA = 2.0      # the workload's default complexity ~ Beta(2, 5)
DEFAULT_COMPLEXITY_BETA = 5.0
DEFAULT_NEEDS_STRONG_SHARE = 0.2
# betaincinv(2, 5, 1 - 0.2): the complexity above which the default 20% lie. Written out, not computed, so
# that importing the model does not import scipy.special (~0.2 s of every run's start-up); a test checks it.
_DEFAULT_NEEDS_STRONG_COMPLEXITY = 0.42244752484627207


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
        if width == 0.0 and (share, complexity_alpha, complexity_beta) == (
                DEFAULT_NEEDS_STRONG_SHARE, DEFAULT_COMPLEXITY_ALPHA, DEFAULT_COMPLEXITY_BETA):
            c0 = _DEFAULT_NEEDS_STRONG_COMPLEXITY       # the same number, without importing scipy
        elif width == 0.0:
            from scipy.special import betaincinv
            c0 = float(betaincinv(complexity_alpha, complexity_beta, 1.0 - share))
        else:
            def excess(c0):
                return needs_strong_share(cls(needs_strong_complexity=0.5, needs_strong_width=width),
                                          complexity_alpha, complexity_beta, midpoint=c0) - share
            from scipy.optimize import brentq   # a logistic midpoint only; scipy.optimize is slow to import
            c0 = brentq(excess, -5.0, 6.0)
            if not 0.0 <= c0 <= 1.0:
                raise ValueError(f"for_share: share {share} needs a logistic midpoint {c0:.3f} outside [0, 1]; "
                                 f"use a smaller needs_strong_width")
        return cls(needs_strong_complexity=c0, **overrides)


def needs_strong_share(params: QualityParams, complexity_alpha: float = DEFAULT_COMPLEXITY_ALPHA,
                       complexity_beta: float = DEFAULT_COMPLEXITY_BETA, midpoint: float | None = None) -> float:
    """The expected share of a Beta(alpha, beta) workload that needs the strong model."""
    from scipy.special import betainc, expit
    c0 = params.needs_strong_complexity if midpoint is None else midpoint
    if params.needs_strong_width == 0.0:
        return float(1.0 - betainc(complexity_alpha, complexity_beta, min(max(c0, 0.0), 1.0)))
    # E[logistic] under the Beta density, by the midpoint rule on a fine grid (smooth integrand).
    edges = np.linspace(0.0, 1.0, 4001)
    mass = np.diff(betainc(complexity_alpha, complexity_beta, edges))
    mid = 0.5 * (edges[:-1] + edges[1:])
    return float(np.sum(mass * expit((mid - c0) / params.needs_strong_width)))


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
        from scipy.special import expit
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
