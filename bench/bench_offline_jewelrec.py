"""The shipped recommender in the offline evaluator: jewelrec next to ALS / EASE / hybrid / visual on a Space-like
rating log, through ``training.evaluate``'s own code path.

    python bench/bench_offline_jewelrec.py                       # the sample bundle (built with training.fit if missing)
    python bench/bench_offline_jewelrec.py --bundle artifacts --seeds 5 --shoppers 500

Per seed, simulated shoppers (jewelrec.evaluation.synthetic_ratings: hidden tastes over category / metal, the Rate
tab's first page plus pieces they browse, star noise, 1–2★ dislikes) rate the bundle's catalog into a ratings
database in the Space's schema; the evaluator runs every model on one random split (``--test-fraction`` of each
shopper's positive ratings held out). Two readings of "relevant": the preset's (a held-out 3–5★) and 4–5★ only
(``rating_confidence: {1: 0, 2: 0, 3: 0, 4: 1, 5: 2}``). ``jewelrec (dislikes dropped)`` is the same model on the
same log less its 1–2★ rows — what the preset used to hand it — and, since the split is made on the positive rows
alone, on exactly the same split. Prints JSON: mean and spread over seeds per relevance × model.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_shoppers import sample_bundle  # noqa: E402

RELEVANCE = {"3-5 stars (preset)": None, "4-5 stars": {1: 0, 2: 0, 3: 0, 4: 1, 5: 2}}
METRICS = ["precision", "recall", "ndcg", "map", "hit_rate", "coverage", "diversity"]


def models() -> list[dict]:
    return [
        {"name": "als", "type": "als", "params": {"factors": 32, "iterations": 15}},
        {"name": "ease", "type": "ease", "params": {"l2": 200.0}},
        {"name": "visual", "type": "visual"},
        {"name": "hybrid", "type": "hybrid", "params": {"weight": 0.3}, "cf": {"type": "als",
                                                                             "params": {"factors": 32}}},
        {"name": "jewelrec", "type": "jewelrec"},
    ]


def evaluate(db: Path, bundle: Path, relevance, specs: list[dict], args, out: Path) -> dict:
    from jewelrec.evaluation.experiment import EvalConfig, run

    data = {"preset": "space-ratings", "path": str(db)}
    if relevance is not None:
        data["rating_confidence"] = relevance
    config = {"name": "offline-jewelrec", "data": data, "bundle": str(bundle), "k": args.k, "metrics": METRICS,
              "split": {"method": "random", "test_fraction": args.test_fraction, "seed": 0}, "models": specs}
    path = out / "config.yaml"
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return run(EvalConfig.from_yaml(path), out)


def without_dislikes(db: Path, dest: Path) -> Path:
    """A copy of the ratings database less its 1–2★ rows."""
    src, copy = sqlite3.connect(db), sqlite3.connect(dest)
    try:
        src.backup(copy)
        with copy:
            copy.execute("DELETE FROM ratings WHERE stars <= 2")
    finally:
        src.close()
        copy.close()
    return dest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--bundle", default=None, help="bundle directory (default: the sample bundle, built if missing)")
    p.add_argument("--seeds", type=int, default=3, help="independent shopper populations")
    p.add_argument("--shoppers", type=int, default=300, help="shoppers per seed")
    p.add_argument("--rate-tab", type=int, default=8, help="pieces of the Rate tab's first page every shopper rates")
    p.add_argument("--browse", type=int, default=24, help="pieces each shopper browses and rates")
    p.add_argument("--test-fraction", type=float, default=0.2, help="share of each shopper's positives held out")
    p.add_argument("--k", type=int, default=10, help="picks per shopper")
    args = p.parse_args(argv)
    from jewelrec import Bundle, Recommender
    from jewelrec.evaluation.synthetic_ratings import shopper_ratings, write_ratings_db
    from jewelrec.paths import cache_dir

    path = Path(args.bundle) if args.bundle else sample_bundle(cache_dir("bundles") / "sample")
    bundle = Bundle.load(path)
    rate_order = Recommender(bundle).rate_order
    started = time.perf_counter()
    rows, logs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            ratings = shopper_ratings(bundle.items, rate_order, n_shoppers=args.shoppers, rate_tab=args.rate_tab,
                                      browse=args.browse, seed=seed)
            logs.append({"rows": len(ratings), **{f"{s}★": int((ratings.stars == s).sum()) for s in range(1, 6)}})
            db = write_ratings_db(ratings, Path(tmp) / f"ratings-{seed}.db")
            plain = without_dislikes(db, Path(tmp) / f"ratings-{seed}-no-dislikes.db")
            for label, relevance in RELEVANCE.items():
                out = Path(tmp) / f"{seed}-{len(rows)}"
                results = evaluate(db, path, relevance, models(), args, out)
                only = evaluate(plain, path, relevance, [{"name": "jewelrec", "type": "jewelrec"}], args, out / "p")
                results["jewelrec (dislikes dropped)"] = only["jewelrec"]
                for model, values in results.items():
                    rows.append({"relevance": label, "model": model, "seed": seed,
                                 **{m.split("@")[0]: v for m, v in values.items()}})
    frame = pd.DataFrame(rows)
    grouped = frame.groupby(["relevance", "model"], sort=False)[[m for m in METRICS if m in frame]]
    mean, std = grouped.mean(), grouped.std(ddof=0)
    table: dict[str, dict] = {}
    for (label, model), values in mean.iterrows():
        table.setdefault(label, {})[model] = {m: {"mean": round(float(v), 4), "std": round(float(std.loc[(label, model),
                                                                                                          m]), 4)}
                                              for m, v in values.items()}
    result = {"bundle": str(path), "encoder": bundle.config.get("encoder", {}).get("type"), "n_items": bundle.n_items,
              "seeds": args.seeds, "shoppers": args.shoppers, "rate_tab": args.rate_tab, "browse": args.browse,
              "test_fraction": args.test_fraction, "k": args.k, "logs": logs, "table": table,
              "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
