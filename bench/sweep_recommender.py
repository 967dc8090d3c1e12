"""Sweep the Recommender's scoring weights on simulated shoppers and report the winner on held-out seeds.

    python bench/sweep_recommender.py                                  # the sample bundle, bench/configs/...yaml
    python bench/sweep_recommender.py --bundle artifacts --config bench/configs/recommender_sweep.yaml

Every combination in the config's ``grid`` (RecommenderConfig fields) is scored on the ``select_seeds``
populations; the best is then scored, beside the current defaults and the vector-database strategies, on the
``test_seeds`` — shoppers it was not chosen on. Prints JSON. Objectives: a metric name (``ndcg``, ``precision``:
its mean over every taste shape × protocol), or ``worst_ratio`` — the lowest jewelrec ÷ best vector-database
strategy over every taste shape × protocol and both precision and nDCG (the issue's bar: ahead everywhere),
ties broken by mean nDCG.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).parent))
from bench_shoppers import BASELINES, sample_bundle, strategies, summarise  # noqa: E402

from jewelrec.config_keys import check_keys  # noqa: E402
from jewelrec.evaluation.shoppers import SimulationConfig, simulate  # noqa: E402
from jewelrec.serving.recommender import RecommenderConfig  # noqa: E402

SWEEP_KEYS = ("select_seeds", "test_seeds", "shoppers", "objective", "grid")


def score(bundle, config: RecommenderConfig, seeds, shoppers: int, only_jewelrec: bool) -> list[dict]:
    named, rec = strategies(bundle, config)
    if only_jewelrec:
        named = {"jewelrec": named["jewelrec"]}
    rows = []
    for seed in seeds:
        rows += simulate(bundle.items, bundle.embeddings, rec.rate_order, named,
                         SimulationConfig(n_shoppers=shoppers, seed=seed))
    return rows


def cell_means(rows: list[dict], strategy_names) -> dict:
    """{(shape, protocol, strategy): {"precision": mean, "ndcg": mean}} over seeds."""
    frame = pd.DataFrame([r for r in rows if r["strategy"] in strategy_names])
    grouped = frame.groupby(["shape", "protocol", "strategy"])[["precision", "ndcg"]].mean()
    return {key: values.to_dict() for key, values in grouped.iterrows()}


def worst_ratio(jewelrec_rows: list[dict], baseline: dict) -> float:
    """Lowest jewelrec ÷ best vector-database strategy over every (shape, protocol) and precision / nDCG."""
    ours = cell_means(jewelrec_rows, {"jewelrec"})
    ratios = []
    for (shape, protocol, _), values in ours.items():
        for metric in ("precision", "ndcg"):
            best = max(v[metric] for (s, p, b), v in baseline.items() if (s, p) == (shape, protocol))
            ratios.append(values[metric] / best if best > 0 else 1.0)
    return float(min(ratios))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--bundle", default=None, help="bundle directory (default: the sample bundle, built if missing)")
    p.add_argument("--config", default=str(Path(__file__).parent / "configs" / "recommender_sweep.yaml"))
    args = p.parse_args(argv)
    from jewelrec import Bundle
    from jewelrec.paths import cache_dir

    sweep = yaml.safe_load(Path(args.config).read_text())
    check_keys(sweep, SWEEP_KEYS, f"sweep config {args.config}")
    check_keys(sweep["grid"], RecommenderConfig, "sweep grid")
    bundle = Bundle.load(Path(args.bundle) if args.bundle else sample_bundle(cache_dir("bundles") / "sample"))
    started = time.perf_counter()
    keys = list(sweep["grid"])
    name = sweep["objective"]
    baseline = None
    if name == "worst_ratio":  # the vector databases do not depend on the grid: scored once
        baseline = cell_means(score(bundle, RecommenderConfig(), sweep["select_seeds"], sweep["shoppers"],
                                    only_jewelrec=False), set(BASELINES))
    trials = []
    for values in tqdm(list(itertools.product(*(sweep["grid"][k] for k in keys))), desc="sweep", file=sys.stderr):
        config = replace(RecommenderConfig(), **dict(zip(keys, values)))
        rows = score(bundle, config, sweep["select_seeds"], sweep["shoppers"], only_jewelrec=True)
        ndcg = float(np.mean([r["ndcg"] for r in rows]))
        trial = {"params": dict(zip(keys, values)), "ndcg": round(ndcg, 4),
                 "precision": round(float(np.mean([r["precision"] for r in rows])), 4),
                 "diversity": round(float(np.mean([r["diversity"] for r in rows])), 4)}
        if baseline is not None:
            trial["worst_ratio"] = round(worst_ratio(rows, baseline), 4)
        trials.append(trial)
    second = "ndcg" if name != "ndcg" else "precision"
    trials.sort(key=lambda t: (-t[name], -t[second]))
    best = replace(RecommenderConfig(), **trials[0]["params"])
    held_out = score(bundle, best, sweep["test_seeds"], sweep["shoppers"], only_jewelrec=False)
    default = score(bundle, RecommenderConfig(), sweep["test_seeds"], sweep["shoppers"], only_jewelrec=True)
    for row in default:
        row["strategy"] = "jewelrec (defaults)"
    result = {"bundle": bundle.config.get("encoder", {}).get("type"), "trials": trials[:10], "n_trials": len(trials),
              "best": {k: getattr(best, k) for k in keys}, "defaults": {k: asdict(RecommenderConfig())[k] for k in keys},
              "held_out": summarise(held_out + default), "seconds": round(time.perf_counter() - started, 1)}
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
