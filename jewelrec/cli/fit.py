"""``python -m training.fit`` / ``jewelrec-fit``: catalog → embeddings → styles → bundle (→ Hub).

    python -m training.fit --dataset sample --out artifacts
    python -m training.fit --dataset ayesha111/dataset_jewellery1 --encoder clip --out artifacts --push --repo-id me/jewelrec

The bundle is written to a temporary sibling directory and moved into place only when complete, so a
failed run never damages the bundle already at ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from jewelrec.cli.arguments import (
    MIN_CLUSTERS,
    check_push_flags,
    cluster_count,
    command_name,
    configure_logging,
    positive_number,
    whole_number,
)
from jewelrec.defaults import CLUSTER_METHODS, DEFAULT_HUB_DATASET, ENCODERS, MAX_SEED
from jewelrec.extras import reported
from jewelrec.pipeline.config import FitConfig


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=command_name("fit"), description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d = FitConfig()
    p.add_argument("--dataset", default=d.dataset,
                   help=f"'sample', an image folder, parquet file(s), or a Hub dataset id (e.g. {DEFAULT_HUB_DATASET})")
    p.add_argument("--revision", default=d.revision, help="Hub dataset revision (branch, tag or commit)")
    p.add_argument("--split", default=d.split, help="dataset split to load")
    p.add_argument("--out", default=d.out, help="bundle directory to write")
    p.add_argument("--encoder", default=d.encoder, choices=ENCODERS,
                   help="auto: a pretrained CLIP when its weights can be loaded, else a CLIP trained on the "
                        "catalog's own captions (catalog-clip), else a CNN trained on --label-column")
    p.add_argument("--model", default=d.model, help="CLIP model: Hub id or local directory")
    p.add_argument("--model-revision", default=d.model_revision, help="CLIP model revision")
    p.add_argument("--finetune", action="store_true",
                   help="fine-tune the pretrained CLIP (--model) on the catalog's (image, caption) pairs")
    p.add_argument("--caption-columns", nargs="+", default=d.caption_columns, metavar="COLUMN",
                   help="columns the captions are made of (default: name/title/description + attribute columns)")
    p.add_argument("--caption-template", default=d.caption_template,
                   help="caption as a str.format template over a row, e.g. '{name}, {metal} {category}'")
    p.add_argument("--clip-seconds", type=positive_number, default=d.clip_seconds,
                   help="wall-clock budget for training the catalog CLIP or fine-tuning (early stopping may end it sooner)")
    p.add_argument("--label-column", default=d.label_column,
                   help="metadata column the CNN learns and clusters are scored against (default: 'category' when "
                        "present, else a detected categorical column; a column named here must exist)")
    p.add_argument("--image-column", default=d.image_column, help="image column (detected when omitted)")
    p.add_argument("--allow-external-paths", action="store_true",
                   help="read images a catalog reaches by paths or symlinks leading out of its folder (skipped otherwise)")
    p.add_argument("--id-column", default=d.id_column, help="item id column (detected or hashed when omitted)")
    p.add_argument("--method", default=d.method, choices=CLUSTER_METHODS, help="clustering method")
    p.add_argument("--clusters", default=d.clusters, type=cluster_count, help="number of styles, or 'auto' (best silhouette)")
    p.add_argument("--k-min", type=whole_number(MIN_CLUSTERS), default=d.k_min, help="smallest k tried by --clusters auto")
    p.add_argument("--k-max", type=whole_number(MIN_CLUSTERS), default=d.k_max, help="largest k tried by --clusters auto")
    p.add_argument("--limit", type=whole_number(1), default=d.limit, help="use only the first N rows")
    p.add_argument("--sample-items", type=whole_number(1), default=d.sample_items, help="size of the sample catalog")
    p.add_argument("--batch-size", type=whole_number(1), default=d.batch_size, help="images per encoder batch")
    p.add_argument("--cnn-epochs", type=whole_number(1), default=d.cnn_epochs, help="max CNN epochs (early stopping)")
    p.add_argument("--cnn-threads", type=whole_number(1), default=d.cnn_threads,
                   help="torch CPU threads for CNN training; 1 is fastest for its small convs on a shared CPU")
    p.add_argument("--device", default=d.device, help="torch device (default: cuda when present)")
    p.add_argument("--seed", type=whole_number(0, MAX_SEED), default=d.seed, help="seed for every random step")
    p.add_argument("--push", action="store_true", help="push the bundle to the Hub after a successful fit")
    p.add_argument("--repo-id", default=d.repo_id, help="Hub model repo for --push, e.g. user/jewelrec")
    p.add_argument("--private", action="store_true", help="create the Hub repo private")
    p.add_argument("--branch", default=d.branch, help="Hub branch to push to (default: main)")
    p.add_argument("--compare-methods", action="store_true",
                   help="also fit every clustering method on the same embeddings; writes OUT-comparison/")
    p.add_argument("--engine", default=d.engine, choices=("local", "ray"),
                   help="local: one process; ray: a streaming Ray Data pipeline (sharded read, decode in CPU tasks, "
                        "embedding in an actor pool, one per GPU when there are GPUs) — needs jewelrec[train]")
    p.add_argument("--ray-address", default=d.ray_address,
                   help="--engine ray: the Ray cluster to join (e.g. ray://head:10001 or auto); default $RAY_ADDRESS, "
                        "else a local Ray started in this process")
    return p


def parse_config(argv: list[str] | None) -> FitConfig:
    """Flags → :class:`FitConfig`; a flag that is wrong on its face ends here, as argparse's usage error (status 2)."""
    parser = build_parser()
    config = FitConfig(**vars(parser.parse_args(argv)))
    if not config.dataset.strip():  # '' would read the current directory as an image folder
        parser.error("--dataset is empty; give 'sample', an image folder, parquet file(s) or a Hub dataset id")
    if config.k_min > config.k_max:
        parser.error(f"--k-min {config.k_min} is above --k-max {config.k_max}; --clusters auto tries k-min..k-max")
    if config.finetune and config.encoder not in ("auto", "clip"):
        parser.error(f"--finetune fine-tunes a pretrained CLIP; it does not go with --encoder {config.encoder}")
    if config.ray_address and config.engine != "ray":
        parser.error("--ray-address names a Ray cluster for --engine ray; add --engine ray or drop it")
    check_push_flags(parser, config)
    return config


def print_summary(summary: dict[str, Any], file=None) -> None:
    from jewelrec.catalog.loading import skip_hints
    catalog, clusters, metrics = summary["catalog"], summary["clusters"], summary["metrics"]
    skipped = ", ".join(f"{k}: {v}" for k, v in sorted(catalog.skipped.items())) or "none"
    lines = [
        "",
        "jewelrec fit — summary",
        f"  catalog      {catalog.source}: {len(catalog)} items from {catalog.n_rows_read} rows; skipped {skipped}",
        f"  encoder      {summary['encoder']}; embedding dim {summary['dim']}",
        f"  clustering   {clusters.method}, k={clusters.n_clusters}: {clusters.k_selection_.get('reason', '')}"
        + (f"; elbow at k={clusters.k_selection_['elbow']}" if "elbow" in clusters.k_selection_ else ""),
        f"  quality      silhouette {metrics['silhouette']:.3f} (own space), "
        f"{metrics['silhouette_embedding']:.3f} (embedding space)"
        + (f"; vs '{summary['label_column']}': NMI {metrics['nmi']:.3f}, ARI {metrics['ari']:.3f}"
           if "nmi" in metrics else ""),
        "  time         " + ", ".join(f"{k} {v:.1f}s" for k, v in summary["timings"].items()),
        f"  bundle       {summary['out']}  (report: {summary['out'] / 'report'})",
    ]
    lines += [f"  note         {hint}" for hint in skip_hints(catalog.skipped)]
    if catalog.unnamed is not None:
        lines.append(f"  note         {catalog.unnamed.text()}")
    if summary["comparison"]:
        lines.append(f"  comparison   {summary['comparison']} (kmeans / umap-kmeans / depict side by side)")
    if summary["push_url"]:
        lines.append(f"  pushed       {summary['push_url']}")
    print("\n".join(lines), file=file or sys.stdout)


@reported
def main(argv: list[str] | None = None) -> int:
    configure_logging()
    config = parse_config(argv)
    from jewelrec.pipeline.fit import run  # heavy (torch, umap): only once there is work to do

    try:
        summary = run(config)
    except ValueError as err:  # bad input: say what to fix, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    print_summary(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
