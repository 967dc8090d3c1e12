"""``training.update`` adding 1 % to a 100k-item bundle, vs the full refit it saves, same run.

    python bench/bench_update.py [--items 100000] [--add-share 0.01] [--method umap-kmeans] [--encoder cnn]

1. A real fit on a small sample catalog (``--base-items``, default 1000; CNN encoder unless ``--encoder``) gives the
   encoder, the pictures and their embeddings.
2. That catalog is grown to ``--items`` rows the way a big catalog looks to the code: each piece repeated with a
   small perturbation of its embedding (a new id, the same thumbnail), styled with ``fit_clusters_at_scale`` (what a
   fit does above 20k rows) and saved with its trained search index, as ``training.fit`` saves one.
3. ``python -m training.update`` adds ``--add-share`` of that many new pieces (another seed of the sample catalog,
   real pictures, embedded by the bundle's own encoder): wall time of the whole command, and its stage times.
4. The refit it replaces, timed on the same rows: embedding every picture (the update's measured images/s times the
   catalog's size: there are not 100k distinct pictures here), then styles, the map, the index and the bundle
   written, for real on the grown embeddings. Training an encoder (catalog CLIP, CNN) would add to the refit; it is
   not counted, which favours the refit.

One JSON document; the pieces the update kept are checked to have kept their styles and map positions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]


def grow(base_dir: Path, out: Path, n: int, method: str, seed: int) -> dict:
    """A ``n``-item bundle from the fitted ``base_dir``: perturbed copies of its pieces, styled and indexed."""

    from jewelrec.clustering.assign import fit_clusters_at_scale
    from jewelrec.serving.bundle import Bundle
    from jewelrec.serving.index import VectorIndex

    base = Bundle.load(base_dir)
    rng = np.random.default_rng(seed)
    source = np.arange(n) % base.n_items
    emb = base.embeddings[source] + 0.05 * rng.standard_normal((n, base.embeddings.shape[1]), dtype=np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    items = base.items.iloc[source].reset_index(drop=True)
    items["item_id"] = [f"grown-{i:07d}" for i in range(n)]
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value.*overridden.*")
        k = base.n_clusters
        clusters = fit_clusters_at_scale(emb, method, k, seed=seed)
    cluster_s = time.perf_counter() - start
    start = time.perf_counter()
    index = VectorIndex(emb, exact_limit=0)
    index_s = time.perf_counter() - start
    out.mkdir(parents=True)
    shutil.copytree(base_dir / "encoder", out / "encoder")
    config = {k: v for k, v in base.config.items() if k != "files"}
    config["dataset"] = {**config["dataset"], "items": n}
    config["clustering"] = {**config["clustering"], "method": method}
    start = time.perf_counter()
    Bundle(items=items, embeddings=emb, labels=clusters.labels_, probs=clusters.probs_, centroids=clusters.centroids_,
           coords2d=clusters.coords2d_, latents=None if method == "kmeans" else clusters.space_,
           config=config).save(out, index=index)
    write_s = time.perf_counter() - start
    return {"cluster_s": round(cluster_s, 1), "index_s": round(index_s, 1), "write_s": round(write_s, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--add-share", type=float, default=0.01)
    p.add_argument("--base-items", type=int, default=1000)
    p.add_argument("--method", default="umap-kmeans")
    p.add_argument("--encoder", default="cnn")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep", help="keep the bundles in this directory (default: a temporary one, removed)")
    args = p.parse_args(argv)
    n_new = max(1, round(args.items * args.add_share))
    tmp = Path(args.keep or tempfile.mkdtemp(prefix="bench-update-"))
    env = {**os.environ, "JEWELREC_HOME": str(tmp / "home")}

    def run(cmd: list[str]) -> tuple[float, str]:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", *cmd], cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode not in (0, 3):
            raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
        return time.perf_counter() - start, done.stdout

    try:
        run(["training.fit", "--dataset", "sample", "--sample-items", str(args.base_items), "--encoder", args.encoder,
             "--cnn-epochs", "3", "--method", "kmeans", "--clusters", "8", "--out", str(tmp / "base")])
        grown = grow(tmp / "base", tmp / "big", args.items, args.method, args.seed)
        # the new pieces: real pictures from another draw of the sample catalog, in their own folder
        (tmp / "new").mkdir()
        subprocess.run([sys.executable, "-c", "import shutil, sys; from jewelrec.catalog.sample import build_sample; "
                        f"shutil.copy(build_sample({n_new}, seed={args.seed + 1}, progress=False), sys.argv[1])",
                        str(tmp / "new" / "new.parquet")], cwd=ROOT, env=env, check=True)
        update_s, _ = run(["training.update", "--bundle", str(tmp / "big"), "--dataset",
                           str(tmp / "new" / "new.parquet"), "--out", str(tmp / "big2")])

        from jewelrec.serving.bundle import Bundle

        before, after = Bundle.load(tmp / "big"), Bundle.load(tmp / "big2")
        stages = after.config["updates"][-1]["timings_s"]
        kept = (np.array_equal(after.labels[:before.n_items], before.labels)
                and np.array_equal(after.coords2d[:before.n_items], before.coords2d))
        images_per_s = n_new / max(stages.get("encode", 0.0), 1e-9)
        encode_all_s = after.n_items / images_per_s
        refit = grow(tmp / "base", tmp / "refit", after.n_items, args.method, args.seed)  # styles+map+index+write
        refit_s = encode_all_s + refit["cluster_s"] + refit["index_s"] + refit["write_s"]
        with open("/proc/loadavg") as f:
            load = f.read().split()[:3]
        print(json.dumps({
            "bench": "update", "items": args.items, "added": n_new, "method": args.method, "encoder": args.encoder,
            "update_s": round(update_s, 1), "update_stages_s": stages,
            "kept_styles_and_positions": bool(kept), "refit_due": after.config["updates"][-1]["refit_due"],
            "refit_s": round(refit_s, 1),
            "refit_parts_s": {"encode_every_picture": round(encode_all_s, 1), **refit},
            "encode_images_per_s": round(images_per_s, 1), "grow_s": grown,
            "speedup": round(refit_s / update_s, 1), "load_avg": load,
        }, indent=2))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
