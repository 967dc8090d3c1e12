"""Benchmark: DEPICT fit time and quality, against KMeans and UMAP+KMeans. Prints one JSON object.

    python bench/bench_depict.py --only speed                  # 10k × 512 blobs (target ≤ 60 s on 2 cores)
    python bench/bench_depict.py --only synthetic --n 3000     # harder CLIP-like data, 3 seeds, all methods
    python bench/bench_depict.py --only sample                 # sample catalog vs its 'category' labels
    python bench/bench_depict.py --only digits --seeds 5       # sklearn digits (real, 1797 × 64), all methods

Parts:
- ``speed``: ``make_blobs`` (10 centres, std 1) in 512-D and the harder CLIP-like set, both 10k items;
  DEPICT fit wall time (imports warmed first) and NMI; KMeans on the raw embeddings for reference.
  ``--threads 1,2`` repeats the fit at each torch thread count.
- ``synthetic``: CLIP-like unit vectors (a shared cone direction, class centres, per-class 8-D low-rank
  variation, isotropic noise, Dirichlet class sizes) where KMeans on the raw vectors fails; every method.
- ``digits``: scikit-learn's handwritten digits (real 8×8 images, 1797 × 64, 10 classes) at k = 10; NMI, Hungarian
  accuracy and fit seconds per method and seed (UMAP's numba kernels are compiled before timing), mean ± std.
  Beside the registry's methods: ``umap-kmeans-same`` (KMeans on DEPICT's own UMAP settings, the fair baseline)
  and ``umap-density`` (the density partition DEPICT starts from, without the network); also in ``synthetic``.
- ``sample``: the sample catalog encoded as ``training.fit`` would (CNN on 'category' when CLIP weights are
  not available) and as raw 32×32 pixels (label-free), then ``compare_methods`` at k = number of labels.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore", message=".*n_jobs value.*overridden.*")


def clip_like(n: int, d: int = 512, k: int = 10, spread: float = 3.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit-norm vectors (n, d) with labels (n,): cone direction + centre + low-rank class variation + noise."""
    rng = np.random.default_rng(seed)
    cone = rng.normal(size=d)
    cone /= np.linalg.norm(cone)
    centres = rng.normal(size=(k, d)) / np.sqrt(d) * 0.6  # (k, d), ~0.85 apart
    basis = rng.normal(size=(k, 8, d)) / np.sqrt(d)  # (k, 8, d) per-class directions of variation
    sizes = np.maximum(1, (rng.dirichlet(np.full(k, 3.0)) * n).astype(int))
    y = np.repeat(np.arange(k), sizes)[:n]
    y = np.concatenate([y, rng.integers(0, k, n - len(y))])
    coef = rng.normal(size=(n, 8)) * 0.5 * spread  # (n, 8)
    X = (2.0 * cone + centres[y] + np.einsum("nj,njd->nd", coef, basis[y])
         + rng.normal(size=(n, d)) / np.sqrt(d) * 0.5 * spread)  # (n, d)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), y


def blobs(n: int, d: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_blobs

    X, y = make_blobs(n_samples=n, n_features=d, centers=k, cluster_std=1.0, random_state=seed)
    return X.astype(np.float32), y


def _nmi(y: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import normalized_mutual_info_score

    return round(float(normalized_mutual_info_score(y, labels)), 4)


def fit_depict(X: np.ndarray, y: np.ndarray, k: int, seed: int, device: str | None, **hyper: Any) -> dict:
    from jewelrec.clustering.depict import Depict

    start = time.perf_counter()
    model = Depict(k, seed=seed, device=device, **hyper).fit(X)
    seconds = time.perf_counter() - start
    return {"fit_s": round(seconds, 2), "nmi": _nmi(y, model.labels_), "epochs": model.n_iter_,
            "pretrain_epochs": model.n_pretrain_epochs_, "stop": model.stop_reason_,
            "device": str(next(model.model_.parameters()).device)}


def fit_kmeans(X: np.ndarray, y: np.ndarray, k: int, seed: int) -> dict:
    from jewelrec.clustering import fit_clusters

    result = fit_clusters(X, "kmeans", k, seed=seed, coords2d=False)
    return {"fit_s": round(result.fit_seconds_, 2), "nmi": _nmi(y, result.labels_)}


def part_speed(args: argparse.Namespace) -> dict:
    from jewelrec.clustering.depict import Depict

    Depict(2, pretrain_epochs=1, cluster_epochs=1).fit(np.random.default_rng(0).normal(size=(64, 8)))  # warm
    out: dict[str, Any] = {}
    for name, (X, y) in {"blobs": blobs(args.n, args.dim, args.k), "clip_like": clip_like(args.n, args.dim, args.k)}.items():
        runs = {f"depict_threads{t}": fit_depict(X, y, args.k, 0, args.device, cpu_threads=t) for t in args.threads}
        out[name] = {"shape": list(X.shape), **runs, "kmeans": fit_kmeans(X, y, args.k, 0)}
    return out


def part_synthetic(args: argparse.Namespace) -> dict:
    from jewelrec.clustering import fit_clusters

    out: dict[str, Any] = {"shape": [args.n, args.dim], "k": args.k, "spread": args.spread, "seeds": {}}
    for seed in range(args.seeds):
        X, y = clip_like(args.n, args.dim, args.k, spread=args.spread, seed=seed)
        row = {"depict": fit_depict(X, y, args.k, seed, args.device), "kmeans": fit_kmeans(X, y, args.k, seed)}
        result = fit_clusters(X, "umap-kmeans", args.k, seed=seed, coords2d=False)
        row["umap-kmeans"] = {"fit_s": round(result.fit_seconds_, 2), "nmi": _nmi(y, result.labels_)}
        for method, labels, seconds in same_umap_baselines(X, args.k, seed):
            row[method] = {"fit_s": seconds, "nmi": _nmi(y, labels)}
        out["seeds"][seed] = row
        print(f"synthetic seed {seed}: {json.dumps(row)}", file=sys.stderr, flush=True)
    for method in ("depict", "kmeans", "umap-kmeans", "umap-kmeans-same", "umap-density"):
        out[f"mean_nmi_{method}"] = round(float(np.mean([r[method]["nmi"] for r in out["seeds"].values()])), 4)
    return out


def same_umap_baselines(X: np.ndarray, k: int, seed: int) -> list[tuple[str, np.ndarray, float]]:
    """The fair baselines: DEPICT's own UMAP (its default umap_* settings) + KMeans, and + the density partition
    DEPICT starts from (no network). Returns (method, labels (n,), seconds)."""
    from jewelrec.clustering.depict import DepictConfig
    from jewelrec.clustering.depict_train import initial_partition, umap_guide
    from jewelrec.clustering.methods import _kmeans

    start = time.perf_counter()
    cfg = DepictConfig(input_dim=X.shape[1], n_clusters=k)
    guide = umap_guide(X, cfg, seed).astype(np.float64)  # (n, 10)
    umap_s = time.perf_counter() - start
    start = time.perf_counter()
    kmeans = _kmeans(guide, k, seed).labels_
    kmeans_s = time.perf_counter() - start
    start = time.perf_counter()
    density = initial_partition(guide, cfg, seed)
    density_s = time.perf_counter() - start
    return [("umap-kmeans-same", kmeans, round(umap_s + kmeans_s, 2)),
            ("umap-density", density, round(umap_s + density_s, 2))]


def _mean_std(values: list[float]) -> dict[str, float]:
    return {"mean": round(float(np.mean(values)), 4), "std": round(float(np.std(values)), 4),
            "min": round(float(np.min(values)), 4), "max": round(float(np.max(values)), 4)}


def part_digits(args: argparse.Namespace) -> dict:
    """Real data where the embedding space is not already clustered: KMeans on the pixels reaches NMI ~0.74."""
    from sklearn.datasets import load_digits

    from jewelrec.clustering import fit_clusters
    from jewelrec.clustering.methods import hungarian_accuracy, umap_embed

    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    umap_embed(X[:200], n_components=2, seed=0)  # compile UMAP's numba kernels outside the timings
    methods = ("depict", "kmeans", "umap-kmeans", "umap-kmeans-same", "umap-density")
    out: dict[str, Any] = {"shape": list(X.shape), "k": 10, "seeds": {}}
    for seed in range(args.seeds):
        row = {}
        for method in methods[:3]:
            result = fit_clusters(X, method, 10, seed=seed, coords2d=False)
            row[method] = {"fit_s": round(result.fit_seconds_, 2), "nmi": _nmi(y, result.labels_),
                           "acc": round(hungarian_accuracy(y, result.labels_), 4)}
            if method == "depict":
                row[method]["encoder_agreement"] = round(result.model_.encoder_agreement_, 4)
        for method, labels, seconds in same_umap_baselines(X, 10, seed):
            row[method] = {"fit_s": seconds, "nmi": _nmi(y, labels), "acc": round(hungarian_accuracy(y, labels), 4)}
        out["seeds"][seed] = row
        print(f"digits seed {seed}: {json.dumps(row)}", file=sys.stderr, flush=True)
    out["summary"] = {method: {metric: _mean_std([r[method][metric] for r in out["seeds"].values()])
                               for metric in ("nmi", "acc", "fit_s")} for method in methods}
    return out


def pixel_embeddings(items_images: list[bytes], size: int = 32) -> np.ndarray:
    """A label-free encoding of the sample photos: size×size RGB pixels, centred, L2-normalised. (n, 3·size²)"""
    import io

    from PIL import Image

    X = np.stack([np.asarray(Image.open(io.BytesIO(b)).convert("RGB").resize((size, size), Image.BILINEAR),
                             np.float32).ravel() / 255 for b in items_images])  # (n, 3·size²)
    X -= X.mean(axis=0)
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def part_sample(args: argparse.Namespace) -> dict:
    """The sample catalog under two encoders: the CNN training.fit uses offline (it learned 'category', so
    category clusters are easy for every method) and raw pixels (which know nothing about the labels)."""
    from jewelrec.catalog import load_catalog
    from jewelrec.clustering.report import compare_methods
    from jewelrec.pipeline.compare import CompareConfig, sample_embeddings

    out: dict[str, Any] = {}
    for encoder in args.sample_encoders:
        start = time.perf_counter()
        if encoder == "cnn":
            X, items, reason = sample_embeddings(CompareConfig(sample_items=args.sample_items, device=args.device))
        else:
            catalog = load_catalog("sample", sample_items=args.sample_items, seed=0)
            X, items, reason = pixel_embeddings(catalog.images), catalog.metadata(), "32×32 RGB pixels"
        entry: dict[str, Any] = {"encoder": reason, "shape": list(X.shape),
                                 "encode_s": round(time.perf_counter() - start, 1)}
        for column in args.label_columns:
            report = compare_methods(X, true_labels=items[column].to_numpy(), label_column=column,
                                     seed=args.seed, progress=False)
            entry[column] = {"k": report.n_clusters, "rows": {
                r["method"]: {key: (round(v, 4) if isinstance(v, float) else v) for key, v in r.items()
                              if key != "method"} for r in report.rows}}
        out[encoder] = entry
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--only", choices=["speed", "synthetic", "sample", "digits"], action="append",
                        help="parts to run (repeatable); default: all")
    parser.add_argument("--n", type=int, default=10_000, help="items for speed / synthetic")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--spread", type=float, default=3.0, help="within-class spread of the CLIP-like set")
    parser.add_argument("--seeds", type=int, default=3, help="data + model seeds for 'synthetic', model seeds for 'digits'")
    parser.add_argument("--threads", default="1", help="comma-separated torch CPU thread counts for 'speed'")
    parser.add_argument("--sample-items", type=int, default=720)
    parser.add_argument("--label-columns", default="category", help="comma-separated sample columns to score")
    parser.add_argument("--sample-encoders", default="cnn,pixels", help="comma-separated: cnn, pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="torch device (default: cuda when present)")
    args = parser.parse_args(argv)
    args.threads = [int(t) for t in args.threads.split(",")]
    args.label_columns = args.label_columns.split(",")
    args.sample_encoders = args.sample_encoders.split(",")
    parts = args.only or ["speed", "synthetic", "sample", "digits"]

    import torch

    result: dict[str, Any] = {
        "bench": "depict", "python": platform.python_version(), "torch": torch.__version__,
        "cpus": os.cpu_count(), "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_avg_1m_before": round(os.getloadavg()[0], 2),
    }
    functions = {"speed": part_speed, "synthetic": part_synthetic, "sample": part_sample, "digits": part_digits}
    for part in parts:
        start = time.perf_counter()
        result[part] = functions[part](args)
        result[part]["part_wall_s"] = round(time.perf_counter() - start, 1)
    result["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
