"""The cone-pruned lookup returns exactly what a brute-force search returns, lookup by lookup.

The reference is written here, independently of the cache's search: for each searched partition, one
mat-vec over its live rows (as stored) and argmax; a later partition replaces the best only when strictly
greater. A second reference is the same cache with the cone index switched off, fed the same operations:
every lookup, every stat and every stored row must agree. The random caches mix clustered paraphrases,
verbatim duplicates (exact ties), unit vectors from far away, empty partitions, TTL expiry and LRU/FIFO
eviction. The last test breaks the bound on purpose and checks that these comparisons catch it.
"""
from __future__ import annotations

import numpy as np
import pytest

from sim.policies import cone_index
from sim.policies.semantic_cache import SemanticCache, _as_in_mat_vec, _local_mat_vec

DIM = 16


def _unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _world(rng, n_partitions, n_intents, dim):
    centroids = _unit(rng.standard_normal((n_partitions, dim)))
    topic = rng.integers(0, n_partitions, n_intents)
    intents = _unit(centroids[topic] + 0.6 * rng.standard_normal((n_intents, dim)) / np.sqrt(dim))
    return centroids, intents


def _reference(cache: SemanticCache, query, probes):
    """(hit, similarity, entry_id, payload, partition) by brute force over the stored live rows."""
    best = None
    for p in probes:
        part = cache._partitions[p]
        if part.n == 0:
            continue
        sims = part.vectors[:part.n] @ query
        row = int(np.argmax(sims))
        if best is None or sims[row] > best[0]:
            best = (sims[row], p, row)
    if best is None:
        return None
    sim, p, row = best
    part = cache._partitions[p]
    return (bool(sim >= cache.threshold), float(sim), int(part.entry_ids[row]), part.payloads[row], p)


def _key(found):
    return None if found is None else (found.hit, found.similarity, found.entry_id, found.payload,
                                       found.partition)


def _run(seed, operations=1500, dim=DIM):
    """Random operations on a cone-indexed cache and a plain one; (lookups compared, cone lookups)."""
    rng = np.random.default_rng(seed)
    n_partitions = int(rng.integers(1, 6))
    centroids, intents = _world(rng, n_partitions, int(rng.integers(5, 60)), dim)
    kwargs = dict(dim=dim, capacity=int(rng.integers(50, 400)), threshold=float(rng.uniform(0.7, 1.0)),
                  ttl_s=[None, 300.0][seed % 2], eviction=["lru", "fifo"][(seed // 2) % 2],
                  partition_centroids=centroids, probe_neighbours=min(1, n_partitions - 1))
    indexed = SemanticCache(**kwargs, cones_from_rows=24)      # small caches: cones from 24 rows up
    plain = SemanticCache(**kwargs)                            # no cones: the brute-force path throughout
    plain_partitions = plain._partitions
    stored = []
    compared = 0
    now = 0.0
    for _ in range(operations):
        now += float(rng.exponential(1.0))
        u = rng.random()
        if u < 0.45 or not stored:
            if stored and rng.random() < 0.2:
                vector = stored[int(rng.integers(len(stored)))]          # verbatim duplicate: exact ties
            elif rng.random() < 0.05:
                vector = _unit(rng.standard_normal(dim))                 # from nowhere near an intent
            else:
                intent = intents[int(rng.integers(len(intents)))]
                vector = _unit(intent + float(rng.uniform(0.05, 0.6)) * rng.standard_normal(dim) / np.sqrt(dim))
            stored.append(vector)
            for cache in (indexed, plain):
                cache.insert(vector, now, payload=len(stored))
        else:
            if rng.random() < 0.3:
                query = stored[int(rng.integers(len(stored)))]
            else:
                query = _unit(intents[int(rng.integers(len(intents)))] + 0.4 * rng.standard_normal(dim) / np.sqrt(dim))
            probes = None
            if rng.random() < 0.5:
                probes = sorted(set(rng.integers(0, n_partitions, int(rng.integers(1, 4))).tolist()))
            found = indexed.lookup(query, now, probes)
            same = plain.lookup(query, now, probes)
            searched = probes if probes is not None else indexed._searched(query, None)
            assert _key(found) == _key(same), (seed, now)
            assert _key(found) == _reference(indexed, query, searched), (seed, now)
            compared += 1
    assert indexed.stats == plain.stats
    for a, b in zip(indexed._partitions, plain_partitions):
        assert a.n == b.n and np.array_equal(a.vectors[:a.n], b.vectors[:b.n])
        assert np.array_equal(a.entry_ids[:a.n], b.entry_ids[:b.n]) and a.payloads == b.payloads
    assert list(indexed._order) == list(plain._order)
    return compared, sum(part.cones is not None for part in indexed._partitions)


@pytest.mark.parametrize("seed", range(12))
def test_cone_lookup_equals_brute_force_on_random_caches(seed):
    if not _local_mat_vec(DIM):
        pytest.skip("this BLAS computes rows differently: the cones are never searched")
    compared, indexed_partitions = _run(seed)
    assert compared > 500
    assert indexed_partitions >= 1          # the cones were there to be used


@pytest.mark.parametrize("seed", [100, 101])
def test_cone_lookup_equals_brute_force_in_more_dimensions(seed):
    if not _local_mat_vec(96):
        pytest.skip("this BLAS computes rows differently: the cones are never searched")
    compared, indexed_partitions = _run(seed, operations=800, dim=96)
    assert compared > 250 and indexed_partitions >= 1


def test_a_broken_bound_is_caught(monkeypatch):
    # Give away too much: bounds 0.2 below the truth skip cones that hold the best entry.
    monkeypatch.setattr(cone_index, "MARGIN", -0.1)
    with np.errstate(invalid="ignore"), pytest.raises(AssertionError, match=r"^\(\d+, "):     # a lookup differed (the message is (seed, now))
        for seed in range(12):
            _run(seed)


@pytest.mark.parametrize("dim", [2, 16, 64])
def test_the_mat_vec_groups_reproduce_every_row_bit_for_bit(dim):
    if not _local_mat_vec(dim):
        pytest.skip("this BLAS computes rows differently: lookups use the whole-partition mat-vec")
    rng = np.random.default_rng(dim)
    for n in list(range(1, 40)) + [255, 1001, 4096]:
        matrix = _unit(rng.standard_normal((n, dim)))
        vector = _unit(rng.standard_normal(dim))
        rows = np.arange(n)
        assert np.array_equal(_as_in_mat_vec(matrix, n, rows, vector), matrix @ vector), n
        picked = np.sort(rng.choice(n, size=min(n, 7), replace=False))
        assert np.array_equal(_as_in_mat_vec(matrix, n, picked, vector), (matrix @ vector)[picked]), n


def test_non_unit_vectors_fall_back_to_brute_force():
    rng = np.random.default_rng(1)
    cache = SemanticCache(DIM, 1000, 0.9, cones_from_rows=24)
    vectors = _unit(rng.standard_normal((100, DIM)))
    for v in vectors[:50]:
        cache.insert(v, 0.0)
    assert cache._partitions[0].cones is not None
    cache.insert(3.0 * vectors[50], 0.0)                 # not unit: the cone bounds would not hold
    assert cache._partitions[0].cones is None
    query = vectors[60]
    assert _key(cache.lookup(query, 0.0)) == _reference(cache, query, [0])


_THREADS_PROBE = r"""
import sys
import numpy as np
from sim.policies.semantic_cache import similarities
rng = np.random.default_rng(3)
rows = rng.standard_normal((int(sys.argv[1]), 64)).astype(np.float32)
rows /= np.linalg.norm(rows, axis=1, keepdims=True)
queries = rng.standard_normal((20, 64)).astype(np.float32)
sys.stdout.buffer.write(np.stack([similarities(rows, q) for q in queries]).tobytes())
sys.stdout.buffer.write(np.stack([rows.dot(q) for q in queries]).tobytes())
"""


def test_a_large_partitions_similarities_are_the_same_bits_whatever_the_blas_thread_count():
    """OpenBLAS splits a large mat-vec among threads and rows at the split are summed differently, so the
    plain product's last bits depend on the thread count; the blocked one must not."""
    import os
    import subprocess
    import sys
    n = 10_001
    out = {}
    for threads in ("1", "2"):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads}
        raw = subprocess.run([sys.executable, "-c", _THREADS_PROBE, str(n)], env=env, check=True,
                             capture_output=True).stdout
        blocked, plain = np.frombuffer(raw, dtype=np.float32).reshape(2, 20, n)
        out[threads] = blocked, plain
    assert np.array_equal(out["1"][0], out["2"][0])             # blocked: identical bits
    assert np.array_equal(out["1"][0], out["1"][1])             # ...and the single-threaded product's
    if np.array_equal(out["1"][1], out["2"][1]):
        pytest.skip("this BLAS gives the plain product the same bits on 1 and 2 threads (nothing to guard)")
