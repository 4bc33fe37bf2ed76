"""Router: the score model hits its AUC, thresholds hit their share, each strategy routes as documented."""
import math

import numpy as np
import pytest

from sim.calibration.routing import empirical_auc
from sim.policies.router import MAX_SEPARATION, Router, router_scores, score_separation, threshold_for_strong_share

N_SCORES = 100_000
NEEDS_STRONG_SHARE = 0.2


@pytest.fixture(scope="module")
def needs_strong():
    return np.random.default_rng(11).random(N_SCORES) < NEEDS_STRONG_SHARE


# ------------------------------------------------------------------------------------------ score model

def test_separation_is_binormal_formula():
    assert score_separation(0.5) == 0.0
    assert score_separation(0.9) == pytest.approx(math.sqrt(2) * 1.2815516, abs=1e-6)
    assert score_separation(1.0) == MAX_SEPARATION
    for bad in (0.49, 1.01, -0.1):
        with pytest.raises(ValueError):
            score_separation(bad)


def test_rank_formula_on_hand_examples():
    # positives score 2 and 4, negatives 1 and 3: 3 of the 4 pairs are ordered right
    assert empirical_auc([1, 2, 3, 4], [0, 1, 0, 1]) == 0.75
    assert empirical_auc([5, 5], [0, 1]) == 0.5                 # a tie counts one half
    assert empirical_auc([1, 2, 3], [0, 0, 1]) == 1.0
    with pytest.raises(ValueError):
        empirical_auc([1, 2], [1, 1])


@pytest.mark.parametrize("auc", [0.6, 0.75, 0.9, 0.99])
def test_empirical_auc_matches_the_knob(auc, needs_strong):
    scores = router_scores(np.random.default_rng(int(auc * 1000)), needs_strong, auc)
    assert empirical_auc(scores, needs_strong) == pytest.approx(auc, abs=0.01)


def test_random_router_carries_no_information(needs_strong):
    scores = router_scores(np.random.default_rng(5), needs_strong, 0.5)
    assert empirical_auc(scores, needs_strong) == pytest.approx(0.5, abs=0.01)


def test_perfect_router_separates_completely(needs_strong):
    scores = router_scores(np.random.default_rng(6), needs_strong, 1.0)
    assert scores[needs_strong].min() > scores[~needs_strong].max()


def test_router_scores_uses_its_own_auc(needs_strong):
    router = Router("threshold", auc=0.75)
    a = router.scores(np.random.default_rng(9), needs_strong)
    b = router_scores(np.random.default_rng(9), needs_strong, 0.75)
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------------------ thresholds

@pytest.mark.parametrize("share", [0.0, 0.001, 0.13, 0.3, 0.5, 1.0])
def test_threshold_for_strong_share_is_exact(share):
    scores = np.random.default_rng(1).standard_normal(10_000)
    t = threshold_for_strong_share(scores, share)
    assert int((scores >= t).sum()) == round(share * scores.size)


def test_threshold_edges_and_errors():
    assert threshold_for_strong_share([3.0, 1.0, 2.0], 0.0) == math.inf
    assert threshold_for_strong_share([3.0, 1.0, 2.0], 1.0) == 1.0
    assert threshold_for_strong_share([3.0, 1.0, 2.0], 1 / 3) == 3.0
    with pytest.raises(ValueError):
        threshold_for_strong_share([1.0], 1.5)
    with pytest.raises(ValueError):
        threshold_for_strong_share([], 0.5)


# ------------------------------------------------------------------------------------------ strategies

def test_fixed_routes_one_tier():
    strong, cheap = Router("fixed"), Router("fixed", fixed_tier="cheap")
    assert {strong.route(s, u) for s, u in [(-9, 0.0), (9, 0.99)]} == {"strong"}
    assert {cheap.route(s, u) for s, u in [(-9, 0.0), (9, 0.99)]} == {"cheap"}
    assert (strong.routed_strong, strong.routed_cheap) == (2, 0)
    assert not cheap.route_many(np.array([-1.0, 5.0])).any()


def test_threshold_routes_on_score_at_or_above():
    router = Router("threshold", threshold=0.7)
    assert router.route(0.7, 0.0) == "strong"
    assert router.route(0.6999, 0.0) == "cheap"
    assert router.route(2.0, 0.99) == "strong"          # u plays no part
    assert (router.routed_strong, router.routed_cheap) == (2, 1)


def test_weighted_splits_by_uniform():
    router = Router("weighted", weight=0.3)
    assert router.route(100.0, 0.29) == "strong"
    assert router.route(100.0, 0.30) == "cheap"           # the score plays no part
    u = np.random.default_rng(2).random(50_000)
    assert router.route_many(np.zeros_like(u), u).mean() == pytest.approx(0.3, abs=0.01)
    with pytest.raises(ValueError):
        router.route_many(np.zeros(3))


def test_cascade_first_call_is_always_cheap():
    router = Router("cascade")
    assert router.route(100.0, 0.0) == "cheap"
    assert not router.route_many(np.array([100.0, -100.0])).any()


def test_cascade_escalation_probabilities():
    router = Router("cascade", cascade_recall=0.8, cascade_false_escalation=0.1)
    assert router.escalate(True, 0.79) and not router.escalate(True, 0.8)
    assert router.escalate(False, 0.09) and not router.escalate(False, 0.1)
    assert (router.cascade_checks, router.escalated) == (4, 2)
    u = np.random.default_rng(3).random(100_000)
    wrong = np.random.default_rng(4).random(100_000) < 0.25
    escalated = router.escalate_many(wrong, u)
    assert escalated[wrong].mean() == pytest.approx(0.8, abs=0.01)
    assert escalated[~wrong].mean() == pytest.approx(0.1, abs=0.01)
    assert escalated.mean() == pytest.approx(0.25 * 0.8 + 0.75 * 0.1, abs=0.01)


def test_only_cascade_escalates():
    with pytest.raises(ValueError):
        Router("threshold").escalate(True, 0.0)
    with pytest.raises(ValueError):
        Router("fixed").escalate_many(np.array([True]), np.array([0.0]))


def test_vectorised_routing_agrees_with_scalar():
    rng = np.random.default_rng(8)
    scores, u = rng.standard_normal(500), rng.random(500)
    for router in (Router("threshold", threshold=0.4), Router("weighted", weight=0.6), Router("cascade"),
                   Router("fixed", fixed_tier="cheap")):
        scalar = np.array([router.route(s, x) == "strong" for s, x in zip(scores, u)])
        np.testing.assert_array_equal(router.route_many(scores, u), scalar)


@pytest.mark.parametrize("kwargs", [dict(strategy="smart"), dict(strategy="fixed", fixed_tier="medium"),
                                    dict(strategy="weighted", weight=1.5), dict(strategy="threshold", auc=0.3),
                                    dict(strategy="cascade", cascade_recall=-0.1),
                                    dict(strategy="threshold", threshold=float("nan"))])
def test_invalid_settings_are_refused(kwargs):
    strategy = kwargs.pop("strategy")
    with pytest.raises(ValueError):
        Router(strategy, **kwargs)


def test_threshold_share_on_router_scores_routes_that_share(needs_strong):
    router_scores_ = router_scores(np.random.default_rng(10), needs_strong, 0.9)
    router = Router("threshold", threshold=threshold_for_strong_share(router_scores_, 0.13))
    to_strong = router.route_many(router_scores_)
    assert to_strong.mean() == pytest.approx(0.13, abs=1e-5)
    # a good router sends mostly the requests that need it: at AUC 0.9, half of them at 13% strong calls
    assert to_strong[needs_strong].mean() == pytest.approx(0.5, abs=0.02)
