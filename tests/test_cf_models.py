"""One contract for every recommender, on a case whose answer is known by construction, plus per-model behaviour
and the planted-structure check that collaborative models beat popularity by a clear margin."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from jewelrec.evaluation.interactions import InteractionLog
from jewelrec.evaluation.metrics import map_at_k, recall_at_k
from jewelrec.evaluation.models import (
    ALSModel,
    BPRModel,
    EASEModel,
    HybridModel,
    ItemKNNModel,
    NotFittedError,
    PopularityModel,
    VisualContentModel,
    VisuallySeparated,
)  # fmt: skip
from jewelrec.evaluation.models.hybrid import standardise_rows
from jewelrec.evaluation.models.registry import ModelSpec, build_model, expand_grid
from jewelrec.evaluation.splits import time_split
from jewelrec.evaluation.synthetic_logs import planted_arrays, planted_embeddings

N_ITEMS = 10
GROUP = np.array([0] * 5 + [1] * 5)  # items 0–4: taste A, items 5–9: taste B
ITEM_IDS = np.array([f"item{i}" for i in range(N_ITEMS)], dtype=object)
EMBEDDINGS = planted_embeddings(GROUP, dim=8, noise=0.2, seed=0)


def _two_tastes() -> sp.csr_matrix:
    """Users 0–9 each have 3 consecutive items of taste A, users 10–19 of taste B."""
    rows, cols = [], []
    for u in range(20):
        base = 0 if u < 10 else 5
        for j in range(3):
            rows.append(u)
            cols.append(base + (u + j) % 5)
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(20, N_ITEMS))


def _visual():
    return VisualContentModel(ITEM_IDS, EMBEDDINGS, GROUP)


PERSONALISED = {
    "item_knn": lambda: ItemKNNModel(neighbours=10),
    "als": lambda: ALSModel(4, regularization=1.0, iterations=20, num_threads=1),
    "bpr": lambda: BPRModel(4, learning_rate=0.1, iterations=300, num_threads=1),
    "ease": lambda: EASEModel(l2=1.0),
    "visual": _visual,
    "hybrid": lambda: HybridModel(ALSModel(4, regularization=1.0, iterations=20, num_threads=1), _visual(), weight=0.5),
    "als+separated": lambda: VisuallySeparated(
        ALSModel(4, regularization=1.0, iterations=20, num_threads=1), ITEM_IDS, GROUP, pool=2
    ),
}
ALL_MODELS = {"popularity": lambda: PopularityModel(), **PERSONALISED}


@pytest.fixture(scope="module")
def matrix():
    return _two_tastes()


@pytest.mark.parametrize("name", sorted(ALL_MODELS))
class TestContract:
    def test_shapes_types_and_order(self, name, matrix):
        model = ALL_MODELS[name]()
        assert model.fit(matrix) is model
        users = np.arange(20)
        ids, scores = model.recommend(users, matrix[users], k=4)
        assert ids.shape == scores.shape == (20, 4)
        assert ids.dtype == np.int64 and scores.dtype == np.float32
        valid = ids >= 0
        assert valid.all()  # 7 unseen items are left for everyone
        if isinstance(model, VisuallySeparated):  # re-ranked: scores stay the base model's, order changes
            base = model.model.score(users, matrix[users])
            np.testing.assert_allclose(scores, np.take_along_axis(base, ids, axis=1), rtol=1e-5)
        else:
            assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first
        assert all(len(set(row)) == len(row) for row in ids.tolist())
        seen = matrix[users].toarray() > 0
        assert not seen[np.arange(20)[:, None], ids].any()

    def test_k_beyond_catalog_pads_with_empty_slots(self, name, matrix):
        model = ALL_MODELS[name]().fit(matrix)
        ids, scores = model.recommend(np.array([0]), matrix[[0]], k=12)
        assert ids.shape == (1, 12)
        assert (ids[0, 7:] == -1).all() and np.isneginf(scores[0, 7:]).all()  # 10 items − 3 seen = 7
        unfiltered, _ = model.recommend(np.array([0]), matrix[[0]], k=12, filter_seen=False)
        assert (unfiltered[0] >= 0).sum() >= 8  # seen items come back when not filtered

    def test_errors(self, name, matrix):
        model = ALL_MODELS[name]()
        with pytest.raises(NotFittedError):
            model.recommend(np.array([0]), matrix[[0]], k=2)
        model.fit(matrix)
        with pytest.raises(ValueError, match="one row per user"):
            model.recommend(np.array([0, 1]), matrix[[0]], k=2)
        with pytest.raises(ValueError, match="item columns"):
            model.recommend(np.array([0]), sp.csr_matrix((1, N_ITEMS + 1)), k=2)

    def test_deterministic(self, name, matrix):
        a, _ = ALL_MODELS[name]().fit(matrix).recommend(np.arange(20), matrix, k=3)
        b, _ = ALL_MODELS[name]().fit(matrix).recommend(np.arange(20), matrix, k=3)
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", sorted(ALL_MODELS))
def test_items_nobody_interacted_with_in_training_are_never_recommended_by_collaborative_models(name, matrix):
    """In a split, the items without a training interaction are exactly the test-only ones: a collaborative
    model that ranked them (popularity at count 0, ALS at zero factors, BPR at its random start) would hit the test
    set by elimination. Content models still score them from their embeddings."""
    rows = matrix.tolil()
    rows[:, 9] = 0  # item 9 (taste B): nobody bought it in training
    user_items = sp.csr_matrix(rows)
    user_items.eliminate_zeros()
    model = ALL_MODELS[name]().fit(user_items)
    ids, _ = model.recommend(np.arange(20), user_items, k=N_ITEMS)
    recommended = int((ids == 9).any(axis=1).sum())
    if model.scores_items_without_interactions:  # visual, hybrid: a new piece is found from its picture
        assert recommended == 20, name
    else:
        assert recommended == 0, name


@pytest.mark.parametrize("name", sorted(PERSONALISED))
def test_personalised_models_recommend_within_taste(name, matrix):
    """User u of taste A has 3 of the 5 A items; the right top-2 is exactly the other 2 A items."""
    model = PERSONALISED[name]().fit(matrix)
    ids, _ = model.recommend(np.arange(20), matrix, k=2)
    for u in range(20):
        taste = 0 if u < 10 else 1
        expected = set(np.flatnonzero(GROUP == taste)) - set(matrix[u].indices)
        assert set(ids[u]) == expected, (name, u, ids[u])


def test_popularity_all_time_and_recent_window():
    # item 2 is bought by 3 users long ago, item 1 by 2 users recently, item 0 by 1 user recently
    user_items = sp.csr_matrix(np.array([[1, 1, 1], [0, 1, 1], [0, 0, 1], [0, 0, 0]], np.float32))
    days_ago = user_items.copy()
    days_ago.data = np.array([1, 2, 30, 1, 30, 30], np.float32)  # per stored entry, row-major
    ids, _ = PopularityModel().fit(user_items).recommend(np.array([3]), user_items[[3]], k=3)
    assert ids[0].tolist() == [2, 1, 0]
    recent = PopularityModel(window_days=7).fit(user_items, days_ago=days_ago)
    assert recent.recommend(np.array([3]), user_items[[3]], k=3)[0][0].tolist() == [1, 0, 2]
    with pytest.raises(ValueError, match="days_ago"):
        PopularityModel(window_days=7).fit(user_items)


def test_ease_refuses_big_catalogs(matrix):
    with pytest.raises(ValueError, match="max_items=5.*item_knn"):
        EASEModel(max_items=5).fit(matrix)


def test_visual_model_out_of_bundle_rule(matrix):
    # the bundle lacks item4 and item9: they are never recommended; a user whose history is all outside the
    # bundle gets an empty list (the evaluator then gives them popularity)
    in_bundle = np.array([i not in (4, 9) for i in range(N_ITEMS)])
    model = VisualContentModel(ITEM_IDS[in_bundle], EMBEDDINGS[in_bundle], GROUP[in_bundle],
                               column_item_ids=ITEM_IDS).fit(matrix)  # fmt: skip
    ids, _ = model.recommend(np.arange(20), matrix, k=7)
    assert not np.isin(ids, [4, 9]).any()
    lonely = sp.csr_matrix(([1.0], ([0], [4])), shape=(1, N_ITEMS))
    assert (model.recommend(np.array([0]), lonely, k=3)[0] == -1).all()


def test_hybrid_weight_extremes_match_components(matrix):
    als = ALSModel(4, regularization=1.0, iterations=20, num_threads=1)
    pure_cf = HybridModel(als, _visual(), weight=0.0).fit(matrix)
    np.testing.assert_array_equal(pure_cf.recommend(np.arange(20), matrix, 5)[0], als.recommend(np.arange(20), matrix, 5)[0])
    visual = _visual().fit(matrix)
    pure_visual = HybridModel(ALSModel(4, num_threads=1), _visual(), weight=1.0).fit(matrix)
    np.testing.assert_array_equal(pure_visual.recommend(np.arange(20), matrix, 5)[0], visual.recommend(np.arange(20), matrix, 5)[0])
    with pytest.raises(ValueError, match="weight"):
        HybridModel(ALSModel(4), _visual(), weight=1.5).fit(matrix)


@pytest.mark.parametrize("cf", ["popularity", "item_knn", "als", "bpr", "ease"])
def test_a_hybrid_gives_never_bought_items_the_cf_side_neutral_0_whatever_its_cf_model(cf, matrix):
    """What a CF model "scores" for an item nobody bought (0, zero factors, BPR's random start) is no evidence:
    the hybrid's CF side is neutral there for every CF model, so such an item is ranked by its picture alone."""
    rows = matrix.tolil()
    rows[:, 9] = 0
    user_items = sp.csr_matrix(rows)
    user_items.eliminate_zeros()
    hybrid = HybridModel(ALL_MODELS[cf](), _visual(), weight=0.5).fit(user_items)
    visual = _visual().fit(user_items)
    users = np.arange(20)
    expected = 0.5 * standardise_rows(np.asarray(visual.score(users, user_items), np.float32))[:, 9]
    np.testing.assert_allclose(hybrid.score(users, user_items)[:, 9], expected, rtol=1e-5, atol=1e-6)


class _Fixed(PopularityModel):
    """Ranks items 0, 1, 2, … in id order for everyone (a transparent base model for the re-rank test)."""

    def _fit(self, user_items, days_ago):
        super()._fit(user_items, days_ago)
        self.item_counts_ = np.arange(user_items.shape[1], 0, -1).astype(np.float32)
        self.ranking_ = np.arange(user_items.shape[1])


def test_visually_separated_interleaves_by_history_share():
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2])  # model order: five of cluster 0, then cluster 1, 2
    item_ids = np.array([f"i{i}" for i in range(12)], dtype=object)
    history = sp.csr_matrix(([1.0, 1.0, 3.0], ([0, 0, 1], [0, 5, 10])), shape=(2, 12))
    # user 0: half cluster 0, half cluster 1; user 1: only cluster 2
    model = VisuallySeparated(_Fixed(), item_ids, labels, pool=3).fit(history)
    ids, _ = model.recommend(np.arange(2), history, k=4)
    assert ids[0].tolist() == [1, 6, 2, 7]  # alternates the user's two clusters, model order inside each
    assert ids[1].tolist() == [11, 0, 1, 2]  # the one cluster-2 candidate first, then model order
    base = _Fixed().fit(history).recommend(np.arange(2), history, k=4)[0]
    assert base[0].tolist() == [1, 2, 3, 4]


def test_similar_items_stay_in_taste(matrix):
    # EASE's weights for co-bought items 2 and 3 of item 0 are negative (explained away by 1 and 4): k=2
    for model in (ItemKNNModel(10), EASEModel(1.0), _visual(), ALSModel(2, regularization=1.0, num_threads=1)):
        ids, _ = model.fit(matrix).similar(np.array([0, 7]), k=2)
        assert set(ids[0]) <= {1, 2, 3, 4} and set(ids[1]) <= {5, 6, 8, 9}, type(model).__name__


def test_registry_grid_and_errors():
    spec = ModelSpec.from_dict({"name": "h", "type": "hybrid", "params": {"weight": [0.2, 0.8]},
                                "cf": {"type": "als", "params": {"factors": [8, 16], "iterations": 5}}})  # fmt: skip
    grid = expand_grid(spec)
    assert len(grid) == 4
    assert {(g.params["weight"], g.cf["params"]["factors"]) for g in grid} == {(0.2, 8), (0.2, 16), (0.8, 8), (0.8, 16)}
    with pytest.raises(ValueError, match="accepts"):
        build_model(ModelSpec.from_dict({"type": "als", "params": {"factor": 8}}), None, ITEM_IDS)
    with pytest.raises(ValueError, match="run_mode: sweep"):
        build_model(ModelSpec.from_dict({"type": "als", "params": {"factors": [8, 16]}}), None, ITEM_IDS)
    with pytest.raises(ValueError, match="bundle"):
        build_model(ModelSpec.from_dict({"type": "visual"}), None, ITEM_IDS)
    with pytest.raises(ValueError, match="not one of"):
        ModelSpec.from_dict({"type": "svd"})


def test_planted_structure_cf_beats_popularity_clearly():
    arrays = planted_arrays(800, 200, n_groups=8, mean_interactions=14, taste=0.85, n_days=60, seed=1)
    log = InteractionLog(np.arange(800).astype(str).astype(object), np.arange(200).astype(str).astype(object),
                         arrays.users, arrays.items, np.ones(len(arrays.users), np.float32), arrays.times)  # fmt: skip
    split = time_split(log, 7)
    train, test = split.train.to_csr(), split.test.to_csr()
    users = np.flatnonzero((np.diff(test.indptr) > 0) & (np.diff(train.indptr) > 0))
    relevant = test[users]

    def score(model):
        ids, _ = model.fit(train).recommend(users, train[users], k=12)
        return map_at_k(relevant, ids), recall_at_k(relevant, ids)

    base_map, base_recall = score(PopularityModel())
    for model in (ALSModel(16, iterations=10), EASEModel(l2=200.0), ItemKNNModel(neighbours=50)):
        got_map, got_recall = score(model)
        assert got_map > 2.0 * base_map and got_recall > 1.8 * base_recall, (type(model).__name__, got_map, base_map)


def test_standardise_rows_matches_masked_numpy():
    from jewelrec.evaluation.models.hybrid import standardise_rows

    rng = np.random.default_rng(0)
    block = rng.normal(3.0, 2.0, size=(5, 40)).astype(np.float32)
    block[1, :7] = -np.inf  # cannot-score entries: left out of the statistics, neutral 0 in the output
    values = np.where(np.isfinite(block), block, np.nan)
    expected = (values - np.nanmean(values, 1, keepdims=True)) / np.nanstd(values, 1, keepdims=True)
    np.testing.assert_allclose(standardise_rows(block), np.nan_to_num(expected, nan=0.0), atol=1e-5)
    np.testing.assert_array_equal(standardise_rows(np.ones((2, 3), np.float32)), np.zeros((2, 3)))
