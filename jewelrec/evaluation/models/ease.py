"""EASE^R (Steck 2019): a closed-form item×item linear autoencoder."""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from jewelrec.evaluation.models.base import CFModel


class EASEModel(CFModel):
    """B = I - P · diag(1 / diag(P)), P = (XᵀX + λI)⁻¹, over the items that occur in training.

    The item×item matrices are dense, so this is for moderate catalogs: fitting refuses more than
    ``max_items`` active items (peak memory ≈ 20 · n² bytes) with an error that says what to do instead.
    """

    def __init__(self, l2: float = 500.0, *, binary: bool = True, max_items: int = 10_000):
        self.l2 = l2  # Steck reports λ in the hundreds for retail-sized logs
        self.binary = binary  # the paper's setting: who-bought-what, not how often
        self.max_items = max_items  # 10k items ≈ 1.9 GiB peak; above that use item-kNN or ALS

    def _fit(self, user_items: sp.csr_matrix, days_ago: sp.csr_matrix | None) -> None:
        active = np.flatnonzero(np.diff(user_items.tocsc().indptr) > 0)  # items with any training pair
        if len(active) > self.max_items:
            raise ValueError(
                f"EASE needs a dense {len(active)}×{len(active)} item matrix (~{20 * len(active) ** 2 / 2**30:.1f} "
                f"GiB), more than max_items={self.max_items} allows. Raise params.max_items if the memory is "
                "there, or use item_knn / als for catalogs this size."
            )
        x = user_items[:, active].astype(np.float64)
        if self.binary:
            x.data[:] = 1.0
        gram = (x.T @ x).toarray()  # (n_active, n_active)
        gram[np.diag_indices_from(gram)] += float(self.l2)
        try:  # SPD in exact arithmetic; Cholesky checks it holds in floating point (inv segfaulted at l2: 1e-300)
            factor = scipy.linalg.cho_factor(gram, overwrite_a=True, check_finite=False)
        except np.linalg.LinAlgError:
            raise ValueError(f"EASE's item matrix plus l2={self.l2:g} is not positive definite in floating point "
                             "(items bought by the same users are copies of each other); raise params.l2 (Steck "
                             "uses hundreds)") from None
        identity = np.eye(len(active))  # (n_active, n_active), overwritten by the inverse
        precision = scipy.linalg.cho_solve(factor, identity, overwrite_b=True, check_finite=False)
        del factor, gram
        precision /= -np.diag(precision)[None, :]  # in place: B_ij = -P_ij / P_jj
        precision[np.diag_indices_from(precision)] = 0.0
        self.active_items_ = active.astype(np.int64)  # (n_active,)
        self.weights_ = precision.astype(np.float32)  # (n_active, n_active)

    def score(self, user_ids: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        self._check_fitted()
        x = user_items[:, self.active_items_]
        if self.binary:
            x = x.copy()
            x.data[:] = 1.0
        block = np.full((user_items.shape[0], self.n_items_), -np.inf, dtype=np.float32)
        block[:, self.active_items_] = x @ self.weights_  # (n, n_active); inactive items cannot be scored
        return block

    def _item_similarity(self, item_ids: np.ndarray) -> np.ndarray:
        position = np.full(self.n_items_, -1, dtype=np.int64)
        position[self.active_items_] = np.arange(len(self.active_items_))
        block = np.full((len(item_ids), self.n_items_), -np.inf, dtype=np.float32)
        known = position[item_ids] >= 0
        block[np.ix_(known, self.active_items_)] = self.weights_[position[item_ids[known]]]
        return block
