"""Sweep the Recommender's scoring weights on simulated shoppers and report the winner on held-out seeds.

    python bench/sweep_recommender.py                                  # the sample bundle, bench/configs/...yaml
    python bench/sweep_recommender.py --bundle artifacts --config bench/configs/recommender_sweep.yaml

Every combination in the config's ``grid`` (RecommenderConfig fields) is scored on the ``select_seeds``
populations (mean of the objective over every taste shape × protocol); the best is then scored, beside the
current defaults and the vector-database strategies, on the ``test_seeds`` — shoppers it was not chosen on.
Prints JSON.
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
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from bench_shoppers import sample_bundle, strategies, summarise  # noqa: E402

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
    trials = []
    for values in itertools.product(*(sweep["grid"][k] for k in keys)):
        config = replace(RecommenderConfig(), **dict(zip(keys, values)))
        rows = score(bundle, config, sweep["select_seeds"], sweep["shoppers"], only_jewelrec=True)
        objective = float(np.mean([r[sweep["objective"]] for r in rows]))
        precision = float(np.mean([r["precision"] for r in rows]))
        trials.append({"params": dict(zip(keys, values)), sweep["objective"]: round(objective, 4),
                       "precision": round(precision, 4)})
    trials.sort(key=lambda t: (-t[sweep["objective"]], -t["precision"]))
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
