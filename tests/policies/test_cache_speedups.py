"""The speed-ups of the cache path give the same answers as the plain computations they replace."""
from __future__ import annotations

import numpy as np
import pytest

from sim.model.similarity import AnswerVersions
from sim.policies.semantic_cache import SemanticCache


def _unit(rng, n, dim):
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _reference_probes(vectors, centroids, k):
    """The nearest k centroids by full sort (stable: ties in index order), nearest first."""
    sims = vectors @ centroids.T
    return np.argsort(-sims, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("probe_neighbours", [0, 1, 3, 6])
def test_placements_match_a_full_sort_and_partitions_of(probe_neighbours):
    rng = np.random.default_rng(3)
    centroids = _unit(rng, 50, 16)
    vectors = _unit(rng, 3000, 16)
    cache = SemanticCache(16, 10, 0.9, partition_centroids=centroids, probe_neighbours=probe_neighbours)
    home, probes = cache.placements(vectors)
    assert home == cache.partitions_of(vectors).tolist()
    assert probes == cache.probe_lists(vectors)
    assert np.array_equal(np.array(probes), _reference_probes(vectors, centroids, probe_neighbours + 1))


def test_placements_in_blocks_equal_one_matrix_product():
    # placements ranks centroids for 4096 vectors at a time; each row's similarities must be the same bits
    # as in one product over all rows, so homes and probe lists cannot depend on the blocking.
    rng = np.random.default_rng(8)
    centroids = _unit(rng, 700, 64)
    vectors = _unit(rng, 9000, 64)
    blocks = np.vstack([vectors[i:i + 4096] @ centroids.T for i in range(0, 9000, 4096)])
    assert np.array_equal(blocks, vectors @ centroids.T)
    cache = SemanticCache(64, 10, 0.9, partition_centroids=centroids, probe_neighbours=1)
    home, probes = cache.placements(vectors)
    assert home == np.argmax(vectors @ centroids.T, axis=1).tolist()
    assert np.array_equal(np.array(probes), _reference_probes(vectors, centroids, 2))


def test_placements_with_tied_centroids_are_those_of_the_partial_sort():
    # Duplicated centroids tie exactly: the fast path must hand those rows to the partial sort it replaces.
    rng = np.random.default_rng(4)
    base = _unit(rng, 4, 8)
    centroids = np.vstack([base, base])
    vectors = np.vstack([base, _unit(rng, 200, 8)])
    cache = SemanticCache(8, 10, 0.9, partition_centroids=centroids, probe_neighbours=1)
    sims = vectors @ centroids.T
    nearest = np.argpartition(-sims, 1, axis=1)[:, :2]
    order = np.argsort(-np.take_along_axis(sims, nearest, axis=1), axis=1)
    assert cache.probe_lists(vectors) == np.take_along_axis(nearest, order, axis=1).tolist()
    # and the probed pair of a tied row is the two copies of its centroid
    assert sorted(cache.probe_lists(vectors[:1])[0]) == [0, 4]


def test_changed_between_agrees_with_the_change_times():
    versions = AnswerVersions(np.random.default_rng(5), 20, np.linspace(0.0, 0.01, 20))
    rng = np.random.default_rng(6)
    for _ in range(2000):
        intent = int(rng.integers(20))
        t0, t1 = np.sort(rng.uniform(0, 5000, 2))
        times = versions.change_times(intent, 6000.0)
        expected = bool(((times > t0) & (times <= t1)).any())
        assert versions.changed_between(intent, t0, t1) == expected
