"""``python -m training.fit``: catalog → embeddings → styles → bundle (→ Hub).

    python -m training.fit --dataset sample --out artifacts
    python -m training.fit --dataset ayesha111/dataset_jewellery1 --encoder clip --out artifacts --push --repo-id me/jewelrec

The bundle is written to a temporary sibling directory and moved into place only when complete, so a
failed run never damages the bundle already at ``--out``.
"""

from __future__ import annotations

import argparse
import io
import logging
import shutil
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

from PIL import Image

from jewelrec import plots
from jewelrec.bundle import Bundle, write_json
from jewelrec.catalog import DEFAULT_HUB_DATASET, Catalog, load_catalog
from jewelrec.clustering import METHODS, cluster_metrics, fit_clusters
from jewelrec.encoders import DEFAULT_CLIP, ClipEncoder, clip_available
from jewelrec.recommender import cluster_names

log = logging.getLogger("jewelrec.fit")
THUMBNAIL_PX = 256


@dataclass
class FitConfig:
    dataset: str = "sample"
    revision: str | None = None
    split: str = "train"
    out: str = "artifacts"
    encoder: str = "auto"
    model: str = DEFAULT_CLIP
    model_revision: str | None = None
    label_column: str | None = "category"
    image_column: str | None = None
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.fit", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d = FitConfig()
    p.add_argument("--dataset", default=d.dataset,
                   help=f"'sample', an image folder, parquet file(s), or a Hub dataset id (e.g. {DEFAULT_HUB_DATASET})")
    p.add_argument("--revision", default=d.revision, help="Hub dataset revision (branch, tag or commit)")
    p.add_argument("--split", default=d.split, help="dataset split to load")
    p.add_argument("--out", default=d.out, help="bundle directory to write")
    p.add_argument("--encoder", default=d.encoder, choices=["auto", "clip", "cnn"],
                   help="auto: CLIP when its weights can be loaded, else a CNN trained on --label-column")
    p.add_argument("--model", default=d.model, help="CLIP model: Hub id or local directory")
    p.add_argument("--model-revision", default=d.model_revision, help="CLIP model revision")
    p.add_argument("--label-column", default=d.label_column,
                   help="metadata column the CNN learns and clusters are scored against")
    p.add_argument("--image-column", default=d.image_column, help="image column (detected when omitted)")
    p.add_argument("--id-column", default=d.id_column, help="item id column (detected or hashed when omitted)")
    p.add_argument("--method", default=d.method, choices=sorted(METHODS), help="clustering method")
    p.add_argument("--clusters", default=d.clusters, help="number of styles, or 'auto' (best silhouette)")
    p.add_argument("--k-min", type=int, default=d.k_min, help="smallest k tried by --clusters auto")
    p.add_argument("--k-max", type=int, default=d.k_max, help="largest k tried by --clusters auto")
    p.add_argument("--limit", type=int, default=d.limit, help="use only the first N rows")
    p.add_argument("--sample-items", type=int, default=d.sample_items, help="size of the sample catalog")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="images per encoder batch")
    p.add_argument("--cnn-epochs", type=int, default=d.cnn_epochs, help="max CNN epochs (early stopping)")
    p.add_argument("--cnn-threads", type=int, default=d.cnn_threads,
                   help="torch CPU threads for CNN training; 1 is fastest for its small convs on a shared CPU")
    p.add_argument("--device", default=d.device, help="torch device (default: cuda when present)")
    p.add_argument("--seed", type=int, default=d.seed, help="seed for every random step")
    p.add_argument("--push", action="store_true", help="push the bundle to the Hub after a successful fit")
    p.add_argument("--repo-id", default=d.repo_id, help="Hub model repo for --push, e.g. user/jewelrec")
    p.add_argument("--private", action="store_true", help="create the Hub repo private")
    p.add_argument("--branch", default=d.branch, help="Hub branch to push to (default: main)")
    p.add_argument("--compare-methods", action="store_true",
                   help="also fit every clustering method on the same embeddings; writes OUT-comparison/")
    return p


def parse_config(argv: list[str] | None) -> FitConfig:
    args = build_parser().parse_args(argv)
    config = FitConfig(**vars(args))
    if config.clusters != "auto" and not config.clusters.isdigit():
        raise SystemExit(f"--clusters must be 'auto' or a whole number, got {config.clusters!r}")
    if config.push and not config.repo_id:
        raise SystemExit("--push needs --repo-id user/name (the Hub model repo to publish to)")
    return config


@contextmanager
def stage(timings: dict[str, float], name: str) -> Iterator[None]:
    log.info("%s ...", name)
    start = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - start, 2)


def choose_encoder(config: FitConfig, catalog: Catalog, label_column: str | None) -> tuple[Any, str]:
    """Build the encoder ``--encoder`` asks for; returns it and a sentence saying which and why."""
    if config.encoder in ("auto", "clip"):
        ok, why_not = clip_available(config.model, config.model_revision)
        if ok:
            encoder = ClipEncoder(config.model, revision=config.model_revision, device=config.device,
                                  batch_size=config.batch_size)
            return encoder, f"CLIP {config.model} (weights available)"
        if config.encoder == "clip":
            raise SystemExit(f"--encoder clip, but {why_not}. Pass --model LOCAL_DIR, connect to the Hub, "
                             "or use --encoder cnn")
        reason = f"CNN trained on '{label_column}' because {why_not}"
    else:
        reason = f"CNN trained on '{label_column}' (--encoder cnn)"
    if label_column is None:
        raise SystemExit("the CNN encoder needs a label column to learn from and none was found; pass "
                         "--label-column NAME, or make CLIP weights available (--model DIR)")
    from jewelrec.cnn import CnnEncoder

    encoder = CnnEncoder(epochs=config.cnn_epochs, seed=config.seed, device=config.device,
                         threads=config.cnn_threads)
    encoder.fit(catalog.images, catalog.metadata()[label_column].astype(str).tolist())
    return encoder, reason


def thumbnail(data: bytes) -> bytes:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def run(config: FitConfig) -> dict[str, Any]:
    """The whole fit. Returns the summary that :func:`main` prints."""
    timings: dict[str, float] = {}
    out = Path(config.out)
    if config.push:  # fail before an hour of work, not after it
        from jewelrec.hub import check_write_access

        check_write_access(config.repo_id)
    with stage(timings, "load catalog"):
        catalog = load_catalog(config.dataset, revision=config.revision, split=config.split,
                               image_column=config.image_column, id_column=config.id_column,
                               limit=config.limit, sample_items=config.sample_items, seed=config.seed)
        meta = catalog.metadata()
        label_column = catalog.label_column(config.label_column)
    with stage(timings, "encode"):
        encoder, encoder_reason = choose_encoder(config, catalog, label_column)
        embeddings = encoder.encode_images(catalog.images)  # (n, d)
    with stage(timings, "cluster"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value.*overridden.*")  # umap + random_state
        clusters = fit_clusters(embeddings, config.method,
                                config.clusters if config.clusters == "auto" else int(config.clusters),
                                seed=config.seed, k_range=(config.k_min, config.k_max))
    true_labels = meta[label_column].astype(str).to_numpy() if label_column else None
    metrics = cluster_metrics(clusters, embeddings, true_labels, seed=config.seed)

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        with stage(timings, "write bundle"):
            items = meta.copy()
            items["thumbnail"] = [thumbnail(b) for b in catalog.images]
            encoder.save_pretrained(staging / "encoder")
            if clusters.model_ is not None:
                clusters.model_.save_pretrained(staging / "depict")
            bundle = Bundle(items=items, embeddings=embeddings, labels=clusters.labels_, probs=clusters.probs_,
                            centroids=clusters.centroids_, coords2d=clusters.coords2d_,
                            latents=clusters.space_ if config.method == "depict" else None)
            report = write_report(staging / "report", bundle, clusters, encoder, metrics)
            bundle.config = {
                "dataset": {"source": catalog.source, "revision": catalog.revision, "split": config.split,
                            "rows_read": catalog.n_rows_read, "items": len(catalog),
                            "skipped": catalog.skipped, "label_column": label_column},
                "encoder": {**encoder.describe(), "reason": encoder_reason},
                "clustering": {"method": clusters.method, "n_clusters": clusters.n_clusters,
                               "params": clusters.params, "seed": config.seed,
                               "k_selection": clusters.k_selection_,
                               "cluster_names": cluster_names(bundle)},
                "metrics": metrics,
                "fit": {"args": asdict(config), "timings_s": timings},
            }
            bundle.config["fit"]["report"] = report
            bundle.save(staging)
            from jewelrec.card import write_model_card

            write_model_card(staging)
        replace_dir(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    summary = {"catalog": catalog, "label_column": label_column, "encoder": encoder_reason,
               "dim": int(embeddings.shape[1]), "clusters": clusters, "metrics": metrics,
               "timings": timings, "out": out, "push_url": None, "comparison": None}
    if config.push:
        from jewelrec.hub import push

        with stage(timings, "push"):
            summary["push_url"] = push(out, config.repo_id, private=config.private, branch=config.branch)
    if config.compare_methods:
        from training.compare import compare_bundle

        # beside the bundle, not in it: the bundle is sealed (hashed) and the Space does not need the comparison
        summary["comparison"] = out.with_name(f"{out.name}-comparison")
        with stage(timings, "compare methods"):
            compare_bundle(out, summary["comparison"], label_column=label_column, seed=config.seed)
    return summary


def write_report(report_dir: Path, bundle: Bundle, clusters, encoder, metrics: dict[str, float]) -> dict:
    """metrics.json + PNG plots; returns what was written, for config.json."""
    report_dir.mkdir(parents=True, exist_ok=True)
    names = cluster_names(bundle)
    written = ["style_map.png", "cluster_sizes.png"]
    plots.plot_style_map(bundle.coords2d, bundle.labels, names, report_dir / "style_map.png")
    plots.plot_cluster_sizes(bundle.labels, names, report_dir / "cluster_sizes.png")
    if "ks" in clusters.k_selection_:
        plots.plot_k_selection(clusters.k_selection_, report_dir / "k_selection.png")
        written.append("k_selection.png")
    payload: dict[str, Any] = {"clustering": metrics, "k_selection": clusters.k_selection_}
    if getattr(encoder, "kind", None) == "cnn":
        payload["cnn"] = encoder.report_ | {"history": encoder.history_}
        plots.plot_confusion(encoder.report_["confusion_matrix"], encoder.report_["label_names"],
                             report_dir / "confusion_matrix.png")
        plots.plot_training_curves(encoder.history_, report_dir / "cnn_training.png", "CNN encoder training")
        written += ["confusion_matrix.png", "cnn_training.png"]
    if clusters.model_ is not None and hasattr(clusters.model_, "history_"):
        payload["depict_history"] = clusters.model_.history_
        plots.plot_training_curves(clusters.model_.history_, report_dir / "depict_training.png",
                                   "DEPICT training (per loss term)")
        written.append("depict_training.png")
    write_json(report_dir / "metrics.json", payload)
    return {"files": ["metrics.json", *written]}


def replace_dir(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``; an existing ``target`` is swapped out only once ``new`` is complete."""
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        new.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        new.rename(target)


def print_summary(summary: dict[str, Any], file=None) -> None:
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
    if summary["comparison"]:
        lines.append(f"  comparison   {summary['comparison']} (kmeans / umap-kmeans / depict side by side)")
    if summary["push_url"]:
        lines.append(f"  pushed       {summary['push_url']}")
    print("\n".join(lines), file=file or sys.stdout)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    config = parse_config(argv)
    try:
        summary = run(config)
    except ValueError as err:  # bad input: say what to fix, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    print_summary(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
