"""The quality model: errors by model strength and complexity (its calibration: tests/calibration/)."""
import numpy as np
import pytest

from sim.model.quality import QualityModel, QualityParams, needs_strong_share

N = 200_000


# ------------------------------------------------------------------------------------------ the quality model

def test_defaults_make_the_hardest_fifth_need_the_strong_model():
    params = QualityParams()
    assert params.needs_strong_complexity == pytest.approx(0.4224, abs=1e-4)
    assert needs_strong_share(params) == pytest.approx(0.2, abs=1e-9)
    complexity = np.random.default_rng(0).beta(2, 5, N)
    assert QualityModel(params).draw_needs_strong(None, complexity).mean() == pytest.approx(0.2, abs=0.005)


def test_probabilistic_flag_keeps_the_share():
    params = QualityParams.for_share(0.2, needs_strong_width=0.05)
    assert needs_strong_share(params) == pytest.approx(0.2, abs=1e-6)
    complexity = np.random.default_rng(1).beta(2, 5, N)
    flags = QualityModel(params).draw_needs_strong(np.random.default_rng(2), complexity)
    assert flags.mean() == pytest.approx(0.2, abs=0.005)
    assert flags[complexity < 0.3].any() and not flags[complexity > 0.6].all()     # it is not a step


def test_p_wrong_values():
    model = QualityModel(QualityParams(strong_error=0.02, cheap_error=0.04, hard_extra_error=0.3))
    np.testing.assert_allclose(model.p_wrong_given_need("cheap", [0, 1]), [0.04, 0.34])
    np.testing.assert_allclose(model.p_wrong_given_need("strong", [0, 1]), [0.02, 0.02])
    np.testing.assert_allclose(model.p_wrong_given_need(0.5, [0, 1]), [0.03, 0.18])
    np.testing.assert_allclose(model.p_wrong_given_need("cheap", [0, 1], base_error=0.1), [0.1, 0.4])
    for bad in ("medium", 1.5, -0.1):
        with pytest.raises(ValueError):
            model.p_wrong(bad, [0.5])


@pytest.mark.parametrize("width", [0.0, 0.05])
def test_p_wrong_rises_with_complexity_for_a_weak_model_only(width):
    model = QualityModel(QualityParams.for_share(0.2, needs_strong_width=width))
    complexity = np.linspace(0, 1, 201)
    for weak in ("cheap", 0.3):
        p = model.p_wrong(weak, complexity)
        assert np.all(np.diff(p) >= 0)
        assert p[-1] - p[0] > 0.9 * model.params.hard_extra_error * (1 - model.strength(weak))
        if width:
            assert np.all(np.diff(p[40:120]) > 0)      # strictly rising through the middle
    assert np.ptp(model.p_wrong("strong", complexity)) == 0


def test_errors_are_nested_when_models_share_the_request_draw():
    model = QualityModel()
    rng = np.random.default_rng(3)
    needs, u = rng.random(N) < 0.2, rng.random(N)
    cheap, strong = model.is_wrong("cheap", needs, u), model.is_wrong("strong", needs, u)
    assert not np.any(strong & ~cheap)
    assert cheap.mean() == pytest.approx(0.02 + 0.2 * 0.3, abs=0.003)


def test_params_are_validated():
    with pytest.raises(ValueError):
        QualityParams(strong_error=1.2)
    with pytest.raises(ValueError):
        QualityParams(needs_strong_width=-0.1)
    with pytest.raises(ValueError):
        QualityParams.for_share(0.0)


def test_the_written_out_default_midpoint_is_the_beta_quantile_it_stands_for():
    """The default needs-strong complexity is written out (no scipy at import); it must be the 80th
    percentile of the default Beta(2, 5) complexity, so 20% of requests need the strong model."""
    from scipy.special import betaincinv

    from sim.model.quality import (DEFAULT_COMPLEXITY_ALPHA, DEFAULT_COMPLEXITY_BETA,
                                   DEFAULT_NEEDS_STRONG_SHARE, QualityParams)
    assert QualityParams().needs_strong_complexity == float(
        betaincinv(DEFAULT_COMPLEXITY_ALPHA, DEFAULT_COMPLEXITY_BETA, 1.0 - DEFAULT_NEEDS_STRONG_SHARE))
