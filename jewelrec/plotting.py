"""Every figure jewelrec draws (matplotlib, Agg backend: no display needed), in one place.

Each function writes one PNG and returns its path: the fit report (k selection, style map, confusion matrix,
training curves, style sizes), the clustering-method comparison, and the offline-evaluation charts.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402

DPI = 110
BASELINE_COLOR = "#9e9e9e"
MODEL_COLOR = "#3b6ea8"


def _literal_text(draw: Callable[..., Any]) -> Callable[..., Any]:
    """Draw with user text (model, style and column names) as written: '$50 or $80' is a price, not TeX math,
    which matplotlib's mathtext would parse — and fail on, losing the figure and the run's later outputs."""
    @functools.wraps(draw)
    def drawn(*args: Any, **kwargs: Any) -> Any:
        with plt.rc_context({"text.parse_math": False}):
            return draw(*args, **kwargs)

    return drawn


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


@_literal_text
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


@_literal_text
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


@_literal_text
def plot_confusion(matrix: Sequence[Sequence[int]], names: Sequence[str], path: str | Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ConfusionMatrixDisplay(np.asarray(matrix), display_labels=list(names)).plot(ax=ax, colorbar=False,
                                                                              xticks_rotation=45)
    ax.set_title("CNN encoder: validation confusion matrix")
    return _save(fig, path)


@_literal_text
def plot_training_curves(history: dict[str, list[float]], path: str | Path, title: str) -> Path:
    """One line per loss/metric series against epoch."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for name, values in history.items():
        if name != "lr":
            ax.plot(range(1, len(values) + 1), values, label=name)
    ax.set(xlabel="epoch", title=title)
    ax.legend()
    return _save(fig, path)


@_literal_text
def plot_cluster_sizes(labels: np.ndarray, names: Sequence[str], path: str | Path) -> Path:
    counts = np.bincount(labels, minlength=len(names))
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(names) + 1))
    ax.barh(list(names), counts, color="tab:blue")
    ax.invert_yaxis()
    ax.set(xlabel="items", title="Items per style")
    return _save(fig, path)


# --- offline evaluation ----------------------------------------------------------------------------------


@_literal_text
def plot_eval_metrics(results: dict[str, dict[str, float]], path: str | Path, baseline: str = "popularity") -> Path:
    """One panel per metric, one bar per model; the baseline is grey. ``results`` is {model: {metric: value}}."""
    models = list(results)
    metrics = sorted({m for values in results.values() for m in values}, key=_metric_order)
    cols = min(4, max(1, len(metrics)))
    rows = int(np.ceil(len(metrics) / cols)) if metrics else 1
    fig, axes = plt.subplots(rows, cols, figsize=(max(5.0, 3.2 * cols), 0.35 * len(models) * rows + 1.6 * rows),
                             squeeze=False)  # ≥ 5 in wide: the title fits above a single panel
    for ax, metric in zip(axes.ravel(), metrics):
        values = [results[m].get(metric, np.nan) for m in models]
        colors = [BASELINE_COLOR if m == baseline else MODEL_COLOR for m in models]
        y = np.arange(len(models))
        ax.barh(y, values, color=colors)
        ax.set_yticks(y, models, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(metric, fontsize=10)
        ax.tick_params(axis="x", labelsize=7)
        for yi, v in zip(y, values):
            if np.isfinite(v):
                ax.text(v, yi, f" {v:.3g}", va="center", fontsize=7)
    for ax in axes.ravel()[len(metrics) :]:
        ax.axis("off")
    named = "" if baseline == "popularity" else f", {baseline}"
    fig.suptitle(f"Offline evaluation (grey: the popularity baseline{named})", fontsize=11)
    return _save(fig, path)


@_literal_text
def plot_lift(results: dict[str, dict[str, float]], path: str | Path, baseline: str = "popularity") -> Path | None:
    """Relative change of every accuracy metric over the baseline, per model (a grouped bar chart)."""
    if baseline not in results:
        return None
    accuracy = [m for m in results[baseline] if m.split("@")[0] in ("map", "precision", "recall", "ndcg", "hit_rate")]
    models = [m for m in results if m != baseline]
    if not accuracy or not models:
        return None
    # room on the right for the legend, outside the bars (inside, on a narrow chart, it covered the first series)
    fig, ax = plt.subplots(figsize=(min(13.5, 3.5 + 1.0 * len(models)), 3.8))
    width = 0.8 / len(accuracy)
    x = np.arange(len(models))
    for i, metric in enumerate(sorted(accuracy, key=_metric_order)):
        base = results[baseline][metric]
        lift = [(results[m].get(metric, np.nan) / base - 1.0) * 100 if base > 0 else np.nan for m in models]
        ax.bar(x + i * width - 0.4 + width / 2, lift, width, label=metric)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, models, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(f"% change vs {baseline}")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return _save(fig, path)


@_literal_text
def plot_sweep(trials: list[dict], metric: str, path: str | Path) -> Path | None:
    """Validation ``metric`` of every sweep trial, one panel per model, best trial highlighted.
    ``trials`` rows: {"model": str, "params": str, metric: float, "best": bool}."""
    models = sorted({t["model"] for t in trials})
    if not models:
        return None
    fig, axes = plt.subplots(1, len(models), figsize=(3.6 * len(models), 3.4), squeeze=False)
    for ax, model in zip(axes.ravel(), models):
        rows = [t for t in trials if t["model"] == model]
        values = [t.get(metric, np.nan) for t in rows]
        colors = ["#d9822b" if t.get("best") else MODEL_COLOR for t in rows]
        ax.bar(np.arange(len(rows)), values, color=colors)
        ax.set_xticks(np.arange(len(rows)), [t["params"] for t in rows], rotation=60, ha="right", fontsize=6)
        ax.set_title(f"{model}: {metric}", fontsize=9)
    return _save(fig, path)


def _metric_order(name: str) -> tuple[int, str]:
    order = ["map", "ndcg", "precision", "recall", "hit_rate", "coverage", "diversity", "novelty"]
    base = name.split("@")[0]
    return (order.index(base) if base in order else len(order), name)


# --- clustering methods compared -------------------------------------------------------------------------


@_literal_text
def plot_method_maps(coords: np.ndarray, panels: Sequence[tuple[str, np.ndarray]], path: str | Path,
                     title: str) -> Path:
    """One panel per (title, labels (n,)) on the shared 2-D layout ``coords`` (n, 2)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.8), squeeze=False)
    cmap = plt.get_cmap("tab20")
    for ax, (name, labels) in zip(axes[0], panels):
        ax.scatter(coords[:, 0], coords[:, 1], c=cmap(labels % 20), s=5, alpha=0.8)
        ax.set(title=name, xticks=[], yticks=[])
    fig.suptitle(title)
    return _save(fig, path)


@_literal_text
def plot_depict_curves(depict: dict[str, Any], path: str | Path) -> Path:
    """DEPICT's loss terms per epoch, one panel each; the dashed line ends VAE pre-training."""
    history, start = depict["history"], depict["n_pretrain_epochs"]
    interval = int(depict.get("config", {}).get("target_update_interval", 1))
    terms = [t for t in ("total", "recon", "vae_kl", "cluster_kl", "label_change") if history.get(t)]
    fig, axes = plt.subplots(1, len(terms), figsize=(3.2 * len(terms), 3.0), squeeze=False)
    for ax, term in zip(axes[0], terms):
        values = np.asarray(history[term], dtype=float)
        steps = np.arange(1, len(values) + 1)
        if term == "cluster_kl":
            epochs = start + steps  # joint epochs follow pre-training
        elif term == "label_change":
            epochs = start + steps * interval  # measured after every `interval` joint epochs
        else:
            epochs = steps
        ax.plot(epochs, values, marker="." if len(values) < 30 else None)
        ax.axvline(start + 0.5, color="tab:gray", linestyle="--", linewidth=0.8)
        ax.set(title=term, xlabel="epoch")
    fig.suptitle("DEPICT training (dashed: end of VAE pre-training)")
    return _save(fig, path)


@_literal_text
def plot_method_metrics(values: dict[str, dict[str, float]], path: str | Path) -> Path:
    """Grouped bars: one group per metric, one bar per method. ``values`` is {method: {metric: value}}."""
    methods = list(values)
    metrics = list(next(iter(values.values())))
    width = 0.8 / len(methods)
    fig, ax = plt.subplots(figsize=(1.6 * len(metrics) + 2, 3.4))
    for i, method in enumerate(methods):
        ax.bar(np.arange(len(metrics)) + i * width, [values[method][m] for m in metrics], width, label=method)
    ax.set_xticks(np.arange(len(metrics)) + width * (len(methods) - 1) / 2, metrics)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set(title="Clustering methods side by side")
    ax.legend(fontsize=8)
    return _save(fig, path)
