"""Ranking and beyond-accuracy metrics, batched over users.

Every function takes the ground truth as a sparse ``relevant`` matrix (n_users, n_items) — a stored non-zero means
"relevant" — and the recommendations as ``ranked`` (n_users, k) item ids, best first, ``-1`` for an empty slot.
Rows are users; users without any relevant item are left out of the averages (they cannot be scored). Nothing here
loops over users in Python: hits are found with one ``searchsorted`` over (row, item) keys.

Definitions (binary relevance, k = number of columns of ``ranked`` unless ``k`` is given):

* MAP@k — the H&M / Kaggle definition: ``AP@k = sum_i P(i) * rel(i) / min(|relevant|, k)``.
* precision@k = hits / k (empty slots count as misses); recall@k = hits / |relevant|.
* NDCG@k — DCG with ``1 / log2(rank + 1)`` discounts over the ideal DCG of ``min(|relevant|, k)`` hits.
* hit rate@k — share of users with at least one hit.
* coverage@k — distinct recommended items / catalog size.
* diversity@k — intra-list diversity: mean over each list of ``1 - cosine`` between pairs of recommended items'
  embeddings (items without an embedding are left out), averaged over lists with two or more such items.
* novelty@k — mean self-information ``-log2 p(i)`` of recommended items, ``p(i) = (users_i + 1) / (n_users + 1)``
  from the training data (the +1 keeps never-seen items finite).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

RANKING_METRICS = ("map", "precision", "recall", "ndcg", "hit_rate")
BEYOND_ACCURACY = ("coverage", "diversity", "novelty")
ALL_METRICS = RANKING_METRICS + BEYOND_ACCURACY


def _as_ranked(ranked: np.ndarray, k: int | None) -> np.ndarray:
    ranked = np.asarray(ranked)
    if ranked.ndim != 2:
        raise ValueError(f"ranked must be 2-D (n_users, k), got shape {ranked.shape}")
    if k is not None:
        if k > ranked.shape[1]:
            raise ValueError(f"k={k} but ranked has only {ranked.shape[1]} columns")
        ranked = ranked[:, :k]
    return ranked.astype(np.int64, copy=False)


def hits_matrix(relevant: sp.csr_matrix, ranked: np.ndarray, k: int | None = None) -> np.ndarray:
    """(n_users, k) bool: is ``ranked[u, i]`` a relevant item of user ``u``."""
    ranked = _as_ranked(ranked, k)
    relevant = sp.csr_matrix(relevant)
    if relevant.shape[0] != ranked.shape[0]:
        raise ValueError(f"relevant has {relevant.shape[0]} rows but ranked has {ranked.shape[0]}")
    relevant.sum_duplicates()  # also sorts indices, so the keys below are sorted
    n_items = relevant.shape[1]
    rows = np.repeat(np.arange(relevant.shape[0], dtype=np.int64), np.diff(relevant.indptr))
    stored = relevant.data != 0
    keys = rows[stored] * n_items + relevant.indices[stored]  # (nnz,) sorted
    query = np.arange(ranked.shape[0], dtype=np.int64)[:, None] * n_items + ranked  # (n_users, k)
    pos = np.clip(np.searchsorted(keys, query), 0, max(len(keys) - 1, 0))
    found = keys[pos] == query if len(keys) else np.zeros(query.shape, dtype=bool)
    return found & (ranked >= 0) & (ranked < n_items)


def n_relevant(relevant: sp.csr_matrix) -> np.ndarray:
    """(n_users,) number of relevant items per user."""
    relevant = sp.csr_matrix(relevant)
    return np.asarray((relevant != 0).sum(axis=1)).ravel()


def _per_user(hits: np.ndarray, n_rel: np.ndarray, metric: str) -> np.ndarray:
    """Per-user metric values (n_users,) from hits (n_users, k); NaN where the user has nothing relevant."""
    k = hits.shape[1]
    h = hits.astype(np.float64)
    valid = n_rel > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "map":
            precision_at_i = np.cumsum(h, axis=1) / np.arange(1, k + 1)  # (n_users, k)
            values = (precision_at_i * h).sum(axis=1) / np.minimum(n_rel, k)
        elif metric == "precision":
            values = h.sum(axis=1) / k
        elif metric == "recall":
            values = h.sum(axis=1) / n_rel
        elif metric == "ndcg":
            discounts = 1.0 / np.log2(np.arange(2, k + 2))  # (k,)
            ideal = np.cumsum(discounts)[np.clip(np.minimum(n_rel, k) - 1, 0, k - 1)]  # (n_users,)
            values = (h @ discounts) / ideal
        elif metric == "hit_rate":
            values = h.any(axis=1).astype(np.float64)
        else:
            raise ValueError(f"unknown ranking metric {metric!r}; use one of {RANKING_METRICS}")
    return np.where(valid, values, np.nan)


def _mean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else 0.0


def map_at_k(relevant: sp.csr_matrix, ranked: np.ndarray, k: int | None = None) -> float:
    return _mean(_per_user(hits_matrix(relevant, ranked, k), n_relevant(relevant), "map"))


def precision_at_k(relevant: sp.csr_matrix, ranked: np.ndarray, k: int | None = None) -> float:
    return _mean(_per_user(hits_matrix(relevant, ranked, k), n_relevant(relevant), "precision"))


def recall_at_k(relevant: sp.csr_matrix, ranked: np.ndarray, k: int | None = None) -> float:
    return _mean(_per_user(hits_matrix(relevant, ranked, k), n_relevant(relevant), "recall"))


def ndcg_at_k(relevant: sp.csr_matrix, ranked: np.ndarray, k: int | None = None) -> float:
    return _mean(_per_user(hits_matrix(relevant, ranked, k), n_relevant(relevant), "ndcg"))


def hit_rate_at_k(relevant: sp.csr_matrix, ranked: np.ndarray, k: int | None = None) -> float:
    return _mean(_per_user(hits_matrix(relevant, ranked, k), n_relevant(relevant), "hit_rate"))


def graded_ndcg_at_k(gains: np.ndarray, ranked: np.ndarray, k: int | None = None) -> float:
    """NDCG@k with graded relevance (scikit-learn's ``ndcg_score``): ``gains`` (n_users, n_items) ≥ 0, e.g. 2
    for a loved item and 1 for a liked one; users without any gain are left out, as everywhere here."""
    from sklearn.metrics import ndcg_score

    ranked = _as_ranked(ranked, k)
    k = ranked.shape[1]
    gains = np.asarray(gains, dtype=np.float64)
    scores = np.zeros_like(gains)  # (n_users, n_items): k..1 down the list, 0 for what was not recommended
    users = np.repeat(np.arange(len(ranked)), k).reshape(ranked.shape)
    ok = (ranked >= 0) & (ranked < gains.shape[1])
    scores[users[ok], ranked[ok]] = np.broadcast_to(np.arange(k, 0, -1), ranked.shape)[ok]
    valid = gains.sum(axis=1) > 0
    if not valid.any():
        return 0.0
    return float(ndcg_score(gains[valid], scores[valid], k=k))


def catalog_coverage(ranked: np.ndarray, n_items: int) -> float:
    """Distinct recommended items / ``n_items``."""
    ranked = _as_ranked(ranked, None)
    valid = ranked[(ranked >= 0) & (ranked < n_items)]
    return float(len(np.unique(valid)) / n_items) if n_items else 0.0


def intra_list_diversity(
    ranked: np.ndarray,
    embeddings: np.ndarray,
    has_embedding: np.ndarray | None = None,
    batch_size: int = 4096,
) -> float:
    """Mean pairwise ``1 - cosine`` within each list. ``embeddings`` (n_items, d) indexed by item id;
    ``has_embedding`` (n_items,) marks rows that are real (others are skipped). NaN (null in results.json) when no
    list holds two such items: not measurable, which 0.0 ("every list is one look") would misreport."""
    ranked = _as_ranked(ranked, None)
    n_items = embeddings.shape[0]
    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)  # (n_items, d)
    usable = np.ones(n_items, dtype=bool) if has_embedding is None else np.asarray(has_embedding, dtype=bool)
    total, lists = 0.0, 0
    for start in range(0, ranked.shape[0], batch_size):
        block = ranked[start : start + batch_size]  # (b, k)
        ok = (block >= 0) & (block < n_items)
        ok[ok] = usable[block[ok]]
        vectors = unit[np.where(ok, block, 0)] * ok[..., None]  # (b, k, d), zero rows for skipped slots
        cos = np.einsum("bid,bjd->bij", vectors, vectors)  # (b, k, k)
        m = ok.sum(axis=1).astype(np.float64)  # (b,)
        pair_cos = (cos.sum(axis=(1, 2)) - m) / 2.0  # sum over i<j; diagonal is 1 per usable slot
        n_pairs = m * (m - 1) / 2.0
        scored = n_pairs > 0
        total += float((1.0 - pair_cos[scored] / n_pairs[scored]).sum())
        lists += int(scored.sum())
    return total / lists if lists else float("nan")


def item_self_information(item_users: np.ndarray, n_users: int) -> np.ndarray:
    """(n_items,) ``-log2((users_i + 1) / (n_users + 1))`` from per-item training user counts."""
    return -np.log2((np.asarray(item_users, dtype=np.float64) + 1.0) / (n_users + 1.0))


def novelty(ranked: np.ndarray, item_users: np.ndarray, n_users: int) -> float:
    """Mean self-information of recommended items (per list, then over lists with any item)."""
    ranked = _as_ranked(ranked, None)
    info = item_self_information(item_users, n_users)
    ok = (ranked >= 0) & (ranked < len(info))
    values = np.where(ok, info[np.where(ok, ranked, 0)], 0.0)  # (n_users, k)
    counts = ok.sum(axis=1)
    has = counts > 0
    return float((values.sum(axis=1)[has] / counts[has]).mean()) if has.any() else 0.0


def evaluate_ranking(
    relevant: sp.csr_matrix,
    ranked: np.ndarray,
    k: int,
    *,
    metrics: tuple[str, ...] | list[str] = ALL_METRICS,
    n_items: int | None = None,
    item_users: np.ndarray | None = None,
    n_train_users: int | None = None,
    embeddings: np.ndarray | None = None,
    has_embedding: np.ndarray | None = None,
) -> dict[str, float]:
    """All requested metrics as ``{"map@12": …, …}``. Beyond-accuracy metrics whose inputs are missing
    (no embeddings → no diversity) are left out rather than reported as zero."""
    unknown = set(metrics) - set(ALL_METRICS)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}; choose from {list(ALL_METRICS)}")
    ranked = _as_ranked(ranked, k)
    hits = hits_matrix(relevant, ranked)
    n_rel = n_relevant(relevant)
    out: dict[str, float] = {}
    for metric in metrics:
        if metric in RANKING_METRICS:
            out[f"{metric}@{k}"] = _mean(_per_user(hits, n_rel, metric))
        elif metric == "coverage" and n_items:
            out[f"coverage@{k}"] = catalog_coverage(ranked, n_items)
        elif metric == "diversity" and embeddings is not None:
            out[f"diversity@{k}"] = intra_list_diversity(ranked, embeddings, has_embedding)
        elif metric == "novelty" and item_users is not None and n_train_users:
            out[f"novelty@{k}"] = novelty(ranked, item_users, n_train_users)
    return out
