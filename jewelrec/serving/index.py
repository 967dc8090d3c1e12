"""Nearest-neighbour search over L2-normalised embeddings with FAISS (inner product = cosine).

Two FAISS indexes, built by size:

- flat (``IndexFlatIP``) up to ``exact_limit`` items: exact answers for ``similar``;
- IVF over 8-bit scalar-quantised codes above ``flat_limit`` items: sqrt(n) lists from spherical k-means (every
  list centre a unit vector), 1 byte per dimension, so a probe reads a quarter of the bytes a float32 scan
  would (scans are memory-bound: bench/README.md). Approximate answers are re-ranked with the exact float32
  vectors, so returned scores are exact cosines.

Queries: ``search`` is exact when the flat index exists, else IVF with ``nprobe`` lists (set for recall@10 >=
0.95, see bench/bench_recommender.py); ``search(coarse=True)`` probes ``COARSE_NPROBE`` lists and skips the
re-rank, for the recommender's candidate generation where speed beats recall.
"""

from __future__ import annotations

import math

import faiss
import numpy as np

FLAT_LIMIT = 2_048  # up to here a flat scan of every item is cheaper than probing lists
EXACT_LIMIT = 20_000  # `similar` stays exact up to here: a flat scan of 20k x 512 floats is ~1-2 ms on one core
COARSE_NPROBE = 2  # lists probed for candidates; neighbours of a liked piece mostly share its nearest lists
TRAIN_PER_LIST = 40  # training points per list: FAISS warns under 39, and more only slows start-up
RERANK = 4  # approximate hits fetched per wanted hit, then re-ranked with the exact vectors


class VectorIndex:
    """``search(queries (q, d), k) -> (scores (q, k), rows (q, k))``; rows are positions in ``vectors``, -1
    where an approximate search found fewer than k."""

    def __init__(self, vectors: np.ndarray, *, exact_limit: int = EXACT_LIMIT, flat_limit: int = FLAT_LIMIT,
                 nprobe: int | None = None, seed: int = 0):
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # kept by reference for the re-rank
        n, d = self.vectors.shape
        self.n_items, self.exact = n, n <= exact_limit
        self.flat = faiss.IndexFlatIP(d) if self.exact else None
        if self.flat is not None:
            self.flat.add(self.vectors)
        self.ivf, self.nlist, self.nprobe = None, 1, 1
        if n > flat_limit:
            # sqrt(n) lists (FAISS's guideline is 1-16x sqrt(n)); trained on a seeded sample to keep start-up
            # short. Spherical k-means: with inner-product assignment, centres of larger norm would swallow
            # points and leave lists unbalanced.
            self.nlist = max(2, int(math.sqrt(n)))
            self.ivf = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(d), d, self.nlist,
                                                     faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT,
                                                     False)  # codes of the vectors themselves, not residuals
            self.ivf.cp.spherical = True
            self.ivf.cp.seed = seed
            rng = np.random.default_rng(seed)
            self.ivf.train(self.vectors[rng.choice(n, size=min(n, TRAIN_PER_LIST * self.nlist), replace=False)])
            self.ivf.add(self.vectors)
            self.nprobe = min(self.nlist, nprobe or max(16, self.nlist // 64))
            self.ivf.nprobe = self.nprobe

    def search(self, queries: np.ndarray, k: int, *, coarse: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` by cosine; ``coarse``: a quick approximate pass (candidate generation), not re-ranked."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = min(k, self.n_items)
        # a handful of queries is faster on one thread than after waking OpenMP's team on a busy machine
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1 if len(queries) < 64 else threads)
        try:
            if self.ivf is not None and (coarse or self.flat is None):
                nprobe = min(self.nlist, COARSE_NPROBE) if coarse else self.nprobe
                fetch = k if coarse else min(self.n_items, RERANK * k)
                scores, rows = self.ivf.search(queries, fetch, params=faiss.SearchParametersIVF(nprobe=nprobe))
                return (scores, rows) if coarse else self._rerank(queries, rows, k)
            return self.flat.search(queries, k)  # (q, k)
        finally:
            faiss.omp_set_num_threads(threads)

    def _rerank(self, queries: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact cosines for approximate hits ``rows`` (q, f), best ``k`` kept. (q, k) each."""
        exact = np.einsum("qd,qfd->qf", queries, self.vectors[np.maximum(rows, 0)])  # (q, f)
        exact[rows < 0] = -np.inf
        order = np.argsort(-exact, axis=1, kind="stable")[:, :k]  # (q, k)
        scores, rows = np.take_along_axis(exact, order, 1), np.take_along_axis(rows, order, 1)
        return np.where(rows < 0, -np.inf, scores).astype(np.float32), rows
