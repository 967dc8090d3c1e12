"""Item-based k-nearest-neighbours with cosine similarity, all sparse."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jewelrec.evaluation.models.base import CFModel, usable_threads


class ItemKNNModel(CFModel):
    """score(u, i) = sum over the user's items j of weight(u, j) * cos(j, i), keeping each item's top
    ``neighbours`` similarities. The similarity matrix is ``implicit``'s ``CosineRecommender`` (sparse all-pairs
    kNN over unit-length item columns), so the item×item matrix is never dense."""

    def __init__(self, neighbours: int = 100, *, binary: bool = False, num_threads: int = 0):
        self.neighbours = neighbours  # pruning keeps the similarity sparse and drops noisy weak links
        self.binary = binary  # True: cosine over who-bought-what, ignoring repeat counts
        self.num_threads = num_threads  # 0 = all cores

    def _fit(self, user_items: sp.csr_matrix, days_ago: sp.csr_matrix | None) -> None:
        from implicit.nearest_neighbours import CosineRecommender

        matrix = sp.csr_matrix(user_items, dtype=np.float64)  # implicit's kNN works in float64
        if self.binary:
            matrix.data[:] = 1.0
        k = min(int(self.neighbours), matrix.shape[1])  # more neighbours than items: all of them (2**30 was a crash)
        knn = CosineRecommender(K=k, num_threads=usable_threads(self.num_threads))
        knn.fit(matrix, show_progress=False)  # unit-length item columns, then sparse all-pairs top-K dot products
        self.similarity_ = sp.csr_matrix(knn.similarity, dtype=np.float32)  # (n_items, n_items), ≤ K per row
        self.similarity_.sort_indices()

    def score(self, user_ids: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        self._check_fitted()
        items = user_items.copy()
        if self.binary:
            items.data[:] = 1.0
        return (items @ self.similarity_).toarray()  # (n, n_items)

    def _item_similarity(self, item_ids: np.ndarray) -> np.ndarray:
        return self.similarity_[item_ids].toarray()  # (n, n_items)
