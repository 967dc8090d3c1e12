"""Crowd benchmark (#16): does the Space learn from all its shoppers, live?

A simulated population (bench/crowd_population.py: linked, control, noise) rates through the real
``python app.py`` — every rating a ``/rate`` call from gradio_client, one session per shopper, ``--clients``
concurrent clients in threads — at every crowd size (0, 10, 100, 1000 shoppers). After each stage newcomers rate
3 pieces of A through the app and ask for ``/recommend`` (the blend the Space serves); their hidden taste is the
other 7 pieces of A ∪ B. The same newcomers are scored in-process for visual-only (``Recommender.recommend``, what
the app served before #16) and CF-only (the crowd model's own ranking, fitted on the app's database).

How soon: a probe shopper (3 pieces of taste 0's A) polls ``/recommend`` while the crowd rates and notes, in crowd
ratings and seconds, when its picks first change and when 1 and 3 pieces of taste 0's B first enter its top 10.

Refresh cost (``--cost-shoppers``, in-process, medians): per crowd size, the refit before incremental refreshes
(``RatingStore.all_ratings`` + ``fit``), today's full refit (integer columns read inside SQLite) and an incremental
refresh after 25 new writes (20 ratings of existing shoppers, 4 of new ones, one clear), checked equal to a full
refit.

Request latency while refreshing (``--refresh-shoppers``): a large ratings database (written directly, in one
transaction, before the app starts) is served by a fresh app whose refresher refreshes on every new write;
``/recommend`` (k = 10, after 10 ratings) and ``/similar`` (k = 10), the round trips bench_space.py times, are timed
with the app idle (after its CPU went quiet: no refresh in flight), while a trickle of direct database writes keeps
the refresher busy — incremental (the default) and forced full (``JEWELREC_CROWD_INCREMENTAL=0``, the behaviour
before) — and with the same trickle but the crowd off (``JEWELREC_CROWD=0``: the writes' own cost). Prints JSON.

    python bench/bench_crowd.py                               # 720 pieces, linked + control + noise, 0/10/100/1000
    python bench/bench_crowd.py --sizes 0,10,100 --scenarios linked --newcomers 10 --refresh-shoppers 0
    python bench/bench_crowd.py --scenarios "" --cost-shoppers 10,100,1000,100000 --refresh-shoppers 1000,100000
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_space import percentiles, start_app, synthetic_bundle, timed  # noqa: E402
from crowd_population import K, crowd, metrics, newcomer, tastes  # noqa: E402

# gradio_client passes its ``ssl_verify`` to every httpx request it makes; a bool makes httpx build a new SSL
# context (and read the CA bundle) for each one — ~110 ms CPU per call on this box, 5x the app's own cost — so the
# raters share one context: the load on the app is then the calls, not the clients' certificate parsing.
SSL_CONTEXT = ssl.create_default_context()


def client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False, ssl_verify=SSL_CONTEXT)


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rate_crowd(url: str, people: list[list[tuple[str, int]]], clients: int, on_rating=None) -> dict:
    """Every shopper's ratings through /rate, one gradio session per shopper, ``clients`` threads."""
    queue = list(enumerate(people))
    lock, errors, samples = threading.Lock(), [], []

    def work() -> None:
        me = client(url)
        while True:
            with lock:
                if not queue:
                    return
                _, ratings = queue.pop(0)
            me.reset_session()  # a new shopper: a new session hash, the Space's identity for API clients
            for item, stars in ratings:
                t = time.perf_counter()
                try:
                    me.predict(item, stars, api_name="/rate")
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
    seconds = time.perf_counter() - t0
    n = sum(map(len, people))
    return {"shoppers": len(people), "ratings": n, "seconds": round(seconds, 1),
            "ratings_per_s": round(n / seconds, 1) if seconds else None, "errors": len(errors),
            "first_errors": errors[:2], "rate": percentiles(samples) if samples else {}}


class Prober:
    """A shopper who rated 3 pieces of taste 0's A; asks /recommend in a loop and notes when the picks change
    and when taste 0's B pieces enter the top 10 (seconds since the crowd began, crowd ratings sent, and the
    database's write counter and clock, for :func:`refresh_lag`)."""

    def __init__(self, url: str, taste: dict, store_path: Path):
        from jewelrec.space.ratings import RatingStore

        self.client = client(url)
        self.rated = {item: 5 for item in taste["A"][:3]}
        for item in self.rated:
            self.client.predict(item, 5, api_name="/rate")
        self.b = set(taste["B"])
        self.store = RatingStore(store_path)
        self.first = self.picks()
        self.samples: list[float] = []
        self.events: dict[str, dict] = {}
        self._stop = threading.Event()

    def picks(self) -> list[str]:
        return [r["item_id"] for r in self.client.predict(K, api_name="/recommend")]

    def loop(self, t0: float, counter) -> None:
        while not self._stop.is_set():
            t = time.perf_counter()
            now = self.picks()
            self.samples.append(time.perf_counter() - t)
            in_b = sum(i in self.b for i in now)
            for name, hit in (("picks_changed", now != self.first), ("1_B_piece", in_b >= 1),
                              ("3_B_pieces", in_b >= 3)):
                if hit and name not in self.events:
                    self.events[name] = {"seconds": round(time.perf_counter() - t0, 2), "crowd_ratings": counter(),
                                         "db_writes": self.store.writes(), "at": time.time()}

    def run(self, t0: float, counter) -> threading.Thread:
        self._stop.clear()
        thread = threading.Thread(target=self.loop, args=(t0, counter), daemon=True)
        thread.start()
        return thread

    def stop(self, thread: threading.Thread) -> None:
        self._stop.set()
        thread.join()


def refresh_lag(store_path: Path, bundle, prober: Prober) -> dict:
    """How long after the crowd had rated enough did the probe see it: for each B event, the shortest prefix of
    the database's write history (by bisection) on which the blend, fitted in-process with the Space's defaults,
    already gives the probe that many B pieces, and the ratings / seconds between that write and the probe's
    observation — the refresher's delay (every N ratings or T seconds) plus a poll."""
    import sqlite3

    from jewelrec.serving.blend import CrowdRecommender
    from jewelrec.serving.collaborative import CollaborativeModel
    from jewelrec.serving.recommender import Recommender

    db = sqlite3.connect(store_path)
    history = db.execute("SELECT id, user_id, item_id, stars, rated_at FROM rating_history ORDER BY id").fetchall()
    db.close()
    visual = Recommender(bundle)

    def b_pieces(upto: int) -> int:
        rows = [r for r in history if r[0] <= upto]
        latest = {(u, i): s for _, u, i, s, _ in rows}  # a re-rating replaces the earlier stars
        users, items, stars = zip(*((u, i, s) for (u, i), s in latest.items()))
        model = CollaborativeModel(bundle.item_ids).fit(list(items), list(users), list(stars))
        picks = CrowdRecommender(visual, lambda: model).recommend(prober.rated, K)
        return sum(i in prober.b for i, _, _ in picks)

    out = {}
    for name, need in (("1_B_piece", 1), ("3_B_pieces", 3)):
        event = prober.events.get(name)
        if event is None:
            continue
        lo, hi = 1, event["db_writes"]
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if b_pieces(mid) >= need else (mid + 1, hi)
        rated_at = next(r[4] for r in history if r[0] >= lo)
        out[name] = {"enough_after_write": lo, "seen_after_write": event["db_writes"],
                     "lag_ratings": event["db_writes"] - lo, "lag_s": round(event["at"] - rated_at, 2)}
    return out


def evaluate_newcomers(url: str, bundle, store_path: Path, taste_list: list[dict], n: int, rng) -> dict:
    """Newcomers rate 3 of A through the app; blended (app) vs visual-only and CF-only (in-process)."""
    from jewelrec.serving.blend import CrowdRecommender
    from jewelrec.serving.collaborative import CollaborativeModel
    from jewelrec.serving.recommender import Recommender
    from jewelrec.space.ratings import RatingStore

    visual_rec = Recommender(bundle)
    crowd_model = CollaborativeModel.from_store(RatingStore(store_path), bundle.item_ids)
    me = client(url)
    scores: dict[str, list[tuple[float, float]]] = {"blended": [], "visual": [], "cf": []}
    b_in_top, no_worse = [], 0
    for j in range(n):
        taste = taste_list[j % len(taste_list)]
        rated, hidden = newcomer(taste, rng)
        me.reset_session()
        for item in rated:
            me.predict(item, 5, api_name="/rate")
        served = [r["item_id"] for r in me.predict(K, api_name="/recommend")]
        ratings = {item: 5 for item in rated}
        visual = [i for i, _, _ in visual_rec.recommend(ratings, K)]
        rows, cf, _, _ = CrowdRecommender(visual_rec, lambda: crowd_model).links(crowd_model, ratings)
        cf_only = [bundle.item_ids[r] for r in rows[np.argsort(-cf, kind="stable")][:K]]
        scores["blended"].append(metrics(served, hidden))
        scores["visual"].append(metrics(visual, hidden))
        scores["cf"].append(metrics(cf_only, hidden))
        no_worse += scores["blended"][-1][0] >= scores["visual"][-1][0]
        b_in_top.append(sum(i in taste["B"] for i in served))
    out = {name: {"precision@10": round(float(np.mean([p for p, _ in v])), 3),
                  "ndcg@10": round(float(np.mean([g for _, g in v])), 3)} for name, v in scores.items()}
    out["newcomers"] = n
    out["newcomers_blend_p10_at_least_visual"] = no_worse
    out["B_pieces_in_served_top10"] = round(float(np.mean(b_in_top)), 2)
    out["crowd_model"] = crowd_model.summary()
    return out


def refit_ms(store_path: Path, item_ids, repeats: int = 3) -> float:
    """Median wall ms of one refit (read every rating from the store + fit), in this process."""
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
    people = crowd(bundle, scenario, taste_list, max(args.sizes), rng)
    result: dict = {"scenario": scenario, "stages": []}
    try:
        prober = Prober(url, taste_list[0], data / "ratings.db")
        quiet = []
        for _ in range(args.quiet_calls):
            t = time.perf_counter()
            prober.picks()
            quiet.append(time.perf_counter() - t)
        result["recommend_quiet"] = percentiles(quiet)
        done, written, lock = 0, [0], threading.Lock()

        def count() -> None:
            with lock:
                written[0] += 1

        t_crowd = None  # when the first crowd rating was sent
        for size in args.sizes:
            stage: dict = {"crowd": size}
            if size > done:
                t0 = time.perf_counter()
                t_crowd = t_crowd or t0
                before = written[0]
                thread = prober.run(t_crowd, lambda: written[0])
                cpu = process_cpu_s(proc.pid)
                stage["rating"] = rate_crowd(url, people[done:size], args.clients, on_rating=count)
                stage["rating"]["app_cpu_s_per_rating"] = round(
                    (process_cpu_s(proc.pid) - cpu) / max(written[0] - before, 1), 4)
                stage["last_crowd_rating_s"] = round(time.perf_counter() - t_crowd, 2)
                time.sleep(args.every_s + 1.5)  # the time trigger picks up the last few (< every_ratings) ratings
                prober.stop(thread)
                stage["recommend_while_rating_and_refitting"] = percentiles(prober.samples)
                prober.samples = []
                stage["probe_so_far"] = sorted(prober.events)
                done = size
            stage["refit_ms"] = refit_ms(data / "ratings.db", bundle.item_ids)
            stage["quality"] = evaluate_newcomers(url, bundle, data / "ratings.db", taste_list, args.newcomers, rng)
            result["stages"].append(stage)
            print(json.dumps({scenario: stage}), file=sys.stderr, flush=True)
        result["probe"] = {name: {k: v for k, v in e.items() if k != "at"} for name, e in prober.events.items()}
        result["probe_lag"] = refresh_lag(data / "ratings.db", bundle, prober)
    finally:
        proc.terminate()
        proc.wait(30)
    return result


def time_calls(me, item_ids: list[str], calls: int) -> dict:
    """``calls`` sequential /recommend (k = 10) and /similar (k = 10) round trips, as bench_space times them."""
    return timed({"recommend": lambda i: me.predict(10, api_name="/recommend"),
                  "similar": lambda i: me.predict(item_ids[i % len(item_ids)], 10, api_name="/similar")}, calls)


class Trickle:
    """One direct database write every 20 ms (another thread, not HTTP): the refresher always has a new rating."""

    def __init__(self, db: Path, item_ids: list[str]):
        self.db, self.item_ids, self.writes = db, item_ids, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from jewelrec.space.ratings import RatingStore

        store, n = RatingStore(self.db), len(self.item_ids)
        while not self._stop.is_set():
            store.rate(f"trickle-{self.writes % 500}", self.item_ids[self.writes % n], 1 + self.writes % 5)
            self.writes += 1
            time.sleep(0.02)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> int:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        return self.writes


def crowd_db(args, bundle, shoppers: int, path: Path, scenario: str = "linked") -> int:
    """A crowd of ``shoppers`` written straight into a new ratings database (one transaction); its size."""
    import pandas as pd

    from jewelrec.evaluation.synthetic_ratings import write_ratings_db

    rng = np.random.default_rng(args.seed)
    people = crowd(bundle, scenario, tastes(bundle, scenario, args.tastes, rng), shoppers, rng)
    rows = [(f"crowd-{s}", item, stars, 1_767_225_600 + s) for s, ratings in enumerate(people)
            for item, stars in ratings]
    write_ratings_db(pd.DataFrame(rows, columns=["user_id", "item_id", "stars", "updated_at"]), path)
    return len(rows)


def refresh_costs(args, tmp: Path) -> list[dict]:
    """Per crowd size: ms of the refit before incremental refreshes, of a full refit and of an incremental
    refresh after 25 writes (medians of ``--cost-repeats``); the incremental model is checked equal to a full one."""
    from jewelrec.serving.collaborative import CollaborativeModel
    from jewelrec.space.crowd import CrowdRefresher, CrowdSettings
    from jewelrec.space.ratings import RatingStore

    bundle = synthetic_bundle(args.items, n_clusters=12, seed=args.seed)
    ids, out = list(bundle.item_ids), []
    for scenario, shoppers in ((c, n) for c in args.cost_scenarios.split(",") for n in args.cost_shoppers):
        path = tmp / f"cost-{scenario}-{shoppers}.db"
        ratings = crowd_db(args, bundle, shoppers, path, scenario)
        store, times = RatingStore(path), {"before_all_ratings_fit": [], "full": [], "incremental": []}
        for _ in range(args.cost_repeats):
            t = time.perf_counter()
            users, items, stars = store.all_ratings()
            CollaborativeModel(ids).fit(items, users, stars)
            times["before_all_ratings_fit"].append(time.perf_counter() - t)
        crowd_model = CrowdRefresher(store, ids, CrowdSettings())
        for _ in range(args.cost_repeats):
            t = time.perf_counter()
            crowd_model._totals = None  # noqa: SLF001  (forget the totals: the next refresh is a full refit)
            crowd_model.refresh()
            times["full"].append(time.perf_counter() - t)
        rng = np.random.default_rng(args.seed + shoppers)
        for r in range(args.cost_repeats):
            for w in range(25):  # 20 ratings by existing shoppers, 4 by new ones, one clear
                if w == 24:
                    store.clear(f"crowd-{int(rng.integers(shoppers))}")
                else:
                    who = f"crowd-{int(rng.integers(shoppers))}" if w < 20 else f"late-{r}-{w}"
                    store.rate(who, str(rng.choice(ids)), int(rng.integers(1, 6)))
            t = time.perf_counter()
            crowd_model.refresh()
            times["incremental"].append(time.perf_counter() - t)
            assert crowd_model.last_kind == "incremental", crowd_model.last_error
        full = CollaborativeModel.from_store(store, ids)
        equal = all(np.array_equal(getattr(full, n).data, getattr(crowd_model.model, n).data)
                    and np.array_equal(getattr(full, n).indices, getattr(crowd_model.model, n).indices)
                    for n in ("similarity_", "co_raters_", "co_lovers_"))
        row = {"population": scenario, "shoppers": shoppers, "ratings": ratings, "links": full.n_pairs, "equal_to_full_refit": bool(equal)}
        row.update({f"{k}_ms": round(1000 * float(np.median(v)), 1) for k, v in times.items()})
        out.append(row)
        print(json.dumps({"refresh_cost": row}), file=sys.stderr, flush=True)
    return out


def wait_quiet(pid: int, window_s: float = 1.0, below: float = 0.05, timeout_s: float = 120.0) -> float:
    """Wait until the app used under ``below`` CPU seconds per second over a ``window_s`` window (no refresh in
    flight: the refresher only works when there are writes); seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        cpu = process_cpu_s(pid)
        time.sleep(window_s)
        if process_cpu_s(pid) - cpu < below * window_s:
            return round(time.perf_counter() - t0, 1)
    raise RuntimeError(f"the app did not go quiet within {timeout_s} s")


def refresh_run(args, tmp: Path, shoppers: int) -> dict:
    """Request latency idle vs refreshing back to back (incremental, forced full) vs crowd off (see the docstring)."""
    rng = np.random.default_rng(args.seed)
    bundle = synthetic_bundle(args.items, n_clusters=12, seed=args.seed)
    bundle_dir = bundle.save(tmp / f"bundle-refresh-{shoppers}")
    data = tmp / f"data-refresh-{shoppers}"
    data.mkdir(parents=True)
    out: dict = {"shoppers": shoppers, "ratings": crowd_db(args, bundle, shoppers, data / "ratings.db")}
    ids = list(bundle.item_ids)
    for label, crowd_on, incremental in (("incremental", True, True), ("full", True, False),
                                         ("crowd_off", False, True)):
        os.environ.update({"JEWELREC_CROWD": "1" if crowd_on else "0", "JEWELREC_CROWD_EVERY_RATINGS": "1",
                           "JEWELREC_CROWD_EVERY_S": "1", "JEWELREC_CROWD_INCREMENTAL": "1" if incremental else "0"})
        proc, url, started = start_app(bundle_dir, data, tmp / "home")
        try:
            me = client(url)
            for i, item in enumerate(rng.choice(ids, 10, replace=False)):
                me.predict(str(item), 1 + i % 5, api_name="/rate")
            conditions = (["idle"] if label == "incremental" else []) + ["trickle"]
            for condition in conditions:
                waited = wait_quiet(proc.pid)  # the refreshes those ratings (or the last trickle) set off are over
                writer = Trickle(data / "ratings.db", ids)
                if condition == "trickle":
                    writer.start()
                    time.sleep(2)  # the refresher is under way
                cpu, wall = process_cpu_s(proc.pid), time.perf_counter()
                timed = time_calls(me, ids, args.refresh_calls)
                cpu, wall = process_cpu_s(proc.pid) - cpu, time.perf_counter() - wall
                writes = writer.stop()
                name = "idle" if condition == "idle" else {"incremental": "refreshing_incremental",
                                                           "full": "refreshing_full_refits",
                                                           "crowd_off": "writes_only_crowd_off"}[label]
                out[name] = {**timed, "direct_writes": writes, "seconds": round(wall, 1),
                             "app_cpu_s_per_s": round(cpu / wall, 2), "waited_for_quiet_s": waited}
                print(json.dumps({"refresh_latency": {shoppers: {name: out[name]}}}), file=sys.stderr, flush=True)
            out[f"app_start_s_{label}"] = round(started, 1)
        finally:
            proc.terminate()
            proc.wait(30)
    os.environ.update({"JEWELREC_CROWD": "1", "JEWELREC_CROWD_INCREMENTAL": "1"})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--items", type=int, default=720)
    parser.add_argument("--sizes", default="0,10,100,1000", help="cumulative crowd sizes")
    parser.add_argument("--scenarios", default="linked,control,noise")
    parser.add_argument("--tastes", type=int, default=4)
    parser.add_argument("--newcomers", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8, help="concurrent gradio_client raters (threads)")
    parser.add_argument("--every-ratings", type=int, default=25, help="JEWELREC_CROWD_EVERY_RATINGS (the default)")
    parser.add_argument("--every-s", type=float, default=10.0, help="JEWELREC_CROWD_EVERY_S (Space default 30)")
    parser.add_argument("--quiet-calls", type=int, default=30)
    parser.add_argument("--refresh-shoppers", default="1000,100000",
                        help="crowd sizes behind the refresh-latency runs (empty or 0: skip them)")
    parser.add_argument("--cost-shoppers", default="10,100,1000,100000",
                        help="crowd sizes of the in-process refresh-cost table (empty or 0: skip it)")
    parser.add_argument("--cost-scenarios", default="linked,noise",
                        help="populations of the refresh-cost table (noise: 7 random pieces each, dense pairs)")
    parser.add_argument("--cost-repeats", type=int, default=3, help="refreshes per kind and size (median)")
    parser.add_argument("--refresh-calls", type=int, default=200, help="timed calls per endpoint and condition")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.refresh_shoppers = [int(s) for s in args.refresh_shoppers.split(",") if s.strip() and int(s)]
    args.cost_shoppers = [int(s) for s in args.cost_shoppers.split(",") if s.strip() and int(s)]
    report = {"items": args.items, "tastes": args.tastes, "clients": args.clients,
              "every_ratings": args.every_ratings, "every_s": args.every_s, "cpus": os.cpu_count(),
              "load_before": os.getloadavg()[0], "scenarios": []}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in filter(None, args.scenarios.split(",")):
            report["scenarios"].append(scenario_run(scenario, args, Path(tmp)))
        if args.cost_shoppers:
            report["refresh_cost"] = refresh_costs(args, Path(tmp))
        report["refresh"] = [refresh_run(args, Path(tmp), n) for n in args.refresh_shoppers]
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["load_after"] = os.getloadavg()[0]
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
