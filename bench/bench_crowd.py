"""Crowd benchmark (#16): does the Space learn from all its shoppers, live?

A simulated population rates through the real ``python app.py`` (gradio_client, one session per shopper, several
concurrent clients). Each taste t links a group A_t of 5 pieces with a group B_t of 5 pieces:

* ``linked``: B_t is drawn from a different visual style than A_t (pieces that do not look alike);
* ``control``: B_t is drawn from A_t's own style (the crowd says what the pictures say).

A crowd shopper of taste t rates 3 of A_t and 3 of B_t 5★ and a piece that looks like A_t but is not in it 2★.
As the crowd grows (0, 10, 100, 1000 shoppers), newcomers rate 3 pieces of A_t through the app and ask for
``/recommend`` (the blend the Space serves); their hidden taste is the other 7 pieces of A_t ∪ B_t. The same
newcomers are scored in-process for visual-only (``Recommender.recommend``, what the app served before #16) and
CF-only (the crowd model's own ranking, fitted on the app's database). Also: how many ratings / seconds until a
probe shopper's picks change while the first shoppers rate, the refit cost at each size, and ``/recommend``
latency while the crowd rates (the refresher refits every ``--every-ratings``) against a quiet app. Prints JSON.

    python bench/bench_crowd.py                               # 720 pieces, both scenarios, 0/10/100/1000
                                                              # (shoppers past --app-max written to the DB directly)
    python bench/bench_crowd.py --sizes 0,10,100 --scenarios linked --newcomers 10
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_space import percentiles, start_app, synthetic_bundle  # noqa: E402

GROUP = 5  # pieces per taste group
K = 10


def tastes(bundle, scenario: str, n_tastes: int, rng: np.random.Generator) -> list[dict]:
    """Per taste: A (style s), B (another style: linked; style s: control), and look-alikes of A (style s, not A)."""
    labels, ids = bundle.labels, np.asarray(bundle.item_ids, dtype=object)
    n_styles = int(labels.max()) + 1
    out, used = [], set()
    for t in range(n_tastes):
        s_a = t % n_styles
        s_b = (s_a + n_styles // 2) % n_styles if scenario == "linked" else s_a
        pool_a = [i for i in ids[labels == s_a] if i not in used]
        a = list(rng.choice(pool_a, GROUP, replace=False))
        used.update(a)
        pool_b = [i for i in ids[labels == s_b] if i not in used]
        b = list(rng.choice(pool_b, GROUP, replace=False))
        used.update(b)
        alike = [i for i in ids[labels == s_a] if i not in a and i not in b]
        out.append({"A": [str(x) for x in a], "B": [str(x) for x in b], "alike": [str(x) for x in alike]})
    return out


def crowd_ratings(taste: dict, rng: np.random.Generator) -> list[tuple[str, int]]:
    picks = [(str(i), 5) for i in rng.choice(taste["A"], 3, replace=False)]
    picks += [(str(i), 5) for i in rng.choice(taste["B"], 3, replace=False)]
    return picks + [(str(rng.choice(taste["alike"])), 2)]


def metrics(picked: list[str], hidden: set[str]) -> tuple[float, float]:
    hits = [1.0 if p in hidden else 0.0 for p in picked[:K]]
    dcg = sum(h / np.log2(i + 2) for i, h in enumerate(hits))
    ideal = sum(1 / np.log2(i + 2) for i in range(min(K, len(hidden))))
    return sum(hits) / K, dcg / ideal if ideal else 0.0


def rate_crowd(url: str, people: list[list[tuple[str, int]]], clients: int, on_rating=None) -> dict:
    """Every shopper's ratings through /rate, one gradio session per shopper, ``clients`` threads."""
    from gradio_client import Client

    queue = list(enumerate(people))
    lock, errors, samples = threading.Lock(), [], []

    def work() -> None:
        client = Client(url, verbose=False)
        while True:
            with lock:
                if not queue:
                    return
                _, ratings = queue.pop(0)
            client.reset_session()  # a new shopper: a new session hash, the Space's identity for API clients
            for item, stars in ratings:
                t = time.perf_counter()
                try:
                    client.predict(item, stars, api_name="/rate")
                except Exception as exc:  # counted and reported
                    errors.append(repr(exc)[:200])
                samples.append(time.perf_counter() - t)
                if on_rating is not None:
                    on_rating()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return {"shoppers": len(people), "ratings": sum(map(len, people)), "seconds": round(time.perf_counter() - t0, 1),
            "errors": len(errors), "first_errors": errors[:2], "rate": percentiles(samples) if samples else {}}


class Prober:
    """A shopper who rated 3 pieces of taste 0's A; asks /recommend in a loop and notes when the picks change."""

    def __init__(self, url: str, taste: dict):
        from gradio_client import Client

        self.client = Client(url, verbose=False)
        for item in taste["A"][:3]:
            self.client.predict(item, 5, api_name="/rate")
        self.first = self.picks()
        self.samples: list[float] = []
        self.changed_at: tuple[float, int] | None = None
        self.ratings_seen = 0
        self._stop = threading.Event()

    def picks(self) -> list[str]:
        return [r["item_id"] for r in self.client.predict(K, api_name="/recommend")]

    def loop(self, t0: float, counter) -> None:
        while not self._stop.is_set():
            t = time.perf_counter()
            now = self.picks()
            self.samples.append(time.perf_counter() - t)
            if self.changed_at is None and now != self.first:
                self.changed_at = (time.perf_counter() - t0, counter())

    def run(self, t0: float, counter) -> threading.Thread:
        self._stop.clear()
        thread = threading.Thread(target=self.loop, args=(t0, counter), daemon=True)
        thread.start()
        return thread

    def stop(self, thread: threading.Thread) -> None:
        self._stop.set()
        thread.join()


def evaluate_newcomers(url: str, bundle, store_path: Path, taste_list: list[dict], n: int, rng) -> dict:
    """Newcomers rate 3 of A through the app; blended (app) vs visual-only and CF-only (in-process)."""
    from gradio_client import Client

    from jewelrec.serving.blend import CrowdRecommender
    from jewelrec.serving.collaborative import CollaborativeModel
    from jewelrec.serving.recommender import Recommender
    from jewelrec.space.ratings import RatingStore

    visual_rec = Recommender(bundle)
    fitted = time.perf_counter()
    crowd = CollaborativeModel.from_store(RatingStore(store_path), bundle.item_ids)
    likes_only = CollaborativeModel(bundle.item_ids, dislikes=False).fit(*_columns(RatingStore(store_path)))
    fitted = time.perf_counter() - fitted
    blend_likes_only = CrowdRecommender(visual_rec, lambda: likes_only)
    client = Client(url, verbose=False)
    scores: dict[str, list[tuple[float, float]]] = {"blended": [], "visual": [], "cf": [], "blended_likes_only": []}
    b_in_top = []
    for j in range(n):
        taste = taste_list[j % len(taste_list)]
        rated = [str(i) for i in rng.choice(taste["A"], 3, replace=False)]
        hidden = (set(taste["A"]) | set(taste["B"])) - set(rated)
        client.reset_session()
        for item in rated:
            client.predict(item, 5, api_name="/rate")
        served = [r["item_id"] for r in client.predict(K, api_name="/recommend")]
        ratings = {item: 5 for item in rated}
        visual = [i for i, _, _ in visual_rec.recommend(ratings, K)]
        rows, cf, _, _ = CrowdRecommender(visual_rec, lambda: crowd).links(crowd, ratings)
        cf_only = [bundle.item_ids[r] for r in rows[np.argsort(-cf, kind="stable")][:K]]
        scores["blended"].append(metrics(served, hidden))
        scores["visual"].append(metrics(visual, hidden))
        scores["cf"].append(metrics(cf_only, hidden))
        scores["blended_likes_only"].append(metrics([i for i, _, _ in blend_likes_only.recommend(ratings, K)],
                                                    hidden))
        b_in_top.append(sum(i in taste["B"] for i in served))
    out = {name: {"precision@10": round(float(np.mean([p for p, _ in v])), 3),
                  "ndcg@10": round(float(np.mean([g for _, g in v])), 3)} for name, v in scores.items()}
    out["newcomers"] = n
    out["B_pieces_in_served_top10"] = round(float(np.mean(b_in_top)), 2)
    out["crowd_model"] = crowd.summary()
    return out


def _columns(store):
    users, items, stars = store.all_ratings()
    return items, users, stars


def direct_writes(store_path: Path, first: int, people: list[list[tuple[str, int]]], on_rating) -> dict:
    """Ratings written with RatingStore.rate into the live app's database (the app's refresher notices them
    through the store's write counter), for crowd sizes the app cannot take through HTTP in the time box."""
    from jewelrec.space.ratings import RatingStore

    store, t0 = RatingStore(store_path), time.perf_counter()
    for s, ratings in enumerate(people):
        for item, stars in ratings:
            store.rate(f"direct:{first + s}", item, stars)
            on_rating()
    return {"shoppers": len(people), "ratings": sum(map(len, people)), "seconds": round(time.perf_counter() - t0, 1)}


def refit_ms(store_path: Path, item_ids, repeats: int = 3) -> float:
    from jewelrec.serving.collaborative import CollaborativeModel
    from jewelrec.space.ratings import RatingStore

    store, times = RatingStore(store_path), []
    for _ in range(repeats):
        t = time.perf_counter()
        CollaborativeModel.from_store(store, item_ids)
        times.append(time.perf_counter() - t)
    return round(1000 * float(np.median(times)), 1)


def scenario_run(scenario: str, args, tmp: Path) -> dict:
    rng = np.random.default_rng(args.seed)
    bundle = synthetic_bundle(args.items, n_clusters=12, seed=args.seed)
    bundle_dir = bundle.save(tmp / f"bundle-{scenario}")
    data = tmp / f"data-{scenario}"
    os.environ["JEWELREC_CROWD_EVERY_RATINGS"] = str(args.every_ratings)
    os.environ["JEWELREC_CROWD_EVERY_S"] = str(args.every_s)
    proc, url, _ = start_app(bundle_dir, data, tmp / "home")
    taste_list = tastes(bundle, scenario, args.tastes, rng)
    result: dict = {"scenario": scenario, "stages": []}
    try:
        prober = Prober(url, taste_list[0])
        quiet = [0.0] * 0
        for _ in range(args.quiet_calls):
            t = time.perf_counter()
            prober.picks()
            quiet.append(time.perf_counter() - t)
        result["recommend_quiet"] = percentiles(quiet)
        done, written = 0, [0]
        lock = threading.Lock()

        def count() -> None:
            with lock:
                written[0] += 1

        for size in args.sizes:
            stage: dict = {"crowd": size}
            people = [crowd_ratings(taste_list[s % len(taste_list)], rng) for s in range(done, size)]
            if people:
                t0 = time.perf_counter()
                written[0] = 0
                thread = prober.run(t0, lambda: written[0])
                through_app = people[: max(0, args.app_max - done)]
                stage["rating"] = rate_crowd(url, through_app, args.clients, on_rating=count)
                if len(people) > len(through_app):  # the rest straight into the app's database (stated in JSON)
                    stage["rating"]["direct_store_writes"] = direct_writes(data / "ratings.db", done + len(through_app),
                                                                           people[len(through_app):], count)
                last = time.perf_counter() - t0
                time.sleep(args.every_s + 1.5)  # the time trigger picks up the last few (< every_ratings) ratings
                prober.stop(thread)
                stage["recommend_while_rating_and_refitting"] = percentiles(prober.samples)
                prober.samples = []
                if prober.changed_at is not None and "probe_first_change" not in result:
                    result["probe_first_change"] = {
                        "crowd_stage": size, "seconds_after_crowd_started": round(prober.changed_at[0], 2),
                        "crowd_ratings_before_change": prober.changed_at[1],
                        "crowd_rating_seconds": round(last, 2)}
                done = size
            stage["refit_ms"] = refit_ms(data / "ratings.db", bundle.item_ids)
            stage["quality"] = evaluate_newcomers(url, bundle, data / "ratings.db", taste_list, args.newcomers, rng)
            result["stages"].append(stage)
            print(json.dumps({scenario: stage}), file=sys.stderr, flush=True)
    finally:
        proc.terminate()
        proc.wait(30)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--items", type=int, default=720)
    parser.add_argument("--sizes", default="0,10,100,1000", help="cumulative crowd sizes")
    parser.add_argument("--scenarios", default="linked,control")
    parser.add_argument("--tastes", type=int, default=4)
    parser.add_argument("--newcomers", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4, help="concurrent gradio_client raters")
    parser.add_argument("--every-ratings", type=int, default=25, help="JEWELREC_CROWD_EVERY_RATINGS (the default)")
    parser.add_argument("--every-s", type=float, default=10.0, help="JEWELREC_CROWD_EVERY_S (Space default 30)")
    parser.add_argument("--app-max", type=int, default=100,
                        help="shoppers rated through the app; the rest of the crowd is written to its DB directly")
    parser.add_argument("--quiet-calls", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",")]
    report = {"items": args.items, "tastes": args.tastes, "group": GROUP, "clients": args.clients,
              "every_ratings": args.every_ratings, "every_s": args.every_s, "cpus": os.cpu_count(), "scenarios": []}
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in args.scenarios.split(","):
            report["scenarios"].append(scenario_run(scenario, args, Path(tmp)))
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
