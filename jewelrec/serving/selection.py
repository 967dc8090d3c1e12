"""How a scored candidate list becomes the top k (:meth:`jewelrec.serving.recommender.Recommender.recommend`'s
last step): affinity slots for clearly liked styles, places shared among the pieces loved alike within a band of the
k-th best score, or maximal marginal relevance. Each returns candidate positions in score order.
"""

from __future__ import annotations

import numpy as np


def slotted_top(scores: np.ndarray, groups: np.ndarray, k: int, affinity: np.ndarray,
                liked: np.ndarray) -> list[int]:
    """Top-k in score order where each clearly liked style g (``liked``) may hold at most
    ``ceil(k · affinity_g / Σ affinity_liked)`` of the places and every other style none; places the caps leave
    empty go to the best remaining items. With one liked style (or none) this is the plain top k.

    Vectorised: an item passes its cap when fewer than ``cap`` items of its group rank above it.
    """
    order = np.argsort(-scores, kind="stable")
    order = order[np.isfinite(scores[order])]  # (h,) best first
    if len(liked) < 2:
        return order[:k].tolist()
    caps = np.zeros(int(max(groups.max(initial=0), affinity.shape[0] - 1)) + 1, dtype=np.int64)
    caps[liked] = np.ceil(k * affinity[liked] / affinity[liked].sum()).astype(np.int64)
    ranked_groups = groups[order]
    by_group = np.argsort(ranked_groups, kind="stable")  # (h,) grouped, score order kept inside a group
    sorted_groups = ranked_groups[by_group]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])  # first of each group
    rank = np.empty(len(order), dtype=np.int64)
    rank[by_group] = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    passes = rank < caps[ranked_groups]
    taken = order[passes][:k]
    if len(taken) < k:
        taken = np.concatenate([taken, order[~passes][: k - len(taken)]])
    return sorted(taken.tolist(), key=lambda j: -scores[j])


def _largest_remainder(weights: np.ndarray, k: int) -> np.ndarray:
    """``k`` places split in proportion to positive ``weights`` (a,) by largest remainder: (a,) int64, sum k."""
    share = k * weights / weights.sum()  # (a,)
    places = np.floor(share).astype(np.int64)
    places[np.argsort(-(share - places), kind="stable")[: k - int(places.sum())]] += 1
    return places


def banded_top(scores: np.ndarray, anchor_sims: np.ndarray, anchor_weights: np.ndarray, k: int,
               band: float) -> list[int]:
    """Top-k where, among the candidates scoring at least (k-th best score − ``band``), each liked piece a holds
    ``_largest_remainder(anchor_weights, k)[a]`` places, filled best first with the candidates whose nearest liked
    piece it is (``anchor_sims`` (m, a) cosines to the liked pieces); places it cannot fill from the band go to the
    band's best remaining candidates. Nothing below the band is ever taken. Returned in score order."""
    finite = np.flatnonzero(np.isfinite(scores))
    if len(finite) <= k:
        return finite[np.argsort(-scores[finite], kind="stable")].tolist()
    kth = np.partition(scores[finite], len(finite) - k)[len(finite) - k]  # the k-th best score
    band_rows = finite[scores[finite] >= kth - band]
    band_rows = band_rows[np.argsort(-scores[band_rows], kind="stable")]  # (h ≥ k,) best first
    nearest = np.argmax(anchor_sims[band_rows], axis=1)  # (h,) the liked piece each candidate is closest to
    rank = np.empty(len(band_rows), dtype=np.int64)  # (h,) rank among the candidates of its own liked piece
    for a in np.unique(nearest):
        mine = nearest == a
        rank[mine] = np.arange(int(mine.sum()))
    passes = rank < _largest_remainder(anchor_weights.astype(np.float64), k)[nearest]
    taken = np.concatenate([band_rows[passes], band_rows[~passes]])[:k]  # the band holds ≥ k rows
    return taken[np.argsort(-scores[taken], kind="stable")].tolist()


MMR_HEAD = 200  # picks chosen by MMR; a longer list goes on by score (greedy MMR costs k · 2k · d: 90 s at k = 10k)


def mmr_top(scores: np.ndarray, embeddings: np.ndarray, k: int, lam: float, pool: int) -> list[int]:
    """Maximal marginal relevance over the ``max(pool, 2h)`` best finite ``scores`` (m,), h = min(k,
    ``MMR_HEAD``): greedily the item maximising ``lam·score − (1 − lam)·max cos(item, picked)``; ``embeddings``
    (m, d) are the candidates'. Past the first ``MMR_HEAD`` picks the list goes on by score. Returned in score
    order (the list reads best first; MMR decides which pieces, not their order)."""
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"mmr_lambda must be in [0, 1], got {lam!r}")
    head = min(k, MMR_HEAD)
    window = max(pool, 2 * head)  # the candidates MMR weighs
    top = min(window + (k - head), len(scores))
    order = np.argpartition(-scores, top - 1)[:top] if top < len(scores) else np.arange(len(scores))
    order = order[np.argsort(-scores[order], kind="stable")]
    order = order[np.isfinite(scores[order])]  # (h,) best first
    if lam >= 1.0 or len(order) <= k:
        return order[:k].tolist()
    weighed = order[:window]
    relevance = lam * scores[weighed]  # (w,)
    closest = np.zeros(len(weighed), dtype=np.float32)  # (w,) max(0, cosine to a picked item)
    taken = np.zeros(len(weighed), dtype=bool)
    pool_emb = embeddings[weighed]  # (w, d)
    picked: list[int] = []
    for _ in range(head):
        value = np.where(taken, -np.inf, relevance - (1.0 - lam) * closest)
        best = int(np.argmax(value))
        picked.append(best)
        taken[best] = True
        closest = np.maximum(closest, pool_emb @ pool_emb[best])
    rest = np.concatenate([weighed[~taken], order[window:]])[: k - head]  # best first: by score
    chosen = np.concatenate([weighed[picked], rest])
    return chosen[np.argsort(-scores[chosen], kind="stable")].tolist()
