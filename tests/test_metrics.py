"""Metrics against hand-computed cases and, for NDCG, scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import ndcg_score

from jewelrec.evaluation import metrics as M


def _relevant(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    indptr = np.r_[0, np.cumsum([len(r) for r in rows])]
    indices = np.array([i for r in rows for i in r], dtype=np.int64)
    return sp.csr_matrix((np.ones(len(indices)), indices, indptr), shape=(len(rows), n_items))


@pytest.fixture
def case():
    # user 0: relevant {1, 3}; ranked [1, 2, 3] → hits at ranks 1 and 3
    # user 1: relevant {0};    ranked [2, -1, 0] → one hit at rank 3, an empty slot at rank 2
    relevant = _relevant([[1, 3], [0]], n_items=5)
    ranked = np.array([[1, 2, 3], [2, -1, 0]])
    return relevant, ranked


def test_hits_matrix(case):
    relevant, ranked = case
    np.testing.assert_array_equal(M.hits_matrix(relevant, ranked), [[1, 0, 1], [0, 0, 1]])


def test_hand_computed_values(case):
    relevant, ranked = case
    ap0 = (1 / 1 + 2 / 3) / 2  # precision at each hit, over min(|rel|=2, k=3)
    ap1 = (1 / 3) / 1
    assert M.map_at_k(relevant, ranked) == pytest.approx((ap0 + ap1) / 2)
    assert M.precision_at_k(relevant, ranked) == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert M.recall_at_k(relevant, ranked) == pytest.approx((1.0 + 1.0) / 2)
    ndcg0 = (1 + 1 / np.log2(4)) / (1 + 1 / np.log2(3))
    ndcg1 = (1 / np.log2(4)) / 1.0
    assert M.ndcg_at_k(relevant, ranked) == pytest.approx((ndcg0 + ndcg1) / 2)
    assert M.hit_rate_at_k(relevant, ranked) == pytest.approx(1.0)


def test_coverage_counts_distinct_items_only():
    ranked = np.array([[1, 2, 3], [2, -1, 0]])
    assert M.catalog_coverage(ranked, n_items=5) == pytest.approx(4 / 5)
    assert M.catalog_coverage(np.array([[0, 0], [0, -1]]), n_items=4) == pytest.approx(1 / 4)


def test_map_uses_min_of_relevant_and_k():
    # 20 relevant items, all 12 recommendations hit → H&M AP@12 = 1 (divides by min(20, 12)), recall = 12/20
    relevant = _relevant([list(range(20))], n_items=30)
    ranked = np.arange(12)[None, :]
    assert M.map_at_k(relevant, ranked) == pytest.approx(1.0)
    assert M.recall_at_k(relevant, ranked) == pytest.approx(12 / 20)
    # the k argument truncates the list
    assert M.precision_at_k(relevant, np.r_[np.arange(6), [25] * 6][None, :], k=6) == pytest.approx(1.0)


def test_users_without_relevant_items_are_left_out():
    relevant = _relevant([[0], []], n_items=3)
    ranked = np.array([[0, 1], [0, 1]])
    assert M.map_at_k(relevant, ranked) == pytest.approx(1.0)
    assert M.hit_rate_at_k(relevant, ranked) == pytest.approx(1.0)


def test_ndcg_matches_sklearn():
    rng = np.random.default_rng(0)
    n_users, n_items, k = 40, 30, 5
    truth = (rng.random((n_users, n_items)) < 0.15).astype(float)
    truth[np.arange(n_users), rng.integers(0, n_items, n_users)] = 1.0  # every user has something relevant
    ranked = np.argsort(rng.random((n_users, n_items)), axis=1)[:, :k]
    scores = np.zeros((n_users, n_items))
    np.put_along_axis(scores, ranked, np.arange(k, 0, -1, dtype=float)[None, :], axis=1)
    expected = ndcg_score(truth, scores, k=k)
    assert M.ndcg_at_k(sp.csr_matrix(truth), ranked) == pytest.approx(expected, rel=1e-9)


def test_intra_list_diversity_hand_computed():
    embeddings = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])  # item 2 is item 0 scaled: cosine 1
    # pairs (0,1): 1-0=1, (0,2): 1-1=0, (1,2): 1 → mean 2/3; second list has one usable item → skipped
    ranked = np.array([[0, 1, 2], [0, -1, -1]])
    assert M.intra_list_diversity(ranked, embeddings) == pytest.approx(2 / 3)
    # items without an embedding are left out of the pairs
    assert M.intra_list_diversity(ranked, embeddings, has_embedding=np.array([1, 1, 0], bool)) == pytest.approx(1.0)
    assert np.isnan(M.intra_list_diversity(ranked, embeddings, has_embedding=np.array([0, 0, 1], bool)))


def test_novelty_hand_computed():
    item_users = np.array([3, 1])  # of 3 training users: p = 4/4 and 2/4 → 0 and 1 bit
    assert M.novelty(np.array([[0, 1]]), item_users, n_users=3) == pytest.approx(0.5)
    assert M.novelty(np.array([[1, -1]]), item_users, n_users=3) == pytest.approx(1.0)


def test_evaluate_ranking_names_and_skips(case):
    relevant, ranked = case
    out = M.evaluate_ranking(relevant, ranked, 3, n_items=5, item_users=np.ones(5), n_train_users=2)
    assert set(out) == {"map@3", "precision@3", "recall@3", "ndcg@3", "hit_rate@3", "coverage@3", "novelty@3"}
    assert all(isinstance(v, float) for v in out.values())
    with pytest.raises(ValueError, match="unknown metrics"):
        M.evaluate_ranking(relevant, ranked, 3, metrics=["auc"])
    with pytest.raises(ValueError, match="k=4"):
        M.evaluate_ranking(relevant, ranked, 4)


def test_batched_equals_per_user(case):
    relevant, ranked = case
    per_user = [M.map_at_k(relevant[u], ranked[u : u + 1]) for u in range(2)]
    assert M.map_at_k(relevant, ranked) == pytest.approx(np.mean(per_user))
