"""The shopper simulation's tastes and metrics (bench/bench_shoppers.py scores the recommenders with them)."""

import numpy as np
import pytest

from jewelrec.evaluation.shoppers import (
    LOVED,
    SHOPPER_SHAPES,
    TASTE_SHAPES,
    SimulationConfig,
    draw_taste,
    loved_balance,
    simulate,
)
from tests.conftest import make_synthetic_bundle


@pytest.fixture(scope="module")
def bundle():
    return make_synthetic_bundle(n_items=120, dim=16, n_clusters=6, seed=0)


def test_two_categories_taste_loves_both_and_marks_them_apart(bundle):
    items = bundle.items
    taste = draw_taste(items, "two-categories", np.random.default_rng(0), second_style=True, dislike=True)
    first, second = taste.loves["category"], taste.also_loves["category"]
    categories = items["category"].to_numpy()
    assert first != second and taste.likes["category"] not in (first, second)
    assert taste.dislikes["category"] not in (first, second, taste.likes["category"])
    utility, groups = taste.utility(items), taste.loved_groups(items)
    assert np.array_equal(utility == LOVED, np.isin(categories, [first, second]))
    assert np.array_equal(groups, np.select([categories == first, categories == second], [1, 2], 0))


def test_single_style_shapes_are_unchanged_and_two_categories_comes_last():
    assert TASTE_SHAPES == ("category", "metal", "category+metal")  # synthetic rating logs draw these
    assert SHOPPER_SHAPES == (*TASTE_SHAPES, "two-categories")


def test_bad_shapes_and_small_catalogs_are_refused(bundle):
    with pytest.raises(ValueError, match="unknown taste shape"):
        draw_taste(bundle.items, "three-metals", np.random.default_rng(0), second_style=False, dislike=False)
    two = bundle.items[bundle.items["category"].isin(["ring", "necklace"])]
    with pytest.raises(ValueError, match="≥ 3 categories"):
        draw_taste(two, "two-categories", np.random.default_rng(0), second_style=False, dislike=False)


def test_loved_balance():
    assert loved_balance(np.array([1, 2] * 5), 10) == 1.0
    assert loved_balance(np.array([1] * 8 + [2, 0]), 10) == 0.2
    assert loved_balance(np.array([1] * 10), 10) == 0.0


def test_simulation_reports_balance_for_two_loved_categories_only(bundle):
    categories = bundle.items["category"].to_numpy()
    by_category = {c: np.flatnonzero(categories == c) for c in np.unique(categories)}

    def one_category(ratings, k):  # the best-rated piece's category only: never balanced
        best = max(ratings, key=ratings.get)
        return [r for r in by_category[categories[best]] if r not in ratings][:k]

    def both(ratings, k):  # alternate between the two best-rated categories
        loved = sorted(ratings, key=lambda r: -ratings[r])
        first = categories[loved[0]]
        second = next(categories[r] for r in loved if categories[r] != first)
        pools = [[r for r in by_category[c] if r not in ratings] for c in (first, second)]
        return [pools[i % 2][i // 2] for i in range(k)]

    rows = simulate(bundle.items, bundle.embeddings, list(range(bundle.n_items)),
                    {"one": one_category, "both": both}, SimulationConfig(n_shoppers=20, noise=0.0, seed=1),
                    protocols=("browse",))
    by = {(r["shape"], r["strategy"]): r for r in rows}
    assert by[("two-categories", "one")]["balance"] == 0.0
    assert by[("two-categories", "both")]["balance"] > 0.9  # 1 unless a shopper's top two share a category
    assert all("balance" not in by[(shape, "one")] for shape in TASTE_SHAPES)
