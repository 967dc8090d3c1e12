"""Visual content model: a user's profile is the weighted mean of the embeddings of the items they interacted
with; items are scored by cosine to that profile.

Takes plain arrays from a jewelrec bundle (``item_ids``, ``embeddings``, ``labels``) and the item ids of the
interaction matrix's columns, so it works with any log whose item ids overlap the bundle's.

Rule for items outside the bundle: they have no embedding, so this model neither uses them in a profile nor
recommends them (score ``-inf``). A user none of whose items is in the bundle gets an empty list (all ``-1``);
the evaluator then gives them the popularity list, like any cold user.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jewelrec.evaluation.models.base import CFModel


def align_to_columns(
    item_ids: np.ndarray | list[str],
    embeddings: np.ndarray,
    labels: np.ndarray | None,
    column_item_ids: np.ndarray | list[str] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Re-index bundle arrays onto matrix columns.

    Returns embeddings (n_cols, d) float32 (zero rows where missing), labels (n_cols,) int64 (-1 where missing)
    and has_embedding (n_cols,) bool. ``column_item_ids=None`` means the columns are the bundle's items in order.
    """
    item_ids = np.asarray(item_ids, dtype=object)
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2 or embeddings.shape[0] != len(item_ids):
        raise ValueError(f"embeddings must be (n_items={len(item_ids)}, d); got shape {embeddings.shape}")
    if labels is None:
        labels = np.zeros(len(item_ids), dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (len(item_ids),):
        raise ValueError(f"labels must be (n_items={len(item_ids)},); got shape {labels.shape}")
    if column_item_ids is None:
        return embeddings, labels, np.ones(len(item_ids), dtype=bool)
    position = {str(item): row for row, item in enumerate(item_ids)}
    rows = np.array([position.get(str(item), -1) for item in column_item_ids], dtype=np.int64)  # (n_cols,)
    has = rows >= 0
    aligned = np.zeros((len(rows), embeddings.shape[1]), dtype=np.float32)
    aligned[has] = embeddings[rows[has]]
    aligned_labels = np.full(len(rows), -1, dtype=np.int64)
    aligned_labels[has] = labels[rows[has]]
    return aligned, aligned_labels, has


class VisualContentModel(CFModel):
    """Content-based recommender over bundle embeddings (see module docstring for the out-of-bundle rule)."""

    scores_items_without_interactions = True  # a new piece is scored from its embedding, no purchase needed

    def __init__(
        self,
        item_ids: np.ndarray | list[str],
        embeddings: np.ndarray,
        labels: np.ndarray | None = None,
        *,
        column_item_ids: np.ndarray | list[str] | None = None,
    ):
        self.item_ids = item_ids  # bundle item ids (n_bundle,)
        self.embeddings = embeddings  # (n_bundle, d), L2-normalised CLIP/CNN embeddings
        self.labels = labels  # (n_bundle,) visual cluster per item; unused for scoring
        self.column_item_ids = column_item_ids  # item id of each matrix column; None = bundle order

    def _fit(self, user_items: sp.csr_matrix, days_ago: sp.csr_matrix | None) -> None:
        embeddings, labels, has = align_to_columns(self.item_ids, self.embeddings, self.labels, self.column_item_ids)
        if embeddings.shape[0] != user_items.shape[1]:
            raise ValueError(
                f"user_items has {user_items.shape[1]} item columns but {embeddings.shape[0]} aligned items; "
                "pass column_item_ids (the item id of every matrix column)"
            )
        norms = np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
        self.item_embeddings_ = embeddings / norms  # (n_items, d), zero rows for items outside the bundle
        self.item_labels_ = labels  # (n_items,)
        self.has_embedding_ = has  # (n_items,)

    def user_profiles(self, user_items: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """(n, d) unit profiles and (n,) bool "has a profile" for rows of ``user_items``."""
        profiles = np.asarray(user_items @ self.item_embeddings_, dtype=np.float32)  # (n, d) weighted sum
        norms = np.linalg.norm(profiles, axis=1)
        has = norms > 1e-12
        profiles[has] /= norms[has, None]
        return profiles, has

    def score(self, user_ids: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        self._check_fitted()
        profiles, has_profile = self.user_profiles(user_items)
        block = profiles @ self.item_embeddings_.T  # (n, n_items) cosine
        block[:, ~self.has_embedding_] = -np.inf
        block[~has_profile] = -np.inf
        return block

    def _item_similarity(self, item_ids: np.ndarray) -> np.ndarray:
        block = self.item_embeddings_[item_ids] @ self.item_embeddings_.T  # (n, n_items)
        block[:, ~self.has_embedding_] = -np.inf
        return block

    def get_params(self) -> dict:
        return {"n_bundle_items": len(self.item_ids)}
