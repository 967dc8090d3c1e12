"""What the crowd knows: item-item similarity from every shopper's star ratings (sparse item-kNN on co-ratings).

Stars become signed confidences, 3★ neutral and dislikes negative (``STAR_CONFIDENCE``: 5★ +1, 4★ +0.5,
3★ 0, 2★ -0.5, 1★ -1), so "shoppers who loved i disliked j" pulls j down instead of being ignored.
For items i, j with W the (shoppers, items) confidence matrix::

    similarity_ij = (W_i · W_j) / (|W_i| |W_j| + shrink)        an adjusted cosine, shrunk toward 0 for thin pairs

Privacy (k-anonymity): a pair exists in the fitted model only when at least ``min_shoppers`` distinct shoppers
rated both pieces (``MIN_SHOPPERS`` = 5 by default); every other pair is dropped before anything is kept, so it can
neither be shown nor influence a pick. "Shoppers who loved this also loved" further needs ``min_shoppers`` shoppers
who *loved* (4–5★) both. The fitted model holds only item×item aggregates — similarity, how many shoppers rated
both, how many loved both — and two totals; no user id, no single shopper's row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:  # annotations only: the model reads any store with rating_codes()
    from jewelrec.space.ratings import RatingCodes

MIN_SHOPPERS = 5  # k-anonymity: fewer distinct shoppers behind a pair and the pair does not exist
LOVED = 4  # stars from which a rating counts as "loved" in "shoppers who loved this also loved"
STAR_CONFIDENCE = np.array([0.0, -1.0, -0.5, 0.0, 0.5, 1.0], dtype=np.float32)  # index = stars (1..5)
HALF_STEPS = (2 * STAR_CONFIDENCE).astype(np.int64)  # the same in halves: whole numbers, so sums are exact
STARS = np.arange(1, 6, dtype=np.float64)  # the whole stars STAR_CONFIDENCE[1:] maps


class CollaborativeModel:
    """Item-kNN over co-ratings. ``fit(items, users, stars)`` → ``similarity_`` (n, n) CSR, ``co_raters_`` and
    ``co_lovers_`` (n, n) CSR on the same pattern (distinct shoppers per pair), ``n_shoppers_``, ``n_ratings_``."""

    def __init__(self, item_ids: Sequence[str], *, min_shoppers: int = MIN_SHOPPERS, shrink: float = 5.0,
                 neighbours: int = 100, dislikes: bool = True):
        if int(min_shoppers) < 1:
            raise ValueError(f"min_shoppers must be at least 1, got {min_shoppers!r}")
        self.item_ids = [str(i) for i in item_ids]  # the catalog the rows refer to (bundle order)
        self.min_shoppers = int(min_shoppers)  # privacy threshold, also the noise floor for a pair
        self.shrink = float(shrink)  # pseudo-count in the cosine's denominator: a 5-shopper pair counts less
        self.neighbours = int(neighbours)  # strongest links kept per item: bounds memory and request cost
        self.dislikes = bool(dislikes)  # 1–2★ as negative confidence (False: likes only, dislikes read as 0)
        self._row = {item: r for r, item in enumerate(self.item_ids)}

    # -- fitting -------------------------------------------------------------------------------------
    def fit(self, items: Sequence[str] | np.ndarray, users: Sequence | np.ndarray,
            stars: Sequence[int] | np.ndarray) -> CollaborativeModel:
        """Learn from one rating per row: ``items`` (m,) item ids, ``users`` (m,) any hashable shopper keys
        (used only to group rows, then dropped), ``stars`` (m,) whole numbers 1–5. Items outside the catalog are
        skipped; a shopper's repeated rating of one piece counts once, the last row (a history, not a vote each).
        The same as ``finish(totals(items, users, stars))``."""
        return self.finish(self.totals(items, users, stars))

    def totals(self, items: Sequence[str] | np.ndarray, users: Sequence | np.ndarray,
               stars: Sequence[int] | np.ndarray) -> CoRatingTotals:
        """The :class:`CoRatingTotals` of these ratings (same arguments as :meth:`fit`)."""
        items = np.asarray(items, dtype=object)
        stars = whole_stars(stars)
        if not (len(items) == len(users) == len(stars)):
            raise ValueError(f"items, users and stars must have one value per rating, got lengths "
                             f"{len(items)}, {len(users)}, {len(stars)}")
        rows = np.fromiter((self._row.get(str(i), -1) for i in items), dtype=np.int64, count=len(items))
        known = rows >= 0
        _, shopper = np.unique(np.asarray(users, dtype=object)[known].astype(str), return_inverse=True)
        return CoRatingTotals.of(rows[known], shopper.astype(np.int64), stars[known], len(self.item_ids),
                                 dislikes=self.dislikes)

    def finish(self, totals: CoRatingTotals) -> CollaborativeModel:
        """The fitted model from a crowd's totals: the k-anonymity cut at ``min_shoppers``, the shrunk cosine,
        the ``neighbours`` strongest links per item and the co-lover counts on that pattern."""
        n = len(self.item_ids)
        if totals.n_items != n or totals.dislikes != self.dislikes:
            raise ValueError(f"totals for {totals.n_items} items (dislikes={totals.dislikes}) do not fit this model "
                             f"({n} items, dislikes={self.dislikes}); compute them with this model's totals()")
        # Totals are exact integers (confidences are multiples of 1/2), so these float32 values are exact and the
        # result does not depend on the order the ratings were summed in: a full fit and an incremental update agree.
        co_raters = totals.co_raters.astype(np.float32)  # (n, n) distinct shoppers who rated both
        co_raters.setdiag(0)
        co_raters.data[co_raters.data < self.min_shoppers] = 0  # k-anonymity: thin pairs vanish here
        co_raters.eliminate_zeros()
        keep = co_raters.astype(bool).astype(np.float32)  # (n, n) pattern of the pairs allowed to exist
        dot = (totals.dot4.astype(np.float32) * np.float32(0.25)).multiply(keep).tocsr()  # (n, n) Σ w_i w_j
        norms = np.sqrt(totals.dot4.diagonal().astype(np.float32) * np.float32(0.25))  # (n,) |W_i|
        coo = dot.tocoo()
        sim = coo.data / (norms[coo.row] * norms[coo.col] + self.shrink)
        similarity = sp.csr_matrix((sim.astype(np.float32), (coo.row, coo.col)), shape=(n, n))
        similarity.eliminate_zeros()  # a pair rated only 3★ carries no signal
        similarity = _top_per_row(similarity, self.neighbours)
        pattern = similarity.astype(bool).astype(np.float32)
        self.similarity_ = similarity
        self.co_raters_ = _on_pattern(co_raters, similarity)
        self.co_lovers_ = _on_pattern(totals.co_lovers.astype(np.float32).multiply(pattern).tocsr(), similarity)
        self.n_shoppers_, self.n_ratings_ = int(totals.n_shoppers), int(totals.n_ratings)
        return self

    @classmethod
    def from_store(cls, store, item_ids: Sequence[str], **params) -> CollaborativeModel:
        """Fit on every current rating in a :class:`~jewelrec.space.ratings.RatingStore` (read as integer
        columns: :meth:`~jewelrec.space.ratings.RatingStore.rating_codes`)."""
        model = cls(item_ids, **params)
        totals, _ = model.store_totals(store)
        return model.finish(totals)

    def store_totals(self, store) -> tuple[CoRatingTotals, RatingCodes]:
        """(the totals of every current rating in ``store``, the read they came from — its write counter and
        mark, for a later incremental update)."""
        codes = store.rating_codes(self.item_ids)
        return CoRatingTotals.of(codes.rows, codes.shoppers, codes.stars, len(self.item_ids),
                                 dislikes=self.dislikes), codes

    # -- reading -------------------------------------------------------------------------------------
    @property
    def n_pairs(self) -> int:
        """Directed links kept (each pair counts once per direction)."""
        self._check_fitted()
        return int(self.similarity_.nnz)

    def _check_fitted(self) -> None:
        if not hasattr(self, "similarity_"):
            raise RuntimeError("CollaborativeModel is not fitted yet; call fit(items, users, stars) first")

    def row_of(self, item_id: str) -> int:
        return self._row.get(str(item_id), -1)

    def neighbours_of(self, row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, similarities, co-raters) of one item's kept links, each (l,)."""
        s = self.similarity_
        lo, hi = s.indptr[row], s.indptr[row + 1]
        return s.indices[lo:hi], s.data[lo:hi], self.co_raters_.data[lo:hi]

    def loved_with(self, row: int) -> np.ndarray:
        """(l,) shoppers who loved both ``row`` and each of its kept links, in :meth:`neighbours_of`'s order."""
        s = self.similarity_
        return self.co_lovers_.data[s.indptr[row]:s.indptr[row + 1]]

    def also_loved(self, item_id: str, k: int = 8) -> list[tuple[str, float, int]]:
        """"Shoppers who loved this also loved": ``[(item_id, similarity, shoppers who loved both)]``, only pairs
        that at least ``min_shoppers`` shoppers loved together and that the crowd rates alike (similarity > 0);
        ``[]`` when there is no such evidence."""
        self._check_fitted()
        row = self.row_of(item_id)
        if row < 0:
            return []
        s, lovers = self.similarity_, self.co_lovers_
        lo, hi = s.indptr[row], s.indptr[row + 1]
        cols, sims, both = s.indices[lo:hi], s.data[lo:hi], lovers.data[lo:hi]
        ok = (sims > 0) & (both >= self.min_shoppers)
        order = np.argsort(-sims[ok], kind="stable")[:k]
        return [(self.item_ids[c], float(v), int(b)) for c, v, b in zip(cols[ok][order], sims[ok][order],
                                                                      both[ok][order])]

    def summary(self) -> dict:
        self._check_fitted()
        return {"shoppers": self.n_shoppers_, "ratings": self.n_ratings_, "links": self.n_pairs,
                "min_shoppers": self.min_shoppers}


class CoRatingTotals:
    """What a crowd's ratings add up to, item by item — the sums a :class:`CollaborativeModel` is finished from.

    All (n, n) CSR int64, summed over shoppers u with r_u (rated 0/1), w_u (confidence) and l_u (loved 0/1):
    ``co_raters`` Σ r_u r_uᵀ, ``dot4`` 4·Σ w_u w_uᵀ (confidences are multiples of 1/2, so 4× is a whole number;
    its diagonal is 4·|W_i|²), ``co_lovers`` Σ l_u l_uᵀ; plus ``n_shoppers`` and ``n_ratings``. No user id.
    Because a shopper's share is added, a shopper's change is ``totals + of(now) - of(before)`` exactly. These are
    *not* k-anonymous (pairs of one shopper are in them): they stay inside the refresher, never served or saved.
    """

    def __init__(self, co_raters: sp.csr_matrix, dot4: sp.csr_matrix, co_lovers: sp.csr_matrix, n_shoppers: int,
                 n_ratings: int, *, dislikes: bool = True):
        self.co_raters, self.dot4, self.co_lovers = co_raters, dot4, co_lovers
        self.n_shoppers, self.n_ratings = int(n_shoppers), int(n_ratings)
        self.dislikes = bool(dislikes)
        self.n_items = co_raters.shape[0]

    @classmethod
    def of(cls, rows: np.ndarray, shoppers: np.ndarray, stars: np.ndarray, n_items: int, *,
           dislikes: bool = True) -> CoRatingTotals:
        """Totals of ratings given as ``rows`` (m,) catalog rows, ``shoppers`` (m,) 0-based shopper numbers and
        ``stars`` (m,) 1–5. A shopper counts in ``n_shoppers`` when they have at least one of these rows."""
        rows, stars = np.asarray(rows, dtype=np.int64), whole_stars(stars)
        shoppers = np.asarray(shoppers, dtype=np.int64)
        if len(rows):  # a shopper's repeated rating of a piece is one rating, the last: each pair counts shoppers
            key = shoppers * max(n_items, 1) + rows
            _, last = np.unique(key[::-1], return_index=True)
            keep = np.sort(len(key) - 1 - last)
            rows, stars, shoppers = rows[keep], stars[keep], shoppers[keep]
        m = int(shoppers.max()) + 1 if len(shoppers) else 0
        confidence = HALF_STEPS if dislikes else np.maximum(HALF_STEPS, 0)
        shape = (m, n_items)

        def gram(values: np.ndarray) -> sp.csr_matrix:  # (n, n) Σ over shoppers of v_u v_uᵀ
            matrix = sp.csr_matrix((values, (shoppers, rows)), shape=shape)  # (shoppers, n)
            matrix.eliminate_zeros()
            return (matrix.T @ matrix).tocsr()

        return cls(gram(np.ones(len(rows), np.int64)), gram(confidence[stars]),
                   gram((stars >= LOVED).astype(np.int64)), len(np.unique(shoppers)), len(rows), dislikes=dislikes)

    def update(self, added: CoRatingTotals, removed: CoRatingTotals) -> CoRatingTotals:
        """``self + added - removed`` as new totals (self is left as it was). Raises ValueError when a count goes
        below zero: ``removed`` held ratings these totals never had (the log and the totals disagree)."""
        if not (self.n_items == added.n_items == removed.n_items and self.dislikes == added.dislikes
                == removed.dislikes):
            raise ValueError("totals of different catalogs or confidence maps cannot be combined")

        def combine(a: sp.csr_matrix, b: sp.csr_matrix, c: sp.csr_matrix) -> sp.csr_matrix:
            out = (a + b - c).tocsr()
            out.eliminate_zeros()  # a pair nobody co-rates any more leaves no stored zero behind
            return out

        out = CoRatingTotals(combine(self.co_raters, added.co_raters, removed.co_raters),
                             combine(self.dot4, added.dot4, removed.dot4),
                             combine(self.co_lovers, added.co_lovers, removed.co_lovers),
                             self.n_shoppers + added.n_shoppers - removed.n_shoppers,
                             self.n_ratings + added.n_ratings - removed.n_ratings, dislikes=self.dislikes)
        negative = min(out.co_raters.data.min(initial=0), out.co_lovers.data.min(initial=0),
                       out.dot4.diagonal().min(initial=0), out.n_shoppers, out.n_ratings)
        if negative < 0:
            raise ValueError("a crowd total went below zero: the ratings removed were never added; refit in full")
        return out


def whole_stars(stars: Sequence[int] | np.ndarray) -> np.ndarray:
    """(m,) int64 stars, refusing anything but whole numbers 1–5: a cast truncated 4.9★ to 4★ and read True as 1★."""
    values = np.asarray(stars)
    if values.dtype == bool or not (np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)):
        raise ValueError(f"stars must be whole numbers 1–5, got values of type {values.dtype} (e.g. "
                         f"{values.ravel()[:1].tolist()}); convert them to integers first")
    whole = values.astype(np.int64) if np.issubdtype(values.dtype, np.integer) else None
    if whole is None:
        finite = np.isfinite(values)
        if not finite.all() or not np.array_equal(values, np.round(values)):
            bad = values[~finite | (values != np.round(values))][:3].tolist()
            raise ValueError(f"stars must be whole numbers 1–5, got {bad}; round or drop those ratings first")
        whole = values.astype(np.int64)
    if len(whole) and (whole.min() < 1 or whole.max() > 5):
        raise ValueError(f"stars must be 1–5, got values from {whole.min()} to {whole.max()}")
    return whole


def _top_per_row(matrix: sp.csr_matrix, keep: int) -> sp.csr_matrix:
    """The ``keep`` largest-|value| entries of each row (all when a row has fewer). (n, n) CSR, sorted indices."""
    matrix = matrix.tocsr()
    matrix.sort_indices()
    counts = np.diff(matrix.indptr)
    if counts.max(initial=0) > keep:
        mask = np.zeros(matrix.nnz, dtype=bool)
        for row in np.flatnonzero(counts > keep):
            lo, hi = matrix.indptr[row], matrix.indptr[row + 1]
            mask[lo + np.argpartition(-np.abs(matrix.data[lo:hi]), keep - 1)[:keep]] = True
        mask[np.repeat(counts <= keep, counts)] = True
        matrix = sp.csr_matrix((matrix.data * mask, matrix.indices, matrix.indptr), shape=matrix.shape)
        matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix


def _on_pattern(values: sp.csr_matrix, pattern: sp.csr_matrix) -> sp.csr_matrix:
    """``values`` read at exactly ``pattern``'s stored entries (same indptr/indices; 0 where absent)."""
    values = values.tocsr()
    data = np.asarray(values[pattern.nonzero()]).ravel() if pattern.nnz else np.zeros(0)
    out = sp.csr_matrix((data.astype(np.float32), pattern.indices.copy(), pattern.indptr.copy()),
                        shape=pattern.shape)
    return out
