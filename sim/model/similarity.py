"""How real questions lie in embedding space: what a semantic cache can and cannot tell apart.

Picture a support inbox. Users ask about *topics* (passwords, invoices, shipping); within a topic there are
*intents*, each with its own right answer ("reset my password on iOS", "... on Android", "change my
password"). Each time a user asks, they phrase the intent their own way: a *paraphrase*. Some intents are
asked in nearly one way ("what are your opening hours"), others in a hundred ("my thing won't log in,
help"). And many questions are asked *verbatim* again -- the same text pasted, a button that sends a canned
prompt, a retry -- and those embed to the identical vector.

An embedding model maps each question to a unit vector; a semantic cache compares cosines. This module is a
geometric stand-in for that, cheap enough for a million queries, with no embedding model:

* ``n_topics`` topic centroids, uniformly random unit vectors in ``dim`` dimensions (nearly orthogonal:
  unrelated questions have cosine ~ 0 +- 1/sqrt(dim));
* each intent is assigned to a topic at random and its centroid is ``normalise(topic + s_i * g)``, where
  ``g`` has i.i.d. N(0, 1/dim) coordinates (so ``|g|`` ~ 1) and the *sibling spread* ``s_i`` is lognormal
  per intent. Two siblings' centroids have cosine about ``1 / sqrt((1 + s_i^2)(1 + s_j^2))``: intents near
  their topic's core are near-duplicates of each other, which is where false hits come from;
* each query is a paraphrase ``normalise(intent centroid + sigma_i * g)`` with a per-intent *paraphrase
  noise* ``sigma_i``, lognormal: two paraphrases of an intent have cosine about ``1 / (1 + sigma_i^2)``, so
  one static threshold is too strict for some intents and too lax for others;
* with probability ``repeat_share`` a query of an intent already asked is a verbatim repeat of one of its
  earlier paraphrases, chosen uniformly among those seen (the identical vector);
* popularity is not in this module: the caller passes intent ids (the workload draws them Zipf-skewed).

Calibration (``docs/cache_calibration.md``): the default paraphrase and sibling spreads reproduce the
cosines that all-MiniLM-L6-v2 gives real StackExchange question pairs (SemEval-2016 STS): paraphrases
median ~0.84, related non-paraphrases ~0.43. With those, two *different* paraphrases rarely reach 0.95, so
the hit rate of a 0.95 cache comes mostly from verbatim repeats and the tightly phrased intents:
``repeat_share`` is the knob that carries the "35-50% at 0.95" claim. :data:`GPTCACHE_BENCHMARK_PARAMS`
is a second set, tighter paraphrases and denser near-duplicate siblings, that reproduces the shape of
GPTCache's published benchmark (a curated set of similar-question pairs, not production traffic).

:class:`AnswerVersions` is the other half of correctness: when each intent's right answer changes (a
Poisson process per intent), so a caller can tell a *stale* hit from a fresh one.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

REAL_PAIRS_NPZ = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "paraphrase"
                  / "sts2016_question_question" / "minilm_embeddings.npz")


@dataclass(frozen=True)
class SimilarityParams:
    """Every knob of the similarity model. Defaults: production traffic calibrated on real MiniLM pairs."""

    dim: int = 64
    """Embedding dimensions. Only the spread of unrelated cosines (~1/sqrt(dim)) depends on it."""
    n_intents: int = 10_000
    """Distinct intents (use the workload's ``n_intents``)."""
    n_topics: int = 700
    """Topics; each intent is assigned to one at random (~14 sibling intents per topic by default)."""
    sibling_spread_median: float = 0.9
    """Median norm of an intent's offset from its topic centroid. 0.9: sibling queries have median cosine
    ~0.43 (5th-95th percentile 0.11-0.70), like related-but-different real questions (STS label <= 1)."""
    sibling_spread_log_sd: float = 0.6
    """Log-sd of that offset across intents; its low tail makes near-duplicate siblings."""
    paraphrase_noise_median: float = 0.45
    """Median per-intent paraphrase noise (norm of the offset from the intent centroid). 0.45: two
    paraphrases have median cosine ~0.84, like real MiniLM paraphrases (STS label >= 4)."""
    paraphrase_noise_log_sd: float = 0.38
    """Log-sd of paraphrase noise across intents: ~24% of paraphrase pairs reach 0.90 and ~5% reach 0.95
    (real: 24% and 6%)."""
    repeat_share: float = 0.35
    """Probability that a query of an already-asked intent repeats one of its earlier paraphrases verbatim.
    The knob that sets the hit rate of a strict (0.95) cache."""

    def __post_init__(self):
        if self.dim < 2 or self.n_intents < 1 or self.n_topics < 1:
            raise ValueError("dim must be >= 2, n_intents and n_topics >= 1")
        if not 0.0 <= self.repeat_share <= 1.0:
            raise ValueError(f"repeat_share must be in [0, 1], got {self.repeat_share}")
        for name in ("sibling_spread_median", "paraphrase_noise_median"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")
        for name in ("sibling_spread_log_sd", "paraphrase_noise_log_sd"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0")


GPTCACHE_BENCHMARK_PARAMS = SimilarityParams(
    n_intents=999, n_topics=150, sibling_spread_median=0.8, sibling_spread_log_sd=1.4,
    paraphrase_noise_median=0.355, paraphrase_noise_log_sd=0.3, repeat_share=0.0)
"""Reproduces the shape of GPTCache's benchmark (999 pre-loaded similar-question pairs): see the docs."""


def _normalise(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    return x


class SimilarityModel:
    """Topic and intent centroids, and the paraphrases users send for given intent ids."""

    def __init__(self, params: SimilarityParams, rng: np.random.Generator):
        self.params = p = params
        scale = 1.0 / np.sqrt(p.dim)
        self.topic_centroids = _normalise(rng.standard_normal((p.n_topics, p.dim), dtype=np.float32))
        self.topic_of_intent = rng.integers(0, p.n_topics, p.n_intents).astype(np.int64)
        self.sibling_spread = (p.sibling_spread_median
                               * np.exp(p.sibling_spread_log_sd * rng.standard_normal(p.n_intents)))
        self.paraphrase_noise = (p.paraphrase_noise_median
                                 * np.exp(p.paraphrase_noise_log_sd * rng.standard_normal(p.n_intents)))
        offsets = rng.standard_normal((p.n_intents, p.dim), dtype=np.float32)
        offsets *= (self.sibling_spread * scale).astype(np.float32)[:, None]
        self.intent_centroids = _normalise(self.topic_centroids[self.topic_of_intent] + offsets)

    def paraphrases(self, rng: np.random.Generator, intent_ids: np.ndarray) -> np.ndarray:
        """One fresh paraphrase per intent id: float32 unit vectors ``[n, dim]``."""
        intent_ids = np.asarray(intent_ids, dtype=np.int64)
        noise = rng.standard_normal((len(intent_ids), self.params.dim), dtype=np.float32)
        noise *= (self.paraphrase_noise[intent_ids] / np.sqrt(self.params.dim)).astype(np.float32)[:, None]
        noise += self.intent_centroids[intent_ids]
        return _normalise(noise)

    def query_vectors(self, rng: np.random.Generator, intent_ids: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The vectors of a stream of queries, in order.

        Returns ``(vectors float32 [n, dim] unit-norm, paraphrase_ids int64, is_repeat bool)``. A query is a
        repeat with probability ``repeat_share`` if its intent was asked before; it then reuses the vector
        and id of one of that intent's earlier paraphrases, chosen uniformly. Paraphrase ids number the
        fresh paraphrases 0, 1, ... in stream order.
        """
        intent_ids = np.asarray(intent_ids, dtype=np.int64)
        n = len(intent_ids)
        order = np.argsort(intent_ids, kind="stable")          # grouped by intent, in stream order
        sorted_ids = intent_ids[order]
        first_of_group = np.ones(n, dtype=bool)
        first_of_group[1:] = sorted_ids[1:] != sorted_ids[:-1]
        wants_repeat = rng.random(n) < self.params.repeat_share
        fresh_sorted = first_of_group | ~wants_repeat
        # Running count of fresh paraphrases, inclusive; per group by subtracting the earlier groups'.
        fresh_count = np.cumsum(fresh_sorted)
        group_start = np.maximum.accumulate(np.where(first_of_group, np.arange(n), 0))
        fresh_before_group = fresh_count[group_start] - 1       # fresh ones of earlier groups
        seen = fresh_count - fresh_before_group                 # fresh ones of this group so far (>= 1)
        pick = fresh_before_group + np.floor(rng.random(n) * seen).astype(np.int64)
        fresh_positions = order[fresh_sorted]                   # stream positions of fresh ones, by group
        source = np.where(fresh_sorted, order, fresh_positions[np.minimum(pick, len(fresh_positions) - 1)])
        is_repeat = np.empty(n, dtype=bool)
        is_repeat[order] = ~fresh_sorted
        source_of = np.empty(n, dtype=np.int64)
        source_of[order] = source                               # stream position whose vector is reused
        fresh_stream = np.flatnonzero(~is_repeat)
        vectors = np.empty((n, self.params.dim), dtype=np.float32)
        vectors[fresh_stream] = self.paraphrases(rng, intent_ids[fresh_stream])
        vectors[is_repeat] = vectors[source_of[is_repeat]]
        paraphrase_ids = np.full(n, -1, dtype=np.int64)
        paraphrase_ids[fresh_stream] = np.arange(len(fresh_stream))
        paraphrase_ids[is_repeat] = paraphrase_ids[source_of[is_repeat]]
        return vectors, paraphrase_ids, is_repeat

    # ------------------------------------------------------------------ pair samples for calibration
    def paraphrase_pair_cosines(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Cosines of ``n`` pairs of two fresh paraphrases of the same intent (intents uniform)."""
        intents = rng.integers(0, self.params.n_intents, n)
        return _rowwise_cos(self.paraphrases(rng, intents), self.paraphrases(rng, intents))

    def sibling_pair_cosines(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Cosines of ``n`` pairs of paraphrases of two different intents of the same topic."""
        by_topic = np.argsort(self.topic_of_intent, kind="stable")
        counts = np.bincount(self.topic_of_intent, minlength=self.params.n_topics)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        eligible = np.flatnonzero(counts[self.topic_of_intent] >= 2)
        if len(eligible) == 0:
            raise ValueError("no topic has two intents")
        a = eligible[rng.integers(0, len(eligible), n)]
        topic = self.topic_of_intent[a]
        rank_of = np.empty(self.params.n_intents, dtype=np.int64)
        rank_of[by_topic] = np.arange(self.params.n_intents) - starts[self.topic_of_intent[by_topic]]
        other = (rank_of[a] + 1 + (rng.random(n) * (counts[topic] - 1)).astype(np.int64)) % counts[topic]
        b = by_topic[starts[topic] + other]
        return _rowwise_cos(self.paraphrases(rng, a), self.paraphrases(rng, b))

    def unrelated_pair_cosines(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Cosines of ``n`` pairs of paraphrases of intents of different topics."""
        if len(np.unique(self.topic_of_intent)) < 2:
            raise ValueError("all intents share one topic")
        a = rng.integers(0, self.params.n_intents, n)
        b = rng.integers(0, self.params.n_intents, n)
        same = self.topic_of_intent[a] == self.topic_of_intent[b]
        while same.any():
            b[same] = rng.integers(0, self.params.n_intents, int(same.sum()))
            same = self.topic_of_intent[a] == self.topic_of_intent[b]
        return _rowwise_cos(self.paraphrases(rng, a), self.paraphrases(rng, b))


def _rowwise_cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b, dtype=np.float64)


# ---------------------------------------------------------------------- answers that change
class AnswerVersions:
    """When each intent's right answer changes: a Poisson process per intent, drawn lazily.

    A cached answer is *stale* when its intent's answer changed between the entry's insertion and the hit
    (a price, a policy, a product's stock). Rates may be one number or one per intent (``0`` = never
    changes). Each intent's change times come from its own generator, derived from one seed drawn from
    ``rng`` at construction, in fixed-size blocks: they do not depend on which intents were asked first
    or how far ahead anyone looked.
    """

    _BLOCK = 16

    def __init__(self, rng: np.random.Generator, n_intents: int, change_rate_per_s: float | np.ndarray):
        rates = np.broadcast_to(np.asarray(change_rate_per_s, dtype=float), (int(n_intents),))
        if (rates < 0).any() or not np.isfinite(rates).all():
            raise ValueError("change_rate_per_s must be finite and >= 0")
        self.n_intents = int(n_intents)
        self.change_rate_per_s = rates
        self._seed = int(rng.integers(0, 2**63 - 1))
        self._times: dict[int, list[float]] = {}
        self._generators: dict[int, np.random.Generator] = {}

    def _times_until(self, intent: int, t_s: float) -> list[float]:
        times = self._times.get(intent)
        if times is None:
            times = self._times[intent] = []
            self._generators[intent] = np.random.default_rng(
                np.random.SeedSequence(self._seed, spawn_key=(intent,)))
        rate = self.change_rate_per_s[intent]
        if rate == 0:
            return times
        gen = self._generators[intent]
        while not times or times[-1] <= t_s:
            last = times[-1] if times else 0.0
            times.extend((last + np.cumsum(gen.standard_exponential(self._BLOCK)) / rate).tolist())
        return times

    def change_times(self, intent: int, until_s: float) -> np.ndarray:
        """The intent's answer-change times in ``(0, until_s]``."""
        times = np.asarray(self._times_until(int(intent), until_s))
        return times[times <= until_s]

    def changed_between(self, intent: int, t0_s: float, t1_s: float) -> bool:
        """Whether the intent's answer changed in ``(t0_s, t1_s]``."""
        times = self._times_until(int(intent), t1_s)
        i = np.searchsorted(times, t0_s, side="right")
        return i < len(times) and times[i] <= t1_s


# ---------------------------------------------------------------------- cache-only experiments
def replay_stream(cache, vectors: np.ndarray, intent_ids: np.ndarray, times_s: np.ndarray | None = None,
                  partitions: np.ndarray | None = None, versions: AnswerVersions | None = None) -> dict:
    """Send a stream of queries through a :class:`~sim.policies.semantic_cache.SemanticCache`, in order.

    The simulator plays the verifier: it knows each query's intent, so a hit is *correct* when the served
    entry was stored for the same intent (else a false hit), and *stale* when correct but the intent's
    answer changed since the entry was stored. What is inserted follows ``cache.should_insert`` with that
    knowledge (perfect verification for the ``"verified"`` policy). Returns per-query numpy columns
    ``hit, correct, stale, similarity`` (best cosine, NaN for an empty cache).
    """
    n = len(intent_ids)
    times_s = np.arange(n, dtype=float) if times_s is None else np.asarray(times_s, dtype=float)
    if partitions is None:
        partitions = cache.partitions_of(vectors) if cache.partition_centroids is not None else np.zeros(n, int)
    hit = np.zeros(n, dtype=bool)
    correct = np.zeros(n, dtype=bool)
    stale = np.zeros(n, dtype=bool)
    similarity = np.full(n, np.nan)
    lookup, insert, should_insert = cache.lookup, cache.insert, cache.should_insert
    for i, (intent, now, part) in enumerate(zip(intent_ids.tolist(), times_s.tolist(), partitions.tolist())):
        vector = vectors[i]
        found = lookup(vector, now, part)
        same = False
        if found is not None:
            similarity[i] = found.similarity
            same = found.payload == intent
            if found.hit:
                hit[i] = True
                correct[i] = same
                if same and versions is not None:
                    stale[i] = versions.changed_between(intent, found.inserted_at_s, now)
        if should_insert(hit[i], same if found is not None else None,
                         None if found is None else found.similarity):
            insert(vector, now, intent, part)
    return {"hit": hit, "correct": correct, "stale": stale, "similarity": similarity}


def production_stream_benchmark(params: SimilarityParams = SimilarityParams(), *, n_queries: int = 60_000,
                                thresholds=(0.95, 0.90, 0.85, 0.80), zipf_skew: float = 1.0, seed: int = 0,
                                duration_s: float = 7 * 86_400.0, change_rate_per_s: float = 0.0,
                                ttl_s: float | None = None, insert_policy: str = "on_miss",
                                partitioned: bool = True) -> list[dict]:
    """Claim (a): a stream of Zipf-popular queries through a fresh cache per threshold, insert on miss.

    Queries arrive uniformly over ``duration_s``; rates are measured over the second half (after warm-up).
    ``partitioned`` indexes the cache by the topic centroids (an IVF whose cells are the topics), which
    gives the same rates as an exact search within a point at these thresholds and is 2-3x faster at
    60,000 queries (more as the cache grows). Each row: ``threshold, hit_rate, false_hit_rate`` (wrong-intent hits per
    query), ``stale_hit_rate`` (right intent, changed answer, per query), ``hit_rate_fresh_paraphrase,
    hit_rate_repeat, entries``.
    """
    from sim.model.arrivals import zipf_user_ids
    from sim.policies.semantic_cache import SemanticCache

    rng = np.random.default_rng(seed)
    model = SimilarityModel(params, rng)
    intent_ids = zipf_user_ids(rng, n_queries, params.n_intents, zipf_skew).astype(np.int64)
    vectors, _, is_repeat = model.query_vectors(rng, intent_ids)
    times_s = np.sort(rng.random(n_queries)) * duration_s
    centroids = model.topic_centroids if partitioned else None
    half = slice(n_queries // 2, None)
    rows = []
    for threshold in thresholds:
        versions = AnswerVersions(np.random.default_rng(seed + 1), params.n_intents, change_rate_per_s)
        cache = SemanticCache(params.dim, 10 * n_queries, threshold, ttl_s, partition_centroids=centroids,
                              insert_policy=insert_policy)
        out = replay_stream(cache, vectors, intent_ids, times_s, versions=versions)
        hit, correct, stale, repeat = out["hit"][half], out["correct"][half], out["stale"][half], is_repeat[half]
        rows.append({"threshold": threshold, "hit_rate": hit.mean(), "false_hit_rate": (hit & ~correct).mean(),
                     "stale_hit_rate": stale.mean(), "hit_rate_fresh_paraphrase": hit[~repeat].mean(),
                     "hit_rate_repeat": hit[repeat].mean() if repeat.any() else np.nan,
                     "repeat_share_measured": repeat.mean(), "entries": len(cache)})
    return rows


def preloaded_benchmark(params: SimilarityParams = GPTCACHE_BENCHMARK_PARAMS, *,
                        thresholds=(0.95, 0.90, 0.80, 0.70, 0.60), seed: int = 0) -> list[dict]:
    """Claim (b), GPTCache's benchmark shape: one paraphrase of each intent pre-loaded, another queried.

    Every query has a true match in the cache; siblings are there too. ``hit_rate`` = share of queries
    whose top-1 reaches the threshold; ``precision`` = share of those hits whose top-1 is the query's own
    intent. The cache is not changed by lookups here, so one top-1 search serves every threshold.
    """
    from sim.policies.semantic_cache import SemanticCache

    rng = np.random.default_rng(seed)
    model = SimilarityModel(params, rng)
    intents = np.arange(params.n_intents)
    cached, queries = model.paraphrases(rng, intents), model.paraphrases(rng, intents)
    cache = SemanticCache(params.dim, params.n_intents, threshold=-1.0)
    for intent in intents.tolist():
        cache.insert(cached[intent], 0.0, intent)
    found = [cache.lookup(q, 0.0) for q in queries]
    best = np.array([f.similarity for f in found])
    right = np.array([f.payload for f in found]) == intents
    return [{"threshold": t, "hit_rate": (best >= t).mean(),
             "precision": right[best >= t].mean() if (best >= t).any() else np.nan} for t in thresholds]


# ---------------------------------------------------------------------- the real reference pairs
def load_real_pairs(path: Path | str = REAL_PAIRS_NPZ) -> dict[str, np.ndarray]:
    """SemEval-2016 STS question pairs embedded by all-MiniLM-L6-v2: ``q1, q2`` (float32), ``label, cosine``."""
    with np.load(path) as data:
        return {"q1": data["q1"].astype(np.float32), "q2": data["q2"].astype(np.float32),
                "label": data["label"].astype(float), "cosine": data["cosine"].astype(float)}


def real_pair_groups(pairs: dict, n_random: int = 20_000, seed: int = 0) -> dict[str, np.ndarray]:
    """Real cosines: paraphrases (label >= 4), non-paraphrases (label <= 1), partly equivalent (2-3),
    and random pairs (q1 of one line with q2 of another: unrelated questions)."""
    label, cosine = pairs["label"], pairs["cosine"]
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, len(label), (2, n_random))
    i, j = i[i != j], j[i != j]
    return {"paraphrase": cosine[label >= 4], "non_paraphrase": cosine[label <= 1],
            "partly_equivalent": cosine[(label >= 2) & (label <= 3)],
            "random": _rowwise_cos(pairs["q1"][i], pairs["q2"][j])}


def real_pairs_cache_benchmark(pairs: dict, thresholds=(0.95, 0.90, 0.85, 0.80, 0.70, 0.60)) -> list[dict]:
    """Claim (c): the cache's own search on real vectors. All q1 loaded, every q2 queried.

    The top-1 is *right* when it is the line's own q1 (or the same question text elsewhere: cosine >= 0.999
    to it) or the query's own text cached from another line (verbatim). Rows per threshold: for paraphrase
    lines (label >= 4) ``para_hit_rate`` and ``para_precision``; for non-paraphrase lines (label <= 1)
    ``nonpara_false_match_rate`` (top-1 is the line's own, non-equivalent q1 at >= threshold); over all
    lines ``other_question_match_rate`` (top-1 at >= threshold is a *different* question, never judged:
    what a cache of these questions would serve at face value); and the plain pairwise rates
    ``para_pair_rate, nonpara_pair_rate`` (q1.q2 >= threshold) that SOURCE.md quotes.
    """
    from sim.policies.semantic_cache import SemanticCache

    q1, q2, label, cosine = pairs["q1"], pairs["q2"], pairs["label"], pairs["cosine"]
    cache = SemanticCache(q1.shape[1], len(q1), threshold=-1.0)
    for row in range(len(q1)):
        cache.insert(q1[row], 0.0, row)
    top = np.array([cache.lookup(q, 0.0).payload for q in q2])
    best = _rowwise_cos(q1[top], q2)
    own_q1 = _rowwise_cos(q1[top], q1) >= 0.999
    verbatim = best >= 0.999
    right = own_q1 | verbatim
    para, nonpara = label >= 4, label <= 1
    rows = []
    for t in thresholds:
        hit = best >= t
        rows.append({"threshold": t, "para_hit_rate": hit[para].mean(),
                     "para_precision": right[para & hit].mean() if (para & hit).any() else np.nan,
                     "nonpara_false_match_rate": (hit & own_q1 & ~verbatim)[nonpara].mean(),
                     "other_question_match_rate": (hit & ~right).mean(),
                     "para_pair_rate": (cosine[para] >= t).mean(), "nonpara_pair_rate": (cosine[nonpara] >= t).mean()})
    return rows


def calibration_chart(path: Path | str, params: SimilarityParams = SimilarityParams(),
                      real_path: Path | str = REAL_PAIRS_NPZ, seed: int = 0, n_pairs: int = 20_000) -> Path:
    """Overlay the model's pair-cosine distributions on the real MiniLM ones; write a PNG to ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    model = SimilarityModel(params, rng)
    simulated = {"paraphrase": model.paraphrase_pair_cosines(rng, n_pairs),
                 "sibling": model.sibling_pair_cosines(rng, n_pairs),
                 "unrelated": model.unrelated_pair_cosines(rng, n_pairs)}
    real = real_pair_groups(load_real_pairs(real_path), seed=seed)
    bins, coarse = np.linspace(-0.4, 1.0, 57), np.linspace(-0.4, 1.0, 29)   # real groups are small
    fig, ax = plt.subplots(figsize=(9, 4.8))
    colours = {"paraphrase": "tab:green", "sibling": "tab:orange", "unrelated": "tab:grey"}
    for name, values in simulated.items():
        ax.hist(values, bins=bins, density=True, histtype="step", lw=2, color=colours[name],
                label=f"model {name} (median {np.median(values):.2f})")
    real_styles = {"paraphrase": ("tab:green", "real paraphrases, label>=4"),
                   "non_paraphrase": ("tab:orange", "real non-paraphrases, label<=1"),
                   "partly_equivalent": ("tab:red", "real partly equivalent, label 2-3"),
                   "random": ("tab:grey", "real random pairs")}
    for name, (colour, text) in real_styles.items():
        values = real[name]
        ax.hist(values, bins=coarse, density=True, alpha=0.25, color=colour,
                label=f"{text} (n={len(values)}, median {np.median(values):.2f})")
    for t in (0.8, 0.9, 0.95):
        ax.axvline(t, color="k", ls=":", lw=1)
    ax.set_xlabel("cosine similarity")
    ax.set_ylabel("density")
    ax.set_title("Pair similarities: similarity model (lines) vs all-MiniLM-L6-v2 on SemEval-2016 STS (shaded)")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
