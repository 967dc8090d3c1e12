"""Styles and search index for a catalog of millions: ``fit_clusters_at_scale`` vs fitting every row, same run.

    python bench/bench_scale.py [--items 1000000] [--subset 100000] [--dim 512] [--groups 20]
                                [--methods kmeans,umap-kmeans] [--data clip-like]

Synthetic embeddings with planted groups (``bench_recommender.synthetic_bundle``, ``clip-like`` by default: a shared
cone, group centres and low-rank variation per group). Each measurement runs in a fresh process, so its peak RSS
is its own:

- ``at-scale`` on all ``--items`` rows: what ``training.fit`` does for any catalog above ``FIT_SAMPLE`` rows — fit
  on a seeded 20k sample (k given: ``--groups``), assign every other row in batches, lay out the 2-D map — then
  train and fill the search index (``VectorIndex``, the IVF the bundle stores);
- on a ``--subset`` of the same rows: the at-scale fit and the single-process method (``fit_clusters`` on every
  row: UMAP over all of them for umap-kmeans), the comparison the sample + assign design has to win or tie.

Reported per run: seconds (clustering incl. the map, index), peak RSS, NMI and ARI against the planted groups.
One JSON document.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]


def measure(mode: str, method: str, n: int, dim: int, groups: int, data: str, seed: int) -> dict:
    """One measurement in this (fresh) process."""
    from bench_recommender import synthetic_bundle
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from jewelrec.clustering import fit_clusters
    from jewelrec.clustering.assign import FIT_SAMPLE, fit_clusters_at_scale
    from jewelrec.serving.index import VectorIndex

    synthetic = synthetic_bundle(n, dim, groups, seed, data=data)
    X, truth = synthetic.embeddings, synthetic.labels
    del synthetic
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value.*overridden.*")
        if mode == "single":
            clusters = fit_clusters(X, method, groups, seed=seed)
        else:
            clusters = fit_clusters_at_scale(X, method, groups, seed=seed)
    cluster_s = time.perf_counter() - start
    result = {"mode": mode, "method": method, "items": n, "dim": dim, "groups": groups,
              "fit_rows": min(n, FIT_SAMPLE) if mode == "at-scale" else n,
              "cluster_s": round(cluster_s, 1),
              "nmi": round(float(normalized_mutual_info_score(truth, clusters.labels_)), 4),
              "ari": round(float(adjusted_rand_score(truth, clusters.labels_)), 4)}
    if mode == "at-scale":
        start = time.perf_counter()
        index = VectorIndex(X, exact_limit=0)
        result["index_s"] = round(time.perf_counter() - start, 1)
        result["index_nlist"] = index.nlist
    result["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2, 2)
    result["data_rss_gb"] = round(rss_data / 1024, 2)  # the embeddings alone, before any clustering
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, default=1_000_000)
    p.add_argument("--subset", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--groups", type=int, default=20)
    p.add_argument("--methods", default="kmeans,umap-kmeans")
    p.add_argument("--data", default="clip-like", choices=["clip-like", "blobs"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--one", nargs=2, metavar=("MODE", "METHOD"), help=argparse.SUPPRESS)  # the child process
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one[0], args.one[1], args.n, args.dim, args.groups, args.data, args.seed)))
        return 0
    runs = []
    for method in args.methods.split(","):
        for mode, n in (("at-scale", args.items), ("at-scale", args.subset), ("single", args.subset)):
            cmd = [sys.executable, __file__, "--one", mode, method, "--n", str(n), "--dim", str(args.dim),
                   "--groups", str(args.groups), "--data", args.data, "--seed", str(args.seed)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                runs.append({"mode": mode, "method": method, "items": n, "error": done.stderr.strip()[-600:]})
            else:
                runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print(json.dumps({"bench": "scale", "load_avg": load, "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
