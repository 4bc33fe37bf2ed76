"""The similarity model: geometry, verbatim repeats and answer versions (its calibration: tests/calibration/)."""
import time

import numpy as np
import pytest

from sim.model.similarity import (AnswerVersions, SimilarityModel, SimilarityParams, pcg64_state,
                                 spawned_seed_words)


def small_model(seed=0, **kw):
    params = SimilarityParams(**({"n_intents": 500, "n_topics": 50} | kw))
    return SimilarityModel(params, np.random.default_rng(seed))


def test_centroids_are_unit_float32_and_intents_have_topics():
    m = small_model()
    assert m.intent_centroids.shape == (500, 64) and m.intent_centroids.dtype == np.float32
    assert np.allclose(np.linalg.norm(m.intent_centroids, axis=1), 1, atol=1e-5)
    assert m.topic_of_intent.min() >= 0 and m.topic_of_intent.max() < 50
    # an intent is nearer its own topic's centroid than the others'
    own = np.einsum("ij,ij->i", m.intent_centroids, m.topic_centroids[m.topic_of_intent])
    assert (np.argmax(m.intent_centroids @ m.topic_centroids.T, axis=1) == m.topic_of_intent).mean() > 0.95
    assert np.median(own) == pytest.approx(1 / np.sqrt(1 + 0.9 ** 2), abs=0.05)


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


@pytest.mark.parametrize("entropy", [0, 7, 2**32 - 1, 2**32, 2**63 - 2, 2**100 + 3])
def test_spawned_seed_words_and_states_are_numpys(entropy):
    words = spawned_seed_words(entropy, 300)
    for k in range(300):
        sequence = np.random.SeedSequence(entropy, spawn_key=(k,))
        assert np.array_equal(words[k], sequence.generate_state(4, np.uint64)), k
        assert pcg64_state(words[k]) == np.random.PCG64(sequence).state, k
    later = spawned_seed_words(entropy, 2**32, 2**32 - 5)         # a block further on: the largest keys
    for i, k in enumerate(range(2**32 - 5, 2**32)):
        assert np.array_equal(later[i], np.random.SeedSequence(entropy, spawn_key=(k,)).generate_state(4, np.uint64))


def test_answer_versions_draw_what_one_generator_per_intent_draws():
    # The reference: what AnswerVersions did before sharing one generator, a generator per intent from
    # SeedSequence(seed, spawn_key=(intent,)), blocks of 16 exponential gaps, drawn as far as asked.
    rates = np.random.default_rng(1).uniform(0.0, 0.05, 40)
    rates[::7] = 0.0
    versions = AnswerVersions(np.random.default_rng(2), 40, rates)
    versions._WORDS_BLOCK = 16          # several blocks of seed words, hashed as intents are first asked
    seed = int(np.random.default_rng(2).integers(0, 2**63 - 1))
    asks = np.random.default_rng(3)
    for _ in range(400):        # interleaved intents and growing horizons: states must be kept per intent
        intent, until = int(asks.integers(40)), float(asks.uniform(0, 3000))
        got = versions.change_times(intent, until)
        gen = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(intent,)))
        expected, last = [], 0.0
        while rates[intent] > 0 and (not expected or expected[-1] <= until):
            expected.extend((last + np.cumsum(gen.standard_exponential(16)) / rates[intent]).tolist())
            last = expected[-1]
        assert got.tolist() == [t for t in expected if t <= until], intent
