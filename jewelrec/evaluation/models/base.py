"""The one small interface every collaborative-filtering / content model shares (shaped like ``implicit``'s).

``fit(user_items)`` learns from a (n_users, n_items) CSR of confidences and returns ``self``;
``recommend(user_ids, user_items, k)`` returns ``(ids (n, k) int64, scores (n, k) float32)`` for a batch of users,
where ``user_items`` has one row per requested user (their history, used to remove seen items and, for models that
score from history — item-kNN, EASE, visual — to build the scores). Slots a model cannot fill hold id ``-1`` and
score ``-inf``. Learned state ends in ``_``.

Subclasses implement ``_fit`` and ``score`` (a dense (n, n_items) block for a batch of users; ``-inf`` = cannot
score); the base class batches, masks seen items and takes the top k. The dense block is bounded by
``max_block_bytes``, never the whole user×item matrix.

Items without a single training interaction (``~item_has_data_``) are never recommended by a collaborative
model: what it "scores" for them is a placeholder (0, or BPR's random start), and in an offline split those items
are exactly the ones that appear only on the test side, so ranking them would hit the test set by elimination.
Content models, which score every item from its embedding, set ``scores_items_without_interactions = True``.
"""

from __future__ import annotations

import os

import numpy as np
import scipy.sparse as sp

# 128 MiB of float32 scores per batch: big enough for BLAS to be efficient, small enough for a shared 2-core box.
DEFAULT_BLOCK_BYTES = 128 * 2**20


def usable_threads(requested: int) -> int:
    """``num_threads`` as implicit may run it: 0 (all cores) as is, more than the machine's cores as the cores — a
    config written for a bigger box still runs, and 100,000 threads (which crash implicit's OpenMP) are never made."""
    return min(int(requested), os.cpu_count() or 1)


class NotFittedError(RuntimeError):
    pass


def as_user_items(user_items: sp.spmatrix, n_items: int | None = None) -> sp.csr_matrix:
    """Validate and convert to float32 CSR with sorted indices."""
    if not sp.issparse(user_items):
        raise TypeError(f"user_items must be a scipy.sparse matrix (users × items), got {type(user_items).__name__}")
    matrix = sp.csr_matrix(user_items, dtype=np.float32)
    matrix.sort_indices()
    if n_items is not None and matrix.shape[1] != n_items:
        raise ValueError(f"user_items has {matrix.shape[1]} item columns but the model was fit on {n_items}")
    return matrix


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top k of a dense block (n, n_items) → ids (n, k) int64 (-1 for -inf), scores (n, k)."""
    n, n_items = scores.shape
    kk = min(k, n_items)
    if kk < n_items:
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]  # (n, kk) unordered
    else:
        part = np.broadcast_to(np.arange(n_items), (n, n_items)).copy()
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    ids = np.take_along_axis(part, order, axis=1).astype(np.int64)
    top = np.take_along_axis(part_scores, order, axis=1).astype(np.float32)
    ids[~np.isfinite(top)] = -1
    top[~np.isfinite(top)] = -np.inf
    if kk < k:  # catalog smaller than k: pad with empty slots
        ids = np.pad(ids, ((0, 0), (0, k - kk)), constant_values=-1)
        top = np.pad(top, ((0, 0), (0, k - kk)), constant_values=-np.inf)
    return ids, top


def in_rows(user_items: sp.csr_matrix, candidates: np.ndarray) -> np.ndarray:
    """(n, m) bool: is ``candidates[u, j]`` stored in row ``u`` of ``user_items`` (sorted indices)."""
    n_items = user_items.shape[1]
    rows = np.repeat(np.arange(user_items.shape[0], dtype=np.int64), np.diff(user_items.indptr))
    keys = rows * n_items + user_items.indices  # (nnz,) sorted
    query = np.arange(user_items.shape[0], dtype=np.int64)[:, None] * n_items + candidates  # (n, m)
    if len(keys) == 0:
        return np.zeros(candidates.shape, dtype=bool)
    pos = np.clip(np.searchsorted(keys, query), 0, len(keys) - 1)
    return keys[pos] == query


def first_k_unseen(candidates: np.ndarray, cand_scores: np.ndarray, seen: np.ndarray, k: int):
    """From per-user candidate lists (n, m) in rank order, keep the first k not ``seen`` (n, m) bool."""
    keep = ~seen & (candidates >= 0)
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]  # kept candidates first, rank order preserved
    ids = np.take_along_axis(candidates, order, axis=1).astype(np.int64)
    scores = np.take_along_axis(cand_scores, order, axis=1).astype(np.float32)
    empty = ~np.take_along_axis(keep, order, axis=1)
    ids[empty], scores[empty] = -1, -np.inf
    if ids.shape[1] < k:
        pad = k - ids.shape[1]
        ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
        scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
    return ids, scores


class CFModel:
    """Base class. Subclasses: ``_fit(user_items, days_ago)`` and ``score(user_ids, user_items)``."""

    max_block_bytes: int = DEFAULT_BLOCK_BYTES
    # False: items with no training interaction are never recommended (see the module docstring)
    scores_items_without_interactions: bool = False

    def fit(self, user_items: sp.spmatrix, *, days_ago: sp.csr_matrix | None = None) -> CFModel:
        """Learn from ``user_items`` (n_users, n_items). ``days_ago`` (same pattern, optional) holds ``1 +`` the
        age in days of each pair's latest interaction; only time-aware models (recent popularity) use it."""
        matrix = as_user_items(user_items)
        self.n_users_, self.n_items_ = matrix.shape
        self.item_has_data_ = np.bincount(matrix.indices, minlength=self.n_items_) > 0  # (n_items,)
        self._fit(matrix, days_ago)
        return self

    def _fit(self, user_items: sp.csr_matrix, days_ago: sp.csr_matrix | None) -> None:
        raise NotImplementedError

    def score(self, user_ids: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        """Dense scores (len(user_ids), n_items) float32; ``-inf`` where the model cannot score an item."""
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_items_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit(user_items) first")

    def _batch_rows(self) -> int:
        return max(1, int(self.max_block_bytes // (4 * max(self.n_items_, 1))))

    def recommend(
        self, user_ids: np.ndarray, user_items: sp.spmatrix, k: int = 10, filter_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` per user → ids (n, k) int64, scores (n, k) float32; seen items removed when ``filter_seen``."""
        self._check_fitted()
        user_ids = np.asarray(user_ids, dtype=np.int64).reshape(-1)
        matrix = as_user_items(user_items, self.n_items_)
        if matrix.shape[0] != len(user_ids):
            raise ValueError(f"user_items needs one row per user id: {matrix.shape[0]} rows for {len(user_ids)} ids")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        ids = np.empty((len(user_ids), k), dtype=np.int64)
        scores = np.empty((len(user_ids), k), dtype=np.float32)
        step = self._batch_rows()
        for start in range(0, len(user_ids), step):
            stop = min(start + step, len(user_ids))
            block_items = matrix[start:stop]
            ids[start:stop], scores[start:stop] = self._recommend_block(
                user_ids[start:stop], block_items, k, filter_seen
            )
        return ids, scores

    def _recommend_block(self, user_ids, user_items, k, filter_seen):
        block = np.array(self.score(user_ids, user_items), dtype=np.float32, copy=True)  # (b, n_items)
        if not self.scores_items_without_interactions:
            block[:, ~self.item_has_data_] = -np.inf
        if filter_seen and user_items.nnz:
            rows = np.repeat(np.arange(user_items.shape[0]), np.diff(user_items.indptr))
            block[rows, user_items.indices] = -np.inf
        return top_k(block, k)

    def similar(self, item_ids: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Items most similar to each of ``item_ids`` (the item itself excluded) → ids, scores (n, k)."""
        self._check_fitted()
        item_ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)
        block = np.array(self._item_similarity(item_ids), dtype=np.float32, copy=True)  # (n, n_items)
        block[np.arange(len(item_ids)), item_ids] = -np.inf
        return top_k(block, k)

    def _item_similarity(self, item_ids: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} has no item-to-item similarity")

    def get_params(self) -> dict:
        """Hyperparameters (public attributes not ending in ``_``), JSON-friendly."""
        return {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}
