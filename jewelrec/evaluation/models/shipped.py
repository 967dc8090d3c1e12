"""The shipped recommender (:class:`jewelrec.Recommender`, what the Space serves) as an offline-evaluation model.

For each evaluated user it feeds the training side's ratings with their raw 1–5 stars — 1–2★ dislikes included
(:mod:`jewelrec.evaluation.stars`) — to ``Recommender.recommend`` and returns its top k, so the evaluator scores it
on the same split, candidates and metrics as ALS / EASE / hybrid:

* candidates: the log's items that are in the bundle. The recommender runs on the bundle cut down to the pieces
  the log mentions; any of them may be a rating, only the log's items may be picked (``recommendable``), so no
  slot goes to a piece the log cannot judge. Scoring is the shipped one; the catalog it sees is smaller, so a
  bundle above ``exhaustive_limit`` is scored exhaustively here rather than through its ANN candidates.
* pieces the user rated in training (likes and dislikes) are never picked, so ``filter_seen`` must stay true.
* ratings of pieces outside the bundle are skipped and counted (``report_``); a user none of whose ratings is a
  bundle piece gets an empty list, which the evaluator fills with the popularity list, as for any cold user.
* ``collaborative: true`` adds the Space's crowd blend (:class:`jewelrec.serving.blend.CrowdRecommender`): a
  :class:`~jewelrec.serving.collaborative.CollaborativeModel` fitted on every training rating (raw stars, the same
  k-anonymity threshold ``min_shoppers``), so one results.json can hold visual-only, blended and CF-only models.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

from jewelrec.evaluation.models.base import CFModel, as_user_items
from jewelrec.evaluation.stars import StarRatings
from jewelrec.serving.recommender_rules import RECOMMENDER_RULES

if TYPE_CHECKING:  # the serving stack (faiss, the bundle reader) loads only when this model is fitted
    from jewelrec.serving.bundle import Bundle
    from jewelrec.serving.recommender import RecommenderConfig

NO_STARS = ("the jewelrec model reads 1–5 star ratings, and this log has none: give data: a rating column "
            "(columns: {rating: stars}, or preset: space-ratings for the Space's ratings database); purchase logs "
            "cannot drive it")  # fmt: skip


SETTING_RULES = RECOMMENDER_RULES  # the rules RecommenderConfig checks itself (jewelrec.serving.recommender)


def recommender_config(settings: Mapping[str, Any], label: str) -> RecommenderConfig:
    """The :class:`RecommenderConfig` ``settings`` (field overrides, one value each) make, every field checked
    against :data:`SETTING_RULES`: a ValueError naming the model, the field and what it takes."""
    from jewelrec.config_keys import check_keys
    from jewelrec.serving.recommender import RecommenderConfig

    check_keys(settings, RecommenderConfig, f"model {label!r} params")
    try:
        return RecommenderConfig(**settings)
    except ValueError as err:  # "RecommenderConfig: shrink must be …" → "model 'x': shrink must be …"
        raise ValueError(f"model {label!r}:{str(err).removeprefix('RecommenderConfig:')}") from None


def check_star_range(stars: np.ndarray, label: str) -> None:
    """Every rating must lie on the 1–5 star scale the recommender reads."""
    if len(stars) and (stars.min() < 1 or stars.max() > 5):
        raise ValueError(f"model {label!r} reads 1–5 stars, but this log's ratings run from {stars.min():g} to "
                         f"{stars.max():g}; map them onto 1–5 (e.g. rescale the rating column) or leave the model out")


def restrict(bundle: Bundle, rows: np.ndarray) -> Bundle:
    """The bundle cut down to ``rows`` (sorted bundle rows); clusters and centroids unchanged."""
    from jewelrec.serving.bundle import Bundle

    if len(rows) == bundle.n_items:
        return bundle
    latents = None if bundle.latents is None else bundle.latents[rows]
    return Bundle(items=bundle.items.iloc[rows].reset_index(drop=True), embeddings=bundle.embeddings[rows],
                  labels=bundle.labels[rows], probs=bundle.probs[rows], centroids=bundle.centroids,
                  coords2d=bundle.coords2d[rows], config=bundle.config, latents=latents, path=bundle.path)


class JewelrecModel(CFModel):
    """``Recommender.recommend`` per user on raw training stars (see the module docstring)."""

    reads_stars = True  # the evaluator passes ``stars=`` (a StarRatings of the training side) to fit
    scores_items_without_interactions = True  # content-based: a piece nobody rated yet is found from its picture

    def __init__(self, bundle: Bundle | str | Path, *, settings: Mapping[str, Any] | None = None,
                 collaborative: bool = False, min_shoppers: int | None = None):
        self.bundle = bundle  # a loaded Bundle, or a bundle directory (loaded by fit)
        self.settings = dict(settings or {})  # RecommenderConfig overrides; empty = exactly as the Space serves
        self.collaborative = bool(collaborative)  # blend in the crowd model, as the Space does
        self.min_shoppers = min_shoppers  # the crowd model's k-anonymity threshold (None: the Space's default)

    def fit(self, user_items: sp.spmatrix, *, days_ago: sp.csr_matrix | None = None,
            stars: StarRatings | None = None) -> JewelrecModel:
        if stars is None:
            raise ValueError(NO_STARS)
        self.stars_ = stars
        return super().fit(user_items, days_ago=days_ago)  # type: ignore[return-value]

    def _fit(self, user_items: sp.csr_matrix, days_ago: sp.csr_matrix | None) -> None:
        from jewelrec.serving.bundle import Bundle
        from jewelrec.serving.recommender import Recommender

        stars = self.stars_
        if stars.matrix.shape[0] != user_items.shape[0] or stars.n_log_items != user_items.shape[1]:
            raise ValueError(f"stars cover {stars.matrix.shape[0]} users × {stars.n_log_items} log items but "
                             f"user_items is {user_items.shape}; build both from the same split")
        check_star_range(stars.matrix.data, "jewelrec")
        config = recommender_config(self.settings, "jewelrec")
        bundle = Bundle.load(self.bundle) if isinstance(self.bundle, (str, Path)) else self.bundle
        row_of = pd.Index(bundle.item_ids).get_indexer(pd.Index(stars.item_ids.astype(str)))  # (n_cols,), -1: none
        in_bundle = row_of >= 0  # (n_cols,)
        rows = np.sort(row_of[in_bundle])
        sub = restrict(bundle, rows)
        position = np.full(bundle.n_items, -1, dtype=np.int64)
        position[rows] = np.arange(len(rows))
        column_of_row = np.full(len(rows), -1, dtype=np.int64)  # (n_sub,) log column of each piece, -1: none
        log_cols = np.flatnonzero(in_bundle[: stars.n_log_items])
        column_of_row[position[row_of[log_cols]]] = log_cols
        self.recommender_ = Recommender(sub, config=config, recommendable=column_of_row >= 0)
        self.column_of_ = {str(sub.item_ids[r]): int(c) for r, c in enumerate(column_of_row) if c >= 0}
        self.picker_ = self.recommender_
        if self.collaborative:
            from jewelrec.serving.blend import CrowdRecommender
            from jewelrec.serving.collaborative import MIN_SHOPPERS, CollaborativeModel

            coo = stars.matrix.tocoo()  # every training rating; shoppers are row codes, dropped after the fit
            crowd = CollaborativeModel(sub.item_ids, min_shoppers=self.min_shoppers or MIN_SHOPPERS).fit(
                stars.item_ids[coo.col].astype(str), coo.row, np.rint(coo.data).astype(np.int64))
            self.crowd_ = crowd
            self.picker_ = CrowdRecommender(self.recommender_, lambda: crowd)
        # only in-bundle ratings reach the recommender; the rest are counted
        self.ratings_ = stars.matrix.copy()
        skipped = ~in_bundle[self.ratings_.indices]  # (nnz,)
        self.ratings_.data[skipped] = 0.0
        self.ratings_.eliminate_zeros()
        had = np.diff(stars.matrix.indptr) > 0
        self.report_ = {
            "bundle_items": bundle.n_items, "candidates": len(self.column_of_),
            "log_items_not_in_bundle": int((~in_bundle[: stars.n_log_items]).sum()),
            "training_ratings": int(stars.matrix.nnz), "training_dislikes": int((self.ratings_.data <= 2).sum()),
            "ratings_not_in_bundle": int(skipped.sum()),
            "users_without_a_bundle_rating": int((had & (np.diff(self.ratings_.indptr) == 0)).sum()),
        }  # fmt: skip
        if self.report_["ratings_not_in_bundle"]:
            r = self.report_
            self.report_["note"] = (
                f"{r['log_items_not_in_bundle']} log items ({r['ratings_not_in_bundle']} training ratings) are not "
                f"in the bundle: skipped as ratings and never recommended; {r['users_without_a_bundle_rating']} "
                "users with no rating of a bundle piece get the popularity list. Fit the bundle on the catalog the "
                "ratings were made on to include them."
            )  # fmt: skip

    def shopper_ratings(self, user: int) -> dict[str, float]:
        """``{item_id: stars}`` that ``Recommender.recommend`` gets for ``user`` (a log row code)."""
        self._check_fitted()
        start, stop = self.ratings_.indptr[user], self.ratings_.indptr[user + 1]
        ids = self.stars_.item_ids[self.ratings_.indices[start:stop]]
        return {str(i): float(s) for i, s in zip(ids, self.ratings_.data[start:stop])}

    def recommend(self, user_ids: np.ndarray, user_items: sp.spmatrix, k: int = 10,
                  filter_seen: bool = True) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        if not filter_seen:
            raise ValueError("the shipped recommender never recommends a piece the user rated; "
                             "set filter_seen: true (the default) to evaluate it")
        user_ids = np.asarray(user_ids, dtype=np.int64).reshape(-1)
        if as_user_items(user_items, self.n_items_).shape[0] != len(user_ids):
            raise ValueError(f"user_items needs one row per user id ({len(user_ids)})")
        ids = np.full((len(user_ids), k), -1, dtype=np.int64)  # (n, k) log columns, -1: empty
        scores = np.full((len(user_ids), k), -np.inf, dtype=np.float32)
        for row, user in enumerate(tqdm(user_ids, desc="jewelrec", leave=False, disable=None)):
            ratings = self.shopper_ratings(int(user))
            if not ratings:
                continue  # the evaluator's cold-start path
            picks = self.picker_.recommend(ratings, k=k)
            ids[row, : len(picks)] = [self.column_of_[item] for item, _, _ in picks]
            scores[row, : len(picks)] = [score for _, score, _ in picks]
        return ids, scores

    def score(self, user_ids: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        raise NotImplementedError("the shipped recommender returns ranked lists, not a score per item")

    def get_params(self) -> dict:
        bundle = self.bundle if isinstance(self.bundle, (str, Path)) else self.bundle.path
        extra = {"collaborative": True, "min_shoppers": self.min_shoppers} if self.collaborative else {}
        return {"bundle": None if bundle is None else str(bundle), **self.settings, **extra}
