"""Bayesian Personalised Ranking (Rendle et al. 2009) via the ``implicit`` library's CPU SGD."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from jewelrec.evaluation.models.base import usable_threads
from jewelrec.evaluation.models.factors import FactorModel


class BPRModel(FactorModel):
    """Pairwise ranking factorisation; treats every stored pair as a positive (weights are ignored)."""

    def __init__(
        self,
        factors: int = 64,
        *,
        learning_rate: float = 0.05,
        regularization: float = 0.01,
        iterations: int = 100,
        random_state: int = 0,
        num_threads: int = 0,
    ):
        self.factors = factors  # same capacity as ALS so the two compare fairly
        self.learning_rate = learning_rate  # SGD step; implicit's 0.01 is slow to converge on small logs
        self.regularization = regularization  # implicit's default
        self.iterations = iterations  # epochs over the positives
        self.random_state = random_state  # fixed seed so results are reproducible
        self.num_threads = num_threads  # 0 = all cores (Hogwild!: results vary slightly with >1 thread)

    def _fit(self, user_items: sp.csr_matrix, days_ago: sp.csr_matrix | None) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        # implicit parallelises itself; a BLAS thread pool underneath only oversubscribes the cores.
        with threadpool_limits(1, "blas"):
            model = BayesianPersonalizedRanking(
                factors=int(self.factors), learning_rate=float(self.learning_rate),
                regularization=float(self.regularization), iterations=int(self.iterations),
                random_state=self.random_state, num_threads=usable_threads(self.num_threads),
            )  # fmt: skip
            model.fit(user_items, show_progress=False)
        # implicit appends an item-bias column to item factors and a constant 1 to user factors.
        self.user_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)  # (n_users, f + 1)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)  # (n_items, f + 1)
