"""Synthetic interaction logs with planted structure, for tests and benchmarks.

Items fall into ``n_groups`` taste groups (think visual styles); every item has a global Zipf popularity. Each
shopper has one favourite group: with probability ``taste`` an interaction is drawn from that group (by
popularity within the group), otherwise from the whole catalog (by global popularity). Tastes are stable over
time, so a model that learns "who likes which group" beats global popularity by a wide margin, for both the time
split and the random split. Items get embeddings near their group's centroid, so a visual model can recover the
groups too, and cluster labels equal to the group.

Everything is vectorised numpy, so the same generator produces H&M-sized logs for ``bench/bench_cf.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SECONDS_PER_DAY = 86_400
HM_LAST_DAY = np.datetime64("2020-09-22", "s")  # the last day of H&M's transactions_train.csv


@dataclass
class PlantedArrays:
    users: np.ndarray  # (n,) int32
    items: np.ndarray  # (n,) int32
    times: np.ndarray  # (n,) int64 unix seconds
    user_taste: np.ndarray  # (n_users,) int32 favourite group
    item_group: np.ndarray  # (n_items,) int32
    n_users: int
    n_items: int


def planted_arrays(
    n_users: int = 300,
    n_items: int = 120,
    *,
    n_groups: int = 6,
    mean_interactions: float = 12.0,
    taste: float = 0.85,
    zipf: float = 1.0,
    n_days: int = 60,
    seed: int = 0,
) -> PlantedArrays:
    """Integer arrays of a planted log; see the module docstring."""
    if n_items < n_groups:
        raise ValueError(f"need at least one item per group: n_items={n_items} < n_groups={n_groups}")
    rng = np.random.default_rng(seed)
    item_group = (np.arange(n_items) % n_groups).astype(np.int32)  # balanced groups
    popularity = 1.0 / (1.0 + rng.permutation(n_items)) ** zipf  # (n_items,) global Zipf, random ranks
    user_taste = rng.integers(0, n_groups, size=n_users).astype(np.int32)
    counts = 1 + rng.poisson(max(mean_interactions - 1.0, 0.0), size=n_users)  # (n_users,) ≥ 1 each
    users = np.repeat(np.arange(n_users, dtype=np.int32), counts)  # (n,)
    n = len(users)

    # Within-group draws by inverse CDF: items sorted by group, each group's CDF shifted by its group index so
    # one searchsorted serves every group at once.
    by_group = np.argsort(item_group, kind="stable")  # (n_items,)
    group_pop = popularity[by_group]
    group_sizes = np.bincount(item_group, minlength=n_groups)
    group_start = np.r_[0, np.cumsum(group_sizes)[:-1]]
    group_total = np.add.reduceat(group_pop, group_start)
    cdf = np.cumsum(group_pop) - np.repeat(np.r_[0, np.cumsum(group_total)[:-1]], group_sizes)
    shifted_cdf = cdf / np.repeat(group_total, group_sizes) + np.repeat(np.arange(n_groups), group_sizes)
    shifted_cdf[np.r_[group_start[1:] - 1, n_items - 1]] = np.arange(1, n_groups + 1)  # exact group ends
    row_group = user_taste[users]
    in_group = by_group[np.minimum(np.searchsorted(shifted_cdf, row_group + rng.random(n), side="right"), n_items - 1)]

    global_cdf = np.cumsum(popularity) / popularity.sum()
    anywhere = np.minimum(np.searchsorted(global_cdf, rng.random(n)), n_items - 1)
    items = np.where(rng.random(n) < taste, in_group, anywhere).astype(np.int32)

    start = HM_LAST_DAY.astype(np.int64) - (n_days - 1) * SECONDS_PER_DAY
    days = rng.integers(0, n_days, size=n)
    times = start + days * SECONDS_PER_DAY + rng.integers(0, SECONDS_PER_DAY, size=n)
    return PlantedArrays(users, items, times.astype(np.int64), user_taste, item_group, n_users, n_items)


def planted_embeddings(item_group: np.ndarray, *, dim: int = 16, noise: float = 0.35, seed: int = 0) -> np.ndarray:
    """(n_items, dim) float32 L2-normalised: group centroid + Gaussian noise."""
    rng = np.random.default_rng(seed + 1)
    n_groups = int(item_group.max()) + 1
    centroids = rng.normal(size=(n_groups, dim))
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    vectors = centroids[item_group] + noise * rng.normal(size=(len(item_group), dim)) / np.sqrt(dim)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def user_id_strings(n_users: int) -> np.ndarray:
    return np.array([f"u{u:07d}" for u in range(n_users)], dtype=object)


def item_id_strings(n_items: int) -> np.ndarray:
    # Zero-padded like H&M article ids, so tests catch any loader that parses ids as integers.
    return np.array([f"{i:010d}" for i in range(n_items)], dtype=object)


def planted_frame(arrays: PlantedArrays) -> pd.DataFrame:
    """Generic log: ``user_id, item_id, timestamp`` (ISO-8601 strings)."""
    return pd.DataFrame({
        "user_id": user_id_strings(arrays.n_users)[arrays.users],
        "item_id": item_id_strings(arrays.n_items)[arrays.items],
        "timestamp": pd.to_datetime(arrays.times, unit="s").strftime("%Y-%m-%dT%H:%M:%S"),
    })  # fmt: skip


def hm_frame(arrays: PlantedArrays, seed: int = 0) -> pd.DataFrame:
    """The same log in the H&M ``transactions_train.csv`` schema (ids formatted like H&M's)."""
    rng = np.random.default_rng(seed + 2)
    salt = rng.integers(0, 2**62, size=arrays.n_users)  # random-looking prefix; the suffix keeps ids unique
    customer_ids = np.array([f"{s:048x}{u:016x}" for u, s in enumerate(salt)], dtype=object)
    price = np.round(rng.uniform(0.005, 0.1, size=arrays.n_items), 6)
    return pd.DataFrame({
        "t_dat": pd.to_datetime(arrays.times // SECONDS_PER_DAY * SECONDS_PER_DAY, unit="s").strftime("%Y-%m-%d"),
        "customer_id": customer_ids[arrays.users],
        "article_id": item_id_strings(arrays.n_items)[arrays.items],
        "price": price[arrays.items],
        "sales_channel_id": rng.integers(1, 3, size=len(arrays.users)),
    })  # fmt: skip
