"""Popularity baseline: the same ranking for everyone, all-time or over a recent window."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jewelrec.evaluation.models.base import CFModel, first_k_unseen, in_rows


class PopularityModel(CFModel):
    """Items ranked by how many users interacted with them.

    ``window_days=None`` counts all training pairs; ``window_days=7`` counts only pairs whose latest interaction
    is within the last 7 days (needs ``days_ago`` in :meth:`fit`; the evaluator passes it when the log has times).
    ``by="users"`` counts distinct users, ``by="weight"`` sums the aggregated weights (purchases, confidences).
    """

    def __init__(self, window_days: int | None = None, *, by: str = "users"):
        self.window_days = window_days  # None = all time; H&M solutions used the last week
        self.by = by  # "users" is robust to a few heavy buyers; "weight" follows volume

    @property
    def needs_times(self) -> bool:
        """Whether :meth:`fit` needs ``days_ago`` (a window): the evaluator checks the log has times before any
        model trains."""
        return self.window_days is not None

    def _fit(self, user_items: sp.csr_matrix, days_ago: sp.csr_matrix | None) -> None:
        if self.by not in ("users", "weight"):
            raise ValueError(f"PopularityModel.by must be 'users' or 'weight', got {self.by!r}")
        values = np.ones(user_items.nnz) if self.by == "users" else user_items.data.astype(np.float64)
        if self.window_days is not None:
            if days_ago is None:
                raise ValueError(
                    f"PopularityModel(window_days={self.window_days}) needs fit(..., days_ago=...); the log must "
                    "have a time column (data.columns.time) — or drop window_days for all-time popularity"
                )
            days_ago = sp.csr_matrix(days_ago)
            if days_ago.nnz != user_items.nnz or not np.array_equal(days_ago.indices, user_items.indices):
                raise ValueError("days_ago must have exactly the sparsity pattern of user_items")
            values = values * (days_ago.data <= self.window_days)
        counts = np.bincount(user_items.indices, weights=values, minlength=user_items.shape[1])  # (n_items,)
        # Ties broken by all-time counts, then by item id, so the ranking is deterministic.
        all_time = np.bincount(user_items.indices, minlength=user_items.shape[1]).astype(np.float64)
        self.item_counts_ = np.where(all_time > 0, counts, -np.inf).astype(np.float32)  # never bought: no rank
        ranking = np.lexsort((np.arange(len(counts)), -all_time, -counts)).astype(np.int64)  # (n_items,)
        self.ranking_ = ranking[all_time[ranking] > 0]  # (n_items_with_data,)

    def score(self, user_ids: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        self._check_fitted()
        return np.broadcast_to(self.item_counts_, (len(user_ids), self.n_items_))

    def _recommend_block(self, user_ids, user_items, k, filter_seen):
        # Same list for everyone: take the global top (k + most seen in this batch) and drop each user's seen
        # items, instead of ranking the whole catalog per user.
        extra = int(np.diff(user_items.indptr).max()) if (filter_seen and user_items.nnz) else 0
        m = min(k + extra, len(self.ranking_))
        head = self.ranking_[:m]  # (m,)
        candidates = np.broadcast_to(head, (user_items.shape[0], m))
        cand_scores = np.broadcast_to(self.item_counts_[head], candidates.shape)
        seen = in_rows(user_items, candidates) if filter_seen else np.zeros(candidates.shape, dtype=bool)
        return first_k_unseen(candidates, cand_scores, seen, k)
