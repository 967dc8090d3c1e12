"""recommend / similar latency at catalog sizes 10k, 100k, 1M (synthetic 512-d embeddings, clustered).

    python bench/bench_recommender.py [--sizes 10000 100000 1000000] [--requests 200]

Prints one JSON document: per size, index build time, recommend and similar p50/p99 in ms (user with 50
ratings), and similar's recall@10 against exact search. Targets (2 cores): recommend p99 <= 5 ms at 100k,
<= 30 ms at 1M; similar p99 <= 5 ms at 1M with recall@10 >= 0.95.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import faiss
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from jewelrec.bundle import Bundle  # noqa: E402
from jewelrec.recommender import Recommender  # noqa: E402


def synthetic_bundle(n: int, dim: int, k: int, seed: int) -> Bundle:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = rng.integers(0, k, n)
    emb = np.empty((n, dim), np.float32)
    for start in range(0, n, 100_000):  # chunked to keep peak memory near the final array
        stop = min(n, start + 100_000)
        chunk = centres[labels[start:stop]] + 0.06 * rng.standard_normal((stop - start, dim), dtype=np.float32)
        emb[start:stop] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    probs = np.full((n, k), 0.02 / (k - 1), np.float32)
    probs[np.arange(n), labels] = 0.98
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(n)]})
    return Bundle(items=items, embeddings=emb, labels=labels, probs=probs, centroids=centres,
                  coords2d=np.zeros((n, 2), np.float32))


def percentiles(times: list[float]) -> dict[str, float]:
    ms = np.asarray(times) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3)}


def run_size(n: int, dim: int, k: int, requests: int, seed: int) -> dict:
    bundle = synthetic_bundle(n, dim, k, seed)
    start = time.perf_counter()
    rec = Recommender(bundle)
    build = time.perf_counter() - start
    rng = np.random.default_rng(seed + 1)
    ids = bundle.item_ids
    rec_times, sim_times = [], []
    for _ in range(requests):
        picks = rng.choice(n, 50, replace=False)
        ratings = {ids[i]: int(s) for i, s in zip(picks, rng.integers(1, 6, 50))}
        t = time.perf_counter()
        rec.recommend(ratings, k=10)
        rec_times.append(time.perf_counter() - t)
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
    return {"n_items": n, "dim": dim, "clusters": k, "exact_index": rec.index.exact,
            "index_build_s": round(build, 2), "recommend": percentiles(rec_times),
            "similar": percentiles(sim_times), "similar_recall_at_10": round(float(recall), 4)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--clusters", type=int, default=30)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    results = [run_size(n, args.dim, args.clusters, args.requests, args.seed) for n in args.sizes]
    print(json.dumps({"benchmark": "recommender", "faiss_threads": faiss.omp_get_max_threads(),
                      "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
