"""The similarity model against three references, and the cache-only replay they run on.

(a) production claim: 35-50% hits at cosine 0.95 with < 1% false hits (defaults);
(b) GPTCache's published benchmark shape (GPTCACHE_BENCHMARK_PARAMS);
(c) real all-MiniLM-L6-v2 cosines of SemEval-2016 STS question pairs (needs ../shared/data).
"""
from pathlib import Path

import numpy as np
import pytest

from sim.calibration.similarity import (GPTCACHE_BENCHMARK_PARAMS, REAL_PAIRS_NPZ, load_real_pairs,
                                        pair_cosine_groups, paraphrase_pair_cosines, preloaded_benchmark,
                                        production_stream_benchmark, real_pair_groups, real_pairs_cache_benchmark,
                                        replay_stream, sibling_pair_cosines, unrelated_pair_cosines)
from sim.model.similarity import AnswerVersions, SimilarityModel, SimilarityParams
from sim.policies.semantic_cache import SemanticCache
from sim.report.calibration_charts import similarity_calibration_chart
from tests.conftest import SHARED_DATA, shared_data

REAL = "paraphrase/sts2016_question_question/minilm_embeddings.npz"


def small_model(seed=0, **kw):
    params = SimilarityParams(**({"n_intents": 500, "n_topics": 50} | kw))
    return SimilarityModel(params, np.random.default_rng(seed))


def test_the_default_real_data_path_is_the_shared_folder_beside_the_repo():
    repo = Path(__file__).resolve().parents[2]          # tests/calibration/this file -> the repo root
    assert (repo / "sim").is_dir()
    assert REAL_PAIRS_NPZ.resolve() == (repo / ".." / "shared" / "data" / REAL).resolve()


def test_pair_cosines_follow_the_closed_forms_when_spreads_are_fixed():
    m = small_model(paraphrase_noise_log_sd=0.0, sibling_spread_log_sd=0.0, dim=256)
    rng = np.random.default_rng(1)
    sigma2, s2 = 0.45 ** 2, 0.9 ** 2
    assert np.median(paraphrase_pair_cosines(m, rng, 4000)) == pytest.approx(1 / (1 + sigma2), abs=0.01)
    assert np.median(sibling_pair_cosines(m, rng, 4000)) == pytest.approx(1 / ((1 + s2) * (1 + sigma2)), abs=0.02)
    unrelated = unrelated_pair_cosines(m, rng, 4000)
    assert abs(np.mean(unrelated)) < 0.01 and np.std(unrelated) == pytest.approx(1 / np.sqrt(256), rel=0.1)


def test_replay_counts_false_and_stale_hits():
    e1, e2 = np.array([1.0, 0.0], np.float32), np.array([0.96, 0.28], np.float32)
    vectors = np.stack([e1, e1, e2, e1])
    intents = np.array([0, 0, 1, 0])                # e2 is intent 1 but lies at 0.96 of intent 0's entry
    versions = AnswerVersions(np.random.default_rng(0), 2, np.array([1e-9, 0.0]))
    versions._times[0] = [2.5]                      # intent 0's answer changes at t = 2.5 (then in ~30 years)
    cache = SemanticCache(2, 10, threshold=0.95)
    out = replay_stream(cache, vectors, intents, np.array([0.0, 1.0, 2.0, 3.0]), versions=versions)
    assert out["hit"].tolist() == [False, True, True, True]
    assert out["correct"].tolist() == [False, True, False, True]
    assert out["stale"].tolist() == [False, False, False, True]
    assert len(cache) == 1


# ---------------------------------------------------------------------- calibration (a): production claim
@pytest.mark.slow
def test_a_defaults_give_35_to_50_percent_hits_at_095_with_under_1_percent_false_hits():
    strict, lax = production_stream_benchmark(n_queries=60_000, thresholds=(0.95, 0.80), seed=0)
    print(f"\n(a) defaults, 60k queries, second half: 0.95 -> {strict['hit_rate']:.1%} hits "
          f"({strict['false_hit_rate']:.2%} false, fresh paraphrases {strict['hit_rate_fresh_paraphrase']:.1%}); "
          f"0.80 -> {lax['hit_rate']:.1%} hits ({lax['false_hit_rate']:.2%} false)")
    assert 0.35 <= strict["hit_rate"] <= 0.50
    assert strict["false_hit_rate"] < 0.01
    assert strict["hit_rate_repeat"] == 1.0                   # verbatim repeats always hit (no TTL, no eviction)
    assert strict["hit_rate_fresh_paraphrase"] < 0.25         # fresh paraphrases mostly miss at 0.95
    assert lax["hit_rate"] > strict["hit_rate"] + 0.2 and lax["false_hit_rate"] > strict["false_hit_rate"]


def test_a_without_verbatim_repeats_the_claim_fails():
    params = SimilarityParams(repeat_share=0.0)
    (row,) = production_stream_benchmark(params, n_queries=30_000, thresholds=(0.95,), seed=0)
    print(f"\n(a) repeat_share = 0: {row['hit_rate']:.1%} hits at 0.95")
    assert row["hit_rate"] < 0.25


# ---------------------------------------------------------------------- calibration (b): GPTCache's shape
@pytest.mark.parametrize("threshold,hit_rate,precision", [(0.90, 0.45, 0.94), (0.80, 0.88, 0.91),
                                                          (0.60, 1.00, 0.91)])
def test_b_gptcache_benchmark_shape(threshold, hit_rate, precision):
    rows = {r["threshold"]: r for r in preloaded_benchmark(GPTCACHE_BENCHMARK_PARAMS, seed=0)}
    row = rows[threshold]
    print(f"\n(b) >= {threshold}: {row['hit_rate']:.1%} hits, {row['precision']:.1%} precision")
    assert row["hit_rate"] == pytest.approx(hit_rate, abs=0.05)
    assert row["precision"] == pytest.approx(precision, abs=0.05)


def test_b_production_defaults_do_not_reproduce_gptcache_but_do_reproduce_real_minilm_pairs():
    """GPTCache's pairs are closer than real MiniLM paraphrases. The production set in the same pre-loaded
    test hits far less at 0.90 -- and lands on the real pairs' rates from SOURCE.md (59% at 0.80, 24% at 0.90)."""
    rows = {r["threshold"]: r for r in preloaded_benchmark(SimilarityParams(n_intents=999, n_topics=70))}
    assert rows[0.90]["hit_rate"] < 0.35
    assert rows[0.90]["hit_rate"] == pytest.approx(0.24, abs=0.06)
    assert rows[0.80]["hit_rate"] == pytest.approx(0.59, abs=0.06)
    assert rows[0.80]["precision"] > 0.97


# ---------------------------------------------------------------------- calibration (c): real MiniLM pairs
@pytest.fixture(scope="module")
def real_pairs():
    return load_real_pairs(shared_data(REAL))


def test_c_model_pair_cosines_match_real_minilm_pairs(real_pairs):
    real = real_pair_groups(real_pairs)
    m = SimilarityModel(SimilarityParams(), np.random.default_rng(0))
    rng = np.random.default_rng(1)
    para, sib = paraphrase_pair_cosines(m, rng, 20_000), sibling_pair_cosines(m, rng, 20_000)
    unrelated = unrelated_pair_cosines(m, rng, 20_000)
    assert np.median(real["paraphrase"]) == pytest.approx(0.84, abs=0.01)        # SOURCE.md's figures
    assert np.median(real["non_paraphrase"]) == pytest.approx(0.43, abs=0.01)
    assert np.median(para) == pytest.approx(np.median(real["paraphrase"]), abs=0.03)
    assert np.median(sib) == pytest.approx(np.median(real["non_paraphrase"]), abs=0.03)
    assert np.median(unrelated) == pytest.approx(np.median(real["random"]), abs=0.06)
    for t in (0.80, 0.90, 0.95):       # the share of paraphrases a threshold lets through
        assert (para >= t).mean() == pytest.approx((real["paraphrase"] >= t).mean(), abs=0.06)
    for q in (5, 25, 75, 95):
        assert np.percentile(sib, q) == pytest.approx(np.percentile(real["non_paraphrase"], q), abs=0.05)


def test_c_calibration_chart_is_written(tmp_path):
    shared_data(REAL)
    real = real_pair_groups(load_real_pairs(SHARED_DATA / REAL))
    path = similarity_calibration_chart(tmp_path / "calibration.png", pair_cosine_groups(n_pairs=5000), real)
    assert path.exists() and path.stat().st_size > 10_000
    assert [p.name for p in tmp_path.iterdir()] == ["calibration.png"]


@pytest.mark.slow
def test_c_cache_search_on_real_vectors(real_pairs):
    rows = {r["threshold"]: r for r in real_pairs_cache_benchmark(real_pairs)}
    print("\n(c) real MiniLM vectors, cache of all q1, queried with q2:")
    for t, r in rows.items():
        print(f"  >= {t:.2f}: paraphrases {r['para_hit_rate']:.1%} hit, precision {r['para_precision']:.1%}; "
              f"non-paraphrases matched to their own q1 {r['nonpara_false_match_rate']:.1%}; "
              f"pairwise {r['para_pair_rate']:.1%} / {r['nonpara_pair_rate']:.1%}")
    # SOURCE.md: at >= 0.80 about 59% of paraphrase pairs match with about 1% false matches, at >= 0.90 about 24%
    assert rows[0.80]["para_pair_rate"] == pytest.approx(0.59, abs=0.01)
    assert rows[0.80]["nonpara_pair_rate"] == pytest.approx(0.013, abs=0.005)
    assert rows[0.90]["para_pair_rate"] == pytest.approx(0.24, abs=0.01) and rows[0.90]["nonpara_pair_rate"] == 0
    # the cache finds at least the pairwise matches (plus verbatim duplicates elsewhere), and only right ones
    assert rows[0.80]["para_hit_rate"] == pytest.approx(0.59, abs=0.05)
    assert rows[0.90]["para_hit_rate"] == pytest.approx(0.24, abs=0.06)
    assert rows[0.80]["para_precision"] == 1.0 and rows[0.90]["para_precision"] == 1.0
    assert rows[0.95]["para_hit_rate"] < 0.15                 # real paraphrases rarely reach 0.95


@pytest.mark.slow
def test_c_cache_top1_is_exact_on_real_vectors(real_pairs):
    q1, q2 = real_pairs["q1"], real_pairs["q2"]
    cache = SemanticCache(q1.shape[1], len(q1), threshold=0.0)
    for row in range(len(q1)):
        cache.insert(q1[row], 0.0, row)
    found = np.array([cache.lookup(q, 0.0).similarity for q in q2])
    assert np.allclose(found, (q2 @ q1.T).max(axis=1), atol=1e-5)
