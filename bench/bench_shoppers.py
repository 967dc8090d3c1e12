"""Simulated shoppers: jewelrec's picks against what a vector database offers instead, on one bundle.

    python bench/bench_shoppers.py                          # the sample bundle (built with training.fit if missing)
    python bench/bench_shoppers.py --bundle artifacts --seeds 5 --shoppers 300
    python bench/bench_shoppers.py --set balance_band=0.04                # a RecommenderConfig field changed

Shoppers with a hidden taste (one category / a metal / category + metal / two categories loved alike; some
also like a second style and dislike another) rate the Rate tab's first two pages or pieces they browse, then get
k = 10 picks (jewelrec.evaluation.shoppers). Prints JSON: per taste shape × protocol × strategy the mean and spread
over seeds of precision / recall / nDCG / hit rate @10, diversity, coverage, the share of disliked picks and (two
categories) the balance between the two loved ones, plus jewelrec's ratio to the best vector-database strategy in
the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from jewelrec.cli.arguments import whole_number
from jewelrec.evaluation.shoppers import SimulationConfig, simulate, vector_db_strategies

BASELINES = ("qdrant-average", "qdrant-best-score", "marqo-weighted")


def sample_bundle(path: Path) -> Path:
    """The Space's own sample bundle (same settings as README command 1), built once if missing."""
    if not (path / "config.json").is_file():
        from jewelrec.pipeline.fit import FitConfig, run

        run(FitConfig(dataset="sample", out=str(path)))
    return path


def strategies(bundle, recommender_config=None) -> tuple[dict, object]:
    """({name: strategy} over the bundle's embeddings, the Recommender behind 'jewelrec')."""
    from jewelrec import Recommender

    rec = Recommender(bundle, config=recommender_config)
    ids = list(bundle.item_ids)
    row_of = {item: i for i, item in enumerate(ids)}
    rng = np.random.default_rng(0)

    def jewelrec_picks(ratings, k):
        return [row_of[i] for i, _, _ in rec.recommend({ids[r]: s for r, s in ratings.items()}, k)]

    def cold(ratings, k):
        rated = set(ratings)
        return [row_of[i] for i, _, _ in rec.cold_start(k + len(rated)) if row_of[i] not in rated][:k]

    def random_picks(ratings, k):
        pool = np.setdiff1d(np.arange(len(ids)), np.fromiter(ratings, dtype=np.int64))
        return rng.choice(pool, size=k, replace=False)

    return {"jewelrec": jewelrec_picks, **vector_db_strategies(bundle.embeddings, cold), "cold-start": cold,
            "random": random_picks}, rec


def summarise(rows: list[dict]) -> dict:
    frame = pd.DataFrame(rows)
    metrics = ["precision", "recall", "ndcg", "hit_rate", "loved_share", "diversity", "coverage", "disliked_share",
               "balance"]  # balance: two-categories tastes only (NaN elsewhere, left out)
    frame = frame.reindex(columns=[*frame.columns.difference(metrics), *metrics])
    grouped = frame.groupby(["shape", "protocol", "strategy"])[metrics]
    mean, std = grouped.mean(), grouped.std(ddof=0)
    table = {}
    for (shape, protocol, strategy), values in mean.iterrows():
        table.setdefault(f"{shape} / {protocol}", {})[strategy] = {
            m: {"mean": round(float(values[m]), 4), "std": round(float(std.loc[(shape, protocol, strategy), m]), 4)}
            for m in metrics if not np.isnan(values[m])}
    ratios = {}
    for case, by_strategy in table.items():
        best = {m: max(by_strategy[b][m]["mean"] for b in BASELINES) for m in ("precision", "ndcg")}
        ratios[case] = {f"{m}_vs_best_vector_db": round(by_strategy["jewelrec"][m]["mean"] / best[m], 3)
                        if best[m] > 0 else None for m in best}
    return {"table": table, "jewelrec_vs_best_baseline": ratios}


def recommender_overrides(pairs: list[str]):
    """``["field=value", ...]`` → a RecommenderConfig with those fields set (values read as YAML scalars)."""
    from jewelrec.config_keys import check_keys
    from jewelrec.serving.recommender import RecommenderConfig

    values = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set {pair!r}: write FIELD=VALUE, e.g. --set balance_band=0.04")
        values[name.strip()] = yaml.safe_load(raw)
    check_keys(values, RecommenderConfig, "--set")
    try:
        return RecommenderConfig(**values)  # checks every value against the rules the evaluator uses too
    except ValueError as err:
        raise SystemExit(f"--set: {err}") from None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--bundle", default=None, help="bundle directory (default: the sample bundle, built if missing)")
    p.add_argument("--seeds", type=whole_number(1), default=3, help="independent shopper populations")
    p.add_argument("--shoppers", type=whole_number(1), default=200,
                   help="shoppers per taste shape and protocol, per seed")
    p.add_argument("--k", type=whole_number(1), default=10, help="picks per shopper")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a RecommenderConfig field for jewelrec (repeatable), e.g. --set balance_band=0.04")
    args = p.parse_args(argv)
    recommender_config = recommender_overrides(args.set)
    from jewelrec import Bundle
    from jewelrec.paths import cache_dir

    path = Path(args.bundle) if args.bundle else sample_bundle(cache_dir("bundles") / "sample")
    bundle = Bundle.load(path)
    missing = [c for c in ("category", "metal") if c not in bundle.items.columns]
    if missing:  # the hidden tastes are drawn over these attributes
        p.error(f"{path} has no {' / '.join(missing)} column (its items have {list(bundle.items.columns)}); the "
                "simulated tastes are categories and metals — use a catalog that has both, e.g. the sample")
    if args.k >= bundle.n_items:
        p.error(f"--k {args.k} leaves nothing to rate in a catalog of {bundle.n_items} pieces; pick fewer")
    started = time.perf_counter()
    named, rec = strategies(bundle, recommender_config)
    rows = []
    for seed in range(args.seeds):
        config = SimulationConfig(n_shoppers=args.shoppers, k=args.k, seed=seed)
        rows += simulate(bundle.items, bundle.embeddings, rec.rate_order, named, config)
    result = {"bundle": str(path), "encoder": bundle.config.get("encoder", {}).get("type"),
              "n_items": bundle.n_items, "recommender": asdict(rec.config), "seeds": args.seeds,
              "shoppers_per_case": args.shoppers, "k": args.k,
              **summarise(rows), "seconds": round(time.perf_counter() - started, 1)}
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
