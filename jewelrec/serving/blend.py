"""Visual picks and crowd picks in one list: :class:`CrowdRecommender` wraps the shipped ``Recommender``.

For a shopper with ratings r_i, a candidate j gets, from the crowd model (:mod:`jewelrec.serving.collaborative`),

    cf_j  = Σ_i c_i s_ij / Σ_i |c_i|          c_i = STAR_CONFIDENCE[r_i] (5★ +1 … 1★ -1), s the item-kNN similarity,
                                              over the rated i linked to j; divided by the request's largest |cf|
    e_j   = Σ_i co-raters(i, j)               the distinct shoppers behind those links
    α_j   = max_share · e_j / (e_j + evidence_half) · n / (n + ratings_half)      n = the shopper's ratings
                                              (0.4, 1, 0.5 by default: BlendConfig, chosen by a sweep)
    score = (1 − α_j) · visual_j + α_j · cf_j

so the crowd's share grows with the evidence behind the candidate and with what the shopper told us, and is
exactly 0 for an item no one co-rated with the shopper's pieces. Pieces the crowd links but that look unlike
anything rated sit far down the visual ranking; the crowd's favourites (by α·cf) among the pieces the visual top k
left out are given ``round(k · mean α)`` places of the list (the crowd's share, like the visual recommender's
per-style places), the rest go to the best blended scores. With no
link at all the answer *is* ``Recommender.recommend``'s, pick for pick and score for score. Scores stay on the
visual scale (about −1..1): both terms are.

A candidate outside the visual top ``pool`` takes the pool's lowest visual score (an upper bound of its own).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from jewelrec.serving.collaborative import STAR_CONFIDENCE, STARS, CollaborativeModel
from jewelrec.serving.recommender import Recommender


@dataclass
class BlendConfig:
    """The crowd's share of a pick. Chosen by a sweep on simulated crowds (bench/sweep_crowd.py,
    bench/configs/crowd_sweep.yaml; table in bench/README.md): the best expected nDCG@10 for a newcomer who may or
    may not share the crowd's taste, among the settings never below visual-only with no crowd, a control crowd
    or an unrelated (noise) crowd. Both halves sit at the grid's low edge: a link that passed the 5-shopper
    threshold was right in every simulated crowd, so the share should reach its cap as soon as one exists."""

    max_share: float = 0.4  # the crowd never outweighs what the shopper's own ratings say about looks
    evidence_half: float = 1.0  # co-raters behind a candidate's links at which its share is half of max_share
    ratings_half: float = 0.5  # the shopper's ratings at which the share is half: one rating already counts
    pool: int = 100  # visual picks looked up for the visual score of a crowd candidate


class CrowdRecommender:
    """``recommend(ratings, k)`` → [(item_id, score, reason)] like :meth:`Recommender.recommend`, blended with
    the crowd model ``crowd()`` returns (None: none yet). ``reason`` names a crowd pick's source."""

    def __init__(self, recommender: Recommender, crowd: Callable[[], CollaborativeModel | None],
                 config: BlendConfig | None = None):
        self.recommender = recommender
        self.crowd = crowd
        self.config = config or BlendConfig()

    def share(self, evidence: np.ndarray, n_ratings: int) -> np.ndarray:
        """α (m,) for candidates with ``evidence`` (m,) co-raters behind them, for a shopper with ``n_ratings``
        ratings: exactly 0 without evidence, growing with both, below ``max_share``."""
        c = self.config
        evidence = np.asarray(evidence, dtype=np.float64)
        return c.max_share * evidence / (evidence + c.evidence_half) * n_ratings / (n_ratings + c.ratings_half)

    def links(self, model: CollaborativeModel, ratings: Mapping[str, float]
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Crowd candidates of a shopper: (rows (m,), cf (m,) in [-1, 1], evidence (m,), best seed row (m,))."""
        parts = []
        for item_id, stars in ratings.items():
            seed = model.row_of(item_id)
            # the crowd's own map, read between its whole stars: 3.5★ is +0.25 (rounding made it a 4★ like)
            confidence = float(np.interp(float(stars), STARS, STAR_CONFIDENCE[1:]))
            if seed < 0 or confidence == 0.0:
                continue
            cols, sims, raters = model.neighbours_of(seed)
            if len(cols):
                # "shoppers who loved <seed> also loved this" needs shoppers who loved both, as also_loved does
                loved_both = model.loved_with(seed) >= model.min_shoppers
                parts.append((cols, confidence * sims, raters, np.full(len(cols), seed), abs(confidence),
                              (confidence > 0) & loved_both))
        empty = np.zeros(0, dtype=np.int64)
        if not parts:
            return empty, np.zeros(0), np.zeros(0), empty
        cols = np.concatenate([p[0] for p in parts]).astype(np.int64)  # (l,)
        contrib = np.concatenate([p[1] for p in parts]).astype(np.float64)
        raters = np.concatenate([p[2] for p in parts]).astype(np.float64)
        seeds = np.concatenate([p[3] for p in parts]).astype(np.int64)
        weight = np.concatenate([np.full(len(p[0]), p[4]) for p in parts])
        # (l,) the shopper liked the seed and enough shoppers loved it together with the candidate
        liked = np.concatenate([np.broadcast_to(p[5], len(p[0])) for p in parts])
        rows, at = np.unique(cols, return_inverse=True)  # (m,)
        cf = np.bincount(at, contrib, len(rows)) / np.bincount(at, weight, len(rows))  # (m,)
        evidence = np.bincount(at, raters, len(rows))  # (m,)
        # the seed a reason may name: one the shopper liked whose fans also love the candidate (a disliked seed
        # anti-correlated with it also contributes positively, and a pair the crowd only disliked together is
        # similar too, but "shoppers who loved <it>" would be false for both)
        nameable = liked & (contrib > 0)  # (l,)
        key = np.where(nameable, contrib, -np.inf)
        best = np.full(len(rows), -1, dtype=np.int64)
        order = np.lexsort((key, at))  # by candidate, strongest nameable contribution last
        last = np.r_[at[order][1:] != at[order][:-1], True]
        best[at[order][last]] = np.where(nameable[order][last], seeds[order][last], -1)
        rated = np.isin(rows, [model.row_of(i) for i in ratings])
        rows, cf, evidence, best = rows[~rated], cf[~rated], evidence[~rated], best[~rated]
        top = float(np.abs(cf).max(initial=0.0))
        return rows, (cf / top if top > 0 else cf), evidence, best

    def recommend(self, ratings: Mapping[str, float], k: int = 10) -> list[tuple[str, float, str]]:
        rec, c = self.recommender, self.config
        visual = rec.recommend(ratings, k)
        model = self.crowd()
        if model is None or not ratings:
            return visual  # a young Space (no model yet) and a cold start are exactly as today
        rows, cf, evidence, best = self.links(model, ratings)
        if not len(rows):
            return visual
        alpha = self.share(evidence, len(ratings))  # (m,)
        ids = np.asarray(model.item_ids, dtype=object)[rows]
        known = {item: (score, why) for item, score, why in visual}
        if any(item not in known for item in ids):
            pool = rec.recommend(ratings, max(c.pool, k))
            floor = min(score for _, score, _ in pool)
            lookup = {item: (score, why) for item, score, why in pool}
            complete = len(pool) < max(c.pool, k)  # the pool holds every recommendable piece: others are not
        else:
            lookup, floor, complete = known, 0.0, False
        crowd: dict[str, tuple[float, str, float, bool]] = {}  # item → (blended, reason, cf, in visual top k)
        for item, row_cf, a, seed in zip(ids, cf, alpha, best):
            if item not in lookup and complete:
                continue
            v, why = lookup.get(item, (floor, ""))
            blended = (1 - a) * v + a * row_cf
            if row_cf > 0 and (item not in known or a * row_cf > (1 - a) * max(v, 0.0)):
                why = self._reason(model, int(seed))
            elif not why:  # the crowd rates it down: no "loved" reason, only that it was weighed
                why = "shoppers who rate like you have rated this"
            crowd[item] = (float(blended), why, float(row_cf), item in known)
        scored = {item: (score, why) for item, score, why in visual}
        scored.update({item: (b, why) for item, (b, why, _, _) in crowd.items()})
        alpha_of = dict(zip(ids, alpha))
        # the crowd's own favourites among the pieces the visual top k left out, by evidence-weighted cf
        outside = sorted((item for item, (_, _, f, inside) in crowd.items() if not inside and f > 0),
                         key=lambda item: -alpha_of[item] * crowd[item][2])
        share = float(np.mean([alpha_of[item] for item in outside[:k]])) if outside else 0.0
        reserved = outside[: int(round(k * share))]
        rest = sorted((item for item in scored if item not in reserved), key=lambda item: -scored[item][0])
        chosen = reserved + rest[: k - len(reserved)]
        return [(item, scored[item][0], scored[item][1]) for item in sorted(chosen, key=lambda i: -scored[i][0])]

    def _reason(self, model: CollaborativeModel, seed: int) -> str:
        """Why a crowd pick: the piece the shopper liked whose fans love it, else the crowd in general."""
        if seed < 0:
            return "shoppers who rate like you loved this"
        name = self.recommender.names[self.recommender.bundle.index_of(model.item_ids[seed])]
        return f"shoppers who loved the {name} also loved this"
