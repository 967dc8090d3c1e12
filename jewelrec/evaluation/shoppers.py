"""Simulated shoppers: hidden tastes over catalog attributes, ratings the way the Space collects them, and the
recommenders a user would pick instead — so "are jewelrec's picks good?" has a number.

A shopper's hidden taste is a set of attribute values they love (one category; a metal across categories; a
category and a metal; or two categories loved alike), optionally a second style they only like, and a category
they dislike. Every piece has a true utility (5 loved, 4 liked, 2 disliked, 3 otherwise). The shopper rates pieces
with noise, by one of two protocols — ``rate-tab`` (the first two pages of eight the Space's Rate tab shows) or ``browse`` (pieces they
look at: mostly ones they love or like, some at random) — and then asks for ``k`` picks. A pick is relevant
when the shopper would rate it 4★ or more (loved or liked); nDCG is graded (a loved piece gains 2, a liked one 1),
so a list that puts the loved style first scores higher than one that mixes both evenly. For the
``two-categories`` shape, ``balance`` is how evenly the list shares itself between the two loved categories:
``min(picks in one, picks in the other) / (k / 2)`` — 1 an even split, 0 one category only.

Strategies over the same embeddings (what a vector database offers instead):

* ``qdrant-average``: Qdrant's ``average_vector`` — search with ``2·mean(positives) − mean(negatives)``;
* ``qdrant-best-score``: Qdrant's ``best_score`` — per candidate ``max_pos`` if it beats ``max_neg``, else
  ``−max_neg²``;
* ``marqo-weighted``: Marqo's weighted multi-term query — ``Σ (stars − 3)·e_i``, normalised;
* ``cold-start`` (the list a shopper sees before rating) and ``random``.

Positives are ratings of 4–5★, negatives 1–2★, as a user of those APIs would pass them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from jewelrec.evaluation.metrics import evaluate_ranking, graded_ndcg_at_k

TASTE_SHAPES = ("category", "metal", "category+metal")  # one loved style: what synthetic rating logs draw
SHOPPER_SHAPES = (*TASTE_SHAPES, "two-categories")  # what the shopper benchmark scores (two loved styles last)
PROTOCOLS = ("rate-tab", "browse")
LOVED, LIKED, NEUTRAL, DISLIKED = 5.0, 4.0, 3.0, 2.0


@dataclass
class Taste:
    """What one shopper loves ({column: value}, all must hold), also loves (a second style loved as much, or
    empty), likes (a second, weaker style) and dislikes."""

    loves: dict[str, str]
    likes: dict[str, str] = field(default_factory=dict)
    dislikes: dict[str, str] = field(default_factory=dict)
    also_loves: dict[str, str] = field(default_factory=dict)

    def utility(self, items: pd.DataFrame) -> np.ndarray:
        """True stars per item (n,): 5 loved, 4 liked, 2 disliked, 3 otherwise."""
        u = np.full(len(items), NEUTRAL, dtype=np.float32)
        u[_matches(items, self.dislikes)] = DISLIKED
        u[_matches(items, self.likes)] = LIKED
        u[_matches(items, self.loves) | _matches(items, self.also_loves)] = LOVED
        return u

    def loved_groups(self, items: pd.DataFrame) -> np.ndarray:
        """(n,) int: 1 for pieces matching ``loves``, 2 for ``also_loves`` (when set), 0 otherwise."""
        return np.select([_matches(items, self.loves), _matches(items, self.also_loves)], [1, 2], 0)


def _matches(items: pd.DataFrame, spec: dict[str, str]) -> np.ndarray:
    """(n,) bool: the items with every ``{column: value}`` of ``spec``; none when ``spec`` is empty."""
    mask = np.full(len(items), bool(spec))
    for column, value in spec.items():
        mask &= items[column].astype(str).to_numpy() == value
    return mask


def draw_taste(items: pd.DataFrame, shape: str, rng: np.random.Generator, *, second_style: bool,
               dislike: bool) -> Taste:
    """A random taste of ``shape`` (one of :data:`SHOPPER_SHAPES`) over the catalog's ``category`` / ``metal``
    columns. ``two-categories`` loves a second category as much as the first (and needs three categories)."""
    if shape not in SHOPPER_SHAPES:
        raise ValueError(f"unknown taste shape {shape!r}; choose one of {SHOPPER_SHAPES}")
    categories = sorted(items["category"].astype(str).unique())
    metals = sorted(items["metal"].astype(str).unique())
    category, metal = str(rng.choice(categories)), str(rng.choice(metals))
    others = [c for c in categories if c != category]
    loves = {"category": {"category": category}, "metal": {"metal": metal},
             "category+metal": {"category": category, "metal": metal},
             "two-categories": {"category": category}}[shape]
    also_loves = {}
    if shape == "two-categories":
        if len(others) < 2:
            raise ValueError(f"the two-categories taste needs ≥ 3 categories, the catalog has {len(categories)}")
        also_loves = {"category": str(rng.choice(others))}
        others = [c for c in others if c != also_loves["category"]]
    likes = {"category": str(rng.choice(others))} if second_style else {}
    left = [c for c in others if c != likes.get("category")]
    dislikes = {"category": str(rng.choice(left))} if dislike and left else {}
    return Taste(loves=loves, likes=likes, dislikes=dislikes, also_loves=also_loves)


def rate(utility: np.ndarray, rows: np.ndarray, rng: np.random.Generator, noise: float) -> dict[int, float]:
    """Noisy whole-star ratings of ``rows`` given their true utility."""
    stars = np.clip(np.rint(utility[rows] + rng.normal(0.0, noise, len(rows))), 1, 5)
    return {int(r): float(s) for r, s in zip(rows, stars)}


def protocol_rows(protocol: str, utility: np.ndarray, rate_order: list[int], rng: np.random.Generator,
                  n_browse: int = 12, browse_interest: float = 0.7) -> np.ndarray:
    """Which pieces the shopper rates: ``rate-tab`` — the Rate tab's first two pages of 8; ``browse`` —
    ``n_browse`` pieces, ``browse_interest`` of them among those they love or like, the rest at random."""
    if protocol == "rate-tab":
        return np.asarray(rate_order[:16], dtype=np.int64)
    if protocol != "browse":
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
    wanted = np.flatnonzero(utility >= LIKED)
    n_wanted = min(len(wanted), int(round(browse_interest * n_browse)))
    picked = rng.choice(wanted, size=n_wanted, replace=False) if n_wanted else np.zeros(0, np.int64)
    rest = np.setdiff1d(np.arange(len(utility)), picked)
    return np.concatenate([picked, rng.choice(rest, size=n_browse - n_wanted, replace=False)])


# --- strategies: (ratings {row: stars}, k) -> ranked rows ------------------------------------------------

Strategy = Callable[[Mapping[int, float], int], np.ndarray]


def _top(scores: np.ndarray, rated: np.ndarray, k: int) -> np.ndarray:
    scores = scores.astype(np.float64, copy=True)
    scores[rated] = -np.inf
    top = np.argpartition(-scores, min(k, len(scores) - 1))[:k]
    return top[np.argsort(-scores[top], kind="stable")]


def vector_db_strategies(embeddings: np.ndarray, fallback: Strategy) -> dict[str, Strategy]:
    """Qdrant's two recommend strategies and Marqo's weighted query over ``embeddings`` (n, d); ``fallback``
    answers a shopper without a single positive (those APIs need one)."""
    def split(ratings: Mapping[int, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = np.fromiter(ratings, dtype=np.int64)
        stars = np.fromiter(ratings.values(), dtype=np.float32)
        return rows, rows[stars >= 4], rows[stars <= 2]

    def average(ratings: Mapping[int, float], k: int) -> np.ndarray:
        rows, pos, neg = split(ratings)
        if not len(pos):
            return fallback(ratings, k)
        query = 2 * embeddings[pos].mean(0) - (embeddings[neg].mean(0) if len(neg) else 0)  # (d,)
        return _top(embeddings @ query, rows, k)

    def best_score(ratings: Mapping[int, float], k: int) -> np.ndarray:
        rows, pos, neg = split(ratings)
        if not len(pos):
            return fallback(ratings, k)
        best_pos = (embeddings @ embeddings[pos].T).max(1)  # (n,)
        best_neg = (embeddings @ embeddings[neg].T).max(1) if len(neg) else np.full(len(embeddings), -np.inf)
        return _top(np.where(best_pos > best_neg, best_pos, -(best_neg ** 2)), rows, k)

    def weighted(ratings: Mapping[int, float], k: int) -> np.ndarray:
        rows, pos, _ = split(ratings)
        weights = np.fromiter(ratings.values(), dtype=np.float32) - 3.0  # (r,) Marqo: negative weights push away
        if not len(pos) or not np.any(weights):
            return fallback(ratings, k)
        query = weights @ embeddings[rows]  # (d,)
        return _top(embeddings @ (query / max(float(np.linalg.norm(query)), 1e-12)), rows, k)

    return {"qdrant-average": average, "qdrant-best-score": best_score, "marqo-weighted": weighted}


@dataclass
class SimulationConfig:
    n_shoppers: int = 200  # per taste shape and protocol
    k: int = 10  # picks per shopper
    noise: float = 0.6  # std of the star noise around the true utility
    second_style: float = 0.5  # share of shoppers who also like (4★) a second category
    dislike: float = 0.7  # share of shoppers with a disliked category (2★)
    seed: int = 0


def simulate(items: pd.DataFrame, embeddings: np.ndarray, rate_order: list[int],
             strategies: Mapping[str, Strategy], config: SimulationConfig,
             shapes: tuple[str, ...] = SHOPPER_SHAPES,
             protocols: tuple[str, ...] = PROTOCOLS) -> list[dict]:
    """Every strategy on the same shoppers. One row per (shape, protocol, strategy): precision / recall /
    nDCG / hit rate @k against the loved pieces, diversity, coverage, the share of picks the shopper
    dislikes, and (``two-categories`` only) the balance between the two loved categories."""
    rows: list[dict] = []
    n, k = len(items), config.k
    for shape in shapes:
        for protocol in protocols:
            rng = np.random.default_rng([config.seed, SHOPPER_SHAPES.index(shape), PROTOCOLS.index(protocol)])
            shoppers = []
            for _ in range(config.n_shoppers):
                taste = draw_taste(items, shape, rng, second_style=rng.random() < config.second_style,
                                   dislike=rng.random() < config.dislike)
                utility = taste.utility(items)
                seen = protocol_rows(protocol, utility, rate_order, rng)
                shoppers.append((utility, rate(utility, seen, rng, config.noise), taste.loved_groups(items)))
            utilities = np.stack([u for u, _, _ in shoppers])  # (shoppers, n)
            relevant = sp.csr_matrix((utilities >= LIKED).astype(np.float32))
            gains = np.clip(utilities - NEUTRAL, 0, None)  # loved 2, liked 1
            for name, strategy in strategies.items():
                ranked = np.full((len(shoppers), k), -1, dtype=np.int64)
                disliked, balance = [], []
                for i, (utility, ratings, groups) in enumerate(shoppers):
                    picks = np.asarray(strategy(ratings, k), dtype=np.int64)[:k]
                    ranked[i, :len(picks)] = picks
                    disliked.append(float(np.mean(utility[picks] <= DISLIKED)) if len(picks) else 0.0)
                    balance.append(loved_balance(groups[picks], k))
                metrics = evaluate_ranking(relevant, ranked, k=k, metrics=["precision", "recall", "hit_rate",
                                                                            "coverage", "diversity"],
                                           n_items=n, embeddings=embeddings)
                loved = np.take_along_axis(utilities, np.clip(ranked, 0, n - 1), 1) == LOVED  # (shoppers, k)
                rows.append({"shape": shape, "protocol": protocol, "strategy": name, "seed": config.seed,
                             **{m.split("@")[0]: float(v) for m, v in metrics.items()},
                             "ndcg": graded_ndcg_at_k(gains, ranked, k),
                             "loved_share": float((loved & (ranked >= 0)).mean()),
                             "disliked_share": float(np.mean(disliked)),
                             **({"balance": float(np.mean(balance))} if shape == "two-categories" else {})})
    return rows


def loved_balance(groups: np.ndarray, k: int) -> float:
    """``min(#1, #2) / (k / 2)`` for the loved groups (1, 2; 0 = neither) of a list's picks: 1 is an even split
    between two loved styles, 0 a list with only one of them."""
    return min(int(np.sum(groups == 1)), int(np.sum(groups == 2))) / (k / 2)
