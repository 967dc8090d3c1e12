import numpy as np
import pytest
from sklearn.datasets import make_blobs

from jewelrec.clustering import (
    choose_k,
    cluster_metrics,
    elbow_k,
    fit_clusters,
    hungarian_accuracy,
    magnitude_scale,
    soft_assign,
)
from jewelrec.clustering.assign import soft_width
from jewelrec.clustering.methods import umap_init


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=240, n_features=16, centers=5, cluster_std=0.6, random_state=0)
    return X.astype(np.float32), y


@pytest.mark.parametrize("method", ["kmeans", "umap-kmeans"])
def test_auto_k_recovers_planted_clusters(blobs, method):
    X, y = blobs
    result = fit_clusters(X, method, "auto", seed=0, k_range=(3, 8))
    assert result.n_clusters == 5
    assert result.labels_.shape == (240,) and result.probs_.shape == (240, 5)
    np.testing.assert_allclose(result.probs_.sum(1), 1, atol=1e-5)
    assert result.coords2d_.shape == (240, 2)
    metrics = cluster_metrics(result, X, y)
    assert metrics["nmi"] > 0.95 and metrics["ari"] > 0.95 and metrics["accuracy"] > 0.95
    assert result.k_selection_["ks"] == list(range(3, 9))
    assert len(result.k_selection_["inertia"]) == 6


def test_fixed_k_and_determinism(blobs):
    X, _ = blobs
    a = fit_clusters(X, "kmeans", 4, seed=3, coords2d=False)
    b = fit_clusters(X, "kmeans", 4, seed=3, coords2d=False)
    assert a.n_clusters == 4 and a.coords2d_ is None
    np.testing.assert_array_equal(a.labels_, b.labels_)


def test_bad_inputs(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match="unknown clustering method"):
        fit_clusters(X, "dbscan")
    with pytest.raises(ValueError, match="n_clusters"):
        fit_clusters(X, "kmeans", 500)
    with pytest.raises(ValueError, match="NaN"):
        fit_clusters(np.full((10, 3), np.nan, np.float32), "kmeans", 2)
    with pytest.raises(ValueError, match="too few"):
        choose_k(X[:3], (3, 8))


def test_elbow_and_hungarian_hand_cases():
    assert elbow_k([1, 2, 3, 4, 5], [100, 30, 20, 15, 12]) == 2
    assert hungarian_accuracy(np.array([0, 0, 1, 1, 2]), np.array([5, 5, 7, 7, 7])) == pytest.approx(0.8)


# --- small catalogs, argument checks, extreme magnitudes ---------------------------------------------------


@pytest.mark.parametrize("method", ["kmeans", "umap-kmeans", "depict"])
@pytest.mark.parametrize("n", [3, 5, 11, 12])
def test_every_method_styles_the_smallest_catalogs(method, n):
    # UMAP's spectral start needs n > n_components + 1 (12 rows for the 10-D space, 4 for the map)
    X = np.random.default_rng(0).normal(size=(n, 16)).astype(np.float32)
    result = fit_clusters(X, method, 2, seed=0)
    assert result.n_clusters == 2 and result.labels_.shape == (n,) and set(result.labels_) <= {0, 1}
    assert np.isfinite(result.probs_).all() and result.probs_.shape == (n, 2)
    np.testing.assert_allclose(result.probs_.sum(1), 1, atol=1e-5)
    assert result.coords2d_.shape == (n, 2) and np.isfinite(result.coords2d_).all()
    with pytest.raises(ValueError, match="at least 3|n >= 3"):
        fit_clusters(X[:2], method, 2)


def test_the_spectral_start_is_kept_wherever_it_can_run():
    assert umap_init(12, 10) == "spectral" and umap_init(4, 2) == "spectral"
    assert umap_init(11, 10) == "random" and umap_init(3, 2) == "random"


@pytest.mark.parametrize("method", ["umap-kmeans", "depict"])
def test_k_is_checked_against_n_before_any_umap(method, monkeypatch):
    import jewelrec.clustering.depict_train as depict_train
    import jewelrec.clustering.methods as methods

    def no_umap(*args, **kwargs):
        raise AssertionError("UMAP ran before n_clusters was checked")

    monkeypatch.setattr(methods, "umap_embed", no_umap)
    monkeypatch.setattr(depict_train, "umap_guide", no_umap)
    X = np.random.default_rng(0).normal(size=(10, 16)).astype(np.float32)
    for n in (5, 10):
        with pytest.raises(ValueError, match=rf"n_clusters={n} needs 2 <= k < n_items \({n}\)"):
            fit_clusters(X[:n], method, n)
    with pytest.raises(ValueError, match="too few to choose"):
        fit_clusters(X[:3], method, "auto", k_range=(3, 8))


@pytest.mark.parametrize("method", ["kmeans", "depict"])
def test_bad_n_clusters_and_seeds_name_the_fix(blobs, method):
    X, _ = blobs
    for bad in (2.5, 3.0, None, "3", True):
        with pytest.raises(ValueError, match="n_clusters must be a whole number or 'auto'"):
            fit_clusters(X, method, bad)
    for bad in ("a", None, -1, 2**32, 1.5, False):
        with pytest.raises(ValueError, match="seed must be an integer"):
            fit_clusters(X, method, 3, seed=bad)


def test_numpy_integers_are_whole_numbers(blobs):
    X, _ = blobs
    a = fit_clusters(X, "kmeans", np.int64(4), seed=np.int32(3), coords2d=False)
    b = fit_clusters(X, "kmeans", 4, seed=3, coords2d=False)
    assert a.n_clusters == 4
    np.testing.assert_array_equal(a.labels_, b.labels_)


@pytest.mark.parametrize("method", ["kmeans", "umap-kmeans", "depict"])
def test_any_finite_scale_gives_the_same_styles(blobs, method):
    X, y = blobs
    for scale in (1e-30, 1e30):
        result = fit_clusters(X * np.float32(scale), method, 5, seed=0)
        assert np.isfinite(result.probs_).all()
        np.testing.assert_allclose(result.probs_.sum(1), 1, atol=1e-5)
        assert np.isfinite(result.coords2d_).all() and np.isfinite(result.centroids_).all()
        metrics = cluster_metrics(result, X * np.float32(scale), y)
        assert metrics["nmi"] > 0.95 and metrics["silhouette_embedding"] > 0.5
        if method == "kmeans":  # centroids stay in the embeddings' units
            member_mean = (X[result.labels_ == 0] * np.float32(scale)).mean(axis=0)
            np.testing.assert_allclose(result.centroids_[0], member_mean, rtol=1e-3, atol=scale * 1e-3)
        if method == "depict":  # the saved network takes the embeddings as they are
            assert np.mean(result.model_.predict(X * np.float32(scale)) == result.labels_) > 0.95


def test_ordinary_magnitudes_are_left_as_they_are():
    assert magnitude_scale(np.array([[16.0, 0.0]])) == 1.0 and magnitude_scale(np.array([[0.04, -1.0]])) == 1.0
    assert magnitude_scale(np.zeros((3, 2))) == 1.0
    assert magnitude_scale(np.array([[3e30]])) == 2.0 ** 101 and magnitude_scale(np.array([[-1e-30]])) == 2.0 ** -100


def test_soft_assignment_width_survives_extreme_scales(blobs):
    X, _ = blobs
    result = fit_clusters(X, "kmeans", 5, seed=0, coords2d=False)
    for scale in (1e-30, 1e30):
        space, centroids = X * np.float32(scale), result.centroids_ * np.float32(scale)
        probs = soft_assign(space, centroids, sigma2=soft_width(space, centroids, result.labels_))
        np.testing.assert_allclose(probs, result.probs_, atol=1e-4)


@pytest.mark.parametrize("method", ["kmeans", "umap-kmeans", "depict"])
def test_more_styles_than_distinct_items_is_refused_by_every_method(method):
    """Only kmeans' "auto" sweep noticed identical items: umap-kmeans and DEPICT split 20 identical rows over 3–14
    styles at random, and kmeans at a fixed k left styles empty."""
    same = np.ones((20, 5), np.float32)
    two = np.repeat(np.eye(5, dtype=np.float32)[:2], 10, axis=0)
    with pytest.raises(ValueError, match="all 20 embeddings are identical"):
        fit_clusters(same, method=method, n_clusters="auto", coords2d=False)
    with pytest.raises(ValueError, match=r"n_clusters=3 but the 20 embeddings hold only 2 distinct rows .* "
                                         r"--clusters 2 or fewer"):
        fit_clusters(two, method=method, n_clusters=3, coords2d=False)
    with pytest.raises(ValueError, match="only 2 distinct rows, fewer than the 3 styles --clusters auto tries"):
        fit_clusters(two, method=method, n_clusters="auto", coords2d=False)


def test_the_auto_sweep_stops_at_the_number_of_distinct_items():
    rng = np.random.default_rng(0)
    X = np.repeat(rng.normal(size=(4, 8)).astype(np.float32), 10, axis=0)  # 4 distinct pieces, 40 rows
    result = fit_clusters(X, method="kmeans", n_clusters="auto", coords2d=False)
    assert max(result.k_selection_["ks"]) == 4 and len(np.unique(result.labels_)) == result.n_clusters
