"""Space-like star-rating logs: simulated shoppers (:mod:`jewelrec.evaluation.shoppers`) rate a catalog the way the
Space collects ratings, and the log is written in the Space's own SQLite schema, for the offline evaluator's
tests and benchmarks (``data: {preset: space-ratings, path: ...}``).

Each shopper has a hidden taste over the catalog's ``category`` / ``metal`` columns (one of the taste shapes, some
with a second liked style and a disliked one), rates the first ``rate_tab`` pieces of the Rate tab and then
``browse`` pieces they look at (mostly ones they love or like, some at random), whole stars with noise around
their true utility — so the log holds 1–2★ dislikes as well as likes. Ratings are spread over ``n_days`` days.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

from jewelrec.evaluation.shoppers import TASTE_SHAPES, draw_taste, protocol_rows, rate

SECONDS_PER_DAY = 86_400
START = 1_767_225_600  # 2026-01-01 UTC: the log's first day


def shopper_ratings(items: pd.DataFrame, rate_order: list[int], *, n_shoppers: int = 300, rate_tab: int = 8,
                    browse: int = 24, noise: float = 0.6, second_style: float = 0.5, dislike: float = 0.7,
                    shapes: tuple[str, ...] = TASTE_SHAPES, n_days: int = 30, seed: int = 0) -> pd.DataFrame:
    """One row per (shopper, piece): ``user_id, item_id, stars (1–5 int), updated_at (unix s)``.

    ``items`` is the catalog table (``item_id``, ``category``, ``metal``); ``rate_order`` the rows in the order
    the Rate tab offers them (:attr:`jewelrec.Recommender.rate_order`). Shapes are dealt in turn.
    """
    rng = np.random.default_rng(seed)
    ids = items["item_id"].astype(str).to_numpy()
    frames = []
    for shopper in range(n_shoppers):
        taste = draw_taste(items, shapes[shopper % len(shapes)], rng, second_style=rng.random() < second_style,
                           dislike=rng.random() < dislike)
        utility = taste.utility(items)  # (n,) true stars
        seen = protocol_rows("browse", utility, rate_order, rng, n_browse=browse)
        rows = np.unique(np.concatenate([np.asarray(rate_order[:rate_tab], dtype=np.int64), seen]))
        stars = rate(utility, rows, rng, noise)  # {row: stars}
        times = START + rng.integers(0, n_days * SECONDS_PER_DAY, size=len(stars))
        frames.append(pd.DataFrame({"user_id": f"shopper-{shopper:05d}", "item_id": ids[list(stars)],
                                    "stars": np.fromiter(stars.values(), dtype=np.int64), "updated_at": times}))
    return pd.concat(frames, ignore_index=True)


def write_ratings_db(ratings: pd.DataFrame, path: str | Path) -> Path:
    """Write ``ratings`` into a new ratings database with the Space's schema (``jewelrec.ratings.SCHEMA``)."""
    from jewelrec.ratings import SCHEMA

    path = Path(path)
    if path.exists():
        raise ValueError(f"{str(path)!r} exists; write the simulated ratings to a new file")
    rows = list(ratings[["user_id", "item_id", "stars", "updated_at"]].itertuples(index=False, name=None))
    db = sqlite3.connect(path)
    try:
        with db:  # one transaction
            db.executescript(SCHEMA)
            db.executemany("INSERT INTO ratings (user_id, item_id, stars, updated_at) VALUES (?, ?, ?, ?)", rows)
            db.executemany("INSERT INTO rating_history (user_id, item_id, stars, rated_at) VALUES (?, ?, ?, ?)",
                           rows)
    finally:
        db.close()
    return path
