"""Styles: cluster the embeddings, choose k, lay the catalog out in 2-D, and score the result.

``fit_clusters(X, method, n_clusters, seed)`` (★) dispatches over ``METHODS`` (kmeans, umap-kmeans, depict);
:mod:`jewelrec.clustering.depict` is the deep method, :mod:`jewelrec.clustering.report` compares them.
"""

from jewelrec.clustering.methods import (
    DEFAULT_K_RANGE,
    METHODS,
    Clustering,
    check_n_clusters,
    check_seed,
    choose_k,
    cluster_metrics,
    elbow_k,
    fit_clusters,
    hungarian_accuracy,
    magnitude_scale,
    match_clusters,
    silhouette,
    soft_assign,
    umap_embed,
)

__all__ = ["DEFAULT_K_RANGE", "METHODS", "Clustering", "check_n_clusters", "check_seed", "choose_k", "cluster_metrics",
           "elbow_k", "fit_clusters", "hungarian_accuracy", "magnitude_scale", "match_clusters", "silhouette",
           "soft_assign", "umap_embed"]
