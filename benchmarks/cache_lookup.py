"""Semantic-cache lookup time per query against the number of entries (10^4, 10^5, 10^6).

The entries and queries are paraphrases from the similarity model (10,000 intents, Zipf popularity, 700
topics), as in ``experiments/cache_threshold.yaml``. Three layouts: the topic-centroid index the simulator
uses (home partition + 1 neighbour probed); the same with cone indexes in partitions of 512 entries or more
(``cones_from_rows=512``: skips entries that provably cannot win); and one partition (brute force over every
entry; ``--no-brute`` leaves it out). Every lookup of the cone layout is checked to equal the plain one's.
Times are medians of several repetitions of a batch of lookups, in microseconds per query, on whatever
machine runs it.

    python benchmarks/cache_lookup.py [--sizes 10000,100000,1000000] [--queries 2000] [--no-brute]
                                      [--popularity zipf|uniform]

``--popularity uniform`` draws entries and queries uniformly over max(10^4, entries / 10) intents, as the
``semantic_cache_*`` cases of ``bench.py`` do (every partition about the same size); ``zipf`` (the default)
over 10^4 intents with Zipf popularity, as the cache scenario (a few topic partitions hold most entries).
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from sim.model.similarity import SimilarityModel, SimilarityParams
from sim.policies.semantic_cache import SemanticCache


def zipf_intents(rng: np.random.Generator, n: int, n_intents: int = 10_000, skew: float = 1.0) -> np.ndarray:
    weights = 1.0 / np.arange(1, n_intents + 1) ** skew
    return rng.choice(n_intents, size=n, p=weights / weights.sum())


def lookup_us(cache: SemanticCache, queries: np.ndarray, probes, repetitions: int = 5) -> float:
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        for q, p in zip(queries, probes):
            cache.lookup(q, 0.0, p)
        times.append((time.perf_counter() - start) / len(queries) * 1e6)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="Entry counts, comma-separated.")
    parser.add_argument("--queries", type=int, default=2000, help="Lookups per repetition.")
    parser.add_argument("--no-brute", action="store_true", help="Leave out the one-partition brute force.")
    parser.add_argument("--popularity", choices=("zipf", "uniform"), default="zipf",
                        help="How entries and queries pick intents (see above).")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'entries':>9} {'index us/query':>15} {'+cones us/query':>16} {'brute force us/query':>21}")
    for n in sizes:
        rng = np.random.default_rng(7)
        if args.popularity == "zipf":
            model = SimilarityModel(SimilarityParams(), rng)
            entries = model.paraphrases(rng, zipf_intents(rng, n))
            queries = model.paraphrases(rng, zipf_intents(rng, args.queries))
        else:
            n_intents = max(10_000, n // 10)
            model = SimilarityModel(SimilarityParams(n_intents=n_intents), rng)
            entries = model.paraphrases(rng, rng.integers(0, n_intents, n))
            queries = model.paraphrases(rng, rng.integers(0, n_intents, args.queries))
        kwargs = dict(partition_centroids=model.topic_centroids, probe_neighbours=1)
        indexed = SemanticCache(64, n, 0.95, **kwargs)
        coned = SemanticCache(64, n, 0.95, **kwargs, cones_from_rows=512)
        home, _ = indexed.placements(entries)
        for v, p in zip(entries, home):
            indexed.insert(v, 0.0, None, p)
            coned.insert(v, 0.0, None, p)
        _, probes = indexed.placements(queries)
        for q, p in zip(queries, probes):
            if indexed.lookup(q, 0.0, p) != coned.lookup(q, 0.0, p):
                raise SystemExit(f"the cone search differs from the plain one at {n} entries")
        brute = "-"
        if not args.no_brute:
            one = SemanticCache(64, n, 0.95)
            for v in entries:
                one.insert(v, 0.0, None, 0)
            brute = f"{lookup_us(one, queries, [[0]] * len(queries)):.1f}"
            del one
        print(f"{n:>9} {lookup_us(indexed, queries, probes):>15.1f} {lookup_us(coned, queries, probes):>16.1f} "
              f"{brute:>21}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
