"""Benchmark: drawing the embedded sample catalog from scratch. Prints one JSON object.

    python bench/bench_sample.py [--n-items 720] [--size 224]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--n-items", type=int, default=720)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from jewelrec.catalog.sample import build_sample, plan_sample, render_item

    rows = plan_sample(min(args.n_items, 120), seed=args.seed + 1)
    per_image = []
    for row in rows:  # render only, one at a time: the per-image cost and its spread
        start = time.perf_counter()
        render_item(row["category"], row["metal"], row["gemstone"], seed=row["seed"], size=args.size)
        per_image.append((time.perf_counter() - start) * 1000)

    with tempfile.TemporaryDirectory() as folder:
        start, cpu = time.perf_counter(), time.process_time()
        path = build_sample(args.n_items, seed=args.seed, size=args.size, cache_dir=folder, progress=False)
        build_s, build_cpu_s = time.perf_counter() - start, time.process_time() - cpu
        start = time.perf_counter()
        build_sample(args.n_items, seed=args.seed, size=args.size, cache_dir=folder, progress=False)
        cached_ms = (time.perf_counter() - start) * 1000
        size_mb = os.path.getsize(path) / 1e6

    print(json.dumps({
        "bench": "sample_build",
        "n_items": args.n_items,
        "size_px": args.size,
        "build_wall_s": round(build_s, 2),
        "build_cpu_s": round(build_cpu_s, 2),
        "items_per_s": round(args.n_items / build_s, 1),
        "render_ms_p50": round(float(np.percentile(per_image, 50)), 1),
        "render_ms_p99": round(float(np.percentile(per_image, 99)), 1),
        "cache_hit_ms": round(cached_ms, 2),
        "parquet_mb": round(size_mb, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
