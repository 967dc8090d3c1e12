"""Raw star ratings beside the confidences: what a model that reads 1–5 stars (the shipped ``jewelrec``
recommender) sees of the training side of a split.

Collaborative models see the confidence matrix of the positive rows only (:meth:`InteractionLog.to_csr`). A star
model sees, per user, the raw stars of every training rating: the same positive rows plus the 1–2★ dislikes the
split put on the training side (``InteractionLog.dislikes``). One rating per (user, item): the latest (by time,
then by row order), as the Space's ratings table keeps it. Columns are the log's items, then the items that
appear only in dislikes (no positive row anywhere, so no model can be scored on recommending them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from jewelrec.evaluation.interactions import InteractionLog


@dataclass
class StarRatings:
    """Training stars of every user of a log."""

    matrix: sp.csr_matrix  # (n_users, n_cols) float32 stars; rows are the log's users, sorted indices
    item_ids: np.ndarray  # (n_cols,) object: the log's items, then items that appear only in dislikes
    n_log_items: int  # columns below this are the log's items (the candidates every model ranks)
    n_dislikes: int  # training dislike rows included
    n_dislikes_of_unknown_users: int  # dislike rows of users without any positive row (never evaluated)

    def of_user(self, user: int) -> dict[str, float]:
        """``{item_id: stars}`` of one user (a row code of the log)."""
        start, stop = self.matrix.indptr[user], self.matrix.indptr[user + 1]
        cols, stars = self.matrix.indices[start:stop], self.matrix.data[start:stop]
        return {str(self.item_ids[c]): float(s) for c, s in zip(cols, stars)}


def latest_values(users: np.ndarray, items: np.ndarray, values: np.ndarray, times: np.ndarray | None,
                  n_users: int, n_cols: int) -> sp.csr_matrix:
    """Per (user, item) pair, the value of its latest row (by time, then row order). (n_users, n_cols) CSR."""
    key = users.astype(np.int64) * n_cols + items.astype(np.int64)  # (n,)
    when = np.zeros(len(key), dtype=np.int64) if times is None else np.asarray(times, dtype=np.int64)
    order = np.lexsort((np.arange(len(key)), when, key))  # by pair, then time, then row
    key_sorted = key[order]
    last = order[np.r_[key_sorted[1:] != key_sorted[:-1], True]] if len(key) else order  # (n_pairs,)
    rows, cols = key[last] // n_cols, key[last] % n_cols
    matrix = sp.csr_matrix((np.asarray(values, np.float32)[last], (rows, cols)), shape=(n_users, n_cols))
    matrix.sort_indices()
    return matrix


def training_stars(train: InteractionLog) -> StarRatings | None:
    """The star view of a split's training side; ``None`` when the log has no rating column."""
    if train.stars is None:
        return None
    parts = [(train.users, train.items, train.stars, train.times)]
    extra_items = np.zeros(0, dtype=object)
    n_dislikes = n_unknown = 0
    dislikes = train.dislikes
    if dislikes is not None and len(dislikes):
        user_code = pd.Index(train.user_ids).get_indexer(dislikes.user_ids)  # (n_dislike_users,), -1: unknown
        item_code = pd.Index(train.item_ids).get_indexer(dislikes.item_ids)  # (n_dislike_items,)
        only_disliked = item_code < 0
        extra_items = np.asarray(dislikes.item_ids, dtype=object)[only_disliked]
        item_code[only_disliked] = train.n_items + np.arange(int(only_disliked.sum()))
        users, items = user_code[dislikes.users], item_code[dislikes.items]  # (n_dislikes,)
        known = users >= 0
        n_dislikes, n_unknown = int(known.sum()), int((~known).sum())
        parts.append((users[known], items[known], dislikes.stars[known],
                      None if dislikes.times is None else dislikes.times[known]))
    users, items, stars = (np.concatenate([p[i] for p in parts]) for i in range(3))
    times = None if any(p[3] is None for p in parts) else np.concatenate([p[3] for p in parts])
    item_ids = np.concatenate([np.asarray(train.item_ids, dtype=object), extra_items])
    matrix = latest_values(users, items, stars, times, train.n_users, len(item_ids))
    return StarRatings(matrix, item_ids, train.n_items, n_dislikes, n_unknown)
