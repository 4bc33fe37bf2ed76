"""Shadow evaluation: decide, from a noisy judge's labels, whether a candidate model may replace the baseline.

The picture is a junior doctor shadowing a consultant. For every patient the junior writes down a
diagnosis too, but only the consultant's reaches the patient. A reviewer reads both notes and marks each
one right or wrong -- and the reviewer is tired, so now and then ticks the wrong box. After enough patients
the hospital wants to know: is the junior at most a little worse than the consultant, so that the
consultant can be freed for other work?

In an LLM application the consultant is the production ("baseline") model and the junior is a cheaper or
newer "candidate". A share of live requests is *mirrored* to the candidate; its answer is never returned
to the user. A judge -- an LLM-as-judge or a human rater -- labels both answers "failed" (wrong,
hallucinated, unparseable...) or not, and misreads each answer with probability ``judge_noise``. The team
promotes the candidate when "its failure rate is not worse than the baseline's by more than ``margin``,
at 95% confidence": a *non-inferiority* test

    H0: p_c - p_b >= margin      against      H1: p_c - p_b < margin,

where ``p_b``, ``p_c`` are the *true* failure rates of baseline and candidate.

**Paired data.** Both models answer the same prompt, so each sample is a pair and the natural statistic is
``d = judged_candidate_failed - judged_baseline_failed`` in {-1, 0, +1}. Hard prompts that trip both models
cancel out: only *discordant* pairs (exactly one model failed) carry information, and the variance of
``d`` is ``P(discordant) - (p_c - p_b)^2`` -- smaller than the independent-samples variance
``p_b(1 - p_b) + p_c(1 - p_c)`` whenever the two models tend to fail on the same prompts.

**Judge noise.** A judge that flips each label independently with probability ``e`` reports a failure rate
``p (1 - 2e) + e`` (:func:`judged_rate`), so every *difference* is shrunk by ``1 - 2e``. Testing the judged
difference against the raw ``margin`` would therefore promote a candidate that is truly worse by the full
margin more and more often as the sample grows. The evaluator knows ``judge_noise`` and corrects for it: it
tests the judged difference against ``margin * (1 - 2e)`` and reports estimates and confidence bounds of
the *true* difference divided back by ``1 - 2e``. (This assumes the stated noise is right and is the same
for both models and for failed and good answers; a judge that is biased towards one model is not
correctable this way.) Noise costs twice: the effect is shrunk and the flips add discordant pairs, i.e.
variance. With ``p_b = p_c = 0.05``, margin 0.02 and ``e = 0.1`` the test needs about four times as many
samples as with a perfect judge (:func:`required_samples`).

**The test at one look.** At ``n`` pairs with ``n_plus`` "candidate failed, baseline did not" and
``n_minus`` "baseline failed, candidate did not", the estimate is ``D = (n_plus - n_minus) / n``. The
statistic is the score statistic for paired proportions (Tango 1998; Nam 1997)::

    Z(delta) = (D - delta) / sqrt(V(delta) / n),    V(delta) = q_plus + q_minus - delta^2,

where ``q_plus, q_minus`` are the maximum-likelihood cell probabilities *restricted* to
``q_plus - q_minus = delta`` (a quadratic root, :func:`paired_score_statistic`). Using the variance under
the hypothesis rather than the plain sample variance matters here: failures are rare, and with the plain
(Wald) variance a short run with no discordant pair has zero variance and "proves" anything -- 30 pairs
without a disagreement would promote a candidate 3% of the time at the H0 boundary in the
``p = 0.05`` example. The confidence interval is the set of ``delta`` the test does not reject (a score
interval, found by root finding), so "the upper confidence bound is below the margin" and
"``Z(margin) < -z``" are the same statement.

**Sequential looks, honestly.** The team wants to stop as soon as the answer is clear, but testing after
every sample at 95% and stopping at the first success would promote a borderline candidate far more often
than 5% of the time. So the evaluator looks only at planned sample counts -- ``min_samples``, then every
``look_every`` samples (``min_samples``, ``min_samples + look_every``, ...), plus ``max_samples`` itself if it
is not on that grid -- and gives look ``k`` a share ``alpha_k`` of the error budget
``alpha = 1 - confidence`` with ``sum_k alpha_k <= alpha``. Look ``k`` uses one-sided bounds at confidence
``1 - alpha_k``. By the union (Bonferroni) bound, P(promote at some look | H0) <= sum_k P(promote at look
k | H0) <= sum_k alpha_k <= alpha, whatever the correlation between looks -- no Brownian-motion
approximation of the path is needed, only the per-look normal approximation of the score test.

* With ``max_samples`` the number of looks ``K`` is known and ``alpha_k = alpha / K`` (plain Bonferroni).
  It is conservative (it ignores that successive looks share most of their data, so exact Pocock or
  O'Brien-Fleming boundaries computed by numerical integration would stop somewhat sooner; in simulation
  the false-promotion rate at the margin comes out near 1%, not 5%) but simple to explain and audit, and the per-look threshold grows only like ``sqrt(2 ln K)``: 61 looks cost
  ``z = 3.15`` instead of ``1.645``.
* Without ``max_samples`` the sequence of looks is open-ended and ``alpha_k = alpha * k**-1.5 / zeta(1.5)``
  (``zeta(1.5) = 2.612``, so the series sums to ``alpha``). Early looks get a larger share; the price of
  never committing to a horizon is a threshold that keeps rising slowly (``z = 3.24`` at look 10, ``3.68``
  at look 30, ``4.12`` at look 100). Set ``max_samples`` when a budget is known.

**Decisions** (final; recording can go on for reporting, but the decision does not change):

* ``"promote"`` -- at a look, the upper bound (confidence ``1 - alpha_k``) of the true ``p_c - p_b`` is
  strictly below ``margin``;
* ``"reject"`` -- at a look, the lower bound at the same confidence is at or above ``margin`` (the
  candidate is demonstrably worse by at least the margin: stopping early for futility only lowers the
  promotion probability, so it cannot break the error guarantee), **or** ``max_samples`` pairs have been
  recorded without a promotion (non-inferiority not shown within the budget: the team keeps the baseline).
  :attr:`ShadowEvaluator.decision_reason` says which;
* ``"undecided"`` -- otherwise.

:attr:`ShadowEvaluator.decided_at_s` (the caller's clock at the deciding sample) and
:attr:`ShadowEvaluator.decided_after_samples` record when it happened.

Randomness stays with the caller: :meth:`ShadowEvaluator.record` receives the true failure flags and two
uniforms from the caller's named stream for the judge's misreads, so a run is reproducible and the
evaluator is deterministic.
"""
from __future__ import annotations

import math
from statistics import NormalDist
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple, Optional

import numpy as np

from sim.policies._validation import SettingError, check_fields, integer, number

UNDECIDED = "undecided"
PROMOTE = "promote"
REJECT = "reject"

REASON_UPPER_BELOW_MARGIN = "upper_bound_below_margin"
REASON_LOWER_AT_OR_ABOVE_MARGIN = "lower_bound_at_or_above_margin"
REASON_MAX_SAMPLES = "max_samples_reached"

OPEN_ENDED_SPENDING_EXPONENT = 1.5
_STANDARD_NORMAL = NormalDist()


@lru_cache(maxsize=None)
def _open_ended_normaliser() -> float:
    """``zeta(1.5)``, computed on first use: scipy is imported by the runs that evaluate shadow traffic only."""
    from scipy.special import zeta
    return float(zeta(OPEN_ENDED_SPENDING_EXPONENT))


# --------------------------------------------------------------------------------------------- helpers

def _check_probability(name: str, value, low_open: bool = False, high_open: bool = False,
                       high: float = 1.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name}: must be a number, got {value!r}")
    value = float(value)
    too_low = value <= 0.0 if low_open else value < 0.0
    too_high = value >= high if high_open else value > high
    if math.isnan(value) or too_low or too_high:
        interval = f"{'(' if low_open else '['}0, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name}: must be in {interval}, got {value!r}")
    return value


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _z_upper(alpha: float) -> float:
    """The standard normal quantile with upper-tail probability ``alpha``."""
    return _STANDARD_NORMAL.inv_cdf(1.0 - alpha)


def judged_rate(true_rate: float, judge_noise: float) -> float:
    """Failure rate the judge reports when the true rate is ``true_rate`` and it misreads each answer with
    probability ``judge_noise``: ``true * (1 - 2e) + e``. A difference between two rates shrinks by ``1 - 2e``;
    at ``e = 0.5`` the judge is a coin and every rate reads 0.5."""
    true_rate = _check_probability("true_rate", true_rate)
    judge_noise = _check_probability("judge_noise", judge_noise, high=0.5)
    return true_rate * (1.0 - 2.0 * judge_noise) + judge_noise


def _restricted_smaller_cell(share_plus, share_minus, delta):
    """Restricted MLE of the *smaller* discordant cell probability under ``q_plus - q_minus = delta``.

    ``share_plus`` / ``share_minus`` are the observed shares of pairs with d = +1 / -1. For ``delta >= 0``
    the smaller cell is ``q_minus = q``; maximising ``c ln(q + delta) + b ln q + m ln(1 - 2q - delta)``
    (``c, b, m`` = counts of d = +1, -1, 0) gives, after dividing by ``n``, the quadratic
    ``2 q^2 - [c/n (1 + delta) + b/n (1 - delta) - 2 delta] q - b/n delta (1 - delta) = 0``, whose larger root
    (clipped at 0) is the answer. Negative ``delta`` is the mirror image (swap the cells). Works
    element-wise on numpy arrays.
    """
    share_plus, share_minus, delta = np.broadcast_arrays(np.asarray(share_plus, float),
                                                         np.asarray(share_minus, float),
                                                         np.asarray(delta, float))
    flip = delta < 0
    larger = np.where(flip, share_minus, share_plus)
    smaller = np.where(flip, share_plus, share_minus)
    d = np.abs(delta)
    b_coef = larger * (1.0 + d) + smaller * (1.0 - d) - 2.0 * d
    discriminant = b_coef * b_coef + 8.0 * smaller * d * (1.0 - d)
    root = (b_coef + np.sqrt(np.maximum(discriminant, 0.0))) / 4.0
    return np.maximum(root, 0.0)


def restricted_variance(share_plus, share_minus, delta):
    """``V(delta) = q_plus + q_minus - delta^2`` at the restricted MLE: the variance of one paired
    difference ``d`` if the true mean difference were ``delta`` (element-wise on arrays)."""
    q_small = _restricted_smaller_cell(share_plus, share_minus, delta)
    d = np.abs(np.asarray(delta, float))
    return 2.0 * q_small + d - d * d


def paired_score_statistic(n_plus, n_minus, n, delta):
    """Score statistic ``Z = (D - delta) / sqrt(V(delta) / n)`` for the paired difference of proportions.

    ``n_plus``: pairs where only the candidate failed (d = +1); ``n_minus``: only the baseline failed
    (d = -1); ``n``: all pairs; ``delta``: the hypothesised difference. Large negative ``Z`` says the true
    difference is below ``delta``. Element-wise on numpy arrays (so experiments can be simulated in bulk);
    returns a float for scalar input. ``Z = 0`` when ``D == delta`` (including the degenerate ``V = 0``).
    """
    n_plus = np.asarray(n_plus, float)
    n_minus = np.asarray(n_minus, float)
    n = np.asarray(n, float)
    delta = np.asarray(delta, float)
    estimate = (n_plus - n_minus) / n
    variance = restricted_variance(n_plus / n, n_minus / n, delta)
    numerator = estimate - delta
    with np.errstate(divide="ignore", invalid="ignore"):
        z = numerator / np.sqrt(variance / n)
    z = np.where(numerator == 0.0, 0.0, z)
    return float(z) if z.ndim == 0 else z


def paired_score_interval(n_plus: int, n_minus: int, n: int, alpha_each_side: float) -> tuple[float, float]:
    """Score confidence bounds ``(lower, upper)`` for ``q_plus - q_minus`` (the judged difference), each a
    one-sided bound at confidence ``1 - alpha_each_side``: the ``delta`` where ``Z(delta) = +z`` / ``-z``."""
    if n <= 0:
        return (-1.0, 1.0)
    z = _z_upper(alpha_each_side)
    estimate = (n_plus - n_minus) / n

    def excess(delta: float, target: float) -> float:
        return paired_score_statistic(n_plus, n_minus, n, delta) - target

    from scipy.optimize import brentq
    edge = 1.0 - 1e-12
    upper = edge if estimate >= edge or excess(edge, -z) >= 0 else \
        brentq(excess, estimate, edge, args=(-z,), xtol=1e-12)
    lower = -edge if estimate <= -edge or excess(-edge, z) <= 0 else \
        brentq(excess, -edge, estimate, args=(z,), xtol=1e-12)
    return (float(lower), float(upper))


def _judged_pair_shares(p_baseline: float, p_candidate: float, judge_noise: float,
                        true_discordance: float) -> tuple[float, float]:
    """Judged shares ``(q_plus, q_minus)`` of "only the candidate failed" / "only the baseline failed".

    The true joint distribution of (baseline failed, candidate failed) follows from the two rates and the
    discordance ``P(exactly one failed)``; each label is then flipped independently with ``judge_noise``:
    ``Q = M^T P M`` with ``M = [[1-e, e], [e, 1-e]]``.
    """
    theta = p_candidate - p_baseline
    only_c = (true_discordance + theta) / 2.0
    only_b = (true_discordance - theta) / 2.0
    both = p_baseline - only_b
    neither = 1.0 - only_c - only_b - both
    joint = np.array([[neither, only_c], [only_b, both]])    # [baseline failed][candidate failed]
    e = judge_noise
    flip = np.array([[1.0 - e, e], [e, 1.0 - e]])
    judged = flip.T @ joint @ flip
    return float(judged[0, 1]), float(judged[1, 0])


def required_samples(p_baseline: float, p_candidate: float, margin: float, confidence: float = 0.95,
                     power: float = 0.8, judge_noise: float = 0.0,
                     paired_discordance: Optional[float] = None) -> int:
    """Pairs needed by a single-look (fixed-sample) one-sided non-inferiority test of ``p_c - p_b < margin``.

    Closed form for the paired score test (Nam 1997), on the judged scale::

        n = ceil( (z_{confidence} * sigma_0 + z_{power} * sigma_1)^2 / (margin' - theta')^2 )

    * ``theta' = (p_candidate - p_baseline)(1 - 2e)`` and ``margin' = margin (1 - 2e)``: judge noise shrinks the
      true difference and the evaluator shrinks the margin alike, so the effect is ``(margin - theta)(1 - 2e)``;
    * ``sigma_1^2 = q'_plus + q'_minus - theta'^2``, the variance of one judged paired difference under the
      planning rates, with ``q'`` the judged discordant-cell shares (true cells, then independent flips);
    * ``sigma_0^2 = V(margin')``, the restricted variance the score test uses, evaluated at the planning
      shares (the large-sample limit of the restricted MLE).

    ``paired_discordance`` is the true probability that exactly one of the two answers fails. ``None`` means
    the two answers fail independently: ``p_b (1 - p_c) + p_c (1 - p_b)``, which gives ``sigma_1^2 =
    p_b(1 - p_b) + p_c(1 - p_c)`` -- the familiar two-sample variance. Models that fail on the same hard
    prompts have a lower discordance and need fewer pairs. Other assumptions: pairs are independent of each
    other, the normal approximation holds at ``n``, the judge's misreads are independent of everything.

    This is a fixed-sample size. :class:`ShadowEvaluator` looks repeatedly with a Bonferroni-split error
    budget, so its decisions arrive after a random number of pairs, typically within a factor of two of
    this number (earlier when the candidate is clearly better, later when it is borderline).
    """
    p_baseline = _check_probability("p_baseline", p_baseline)
    p_candidate = _check_probability("p_candidate", p_candidate)
    margin = _check_probability("margin", margin, high_open=True)
    confidence = _check_probability("confidence", confidence, low_open=True, high_open=True)
    if confidence <= 0.5:
        raise ValueError(f"confidence: must be in (0.5, 1), got {confidence!r}")
    power = _check_probability("power", power, low_open=True, high_open=True)
    judge_noise = _check_probability("judge_noise", judge_noise, high=0.5, high_open=True)
    theta = p_candidate - p_baseline
    if theta >= margin:
        raise ValueError(f"p_candidate: p_candidate - p_baseline = {theta:g} must be < margin = {margin:g}; "
                         "non-inferiority cannot be shown for such a candidate")
    low_discordance = abs(theta)
    high_discordance = min(p_baseline + p_candidate, 2.0 - p_baseline - p_candidate)
    if paired_discordance is None:
        discordance = p_baseline * (1.0 - p_candidate) + p_candidate * (1.0 - p_baseline)
    else:
        discordance = _check_probability("paired_discordance", paired_discordance)
        if not (low_discordance - 1e-12 <= discordance <= high_discordance + 1e-12):
            raise ValueError(f"paired_discordance: must be in [{low_discordance:g}, {high_discordance:g}] for "
                             f"these rates, got {paired_discordance!r}")
    shrink = 1.0 - 2.0 * judge_noise
    q_plus, q_minus = _judged_pair_shares(p_baseline, p_candidate, judge_noise, discordance)
    theta_judged = theta * shrink
    margin_judged = margin * shrink
    sigma_1 = math.sqrt(max(q_plus + q_minus - theta_judged ** 2, 0.0))
    sigma_0 = math.sqrt(float(restricted_variance(q_plus, q_minus, margin_judged)))
    z_alpha = _z_upper(1.0 - confidence)
    z_beta = _STANDARD_NORMAL.inv_cdf(power)
    n = ((z_alpha * sigma_0 + z_beta * sigma_1) / (margin_judged - theta_judged)) ** 2
    return max(1, math.ceil(n - 1e-9))


# --------------------------------------------------------------------------------------------- evaluator

class ShadowLook(NamedTuple):
    """One planned look: after ``samples`` pairs, at the caller's time ``now_s``, with the error share
    ``alpha`` (threshold ``z_threshold``) and the score statistic ``z_at_margin`` = Z(judged margin)."""

    look: int
    samples: int
    now_s: float
    alpha: float
    z_threshold: float
    z_at_margin: float


@dataclass(frozen=True)
class ShadowConfig:
    """Settings of one :class:`ShadowEvaluator` (the statistics; what to mirror is the caller's business).

    ``margin`` is on the true failure rates (0 asks for "not worse at all"); ``confidence`` is the overall
    one-sided confidence across all looks; ``judge_noise`` is the judge's per-answer misread probability;
    the first look is after ``min_samples`` pairs, then one every ``look_every`` pairs; ``max_samples``
    (None = open-ended) ends the experiment with ``"reject"`` if the candidate has not been promoted by then.
    The scenario's ``resilience.shadow`` section extends it (see :mod:`sim.policies._validation`).
    """

    __pydantic_config__ = {"extra": "forbid"}

    margin: float = number(0.02, "Non-inferiority margin on the true failure rate.", ge=0, lt=1)
    confidence: float = number(0.95, "Confidence of the promotion decision, over all looks.", gt=0.5, lt=1)
    judge_noise: float = number(0.05, "Probability that the judge misreads one answer.", ge=0, lt=0.5)
    min_samples: int = integer(30, "Samples before the first look at the data.", ge=1)
    look_every: int = integer(250, "Samples between looks at the data (fewer looks spend less of the error "
                                   "budget each).", ge=1)
    max_samples: Optional[int] = integer(None, "Stop (reject) after this many samples without promotion; "
                                               "None = open-ended.", ge=1)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.max_samples is not None and self.max_samples < self.min_samples:
            raise SettingError(type(self).__name__, "max_samples",
                               f"Input should be greater than or equal to min_samples ({self.min_samples})",
                               self.max_samples)


class ShadowEvaluator:
    """Sequential paired non-inferiority test of a shadowed candidate against the baseline.

    Feed one :meth:`record` per mirrored request; read :attr:`decision`. See the module docstring for the
    statistics and :class:`ShadowConfig` for the settings.
    """

    def __init__(self, config: ShadowConfig) -> None:
        self.config = config
        self.alpha = 1.0 - self.config.confidence
        self._shrink = 1.0 - 2.0 * self.config.judge_noise
        self.judged_margin = self.config.margin * self._shrink
        """The margin on the judge's scale, ``margin * (1 - 2 judge_noise)``, that the judged labels are tested against."""
        self.planned_looks: Optional[int] = None
        """Number of looks up to ``max_samples`` (None when open-ended)."""
        if self.config.max_samples is not None:
            # grid points min_samples + j * look_every below max_samples, then max_samples itself
            below_max = -(-(self.config.max_samples - self.config.min_samples) // self.config.look_every)
            self.planned_looks = below_max + 1
        self.looks: list[ShadowLook] = []
        self.decision = UNDECIDED
        self.decision_reason: Optional[str] = None
        self.decided_at_s: Optional[float] = None
        self.decided_after_samples: Optional[int] = None
        self.bounds_at_decision: Optional[tuple[float, float]] = None
        """The (lower, upper) bounds of the true difference at the deciding look's confidence ``1 - alpha_k``."""
        self._n = 0
        self._n_plus = 0            # judged: only the candidate failed
        self._n_minus = 0           # judged: only the baseline failed
        self._judged_fail_b = 0
        self._judged_fail_c = 0
        self._true_fail_b = 0
        self._true_fail_c = 0
        self._next_look_n = self.config.min_samples

    # ------------------------------------------------------------------------------------------ schedule

    def look_alpha(self, look: int) -> float:
        """The one-sided error share of look number ``look`` (1-based)."""
        look = _check_int("look", look, 1)
        if self.planned_looks is not None:
            if look > self.planned_looks:
                raise ValueError(f"look: only {self.planned_looks} looks are planned, got {look}")
            return self.alpha / self.planned_looks
        return self.alpha * look ** -OPEN_ENDED_SPENDING_EXPONENT / _open_ended_normaliser()

    def look_samples(self, look: int) -> int:
        """Number of pairs at which look number ``look`` (1-based) happens."""
        look = _check_int("look", look, 1)
        n = self.config.min_samples + (look - 1) * self.config.look_every
        if self.config.max_samples is not None:
            if look > self.planned_looks:
                raise ValueError(f"look: only {self.planned_looks} looks are planned, got {look}")
            n = min(n, self.config.max_samples)
        return n

    # ------------------------------------------------------------------------------------------ recording

    def record(self, baseline_failed: bool, candidate_failed: bool, u_baseline: float, u_candidate: float,
               now_s: float) -> str:
        """Record one mirrored request: the TRUE failure flags of both answers, two uniforms in [0, 1) for
        the judge (it misreads an answer when its uniform is below ``judge_noise``) and the time in seconds.
        Only the judged labels enter the test. Returns :attr:`decision`."""
        if not (0.0 <= u_baseline <= 1.0):
            raise ValueError(f"record.u_baseline: must be in [0, 1], got {u_baseline!r}")
        if not (0.0 <= u_candidate <= 1.0):
            raise ValueError(f"record.u_candidate: must be in [0, 1], got {u_candidate!r}")
        baseline_failed = bool(baseline_failed)
        candidate_failed = bool(candidate_failed)
        judged_b = baseline_failed != bool(u_baseline < self.config.judge_noise)
        judged_c = candidate_failed != bool(u_candidate < self.config.judge_noise)
        self._n += 1
        self._true_fail_b += baseline_failed
        self._true_fail_c += candidate_failed
        self._judged_fail_b += judged_b
        self._judged_fail_c += judged_c
        if judged_c != judged_b:
            if judged_c:
                self._n_plus += 1
            else:
                self._n_minus += 1
        if self.decision == UNDECIDED and self._n == self._next_look_n:
            self._look(float(now_s))
        return self.decision

    def _look(self, now_s: float) -> None:
        look = len(self.looks) + 1
        alpha_k = self.look_alpha(look)
        z_k = _z_upper(alpha_k)
        z = paired_score_statistic(self._n_plus, self._n_minus, self._n, self.judged_margin)
        self.looks.append(ShadowLook(look, self._n, now_s, alpha_k, z_k, z))
        if z < -z_k:
            self._decide(PROMOTE, REASON_UPPER_BELOW_MARGIN, now_s, alpha_k)
        elif z >= z_k:
            self._decide(REJECT, REASON_LOWER_AT_OR_ABOVE_MARGIN, now_s, alpha_k)
        elif self.config.max_samples is not None and self._n >= self.config.max_samples:
            self._decide(REJECT, REASON_MAX_SAMPLES, now_s, alpha_k)
        else:
            self._next_look_n = self.look_samples(look + 1)

    def _decide(self, decision: str, reason: str, now_s: float, alpha_k: float) -> None:
        self.decision = decision
        self.decision_reason = reason
        self.decided_at_s = now_s
        self.decided_after_samples = self._n
        self.bounds_at_decision = self.confidence_interval(1.0 - alpha_k)

    # ------------------------------------------------------------------------------------------ estimates

    @property
    def samples(self) -> int:
        """Pairs recorded so far (recording may continue after the decision)."""
        return self._n

    @property
    def decided(self) -> bool:
        return self.decision != UNDECIDED

    def _rate(self, count: int) -> float:
        return count / self._n if self._n else math.nan

    @property
    def judged_failure_rate_baseline(self) -> float:
        """Share of baseline answers the judge marked failed (NaN before the first sample)."""
        return self._rate(self._judged_fail_b)

    @property
    def judged_failure_rate_candidate(self) -> float:
        return self._rate(self._judged_fail_c)

    @property
    def true_failure_rate_baseline(self) -> float:
        """Share of baseline answers that truly failed -- known to the simulation only, for reporting."""
        return self._rate(self._true_fail_b)

    @property
    def true_failure_rate_candidate(self) -> float:
        return self._rate(self._true_fail_c)

    @property
    def judged_difference(self) -> float:
        """Judged ``p_c - p_b``: the mean paired difference of the judge's labels."""
        return self._rate(self._n_plus - self._n_minus)

    @property
    def difference_estimate(self) -> float:
        """Estimate of the TRUE ``p_c - p_b``: the judged difference corrected for the judge's noise,
        ``judged / (1 - 2 judge_noise)`` (unbiased if the stated noise is right)."""
        return self.judged_difference / self._shrink

    def confidence_interval(self, confidence: Optional[float] = None) -> tuple[float, float]:
        """``(lower, upper)`` bounds of the TRUE ``p_c - p_b``, each one-sided at ``confidence`` (default: the
        evaluator's), from the paired score test (restricted paired variance), corrected for judge noise
        and clipped to [-1, 1]. This is a fixed-sample interval: the decision itself uses each look's
        smaller error share (see :attr:`bounds_at_decision`). ``(-1, 1)`` before the first sample."""
        if confidence is None:
            confidence = self.config.confidence
        confidence = _check_probability("confidence", confidence, low_open=True, high_open=True)
        lower, upper = paired_score_interval(self._n_plus, self._n_minus, self._n, 1.0 - confidence)
        return (max(-1.0, lower / self._shrink), min(1.0, upper / self._shrink))

    def summary(self) -> dict:
        """Flat, JSON-friendly headline numbers."""
        lower, upper = self.confidence_interval()
        at_decision = self.bounds_at_decision or (None, None)
        return {
            "decision": self.decision,
            "decision_reason": self.decision_reason,
            "decided_at_s": self.decided_at_s,
            "decided_after_samples": self.decided_after_samples,
            "samples": self._n,
            "looks": len(self.looks),
            "margin": self.config.margin,
            "confidence": self.config.confidence,
            "judge_noise": self.config.judge_noise,
            "max_samples": self.config.max_samples,
            "judged_failure_rate_baseline": self.judged_failure_rate_baseline,
            "judged_failure_rate_candidate": self.judged_failure_rate_candidate,
            "true_failure_rate_baseline": self.true_failure_rate_baseline,
            "true_failure_rate_candidate": self.true_failure_rate_candidate,
            "discordant_candidate_only": self._n_plus,
            "discordant_baseline_only": self._n_minus,
            "difference_estimate": self.difference_estimate,
            "ci_lower": lower,
            "ci_upper": upper,
            "lower_at_decision": at_decision[0],
            "upper_at_decision": at_decision[1],
        }
