"""Comparison plots for the offline evaluation (matplotlib, Agg backend, PNG files)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

BASELINE_COLOR = "#9e9e9e"
MODEL_COLOR = "#3b6ea8"


def plot_metric_bars(results: dict[str, dict[str, float]], path: str | Path, baseline: str = "popularity") -> Path:
    """One panel per metric, one bar per model; the baseline is grey. ``results`` is {model: {metric: value}}."""
    models = list(results)
    metrics = sorted({m for values in results.values() for m in values}, key=_metric_order)
    cols = min(4, max(1, len(metrics)))
    rows = int(np.ceil(len(metrics) / cols)) if metrics else 1
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 0.35 * len(models) * rows + 1.6 * rows), squeeze=False)
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
    fig.suptitle("Offline evaluation (grey: popularity baseline)", fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def plot_lift(results: dict[str, dict[str, float]], path: str | Path, baseline: str = "popularity") -> Path | None:
    """Relative change of every accuracy metric over the baseline, per model (a grouped bar chart)."""
    if baseline not in results:
        return None
    accuracy = [m for m in results[baseline] if m.split("@")[0] in ("map", "precision", "recall", "ndcg", "hit_rate")]
    models = [m for m in results if m != baseline]
    if not accuracy or not models:
        return None
    fig, ax = plt.subplots(figsize=(min(12.0, 2.0 + 1.0 * len(models)), 3.8))
    width = 0.8 / len(accuracy)
    x = np.arange(len(models))
    for i, metric in enumerate(sorted(accuracy, key=_metric_order)):
        base = results[baseline][metric]
        lift = [(results[m].get(metric, np.nan) / base - 1.0) * 100 if base > 0 else np.nan for m in models]
        ax.bar(x + i * width - 0.4 + width / 2, lift, width, label=metric)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, models, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(f"% change vs {baseline}")
    ax.legend(fontsize=7, ncol=min(5, len(accuracy)))
    fig.tight_layout()
    return _save(fig, path)


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
    fig.tight_layout()
    return _save(fig, path)


def _metric_order(name: str) -> tuple[int, str]:
    order = ["map", "ndcg", "precision", "recall", "hit_rate", "coverage", "diversity", "novelty"]
    base = name.split("@")[0]
    return (order.index(base) if base in order else len(order), name)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
