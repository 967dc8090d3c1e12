"""VectorIndex: exact below the limits, re-ranked IVF above, a coarse pass for candidates."""

from __future__ import annotations

import numpy as np
import pytest

from jewelrec.serving.index import VectorIndex


def _clustered(n: int, dim: int = 32, k: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim))
    x = centres[rng.integers(0, k, n)] + 0.4 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _brute(x: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("flat_limit", [10_000, 100])  # flat only; flat for exact answers + IVF for coarse ones
def test_exact_search_equals_a_brute_force_scan(flat_limit):
    x = _clustered(3000)
    index = VectorIndex(x, flat_limit=flat_limit)
    assert index.exact and (index.ivf is None) == (flat_limit > len(x))
    scores, rows = index.search(x[:20], 10)
    np.testing.assert_array_equal(rows, _brute(x, x[:20], 10))
    np.testing.assert_allclose(scores, np.take_along_axis(x[:20] @ x.T, rows, 1), atol=1e-5)


def test_approximate_search_has_high_recall_and_exact_scores():
    x = _clustered(6000)
    index = VectorIndex(x, exact_limit=1000, flat_limit=1000)
    assert not index.exact and index.flat is None and index.nlist == int(np.sqrt(6000))
    queries = x[::100]  # (60, d)
    scores, rows = index.search(queries, 10)
    truth = _brute(x, queries, 10)
    recall = np.mean([len(set(r) & set(t)) / 10 for r, t in zip(rows, truth)])
    assert recall >= 0.95
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries, x[rows]), atol=1e-5)  # re-ranked
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first


def test_coarse_search_finds_most_near_neighbours_cheaply():
    x = _clustered(6000)
    index = VectorIndex(x, exact_limit=1000, flat_limit=1000)
    _, rows = index.search(x[:30], 20, coarse=True)
    truth = _brute(x, x[:30], 5)
    found = np.mean([len(set(r) & set(t)) / 5 for r, t in zip(rows, truth)])
    assert found >= 0.7 and rows.max() < len(x)


def test_k_larger_than_the_catalog_is_clamped():
    x = _clustered(50)
    scores, rows = VectorIndex(x).search(x[0], 500)
    assert rows.shape == (1, 50) and sorted(rows[0].tolist()) == list(range(50))
