"""Side-by-side comparison of clustering methods on the same embeddings.

Every method clusters the same ``X`` (n, d) at the same k, so the numbers compare like with like:
silhouette in the method's own space and in the embedding space, NMI / ARI / Hungarian-matched accuracy
against a label column when there is one, fit time, and the largest cluster's share (collapse shows here).
Plots: one shared 2-D layout of the embeddings coloured by each method's clusters (and by the labels),
DEPICT's training curves per loss term, and the metrics as bars.

    report = compare_methods(X, true_labels=categories, seed=0)
    write_report(report, "out/")   # comparison.json / .csv / .md + comparison_*.png
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from tqdm.auto import tqdm

from jewelrec import jsonio, plotting
from jewelrec.clustering.methods import (
    DEFAULT_K_RANGE,
    METHODS,
    Clustering,
    check_n_clusters,
    check_seed,
    choose_k,
    cluster_metrics,
    fit_clusters,
    hungarian_accuracy,
    labelled_mask,
    match_clusters,
    umap_embed,
)

DEFAULT_METHODS = ("kmeans", "umap-kmeans", "depict")
COLUMNS = ("method", "n_clusters", "silhouette", "silhouette_embedding", "nmi", "ari", "accuracy",
           "largest_cluster_frac", "fit_seconds")
LABEL_METRICS = ("nmi", "ari", "accuracy")


@dataclass
class ComparisonReport:
    """What :func:`compare_methods` measured. ``rows``: one dict per method with the ``COLUMNS`` keys."""

    rows: list[dict[str, Any]]
    n_clusters: int
    k_reason: str
    n_items: int
    dim: int
    seed: int
    coords2d: np.ndarray  # (n, 2) shared layout of the embeddings
    layout: str  # how coords2d was made: umap | pca
    labels: dict[str, np.ndarray]  # method → (n,) cluster labels
    true_labels: np.ndarray | None = None  # (n,) label strings, "" where missing
    label_column: str | None = None
    n_labelled: int = 0
    k_selection: dict[str, Any] = field(default_factory=dict)
    depict: dict[str, Any] = field(default_factory=dict)  # history, n_iter, stop_reason, config

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(COLUMNS))

    def best(self, metric: str) -> str | None:
        """Method with the highest ``metric`` (None when no method has it)."""
        scored = [r for r in self.rows if _finite(r.get(metric))]
        return max(scored, key=lambda r: r[metric])["method"] if scored else None

    def leaders(self, metric: str) -> list[str]:
        """Every method within 0.001 of the best ``metric`` (ties are common on easy data)."""
        best = self.best(metric)
        if best is None:
            return []
        top = next(r[metric] for r in self.rows if r["method"] == best)
        return [r["method"] for r in self.rows if _finite(r.get(metric)) and r[metric] >= top - 1e-3]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": [{k: _json_number(v) for k, v in row.items()} for row in self.rows],
            "n_clusters": self.n_clusters, "k_reason": self.k_reason, "k_selection": self.k_selection,
            "n_items": self.n_items, "dim": self.dim, "seed": self.seed, "layout": self.layout,
            "label_column": self.label_column, "n_labelled": self.n_labelled,
            "best": {m: self.leaders(m) for m in ("silhouette_embedding", *LABEL_METRICS) if self.leaders(m)},
            "depict": self.depict,
        }

    def to_markdown(self) -> str:
        """The comparison table plus one line on how k was chosen and what the labels were."""
        shown = [c for c in COLUMNS if c not in LABEL_METRICS or self.true_labels is not None]
        lines = ["| " + " | ".join(shown) + " |", "|" + "|".join("---" for _ in shown) + "|"]
        for row in self.rows:
            lines.append("| " + " | ".join(_fmt(row.get(c)) for c in shown) + " |")
        notes = [f"{self.n_items} items × {self.dim} dims; k = {self.n_clusters} ({self.k_reason}); "
                 f"seed {self.seed}; 2-D maps: {self.layout} layout of the embeddings."]
        if self.true_labels is not None:
            notes.append(f"NMI / ARI / accuracy (Hungarian-matched) against `{self.label_column}` on "
                         f"{self.n_labelled} labelled items.")
        if self.depict:
            notes.append(f"DEPICT ran {self.depict.get('n_iter')} epochs ({self.depict.get('n_pretrain_epochs')} "
                         f"VAE pre-training); joint phase stopped: {self.depict.get('stop_reason')}.")
        return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _json_number(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _fmt(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.3f}" if math.isfinite(value) else "–"
    return "–" if value is None else str(value)


def _label_array(true_labels: Sequence[Any] | np.ndarray | None, n: int) -> tuple[np.ndarray | None, np.ndarray]:
    """Labels as strings with "" where missing, and the mask of labelled items."""
    if true_labels is None:
        return None, np.zeros(n, bool)
    series = pd.Series(list(true_labels), dtype=object)
    if len(series) != n:
        raise ValueError(f"true_labels has {len(series)} entries but X has {n} rows; pass one label per item")
    mask = labelled_mask(series)
    return series.where(mask, "").astype(str).to_numpy(), mask


def resolve_k(X: np.ndarray, n_clusters: int | str, labels: np.ndarray | None, mask: np.ndarray,
              seed: int, k_range: tuple[int, int]) -> tuple[int, str, dict[str, Any]]:
    """One k for every method. ``"labels"``: the number of distinct labels; ``"auto"``: best silhouette
    of KMeans on the embeddings over ``k_range``; an int: itself."""
    if n_clusters == "labels":
        if labels is None or not mask.any():
            raise ValueError("n_clusters='labels' needs a label column; pass a number, 'auto', or a label column")
        k = len(np.unique(labels[mask]))
        return k, "number of distinct labels", {"chosen": k}
    if n_clusters == "auto":
        selection = choose_k(X, k_range, seed)
        return int(selection["chosen"]), selection["reason"], selection
    k = check_n_clusters(n_clusters, len(X), k_range)  # a whole number here: "auto" was handled above
    return k, "given", {"chosen": k}


def compare_methods(X: np.ndarray, *, methods: Sequence[str] = DEFAULT_METHODS, n_clusters: int | str | None = None,
                    true_labels: Sequence[Any] | np.ndarray | None = None, label_column: str | None = None,
                    seed: int = 0, k_range: tuple[int, int] = DEFAULT_K_RANGE, layout: str = "umap",
                    progress: bool | None = None) -> ComparisonReport:
    """Fit each method on X (n, d) at one shared k and measure it.

    ``n_clusters``: an int, ``"auto"`` (silhouette sweep on the embeddings), ``"labels"`` (number of
    distinct labels) or None (``"labels"`` when labels are given, else ``"auto"``).
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"unknown clustering methods {unknown}; choose from {sorted(METHODS)}")
    repeated = sorted({m for m in methods if list(methods).count(m) > 1})
    if repeated:  # the report is one row per method: a second fit of one would be two rows of one name
        raise ValueError(f"clustering methods {repeated} are named more than once; name each once")
    if layout not in ("umap", "pca"):
        raise ValueError(f"layout must be 'umap' or 'pca', got {layout!r}")
    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.ndim != 2 or len(X) < 3:
        raise ValueError(f"need embeddings of shape (n, d) with n >= 3, got {X.shape}")
    seed = check_seed(seed)
    labels, mask = _label_array(true_labels, len(X))
    if n_clusters is None:
        n_clusters = "labels" if labels is not None and mask.any() else "auto"
    k, k_reason, selection = resolve_k(X, n_clusters, labels, mask, seed, k_range)
    if not 2 <= k < len(X):
        raise ValueError(f"k={k} needs 2 <= k < n_items ({len(X)}); pass a smaller --clusters")

    rows, assigned, depict_info = [], {}, {}
    for method in tqdm(methods, desc="comparing methods", disable=None if progress is None else not progress):
        result: Clustering = fit_clusters(X, method, k, seed=seed, coords2d=False)
        row = {"method": method, **cluster_metrics(result, X, None, seed)}
        row["n_clusters"] = result.n_clusters
        row["largest_cluster_frac"] = float(np.bincount(result.labels_).max() / len(X))
        if labels is not None and mask.any():
            truth, pred = labels[mask], result.labels_[mask]
            row["nmi"] = float(normalized_mutual_info_score(truth, pred))
            row["ari"] = float(adjusted_rand_score(truth, pred))
            row["accuracy"] = hungarian_accuracy(truth, pred)
        rows.append({c: row.get(c) for c in COLUMNS})
        assigned[method] = result.labels_
        model = result.model_
        if model is not None and hasattr(model, "history_"):
            depict_info = {"history": model.history_, "n_iter": model.n_iter_,
                           "n_pretrain_epochs": model.n_pretrain_epochs_, "stop_reason": model.stop_reason_,
                           "config": model.config_.to_dict()}
    if layout == "umap":
        coords = umap_embed(X, n_components=2, seed=seed)  # (n, 2)
    else:
        coords = PCA(n_components=2, random_state=seed).fit_transform(X).astype(np.float32)  # (n, 2)
    return ComparisonReport(rows=rows, n_clusters=k, k_reason=k_reason, n_items=len(X), dim=X.shape[1],
                            seed=seed, coords2d=coords, layout=layout, labels=assigned,
                            true_labels=labels, label_column=label_column if labels is not None else None,
                            n_labelled=int(mask.sum()), k_selection=selection, depict=depict_info)


# --- writing ---------------------------------------------------------------------------------------------------


def align_labels(labels: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Renumber ``labels`` (n,) so each cluster takes the id of the ``reference`` group it overlaps most
    (Hungarian matching); clusters left unmatched get fresh ids. Keeps colours comparable across panels."""
    ids, codes = np.unique(labels, return_inverse=True)
    ref_ids = np.unique(reference)
    rows, cols = match_clusters(labels, reference)
    mapping = np.empty(len(ids), dtype=np.int64)
    mapping[rows] = cols
    unmatched = np.setdiff1d(np.arange(len(ids)), rows)
    mapping[unmatched] = len(ref_ids) + np.arange(len(unmatched))  # fresh ids after every reference id
    return mapping[codes]


def map_panels(report: ComparisonReport) -> list[tuple[str, np.ndarray]]:
    """(title, labels) per method, plus the true labels first when known; colours matched to the first."""
    panels: list[tuple[str, np.ndarray]] = list(report.labels.items())
    if report.true_labels is not None:
        _, codes = np.unique(report.true_labels, return_inverse=True)
        panels.insert(0, (f"labels: {report.label_column}", codes))
    reference = panels[0][1]
    nmi = {r["method"]: r.get("nmi") for r in report.rows}
    return [(f"{title} (NMI {nmi[title]:.2f})" if _finite(nmi.get(title)) else title, align_labels(labels, reference))
            for title, labels in panels]


def write_report(report: ComparisonReport, out_dir: str | Path) -> list[Path]:
    """Write comparison.json, comparison.csv, comparison.md and the PNGs into out_dir; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "comparison.json", out / "comparison.csv", out / "comparison.md"]
    jsonio.write(written[0], report.to_dict(), default=None)
    report.to_frame().to_csv(written[1], index=False, float_format="%.6g")
    written[2].write_text("# Clustering methods compared\n\n" + report.to_markdown())
    written.append(plotting.plot_method_maps(
        report.coords2d, map_panels(report), out / "comparison_maps.png",
        title=f"Clusters on the {report.layout} map of the embeddings (k = {report.n_clusters})"))
    metrics = ["silhouette", "silhouette_embedding", *(LABEL_METRICS if report.true_labels is not None else ())]
    written.append(plotting.plot_method_metrics(
        {row["method"]: {m: row[m] if _finite(row.get(m)) else 0.0 for m in metrics} for row in report.rows},
        out / "comparison_metrics.png"))
    if report.depict:
        written.append(plotting.plot_depict_curves(report.depict, out / "comparison_depict_training.png"))
    return written
