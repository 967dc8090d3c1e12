"""Find the styles in a catalog: cluster the embeddings, choose k, and lay the items out in 2-D.

``fit_clusters(X, method, n_clusters, seed)`` is the one entry point (★ contract). Methods live in a
registry: ``kmeans`` (on the embeddings), ``umap-kmeans`` (UMAP to 10-D, then KMeans; seed 000's setting)
and ``depict`` (jewelrec.clustering.depict). ``n_clusters="auto"`` sweeps k and keeps the best silhouette, recording
the elbow (inertia) curve beside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score
from sklearn.metrics.cluster import contingency_matrix as sklearn_contingency
from sklearn.metrics.pairwise import euclidean_distances

from jewelrec.config_keys import is_whole
from jewelrec.defaults import MAX_SEED

DEFAULT_K_RANGE = (3, 16)  # fewer than 3 styles is no map; past ~16 a shopper can no longer tell them apart
SILHOUETTE_SAMPLE = 5000  # silhouette is O(n^2); a seeded sample of this size estimates it well
UMAP_PARAMS = {"n_components": 10, "n_neighbors": 15, "min_dist": 0.1}  # seed 000's setting
# max |x| outside this window is brought inside by a power of two (exact in floating point): far above it the
# float32 squared distances overflow, far below it soft_assign's width floor (1e-12) blurs every assignment
SAFE_MAGNITUDE = (2.0 ** -10, 2.0 ** 40)


@dataclass
class Clustering:
    """What a clustering learned. Shapes: labels_ (n,), probs_ (n, k), centroids_ (k, d_space),
    coords2d_ (n, 2), space_ (n, d_space): the vectors the method clustered in."""

    method: str
    labels_: np.ndarray
    probs_: np.ndarray
    centroids_: np.ndarray
    space_: np.ndarray
    coords2d_: np.ndarray | None = None
    k_selection_: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    fit_seconds_: float = 0.0
    model_: Any = None  # the fitted Depict for method="depict"

    @property
    def n_clusters(self) -> int:
        return int(self.centroids_.shape[0])


def magnitude_scale(X: np.ndarray) -> float:
    """1.0 when max |X| lies in ``SAFE_MAGNITUDE`` (ordinary data: nothing changes), else the power of two that
    brings it to [1, 2): dividing by it is exact, and clustering does not depend on the units."""
    peak = float(np.max(np.abs(X))) if X.size else 0.0
    if peak == 0.0 or SAFE_MAGNITUDE[0] <= peak <= SAFE_MAGNITUDE[1]:
        return 1.0
    return float(2.0 ** np.floor(np.log2(peak)))


def soft_assign(space: np.ndarray, centroids: np.ndarray, labels: np.ndarray | None = None, *,
                sigma2: float | None = None) -> np.ndarray:
    """Gaussian soft assignments whose width is the mean within-cluster squared distance of ``labels`` (or the
    given ``sigma2``: a fit's own width, for rows assigned after it). (n, k); rows sum to 1 at any finite scale."""
    scale = magnitude_scale(centroids)
    if scale != 1.0:  # distances in units where float32 squares neither overflow nor vanish
        space, centroids = space / np.float32(scale), centroids / np.float32(scale)
        sigma2 = None if sigma2 is None else sigma2 / scale ** 2
    d2 = euclidean_distances(space, centroids, squared=True)  # (n, k), without an (n, k, d) temporary
    if sigma2 is None:
        sigma2 = max(float(d2[np.arange(len(labels)), labels].mean()), 1e-12)
    logits = -d2 / (2 * sigma2)
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)


def silhouette(space: np.ndarray, labels: np.ndarray, seed: int = 0) -> float:
    if len(np.unique(labels)) < 2:
        return float("nan")
    sample = min(len(space), SILHOUETTE_SAMPLE)
    scale = magnitude_scale(space)  # silhouette is a ratio of distances: the units do not matter, overflow does
    space = space if scale == 1.0 else space / np.float32(scale)
    return float(silhouette_score(space, labels, sample_size=sample, random_state=seed))


def _kmeans(space: np.ndarray, k: int, seed: int) -> KMeans:
    return KMeans(n_clusters=k, n_init=4, random_state=seed).fit(space)


def elbow_k(ks: list[int], inertias: list[float]) -> int:
    """The knee of the inertia curve: the k farthest below the chord from the first to the last point."""
    x = np.asarray(ks, float)
    y = np.asarray(inertias, float)
    if len(x) < 3:
        return int(x[0])
    xn = (x - x[0]) / (x[-1] - x[0])
    yn = (y - y[-1]) / max(y[0] - y[-1], 1e-12)
    return int(x[np.argmax((1 - xn) - yn)])


def _k_sweep(n_items: int, k_range: tuple[int, int]) -> range:
    """The ks ``"auto"`` tries on n_items rows: ``k_range`` (inclusive) within 2..n_items-1."""
    k_min, k_max = max(k_range[0], 2), min(k_range[1], n_items - 1)
    if k_max < k_min:
        fix = (f"pass --clusters {n_items - 1} (or fewer), or lower --k-min to {n_items - 1}" if n_items >= 3
               else "a catalog needs at least 3 items to cluster; add items")
        raise ValueError(f"{n_items} items are too few to choose among {k_range[0]}..{k_range[1]} clusters "
                         f"(each style needs items of its own); {fix}")
    return range(k_min, k_max + 1)


def check_k_range(k_range: Any) -> tuple[int, int]:
    """``k_range`` as (k_min, k_max), whole numbers with 2 ≤ k_min ≤ k_max, or a ``ValueError`` naming the fix."""
    if (not isinstance(k_range, (tuple, list)) or len(k_range) != 2 or not all(is_whole(k) for k in k_range)
            or not 2 <= k_range[0] <= k_range[1]):
        raise ValueError(f"k_range must be (k_min, k_max), whole numbers with 2 <= k_min <= k_max, got {k_range!r}; "
                         f"pass e.g. k_range={DEFAULT_K_RANGE}")
    return int(k_range[0]), int(k_range[1])


def check_seed(seed: Any) -> int:
    """``seed`` as an int, or a ``ValueError`` naming the fix. None (a random fit) is refused: a fit is
    reproducible by design and its seed is saved with it."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an integer in 0..{MAX_SEED}, got {seed!r}; pass seed=0 (or any other "
                         "integer: fits are reproducible and the seed is saved with them)")
    return int(seed)


def check_n_clusters(n_clusters: Any, n_items: int, k_range: tuple[int, int] = DEFAULT_K_RANGE) -> int | str:
    """``n_clusters`` as an int in 2..n_items-1 or ``"auto"`` (with a k_range that fits n_items), else a
    ``ValueError`` naming the fix; checked before any work."""
    check_k_range(k_range)
    if isinstance(n_clusters, str) and n_clusters == "auto":
        _k_sweep(n_items, k_range)
        return "auto"
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer)):
        raise ValueError(f"n_clusters must be a whole number or 'auto', got {n_clusters!r}; pass e.g. "
                         "n_clusters=8 or n_clusters='auto'")
    k = int(n_clusters)
    if not 2 <= k < n_items:
        raise ValueError(f"n_clusters={k} needs 2 <= k < n_items ({n_items}); pass a smaller --clusters "
                         "or 'auto'")
    return k


def distinct_rows(X: np.ndarray) -> int:
    """How many different rows the (n, d) array ``X`` holds."""
    return len(np.unique(np.ascontiguousarray(X).view(np.dtype((np.void, X.dtype.itemsize * X.shape[1]))).ravel()))


def check_distinct(X: np.ndarray, n_clusters: int | None, *, flag: str = "--clusters ") -> int:
    """The number of distinct rows of ``X``; ``ValueError`` when all are identical or when fewer than
    ``n_clusters`` (``flag``: how the message names the setting)."""
    distinct = distinct_rows(X)
    if distinct < 2:
        raise ValueError(f"all {len(X)} embeddings are identical, so nothing tells the items apart; check the "
                         "encoder (every picture the same? a failed download?) before clustering")
    if n_clusters is not None and n_clusters > distinct:
        raise ValueError(f"n_clusters={n_clusters} but the {len(X)} embeddings hold only {distinct} distinct "
                         f"rows (repeated items): pass {flag}{distinct} or fewer")
    return distinct


def _distinct_k(X: np.ndarray, n_clusters: int | str, k_range: tuple[int, int]) -> tuple[int, int]:
    """Refuse more styles than ``X`` has distinct rows — no method can give identical items different styles
    honestly (kmeans left styles empty, UMAP-based methods split identical items at random) — and cap the
    ``"auto"`` sweep at that count. Returns the k_range to sweep."""
    distinct = check_distinct(X, None if n_clusters == "auto" else int(n_clusters))
    if n_clusters == "auto" and distinct < k_range[0]:
        raise ValueError(f"the {len(X)} embeddings hold only {distinct} distinct rows, fewer than the {k_range[0]} "
                         f"styles --clusters auto tries first: pass --clusters {distinct} or fewer, or lower --k-min")
    return (k_range[0], min(k_range[1], distinct)) if n_clusters == "auto" else k_range


def choose_k(space: np.ndarray, k_range: tuple[int, int] = DEFAULT_K_RANGE, seed: int = 0) -> dict[str, Any]:
    """Sweep k over ``k_range`` (inclusive) in ``space``; pick the best silhouette, record the elbow."""
    ks, scores, inertias = [], [], []
    for k in _k_sweep(len(space), k_range):
        model = _kmeans(space, k, seed)
        ks.append(k)
        scores.append(silhouette(space, model.labels_, seed))
        inertias.append(float(model.inertia_))
    if not np.isfinite(scores).any():  # KMeans found one cluster at every k: nothing tells the items apart
        raise ValueError(f"every k in {ks[0]}..{ks[-1]} leaves the {len(space)} items in one cluster: their "
                         "embeddings are (nearly) all the same — check that the pictures differ, or pass "
                         "--clusters N to split them anyway")
    best = ks[int(np.nanargmax(scores))]
    return {"ks": ks, "silhouette": scores, "inertia": inertias, "chosen": best,
            "elbow": elbow_k(ks, inertias),
            "reason": f"k={best} has the highest silhouette ({np.nanmax(scores):.3f}) over k={ks[0]}..{ks[-1]}"}


def _resolve_k(space: np.ndarray, n_clusters: int | str, k_range: tuple[int, int],
               seed: int) -> tuple[int, dict[str, Any]]:
    k = check_n_clusters(n_clusters, len(space), k_range)
    if k == "auto":
        selection = choose_k(space, k_range, seed)
        return selection["chosen"], selection
    return k, {"chosen": k, "reason": f"k={k} was given"}


def _fit_kmeans(X: np.ndarray, n_clusters: int | str, seed: int, k_range: tuple[int, int]) -> Clustering:
    scale = magnitude_scale(X)  # 1.0 for ordinary data; KMeans is fitted where float32 squares are safe
    fit_X = X if scale == 1.0 else X / np.float32(scale)  # (n, d)
    k, selection = _resolve_k(fit_X, n_clusters, k_range, seed)
    model = _kmeans(fit_X, k, seed)
    centroids = (model.cluster_centers_ * scale).astype(np.float32)  # (k, d) in X's own units
    return Clustering("kmeans", model.labels_.astype(np.int64), soft_assign(fit_X, model.cluster_centers_,
                      model.labels_), centroids, X, k_selection_=selection)


def umap_init(n_items: int, n_components: int) -> str:
    """UMAP's spectral start needs n_components + 1 eigenvectors of an n_items-row graph (fewer than n_items):
    "spectral" whenever it can run, "random" for catalogs too small for it."""
    return "spectral" if n_components + 1 < n_items else "random"


def umap_embed(X: np.ndarray, *, n_components: int, seed: int, n_neighbors: int = 15,
               min_dist: float = 0.1) -> np.ndarray:
    """UMAP (cosine) of X (n, d), n >= 3, at any finite scale → (n, n_components) float32."""
    import umap  # imported lazily: it compiles numba kernels on first import

    reducer = umap.UMAP(n_components=n_components, n_neighbors=min(n_neighbors, len(X) - 1),
                        min_dist=min_dist, random_state=seed, metric="cosine", init=umap_init(len(X), n_components))
    scale = magnitude_scale(X)  # cosine ignores the units; float32 norms of 1e30-sized rows do not
    return reducer.fit_transform(X if scale == 1.0 else X / np.float32(scale)).astype(np.float32)


def _fit_umap_kmeans(X: np.ndarray, n_clusters: int | str, seed: int, k_range: tuple[int, int]) -> Clustering:
    space = umap_embed(X, seed=seed, **UMAP_PARAMS)  # (n, 10)
    k, selection = _resolve_k(space, n_clusters, k_range, seed)
    model = _kmeans(space, k, seed)
    return Clustering("umap-kmeans", model.labels_.astype(np.int64),
                      soft_assign(space, model.cluster_centers_, model.labels_),
                      model.cluster_centers_.astype(np.float32), space, k_selection_=selection,
                      params=dict(UMAP_PARAMS))


def _fit_depict(X: np.ndarray, n_clusters: int | str, seed: int, k_range: tuple[int, int]) -> Clustering:
    from jewelrec.clustering.depict import Depict, DepictConfig
    from jewelrec.clustering.depict_train import umap_guide

    guide = umap_guide(X, DepictConfig(input_dim=X.shape[1], n_clusters=2), seed)  # (n, 10) the space DEPICT learns
    k, selection = _resolve_k(guide, n_clusters, k_range, seed)  # k chosen in that space, as for umap-kmeans
    model = Depict(n_clusters=k, seed=seed).fit(X, guide=guide)
    return Clustering("depict", model.labels_.astype(np.int64), model.probs_.astype(np.float32),
                      model.centroids_.astype(np.float32), model.latents_.astype(np.float32),
                      k_selection_=selection, model_=model)


METHODS: dict[str, Callable[[np.ndarray, int | str, int, tuple[int, int]], Clustering]] = {
    "kmeans": _fit_kmeans,
    "umap-kmeans": _fit_umap_kmeans,
    "depict": _fit_depict,
}


def fit_clusters(X: np.ndarray, method: str = "kmeans", n_clusters: int | str = "auto", seed: int = 0, *,
                 k_range: tuple[int, int] = DEFAULT_K_RANGE, coords2d: bool = True) -> Clustering:
    """Cluster ``X`` (n, d), n >= 3, any finite scale, with ``method``.

    ``n_clusters``: a whole number in 2..n-1 or ``"auto"`` (a silhouette sweep over ``k_range``); ``seed``: an
    integer in 0..2**32-1 (None is refused: fits are reproducible). Both are checked before any work.
    Returns a :class:`Clustering` with ``labels_`` (n,), ``probs_`` (n, k) and, when ``coords2d``, a 2-D
    UMAP layout ``coords2d_`` (n, 2) of the embeddings for the style map.
    """
    if method not in METHODS:
        raise ValueError(f"unknown clustering method {method!r}; choose one of {sorted(METHODS)}")
    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.ndim != 2 or len(X) < 3:
        raise ValueError(f"need an (n, d) array with n >= 3 to cluster, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("embeddings contain NaN or inf (or values beyond float32); re-run the encoder")
    seed = check_seed(seed)
    check_n_clusters(n_clusters, len(X), k_range)
    k_range = _distinct_k(X, n_clusters, k_range)
    start = time.perf_counter()
    result = METHODS[method](X, n_clusters, seed, k_range)
    result.fit_seconds_ = time.perf_counter() - start
    if coords2d:
        result.coords2d_ = umap_embed(X, n_components=2, seed=seed)
    return result


def contingency(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Counts of each (predicted cluster, true class) pair, ids in sorted order. (n_pred, n_true)"""
    return sklearn_contingency(true, pred, sparse=False).T


def match_clusters(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The one-to-one matching of predicted clusters to true classes with the most overlap (Hungarian);
    returns (rows, cols): indices into ``np.unique(pred)`` and ``np.unique(true)``."""
    return linear_sum_assignment(-contingency(pred, true))


def hungarian_accuracy(true: np.ndarray, pred: np.ndarray) -> float:
    """Accuracy after the best one-to-one matching of predicted clusters to true classes."""
    table = contingency(pred, true)
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / len(true))


def labelled_mask(values: Any) -> np.ndarray:
    """(n,) bool: the entries of ``values`` that are labels — not None / NaN, not empty or blank text (a
    spreadsheet's gaps)."""
    series = pd.Series(list(values), dtype=object)
    return series.notna().to_numpy() & (series.astype(str).str.strip() != "").to_numpy()


def cluster_metrics(result: Clustering, embeddings: np.ndarray, true_labels: np.ndarray | None = None,
                    seed: int = 0) -> dict[str, float]:
    """Silhouette in the method's own space and in the embedding space; NMI / ARI / matched accuracy
    against ``true_labels`` when given, on the items that have a label (``labelled_items`` of them; a column with
    gaps made scikit-learn raise "Input contains NaN" at the end of a fit)."""
    metrics = {
        "n_clusters": float(result.n_clusters),
        "silhouette": silhouette(result.space_, result.labels_, seed),
        "silhouette_embedding": silhouette(embeddings, result.labels_, seed),
        "fit_seconds": result.fit_seconds_,
    }
    if true_labels is not None:
        mask = labelled_mask(true_labels)
        metrics["labelled_items"] = float(mask.sum())
        if mask.any():
            truth = np.asarray([str(v) for v in np.asarray(true_labels, dtype=object)[mask]])
            predicted = result.labels_[mask]
            metrics["nmi"] = float(normalized_mutual_info_score(truth, predicted))
            metrics["ari"] = float(adjusted_rand_score(truth, predicted))
            metrics["accuracy"] = hungarian_accuracy(truth, predicted)
    return metrics
