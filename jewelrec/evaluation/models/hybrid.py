"""Hybrid: a per-user blend of a collaborative model's scores and the visual model's scores."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jewelrec.evaluation.models.base import CFModel
from jewelrec.evaluation.models.visual import VisualContentModel


def standardise_rows(block: np.ndarray) -> np.ndarray:
    """Per-row z-scores over the finite entries; non-finite entries become 0 (the row mean). (n, n_items)

    float32 throughout with in-place updates: this runs on every (batch, n_items) block of a hybrid."""
    finite = np.isfinite(block)
    all_finite = bool(finite.all())
    values = np.array(block, dtype=np.float32, copy=True)
    if not all_finite:
        values[~finite] = 0.0
    count = np.float32(block.shape[1]) if all_finite else np.maximum(finite.sum(axis=1, keepdims=True), 1)
    mean = values.sum(axis=1, keepdims=True) / count  # (n, 1)
    values -= mean
    if not all_finite:
        values[~finite] = 0.0
    std = np.sqrt(np.einsum("ij,ij->i", values, values)[:, None] / count)  # (n, 1), no squared temporary
    values /= np.where(std > 0, std, 1.0).astype(np.float32)
    return values


class HybridModel(CFModel):
    """score = (1 - weight) · z(cf) + weight · z(visual), z = per-user standardisation.

    Standardising puts ALS dot products and cosines on one scale. An item one side cannot score (outside the
    bundle; for the CF side, any item without a training interaction, whatever its model puts there) gets that
    side's neutral 0, so it can still be recommended by the other side; an item neither side can score stays
    ``-inf``.
    """

    scores_items_without_interactions = True  # the visual side scores pieces nobody bought yet

    def __init__(self, cf: CFModel, visual: VisualContentModel, *, weight: float = 0.3):
        self.cf = cf  # any fitted-by-us collaborative model
        self.visual = visual  # the bundle's content model
        self.weight = weight  # share of the visual signal; 0 = pure CF, 1 = pure visual

    def _fit(self, user_items: sp.csr_matrix, days_ago: sp.csr_matrix | None) -> None:
        if not 0.0 <= float(self.weight) <= 1.0:
            raise ValueError(f"hybrid weight must be in [0, 1], got {self.weight}")
        self.cf.fit(user_items, days_ago=days_ago)
        self.visual.fit(user_items, days_ago=days_ago)
        self.fitted_ = True

    def score(self, user_ids: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        self._check_fitted()
        cf = np.array(self.cf.score(user_ids, user_items), dtype=np.float32, copy=True)  # (n, n_items)
        if not self.cf.scores_items_without_interactions:  # its "score" of a never-bought piece is a placeholder
            cf[:, ~self.cf.item_has_data_] = -np.inf  # (0, zero factors, BPR's random start): that side's neutral 0
        visual = self.visual.score(user_ids, user_items)  # (n, n_items)
        w = float(self.weight)
        block = (1.0 - w) * standardise_rows(cf) + w * standardise_rows(visual)
        block[~np.isfinite(cf) & ~np.isfinite(visual)] = -np.inf
        return block

    def get_params(self) -> dict:
        return {"weight": self.weight, "cf": type(self.cf).__name__, "cf_params": self.cf.get_params()}
