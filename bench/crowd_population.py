"""The simulated shoppers of the crowd benchmarks (#16), shared by bench_crowd.py, sweep_crowd.py and the offline
log behind training/configs/crowd*.yaml.

Each taste t links a group A_t of 5 pieces with a group B_t of 5 pieces. Scenarios:

* ``linked``: B_t is drawn from a different visual style than A_t (pieces that do not look alike);
* ``control``: B_t is drawn from A_t's own style (the crowd says what the pictures say);
* ``noise``: an unrelated crowd — each shopper rates 7 pieces drawn at random with random stars; newcomers still
  have the linked tastes, which this crowd knows nothing about.

A crowd shopper of taste t (linked, control) rates 3 of A_t and 3 of B_t 5★ and a piece that looks like A_t but is
not in it 2★. A newcomer rates 3 pieces of A_t 5★; their hidden taste is the other 7 pieces of A_t ∪ B_t, so
precision@10 cannot exceed 0.7. A *disagreeing* newcomer (``newcomer(..., agrees=False)``) also rates 3 of A, but
their hidden taste is the rest of A and A's 5 closest look-alikes (``near``: nearest to A's mean embedding, in
neither group) — a shopper the crowd does not speak for, whom the crowd's picks can only cost.

    python bench/crowd_population.py --out results/crowd-log     # the offline logs crowd*.yaml read
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GROUP = 5  # pieces per taste group
K = 10  # newcomers' list length
SCENARIOS = ("linked", "control", "noise")
CROWD_RATINGS = 7  # per crowd shopper: 3 of A, 3 of B, one look-alike of A (or 7 random pieces: noise)


def tastes(bundle, scenario: str, n_tastes: int, rng: np.random.Generator) -> list[dict]:
    """Per taste: A (style s), B (another style: linked and noise; style s: control), look-alikes of A (style s,
    in neither group)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario {scenario!r} is not one of {SCENARIOS}")
    labels, ids = bundle.labels, np.asarray(bundle.item_ids, dtype=object)
    n_styles = int(labels.max()) + 1
    out, used = [], set()
    for t in range(n_tastes):
        s_a = t % n_styles
        s_b = s_a if scenario == "control" else (s_a + n_styles // 2) % n_styles
        pool_a = [i for i in ids[labels == s_a] if i not in used]
        a = list(rng.choice(pool_a, GROUP, replace=False))
        used.update(a)
        pool_b = [i for i in ids[labels == s_b] if i not in used]
        b = list(rng.choice(pool_b, GROUP, replace=False))
        used.update(b)
        alike = [i for i in ids[labels == s_a] if i not in a and i not in b]
        rows = np.array([bundle.index_of(i) for i in alike])
        centre = bundle.embeddings[[bundle.index_of(i) for i in a]].mean(axis=0)  # (d,)
        near = rows[np.argsort(-(bundle.embeddings[rows] @ centre), kind="stable")[:GROUP]]
        out.append({"A": [str(x) for x in a], "B": [str(x) for x in b], "alike": [str(x) for x in alike],
                    "near": [str(ids[r]) for r in near]})
    return out


def crowd_ratings(scenario: str, taste: dict, rng: np.random.Generator, item_ids) -> list[tuple[str, int]]:
    """One crowd shopper's ratings, ``[(item_id, stars)]``."""
    if scenario == "noise":
        picks = rng.choice(np.asarray(item_ids, dtype=object), CROWD_RATINGS, replace=False)
        return [(str(i), int(s)) for i, s in zip(picks, rng.integers(1, 6, CROWD_RATINGS))]
    picks = [(str(i), 5) for i in rng.choice(taste["A"], 3, replace=False)]
    picks += [(str(i), 5) for i in rng.choice(taste["B"], 3, replace=False)]
    return picks + [(str(rng.choice(taste["alike"])), 2)]


def crowd(bundle, scenario: str, taste_list: list[dict], shoppers: int, rng) -> list[list[tuple[str, int]]]:
    """``shoppers`` crowd shoppers, tastes dealt in turn."""
    return [crowd_ratings(scenario, taste_list[s % len(taste_list)], rng, bundle.item_ids) for s in range(shoppers)]


def newcomer(taste: dict, rng, agrees: bool = True, n_rated: int = 3) -> tuple[list[str], set[str]]:
    """(``n_rated`` pieces of A the newcomer rates 5★, their hidden taste: the rest of A ∪ B; ∪ A's look-alikes
    ``near`` instead of B when the newcomer does not agree with the crowd)."""
    rated = [str(i) for i in rng.choice(taste["A"], n_rated, replace=False)]
    return rated, (set(taste["A"]) | set(taste["B" if agrees else "near"])) - set(rated)


def metrics(picked: list[str], hidden: set[str]) -> tuple[float, float]:
    """(precision@K, nDCG@K) of a ranked list against a hidden taste."""
    hits = [1.0 if p in hidden else 0.0 for p in picked[:K]]
    dcg = sum(h / np.log2(i + 2) for i, h in enumerate(hits))
    ideal = sum(1 / np.log2(i + 2) for i in range(min(K, len(hidden))))
    return sum(hits) / K, dcg / ideal if ideal else 0.0


def write_log(out: Path, scenario: str, *, items: int = 720, n_tastes: int = 4, shoppers: int = 1000,
              newcomers: int = 200, browse: int = 3, days: int = 30, test_days: int = 7, seed: int = 0,
              bundle=None) -> Path:
    """A bundle (``out/bundle``) and a ratings database in the Space's schema (``out/ratings.db``): the crowd's
    ratings and each newcomer's 3 ratings of A fall in the first ``days - test_days`` days, the newcomers' hidden
    taste (rated 5★) in the last ``test_days`` — so a time split with ``test_days`` scores exactly the newcomers'
    hidden taste from what the crowd and their own 3 ratings say. Every shopper also rates ``browse`` pieces
    drawn from the whole catalog 3★ (what they looked at in passing), so the log — and the candidates an offline
    model may pick from — spans the catalog, not only the taste groups."""
    from jewelrec.evaluation.synthetic_ratings import SECONDS_PER_DAY, START, write_ratings_db

    if bundle is None:
        from bench_space import synthetic_bundle

        bundle = synthetic_bundle(items, n_clusters=12, seed=seed)
    rng = np.random.default_rng(seed)
    taste_list = tastes(bundle, scenario, n_tastes, rng)
    rows = []
    train_s = (days - test_days) * SECONDS_PER_DAY
    ids = np.asarray(bundle.item_ids, dtype=object)

    def passing(taken: set[str]) -> list[tuple[str, int]]:
        return [(str(i), 3) for i in rng.choice(ids, browse + len(taken), replace=False) if i not in taken][:browse]

    for s, ratings in enumerate(crowd(bundle, scenario, taste_list, shoppers, rng)):
        for item, stars in ratings + passing({i for i, _ in ratings}):
            rows.append((f"crowd-{s:05d}", item, stars, START + int(rng.integers(0, train_s))))
    for j in range(newcomers):
        rated, hidden = newcomer(taste_list[j % len(taste_list)], rng)
        seen = [(i, 5) for i in rated] + passing(set(rated) | hidden)
        rows += [(f"newcomer-{j:05d}", item, stars, START + int(rng.integers(0, train_s))) for item, stars in seen]
        rows += [(f"newcomer-{j:05d}", item, 5, START + train_s + int(rng.integers(1, test_days * SECONDS_PER_DAY)))
                 for item in sorted(hidden)]
    out.mkdir(parents=True, exist_ok=True)
    bundle.save(out / "bundle")
    write_ratings_db(pd.DataFrame(rows, columns=["user_id", "item_id", "stars", "updated_at"]), out / "ratings.db")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the crowd benchmark's offline logs (bundle + ratings.db "
                                     "per scenario) for training/configs/crowd*.yaml",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", default="results/crowd-log")
    parser.add_argument("--scenarios", default="linked,control")
    parser.add_argument("--shoppers", type=int, default=1000)
    parser.add_argument("--newcomers", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    written = {}
    for scenario in args.scenarios.split(","):
        target = Path(args.out) / scenario
        if (target / "ratings.db").exists():
            raise SystemExit(f"{target / 'ratings.db'} exists; remove {target} or pick another --out")
        write_log(target, scenario, shoppers=args.shoppers, newcomers=args.newcomers, seed=args.seed)
        written[scenario] = {"bundle": str(target / "bundle"), "ratings": str(target / "ratings.db")}
    print(json.dumps({"wrote": written, "shoppers": args.shoppers, "newcomers": args.newcomers,
                      "seed": args.seed}, indent=1))  # one JSON document, as every bench script prints
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
