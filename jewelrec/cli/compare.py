"""``python -m training.compare`` / ``jewelrec-compare``: fit every clustering method on the same embeddings, side by side.

    python -m training.compare --embeddings-from artifacts --out results/compare
    python -m training.compare --embeddings-from sample --out results/compare --clusters 6

``--embeddings-from`` is a bundle directory (its stored embeddings and item table) or ``sample`` (the
sample catalog, encoded the way ``training.fit`` would). Writes ``comparison.json``, ``comparison.csv``,
``comparison.md`` and ``comparison_*.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from jewelrec.cli.arguments import cluster_count, command_name, configure_logging, whole_number
from jewelrec.defaults import CLUSTER_METHODS, ENCODERS, MAX_SEED
from jewelrec.extras import reported
from jewelrec.pipeline.config import MIN_CLUSTERS, CompareConfig


def build_parser() -> argparse.ArgumentParser:
    d = CompareConfig()
    p = argparse.ArgumentParser(prog=command_name("compare"), description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--embeddings-from", default=d.embeddings_from, help="bundle directory, or 'sample'")
    p.add_argument("--out", default=d.out, help="directory for comparison.* files")
    p.add_argument("--clusters", default=d.clusters,
                   help="k for every method: N, 'auto' (best KMeans silhouette on the embeddings) or 'labels' "
                        "(number of distinct labels); default: 'labels' when labels exist, else 'auto'")
    p.add_argument("--label-column", default=d.label_column,
                   help="item column to score against; 'auto': the bundle's label column, else 'category' if "
                        "present; 'none': no label metrics")
    p.add_argument("--methods", default=d.methods, help=f"comma-separated, from {list(CLUSTER_METHODS)}")
    p.add_argument("--layout", default=d.layout, choices=["umap", "pca"], help="2-D layout for the maps")
    p.add_argument("--k-min", type=whole_number(MIN_CLUSTERS), default=d.k_min,
                   help="smallest k tried by --clusters auto")
    p.add_argument("--k-max", type=whole_number(MIN_CLUSTERS), default=d.k_max, help="largest k tried by --clusters auto")
    p.add_argument("--seed", type=whole_number(0, MAX_SEED), default=d.seed, help="seed for every method")
    p.add_argument("--sample-items", type=whole_number(1), default=d.sample_items,
                   help="sample catalog size (sample only)")
    p.add_argument("--encoder", default=d.encoder, choices=ENCODERS,
                   help="encoder for the sample catalog, as in training.fit (sample only)")
    p.add_argument("--cnn-epochs", type=whole_number(1), default=d.cnn_epochs, help="CNN encoder epochs (sample only)")
    p.add_argument("--device", default=d.device, help="torch device for the sample's encoder")
    return p


def parse_config(argv: list[str] | None) -> CompareConfig:
    """Flags → :class:`CompareConfig`; a flag wrong on its face is argparse's usage error (status 2), as in fit."""
    parser = build_parser()
    config = CompareConfig(**vars(parser.parse_args(argv)))
    if config.clusters not in (None, "labels"):
        try:
            config.clusters = cluster_count(str(config.clusters))
        except argparse.ArgumentTypeError as err:
            parser.error(f"argument --clusters: {err} (or 'labels')")
    if config.k_min > config.k_max:
        parser.error(f"--k-min {config.k_min} is above --k-max {config.k_max}; --clusters auto tries k-min..k-max")
    named = [m.strip() for m in config.methods.split(",") if m.strip()]  # "kmeans, depict," as typed
    unknown = [m for m in named if m not in CLUSTER_METHODS]
    if unknown or not named:
        parser.error(f"--methods {config.methods!r} names {'unknown methods ' + str(unknown) if unknown else 'none'}; "
                     f"give a comma-separated list from {list(CLUSTER_METHODS)}")
    config.methods = ",".join(dict.fromkeys(named))  # a method named twice is fitted once
    return config


def print_summary(report: Any, out: str | Path, file: Any = None) -> None:
    lines = ["", "jewelrec compare — summary", "", report.to_markdown().rstrip()]
    for metric in ("nmi", "silhouette_embedding"):
        if report.leaders(metric):
            lines.append(f"best by {metric}: {', '.join(report.leaders(metric))}")
    lines.append(f"report: {Path(out) / 'comparison.md'} (+ .json, .csv, comparison_*.png)")
    print("\n".join(lines), file=file or sys.stdout)


@reported
def main(argv: list[str] | None = None) -> int:
    configure_logging()
    config = parse_config(argv)
    from jewelrec.pipeline.compare import run

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
