"""Cones over one cache partition: which entries a lookup may skip because they provably cannot win.

Picture the binder of past answers sorted into folders, one folder per family of near-identical questions,
each folder labelled with a *typical* question and with how far its most unusual member strays from it. A
clerk holding a new question reads the labels first: a folder whose typical question is far from the new one,
further than the folder's own spread can bridge, cannot hold the best match, so it stays closed.

On the unit sphere a folder is a **cone**: a centre direction ``c`` and an angular radius ``r`` (every member
``x`` has ``angle(x, c) <= r``). By the triangle inequality for angles, a query ``q`` at ``angle(q, c) = t``
has, with every member, ``angle(q, x) >= t - r``, so ``cos(q, x) <= cos(max(0, t - r))``.

A search reads the members of the cone whose centre is nearest the query; what the best of them reaches
(or the caller's ``floor``, if higher) is a level ``L`` that some row certainly reaches. A cone can only
hold a row above ``L`` if ``t - r <= arccos(L)``, i.e. ``cos(q, c) >= cos(r + arccos(L))``: one matrix-vector
product over the centres and one comparison per cone, and the other cones are skipped without reading their
members. Paraphrases of one intent sit close together and away from other intents, so many cones of a
partition are skipped -- how many depends on how tight the families are against how far apart (see
``benchmarks/README.md``: on the simulator's paraphrase model, not enough to pay).

How cones form (online, as entries arrive): an entry joins the cone whose centre is nearest if its cosine to
that centre is at least ``join_cos``, else it starts a new cone centred on itself. Each time a cone's size
reaches a power of two its centre is moved to its members' normalised mean and its radius recomputed
exactly over the members (amortised O(1) per insert), so the centre drifts to the middle of the family and
the radius stays tight. Removing a member never shrinks the radius (it stays a valid bound); an emptied
cone is dropped.

Exactness. The bounds are evaluated in float64 from float32 dot products. A float32 dot product of two unit
vectors in ``d`` dimensions is within ``d * 2**-24`` of the real number (4e-6 for 64 dimensions) and unit
norms are trusted to 5e-6, so every comparison gives away a margin of ``MARGIN * max(1, d / 64)``. The
search returns the rows whose *approximate* similarity is within two margins of the best approximate one:
a superset of the rows whose exact similarity (as the caller computes it) is the maximum. The caller then
decides among those exactly. The bounds hold only for unit vectors: :meth:`ConeIndex.accepts` tells a
caller whether a vector is unit-norm enough; a partition holding any other vector is searched by brute
force instead.

The index is plain numpy with no knowledge of the cache: it mirrors the partition's rows (``add`` when a
row is appended, ``remove`` when the last row moves into a hole) and reads the partition's vector matrix.
"""
from __future__ import annotations

import numpy as np

MARGIN = 2e-5            # per comparison at <= 64 dims: float32 rounding of a dot product (4e-6) and norms (5e-6)
UNIT_TOLERANCE = 1e-5    # |x|^2 must be within this of 1 for the cone bounds to hold


class ConeIndex:
    """Cones (centre, angular radius) over the first ``n`` rows of a partition's vector matrix."""

    __slots__ = ("join_cos", "margin", "centres", "cos_radius", "sizes", "recentre_at", "cone_of", "k")

    def __init__(self, dim: int, join_cos: float, rows: int, cones: int = 16):
        self.join_cos = float(join_cos)
        self.margin = MARGIN * max(1.0, dim / 64)      # the rounding of a dot product grows with dim
        self.centres = np.zeros((cones, dim), dtype=np.float32)
        self.cos_radius = np.ones(cones, dtype=np.float64)   # min cosine of a member to the centre
        self.sizes = np.zeros(cones, dtype=np.int64)
        self.recentre_at = np.zeros(cones, dtype=np.int64)
        self.cone_of = np.zeros(rows, dtype=np.int32)         # per partition row: its cone
        self.k = 0

    @staticmethod
    def accepts(vectors: np.ndarray) -> bool:
        """Whether every vector (a row, or rows) is unit-norm within ``UNIT_TOLERANCE``."""
        if vectors.ndim == 1:
            return abs(float(vectors @ vectors) - 1.0) <= UNIT_TOLERANCE
        squared = np.einsum("...i,...i->...", vectors, vectors, dtype=np.float64)
        return bool(np.all(np.abs(squared - 1.0) <= UNIT_TOLERANCE))

    # ------------------------------------------------------------------ mirroring the partition's rows
    def add(self, vectors: np.ndarray, row: int) -> None:
        """Row ``row`` of ``vectors`` was appended (it is the last filled row)."""
        if row >= len(self.cone_of):
            grown = np.zeros(2 * max(row, 1), dtype=np.int32)
            grown[:len(self.cone_of)] = self.cone_of
            self.cone_of = grown
        x = vectors[row]
        j = -1
        if self.k:
            cos = self.centres[:self.k] @ x
            j = int(cos.argmax())
            if cos[j] < self.join_cos:
                j = -1
        if j < 0:
            j = self._new_cone(x)
        self.cone_of[row] = j
        self.sizes[j] += 1
        self.cos_radius[j] = min(self.cos_radius[j], float(self.centres[j] @ x))
        if self.sizes[j] >= self.recentre_at[j]:
            self._recentre(vectors, row + 1, j)

    def remove(self, row: int, last: int) -> None:
        """Row ``row`` left and the partition moved row ``last`` into it (``row == last``: it was the last)."""
        j = int(self.cone_of[row])
        self.cone_of[row] = self.cone_of[last]
        self.sizes[j] -= 1
        if self.sizes[j] == 0:
            self._drop_cone(j, last)

    def _new_cone(self, centre: np.ndarray) -> int:
        if self.k == len(self.sizes):
            cones = 2 * self.k
            self.centres = _grow(self.centres, cones)
            self.cos_radius = _grow(self.cos_radius, cones, 1.0)
            self.sizes = _grow(self.sizes, cones)
            self.recentre_at = _grow(self.recentre_at, cones)
        j = self.k
        self.k += 1
        self.centres[j] = centre
        self.cos_radius[j] = 1.0
        self.sizes[j] = 0
        self.recentre_at[j] = 2
        return j

    def _recentre(self, vectors: np.ndarray, n: int, j: int) -> None:
        members = vectors[np.flatnonzero(self.cone_of[:n] == j)]
        centre = members.sum(axis=0, dtype=np.float64)
        norm = np.linalg.norm(centre)
        if norm > 0.5:     # a spread-out cone keeps its old centre (a mean near zero points nowhere)
            self.centres[j] = centre / norm
        self.cos_radius[j] = float((members @ self.centres[j]).min())
        self.recentre_at[j] = 2 * len(members)

    def _drop_cone(self, j: int, n: int) -> None:
        """Cone ``j`` is empty; the last cone takes its number (``n``: rows still filled)."""
        last = self.k - 1
        if j != last:
            self.centres[j] = self.centres[last]
            self.cos_radius[j] = self.cos_radius[last]
            self.sizes[j] = self.sizes[last]
            self.recentre_at[j] = self.recentre_at[last]
            cones = self.cone_of[:n]
            cones[cones == last] = j
        self.k = last

    # ------------------------------------------------------------------ search
    def contenders(self, vectors: np.ndarray, n: int, query: np.ndarray, floor: float) -> np.ndarray:
        """Rows (ascending) that may hold the maximum exact similarity among rows ``0..n-1`` when that
        maximum is above ``floor``: every row of the maximum is in it (empty: none can beat ``floor``).

        First the members of the cone whose centre is nearest; what they reach (or ``floor``) is a level
        ``L`` some row certainly reaches. A cone can only hold a row above ``L`` if ``angle(q, c) - r <=
        arccos(L)``, i.e. ``cos(q, c) >= cos(r + arccos(L))``: one comparison per cone, no arccos."""
        cq = (self.centres[:self.k] @ query).astype(np.float64)
        cones = self.cone_of[:n]
        top = int(cq.argmax())
        rows = np.flatnonzero(cones == top)
        sims = vectors[rows] @ query
        best = float(sims.max())
        # A row at or below this level is not the answer: some row is above it, or it cannot beat floor.
        level = max(floor, best - 2 * self.margin) - self.margin
        if level > 0.0:          # then arccos(level) < 90 degrees and r + arccos(level) < 180 degrees
            cr = np.clip(self.cos_radius[:self.k] - self.margin, -1.0, 1.0)
            reach = cr * level - np.sqrt((1.0 - cr * cr) * (1.0 - level * level))   # cos(r + arccos(L))
            others = (cq + self.margin >= reach) | (cr < 0.0)
        else:
            others = np.ones(self.k, dtype=bool)
        others[top] = False
        if others.any():
            more = np.flatnonzero(others[cones])
            rows = np.concatenate((rows, more))
            sims = np.concatenate((sims, vectors[more] @ query))
            best = float(sims.max())
        if best + 2 * self.margin < floor:
            return rows[:0]
        rows = rows[sims >= best - 2 * self.margin]
        rows.sort()
        return rows


def _grow(a: np.ndarray, rows: int, fill=0) -> np.ndarray:
    out = np.full((rows,) + a.shape[1:], fill, dtype=a.dtype)
    out[:len(a)] = a
    return out
