"""Semantic-cache lookup time per query against the number of entries (10^4, 10^5, 10^6).

The entries and queries are paraphrases from the similarity model (10,000 intents, Zipf popularity, 700
topics), as in ``experiments/cache_threshold.yaml``. Two layouts: the topic-centroid index the simulator uses
(home partition + 1 neighbour probed) and one partition (brute force over every entry). Times are medians
of several repetitions of a batch of lookups, in microseconds per query, on whatever machine runs it.

    python benchmarks/cache_lookup.py [--sizes 10000,100000,1000000] [--queries 2000]
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
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = np.random.default_rng(7)
    model = SimilarityModel(SimilarityParams(), rng)
    queries = model.paraphrases(rng, zipf_intents(rng, args.queries))
    print(f"{'entries':>9} {'index us/query':>15} {'brute force us/query':>21}")
    for n in sizes:
        entries = model.paraphrases(rng, zipf_intents(rng, n))
        indexed = SemanticCache(64, n, 0.95, partition_centroids=model.topic_centroids, probe_neighbours=1)
        brute = SemanticCache(64, n, 0.95)
        home, _ = indexed.placements(entries)
        for v, p in zip(entries, home):
            indexed.insert(v, 0.0, None, p)
            brute.insert(v, 0.0, None, 0)
        _, probes = indexed.placements(queries)
        print(f"{n:>9} {lookup_us(indexed, queries, probes):>15.1f} "
              f"{lookup_us(brute, queries, [[0]] * len(queries)):>21.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
