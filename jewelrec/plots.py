"""Report figures (matplotlib, Agg backend: no display needed). Each function writes one PNG and returns its path."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402

DPI = 110


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_k_selection(selection: dict[str, Any], path: str | Path) -> Path:
    """Silhouette and inertia (elbow) against k, with the chosen k and the elbow marked."""
    fig, (ax_s, ax_i) = plt.subplots(1, 2, figsize=(9, 3.4))
    ks = selection["ks"]
    ax_s.plot(ks, selection["silhouette"], marker="o")
    ax_s.axvline(selection["chosen"], color="tab:red", linestyle="--", label=f"chosen k={selection['chosen']}")
    ax_s.set(xlabel="k", ylabel="silhouette", title="Silhouette by k")
    ax_s.legend()
    ax_i.plot(ks, selection["inertia"], marker="o", color="tab:gray")
    ax_i.axvline(selection["elbow"], color="tab:orange", linestyle="--", label=f"elbow k={selection['elbow']}")
    ax_i.set(xlabel="k", ylabel="inertia", title="Elbow curve")
    ax_i.legend()
    return _save(fig, path)


def plot_style_map(coords: np.ndarray, labels: np.ndarray, names: Sequence[str], path: str | Path,
                   title: str = "Style map (UMAP 2-D)") -> Path:
    """Every item at its 2-D position (n, 2), coloured by cluster, with the style names in the legend."""
    fig, ax = plt.subplots(figsize=(7, 6))
    cmap = plt.get_cmap("tab20")
    for cluster, name in enumerate(names):
        mask = labels == cluster
        ax.scatter(coords[mask, 0], coords[mask, 1], s=8, color=cmap(cluster % 20), label=name, alpha=0.8)
    ax.set(title=title, xticks=[], yticks=[])
    ax.legend(fontsize=7, markerscale=2, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return _save(fig, path)


def plot_confusion(matrix: Sequence[Sequence[int]], names: Sequence[str], path: str | Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ConfusionMatrixDisplay(np.asarray(matrix), display_labels=list(names)).plot(ax=ax, colorbar=False,
                                                                              xticks_rotation=45)
    ax.set_title("CNN encoder: validation confusion matrix")
    return _save(fig, path)


def plot_training_curves(history: dict[str, list[float]], path: str | Path, title: str) -> Path:
    """One line per loss/metric series against epoch."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for name, values in history.items():
        if name != "lr":
            ax.plot(range(1, len(values) + 1), values, label=name)
    ax.set(xlabel="epoch", title=title)
    ax.legend()
    return _save(fig, path)


def plot_cluster_sizes(labels: np.ndarray, names: Sequence[str], path: str | Path) -> Path:
    counts = np.bincount(labels, minlength=len(names))
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(names) + 1))
    ax.barh(list(names), counts, color="tab:blue")
    ax.invert_yaxis()
    ax.set(xlabel="items", title="Items per style")
    return _save(fig, path)
