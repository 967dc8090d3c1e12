"""Settings of a fit, as one dataclass: the CLI maps its flags onto it, library callers build it directly.

Only the standard library and :mod:`jewelrec.defaults` are imported here, so ``--help`` stays instant.
"""

from __future__ import annotations

from dataclasses import dataclass

from jewelrec.defaults import DEFAULT_CLIP

MIN_CLUSTERS = 2  # one style is no clustering: every silhouette / NMI score needs at least two


def check_cluster_count(clusters: str, n_items: int, skipped: dict[str, int] | None = None,
                        k_range: tuple[int, int] = (3, 16)) -> None:
    """Refuse a ``--clusters N`` (or an ``auto`` range) the catalog cannot hold, as soon as its size is known
    (before any encoding).

    ``clusters``: ``"auto"`` (tries ``k_range`` within 2..n_items-1) or a whole number; ``n_items``: the items
    kept; ``skipped``: rows dropped, by reason, for the message."""
    if clusters == "auto":
        from jewelrec.clustering.methods import check_n_clusters  # heavy (sklearn): only once a catalog is loaded

        try:
            check_n_clusters("auto", n_items, k_range)
        except ValueError as err:
            raise ValueError(f"{err}" + (f" (skipped: {skipped})" if skipped else "")) from None
        return
    k = int(clusters)
    dropped = f" (skipped: {skipped})" if skipped else ""
    if k < MIN_CLUSTERS:
        raise ValueError(f"--clusters {k}: a clustering needs at least {MIN_CLUSTERS} styles; pass --clusters "
                         f"{MIN_CLUSTERS} or more, or --clusters auto")
    if k >= n_items:
        fix = (f"pass --clusters {n_items - 1} or fewer, or --clusters auto" if n_items - 1 >= MIN_CLUSTERS
               else f"a catalog needs at least {MIN_CLUSTERS + 1} items to cluster; add items")
        raise ValueError(f"--clusters {k} asks for more styles than the catalog can hold: it has {n_items} items"
                         f"{dropped}, and each style needs items of its own; {fix}")


@dataclass
class FitConfig:
    dataset: str = "sample"
    revision: str | None = None
    split: str = "train"
    out: str = "artifacts"
    encoder: str = "auto"
    model: str = DEFAULT_CLIP
    model_revision: str | None = None
    finetune: bool = False  # fine-tune the pretrained CLIP on the catalog's captions (the FashionCLIP recipe)
    caption_columns: list[str] | None = None  # None: name/title/description + the attribute columns
    caption_template: str | None = None  # str.format over a row, e.g. "{metal} {category}"; replaces the description
    clip_seconds: float = 60.0  # training budget of the catalog CLIP (or the fine-tune) in wall seconds
    label_column: str | None = None  # None: 'category' when present, else detected; a name: that column or an error
    image_column: str | None = None
    allow_external_paths: bool = False  # images referenced by paths outside the dataset folder are skipped unless set
    id_column: str | None = None
    method: str = "umap-kmeans"
    clusters: str = "auto"
    k_min: int = 3
    k_max: int = 16
    limit: int | None = None
    sample_items: int = 720
    batch_size: int = 64
    cnn_epochs: int = 30
    cnn_threads: int = 1
    device: str | None = None
    seed: int = 0
    push: bool = False
    repo_id: str | None = None
    private: bool = False
    branch: str | None = None
    compare_methods: bool = False
    engine: str = "local"  # local: one process; ray: the Ray Data pipeline (jewelrec.pipeline.distributed)
    ray_address: str | None = None  # --engine ray: the cluster to join; None: $RAY_ADDRESS, else a local Ray


@dataclass
class CompareConfig:
    embeddings_from: str = "sample"
    out: str = "results/compare"
    clusters: str | None = None  # None → "labels" when there is a label column, else "auto"
    label_column: str = "auto"
    methods: str = "kmeans,umap-kmeans,depict"
    layout: str = "umap"
    k_min: int = 3  # jewelrec.clustering.DEFAULT_K_RANGE
    k_max: int = 16
    seed: int = 0
    sample_items: int = 720
    encoder: str = "auto"
    cnn_epochs: int = 30
    device: str | None = None


@dataclass
class UpdateConfig:
    """Settings of ``training.update``: new items into a bundle's stored styles, listed items out, no refit."""

    bundle: str = "artifacts"
    out: str = "artifacts-updated"
    dataset: str | None = None  # None: only --remove
    remove: list[str] | None = None
    revision: str | None = None
    split: str = "train"
    image_column: str | None = None
    id_column: str | None = None
    allow_external_paths: bool = False
    limit: int | None = None
    sample_items: int = 720
    seed: int = 0
    device: str | None = None
    # drift: past either, the update still writes its bundle but says a refit is due (config["updates"][-1])
    max_churn: float = 0.2  # items added + removed since the fit, as a share of the fit's catalog
    max_far_share: float = 0.1  # share of this update's new items that look like nothing already in the catalog
    fail_if_refit_due: bool = False  # exit 3 instead of 0 when a refit is due (for scheduled jobs)
    push: bool = False
    repo_id: str | None = None
    private: bool = False
    branch: str | None = None
