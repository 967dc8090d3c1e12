import numpy as np
import pytest
from sklearn.datasets import make_blobs

from jewelrec.clustering import choose_k, cluster_metrics, elbow_k, fit_clusters, hungarian_accuracy


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
