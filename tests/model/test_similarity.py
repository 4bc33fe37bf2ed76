"""The similarity model: geometry, repeats, answer versions, and its calibration against three references.

(a) production claim: 35-50% hits at cosine 0.95 with < 1% false hits (defaults);
(b) GPTCache's published benchmark shape (GPTCACHE_BENCHMARK_PARAMS);
(c) real all-MiniLM-L6-v2 cosines of SemEval-2016 STS question pairs (needs ../shared/data).
"""
import time
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
    repo = Path(__file__).resolve().parents[2]          # tests/model/this file -> the repo root
    assert (repo / "sim").is_dir()
    assert REAL_PAIRS_NPZ.resolve() == (repo / ".." / "shared" / "data" / REAL).resolve()


def test_centroids_are_unit_float32_and_intents_have_topics():
    m = small_model()
    assert m.intent_centroids.shape == (500, 64) and m.intent_centroids.dtype == np.float32
    assert np.allclose(np.linalg.norm(m.intent_centroids, axis=1), 1, atol=1e-5)
    assert m.topic_of_intent.min() >= 0 and m.topic_of_intent.max() < 50
    # an intent is nearer its own topic's centroid than the others'
    own = np.einsum("ij,ij->i", m.intent_centroids, m.topic_centroids[m.topic_of_intent])
    assert (np.argmax(m.intent_centroids @ m.topic_centroids.T, axis=1) == m.topic_of_intent).mean() > 0.95
    assert np.median(own) == pytest.approx(1 / np.sqrt(1 + 0.9 ** 2), abs=0.05)


def test_pair_cosines_follow_the_closed_forms_when_spreads_are_fixed():
    m = small_model(paraphrase_noise_log_sd=0.0, sibling_spread_log_sd=0.0, dim=256)
    rng = np.random.default_rng(1)
    sigma2, s2 = 0.45 ** 2, 0.9 ** 2
    assert np.median(paraphrase_pair_cosines(m, rng, 4000)) == pytest.approx(1 / (1 + sigma2), abs=0.01)
    assert np.median(sibling_pair_cosines(m, rng, 4000)) == pytest.approx(1 / ((1 + s2) * (1 + sigma2)), abs=0.02)
    unrelated = unrelated_pair_cosines(m, rng, 4000)
    assert abs(np.mean(unrelated)) < 0.01 and np.std(unrelated) == pytest.approx(1 / np.sqrt(256), rel=0.1)


def test_query_vectors_repeat_earlier_paraphrases_of_the_same_intent():
    m = small_model(repeat_share=0.4)
    rng = np.random.default_rng(2)
    intents = rng.integers(0, 500, 20_000)
    vectors, pids, is_repeat = m.query_vectors(rng, intents)
    assert vectors.dtype == np.float32 and vectors.shape == (20_000, 64)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    fresh = np.flatnonzero(~is_repeat)
    assert (pids[fresh] == np.arange(len(fresh))).all()          # numbered in stream order
    first_position = np.full(pids.max() + 1, -1)
    first_position[pids[fresh]] = fresh
    source = first_position[pids[is_repeat]]
    assert (source < np.flatnonzero(is_repeat)).all()            # an *earlier* paraphrase
    assert (intents[source] == intents[is_repeat]).all()         # of the same intent
    assert (vectors[source] == vectors[is_repeat]).all()         # the identical vector
    _, first_of_intent = np.unique(intents, return_index=True)
    assert not is_repeat[first_of_intent].any()
    eligible = np.ones(len(intents), bool)
    eligible[first_of_intent] = False
    assert is_repeat[eligible].mean() == pytest.approx(0.4, abs=0.015)
    # fresh paraphrases of one intent differ
    assert len(np.unique(vectors[fresh], axis=0)) == len(fresh)


def test_a_repeat_picks_uniformly_among_the_paraphrases_seen_so_far():
    m = small_model(repeat_share=0.5)
    rng = np.random.default_rng(3)
    _, pids, is_repeat = m.query_vectors(rng, np.zeros(20_000, dtype=np.int64))
    seen = np.cumsum(~is_repeat)                    # fresh paraphrases up to each position
    u = (pids[is_repeat] + 0.5) / seen[is_repeat]   # uniform pick -> u ~ U(0, 1)
    assert np.mean(u) == pytest.approx(0.5, abs=0.01)
    assert np.histogram(u, bins=5, range=(0, 1))[0].min() > 0.18 * len(u)


def test_query_vectors_are_reproducible_and_fast():
    m = SimilarityModel(SimilarityParams(), np.random.default_rng(0))
    intents = np.random.default_rng(1).integers(0, 10_000, 150_000)
    start = time.perf_counter()
    a = m.query_vectors(np.random.default_rng(4), intents)
    elapsed_s = time.perf_counter() - start
    b = m.query_vectors(np.random.default_rng(4), intents)
    assert all((x == y).all() for x, y in zip(a, b))
    print(f"\nquery_vectors: 150,000 queries in {elapsed_s * 1e3:.0f} ms")
    assert elapsed_s < 5.0                          # typically ~0.3 s; generous for slow CI machines


def test_bad_params_are_refused():
    for kw in ({"repeat_share": 1.5}, {"paraphrase_noise_median": 0.0}, {"sibling_spread_log_sd": -1.0},
               {"dim": 1}):
        with pytest.raises(ValueError):
            SimilarityParams(**kw)


# ---------------------------------------------------------------------- answer versions
def test_answer_versions_are_deterministic_whatever_the_order_of_questions():
    a = AnswerVersions(np.random.default_rng(9), 100, 1 / 50.0)
    b = AnswerVersions(np.random.default_rng(9), 100, 1 / 50.0)
    ask = [(i, 10.0 * k, 10.0 * k + 7.0) for i in range(100) for k in range(30)]
    forward = [a.changed_between(*q) for q in ask]
    backward = [b.changed_between(*q) for q in reversed(ask)][::-1]
    assert forward == backward and any(forward) and not all(forward)
    assert (a.change_times(3, 500.0) == b.change_times(3, 500.0)).all()
    c = AnswerVersions(np.random.default_rng(10), 100, 1 / 50.0)
    assert not np.array_equal(a.change_times(3, 500.0), c.change_times(3, 500.0))


def test_answer_changes_are_poisson_at_the_given_rate():
    rate_per_s, horizon_s = 1 / 1000.0, 10_000.0
    versions = AnswerVersions(np.random.default_rng(0), 3000, rate_per_s)
    counts = np.array([len(versions.change_times(i, horizon_s)) for i in range(3000)])
    assert counts.mean() == pytest.approx(rate_per_s * horizon_s, rel=0.03)
    assert counts.var() == pytest.approx(counts.mean(), rel=0.1)            # Poisson: variance = mean
    t = versions.change_times(0, horizon_s)
    assert versions.changed_between(0, t[0] - 1e-6, t[0])                   # (t0, t1]: t1 included
    assert not versions.changed_between(0, t[0], t[0] + 1e-9 if len(t) < 2 else t[1] - 1e-9)


def test_answers_with_rate_zero_never_change_and_rates_can_differ_by_intent():
    versions = AnswerVersions(np.random.default_rng(0), 2, np.array([0.0, 1.0]))
    assert not versions.changed_between(0, 0.0, 1e9)
    assert versions.changed_between(1, 0.0, 100.0)


def test_replay_counts_false_and_stale_hits():
    e1, e2 = np.array([1.0, 0.0], np.float32), np.array([0.96, 0.28], np.float32)
    vectors = np.stack([e1, e1, e2, e1])
    intents = np.array([0, 0, 1, 0])                # e2 is intent 1 but lies at 0.96 of intent 0's entry
    versions = AnswerVersions(np.random.default_rng(0), 2, np.array([1e-9, 0.0]))
    versions._times[0] = [2.5]                      # intent 0's answer changes at t = 2.5
    versions._generators[0] = np.random.default_rng(0)
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
