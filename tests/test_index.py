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


@pytest.mark.parametrize("k", [600, 3000, 6000])
def test_a_large_k_from_the_ivf_comes_back_whole(k):
    # 16 probed lists hold ~16·√n items: similar/nearest/search above the exact limit returned fewer than k
    x = _clustered(6000)
    index = VectorIndex(x, exact_limit=1000, flat_limit=1000)
    scores, rows = index.search(x[:3], k)
    assert rows.shape == (3, k) and (rows >= 0).all() and np.isfinite(scores).all()
    assert all(len(set(r)) == k for r in rows.tolist())


def test_nearest_answers_cosines_for_any_length_and_refuses_a_zero_vector():
    from jewelrec.serving.recommender import Recommender
    from tests.conftest import make_synthetic_bundle

    rec = Recommender(make_synthetic_bundle(n_items=60, dim=16, n_clusters=3))
    unit = rec.bundle.embeddings[0]
    scaled, plain = rec.nearest(100 * unit, 3), rec.nearest(unit, 3)
    assert [i for i, _ in scaled] == [i for i, _ in plain]
    assert [s for _, s in scaled] == pytest.approx([s for _, s in plain]) and scaled[0][1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="all zeros"):
        rec.nearest(np.zeros(16), 3)


def _stored(index: VectorIndex, tmp_path) -> np.ndarray:
    index.write(tmp_path / "index.faiss")
    return np.fromfile(tmp_path / "index.faiss", dtype=np.uint8)


def test_a_written_index_reads_back_with_the_same_answers_without_training(tmp_path, monkeypatch):
    import faiss

    x = _clustered(6000)
    built = VectorIndex(x, exact_limit=0, flat_limit=1000, nprobe=5)
    data = _stored(built, tmp_path)

    def no_training(*args, **kwargs):
        raise AssertionError("a stored index must not be trained again")

    monkeypatch.setattr(faiss.IndexIVFScalarQuantizer, "train", no_training)
    loaded = VectorIndex.from_bytes(data, x, nprobe=5, exact_limit=0)
    assert (loaded.nlist, loaded.nprobe, loaded.exact) == (built.nlist, 5, False)
    for coarse in (False, True):
        for got, want in zip(loaded.search(x[::97], 10, coarse=coarse), built.search(x[::97], 10, coarse=coarse)):
            np.testing.assert_array_equal(got, want)
    assert built.describe() == {"type": "IVF-SQ8", "metric": "inner_product", "n": 6000, "d": 32,
                                "nlist": built.nlist, "nprobe": 5, "seed": 0, "faiss_version": faiss.__version__}


def test_from_bytes_refuses_what_is_not_an_ivf_over_these_vectors(tmp_path):
    import faiss

    x = _clustered(3000)
    data = _stored(VectorIndex(x, exact_limit=0, flat_limit=1000), tmp_path)
    with pytest.raises(ValueError, match="3000 vectors, the embeddings have 2999 rows"):
        VectorIndex.from_bytes(data, x[:-1])
    with pytest.raises(ValueError, match="32 dimensions, the embeddings have 16"):
        VectorIndex.from_bytes(data, np.ascontiguousarray(x[:, :16]))
    flat = faiss.IndexFlatIP(32)
    flat.add(x)
    with pytest.raises(ValueError, match="IndexFlatIP, not the IndexIVFScalarQuantizer"):
        VectorIndex.from_bytes(faiss.serialize_index(flat), x)
    with pytest.raises(ValueError, match="not a readable FAISS index"):
        VectorIndex.from_bytes(np.frombuffer(b"\x80\x04 not an index at all", dtype=np.uint8), x)
    with pytest.raises(ValueError, match="not a readable FAISS index"):
        VectorIndex.from_bytes(data[: len(data) // 2], x)  # truncated


def test_from_bytes_refuses_lists_that_lose_or_repeat_a_row(tmp_path):
    import faiss

    x = _clustered(3000)
    built = VectorIndex(x, exact_limit=0, flat_limit=1000)
    lists = built.ivf.invlists
    first = next(i for i in range(built.nlist) if lists.list_size(i) >= 2)
    ids = faiss.rev_swig_ptr(lists.get_ids(first), lists.list_size(first))
    ids[1] = ids[0]  # one row twice, another never: the re-rank would index the wrong vectors
    with pytest.raises(ValueError, match="each of the 3000 rows exactly once"):
        VectorIndex.from_bytes(_stored(built, tmp_path), x)


def test_holds_tells_its_own_vectors_from_other_ones(tmp_path):
    x = _clustered(3000)
    index = VectorIndex.from_bytes(_stored(VectorIndex(x, exact_limit=0, flat_limit=1000), tmp_path), x)
    assert index.holds(x)
    assert not index.holds(x[::-1].copy())  # same vectors, other rows
    assert not index.holds(_clustered(3000, seed=1))
    assert not index.holds(x[:-1])
