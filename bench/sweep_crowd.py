"""Sweep the crowd blend's schedule (``BlendConfig``: max_share, evidence_half, ratings_half) on the crowd
benchmark's simulated populations, in-process, and report the winner on held-out seeds.

    python bench/sweep_crowd.py                                      # bench/configs/crowd_sweep.yaml
    python bench/sweep_crowd.py --config bench/configs/crowd_sweep.yaml --out bench/results/crowd_sweep.json

For each seed a synthetic 720-piece bundle (as bench_crowd.py serves), and per scenario (linked, control, noise:
bench/crowd_population.py) one crowd that grows through ``sizes``; at each size the crowd model is fitted on the
crowd so far and the same newcomers (3 pieces of A rated 5★) are scored — visual-only, CF-only (the crowd model's
own ranking) and the blend under every grid point. The selection rule is in the config's header. Prints JSON.
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
from crowd_population import SCENARIOS, K, crowd, metrics, newcomer, tastes  # noqa: E402

from jewelrec.config_keys import check_keys  # noqa: E402
from jewelrec.serving.blend import BlendConfig, CrowdRecommender  # noqa: E402
from jewelrec.serving.collaborative import CollaborativeModel  # noqa: E402

SWEEP_KEYS = ("select_seeds", "test_seeds", "items", "tastes", "sizes", "newcomers", "newcomer_ratings", "disagree_weight", "tie",
              "grid")


class MemoRecommender:
    """The visual recommender with its answers kept: every grid point asks the same newcomers the same thing."""

    def __init__(self, recommender):
        self.recommender, self.names, self.bundle = recommender, recommender.names, recommender.bundle
        self._memo: dict = {}

    def recommend(self, ratings, k=10):
        key = (tuple(sorted(ratings.items())), k)
        if key not in self._memo:
            self._memo[key] = self.recommender.recommend(ratings, k)
        return self._memo[key]


def cases(seed: int, sweep: dict) -> list[dict]:
    """Per scenario and size: the fitted crowd model and the newcomers ``[(ratings, hidden)]``."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_space import synthetic_bundle

    from jewelrec.serving.recommender import Recommender

    bundle = synthetic_bundle(sweep["items"], n_clusters=12, seed=seed)
    visual = MemoRecommender(Recommender(bundle))
    out = []
    for scenario in SCENARIOS:
        rng = np.random.default_rng([seed, SCENARIOS.index(scenario)])
        taste_list = tastes(bundle, scenario, sweep["tastes"], rng)
        people = crowd(bundle, scenario, taste_list, max(sweep["sizes"]), rng)
        kinds = {scenario: True, **({"disagree": False} if scenario == "linked" else {})}
        counts = sweep["newcomer_ratings"]
        comers = {name: [newcomer(taste_list[j % len(taste_list)], rng, agrees, counts[j % len(counts)])
                         for j in range(sweep["newcomers"])] for name, agrees in kinds.items()}
        for size in sweep["sizes"]:
            rows = [(f"s{s}", item, stars) for s, ratings in enumerate(people[:size]) for item, stars in ratings]
            users, items, stars = zip(*rows) if rows else ((), (), ())
            model = CollaborativeModel(bundle.item_ids).fit(list(items), list(users), list(stars))
            for name, group in comers.items():
                out.append({"seed": seed, "scenario": name, "size": size, "model": model, "visual": visual,
                            "newcomers": [({i: 5 for i in rated}, hidden) for rated, hidden in group]})
    return out


def score(case: dict, config: BlendConfig) -> dict:
    """Mean P@K / nDCG@K of the blend, visual-only and CF-only for one case's newcomers."""
    model, visual = case["model"], case["visual"]
    blend = CrowdRecommender(visual, lambda: model, config)
    got = {"blend": [], "visual": [], "cf": []}
    for ratings, hidden in case["newcomers"]:
        got["blend"].append(metrics([i for i, _, _ in blend.recommend(ratings, K)], hidden))
        got["visual"].append(metrics([i for i, _, _ in visual.recommend(ratings, K)], hidden))
        rows, cf, _, _ = blend.links(model, ratings)
        got["cf"].append(metrics([model.item_ids[r] for r in rows[np.argsort(-cf, kind="stable")][:K]], hidden))
    return {name: (float(np.mean([p for p, _ in v])), float(np.mean([g for _, g in v]))) for name, v in got.items()}


def judge(all_cases: list[dict], config: BlendConfig, disagree_weight: float) -> dict:
    """The rule's inputs for one config: safe (never below visual-only with no crowd, on a control crowd or a
    noise crowd) and the objective — mean nDCG@10 over the crowds (size > 0) of a newcomer who shares the linked
    crowd's taste with probability 1 − ``disagree_weight`` — with the per-case table."""
    table, safe, linked, disagree = [], True, [], []
    for case in all_cases:
        s = score(case, config)
        row = {"seed": case["seed"], "scenario": case["scenario"], "crowd": case["size"],
               **{f"{n}_p@10": round(v[0], 4) for n, v in s.items()},
               **{f"{n}_ndcg@10": round(v[1], 4) for n, v in s.items()}}
        table.append(row)
        if case["scenario"] in ("control", "noise") or case["size"] == 0:
            safe &= s["blend"][0] >= s["visual"][0] - 1e-9 and s["blend"][1] >= s["visual"][1] - 1e-9
        elif case["scenario"] == "linked":
            linked.append(s["blend"][1])
        else:
            disagree.append(s["blend"][1])
    objective = (1 - disagree_weight) * float(np.mean(linked)) + disagree_weight * float(np.mean(disagree))
    return {"safe": bool(safe), "objective": objective, "linked_ndcg": float(np.mean(linked)),
            "disagree_ndcg": float(np.mean(disagree)), "table": table}


def summarise(table: list[dict]) -> list[dict]:
    """Mean over seeds per (scenario, crowd)."""
    keys = sorted({(r["scenario"], r["crowd"]) for r in table}, key=lambda t: ((*SCENARIOS, "disagree").index(t[0]), t[1]))
    out = []
    for scenario, size in keys:
        rows = [r for r in table if r["scenario"] == scenario and r["crowd"] == size]
        metric_keys = [k for k in rows[0] if "@" in k]
        out.append({"scenario": scenario, "crowd": size, **{k: round(float(np.mean([r[k] for r in rows])), 3)
                                                             for k in metric_keys}})
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", default=str(Path(__file__).parent / "configs" / "crowd_sweep.yaml"))
    p.add_argument("--out", default=None, help="also write the JSON here")
    args = p.parse_args(argv)
    sweep = yaml.safe_load(Path(args.config).read_text())
    check_keys(sweep, SWEEP_KEYS, f"sweep config {args.config}")
    check_keys(sweep["grid"], BlendConfig, "sweep grid")
    started = time.perf_counter()
    select = [c for seed in sweep["select_seeds"] for c in cases(seed, sweep)]
    keys = list(sweep["grid"])
    trials = []
    for values in itertools.product(*(sweep["grid"][k] for k in keys)):
        params = dict(zip(keys, values))
        verdict = judge(select, replace(BlendConfig(), **params), sweep["disagree_weight"])
        trials.append({"params": params, "safe": verdict["safe"], "objective": round(verdict["objective"], 4),
                       "linked_ndcg@10": round(verdict["linked_ndcg"], 4),
                       "disagree_ndcg@10": round(verdict["disagree_ndcg"], 4)})
    safe = [t for t in trials if t["safe"]]
    if not safe:
        raise SystemExit("no grid point is no worse than visual-only on the control and noise crowds; widen the grid")
    top = max(t["objective"] for t in safe)
    near = [t for t in safe if t["objective"] >= top - sweep["tie"]]
    near.sort(key=lambda t: (t["params"].get("max_share", 0), -t["params"].get("evidence_half", 0),
                             -t["params"].get("ratings_half", 0)))
    best = replace(BlendConfig(), **near[0]["params"])
    held = [c for seed in sweep["test_seeds"] for c in cases(seed, sweep)]
    chosen, default = (judge(held, config, sweep["disagree_weight"]) for config in (best, BlendConfig()))
    trials.sort(key=lambda t: (not t["safe"], -t["objective"]))
    result = {"n_trials": len(trials), "n_safe": len(safe), "trials": trials[:12],
              "unsafe_examples": [t for t in trials if not t["safe"]][:5],
              "best": {k: getattr(best, k) for k in keys}, "defaults": {k: asdict(BlendConfig())[k] for k in keys},
              "held_out": {name: {"safe": v["safe"], "objective": round(v["objective"], 4),
                                  "linked_ndcg@10": round(v["linked_ndcg"], 4),
                                  "disagree_ndcg@10": round(v["disagree_ndcg"], 4), "table": summarise(v["table"])}
                           for name, v in (("best", chosen), ("defaults", default))},
              "seconds": round(time.perf_counter() - started, 1)}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
