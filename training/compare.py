"""``python -m training.compare``: fit every clustering method on the same embeddings, side by side.

    python -m training.compare --embeddings-from artifacts --out results/compare
    python -m training.compare --embeddings-from sample --out results/compare --clusters 6

``--embeddings-from`` is a bundle directory (its stored embeddings and item table) or ``sample`` (the
sample catalog, encoded the way ``training.fit`` would). Writes ``comparison.json``, ``comparison.csv``,
``comparison.md`` and ``comparison_*.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jewelrec.cluster_report import DEFAULT_METHODS, ComparisonReport, compare_methods, write_report
from jewelrec.clustering import DEFAULT_K_RANGE, METHODS

log = logging.getLogger("jewelrec.compare")


@dataclass
class CompareConfig:
    embeddings_from: str = "sample"
    out: str = "results/compare"
    clusters: str | None = None  # None → "labels" when there is a label column, else "auto"
    label_column: str = "auto"
    methods: str = ",".join(DEFAULT_METHODS)
    layout: str = "umap"
    k_min: int = DEFAULT_K_RANGE[0]
    k_max: int = DEFAULT_K_RANGE[1]
    seed: int = 0
    sample_items: int = 720
    encoder: str = "auto"
    cnn_epochs: int = 30
    device: str | None = None


def build_parser() -> argparse.ArgumentParser:
    d = CompareConfig()
    p = argparse.ArgumentParser(prog="python -m training.compare", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--embeddings-from", default=d.embeddings_from, help="bundle directory, or 'sample'")
    p.add_argument("--out", default=d.out, help="directory for comparison.* files")
    p.add_argument("--clusters", default=d.clusters,
                   help="k for every method: N, 'auto' (best KMeans silhouette on the embeddings) or 'labels' "
                        "(number of distinct labels); default: 'labels' when labels exist, else 'auto'")
    p.add_argument("--label-column", default=d.label_column,
                   help="item column to score against; 'auto': the bundle's label column, else 'category' if "
                        "present; 'none': no label metrics")
    p.add_argument("--methods", default=d.methods, help=f"comma-separated, from {sorted(METHODS)}")
    p.add_argument("--layout", default=d.layout, choices=["umap", "pca"], help="2-D layout for the maps")
    p.add_argument("--k-min", type=int, default=d.k_min, help="smallest k tried by --clusters auto")
    p.add_argument("--k-max", type=int, default=d.k_max, help="largest k tried by --clusters auto")
    p.add_argument("--seed", type=int, default=d.seed, help="seed for every method")
    p.add_argument("--sample-items", type=int, default=d.sample_items, help="sample catalog size (sample only)")
    p.add_argument("--encoder", default=d.encoder, choices=["auto", "clip", "cnn"],
                   help="encoder for the sample catalog, as in training.fit (sample only)")
    p.add_argument("--cnn-epochs", type=int, default=d.cnn_epochs, help="CNN encoder epochs (sample only)")
    p.add_argument("--device", default=d.device, help="torch device for the sample's encoder")
    return p


def parse_config(argv: list[str] | None) -> CompareConfig:
    config = CompareConfig(**vars(build_parser().parse_args(argv)))
    if config.clusters not in (None, "auto", "labels") and not str(config.clusters).isdigit():
        raise SystemExit(f"--clusters must be a whole number, 'auto' or 'labels', got {config.clusters!r}")
    unknown = [m for m in config.methods.split(",") if m not in METHODS]
    if unknown:
        raise SystemExit(f"--methods has unknown methods {unknown}; choose from {sorted(METHODS)}")
    return config


def pick_label_column(items: pd.DataFrame, requested: str, recorded: str | None) -> str | None:
    """Resolve ``--label-column`` against the item table's columns."""
    if requested == "none":
        return None
    if requested == "auto":
        for candidate in (recorded, "category"):
            if candidate and candidate in items.columns:
                return candidate
        return None
    if requested not in items.columns:
        usable = [c for c in items.columns if c not in ("item_id", "thumbnail", "image")]
        raise ValueError(f"label column {requested!r} is not in the items; columns are {usable} "
                         "(or pass --label-column none)")
    return requested


def _n_clusters(value: str | None) -> int | str | None:
    return int(value) if value is not None and str(value).isdigit() else value


def compare_bundle(bundle_dir: str | Path, out_dir: str | Path, *, label_column: str | None = "auto",
                   seed: int = 0, n_clusters: int | str | None = None,
                   methods: tuple[str, ...] | list[str] = DEFAULT_METHODS, layout: str = "umap",
                   k_range: tuple[int, int] = DEFAULT_K_RANGE) -> ComparisonReport:
    """Compare methods on a bundle's embeddings and write the report into out_dir.

    When out_dir lies inside the bundle (``BUNDLE/report``), the bundle is re-sealed afterwards so its
    manifest covers the new files and :meth:`Bundle.load` still accepts it.
    """
    from jewelrec.bundle import Bundle

    bundle_dir, out_dir = Path(bundle_dir), Path(out_dir)
    bundle = Bundle.load(bundle_dir)
    recorded = (bundle.config.get("dataset") or {}).get("label_column")
    column = pick_label_column(bundle.items, label_column or "none", recorded)
    truth = bundle.items[column].to_numpy() if column else None
    report = compare_methods(bundle.embeddings, methods=tuple(methods), n_clusters=n_clusters, true_labels=truth,
                             label_column=column, seed=seed, k_range=k_range, layout=layout)
    written = write_report(report, out_dir)
    if out_dir.resolve().is_relative_to(bundle_dir.resolve()):
        bundle.save(bundle_dir)  # re-seal: the manifest must list the comparison files
    log.info("wrote %s", ", ".join(p.name for p in written))
    return report


def sample_embeddings(config: CompareConfig) -> tuple[np.ndarray, pd.DataFrame, str]:
    """Encode the sample catalog the way ``training.fit`` does; returns (X (n, d), items, encoder note)."""
    from jewelrec.catalog import load_catalog
    from training.fit import FitConfig, choose_encoder

    fit_config = FitConfig(dataset="sample", sample_items=config.sample_items, seed=config.seed,
                           encoder=config.encoder, cnn_epochs=config.cnn_epochs, device=config.device)
    catalog = load_catalog("sample", sample_items=config.sample_items, seed=config.seed)
    encoder, reason = choose_encoder(fit_config, catalog, catalog.label_column("category"))
    return encoder.encode_images(catalog.images), catalog.metadata(), reason


def run(config: CompareConfig) -> ComparisonReport:
    methods = tuple(config.methods.split(","))
    k_range = (config.k_min, config.k_max)
    if config.embeddings_from != "sample":
        return compare_bundle(config.embeddings_from, config.out, label_column=config.label_column,
                              seed=config.seed, n_clusters=_n_clusters(config.clusters), methods=methods,
                              layout=config.layout, k_range=k_range)
    X, items, reason = sample_embeddings(config)
    log.info("sample catalog encoded with %s", reason)
    column = pick_label_column(items, config.label_column, "category")
    report = compare_methods(X, methods=methods, n_clusters=_n_clusters(config.clusters),
                             true_labels=items[column].to_numpy() if column else None, label_column=column,
                             seed=config.seed, k_range=k_range, layout=config.layout)
    write_report(report, config.out)
    return report


def print_summary(report: ComparisonReport, out: str | Path, file: Any = None) -> None:
    lines = ["", "jewelrec compare — summary", "", report.to_markdown().rstrip()]
    for metric in ("nmi", "silhouette_embedding"):
        if report.leaders(metric):
            lines.append(f"best by {metric}: {', '.join(report.leaders(metric))}")
    lines.append(f"report: {Path(out) / 'comparison.md'} (+ .json, .csv, comparison_*.png)")
    print("\n".join(lines), file=file or sys.stdout)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    config = parse_config(argv)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*n_jobs value.*overridden.*")  # umap + random_state
            report = run(config)
    except ValueError as err:  # bad input (incl. BundleError): say what to fix, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    print_summary(report, config.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
