"""Semantic cache: answer a question with the stored answer of an earlier question that *means* the same.

The picture is a help desk with a binder of past answers. When a question comes in, the clerk leafs through
the binder for the most similar question already answered; if it is close enough, the clerk copies out the
old answer instead of asking the expert (the LLM), which saves the expert's fee and the wait. How close is
"close enough" is the whole game: a strict clerk rarely finds a match (few savings), a lax one hands out the
answer to a *neighbouring* question ("reset my password on iOS" answered with the Android steps) -- a
**false hit**, a wrong answer served with full confidence -- or an answer that was right when written but
has since changed -- a **stale hit**.

In a gateway (GPTCache, Redis LangCache, LiteLLM's ``redis-semantic`` cache) each question is embedded into
a unit vector; the cache stores (vector, answer) entries and a lookup returns the entry of highest cosine
similarity if it reaches ``threshold``. This class is that state machine:

* :meth:`SemanticCache.lookup` -- top-1 cosine among *live* entries of the searched partitions; a
  :class:`CacheLookup` with ``hit=True`` when the similarity is ``>= threshold``, else ``hit=False`` with
  the nearest entry's similarity, id and payload for diagnostics only (serve an answer only when ``hit``).
  ``None`` when the searched partitions hold no live entry at all.
* :meth:`SemanticCache.insert` -- store a vector with an opaque ``payload`` (a simulator stores the intent
  id and the insertion time there; a gateway the answer). There is no de-duplication: inserting the same
  vector twice makes two entries.
* **TTL** (``ttl_s``; ``None`` = never): an entry inserted at ``t`` is live while ``now - t < ttl_s``,
  counted from insertion (a hit does not refresh it, as with a Redis key set with ``EX``). Expired entries
  are treated as absent; they are purged lazily, from a partition when it is searched and from the whole
  cache when an insert finds it full, and counted in ``stats.expirations``.
* **Capacity** (``capacity`` entries over all partitions): an insert into a full cache first purges expired
  entries, then evicts one entry: the least recently *used* (``eviction="lru"``: insertion and each hit
  count as a use) or the oldest inserted (``"fifo"``).
* **Partitions** -- a coarse index. Entries live in per-partition arrays and a lookup searches only the
  query's partition (plus ``probe_neighbours`` others). A partition key can be a namespace the caller knows
  (tenant, model, system-prompt template: real caches never share answers across them) or, with
  ``partition_centroids``, the nearest centroid to the vector -- an IVF index in the FAISS sense, which
  trades a little recall (a paraphrase routed to a different cell than its cached twin is not found) for
  searching ``1/n_partitions`` of the entries. With one partition the search is exact.
* **Insert policy** (:meth:`SemanticCache.should_insert`), decided by the caller after it knows the
  outcome:

  - ``"on_miss"`` (GPTCache's default): every miss is answered by the LLM and its answer stored.
  - ``"verified"`` (after vCache, Schroeder et al. 2025): store only what adds knowledge. On a hit that the
    caller has *verified to be wrong* (a judge, a shadow LLM call, a user's thumbs-down) store the query's
    own answer, so its repeats find it at similarity 1.0 instead of the wrong neighbour. On a miss, store
    only if there is no near neighbour (nearest similarity below ``threshold - verify_band``, or an empty
    cache), or the caller verified that the near neighbour's answer would have been wrong. A miss that
    lies just below the threshold of a neighbour with a correct answer is *not* stored: the binder already
    has that answer (vCache would lower that entry's own threshold instead; with a static threshold the
    price is that verbatim repeats of such near-misses keep missing). The cache holds fewer, more
    distinct entries, so fewer siblings are there to be hit by mistake.

Vectors are expected unit-norm (cosine = dot product); :meth:`lookup` and :meth:`insert` do not normalise,
since the embedding model's output already is and normalising per call would cost more than the search.
Entries of a partition sit in the first ``n`` rows of a float32 matrix that grows by doubling, removals
move the last row into the hole, so a search is one matrix-vector product over filled rows with no mask.
*That product defines the answer*: a similarity is the float32 value the BLAS mat-vec over the partition's
filled rows gives, and a tie goes to the first such row.

**Cones** (``cones_from_rows``, off by default): a partition that reaches that many entries also keeps a
:class:`~sim.policies.cone_index.ConeIndex`, families of near entries each bounded by a centre and an
angular radius. A lookup reads the family nearest the query, then only the families whose bound
``cos(angle(q, centre) - radius)`` can still beat what was found (float32 rounding covered by a margin of
2e-5 per comparison, more above 64 dimensions); the rest are skipped unread. It is exact, not approximate: the surviving candidates' similarities
are recomputed bit for bit as the whole-partition mat-vec computes them (OpenBLAS sums each row in the
order of its aligned group of four rows, so the product over that group reproduces it; this is checked once
per process and dimension, and where it fails -- another BLAS, two or three dimensions -- or a partition
exceeds 4096 rows, beyond which OpenBLAS may split the product among threads, the plain mat-vec runs), then
chosen with the same tie rule. Non-unit vectors also fall back to the plain mat-vec. Measured on the
paraphrase model it does not pay (``benchmarks/README.md``): a paraphrase lies ~24 degrees from its
intent's centre and the best match is typically ~0.85, so a sibling intent's cone bound (~0.84) rarely
excludes it, and a dozen small numpy calls cost more than one mat-vec over a few thousand rows.
Time is passed in as ``now`` (seconds); the cache has no clock of its own. ``threshold``, ``ttl_s``,
``insert_policy`` and ``verify_band`` are plain attributes, so a sweep can set them between runs.
"""
from __future__ import annotations

import functools
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.policies.cone_index import ConeIndex

EVICTIONS = ("lru", "fifo")
_FEW_PROBES = 4     # up to this many probed partitions, probe_lists finds them by repeated argmax
_PLACEMENT_ROWS = 4096   # placements ranks the centroids for this many vectors at a time
INSERT_POLICIES = ("on_miss", "verified")
CONES_UP_TO_ROWS = 4096    # above this the BLAS may split the mat-vec among threads: brute force (see lookup)
SINGLE_KERNEL_ROWS = 4096  # a mat-vec over more rows is done in blocks of this many (see similarities)


def similarities(rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``rows @ vector`` (float32), the same bits on every machine.

    OpenBLAS splits a large mat-vec among its threads, and a row near a split point is summed by another
    kernel, so above ~6,000 rows the last bit of some values depends on how many threads the machine has
    (measured here: 61-136 of 500K values differ between 1 and 2 threads for 8,003-50,001 rows). Blocks
    of 4,096 rows (a multiple of the kernel's groups of four) are never split and give exactly the
    single-threaded values, whatever the thread count (``tests/policies/test_semantic_cache_exact.py``).
    """
    n = len(rows)
    if n <= SINGLE_KERNEL_ROWS:
        return rows.dot(vector)                     # .dot: the same sgemv as @, dispatched faster
    return np.concatenate([rows[i:i + SINGLE_KERNEL_ROWS].dot(vector) for i in range(0, n, SINGLE_KERNEL_ROWS)])
CONE_JOIN_COS = 0.78       # an entry joins a cone whose centre is at least this close (about 39 degrees)


@dataclass(frozen=True, slots=True)
class CacheLookup:
    """The nearest live entry: served only when ``hit``; otherwise diagnostics."""

    hit: bool
    similarity: float
    entry_id: int
    payload: Any
    inserted_at_s: float
    partition: int


@dataclass(slots=True)
class CacheStats:
    lookups: int = 0
    hits: int = 0
    inserts: int = 0
    evictions: int = 0
    expirations: int = 0

    @property
    def misses(self) -> int:
        return self.lookups - self.hits

    @property
    def hit_rate(self) -> float:
        return self.hits / self.lookups if self.lookups else 0.0


class _Partition:
    """One cell of the index: the first ``n`` rows of each array are the live entries."""

    __slots__ = ("vectors", "entry_ids", "inserted_at_s", "payloads", "n", "oldest_inserted_s", "cones",
                 "unit", "cones_from_rows")

    def __init__(self, dim: int, initial_rows: int, cones_from_rows: int | None = None):
        self.vectors = np.zeros((initial_rows, dim), dtype=np.float32)
        self.entry_ids = np.zeros(initial_rows, dtype=np.int64)
        self.inserted_at_s = np.zeros(initial_rows, dtype=np.float64)
        self.payloads: list[Any] = []
        self.n = 0
        self.oldest_inserted_s = np.inf    # a lower bound on the live entries' insertion times
        self.cones: ConeIndex | None = None   # built once the partition holds cones_from_rows entries
        self.cones_from_rows = cones_from_rows
        self.unit = True                   # every entry so far unit-norm: the cone bounds hold

    def append(self, vector: np.ndarray, entry_id: int, now: float, payload: Any) -> int:
        if self.n == len(self.entry_ids):
            rows = 2 * len(self.entry_ids)
            self.vectors = _grow(self.vectors, rows)
            self.entry_ids = _grow(self.entry_ids, rows)
            self.inserted_at_s = _grow(self.inserted_at_s, rows)
        row = self.n
        self.vectors[row] = vector
        self.entry_ids[row] = entry_id
        self.inserted_at_s[row] = now
        self.payloads.append(payload)
        self.n += 1
        self.oldest_inserted_s = min(self.oldest_inserted_s, now)
        if self.cones is not None:
            if ConeIndex.accepts(vector):
                self.cones.add(self.vectors, row)
            else:
                self.unit, self.cones = False, None
        elif self.n == self.cones_from_rows and self.unit:
            self._build_cones()
        return row

    def _build_cones(self) -> None:
        if not ConeIndex.accepts(self.vectors[:self.n]):
            self.unit = False
            return
        self.cones = ConeIndex(self.vectors.shape[1], CONE_JOIN_COS, len(self.entry_ids))
        for row in range(self.n):
            self.cones.add(self.vectors, row)

    def remove_row(self, row: int) -> int | None:
        """Move the last row into ``row``; return the entry id that moved (None if it was the last)."""
        last = self.n - 1
        moved = None
        if self.cones is not None:
            self.cones.remove(row, last)
        if row != last:
            self.vectors[row] = self.vectors[last]
            self.entry_ids[row] = self.entry_ids[last]
            self.inserted_at_s[row] = self.inserted_at_s[last]
            self.payloads[row] = self.payloads[last]
            moved = int(self.entry_ids[row])
        self.payloads.pop()
        self.n = last
        return moved


def _nearest_by_partition(sims: np.ndarray, k: int) -> np.ndarray:
    """Per row, the columns of the k largest similarities, largest first (partial sort, then sort of k)."""
    nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(sims, nearest, axis=1), axis=1)
    return np.take_along_axis(nearest, order, axis=1)


def _best_by_cones(part: _Partition, vector: np.ndarray, floor: float) -> tuple[int, float]:
    """The first row of highest similarity and that similarity, as ``part.vectors[:part.n] @ vector`` and
    ``argmax`` give them, found by reading only the rows the cones cannot exclude; ``(-1, -inf)`` when no
    row can exceed ``floor``. The candidates' similarities are recomputed by :func:`_as_in_mat_vec`."""
    rows = part.cones.contenders(part.vectors, part.n, vector, floor)
    if len(rows) == 0:
        return -1, -np.inf
    sims = _as_in_mat_vec(part.vectors, part.n, rows, vector)
    best = int(sims.argmax())           # rows ascend: the first of equal maxima, as argmax over all rows
    return int(rows[best]), float(sims[best])


def _quad(row: int, n: int) -> tuple[int, int]:
    """The rows ``[start, stop)`` whose mat-vec computes ``row`` exactly as the mat-vec over rows ``0..n-1``.

    OpenBLAS's sgemv (``A @ x`` for a float32 matrix) sums each row's products in an order set by the kernel
    that handles it: rows go in aligned groups of four, and the one to three left at the end go through
    the two-row and one-row kernels. So a row's value depends on its group, not on the rest of the matrix:
    the mat-vec over its aligned group (cut at ``n``) reproduces it, except a lone last row, whose kernel a
    one-row product does not reach (numpy takes another path): it goes with the group before it."""
    start = row - row % 4
    stop = min(start + 4, n)
    if stop - start == 1 and start >= 4:
        start -= 4
    return start, stop


def _as_in_mat_vec(vectors: np.ndarray, n: int, rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``(vectors[:n] @ vector)[rows]``, bit for bit, from the groups of :func:`_quad` only."""
    out = np.empty(len(rows), dtype=np.float32)
    done: dict[tuple[int, int], np.ndarray] = {}
    for i, row in enumerate(rows.tolist()):
        span = _quad(row, n)
        sims = done.get(span)
        if sims is None:
            sims = done[span] = vectors[span[0]:span[1]].dot(vector)
        out[i] = sims[row - span[0]]
    return out


@functools.cache
def _local_mat_vec(dim: int) -> bool:
    """Whether this machine's BLAS computes every row of a mat-vec (up to ``CONES_UP_TO_ROWS`` rows of
    ``dim`` columns) as :func:`_quad` says, checked once per process and ``dim`` on random unit vectors. If
    not (another BLAS), lookups use the plain mat-vec over whole partitions, as without cones: the results
    never depend on the index."""
    rng = np.random.default_rng(20261203)
    for n in list(range(1, 24)) + [61, 130, 255, 513, 1026, CONES_UP_TO_ROWS - 1, CONES_UP_TO_ROWS]:
        matrix = rng.standard_normal((n, dim)).astype(np.float32)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        vector = matrix[rng.integers(n)] + rng.standard_normal(dim).astype(np.float32) * np.float32(0.1)
        full = matrix.dot(vector)
        rows = np.arange(n)
        if not np.array_equal(_as_in_mat_vec(matrix, n, rows, vector), full):
            return False
    return True


def _grow(a: np.ndarray, rows: int) -> np.ndarray:
    out = np.zeros((rows,) + a.shape[1:], dtype=a.dtype)
    out[:len(a)] = a
    return out


class SemanticCache:
    """Top-1 cosine cache with threshold, TTL, LRU/FIFO eviction and a partitioned (IVF-style) index."""

    def __init__(self, dim: int, capacity: int, threshold: float, ttl_s: float | None = None, *,
                 eviction: str = "lru", n_partitions: int = 1, partition_centroids: np.ndarray | None = None,
                 probe_neighbours: int = 0, insert_policy: str = "on_miss", verify_band: float = 0.10,
                 initial_rows_per_partition: int = 64, cones_from_rows: int | None = None):
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        if eviction not in EVICTIONS:
            raise ValueError(f"eviction must be one of {EVICTIONS}, got {eviction!r}")
        if insert_policy not in INSERT_POLICIES:
            raise ValueError(f"insert_policy must be one of {INSERT_POLICIES}, got {insert_policy!r}")
        if ttl_s is not None and not ttl_s > 0:
            raise ValueError(f"ttl_s must be > 0 or None, got {ttl_s}")
        if partition_centroids is not None:
            partition_centroids = np.asarray(partition_centroids, dtype=np.float32)
            if partition_centroids.ndim != 2 or partition_centroids.shape[1] != dim:
                raise ValueError(f"partition_centroids must be (n_partitions, {dim}), "
                                 f"got {partition_centroids.shape}")
            n_partitions = len(partition_centroids)
        if n_partitions < 1:
            raise ValueError(f"n_partitions must be >= 1, got {n_partitions}")
        if cones_from_rows is not None and cones_from_rows < 1:
            raise ValueError(f"cones_from_rows must be >= 1 or None, got {cones_from_rows}")
        if probe_neighbours and partition_centroids is None:
            raise ValueError("probe_neighbours needs partition_centroids (which partitions are neighbours)")
        self.dim = int(dim)
        self.capacity = int(capacity)
        self.threshold = float(threshold)
        self.ttl_s = ttl_s
        self.eviction = eviction
        self.insert_policy = insert_policy
        self.verify_band = float(verify_band)
        self.n_partitions = int(n_partitions)
        self.partition_centroids = partition_centroids
        self.probe_neighbours = min(int(probe_neighbours), self.n_partitions - 1)
        self.stats = CacheStats()
        self._partitions = [_Partition(self.dim, initial_rows_per_partition, cones_from_rows)
                            for _ in range(self.n_partitions)]
        self._where: dict[int, tuple[int, int]] = {}         # entry id -> (partition, row)
        self._order: OrderedDict[int, None] = OrderedDict()  # eviction order, oldest / least recent first
        self._next_id = 0

    def __len__(self) -> int:
        return len(self._where)

    # ------------------------------------------------------------------ partitions
    def partition_of(self, vector: np.ndarray) -> int:
        """The partition a vector belongs to: its nearest centroid (0 without centroids)."""
        if self.partition_centroids is None:
            return 0
        return int(np.argmax(self.partition_centroids @ vector))

    def partitions_of(self, vectors: np.ndarray) -> np.ndarray:
        """:meth:`partition_of` for many vectors at once (one matrix product), as int64."""
        if self.partition_centroids is None:
            return np.zeros(len(vectors), dtype=np.int64)
        return np.argmax(vectors @ self.partition_centroids.T, axis=1).astype(np.int64)

    def probe_lists(self, vectors: np.ndarray) -> list[list[int]]:
        """For many vectors at once: the partitions a lookup searches (nearest first), as lists to pass to
        :meth:`lookup` (``partition=``), so a stream of lookups needs one matrix product, not one each."""
        return self.placements(vectors)[1]

    def placements(self, vectors: np.ndarray) -> tuple[list[int], list[list[int]]]:
        """:meth:`partitions_of` (as a list) and :meth:`probe_lists` of many vectors from one matrix product."""
        if self.partition_centroids is None:
            return [0] * len(vectors), [[0]] * len(vectors)
        home: list[int] = []
        probes: list[list[int]] = []
        # In blocks of rows: the similarities to every centroid (n x n_partitions float32, and a working copy)
        # would otherwise be the run's largest allocation, 5.6 KB per query with 700 partitions.
        for start in range(0, len(vectors), _PLACEMENT_ROWS):
            sims = vectors[start:start + _PLACEMENT_ROWS] @ self.partition_centroids.T
            home.extend(np.argmax(sims, axis=1).tolist())
            probes.extend(self._probes(sims))
        return home, probes

    def _probes(self, sims: np.ndarray) -> list[list[int]]:
        k = self.probe_neighbours + 1
        if k >= sims.shape[1]:
            return np.argsort(-sims, axis=1).tolist()
        if k <= _FEW_PROBES:
            return self._few_nearest(sims, k).tolist()
        return _nearest_by_partition(sims, k).tolist()

    @staticmethod
    def _few_nearest(sims: np.ndarray, k: int) -> np.ndarray:
        """The k nearest partitions per row by k+1 rounds of argmax (k small): a few passes over the rows
        instead of a partial sort of each. Rows with a tie among the k+1 largest similarities, where the
        order would depend on the sort's internals, are redone by :func:`_nearest_by_partition`, so the
        result is always the same as that function's."""
        work = sims.copy()
        rows = np.arange(len(work))
        picks = np.empty((len(work), k + 1), dtype=np.int64)
        values = np.empty((len(work), k + 1), dtype=work.dtype)
        for j in range(k + 1):
            picks[:, j] = col = work.argmax(axis=1)
            values[:, j] = work[rows, col]
            work[rows, col] = -np.inf
        nearest = picks[:, :k]
        tied = (values[:, 1:] == values[:, :-1]).any(axis=1)
        if tied.any():
            nearest[tied] = _nearest_by_partition(sims[tied], k)
        return nearest

    def _searched(self, vector: np.ndarray, partition) -> list[int]:
        if isinstance(partition, (list, tuple)):
            return partition
        if self.probe_neighbours == 0:
            return [self.partition_of(vector) if partition is None else self._check(partition)]
        sims = self.partition_centroids @ vector
        k = self.probe_neighbours + 1
        nearest = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
        nearest = nearest[np.argsort(-sims[nearest])].tolist()
        if partition is None:
            return nearest
        home = self._check(partition)
        return [home] + [p for p in nearest if p != home][:self.probe_neighbours]

    def _check(self, partition: int) -> int:
        if not 0 <= partition < self.n_partitions:
            raise ValueError(f"partition must be in 0..{self.n_partitions - 1}, got {partition}")
        return int(partition)

    # ------------------------------------------------------------------ lookup and insert
    def lookup(self, vector: np.ndarray, now: float, partition=None) -> CacheLookup | None:
        """Top-1 live entry of the searched partitions; ``hit`` when its cosine >= ``threshold``.

        ``partition``: None (the vector's nearest partitions), an int (that partition first), or a list of
        partitions to search (from :meth:`probe_lists`).
        """
        self.stats.lookups += 1
        vector = np.asarray(vector, dtype=np.float32)
        best_sim, best_p, best_row = -np.inf, -1, -1
        for p in partition if type(partition) is list else self._searched(vector, partition):
            part = self._partitions[p]
            if self.ttl_s is not None:
                self._purge_expired(part, now)
            if part.n == 0:
                continue
            if part.cones is not None and self._cones_hold(part, vector):
                row, sim = _best_by_cones(part, vector, best_sim)
            else:
                sims = similarities(part.vectors[:part.n], vector)
                row = sims.argmax()
                sim = sims[row]
            if sim > best_sim:
                best_sim, best_p, best_row = float(sim), p, int(row)
        if best_p < 0:
            return None
        part = self._partitions[best_p]
        entry_id = int(part.entry_ids[best_row])
        hit = best_sim >= self.threshold
        if hit:
            self.stats.hits += 1
            if self.eviction == "lru":
                self._order.move_to_end(entry_id)
        return CacheLookup(hit, best_sim, entry_id, part.payloads[best_row],
                           float(part.inserted_at_s[best_row]), best_p)

    def _cones_hold(self, part: _Partition, vector: np.ndarray) -> bool:
        """Whether the cone search gives this partition's exact answer for ``vector`` (see the module doc)."""
        return part.n <= CONES_UP_TO_ROWS and _local_mat_vec(self.dim) and ConeIndex.accepts(vector)

    def insert(self, vector: np.ndarray, now: float, payload: Any = None, partition: int | None = None) -> int:
        """Store ``vector`` with ``payload``; evict if full. Returns the new entry's id."""
        p = self.partition_of(vector) if partition is None else self._check(partition)
        if len(self._where) >= self.capacity:
            self._purge_all_expired(now)
        while len(self._where) >= self.capacity:
            victim, _ = self._order.popitem(last=False)
            self._remove(victim)
            self.stats.evictions += 1
        entry_id = self._next_id
        self._next_id += 1
        row = self._partitions[p].append(np.asarray(vector, dtype=np.float32), entry_id, float(now), payload)
        self._where[entry_id] = (p, row)
        self._order[entry_id] = None
        self.stats.inserts += 1
        return entry_id

    def should_insert(self, hit: bool, was_correct: bool | None = None,
                      best_similarity: float | None = None) -> bool:
        """Whether the caller should store this query's fresh answer, under ``insert_policy``.

        ``best_similarity`` is the nearest entry's cosine (None for an empty cache); ``was_correct`` is
        whether the nearest entry's answer was (or would have been) right, if the caller verified it.
        """
        if self.insert_policy == "on_miss":
            return not hit
        if hit:
            return was_correct is False
        if best_similarity is None or best_similarity < self.threshold - self.verify_band:
            return True
        return was_correct is False

    # ------------------------------------------------------------------ removal
    def _remove(self, entry_id: int) -> None:
        p, row = self._where.pop(entry_id)
        moved = self._partitions[p].remove_row(row)
        if moved is not None:
            self._where[moved] = (p, row)

    def _purge_expired(self, part: _Partition, now: float) -> None:
        ttl = self.ttl_s
        if ttl is None or part.n == 0 or now - part.oldest_inserted_s < ttl:
            return
        expired_rows = np.flatnonzero(now - part.inserted_at_s[:part.n] >= ttl)
        # Highest row first: the last row moved into each hole is then never one still to be removed.
        for row in expired_rows[::-1].tolist():
            entry_id = int(part.entry_ids[row])
            del self._where[entry_id]
            del self._order[entry_id]
            moved = part.remove_row(row)
            if moved is not None:
                self._where[moved] = (self._where[moved][0], row)
        self.stats.expirations += len(expired_rows)
        part.oldest_inserted_s = float(part.inserted_at_s[:part.n].min()) if part.n else np.inf

    def _purge_all_expired(self, now: float) -> None:
        for part in self._partitions:
            self._purge_expired(part, now)

    def purge_expired(self, now: float) -> int:
        """Remove every expired entry now (a periodic sweep); returns how many went."""
        before = self.stats.expirations
        self._purge_all_expired(now)
        return self.stats.expirations - before
