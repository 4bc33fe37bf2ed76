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
``repeat_share`` is the knob that carries the "35-50% at 0.95" claim. The calibration itself (pair samples,
cache-only benchmarks, the real reference pairs) lives in :mod:`sim.calibration.similarity`, with
``GPTCACHE_BENCHMARK_PARAMS``, a second set, tighter paraphrases and denser near-duplicate siblings, that
reproduces the shape of GPTCache's published benchmark (a curated set of similar-question pairs, not production traffic).

:class:`AnswerVersions` is the other half of correctness: when each intent's right answer changes (a
Poisson process per intent), so a caller can tell a *stale* hit from a fresh one.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

import numpy as np


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
    _WORDS_BLOCK = 4096      # intents whose generators' seed words are hashed together

    def __init__(self, rng: np.random.Generator, n_intents: int, change_rate_per_s: float | np.ndarray):
        rates = np.broadcast_to(np.asarray(change_rate_per_s, dtype=float), (int(n_intents),))
        if (rates < 0).any() or not np.isfinite(rates).all():
            raise ValueError("change_rate_per_s must be finite and >= 0")
        self.n_intents = int(n_intents)
        self.change_rate_per_s = rates
        self._rates = rates.tolist()       # plain floats: read once per lookup, cheaper than numpy scalars
        self._seed = int(rng.integers(0, 2**63 - 1))
        self._times: dict[int, list[float]] = {}
        # Intent i's generator is PCG64(SeedSequence(seed, spawn_key=(i,))). Building thousands of them costs
        # ~26 us each; one shared PCG64 set to intent i's state (seeded from words hashed for all intents at
        # once) draws the same numbers, and keeps each intent's state between its blocks.
        self._seed_words: dict[int, np.ndarray] = {}     # block of _WORDS_BLOCK intents -> their seed words
        self._states: dict[int, dict] = {}
        self._bits = np.random.PCG64(0)
        self._draws = np.random.Generator(self._bits)

    def _times_until(self, intent: int, t_s: float) -> list[float]:
        times = self._times.get(intent)
        if times is None:
            times = self._times[intent] = []
        rate = self._rates[intent]
        if rate == 0 or (times and times[-1] > t_s):
            return times
        bits = self._bits
        state = self._states.get(intent)
        bits.state = state if state is not None else self._initial_state(intent)
        while not times or times[-1] <= t_s:
            last = times[-1] if times else 0.0
            times.extend((last + np.cumsum(self._draws.standard_exponential(self._BLOCK)) / rate).tolist())
        self._states[intent] = bits.state
        return times

    def _initial_state(self, intent: int) -> dict:
        block, offset = divmod(intent, self._WORDS_BLOCK)
        words = self._seed_words.get(block)
        if words is None:
            start = block * self._WORDS_BLOCK
            words = self._seed_words[block] = spawned_seed_words(
                self._seed, min(start + self._WORDS_BLOCK, self.n_intents), start)
        return pcg64_state(words[offset])

    def change_times(self, intent: int, until_s: float) -> np.ndarray:
        """The intent's answer-change times in ``(0, until_s]``."""
        times = np.asarray(self._times_until(int(intent), until_s))
        return times[times <= until_s]

    def changed_between(self, intent: int, t0_s: float, t1_s: float) -> bool:
        """Whether the intent's answer changed in ``(t0_s, t1_s]``."""
        times = self._times_until(int(intent), t1_s)
        i = bisect_right(times, t0_s)      # = np.searchsorted(side="right") on a sorted list, without the copy
        return i < len(times) and times[i] <= t1_s


# ---------------------------------------------------------------------- many spawned generators at once
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_PCG64_MULTIPLIER = (2549297995355413924 << 64) | 4865540595714422341
_U32, _U128 = 2**32 - 1, 2**128 - 1


def spawned_seed_words(entropy: int, stop: int, start: int = 0) -> np.ndarray:
    """``SeedSequence(entropy, spawn_key=(k,)).generate_state(4, np.uint64)`` for k = start..stop-1, as
    ``[stop - start, 4]`` uint64: numpy's SeedSequence hash (pool of four uint32 words, hashmix and mix) run
    on all k at once. Bit-identical to numpy's (tests/model/test_similarity.py checks it)."""
    if not 0 <= entropy < 2**128 or not 0 <= start <= stop <= 2**32:
        raise ValueError("entropy must be in [0, 2**128) and 0 <= start <= stop <= 2**32")
    n = stop - start
    run = []
    while True:
        run.append(entropy & _U32)
        entropy >>= 32
        if entropy == 0:
            break
    run += [0] * (4 - len(run))                    # a spawn key pads the run entropy to the pool size
    keys = np.arange(start, stop, dtype=np.uint64).astype(np.uint32)
    entropy_words = [np.full(n, w, dtype=np.uint32) for w in run] + [keys]
    hash_const = [_INIT_A]

    def hashmix(value):
        value = value ^ np.uint32(hash_const[0])
        hash_const[0] = (hash_const[0] * _MULT_A) & _U32
        value = value * np.uint32(hash_const[0])
        return value ^ (value >> np.uint32(16))

    def mix(x, y):
        result = np.uint32(_MIX_L) * x - np.uint32(_MIX_R) * y
        return result ^ (result >> np.uint32(16))

    pool = [hashmix(entropy_words[i]) for i in range(4)]
    for src in range(4):
        for dst in range(4):
            if src != dst:
                pool[dst] = mix(pool[dst], hashmix(pool[src]))
    for src in range(4, len(entropy_words)):
        for dst in range(4):
            pool[dst] = mix(pool[dst], hashmix(entropy_words[src]))
    out = np.empty((n, 8), dtype=np.uint32)
    const = _INIT_B
    for i in range(8):
        value = pool[i % 4] ^ np.uint32(const)
        const = (const * _MULT_B) & _U32
        value = value * np.uint32(const)
        out[:, i] = value ^ (value >> np.uint32(16))
    words = out.astype(np.uint64)
    return words[:, 0::2] | (words[:, 1::2] << np.uint64(32))     # little-endian pairs, as numpy views them


def pcg64_state(words) -> dict:
    """The ``PCG64.state`` that ``PCG64`` seeded with these four words (from :func:`spawned_seed_words`)
    starts in: PCG's set-seq seeding, state and increment as 128-bit integers."""
    w0, w1, w2, w3 = (int(w) for w in words)
    seed, seq = (w0 << 64) | w1, (w2 << 64) | w3
    inc = ((seq << 1) | 1) & _U128
    state = ((inc + seed) * _PCG64_MULTIPLIER + inc) & _U128
    return {"bit_generator": "PCG64", "state": {"state": state, "inc": inc}, "has_uint32": 0, "uinteger": 0}
