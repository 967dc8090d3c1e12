"""Space start-up with a big bundle: the prebuilt index (bundle's index.faiss) vs training it at start, same run.

    python bench/bench_startup.py [--items 1000000] [--dim 512] [--data clip-like] [--requests 200]

Writes one synthetic bundle the way ``training.fit`` does (``Bundle.save(dir, index=VectorIndex(...))``), then
starts a fresh process per mode that does what the Space does before it serves: import jewelrec,
``Bundle.load`` (hash-checks every file), ``Recommender(bundle)``. ``prebuilt`` loads the stored index;
``train`` is the same bundle with the index record dropped in memory, i.e. what every start did before. Then, with
one BLAS thread (as ``app.py`` serves), ``similar`` for the same random items: p50/p99 latency and recall@10
against an exact scan; the ``train`` process also loads the stored index and times both in turns on the same
queries (a fair latency comparison on a shared box) and reports how often their top 10 are identical. Start-up
is reported as wall time and as the process's CPU time (steadier when other jobs share the cores). One JSON
document.
Target (2 cores): start-up with 1M items <= 15 s; similar recall and latency as when trained at start.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # before the heavy imports: a Space's start includes them

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
from bench_recommender import percentiles, synthetic_bundle  # noqa: E402

from jewelrec.serving.bundle import Bundle  # noqa: E402
from jewelrec.serving.index import VectorIndex  # noqa: E402
from jewelrec.serving.recommender import Recommender  # noqa: E402
from jewelrec.serving.stored_index import load_search_index  # noqa: E402


def exact_top(embeddings: np.ndarray, queries: np.ndarray, k: int, chunk: int = 100_000) -> np.ndarray:
    """Rows of the exact top ``k`` by inner product for each query row, by scanning in chunks. (q, k)"""
    q = embeddings[queries]  # (q, d)
    best_scores = np.full((len(q), 0), -np.inf, np.float32)
    best_rows = np.zeros((len(q), 0), np.int64)
    for start in range(0, len(embeddings), chunk):
        scores = q @ embeddings[start:start + chunk].T  # (q, c)
        top = np.argpartition(-scores, min(k, scores.shape[1] - 1), axis=1)[:, :k]  # (q, k)
        best_scores = np.hstack([best_scores, np.take_along_axis(scores, top, 1)])
        best_rows = np.hstack([best_rows, top + start])
        keep = np.argsort(-best_scores, axis=1, kind="stable")[:, :k]
        best_scores, best_rows = np.take_along_axis(best_scores, keep, 1), np.take_along_axis(best_rows, keep, 1)
    return best_rows


def start(mode: str, directory: Path, requests: int, seed: int) -> dict:
    """One Space-like start in this (fresh) process; then ``similar`` latency and recall."""
    from threadpoolctl import threadpool_limits

    imported = time.perf_counter()
    bundle = Bundle.load(directory)
    loaded = time.perf_counter()
    record = bundle.config.pop("index") if mode == "train" else None  # as a bundle written before indexes were stored
    rec = Recommender(bundle)
    ready, ready_cpu = time.perf_counter(), time.process_time()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    threadpool_limits(1, user_api="blas")  # as app.py serves
    rng = np.random.default_rng(seed)
    queries = rng.choice(bundle.n_items, requests, replace=False)
    indexes = {mode: rec.index}
    if record is not None:  # the trained index and the stored one, timed in turns on the same queries
        bundle.config["index"] = record
        indexes["prebuilt"] = load_search_index(bundle)
    ids = bundle.item_ids
    times: dict[str, list[float]] = {name: [] for name in indexes}
    found: dict[str, list[list[str]]] = {name: [] for name in indexes}
    for turn, q in enumerate(queries):
        for name in sorted(indexes, reverse=bool(turn % 2)):
            rec.index = indexes[name]
            t = time.perf_counter()
            hits = rec.similar(ids[q], k=10)
            times[name].append(time.perf_counter() - t)
            found[name].append([h for h, _ in hits])
    truth = exact_top(bundle.embeddings, queries, 11)  # the item itself is among its 11 nearest
    result = {"mode": mode, "index_origin": indexes[mode].origin, "index_lists": indexes[mode].nlist,
              "index_nprobe": indexes[mode].nprobe, "imports_s": round(imported - STARTED, 2),
              "bundle_load_s": round(loaded - imported, 2), "recommender_s": round(ready - loaded, 2),
              "startup_s": round(ready - STARTED, 2), "startup_cpu_s": round(ready_cpu, 2),
              "startup_peak_rss_mb": round(peak_rss)}
    for name in indexes:
        recall = np.mean([len(set(f) & {ids[r] for r in row if r != q}) / 10
                          for f, row, q in zip(found[name], truth, queries)])
        result[f"similar_{name}"] = {**percentiles(times[name]), "recall_at_10": round(float(recall), 4)}
    if record is not None:
        result["same_top10_share"] = float(np.mean([a == b for a, b in zip(found["train"], found["prebuilt"])]))
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--items", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=512, help="CLIP ViT-B/32's embedding size")
    p.add_argument("--clusters", type=int, default=30)
    p.add_argument("--data", choices=["blobs", "clip-like"], default="clip-like", help="synthetic embedding shape")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--modes", nargs="+", choices=["prebuilt", "train"], default=["prebuilt", "train"])
    p.add_argument("--repeats", type=int, default=1, help="fresh starts per mode (the box is shared: min of N)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", type=Path, default=None, help="where the bundle is written (default: a temp dir)")
    p.add_argument("--child", choices=["prebuilt", "train"], help=argparse.SUPPRESS)
    p.add_argument("--bundle", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(start(args.child, args.bundle, args.requests, args.seed + 1)))
        return 0

    workdir = Path(tempfile.mkdtemp(prefix="bench-startup-", dir=args.workdir))
    try:
        bundle = synthetic_bundle(args.items, args.dim, args.clusters, args.seed, args.data)
        t = time.perf_counter()
        index = VectorIndex(bundle.embeddings, exact_limit=0)  # what training.fit does
        fit_index_s = time.perf_counter() - t
        t = time.perf_counter()
        directory = bundle.save(workdir / "bundle", index=index)
        save_s = time.perf_counter() - t
        del bundle, index  # the children load it from disk, as a Space does
        sizes = {f.name: round(f.stat().st_size / 2**20, 1) for f in directory.iterdir() if f.is_file()}
        starts = []
        for _ in range(args.repeats):
            for mode in args.modes:  # alternating, so a burst of load on the box hits both modes alike
                out = subprocess.run([sys.executable, __file__, "--child", mode, "--bundle", str(directory),
                                      "--requests", str(args.requests), "--seed", str(args.seed)],
                                     check=True, capture_output=True, text=True)
                starts.append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    summary = {mode: {key: min(s[key] for s in starts if s["mode"] == mode) for key in ("startup_s", "startup_cpu_s")}
               for mode in args.modes}
    print(json.dumps({"benchmark": "startup", "n_items": args.items, "dim": args.dim, "data": args.data,
                      "fit_index_build_s": round(fit_index_s, 2), "bundle_save_s": round(save_s, 2),
                      "file_mb": sizes, "min_startup": summary, "starts": starts}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
