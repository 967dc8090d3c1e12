"""Nearest-neighbour search over L2-normalised embeddings with FAISS (inner product = cosine).

Exact (``IndexFlatIP``) up to ``exact_limit`` items; above it an IVF index whose probe count is set for
recall@10 >= 0.95 against exact search (see bench/bench_recommender.py).
"""

from __future__ import annotations

import math

import faiss
import numpy as np

EXACT_LIMIT = 50_000  # a flat scan of 50k x 512 floats is ~2 ms per query on 2 cores; past it, go approximate


class VectorIndex:
    """``search(queries (q, d), k) -> (scores (q, k), rows (q, k))``; rows are positions in ``vectors``."""

    def __init__(self, vectors: np.ndarray, *, exact_limit: int = EXACT_LIMIT, nprobe: int | None = None,
                 seed: int = 0):
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, d = vectors.shape
        self.n_items, self.exact = n, n <= exact_limit
        if self.exact:
            self.index = faiss.IndexFlatIP(d)
        else:
            # sqrt(n) lists (FAISS's guideline is 1-16x sqrt(n)); train on a seeded sample to keep start-up short
            n_lists = int(math.sqrt(n))
            quantizer = faiss.IndexFlatIP(d)
            self.index = faiss.IndexIVFFlat(quantizer, d, n_lists, faiss.METRIC_INNER_PRODUCT)
            rng = np.random.default_rng(seed)
            train = vectors[rng.choice(n, size=min(n, 40 * n_lists), replace=False)]
            self.index.cp.seed = seed
            self.index.train(train)
            self.index.nprobe = nprobe or max(16, n_lists // 16)
        self.index.add(vectors)

    def search(self, queries: np.ndarray, k: int, *, coarse: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``coarse`` probes an eighth of the lists: for candidate generation, where speed beats recall."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = min(k, self.n_items)
        params = None
        if coarse and not self.exact:
            params = faiss.SearchParametersIVF(nprobe=max(2, self.index.nprobe // 8))
        # a handful of queries is faster on one thread than after waking OpenMP's team on a busy machine
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1 if len(queries) < 64 else threads)
        try:
            scores, rows = self.index.search(queries, k, params=params)  # (q, k); -1 where IVF found too few
        finally:
            faiss.omp_set_num_threads(threads)
        return scores, rows
