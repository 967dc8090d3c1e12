"""Space benchmarks: start-up with a cached bundle, gradio_client round trips, concurrent rating writers beside
a bare gradio echo endpoint, and in a real browser: the first page load's transfer size, time to interactive,
and how long a star click takes to show in For you.

Each size runs `python app.py` as a subprocess (JEWELREC_BUNDLE = a synthetic bundle saved to a temp dir) and
drives it with gradio_client over HTTP, as a real client would; the browser part drives Debian's chromium with
Playwright. The echo baseline is a one-endpoint gradio app (`gr.api(echo)`, same launch settings) hit the same
way in the same run: gradio's own floor for a write on this box. Prints one JSON object.

    python bench/bench_space.py                      # the sample's size (720) and 10k items
    python bench/bench_space.py --sizes 720 --calls 50 --clicks 20
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
    from jewelrec.clustering import soft_assign
    from jewelrec.serving.bundle import Bundle

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.arange(n_items) % n_clusters
    emb = centres[labels] + 0.1 * rng.normal(size=(n_items, dim)).astype(np.float32)  # (n, dim)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    metals = np.array(["gold", "silver", "rose gold", "platinum"])
    cats = np.array(["ring", "necklace", "earrings", "bracelet", "pendant", "brooch"])
    items = pd.DataFrame({"item_id": [f"it-{i:06d}" for i in range(n_items)],
                          "name": [f"{metals[c % 4]} {cats[c % 6]} {i}" for i, c in enumerate(labels)],
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
    return timed({"recommend": lambda i: client.predict(10, api_name="/recommend"),
                  "similar": lambda i: client.predict(item_ids[i % len(item_ids)], 10, api_name="/similar"),
                  "rate": lambda i: client.predict(item_ids[i % len(item_ids)], 1 + i % 5, api_name="/rate")}, calls)


def timed(calls_by_name: dict, calls: int) -> dict[str, dict[str, float]]:
    """Each ``call(i)`` 5 times to warm up, then ``calls`` sequential times: latency percentiles per name."""
    out = {}
    for name, call in calls_by_name.items():
        for i in range(5):
            call(i)  # warm-up
        samples = []
        for i in range(calls):
            t = time.perf_counter()
            call(i)
            samples.append(time.perf_counter() - t)
        out[name] = percentiles(samples)
    return out


def concurrent_calls(url: str, clients: int, per_client: int, api_name: str, args_of) -> dict:
    """``clients`` gradio_client sessions, released together by a barrier, each making ``per_client`` calls of
    ``api_name`` with ``args_of(client, i)``: seconds, calls/s, errors."""
    from gradio_client import Client

    users = [Client(url, verbose=False) for _ in range(clients)]
    errors: list[str] = []
    barrier = threading.Barrier(clients)

    def work(c: int) -> None:
        barrier.wait()
        for i in range(per_client):
            try:
                users[c].predict(*args_of(c, i), api_name=api_name)
            except Exception as exc:  # counted and reported
                errors.append(repr(exc)[:200])

    threads = [threading.Thread(target=work, args=(c,)) for c in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    return {"clients": clients, "calls_each": per_client, "sent": clients * per_client, "errors": len(errors),
            "first_errors": errors[:3], "seconds": round(elapsed, 2),
            "calls_per_s": round(clients * per_client / elapsed, 1), "users": users}


def concurrent_writers(url: str, item_ids: list[str], db: Path, clients: int, per_client: int) -> dict:
    before = sqlite3.connect(db).execute("SELECT COUNT(*) FROM ratings").fetchone()[0]
    out = concurrent_calls(url, clients, per_client, "/rate",
                           lambda c, i: (item_ids[(c * 7 + i) % len(item_ids)], 1 + (c + i) % 5))
    users = out.pop("users")
    stored = sqlite3.connect(db).execute("SELECT COUNT(*) FROM ratings").fetchone()[0] - before
    per_user_ok = sum(len(u.predict(api_name="/my_ratings")) == per_client for u in users)
    return out | {"stored_rows": stored, "clients_with_all_their_ratings": per_user_ok,
                  "none_lost": stored == clients * per_client and per_user_ok == clients}


ECHO_APP = """
import os, time
import gradio as gr
from jewelrec.space.ui import launch_kwargs
def echo(item_id: str, stars: int) -> str:
    return f"{item_id} {stars}"
with gr.Blocks() as demo:
    gr.api(echo, api_name="echo", concurrency_limit=None)
demo.queue(max_size=None)
demo.launch(prevent_thread_lock=True, quiet=True, **(launch_kwargs(os.environ["ECHO_DATA"])
            | {"server_port": int(os.environ["GRADIO_SERVER_PORT"])}))
while True:
    time.sleep(3600)
"""


def start_echo(tmp: Path) -> tuple[subprocess.Popen, str]:
    """A bare gradio app with one echo endpoint and the Space's launch settings: gradio's own cost per call."""
    import httpx

    port = free_port()
    env = os.environ | {"GRADIO_SERVER_PORT": str(port), "ECHO_DATA": str(tmp), "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen([sys.executable, "-c", ECHO_APP], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.perf_counter() + 120
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"echo app exited: {proc.stderr.read()[-2000:]}")
        try:
            if httpx.get(url + "config", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if time.perf_counter() > deadline:
            proc.kill()
            raise RuntimeError("echo app did not answer within 120 s")
        time.sleep(0.1)


def echo_baseline(url: str, clients: int, per_client: int) -> dict:
    """The writers' concurrent load on the echo endpoint, then one client alone (gradio's own round trip)."""
    out = concurrent_calls(url, clients, per_client, "/echo", lambda c, i: (f"it-{c}-{i}", 1 + i % 5))
    client = out.pop("users")[0]
    samples = []
    for i in range(30):
        t = time.perf_counter()
        client.predict("it", 1 + i % 5, api_name="/echo")
        samples.append(time.perf_counter() - t)
    return out | {"round_trip": percentiles(samples[5:])}


def handler_breakdown(bundle_dir: Path, data_dir: Path, calls: int = 50) -> dict:
    """Where a star click's server time goes, in-process (no gradio): the SQLite write, the recommender, the
    For you cards' HTML and its details table. The rest of the click is gradio's queue, the network and the
    browser's render (the browser timing minus these)."""
    from jewelrec.serving.bundle import Bundle
    from jewelrec.space import SpaceService, views
    from jewelrec.space.ratings import RatingStore

    service = SpaceService.start(Bundle.load(bundle_dir), {"notice": "bench"}, RatingStore(data_dir / "split.db"))
    ids = service.bundle.item_ids
    parts: dict[str, list[float]] = {"save_rating": [], "recommend": [], "cards_html": [], "details_table": []}
    for i in range(calls + 5):
        t0 = time.perf_counter()
        service.rate("bench", ids[(i * 37) % len(ids)], 1 + i % 5)
        t1 = time.perf_counter()
        hits = service.recommender.recommend(service.current_ratings("bench")[0], k=8)
        t2 = time.perf_counter()
        views.grid(service.hit_cards(hits))
        t3 = time.perf_counter()
        service.table(hits)
        t4 = time.perf_counter()
        if i >= 5:  # warm caches first, as a running Space has them
            for key, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                parts[key].append(dt)
    return {key: percentiles(v) for key, v in parts.items()}


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

# click one star and resolve with the ms until For you's cards change (the answer has arrived and rendered)
CLICK_JS = """async ([slot, stars]) => {
  // the click's answer carries the save confirmation and For you's new cards together; the confirmation always
  // changes (it counts the ratings), the cards only when the picks do, so both are watched: ms until each
  const status = () => document.querySelector('#rate-status [data-testid=markdown]')?.textContent ?? '';
  const picks = () => [...document.querySelectorAll('#foryou-cards .jr-card')]
    .map((c) => c.dataset.item + c.textContent).join('|');  // the cards themselves, not gradio's status markup
  const star = document.querySelectorAll('#rate-cards .jr-card')[slot].querySelector(`[data-stars="${stars}"]`);
  const [status0, picks0] = [status(), picks()];
  const t0 = performance.now();
  let answered = -1, cards = -1;
  star.click();
  while (performance.now() - t0 < 10000 && (answered < 0 || cards < 0)) {
    await new Promise((resolve) => requestAnimationFrame(resolve));  // checked once per frame
    if (answered < 0 && status() !== status0) answered = performance.now() - t0;
    if (cards < 0 && picks() !== picks0) cards = performance.now() - t0;
    if (answered >= 0 && performance.now() - t0 > answered + 200) break;  // same answer: the picks stayed
  }
  return [answered, cards];
}"""


def browser_timings(url: str, clicks: int) -> dict:
    """First page load (bytes over the wire, time until the Rate cards can be clicked), then ``clicks`` star
    clicks each timed until For you shows the new picks. Debian's chromium via Playwright."""
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("PLAYWRIGHT_BROWSERS_PATH", "/nonexistent")  # never download a browser
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            cdp = page.context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
            sizes: dict[str, int] = {}
            cdp.on("Network.loadingFinished", lambda e: sizes.__setitem__(e["requestId"], e["encodedDataLength"]))
            t0 = time.perf_counter()
            page.goto(url, wait_until="load")
            page.locator("#rate-cards .jr-star").first.wait_for(timeout=60_000)
            interactive = time.perf_counter() - t0
            quiet = time.perf_counter()  # gradio keeps a stream open, so "network idle" never comes:
            seen = len(sizes)            # wait for 2 s without a finished request instead
            while time.perf_counter() - quiet < 2.0:
                page.wait_for_timeout(200)
                if len(sizes) != seen:
                    seen, quiet = len(sizes), time.perf_counter()
            first_load = sum(sizes.values())
            page.get_by_role("tab", name="For you").click()  # mount For you once, then rate from Rate
            page.get_by_role("tab", name="Rate").click()
            answered, changed, missed = [], [], 0
            for i in range(clicks):
                if i and i % 8 == 0:  # a fresh page of unrated pieces
                    page.get_by_role("button", name="Show me others").click()
                    page.wait_for_timeout(500)
                saved_ms, cards_ms = page.evaluate(CLICK_JS, [i % 8, 5 if i % 3 else 2])
                if saved_ms < 0:
                    missed += 1
                else:
                    answered.append(saved_ms / 1000)
                if cards_ms >= 0:
                    changed.append(cards_ms / 1000)
                page.wait_for_timeout(150)
        finally:
            browser.close()
    return {"first_load_bytes": first_load, "first_load_mb": round(first_load / 2**20, 2),
            "requests": len(sizes), "time_to_interactive_s": round(interactive, 2),
            # the answer (For you's cards and the confirmation, rendered together); and, of the clicks that changed
            # the picks, the time until the new cards showed
            "star_click_to_for_you": with_p95(answered) | {"no_answer_in_10_s": missed},
            "star_click_to_new_picks": with_p95(changed) | {"clicks_that_changed_the_picks": len(changed)}}


def with_p95(samples: list[float]) -> dict:
    if not samples:
        return {"calls": 0}
    return percentiles(samples) | {"p95_ms": round(float(np.percentile(np.array(samples) * 1000, 95)), 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[720, 10_000])
    p.add_argument("--calls", type=int, default=200, help="timed calls per endpoint (0: skip)")
    p.add_argument("--clients", type=int, default=30)
    p.add_argument("--ratings-each", type=int, default=30, help="concurrent /rate calls per client (0: skip)")
    p.add_argument("--clicks", type=int, default=40, help="timed star clicks in the browser (0: no browser)")
    args = p.parse_args(argv)
    results: dict = {"cpu_count": os.cpu_count(), "load_average_before": os.getloadavg(), "sizes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        echo_proc, echo_url = start_echo(tmp / "echo") if args.ratings_each else (None, None)
        for n in args.sizes:
            bundle = synthetic_bundle(n)
            bundle_dir = bundle.save(tmp / f"bundle-{n}")
            data = tmp / f"data-{n}"
            proc, url, cold = start_app(bundle_dir, data, tmp / "home")
            try:
                entry = {"startup_s": round(cold, 2)}
                if args.calls:
                    entry["round_trip"] = round_trips(url, bundle.item_ids, args.calls)
                if args.ratings_each:  # the echo's run right before the writers': the same load on the box
                    echo = entry["echo"] = echo_baseline(echo_url, args.clients, args.ratings_each)
                    writes = concurrent_writers(url, bundle.item_ids, data / "ratings.db", args.clients,
                                                args.ratings_each)
                    writes["vs_echo"] = round(writes["calls_per_s"] / echo["calls_per_s"], 3)
                    entry["concurrent_ratings"] = writes
                if args.clicks:
                    entry["browser"] = browser_timings(url, args.clicks)
                entry["star_click_server_parts"] = handler_breakdown(bundle_dir, data)
            finally:
                proc.terminate()
                proc.wait(20)
            proc, _, warm = start_app(bundle_dir, data, tmp / "home")  # second start: OS caches warm
            proc.terminate()
            proc.wait(20)
            entry["startup_again_s"] = round(warm, 2)
            results["sizes"][str(n)] = entry
            print(json.dumps({n: entry}), file=sys.stderr, flush=True)
        if echo_proc is not None:
            echo_proc.terminate()
            echo_proc.wait(20)
    results["load_average_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
