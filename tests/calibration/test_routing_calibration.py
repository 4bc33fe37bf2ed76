"""The quality model against RouteLLM: PGR curves of threshold routing, a cascade's closed form, the chart."""
import numpy as np
import pytest

from sim.calibration.routing import (EXAMPLE_CHEAP_CALL_USD, EXAMPLE_STRONG_CALL_USD, ROUTELLM_POINTS, call_cost_usd,
                                    cascade_point, pgr_curve, quality_gap_recovered, routing_calibration,
                                    simulate_cascade, strong_share_for_pgr)
from sim.model.quality import QualityModel, QualityParams
from sim.policies.router import Router
from sim.report.calibration_charts import routing_calibration_chart

TOLERANCE = 0.04        # +-4 points of strong share (or of PGR) around RouteLLM's published points
N = 200_000


# ------------------------------------------------------------------------------------------ PGR curves

@pytest.fixture(scope="module")
def curve():
    return pgr_curve(QualityParams(), [0.5, 0.9, 1.0], [0.13, 0.2, 0.3, 0.5], n_requests=N,
                     strong_call_usd=EXAMPLE_STRONG_CALL_USD, cheap_call_usd=EXAMPLE_CHEAP_CALL_USD)


def at(curve, auc, share):
    row = curve[(curve["auc"] == auc) & np.isclose(curve["target_strong_share"], share)]
    assert len(row) == 1
    return row.iloc[0]


@pytest.mark.parametrize("auc, share, pgr", ROUTELLM_POINTS)
def test_routellm_share_needed_for_pgr(auc, share, pgr):
    assert strong_share_for_pgr(QualityParams(), auc, pgr, n_requests=N) == pytest.approx(share, abs=TOLERANCE)


@pytest.mark.parametrize("auc, share, pgr", ROUTELLM_POINTS)
def test_routellm_pgr_at_share(curve, auc, share, pgr):
    row = at(curve, auc, share)
    assert row["strong_call_share"] == pytest.approx(share, abs=1e-5)
    assert row["pgr"] == pytest.approx(pgr, abs=TOLERANCE)


def test_perfect_router_recovers_everything_at_the_needs_strong_share(curve):
    assert at(curve, 1.0, 0.2)["pgr"] == pytest.approx(1.0, abs=0.01)
    assert at(curve, 1.0, 0.13)["pgr"] == pytest.approx(0.13 / 0.2, abs=0.01)


def test_base_error_gap_breaks_the_calibration():
    # A cheap model worse on easy requests too puts part of the gap where only volume helps.
    params = QualityParams(cheap_error=0.04)
    assert strong_share_for_pgr(params, 0.9, 0.8, n_requests=N) > 0.30 + TOLERANCE


def test_curve_and_cpt_agree():
    params = QualityParams()
    share = strong_share_for_pgr(params, 0.75, 0.8, n_requests=N)
    row = pgr_curve(params, 0.75, [share], n_requests=N).iloc[0]
    assert row["pgr"] == pytest.approx(0.8, abs=1e-4)


def test_curve_reports_cost_and_quality_together(curve):
    row = at(curve, 0.9, 0.3)
    assert row["error_rate_all_cheap"] == pytest.approx(0.08, abs=0.002)
    assert row["error_rate_all_strong"] == pytest.approx(0.02)
    assert quality_gap_recovered(row["error_rate"], row["error_rate_all_cheap"],
                                 row["error_rate_all_strong"]) == pytest.approx(row["pgr"])
    assert row["error_rate_all_strong"] < row["error_rate"] < row["error_rate_all_cheap"]
    assert row["cost_per_request_usd"] == pytest.approx(0.3 * 0.009 + 0.7 * 0.0024, rel=1e-4)
    assert row["cost_vs_all_strong"] == pytest.approx(row["cost_per_request_usd"] / 0.009)


def test_example_prices():
    assert EXAMPLE_STRONG_CALL_USD == pytest.approx(0.009)
    assert EXAMPLE_CHEAP_CALL_USD == pytest.approx(0.0024)
    assert call_cost_usd(1e6, 0, 3.0, 15.0) == pytest.approx(3.0)


# ------------------------------------------------------------------------------------------ cascade

def test_cascade_accounting_pays_both_calls():
    model, router = QualityModel(), Router("cascade", cascade_recall=0.8, cascade_false_escalation=0.1)
    rng = np.random.default_rng(4)
    needs = rng.random(N) < 0.2
    out = simulate_cascade(rng, router, model, needs, cheap_call_usd=0.0024, strong_call_usd=0.009)
    np.testing.assert_array_equal(out.llm_calls, np.where(out.escalated, 2, 1))
    np.testing.assert_allclose(out.cost_usd, np.where(out.escalated, 0.0024 + 0.009, 0.0024))
    np.testing.assert_array_equal(out.final_wrong[~out.escalated], out.cheap_wrong[~out.escalated])
    p_cheap_wrong = 0.02 + 0.3 * needs.mean()
    assert out.escalated.mean() == pytest.approx(p_cheap_wrong * 0.8 + (1 - p_cheap_wrong) * 0.1, abs=0.003)
    expected = cascade_point(QualityParams(), 0.8, 0.1, n_requests=N, strong_call_usd=0.009,
                             cheap_call_usd=0.0024)
    assert out.cost_usd.mean() == pytest.approx(expected["cost_per_request_usd"], rel=0.01)
    assert out.final_wrong.mean() == pytest.approx(expected["error_rate"], abs=0.002)


@pytest.mark.parametrize("recall, false_escalation", [(0.8, 0.1), (0.95, 0.3)])
def test_cascade_recovers_its_recall_and_never_beats_all_strong(recall, false_escalation):
    point = cascade_point(QualityParams(), recall, false_escalation, n_requests=50_000)
    assert point["pgr"] == pytest.approx(recall, abs=1e-9)
    assert point["llm_calls_per_request"] == pytest.approx(1 + point["strong_call_share"])
    assert point["error_rate"] >= 0.02


# ------------------------------------------------------------------------------------------ chart

def test_calibration_chart_is_written(tmp_path):
    calibration = routing_calibration(n_requests=20_000, aucs=(0.5, 0.9))
    assert sorted(calibration.curve["auc"].unique()) == [0.5, 0.9] and len(calibration.cascade_points) == 2
    path = routing_calibration_chart(tmp_path / "routing.png", calibration)
    assert path.exists() and path.stat().st_size > 10_000
    assert [p.name for p in tmp_path.iterdir()] == ["routing.png"]
