"""Space benchmarks: start-up with a cached bundle, gradio_client round trips, concurrent rating writers.

Each size runs `python app.py` as a subprocess (JEWELREC_BUNDLE = a synthetic bundle saved to a temp dir) and
drives it with gradio_client over HTTP, as a real client would. Prints one JSON object.

    python bench/bench_space.py                      # the sample's size (720) and 10k items
    python bench/bench_space.py --sizes 720 --calls 50
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def thumbnails(n_items: int, seed: int = 0, distinct: int = 256) -> list[bytes]:
    """256-px JPEG product shots (a shaded disc on a light background), ``distinct`` of them cycled: the
    payload sizes of a real bundle's thumbnails without rendering 10k pieces."""
    import io

    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    shots = []
    for _ in range(distinct):
        image = Image.new("RGB", (256, 256), tuple(int(v) for v in rng.integers(225, 250, 3)))
        draw = ImageDraw.Draw(image)
        r = int(rng.integers(50, 100))
        draw.ellipse((128 - r, 128 - r, 128 + r, 128 + r), fill=tuple(int(v) for v in rng.integers(60, 220, 3)))
        draw.ellipse((128 - r // 3, 128 - r // 2, 128, 128 - r // 6), fill=(250, 250, 250))  # highlight
        out = io.BytesIO()
        image.filter(ImageFilter.GaussianBlur(2)).save(out, format="JPEG", quality=85)
        shots.append(out.getvalue())
    return [shots[i % distinct] for i in range(n_items)]


def synthetic_bundle(n_items: int, dim: int = 512, n_clusters: int = 12, seed: int = 0):
    """Clustered unit vectors with catalog metadata and JPEG thumbnails: the shapes of a real CLIP bundle."""
    from jewelrec.serving.bundle import Bundle
    from jewelrec.clustering import soft_assign

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.arange(n_items) % n_clusters
    emb = centres[labels] + 0.1 * rng.normal(size=(n_items, dim)).astype(np.float32)  # (n, dim)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    metals = np.array(["gold", "silver", "rose gold", "platinum"])
    cats = np.array(["ring", "necklace", "earrings", "bracelet", "pendant", "brooch"])
    items = pd.DataFrame({"item_id": [f"it-{i:06d}" for i in range(n_items)],
                          "name": [f"{metals[l % 4]} {cats[l % 6]} {i}" for i, l in enumerate(labels)],
                          "category": cats[labels % 6], "metal": metals[labels % 4],
                          "price": rng.uniform(50, 900, n_items).round(), "thumbnail": thumbnails(n_items, seed)})
    return Bundle(items=items, embeddings=emb, labels=labels, probs=soft_assign(emb, centres, labels),
                  centroids=centres, coords2d=rng.normal(size=(n_items, 2)).astype(np.float32),
                  config={"dataset": {"source": "synthetic"}, "encoder": {"type": "none"}})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(bundle_dir: Path, data_dir: Path, home: Path) -> tuple[subprocess.Popen, str, float]:
    import httpx

    port = free_port()
    env = os.environ | {"JEWELREC_BUNDLE": str(bundle_dir), "JEWELREC_DATA_DIR": str(data_dir),
                        "JEWELREC_HOME": str(home), "GRADIO_SERVER_PORT": str(port),
                        "GRADIO_ANALYTICS_ENABLED": "False"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
        try:
            if httpx.get(url + "config", timeout=1).status_code == 200:
                return proc, url, time.perf_counter() - t0
        except httpx.HTTPError:
            pass
        if time.perf_counter() - t0 > 180:
            proc.kill()
            raise RuntimeError("app.py did not answer within 180 s")
        time.sleep(0.1)


def percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.array(samples) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 1), "p99_ms": round(float(np.percentile(ms, 99)), 1),
            "mean_ms": round(float(ms.mean()), 1), "calls": len(samples)}


def round_trips(url: str, item_ids: list[str], calls: int) -> dict[str, dict[str, float]]:
    from gradio_client import Client

    client = Client(url, verbose=False)
    rng = np.random.default_rng(1)
    for i, item in enumerate(rng.choice(item_ids, 10, replace=False)):
        client.predict(str(item), 1 + i % 5, api_name="/rate")
    out = {}
    for name, call in [("recommend", lambda i: client.predict(10, api_name="/recommend")),
                       ("similar", lambda i: client.predict(item_ids[i % len(item_ids)], 10, api_name="/similar")),
                       ("rate", lambda i: client.predict(item_ids[i % len(item_ids)], 1 + i % 5, api_name="/rate"))]:
        for i in range(5):
            call(i)  # warm-up
        samples = []
        for i in range(calls):
            t = time.perf_counter()
            call(i)
            samples.append(time.perf_counter() - t)
        out[name] = percentiles(samples)
    return out


def concurrent_writers(url: str, item_ids: list[str], db: Path, clients: int, per_client: int) -> dict:
    from gradio_client import Client

    before = sqlite3.connect(db).execute("SELECT COUNT(*) FROM ratings").fetchone()[0]
    users = [Client(url, verbose=False) for _ in range(clients)]
    errors: list[str] = []
    barrier = threading.Barrier(clients)

    def write(c: int) -> None:
        barrier.wait()
        for i in range(per_client):
            try:
                users[c].predict(item_ids[(c * 7 + i) % len(item_ids)], 1 + (c + i) % 5, api_name="/rate")
            except Exception as exc:  # counted and reported
                errors.append(repr(exc)[:200])

    threads = [threading.Thread(target=write, args=(c,)) for c in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    stored = sqlite3.connect(db).execute("SELECT COUNT(*) FROM ratings").fetchone()[0] - before
    per_user_ok = sum(len(u.predict(api_name="/my_ratings")) == per_client for u in users)
    return {"clients": clients, "ratings_each": per_client, "sent": clients * per_client, "stored_rows": stored,
            "clients_with_all_their_ratings": per_user_ok, "errors": len(errors), "first_errors": errors[:3],
            "seconds": round(elapsed, 2), "ratings_per_s": round(clients * per_client / elapsed, 1),
            "none_lost": stored == clients * per_client and per_user_ok == clients}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[720, 10_000])
    p.add_argument("--calls", type=int, default=200, help="timed calls per endpoint")
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--ratings-each", type=int, default=50)
    args = p.parse_args(argv)
    results: dict = {"cpu_count": os.cpu_count(), "load_average_before": os.getloadavg(), "sizes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n in args.sizes:
            bundle = synthetic_bundle(n)
            bundle_dir = bundle.save(tmp / f"bundle-{n}")
            data = tmp / f"data-{n}"
            proc, url, cold = start_app(bundle_dir, data, tmp / "home")
            try:
                entry = {"startup_s": round(cold, 2), "round_trip": round_trips(url, bundle.item_ids, args.calls)}
                entry["concurrent_ratings"] = concurrent_writers(url, bundle.item_ids, data / "ratings.db",
                                                                 args.clients, args.ratings_each)
            finally:
                proc.terminate()
                proc.wait(20)
            proc, _, warm = start_app(bundle_dir, data, tmp / "home")  # second start: OS caches warm
            proc.terminate()
            proc.wait(20)
            entry["startup_again_s"] = round(warm, 2)
            results["sizes"][str(n)] = entry
            print(json.dumps({n: entry}), file=sys.stderr, flush=True)
    results["load_average_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
