"""Seed 002's "visually separated" lists: re-rank any model's top candidates so they span the user's visual
clusters in proportion to how much of the user's history falls in each, instead of k near-duplicates."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jewelrec.evaluation.models.base import CFModel
from jewelrec.evaluation.models.visual import align_to_columns


class VisuallySeparated(CFModel):
    """Wraps ``model``: takes its top ``k * pool`` candidates and interleaves them by visual cluster.

    Cluster g of the user's history gets share w_g (of their weight on labelled items; ``explore`` mixes in a
    uniform share so other clusters can appear). The j-th candidate (0-based, in model order) of cluster g gets
    the key ``(j + 0.5) / w_g`` — a Sainte-Laguë interleave — and the list is sorted by key, ties by model rank.
    Candidates in clusters the user never touched (w = 0) or without a label come after, in model order. Users
    with no labelled history keep the model's order. Vectorised over users; no loop over the catalog.
    """

    def __init__(
        self,
        model: CFModel,
        item_ids: np.ndarray | list[str],
        labels: np.ndarray,
        *,
        column_item_ids: np.ndarray | list[str] | None = None,
        pool: float = 3,
        explore: float = 0.0,
    ):
        self.model = model  # the base recommender whose candidates are re-ranked
        self.item_ids = item_ids  # bundle item ids (n_bundle,)
        self.labels = labels  # (n_bundle,) visual cluster per item
        self.column_item_ids = column_item_ids  # item id of each matrix column; None = bundle order
        self.pool = pool  # candidates per slot: 3×k lets each cluster find a few good items
        self.explore = explore  # 0 = only the user's clusters get a share

    def _fit(self, user_items: sp.csr_matrix, days_ago: sp.csr_matrix | None) -> None:
        dummy = np.zeros((len(self.item_ids), 1), dtype=np.float32)
        _, labels, _ = align_to_columns(self.item_ids, dummy, self.labels, self.column_item_ids)
        if len(labels) != user_items.shape[1]:
            raise ValueError(f"{len(labels)} aligned labels for {user_items.shape[1]} item columns; pass column_item_ids")
        self.item_labels_ = labels  # (n_items,), -1 = no label
        self.n_clusters_ = int(labels.max()) + 1 if (labels >= 0).any() else 0
        self.model.fit(user_items, days_ago=days_ago)

    def score(self, user_ids: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        return self.model.score(user_ids, user_items)

    def recommend(self, user_ids, user_items, k=10, filter_seen=True):
        self._check_fitted()
        m = max(k, int(k * self.pool))
        candidates, cand_scores = self.model.recommend(user_ids, user_items, m, filter_seen=filter_seen)  # (n, m)
        shares = self.cluster_shares(sp.csr_matrix(user_items))  # (n, C + 1); last column: unlabelled
        n_buckets = shares.shape[1]
        bucket = np.where(candidates >= 0, self.item_labels_[np.maximum(candidates, 0)], -1)
        bucket = np.where(bucket >= 0, bucket, n_buckets - 1)  # (n, m)
        rows = np.arange(candidates.shape[0])[:, None]
        # Rank of each candidate within its (user, cluster) group, in model order.
        group = (rows * n_buckets + bucket).ravel()  # (n * m,)
        order = np.argsort(group, kind="stable")
        sorted_group = group[order]
        starts = np.r_[0, np.flatnonzero(sorted_group[1:] != sorted_group[:-1]) + 1]
        run_start = np.repeat(starts, np.diff(np.r_[starts, len(group)]))
        within = np.empty(len(group), dtype=np.float64)
        within[order] = np.arange(len(group)) - run_start
        within = within.reshape(candidates.shape)
        share = shares[rows, bucket]  # (n, m)
        with np.errstate(divide="ignore"):
            key = np.where(share > 0, (within + 0.5) / share, np.inf)
        key = np.where(candidates >= 0, key, np.nan)  # empty slots sort last (NaN after inf)
        position = np.broadcast_to(np.arange(m), candidates.shape)
        new_order = np.lexsort((position, key), axis=1)[:, :k]  # by key, then by model rank
        return np.take_along_axis(candidates, new_order, 1), np.take_along_axis(cand_scores, new_order, 1)

    def cluster_shares(self, user_items: sp.csr_matrix) -> np.ndarray:
        """(n, n_clusters + 1) share of each user's weight per visual cluster (last column is 0: unlabelled)."""
        labelled = self.item_labels_ >= 0
        n_clusters = self.n_clusters_
        onehot = sp.csr_matrix(
            (np.ones(labelled.sum(), dtype=np.float32), (np.flatnonzero(labelled), self.item_labels_[labelled])),
            shape=(len(labelled), n_clusters + 1),
        )  # (n_items, C + 1)
        weights = np.asarray((user_items @ onehot).toarray(), dtype=np.float64)  # (n, C + 1)
        total = weights.sum(axis=1, keepdims=True)
        shares = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)
        if self.explore > 0 and n_clusters:
            uniform = np.zeros(n_clusters + 1)
            uniform[:n_clusters] = 1.0 / n_clusters
            has_history = total[:, 0] > 0
            shares[has_history] = (1 - self.explore) * shares[has_history] + self.explore * uniform
        return shares

    def get_params(self) -> dict:
        return {"pool": self.pool, "explore": self.explore, "model": type(self.model).__name__}
