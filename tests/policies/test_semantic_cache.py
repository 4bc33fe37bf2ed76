"""The semantic cache as a plain object: threshold, top-1, TTL, eviction, capacity, partitions, insert policy."""
import time

import numpy as np
import pytest

from sim.policies.semantic_cache import SemanticCache


def unit(*xs):
    v = np.asarray(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def at_angle(cos):
    """A unit vector in 2-D at the given cosine to (1, 0)."""
    return unit(cos, np.sqrt(max(0.0, 1 - cos * cos)))


def random_unit(rng, n, dim):
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


E1 = unit(1, 0)


def test_hit_at_and_above_threshold_miss_below_with_diagnostics():
    cache = SemanticCache(dim=2, capacity=10, threshold=0.9)
    assert cache.lookup(E1, 0.0) is None                      # empty: nothing to compare with
    entry = cache.insert(E1, 0.0, payload="answer")
    hit = cache.lookup(at_angle(0.95), 1.0)
    assert hit.hit and hit.payload == "answer" and hit.entry_id == entry
    assert hit.similarity == pytest.approx(0.95, abs=1e-6)
    assert cache.lookup(E1, 1.0).hit                           # exactly 1.0
    cache.threshold = 1.0
    assert cache.lookup(E1, 1.0).hit                           # similarity == threshold is a hit
    cache.threshold = 0.9
    miss = cache.lookup(at_angle(0.85), 2.0)
    assert not miss.hit and miss.similarity == pytest.approx(0.85, abs=1e-6) and miss.entry_id == entry
    assert (cache.stats.lookups, cache.stats.hits, cache.stats.misses) == (5, 3, 2)   # the empty one counts
    assert cache.stats.hit_rate == pytest.approx(0.6)


def test_returns_the_most_similar_entry():
    cache = SemanticCache(dim=2, capacity=10, threshold=0.5)
    for cos in (0.6, 0.99, 0.8, 0.7):
        cache.insert(at_angle(cos), 0.0, payload=cos)
    found = cache.lookup(E1, 0.0)
    assert found.payload == 0.99 and found.similarity == pytest.approx(0.99, abs=1e-6)


def test_float64_queries_are_searched_in_float32():
    cache = SemanticCache(dim=2, capacity=10, threshold=0.5)
    cache.insert(E1, 0.0)
    assert cache.lookup(np.array([1.0, 0.0]), 0.0).similarity == pytest.approx(1.0)


def test_ttl_expired_entries_are_absent_and_counted():
    cache = SemanticCache(dim=2, capacity=10, threshold=0.5, ttl_s=100.0)
    cache.insert(E1, 0.0, payload="old")
    cache.insert(at_angle(0.9), 50.0, payload="younger")
    assert cache.lookup(E1, 99.9).payload == "old"
    found = cache.lookup(E1, 100.0)                             # live while now - t < ttl
    assert found.payload == "younger" and found.similarity == pytest.approx(0.9, abs=1e-6)
    assert cache.stats.expirations == 1 and len(cache) == 1
    assert cache.lookup(E1, 150.0) is None
    assert cache.stats.expirations == 2 and len(cache) == 0


def test_ttl_is_a_plain_attribute_and_periodic_purge_works():
    cache = SemanticCache(dim=2, capacity=10, threshold=0.5, ttl_s=None)
    for t in range(5):
        cache.insert(E1, float(t))
    assert cache.purge_expired(1e9) == 0
    cache.ttl_s = 2.0
    assert cache.purge_expired(4.5) == 3                        # inserted at 0, 1, 2
    assert len(cache) == 2


def test_lru_evicts_least_recently_used_fifo_oldest_inserted():
    def run(eviction):
        cache = SemanticCache(dim=2, capacity=3, threshold=0.99, eviction=eviction)
        a, b, c, d = (at_angle(x) for x in (1.0, 0.5, 0.0, -0.5))
        for name, v in zip("abc", (a, b, c)):
            cache.insert(v, 0.0, payload=name)
        assert cache.lookup(a, 1.0).hit                         # 'a' is used again
        cache.insert(d, 2.0, payload="d")
        return sorted(cache.lookup(v, 3.0).payload for v in (a, b, c, d) if cache.lookup(v, 3.0).hit)
    assert run("lru") == ["a", "c", "d"]                        # 'b' was least recently used
    assert run("fifo") == ["b", "c", "d"]                       # 'a' was inserted first


def test_capacity_is_never_exceeded_and_expired_entries_go_before_live_ones():
    cache = SemanticCache(dim=2, capacity=3, threshold=0.5, ttl_s=10.0)
    cache.insert(E1, 0.0, "expires")
    cache.insert(at_angle(0.1), 5.0, "b")
    cache.insert(at_angle(-0.5), 5.0, "c")
    cache.insert(at_angle(-0.9), 10.0, "d")                     # full: the expired entry makes room
    assert len(cache) == 3 and cache.stats.evictions == 0 and cache.stats.expirations == 1
    for k in range(20):
        cache.insert(at_angle(0.3), 11.0 + k, k)
        assert len(cache) <= 3
    assert cache.stats.evictions == 20 and cache.stats.inserts == 24


def test_a_query_only_sees_its_own_partition():
    cache = SemanticCache(dim=2, capacity=10, threshold=0.5, n_partitions=2)
    cache.insert(E1, 0.0, payload="tenant 0", partition=0)
    assert cache.lookup(E1, 0.0, partition=0).payload == "tenant 0"
    assert cache.lookup(E1, 0.0, partition=1) is None
    with pytest.raises(ValueError):
        cache.lookup(E1, 0.0, partition=2)


def test_centroid_partitions_route_by_nearest_centroid_and_probe_neighbours():
    centroids = np.stack([unit(1, 0), unit(0, 1), unit(-1, 0)])
    cache = SemanticCache(dim=2, capacity=10, threshold=0.5, partition_centroids=centroids)
    assert cache.n_partitions == 3
    entry = at_angle(0.72)                                      # nearer (1, 0) than (0, 1)
    cache.insert(entry, 0.0, "near x")
    assert cache.partition_of(entry) == 0
    query = unit(0.6, 0.8)                                      # routed to (0, 1): cosine 0.98 to entry
    assert cache.lookup(query, 0.0) is None                     # an IVF miss: wrong cell
    probing = SemanticCache(dim=2, capacity=10, threshold=0.5, partition_centroids=centroids,
                            probe_neighbours=1)
    probing.insert(entry, 0.0, "near x")
    found = probing.lookup(query, 0.0)
    assert found.hit and found.partition == 0
    assert list(probing.partitions_of(np.stack([entry, query]))) == [0, 1]
    with pytest.raises(ValueError):
        SemanticCache(dim=2, capacity=10, threshold=0.5, n_partitions=3, probe_neighbours=1)


class ReferenceCache:
    """The same rules written the slow, obvious way: a list of live entries."""

    def __init__(self, capacity, ttl_s, eviction):
        self.capacity, self.ttl_s, self.eviction = capacity, ttl_s, eviction
        self.entries = []   # [entry_id, vector, inserted_at, last_used]

    def live(self, now):
        return [e for e in self.entries if self.ttl_s is None or now - e[2] < self.ttl_s]

    def lookup(self, v, now, threshold):
        self.entries = self.live(now)
        if not self.entries:
            return None
        sims = [float(e[1] @ v) for e in self.entries]
        k = int(np.argmax(sims))
        if sims[k] >= threshold:
            self.entries[k][3] = now
        return self.entries[k][0], sims[k]

    def insert(self, entry_id, v, now):
        if len(self.entries) >= self.capacity:
            self.entries = self.live(now)
        if len(self.entries) >= self.capacity:
            key = 3 if self.eviction == "lru" else 2
            self.entries.remove(min(self.entries, key=lambda e: (e[key], e[0])))
        self.entries.append([entry_id, v, now, now])


@pytest.mark.parametrize("eviction,ttl_s", [("lru", None), ("fifo", None), ("fifo", 60.0), ("lru", 60.0)])
def test_one_partition_is_an_exact_search_equal_to_brute_force(eviction, ttl_s):
    rng = np.random.default_rng(5)
    dim = 8
    cache = SemanticCache(dim, capacity=40, threshold=0.9, ttl_s=ttl_s, eviction=eviction,
                          initial_rows_per_partition=4)
    ref = ReferenceCache(40, ttl_s, eviction)
    pool = random_unit(rng, 60, dim)
    now = 0.0
    for step in range(600):
        now += 5.0 if 200 <= step < 300 else 1.0       # a quiet spell lets entries expire
        v = pool[rng.integers(len(pool))] if rng.random() < 0.3 else random_unit(rng, 1, dim)[0]
        got, want = cache.lookup(v, now), ref.lookup(v, now, 0.9)
        if want is None:
            assert got is None
        else:
            assert got.entry_id == want[0]
            assert got.similarity == pytest.approx(want[1], abs=1e-5)
        if got is None or not got.hit:
            entry_id = cache.insert(v, now, payload=step)
            ref.insert(entry_id, v, now)
        assert len(cache) == len(ref.live(now)) or ttl_s is not None
    assert cache.stats.evictions > 0 and cache.stats.hits > 20
    assert ttl_s is None or cache.stats.expirations > 0


def test_insert_policies():
    on_miss = SemanticCache(dim=2, capacity=10, threshold=0.9)
    assert on_miss.should_insert(hit=False) and not on_miss.should_insert(hit=True, was_correct=False)
    verified = SemanticCache(dim=2, capacity=10, threshold=0.9, insert_policy="verified", verify_band=0.1)
    assert verified.should_insert(hit=True, was_correct=False)          # a verified wrong match
    assert not verified.should_insert(hit=True, was_correct=True)
    assert not verified.should_insert(hit=True)                          # unverified hits stay as they are
    assert verified.should_insert(hit=False, best_similarity=None)       # empty cache
    assert verified.should_insert(hit=False, best_similarity=0.79)       # no near neighbour
    assert not verified.should_insert(hit=False, best_similarity=0.85)   # a near neighbour covers it
    assert verified.should_insert(hit=False, was_correct=False, best_similarity=0.85)
    verified.threshold = 0.95                                            # the band moves with the threshold
    assert verified.should_insert(hit=False, best_similarity=0.84)
    with pytest.raises(ValueError):
        SemanticCache(dim=2, capacity=10, threshold=0.9, insert_policy="always")


@pytest.mark.parametrize("kwargs", [dict(capacity=0), dict(eviction="lfu"), dict(ttl_s=0.0), dict(n_partitions=0),
                                    dict(partition_centroids=np.ones((3, 5)))])
def test_bad_configuration_is_refused(kwargs):
    args = dict(dim=2, capacity=10, threshold=0.9) | kwargs
    with pytest.raises(ValueError):
        SemanticCache(**args)


@pytest.mark.slow
def test_lookup_speed_with_100k_entries():
    """Benchmark, printed into the captured output (`pytest -s` shows it; no timing assert): exact search vs
    an IVF with 100 and 1,000 cells. What it asserts is that the IVF finds the exact top-1 for near-copies."""
    rng = np.random.default_rng(0)
    dim, n = 64, 100_000
    entries = random_unit(rng, n, dim)
    queries = entries[rng.integers(0, n, 300)] + 0.02 * random_unit(rng, 300, dim)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    lines, exact_ids = [], None
    for n_cells in (1, 100, 1000):
        centroids = None if n_cells == 1 else entries[rng.choice(n, n_cells, replace=False)]
        cache = SemanticCache(dim, n, threshold=0.95, partition_centroids=centroids)
        cells = cache.partitions_of(entries)
        start = time.perf_counter()
        for i in range(n):
            cache.insert(entries[i], 0.0, i, int(cells[i]))
        insert_us = (time.perf_counter() - start) / n * 1e6
        query_cells = cache.partitions_of(queries)
        start = time.perf_counter()
        found = [cache.lookup(q, 1.0, int(c)) for q, c in zip(queries, query_cells)]
        lookup_us = (time.perf_counter() - start) / len(queries) * 1e6
        ids = np.array([f.payload for f in found])
        if exact_ids is None:
            exact_ids = ids
            assert (ids == (queries @ entries.T).argmax(axis=1)).all()
        recall = (ids == exact_ids).mean()
        lines.append(f"{n_cells:>5} partition(s): {lookup_us:8.1f} us/lookup, {insert_us:5.1f} us/insert, "
                     f"top-1 recall vs exact {recall:.3f}")
        assert recall > 0.9      # near-copies land in their entry's cell
    print("\nSemanticCache, 100,000 entries, dim 64:\n  " + "\n  ".join(lines))
