"""recommend / similar latency at catalog sizes 10k, 100k, 1M (synthetic 512-d embeddings, clustered).

    python bench/bench_recommender.py [--sizes 10000 100000 1000000] [--requests 200] [--data clip-like]
    python bench/bench_recommender.py --sizes 100000 --set balance_band=0.04   # a RecommenderConfig field changed

Prints one JSON document: per size, index build time, recommend and similar p50/p99 in ms (user with 50
ratings), similar's recall@10 against exact search, and how close recommend's candidate path comes to scoring
every item (overlap@10 and score ratio; both 1.0 when the catalog is small enough to be scored exhaustively).
Targets (2 cores): recommend p99 <= 5 ms at 100k, <= 30 ms at 1M; similar p99 <= 5 ms at 1M with
recall@10 >= 0.95.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import faiss
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).parent))
from bench_shoppers import recommender_overrides  # noqa: E402

from jewelrec.serving.bundle import Bundle  # noqa: E402
from jewelrec.serving.recommender import Recommender  # noqa: E402


def synthetic_bundle(n: int, dim: int, k: int, seed: int, data: str = "blobs") -> Bundle:
    """``blobs``: cluster centre + isotropic noise (neighbours inside a cluster are barely closer than the rest:
    the hard case for ANN and for "closeness to liked pieces"). ``clip-like``: a shared cone direction, cluster
    centres and 8-D low-rank variation per cluster plus small noise, closer to real image embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = rng.integers(0, k, n)
    if data == "clip-like":
        cone = rng.standard_normal(dim, dtype=np.float32)
        cone /= np.linalg.norm(cone)
        basis = rng.standard_normal((k, 8, dim), dtype=np.float32) / np.sqrt(dim)  # (k, 8, d)
    emb = np.empty((n, dim), np.float32)
    for start in range(0, n, 100_000):  # chunked to keep peak memory near the final array
        stop = min(n, start + 100_000)
        if data == "blobs":
            chunk = centres[labels[start:stop]] + 0.06 * rng.standard_normal((stop - start, dim), dtype=np.float32)
        else:
            chunk = cone + 0.8 * centres[labels[start:stop]] + 0.01 * rng.standard_normal((stop - start, dim),
                                                                                       dtype=np.float32)
            coef = rng.standard_normal((stop - start, 8), dtype=np.float32) * 0.18  # (m, 8)
            for c in range(k):
                mine = labels[start:stop] == c
                chunk[mine] += coef[mine] @ basis[c]
        emb[start:stop] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    probs = np.full((n, k), 0.02 / (k - 1), np.float32)
    probs[np.arange(n), labels] = 0.98
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(n)]})
    return Bundle(items=items, embeddings=emb, labels=labels, probs=probs, centroids=centres,
                  coords2d=np.zeros((n, 2), np.float32))


def percentiles(times: list[float]) -> dict[str, float]:
    ms = np.asarray(times) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3)}


def random_ratings(rng: np.random.Generator, ids: list[str], count: int = 50) -> dict[str, int]:
    picks = rng.choice(len(ids), count, replace=False)
    return {ids[i]: int(s) for i, s in zip(picks, rng.integers(1, 6, count))}


def long_lists(rec: Recommender, ids: list[str], ks: list[int], seed: int) -> list[dict]:
    """One ``recommend`` and one ``similar`` per list length in ``ks`` (a library caller's page of thousands of
    picks, not the Space's ≤ 100): seconds each and how many pieces came back."""
    rng = np.random.default_rng(seed + 3)
    out = []
    for k in ks:
        ratings = random_ratings(rng, ids)
        t = time.perf_counter()
        picks = rec.recommend(ratings, k=k)
        t_rec = time.perf_counter() - t
        t = time.perf_counter()
        hits = rec.similar(ids[int(rng.integers(len(ids)))], k=k)
        t_sim = time.perf_counter() - t
        out.append({"k": k, "recommend_s": round(t_rec, 3), "recommend_returned": len(picks),
                    "similar_s": round(t_sim, 3), "similar_returned": len(hits)})
    return out


def run_size(n: int, dim: int, k: int, requests: int, seed: int, agreement_users: int, data: str,
             warmup: int = 10, config=None, long_k: list[int] | None = None) -> dict:
    bundle = synthetic_bundle(n, dim, k, seed, data)
    start = time.perf_counter()
    rec = Recommender(bundle, config=config)
    build = time.perf_counter() - start
    rng = np.random.default_rng(seed + 1)
    ids = bundle.item_ids
    # untimed first calls, as a serving process has made by the time anyone measures it: the first requests pay
    # one-off costs (page faults on freshly written index pages, lazily built caches) that no later request sees
    warm = np.random.default_rng(seed + 2)
    for _ in range(warmup):
        rec.recommend(random_ratings(warm, ids), k=10)
        rec.similar(ids[int(warm.integers(n))], k=10)
    rec_times, sim_times, users = [], [], []
    for _ in range(requests):
        ratings = random_ratings(rng, ids)
        t = time.perf_counter()
        top = rec.recommend(ratings, k=10)
        rec_times.append(time.perf_counter() - t)
        users.append((ratings, {i: s for i, s, _ in top}))
    everything = copy.copy(rec)  # the same recommender scoring every item: the reference for the candidates
    everything.exhaustive = True
    overlap, score_ratio = [], []
    for ratings, top in users[:agreement_users]:
        best = everything.recommend(ratings, k=10)
        overlap.append(len(set(top) & {i for i, _, _ in best}) / 10)
        # the candidate path's list scored by the same formula, over the best list's total: near-ties that swap
        # places cost overlap but hardly any score
        score_ratio.append(sum(top.values()) / sum(s for _, s, _ in best))
    queries = rng.choice(n, requests, replace=False)
    found = []
    for q in queries:
        t = time.perf_counter()
        hits = rec.similar(ids[q], k=10)
        sim_times.append(time.perf_counter() - t)
        found.append({h for h, _ in hits})
    exact = faiss.IndexFlatIP(dim)
    exact.add(bundle.embeddings)
    _, truth = exact.search(bundle.embeddings[queries], 11)
    recall = np.mean([len(f & {ids[r] for r in row if r != q}) / 10 for f, row, q in zip(found, truth, queries)])
    return {"n_items": n, "data": data, "dim": dim, "clusters": k, "exact_index": rec.index.exact,
            "index_lists": rec.index.nlist, "index_nprobe": rec.index.nprobe, "exhaustive_scoring": rec.exhaustive,
            "index_build_s": round(build, 2), "recommend": percentiles(rec_times),
            "recommend_overlap_at_10_vs_all_items": round(float(np.mean(overlap)), 4),
            "recommend_score_ratio_vs_all_items": round(float(np.mean(score_ratio)), 4),
            "similar": percentiles(sim_times), "similar_recall_at_10": round(float(recall), 4),
            **({"long_lists": long_lists(rec, ids, long_k, seed)} if long_k else {})}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--clusters", type=int, default=30)
    p.add_argument("--data", choices=["blobs", "clip-like"], default="blobs", help="synthetic embedding shape")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--warmup", type=int, default=10, help="untimed recommend + similar calls before timing")
    p.add_argument("--agreement-users", type=int, default=20,
                   help="users whose top 10 is recomputed by scoring every item (slow at 1M: ~1 s each)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--long-k", type=int, nargs="*", default=[],
                   help="also time one recommend and one similar returning this many pieces (e.g. 1000 10000)")
    p.add_argument("--blas-threads", type=int, default=1,
                   help="BLAS threads (app.py uses 1: a server runs requests side by side, each one small)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a RecommenderConfig field (repeatable), e.g. --set balance_band=0.04")
    args = p.parse_args(argv)
    config = recommender_overrides(args.set)
    threadpool_limits(args.blas_threads, user_api="blas")
    results = [run_size(n, args.dim, args.clusters, args.requests, args.seed, args.agreement_users, args.data,
                        args.warmup, config, args.long_k) for n in args.sizes]
    print(json.dumps({"benchmark": "recommender", "faiss_threads": faiss.omp_get_max_threads(),
                      "blas_threads": args.blas_threads, "data": args.data, "warmup_calls": args.warmup,
                      "overrides": args.set,
                      "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
