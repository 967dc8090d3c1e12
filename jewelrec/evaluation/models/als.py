"""Implicit-feedback ALS (Hu, Koren & Volinsky 2008) via the ``implicit`` library's CPU solver."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from jewelrec.evaluation.models.base import usable_threads
from jewelrec.evaluation.models.factors import FactorModel


class ALSModel(FactorModel):
    """Weighted matrix factorisation; confidences are ``alpha * user_items`` (implicit's convention)."""

    def __init__(
        self,
        factors: int = 64,
        *,
        regularization: float = 0.05,
        alpha: float = 1.0,
        iterations: int = 15,
        random_state: int = 0,
        num_threads: int = 0,
    ):
        self.factors = factors  # 64 is the usual sweet spot for speed vs accuracy on retail logs
        self.regularization = regularization  # small L2; raise for very sparse logs
        self.alpha = alpha  # confidence scale of the observed weights
        self.iterations = iterations  # implicit's default; CG converges well before
        self.random_state = random_state  # fixed seed so results are reproducible
        self.num_threads = num_threads  # 0 = all cores

    def _fit(self, user_items: sp.csr_matrix, days_ago: sp.csr_matrix | None) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        # implicit parallelises itself; a BLAS thread pool underneath only oversubscribes the cores.
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=int(self.factors), regularization=float(self.regularization), alpha=float(self.alpha),
                iterations=int(self.iterations), random_state=self.random_state, num_threads=usable_threads(self.num_threads),
            )  # fmt: skip
            model.fit(user_items, show_progress=False)
        self.user_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)  # (n_users, f)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)  # (n_items, f)
