"""Styles for rows a clustering was not fitted on: fit_clusters_at_scale and Assigner."""

import numpy as np
import pytest
from sklearn.metrics import normalized_mutual_info_score

from jewelrec.clustering import fit_clusters, soft_assign
from jewelrec.clustering.assign import Assigner, fit_clusters_at_scale, soft_width


def planted(n: int, k: int = 5, dim: int = 48, noise: float = 0.35, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim))
    truth = rng.integers(0, k, n)
    X = centres[truth] + noise * rng.normal(size=(n, dim))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), truth


def test_at_or_under_the_sample_size_it_is_fit_clusters():
    X, _ = planted(300)
    direct = fit_clusters(X, "kmeans", 5, seed=3)
    scaled = fit_clusters_at_scale(X, "kmeans", 5, seed=3, sample_size=300)
    np.testing.assert_array_equal(direct.labels_, scaled.labels_)
    np.testing.assert_allclose(direct.coords2d_, scaled.coords2d_)
    assert "fit_sample" not in scaled.params


@pytest.mark.parametrize("method", ["kmeans", "umap-kmeans", "depict"])
def test_above_the_sample_every_row_is_styled_as_well_as_the_sample(method):
    X, truth = planted(2400)
    result = fit_clusters_at_scale(X, method, 5, seed=0, sample_size=600)
    n = len(X)
    assert result.labels_.shape == (n,) and result.probs_.shape == (n, 5) and result.coords2d_.shape == (n, 2)
    assert result.space_.shape[0] == n and result.params["fit_sample"] == 600
    np.testing.assert_allclose(result.probs_.sum(axis=1), 1.0, atol=1e-4)
    assert np.isfinite(result.coords2d_).all()
    # the assigned 1800 rows are styled as well as the 600 the fit saw (planted groups are easy: near-perfect)
    fitted = np.sort(np.random.default_rng(0).choice(n, size=600, replace=False))
    rest = np.setdiff1d(np.arange(n), fitted)
    assert normalized_mutual_info_score(truth[fitted], result.labels_[fitted]) > 0.9
    assert normalized_mutual_info_score(truth[rest], result.labels_[rest]) > 0.9


def test_new_rows_land_on_the_map_beside_their_look_alikes():
    X, truth = planted(800)
    fit = fit_clusters(X[:600], "kmeans", 5, seed=0)
    assigned = Assigner.from_clustering(fit, X[:600]).assign(X[600:])
    # each new row's map position is nearer the centre of its own style's fitted rows than any other style's
    centres = np.stack([fit.coords2d_[fit.labels_ == c].mean(axis=0) for c in range(5)])
    nearest_centre = np.linalg.norm(assigned.coords2d[:, None] - centres[None], axis=2).argmin(axis=1)
    assert (nearest_centre == assigned.labels).mean() > 0.95
    assert (assigned.nearest > 0.5).all()  # they look like something already fitted


def test_kmeans_assignment_is_the_nearest_centroid_with_the_fits_width():
    X, _ = planted(500)
    fit = fit_clusters(X[:400], "kmeans", 5, seed=0)
    assigned = Assigner.from_clustering(fit, X[:400]).assign(X[400:])
    d2 = ((X[400:, None] - fit.centroids_[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(assigned.labels, d2.argmin(axis=1))
    # a fitted row re-assigned gets the probabilities the fit gave it: same width, not the batch's own
    again = Assigner.from_clustering(fit, X[:400]).assign(X[:3])
    np.testing.assert_allclose(again.probs, fit.probs_[:3], atol=1e-5)
    width = soft_width(X[:400], fit.centroids_, fit.labels_)
    np.testing.assert_allclose(soft_assign(X[:400], fit.centroids_, sigma2=width), fit.probs_, atol=1e-6)


def test_a_far_row_is_reported_far():
    X, _ = planted(400)
    fit = fit_clusters(X, "kmeans", 5, seed=0)
    stranger = -X[:1]  # the opposite direction: like nothing in the catalog
    assigned = Assigner.from_clustering(fit, X).assign(np.concatenate([X[:1], stranger]))
    assert assigned.nearest[0] > 0.99 and assigned.nearest[1] < 0.5


def test_depict_assignment_needs_its_model():
    X, _ = planted(100)
    fit = fit_clusters(X, "kmeans", 3, seed=0)
    with pytest.raises(ValueError, match="depict"):
        Assigner("depict", X, fit.coords2d_, fit.centroids_, fit.labels_, fit.probs_)


@pytest.mark.parametrize("method", ["kmeans", "umap-kmeans"])
def test_nan_rows_outside_the_fitted_sample_are_refused_before_the_fit(method):
    """Only the sample was checked: umap-kmeans styled NaN rows (at coordinates 0, 0), kmeans failed after the
    whole fit with sklearn's bare "Input contains NaN"."""
    X = np.random.default_rng(0).normal(size=(400, 8)).astype(np.float32)
    X[[5, 17, 399]] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf .* in 3 rows \(e\.g\. \[5, 17, 399\]\); re-run the encoder"):
        fit_clusters_at_scale(X, method, 3, seed=0, sample_size=100)
    with pytest.raises(ValueError, match="sample_size=50.5 must be a whole number"):
        fit_clusters_at_scale(X, method, 3, seed=0, sample_size=50.5)


@pytest.mark.parametrize("scale", [1e-30, 1e30])
def test_rows_at_any_finite_scale_are_styled_and_placed_as_at_unit_scale(scale):
    # the neighbour search took raw inner products: at 1e-30 they underflowed (every assigned row one style, the
    # map collapsed to a point), at 1e30 they overflowed (NaN map positions, or sklearn's "Input contains NaN")
    X, y = planted(n=1200)
    at_unit = fit_clusters_at_scale(X, "umap-kmeans", 5, seed=0, sample_size=300)
    scaled = fit_clusters_at_scale((X * scale).astype(np.float32), "umap-kmeans", 5, seed=0, sample_size=300)
    assert normalized_mutual_info_score(y, scaled.labels_) == pytest.approx(
        normalized_mutual_info_score(y, at_unit.labels_), abs=0.02)
    assert np.isfinite(scaled.coords2d_).all() and scaled.coords2d_[300:].std() > 0.1 * at_unit.coords2d_.std()


def test_arguments_of_the_wrong_shape_are_named_not_left_to_faiss_or_numpy():
    X, _ = planted(n=400)
    clustering = fit_clusters(X[:200], "kmeans", 5, seed=0)
    assigner = Assigner.from_clustering(clustering, X[:200])
    for bad in (X[:3, :10], X[0]):  # faiss asserted on a wrong width; sklearn printed a 1-D array
        with pytest.raises(ValueError, match=r"assign takes an \(m, 48\) array of embeddings"):
            assigner.assign(bad)
    rows = X[:4].copy()
    rows[2, 0] = np.nan
    with pytest.raises(ValueError, match=r"1 of the 4 rows to assign hold NaN or inf \(e.g. rows \[2\]\)"):
        assigner.assign(rows)
    for seed in (-1, 2.5):  # numpy's "expected non-negative integer" came from the sample draw before the check
        with pytest.raises(ValueError, match="seed must be an integer"):
            fit_clusters_at_scale(X, "kmeans", 3, seed=seed, sample_size=100)
    for k_range in ((3.0, 6.0), ("3", "6"), (3,), None, (8, 4), (1, 4)):
        with pytest.raises(ValueError, match=r"k_range must be \(k_min, k_max\), whole numbers with 2 <= k_min"):
            fit_clusters(X, "kmeans", "auto", k_range=k_range)


def test_an_update_reference_with_no_rows_is_refused(tmp_path):
    from tests.conftest import make_synthetic_bundle

    bundle = make_synthetic_bundle(n_items=40)
    with pytest.raises(ValueError, match="rows selects no items of the bundle"):
        Assigner.from_bundle(bundle, rows=np.array([], dtype=np.int64))  # faiss asserted
