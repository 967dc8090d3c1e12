"""Item-based k-nearest-neighbours with cosine similarity, all sparse."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jewelrec.models.base import Recommender


class ItemKNNModel(Recommender):
    """score(u, i) = sum over the user's items j of weight(u, j) * cos(j, i), keeping each item's top
    ``neighbours`` similarities. The similarity matrix is built by ``implicit``'s sparse all-pairs kNN, so the
    item×item matrix is never dense."""

    def __init__(self, neighbours: int = 100, *, binary: bool = False, num_threads: int = 0):
        self.neighbours = neighbours  # pruning keeps the similarity sparse and drops noisy weak links
        self.binary = binary  # True: cosine over who-bought-what, ignoring repeat counts
        self.num_threads = num_threads  # 0 = all cores

    def _fit(self, user_items: sp.csr_matrix, days_ago: sp.csr_matrix | None) -> None:
        from implicit.nearest_neighbours import ItemItemRecommender

        matrix = user_items.copy()
        if self.binary:
            matrix.data[:] = 1.0
        # Unit-length item columns make the kNN's dot products cosines.
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=0)).ravel())  # (n_items,)
        inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        unit_columns = sp.csr_matrix(matrix @ sp.diags(inverse), dtype=np.float64)  # implicit wants float64
        knn = ItemItemRecommender(K=int(self.neighbours), num_threads=int(self.num_threads))
        knn.fit(unit_columns, show_progress=False)
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
