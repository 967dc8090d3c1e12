"""Styles for rows a clustering was not fitted on: assign new embeddings to fitted styles, place them on the map.

Two callers:

- :func:`fit_clusters_at_scale` fits :func:`~jewelrec.clustering.fit_clusters` on a seeded sample of at most
  ``sample_size`` rows and assigns every other row in batches, so a catalog of millions is styled in the time and
  memory of the sample (the fit at or under ``sample_size`` rows is exactly ``fit_clusters``);
- ``training.update`` styles new catalog items with a bundle's stored clustering (:meth:`Assigner.from_bundle`).

How a row gets its style, per method (nothing here refits anything):

- ``kmeans``: its nearest centroid in the embedding space (what ``KMeans.predict`` does);
- ``depict``: the fitted network's own encoder and clustering layer (``Depict.predict_proba``);
- ``umap-kmeans``: UMAP's fitted model cannot be stored without pickle, so the row's position in the 10-D UMAP
  space is the similarity-weighted mean of its ``NEIGHBOURS`` nearest fitted rows' positions (a kNN regression onto
  the embedding, the out-of-sample rule UMAP's own ``transform`` approximates with its graph), then its nearest
  centroid there. A bundle that does not store that space (written before it did) averages the neighbours' style
  probabilities instead.

Every method places the row on the 2-D map at the weighted mean of the same neighbours' map positions, so a new
piece lands among the pieces it looks like. Probabilities use the fit's own width (:func:`soft_width`), so a
batch's spread does not change how sure an assignment looks. ``Assignment.nearest`` (the cosine to the closest
fitted row) is what ``training.update`` reads drift from.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from jewelrec.clustering.methods import (
    DEFAULT_K_RANGE,
    Clustering,
    check_seed,
    fit_clusters,
    magnitude_scale,
    soft_assign,
)
from jewelrec.serving.bundle_content import unit_copy

log = logging.getLogger(__name__)

FIT_SAMPLE = 20_000  # rows the clustering and the 2-D layout are fitted on; the rest are assigned (see bench/README)
BATCH = 65_536  # rows assigned at a time: bounds the (batch, k) and neighbour arrays, not the result
NEIGHBOURS = 10  # fitted rows a new row's map position (and UMAP position) is interpolated from


@dataclass
class Assignment:
    """Styles for m new rows: ``labels`` (m,), ``probs`` (m, k), ``space`` (m, d_space) or None, ``coords2d``
    (m, 2), ``nearest`` (m,): cosine similarity to the closest fitted row."""

    labels: np.ndarray
    probs: np.ndarray
    space: np.ndarray | None
    coords2d: np.ndarray
    nearest: np.ndarray


def soft_width(space: np.ndarray, centroids: np.ndarray, labels: np.ndarray) -> float:
    """The Gaussian width :func:`soft_assign` uses: the mean squared distance of fitted rows to their centroid
    (squared in units where float32 neither overflows nor vanishes, returned in the rows' own)."""
    scale = magnitude_scale(centroids)
    d2 = (((space - centroids[labels]) / np.float32(scale)) ** 2).sum(axis=1)  # (n,)
    return max(float(d2.mean()), 1e-12) * scale ** 2


class Assigner:
    """Assign new embeddings to a fitted clustering; see the module docstring for the per-method rule.

    ``reference`` (n, d): the embeddings the clustering was fitted on, with their ``coords2d`` (n, 2) and, when the
    method clusters in its own space, that space (n, d_space) or None. Any finite scale: the inner-product neighbour
    search runs on unit copies (at 1e-30 or 1e30 float32 inner products under- or overflow)."""

    def __init__(self, method: str, reference: np.ndarray, coords2d: np.ndarray, centroids: np.ndarray,
                 labels: np.ndarray, probs: np.ndarray, *, space: np.ndarray | None = None, model: Any = None,
                 seed: int = 0, coarse: bool = False):
        from jewelrec.serving.index import FLAT_LIMIT, VectorIndex

        self.method, self.model, self.coarse = method, model, coarse
        self.coords2d, self.centroids, self.probs = coords2d, centroids, probs
        if method == "kmeans":
            space = reference  # kmeans clusters the embeddings themselves
        elif method == "depict" and model is None:
            raise ValueError("assigning to a DEPICT clustering needs its fitted model (the bundle's depict/ folder)")
        if space is not None and space.shape[1] != centroids.shape[1]:
            raise ValueError(f"the clustering space is {space.shape[1]}-D but its centroids are "
                             f"{centroids.shape[1]}-D; the bundle's clusters.safetensors is inconsistent")
        self.space = space
        self.sigma2 = soft_width(space, centroids, labels) if space is not None and method != "depict" else None
        # exact up to FLAT_LIMIT fitted rows, the IVF above: a million rows against a 20k sample is ~1e13 flops
        # exact (tens of minutes on 2 cores), a tenth of that probed; neighbours only set map positions and UMAP
        # coordinates, where a near-exact neighbour does as well
        self.index = VectorIndex(unit_copy(reference), exact_limit=FLAT_LIMIT, seed=seed)

    @classmethod
    def from_clustering(cls, clustering: Clustering, reference: np.ndarray, *, seed: int = 0,
                        coarse: bool = False) -> Assigner:
        if clustering.coords2d_ is None:
            raise ValueError("the clustering has no 2-D layout to place new rows on; fit it with coords2d=True")
        return cls(clustering.method, reference, clustering.coords2d_, clustering.centroids_, clustering.labels_,
                   clustering.probs_, space=clustering.space_, model=clustering.model_, seed=seed, coarse=coarse)

    @classmethod
    def from_bundle(cls, bundle, *, rows: np.ndarray | None = None, seed: int = 0) -> Assigner:
        """The bundle's stored styles (``rows``: only these items as the reference, e.g. those an update keeps).
        A DEPICT bundle's network is loaded from its ``depict/`` folder."""
        method = (bundle.config.get("clustering") or {}).get("method", "kmeans")
        model = None
        if method == "depict":
            from jewelrec.clustering.depict import Depict

            if bundle.path is None or not (bundle.path / "depict").is_dir():
                raise ValueError("this DEPICT bundle has no depict/ folder to assign new items with; refit it with "
                                 "training.fit --method depict")
            model = Depict.from_pretrained(bundle.path / "depict", input_dim=bundle.embeddings.shape[1])
        if rows is not None and not len(rows):  # faiss asserted on an empty reference
            raise ValueError("rows selects no items of the bundle to assign against; pass rows=None (all of them) or "
                             "the rows an update keeps")
        take = slice(None) if rows is None else rows
        space = bundle.latents[take] if bundle.latents is not None else None
        if method == "umap-kmeans" and space is not None and space.shape[1] != bundle.centroids.shape[1]:
            space = None
        return cls(method, bundle.embeddings[take], bundle.coords2d[take], bundle.centroids, bundle.labels[take],
                   bundle.probs[take], space=space, model=model, seed=seed)

    def assign(self, X: np.ndarray) -> Assignment:
        """Styles, map positions and nearest-row similarity for ``X`` (m, d) (any scale; ``nearest`` is a cosine)."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        width = self.index.vectors.shape[1]
        if X.ndim != 2 or X.shape[1] != width:  # faiss asserted on a wrong width; sklearn printed a 1-D array
            raise ValueError(f"assign takes an (m, {width}) array of embeddings from the encoder the clustering was fitted "
                             f"with, got shape {X.shape}")
        bad = [int(start + i) for start in range(0, len(X), BATCH)  # in batches: no (m, d) mask at 1M rows
               for i in np.flatnonzero(~np.isfinite(X[start:start + BATCH]).all(axis=1))]
        if bad:
            raise ValueError(f"{len(bad)} of the {len(X)} rows to assign hold NaN or inf (e.g. rows {bad[:5]}); re-run "
                             "the encoder on those items or leave them out")
        if not len(X):
            has_space = self.method == "depict" or (self.method != "kmeans" and self.space is not None)
            return Assignment(np.zeros(0, np.int64), np.zeros((0, len(self.centroids)), np.float32),
                              np.zeros((0, self.centroids.shape[1]), np.float32) if has_space else None,
                              np.zeros((0, 2), np.float32), np.zeros(0, np.float32))
        parts = [self._assign(X[start:start + BATCH]) for start in range(0, len(X), BATCH)]
        joined = {f.name: [getattr(part, f.name) for part in parts] for f in fields(Assignment)}
        return Assignment(**{name: None if values[0] is None else np.concatenate(values)
                             for name, values in joined.items()})

    def _assign(self, X: np.ndarray) -> Assignment:
        k = min(NEIGHBOURS, self.index.n_items)
        # (m, k) each; rows -1 where an IVF probe found fewer. coarse: 2 lists probed, 8-bit scores, no re-rank
        scores, rows = self.index.search(unit_copy(X), k, coarse=self.coarse)
        valid = rows >= 0
        weights = np.where(valid, np.maximum(scores, 0.0) + 1e-6, 0.0)  # (m, k) closer rows count more
        weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
        safe = np.maximum(rows, 0)

        def neighbour_mean(values: np.ndarray) -> np.ndarray:  # (m, ·)
            return np.einsum("mk,mkc->mc", weights, values[safe]).astype(np.float32)

        space = None
        if self.method == "depict":
            space, probs = self.model.transform(X), self.model.predict_proba(X)
        else:
            if self.method == "kmeans":
                space = X
            elif self.space is not None:
                space = neighbour_mean(self.space)
            if space is not None:
                probs = soft_assign(space, self.centroids, sigma2=self.sigma2)
            else:  # a bundle without its UMAP space: the neighbours' own style probabilities
                probs = neighbour_mean(self.probs)
                probs /= np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)
        nearest = np.where(valid[:, 0], scores[:, 0], -1.0).astype(np.float32)
        return Assignment(probs.argmax(axis=1).astype(np.int64), probs.astype(np.float32),
                          None if space is None or self.method == "kmeans" else space,
                          neighbour_mean(self.coords2d), nearest)


def fit_clusters_at_scale(X: np.ndarray, method: str = "kmeans", n_clusters: int | str = "auto", seed: int = 0, *,
                          k_range: tuple[int, int] = DEFAULT_K_RANGE,
                          sample_size: int = FIT_SAMPLE) -> Clustering:
    """:func:`fit_clusters` for any number of rows: exactly it up to ``sample_size`` rows; above, fitted (k chosen,
    2-D layout laid out) on a seeded sample of ``sample_size`` rows and every other row assigned in batches by
    :class:`Assigner`. ``params["fit_sample"]`` records how many rows the fit saw."""
    n = len(X)
    if isinstance(sample_size, bool) or not isinstance(sample_size, (int, np.integer)) or sample_size < 3:
        raise ValueError(f"sample_size={sample_size!r} must be a whole number of rows to fit styles on; use at least "
                         "a few thousand")
    if n <= sample_size:
        return fit_clusters(X, method, n_clusters, seed, k_range=k_range)
    seed = check_seed(seed)  # before the sample is drawn with it (numpy's own error for -1 or 2.5 came first)
    X = np.ascontiguousarray(X, dtype=np.float32)
    # every row, not only the sample the fit checks; in blocks: a (1M, 512) mask at once would be 512 MB
    bad = np.flatnonzero(np.concatenate([~np.isfinite(X[i:i + 65_536]).all(axis=1) for i in range(0, n, 65_536)])
                         ) if X.ndim == 2 else np.zeros(0, int)
    if len(bad):
        raise ValueError(f"embeddings contain NaN or inf (or values beyond float32) in {len(bad)} rows (e.g. "
                         f"{bad[:5].tolist()}); re-run the encoder")
    start = time.perf_counter()
    fitted = np.sort(np.random.default_rng(seed).choice(n, size=sample_size, replace=False))
    sample = fit_clusters(X[fitted], method, n_clusters, seed, k_range=k_range)
    rest = np.setdiff1d(np.arange(n), fitted, assume_unique=True)
    log.info("styles fitted on %d of %d rows; assigning the other %d", sample_size, n, len(rest))
    # coarse neighbours: ~10x faster than re-ranked ones, and a map position or a UMAP coordinate averaged over 10
    # neighbours does not need the exact 10 (NMI against planted groups: bench/README "At scale")
    assigned = Assigner.from_clustering(sample, X[fitted], seed=seed, coarse=True).assign(X[rest])

    k = sample.n_clusters
    labels, probs = np.empty(n, np.int64), np.empty((n, k), np.float32)
    coords = np.empty((n, 2), np.float32)
    labels[fitted], labels[rest] = sample.labels_, assigned.labels
    probs[fitted], probs[rest] = sample.probs_, assigned.probs
    coords[fitted], coords[rest] = sample.coords2d_, assigned.coords2d
    if method == "kmeans":
        space = X
    else:
        space = np.empty((n, sample.space_.shape[1]), np.float32)
        space[fitted], space[rest] = sample.space_, assigned.space
    return Clustering(sample.method, labels, probs, sample.centroids_, space, coords,
                      k_selection_=sample.k_selection_, params={**sample.params, "fit_sample": sample_size},
                      fit_seconds_=time.perf_counter() - start, model_=sample.model_)
