"""ShadowEvaluator: judge noise arithmetic, the paired score test, sample sizes, sequential error control."""
import math
from collections import Counter
from statistics import NormalDist

import numpy as np
import pytest

from sim.policies.shadow_evaluator import (PROMOTE, REJECT, UNDECIDED, ShadowConfig, ShadowEvaluator, judged_rate,
                                 paired_score_interval, paired_score_statistic, required_samples,
                                 restricted_variance)


# ------------------------------------------------------------------------------------------ simulation helpers


def evaluator(margin, **settings):
    """An evaluator with a perfect judge and a look every 50 pairs unless told otherwise."""
    return ShadowEvaluator(ShadowConfig(margin=margin, **{"judge_noise": 0.0, "look_every": 50, **settings}))


def run_one(evaluator, true_b, true_c, u_b, u_c, dt_s=2.0, stop_when_decided=True):
    """Feed one experiment's pairs (Python lists) to ``evaluator``; sample ``i`` arrives at ``i * dt_s``."""
    for i in range(len(true_b)):
        if evaluator.record(true_b[i], true_c[i], u_b[i], u_c[i], i * dt_s) != UNDECIDED and stop_when_decided:
            break
    return evaluator


def draws(rng, n_exp, n, p_b, p_c):
    """True failure flags and judge uniforms for ``n_exp`` experiments of ``n`` pairs (independent answers)."""
    return (rng.random((n_exp, n)) < p_b, rng.random((n_exp, n)) < p_c, rng.random((n_exp, n)), rng.random((n_exp, n)))


def run_many(p_b, p_c, margin, n_exp, seed, judge_noise=0.0, max_samples=None, horizon=None):
    """Run ``n_exp`` experiments through the real class; returns the evaluators."""
    rng = np.random.default_rng(seed)
    horizon = horizon or max_samples
    true_b, true_c, u_b, u_c = draws(rng, n_exp, horizon, p_b, p_c)
    return [run_one(evaluator(margin, judge_noise=judge_noise, max_samples=max_samples),
                    true_b[e].tolist(), true_c[e].tolist(), u_b[e].tolist(), u_c[e].tolist())
            for e in range(n_exp)]


def vectorised_decisions(true_b, true_c, u_b, u_c, margin, judge_noise, max_samples, tested_noise=None):
    """The same sequential procedure over many experiments at once, from the evaluator's public schedule
    and :func:`paired_score_statistic`. ``tested_noise`` is the noise the evaluator is *told* (default: the
    real one); telling it 0 gives the naive evaluator that tests judged labels against the raw margin.
    Returns (decisions, samples at decision)."""
    tested_noise = judge_noise if tested_noise is None else tested_noise
    schedule = evaluator(margin, judge_noise=tested_noise, max_samples=max_samples)
    judged_b = true_b ^ (u_b < judge_noise)
    judged_c = true_c ^ (u_c < judge_noise)
    plus = np.cumsum(judged_c & ~judged_b, axis=1)
    minus = np.cumsum(judged_b & ~judged_c, axis=1)
    n_exp = true_b.shape[0]
    decision = np.full(n_exp, UNDECIDED, dtype=object)
    decided_n = np.zeros(n_exp, dtype=int)
    for look in range(1, schedule.planned_looks + 1):
        n = schedule.look_samples(look)
        z_k = NormalDist().inv_cdf(1 - schedule.look_alpha(look))
        z = paired_score_statistic(plus[:, n - 1], minus[:, n - 1], n, schedule.judged_margin)
        open_ = decision == UNDECIDED
        promote = open_ & (z < -z_k)
        reject = open_ & ~promote & ((z >= z_k) | (n >= max_samples))
        decision[promote] = PROMOTE
        decision[reject] = REJECT
        decided_n[promote | reject] = n
    return decision, decided_n


# ------------------------------------------------------------------------------------------ judge noise

def test_judged_rate_arithmetic():
    assert judged_rate(0.05, 0.0) == pytest.approx(0.05)
    assert judged_rate(0.05, 0.1) == pytest.approx(0.05 * 0.8 + 0.1)       # 0.14
    assert judged_rate(0.0, 0.1) == pytest.approx(0.1)
    assert judged_rate(1.0, 0.1) == pytest.approx(0.9)
    assert judged_rate(0.3, 0.5) == pytest.approx(0.5)
    # differences shrink by 1 - 2e
    assert judged_rate(0.07, 0.1) - judged_rate(0.05, 0.1) == pytest.approx(0.02 * 0.8)


def test_record_applies_the_judge_flip_from_the_callers_uniforms():
    ev = evaluator(0.02, judge_noise=0.2)
    ev.record(False, False, 0.1, 0.9, 0.0)      # baseline misread as failed, candidate read right
    ev.record(True, False, 0.5, 0.19, 1.0)      # baseline right (failed), candidate misread as failed
    ev.record(True, True, 0.2, 0.25, 2.0)       # u == noise is not a misread
    assert (ev.true_failure_rate_baseline, ev.true_failure_rate_candidate) == (pytest.approx(2 / 3),
                                                                               pytest.approx(1 / 3))
    assert ev.judged_failure_rate_baseline == pytest.approx(1.0)
    assert ev.judged_failure_rate_candidate == pytest.approx(2 / 3)
    assert ev.judged_difference == pytest.approx(-1 / 3)
    assert ev.difference_estimate == pytest.approx(-1 / 3 / 0.6)           # corrected by 1 - 2e
    assert ev.samples == 3


# ------------------------------------------------------------------------------------------ the score test

def test_restricted_variance_is_the_constrained_maximum_likelihood():
    """Brute force: maximise the multinomial likelihood over q_minus on a fine grid under q_plus - q_minus = delta."""
    for c, b, n, delta in [(12, 7, 200, 0.02), (0, 0, 30, 0.02), (5, 30, 120, -0.1), (40, 3, 90, 0.3)]:
        m = n - b - c
        q = np.linspace(1e-9, (1 - abs(delta)) / 2 - 1e-9, 400_001)
        q_plus, q_minus = (q + delta, q) if delta >= 0 else (q, q - delta)
        loglik = c * np.log(q_plus) + b * np.log(q_minus) + m * np.log(1 - q_plus - q_minus)
        best = q[np.argmax(loglik)]
        expected_v = 2 * best + abs(delta) - delta ** 2
        assert float(restricted_variance(c / n, b / n, delta)) == pytest.approx(expected_v, abs=1e-5)


def test_score_statistic_at_zero_discordance_is_not_degenerate():
    """30 pairs without a disagreement: the Wald variance would be 0; the score test still sees the noise."""
    z = paired_score_statistic(0, 0, 30, 0.02)
    assert z == pytest.approx(-math.sqrt(30 * 0.02 / 0.98))
    assert z > -1.0
    assert paired_score_statistic(3, 3, 100, 0.0) == 0.0
    assert paired_score_statistic(0, 0, 100, 0.0) == 0.0


def test_score_statistic_decreases_in_delta_and_interval_inverts_it():
    deltas = np.linspace(-0.5, 0.5, 2001)
    for c, b, n in [(12, 7, 200), (0, 0, 50), (30, 2, 100)]:
        z = paired_score_statistic(c, b, n, deltas)
        assert np.all(np.diff(z) < 0)
        lower, upper = paired_score_interval(c, b, n, 0.05)
        assert lower < (c - b) / n < upper
        assert paired_score_statistic(c, b, n, upper) == pytest.approx(-1.6448536, abs=1e-6)
        assert paired_score_statistic(c, b, n, lower) == pytest.approx(1.6448536, abs=1e-6)
    # all-concordant: the upper bound has the Wilson-like closed form z^2 / (n + z^2)
    z95 = NormalDist().inv_cdf(0.95)
    assert paired_score_interval(0, 0, 50, 0.05)[1] == pytest.approx(z95 ** 2 / (50 + z95 ** 2), rel=1e-6)


def test_score_interval_covers_like_a_95_percent_bound():
    rng = np.random.default_rng(11)
    covered_upper = covered_lower = 0
    trials = 400
    for _ in range(trials):
        b, c = rng.random(400) < 0.05, rng.random(400) < 0.07
        lower, upper = paired_score_interval(int((c & ~b).sum()), int((b & ~c).sum()), 400, 0.05)
        covered_upper += upper > 0.02
        covered_lower += lower < 0.02
    assert covered_upper / trials >= 0.95 - 3 * math.sqrt(0.05 * 0.95 / trials)
    assert covered_lower / trials >= 0.95 - 3 * math.sqrt(0.05 * 0.95 / trials)


def test_confidence_interval_uses_the_paired_variance():
    """Same marginal counts, but failures on the same prompts (few discordant pairs) -> much narrower."""
    together, apart = evaluator(0.02), evaluator(0.02)
    for i in range(1000):
        fail_b = i % 20 == 0                       # 5% each
        together.record(fail_b, fail_b, 0.5, 0.5, float(i))
        apart.record(fail_b, (i + 10) % 20 == 0, 0.5, 0.5, float(i))
    assert together.difference_estimate == apart.difference_estimate == 0.0
    lo_t, hi_t = together.confidence_interval()
    lo_a, hi_a = apart.confidence_interval()
    assert hi_t - lo_t < 0.3 * (hi_a - lo_a)
    assert lo_a < 0.0 < hi_a
    assert evaluator(0.02).confidence_interval() == (-1.0, 1.0)


# ------------------------------------------------------------------------------------------ sample size

def test_required_samples_closed_form():
    # no noise, independent answers, p = 0.05 both, margin 0.02: between the plain Wald formula (1469)
    # and a little above it (the score test's variance at the margin is slightly larger)
    wald = (1.6448536 + 0.8416212) ** 2 * (2 * 0.05 * 0.95) / 0.02 ** 2
    n = required_samples(0.05, 0.05, 0.02)
    assert wald <= n <= 1.05 * wald
    assert n == 1502
    # more power, more confidence, a better candidate
    assert required_samples(0.05, 0.05, 0.02, power=0.9) > n
    assert required_samples(0.05, 0.05, 0.02, confidence=0.99) > n
    assert required_samples(0.05, 0.04, 0.02) < n
    # independent answers == the explicit independent discordance; correlated failures need fewer pairs
    independent = 0.05 * 0.95 * 2
    assert required_samples(0.05, 0.05, 0.02, paired_discordance=independent) == n
    assert required_samples(0.05, 0.05, 0.02, paired_discordance=0.03) < n / 2


def test_judge_noise_increases_required_samples():
    clean = required_samples(0.05, 0.05, 0.02)
    noisy = required_samples(0.05, 0.05, 0.02, judge_noise=0.1)
    # judged discordance 2 * 0.14 * 0.86 = 0.241 vs 0.095, effect shrunk by 0.8: ~ 0.241 / 0.095 / 0.64 = 4x
    assert 3.5 * clean < noisy < 4.5 * clean
    assert required_samples(0.05, 0.05, 0.02, judge_noise=0.05) < noisy


# ------------------------------------------------------------------------------------------ sequential decisions

def test_equal_candidate_is_promoted_after_about_required_samples():
    needed = required_samples(0.05, 0.05, 0.02)
    evaluators = run_many(0.05, 0.05, 0.02, n_exp=60, seed=1, max_samples=4 * needed)
    decisions = Counter(ev.decision for ev in evaluators)
    assert decisions[PROMOTE] >= 0.85 * len(evaluators)
    median_n = float(np.median([ev.decided_after_samples for ev in evaluators]))
    assert needed / 2 <= median_n <= 2 * needed
    promoted = [ev for ev in evaluators if ev.decision == PROMOTE]
    for ev in promoted:
        assert ev.decision_reason == "upper_bound_below_margin"
        assert ev.bounds_at_decision[1] < 0.02                     # the rule, stated as a bound
        assert (ev.decided_after_samples - ev.config.min_samples) % ev.config.look_every == 0   # only at planned looks


def test_open_ended_evaluator_also_promotes_an_equal_candidate():
    needed = required_samples(0.05, 0.05, 0.02)
    evaluators = run_many(0.05, 0.05, 0.02, n_exp=20, seed=5, horizon=6 * needed)
    assert sum(ev.decision == PROMOTE for ev in evaluators) >= 0.9 * len(evaluators)
    median_n = float(np.median([ev.decided_after_samples or math.inf for ev in evaluators]))
    assert needed <= median_n <= 3 * needed                         # the price of no horizon


def test_clearly_worse_candidate_is_never_promoted():
    evaluators = run_many(0.05, 0.10, 0.02, n_exp=60, seed=2, max_samples=3000)
    assert all(ev.decision == REJECT for ev in evaluators)
    reasons = Counter(ev.decision_reason for ev in evaluators)
    assert reasons["lower_bound_at_or_above_margin"] >= 0.8 * len(evaluators)   # mostly stopped early
    for ev in evaluators:
        if ev.decision_reason == "lower_bound_at_or_above_margin":
            assert ev.bounds_at_decision[0] >= 0.02
            assert ev.decided_after_samples < 3000
        else:
            assert ev.decision_reason == "max_samples_reached"
            assert ev.decided_after_samples == 3000


@pytest.mark.slow
def test_false_promotion_rate_at_the_margin_is_controlled():
    """p_c - p_b = margin exactly (the worst case of H0): 400 experiments of up to 1500 pairs, 30 looks."""
    n_exp, alpha = 400, 0.05
    evaluators = run_many(0.05, 0.07, 0.02, n_exp=n_exp, seed=3, max_samples=1500)
    false_promotions = sum(ev.decision == PROMOTE for ev in evaluators)
    slack = 2 * math.sqrt(alpha * (1 - alpha) / n_exp)
    assert false_promotions / n_exp <= alpha + slack
    assert all(ev.decided for ev in evaluators)


def test_vectorised_replica_matches_the_class():
    rng = np.random.default_rng(8)
    true_b, true_c, u_b, u_c = draws(rng, 25, 2000, 0.05, 0.06)
    decision, decided_n = vectorised_decisions(true_b, true_c, u_b, u_c, 0.02, 0.1, 2000)
    for e in range(25):
        ev = run_one(evaluator(0.02, judge_noise=0.1, max_samples=2000),
                     true_b[e].tolist(), true_c[e].tolist(), u_b[e].tolist(), u_c[e].tolist())
        assert (ev.decision, ev.decided_after_samples) == (decision[e], decided_n[e])


def test_judge_noise_increases_samples_to_decision_empirically():
    rng = np.random.default_rng(4)
    true_b, true_c, u_b, u_c = draws(rng, 100, 24_000, 0.05, 0.05)
    clean, clean_n = vectorised_decisions(true_b, true_c, u_b, u_c, 0.02, 0.0, 24_000)
    noisy, noisy_n = vectorised_decisions(true_b, true_c, u_b, u_c, 0.02, 0.1, 24_000)
    assert (clean == PROMOTE).mean() >= 0.95 and (noisy == PROMOTE).mean() >= 0.8
    ratio = np.median(noisy_n) / np.median(clean_n)
    assert ratio > 2.5                                     # required_samples says ~3.9x


def test_noise_correction_keeps_the_false_promotion_rate():
    """True difference = margin, judge misreads 20%: the judged difference is only 0.6 * margin. Tested
    against the raw margin (a naive evaluator) the candidate is promoted often; corrected, rarely."""
    rng = np.random.default_rng(6)
    n_exp, max_samples = 200, 8000
    true_b, true_c, u_b, u_c = draws(rng, n_exp, max_samples, 0.20, 0.30)
    corrected, _ = vectorised_decisions(true_b, true_c, u_b, u_c, 0.10, 0.2, max_samples)
    naive, _ = vectorised_decisions(true_b, true_c, u_b, u_c, 0.10, 0.2, max_samples, tested_noise=0.0)
    assert (corrected == PROMOTE).mean() <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / n_exp)
    assert (naive == PROMOTE).mean() >= 0.5


def test_decision_time_and_samples_are_recorded_and_final():
    ev = evaluator(0.05, min_samples=30, look_every=10, max_samples=200)
    assert ev.decision == UNDECIDED and ev.decided_at_s is None and ev.decided_after_samples is None
    for i in range(200):                                   # identical, never-failing models
        ev.record(False, False, 0.5, 0.5, 100.0 + 0.5 * i)
        if ev.decided:
            break
    assert ev.decision == PROMOTE
    n = ev.decided_after_samples
    assert n in [ev.look_samples(k) for k in range(1, ev.planned_looks + 1)]
    assert ev.decided_at_s == pytest.approx(100.0 + 0.5 * (n - 1))
    # the decision is final; recording goes on for reporting
    for i in range(50):
        ev.record(False, True, 0.5, 0.5, 1000.0 + i)
    assert ev.decision == PROMOTE and ev.decided_after_samples == n and ev.samples == n + 50
    summary = ev.summary()
    assert summary["decision"] == "promote" and summary["decided_after_samples"] == n
    assert summary["decided_at_s"] == ev.decided_at_s
    assert summary["upper_at_decision"] < 0.05
    assert all(isinstance(v, (str, int, float, type(None))) for v in summary.values())


def test_max_samples_without_promotion_rejects():
    ev = evaluator(0.02, min_samples=30, look_every=50, max_samples=100)
    assert ev.planned_looks == 3 and [ev.look_samples(k) for k in (1, 2, 3)] == [30, 80, 100]
    assert ev.look_alpha(1) == pytest.approx(0.05 / 3)
    for i in range(100):
        ev.record(i % 10 == 0, i % 10 == 0, 0.5, 0.5, float(i))     # equal, but far too few pairs
    assert ev.decision == REJECT and ev.decision_reason == "max_samples_reached"
    assert ev.decided_after_samples == 100 and ev.decided_at_s == 99.0
    assert [look.samples for look in ev.looks] == [30, 80, 100]


def test_open_ended_spending_sums_to_alpha():
    ev = evaluator(0.02)
    assert ev.planned_looks is None
    total = sum(ev.look_alpha(k) for k in range(1, 200_001))
    assert 0.049 < total <= 0.05
    assert ev.look_alpha(1) > ev.look_alpha(2) > ev.look_alpha(100)


# ------------------------------------------------------------------------------------------ validation

@pytest.mark.parametrize("kwargs, name", [
    ({"margin": -0.01}, "margin"), ({"margin": 1.0}, "margin"), ({"margin": float("nan")}, "margin"),
    ({"margin": "0.02"}, "margin"),
    ({"margin": 0.02, "confidence": 1.0}, "confidence"), ({"margin": 0.02, "confidence": 0.4}, "confidence"),
    ({"margin": 0.02, "judge_noise": 0.5}, "judge_noise"), ({"margin": 0.02, "judge_noise": -0.1}, "judge_noise"),
    ({"margin": 0.02, "min_samples": 0}, "min_samples"), ({"margin": 0.02, "min_samples": 2.5}, "min_samples"),
    ({"margin": 0.02, "look_every": 0}, "look_every"), ({"margin": 0.02, "look_every": True}, "look_every"),
    ({"margin": 0.02, "max_samples": 10}, "max_samples"), ({"margin": 0.02, "max_samples": 100.0}, "max_samples"),
])
def test_evaluator_rejects_bad_arguments_naming_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ShadowEvaluator(ShadowConfig(**kwargs))


def test_record_rejects_bad_uniforms():
    ev = evaluator(0.02)
    with pytest.raises(ValueError, match="u_baseline"):
        ev.record(False, False, 1.5, 0.5, 0.0)
    with pytest.raises(ValueError, match="u_candidate"):
        ev.record(False, False, 0.5, float("nan"), 0.0)
    assert ev.samples == 0


@pytest.mark.parametrize("kwargs, name", [
    ({"p_baseline": 1.2}, "p_baseline"), ({"p_candidate": -0.1}, "p_candidate"),
    ({"p_candidate": 0.08}, "p_candidate"),                 # worse than the margin: no test can pass
    ({"margin": 0.0, "p_candidate": 0.05}, "p_candidate"), ({"margin": 1.5}, "margin"),
    ({"confidence": 0.0}, "confidence"), ({"power": 1.0}, "power"), ({"judge_noise": 0.5}, "judge_noise"),
    ({"paired_discordance": 0.5}, "paired_discordance"), ({"paired_discordance": -0.1}, "paired_discordance"),
])
def test_required_samples_rejects_bad_arguments_naming_the_parameter(kwargs, name):
    args = {"p_baseline": 0.05, "p_candidate": 0.05, "margin": 0.02, **kwargs}
    with pytest.raises(ValueError, match=name):
        required_samples(**args)


def test_judged_rate_rejects_bad_arguments():
    with pytest.raises(ValueError, match="true_rate"):
        judged_rate(1.1, 0.1)
    with pytest.raises(ValueError, match="judge_noise"):
        judged_rate(0.1, 0.6)
