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

Prebuilt: training the IVF takes ~20 s at 1M items on one core, so ``training.fit`` trains it once and the bundle
stores it (``index.faiss``, FAISS's own format: :meth:`VectorIndex.write`); :meth:`VectorIndex.from_bytes` wraps
the stored one around the same vectors instead of training. Only the IVF is stored: the flat index is a copy of
the embeddings, rebuilt in milliseconds, and storing it would double the bundle.
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
                 nprobe: int | None = None, seed: int = 0, ivf: faiss.IndexIVFScalarQuantizer | None = None):
        """``ivf``: an IVF already trained and filled with ``vectors`` (:meth:`from_bytes`), used instead of
        training one whatever ``flat_limit`` says."""
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # kept by reference for the re-rank
        n, d = self.vectors.shape
        self.n_items, self.exact, self.seed = n, n <= exact_limit, seed
        self.flat = faiss.IndexFlatIP(d) if self.exact else None
        if self.flat is not None:
            self.flat.add(self.vectors)
        self.ivf, self.nlist, self.nprobe = None, 1, 1
        self.origin = "built"  # or "stored": a bundle's index.faiss (set by stored_index.load_search_index)
        if ivf is not None:
            self.ivf, self.nlist = ivf, int(ivf.nlist)
            self.nprobe = min(self.nlist, nprobe or max(16, self.nlist // 64))
            self.ivf.nprobe = self.nprobe
        elif n > flat_limit:
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

    # -- storage -------------------------------------------------------------------------------------------
    def describe(self) -> dict:
        """What a bundle records beside the stored IVF: enough to check a file against before trusting it."""
        if self.ivf is None:
            raise ValueError(f"this index has no IVF to describe ({self.n_items} items are searched flat)")
        return {"type": "IVF-SQ8", "metric": "inner_product", "n": self.n_items, "d": int(self.vectors.shape[1]),
                "nlist": self.nlist, "nprobe": self.nprobe, "seed": self.seed, "faiss_version": faiss.__version__}

    def write(self, path) -> None:
        """The IVF in FAISS's own serialisation (codes, ids and list centres; no Python objects)."""
        if self.ivf is None:
            raise ValueError(f"this index has no IVF to write ({self.n_items} items are searched flat)")
        faiss.write_index(self.ivf, str(path))

    @classmethod
    def from_bytes(cls, data: np.ndarray, vectors: np.ndarray, *, nprobe: int | None = None,
                   exact_limit: int = EXACT_LIMIT) -> VectorIndex:
        """An index around a stored IVF (``data``: the bytes :meth:`write` wrote, (size,) uint8, already
        checked against the bundle's manifest) over ``vectors`` (n, d), instead of training one.

        ``ValueError`` saying what is wrong when the bytes are not an 8-bit IVF inner-product index holding each
        of the n rows exactly once; :meth:`holds` then checks it was built from these very vectors."""
        n, d = vectors.shape
        try:
            ivf = faiss.deserialize_index(np.ascontiguousarray(data, dtype=np.uint8))
        except (RuntimeError, MemoryError) as err:
            raise ValueError(f"not a readable FAISS index ({str(err).splitlines()[-1][:200]})") from None
        if not isinstance(ivf, faiss.IndexIVFScalarQuantizer):
            raise ValueError(f"a FAISS {type(ivf).__name__}, not the IndexIVFScalarQuantizer jewelrec writes")
        quantizer = faiss.downcast_index(ivf.quantizer)
        problems = [what for what, bad in (
            (f"metric {ivf.metric_type} is not inner product", ivf.metric_type != faiss.METRIC_INNER_PRODUCT),
            (f"codes are type {ivf.sq.qtype}, not 8-bit", ivf.sq.qtype != faiss.ScalarQuantizer.QT_8bit),
            ("codes are residuals", ivf.by_residual),
            (f"{ivf.d} dimensions, the embeddings have {d}", ivf.d != d),
            (f"{ivf.ntotal} vectors, the embeddings have {n} rows", ivf.ntotal != n),
            ("list centres are missing or not inner-product", not isinstance(quantizer, faiss.IndexFlatIP)
             or quantizer.ntotal != ivf.nlist or quantizer.d != d),
        ) if bad]
        if problems:
            raise ValueError("; ".join(problems))
        # every row exactly once: the re-rank indexes the float32 vectors by these ids
        lists = ivf.invlists
        ids = np.concatenate([np.empty(0, np.int64), *(
            faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)) for i in range(ivf.nlist) if lists.list_size(i))])
        if len(ids) != n or (n and (ids.min() < 0 or ids.max() >= n or np.bincount(ids, minlength=n).max() > 1)):
            raise ValueError(f"its lists do not hold each of the {n} rows exactly once")
        return cls(vectors, exact_limit=exact_limit, nprobe=nprobe, ivf=ivf)

    def holds(self, vectors: np.ndarray, *, sample: int = 64, min_cosine: float = 0.99) -> bool:
        """Whether the IVF's codes decode to ``vectors`` (n, d) on ``sample`` evenly spaced rows: a stored index
        built from other embeddings fails. 8-bit codes of a unit vector are off by at most range/510 <= 1/255 per
        dimension, so they decode within cosine ~0.996 of it at d = 512 (0.9976 worst seen on synthetic data)."""
        if self.ivf is None or self.ivf.ntotal != len(vectors):
            return False
        rows = np.unique(np.linspace(0, len(vectors) - 1, min(sample, len(vectors))).astype(np.int64))
        self.ivf.make_direct_map()
        try:
            decoded = self.ivf.reconstruct_batch(rows)  # (s, d)
        finally:
            self.ivf.make_direct_map(False)  # the map costs 8 bytes per item and only this check needs it
        wanted = vectors[rows]
        cosine = np.einsum("sd,sd->s", decoded, wanted) / np.maximum(
            np.linalg.norm(decoded, axis=1) * np.linalg.norm(wanted, axis=1), 1e-12)  # (s,)
        return bool(cosine.min() >= min_cosine)

    def search(self, queries: np.ndarray, k: int, *, coarse: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` by cosine; ``coarse``: a quick approximate pass (candidate generation), not re-ranked."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = min(k, self.n_items)
        # a handful of queries is faster on one thread than after waking OpenMP's team on a busy machine
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1 if len(queries) < 64 else threads)
        try:
            if self.ivf is not None and coarse:
                nprobe = min(self.nlist, COARSE_NPROBE)
                return self.ivf.search(queries, k, params=faiss.SearchParametersIVF(nprobe=nprobe))
            if self.ivf is not None and self.flat is None:
                fetch = min(self.n_items, RERANK * k)
                # lists hold n / nlist items on average: probe enough of them to hold what is fetched, twice over
                # (16 lists hold ~16·√n, so a large k came back short, padded with -1, without a word)
                nprobe = min(self.nlist, max(self.nprobe, math.ceil(2 * fetch * self.nlist / self.n_items)))
                scores, rows = self.ivf.search(queries, fetch, params=faiss.SearchParametersIVF(nprobe=nprobe))
                if nprobe < self.nlist and (rows[:, :k] < 0).any():  # uneven lists: every one, so k are found
                    scores, rows = self.ivf.search(queries, fetch, params=faiss.SearchParametersIVF(nprobe=self.nlist))
                return self._rerank(queries, rows, k)
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
