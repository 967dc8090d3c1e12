"""Shared scoring for latent-factor models (ALS, BPR): score = user_factors · item_factors."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jewelrec.evaluation.models.base import CFModel, usable_threads

# implicit's top-k marks filtered items with -FLT_MAX; anything at or below this is an empty slot.
_FILTERED = np.float32(-3.0e38)


class FactorModel(CFModel):
    """Base for models with ``user_factors_`` (n_users, f) and ``item_factors_`` (n_items, f)."""

    num_threads: int = 0

    def _user_rows(self, user_ids: np.ndarray) -> np.ndarray:
        if len(user_ids) and (user_ids.min() < 0 or user_ids.max() >= self.n_users_):
            raise IndexError(
                f"user ids must be in [0, {self.n_users_}) — the rows of the matrix the model was fit on; "
                "users unseen in training take the evaluator's cold-start (popularity) path"
            )
        return self.user_factors_[user_ids]  # (n, f)

    def score(self, user_ids: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        self._check_fitted()
        return self._user_rows(np.asarray(user_ids, dtype=np.int64)) @ self.item_factors_.T  # (n, n_items)

    def _recommend_block(self, user_ids, user_items, k, filter_seen):
        from implicit.cpu.topk import topk

        # implicit's multithreaded C++ top-k: dot products and selection without a dense (n, n_items) block.
        kk = min(k, self.n_items_)
        # items never seen in training keep their zero / random start factors: not a score (see CFModel)
        never_seen = np.flatnonzero(~self.item_has_data_).astype(np.int32)
        ids, scores = topk(
            self.item_factors_, self._user_rows(user_ids), kk,
            filter_query_items=user_items if filter_seen else None,
            filter_items=never_seen if len(never_seen) else None, num_threads=usable_threads(self.num_threads),
        )  # fmt: skip
        ids, scores = ids.astype(np.int64), scores.astype(np.float32)
        empty = scores <= _FILTERED
        ids[empty], scores[empty] = -1, -np.inf
        if kk < k:
            ids = np.pad(ids, ((0, 0), (0, k - kk)), constant_values=-1)
            scores = np.pad(scores, ((0, 0), (0, k - kk)), constant_values=-np.inf)
        return ids, scores

    def _batch_rows(self) -> int:
        return 8192  # the top-k kernel keeps no dense block, so batches only bound the (n, f) user slice

    def _item_similarity(self, item_ids: np.ndarray) -> np.ndarray:
        norms = np.maximum(np.linalg.norm(self.item_factors_, axis=1), 1e-12)  # (n_items,)
        query = self.item_factors_[item_ids] / norms[item_ids, None]
        return query @ (self.item_factors_ / norms[:, None]).T  # (n, n_items) cosine
