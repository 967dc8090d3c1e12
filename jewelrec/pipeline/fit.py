"""The fit pipeline: catalog → embeddings → styles → bundle (→ Hub).

``run(FitConfig(...))`` does the whole fit and returns a summary; ``python -m training.fit`` and
``jewelrec-fit`` are doors into it (:mod:`jewelrec.cli.fit`). The bundle is written to a temporary sibling
directory and moved into place only when complete, so a failed run never damages the bundle already at ``out``.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jewelrec import plotting
from jewelrec.catalog import Catalog, load_catalog
from jewelrec.catalog.loading import IdNote
from jewelrec.catalog.loading import label_column as detect_label_column
from jewelrec.catalog.thumbnail import thumbnail
from jewelrec.clustering import cluster_metrics
from jewelrec.clustering.assign import fit_clusters_at_scale
from jewelrec.clustering.methods import labelled_mask
from jewelrec.encoders.clip import ClipEncoder, clip_available
from jewelrec.pipeline.config import FitConfig, check_cluster_count
from jewelrec.pipeline.out_dir import check_out_dir, clean_stale_staging, exclusive, replace_dir, staged_bundle
from jewelrec.serving.bundle import Bundle, write_json
from jewelrec.serving.index import FLAT_LIMIT, VectorIndex
from jewelrec.serving.recommender import cluster_names

log = logging.getLogger("jewelrec.fit")

__all__ = ["EmbeddedCatalog", "FitConfig", "check_out_dir", "choose_encoder", "clean_stale_staging", "embed_locally",
           "finish", "run", "replace_dir", "thumbnail"]


@contextmanager
def stage(timings: dict[str, float], name: str, logger: logging.Logger | None = None) -> Iterator[None]:
    """Time the block into ``timings[name]``, saying it starts in ``logger``'s log (default: the fit's)."""
    (logger or log).info("%s ...", name)
    start = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - start, 2)


def choose_encoder(config: FitConfig, catalog: Catalog, label_column: str | None) -> tuple[Any, str]:
    """Build the encoder ``--encoder`` asks for; returns it and a sentence saying which and why.

    ``auto``: a pretrained CLIP when its weights can be had (fine-tuned on the catalog with ``--finetune``) →
    the catalog CLIP when the catalog has captions → the CNN on ``label_column``.
    """
    from jewelrec.catalog.captions import build_captions
    from jewelrec.encoders.catalog_clip_training import CatalogClipConfig

    meta = catalog.metadata()
    clip_config = CatalogClipConfig(seed=config.seed, time_budget_s=config.clip_seconds)
    why_not = "--encoder " + config.encoder
    if config.encoder in ("auto", "clip"):
        ok, why_not = clip_available(config.model, config.model_revision)
        if ok and config.finetune:
            from jewelrec.encoders.catalog_clip_training import finetune_clip

            captions = build_captions(meta, columns=config.caption_columns, template=config.caption_template)
            encoder = finetune_clip(config.model, catalog.images, captions, meta, revision=config.model_revision,
                                    config=clip_config, device=config.device)
            return encoder, (f"CLIP {config.model} fine-tuned on {_captioned(captions)} (--finetune, "
                             f"{encoder.finetuned_['train_seconds']}s)")
        if ok:
            encoder = ClipEncoder(config.model, revision=config.model_revision, device=config.device,
                                  batch_size=config.batch_size)
            return encoder, f"CLIP {config.model} (weights available)"
        if config.encoder == "clip" or config.finetune:
            raise ValueError(f"--encoder clip{' --finetune' if config.finetune else ''}, but {why_not}. Pass "
                             "--model LOCAL_DIR, connect to the Hub, or use --encoder catalog-clip / cnn")
    if config.encoder in ("auto", "catalog-clip"):
        try:
            captions = build_captions(meta, columns=config.caption_columns, template=config.caption_template)
        except ValueError as err:
            if config.encoder == "catalog-clip" or config.caption_columns or config.caption_template:
                raise  # the user asked for captions: say what is wrong with them
            captions, no_text = None, str(err)
        if captions is not None and sum(captions.has_text) >= 2:
            from jewelrec.encoders.catalog_clip_training import train_catalog_clip

            encoder = train_catalog_clip(catalog.images, captions, meta, config=clip_config, device=config.device)
            return encoder, (f"catalog CLIP trained on {_captioned(captions)} because {why_not} "
                             f"({encoder.training_['train_seconds']}s)")
        if captions is not None:
            no_text = "fewer than 2 items have a caption"
            if config.encoder == "catalog-clip":
                raise ValueError(f"--encoder catalog-clip needs captions, but {no_text}; pass --caption-columns "
                                 "naming the columns that hold text, or use --encoder cnn")
        why_not = f"{why_not}, and no catalog CLIP: {no_text}"
    reason = f"CNN trained on '{label_column}' because {why_not}"
    if label_column is None:
        raise ValueError("the CNN encoder needs a label column to learn from and none was found; pass "
                         "--label-column NAME, or make CLIP weights available (--model DIR)")
    from jewelrec.encoders.cnn import CnnEncoder

    encoder = CnnEncoder(epochs=config.cnn_epochs, seed=config.seed, device=config.device,
                         threads=config.cnn_threads)
    labelled = np.flatnonzero(labelled_mask(meta[label_column]))  # a gap is no class: it trained a "nan" class
    images = catalog.images
    encoder.fit([images[i] for i in labelled], meta[label_column].iloc[labelled].astype(str).tolist())
    return encoder, reason


def fit_label_column(config: FitConfig, meta: pd.DataFrame) -> str | None:
    """The column the CNN learns and the styles are scored against: ``--label-column`` (which must exist), else
    ``category`` when present, else a detected categorical column (None: there is none)."""
    return detect_label_column(meta, config.label_column or "category", required=config.label_column is not None)


def _captioned(captions) -> str:
    n, total = sum(captions.has_text), len(captions.variants)
    missing = f"; {total - n} without text, not trained on" if n < total else ""
    return f"{n} captioned items (columns {', '.join(captions.columns) or captions.template}{missing})"


@dataclass
class EmbeddedCatalog:
    """What an engine hands to the rest of the fit: the catalog's rows (metadata, no pictures), their embeddings
    and the encoder that made them. Everything after this point (styles, index, report, bundle, push) is one code
    path for ``--engine local`` and ``--engine ray``."""

    source: str
    kind: str | None  # SourceLocation.kind: parquet, imagefolder or hub
    revision: str | None
    n_rows_read: int
    skipped: dict[str, int]  # rows dropped, by reason
    meta: pd.DataFrame  # (n, columns): item_id first, then the metadata columns; no image bytes, no thumbnails
    label_column: str | None
    embeddings: np.ndarray  # (n, d) float32, L2-normalised, in ``meta``'s row order
    encoder: Any
    encoder_reason: str
    write_items: Callable[[Path], None]  # writes items.parquet (meta + thumbnail) to the path given
    unnamed: IdNote | None = None  # rows whose id column held no id, named by their picture

    def __len__(self) -> int:
        return len(self.meta)


def run(config: FitConfig) -> dict[str, Any]:
    """The whole fit. Returns the summary that :func:`main` prints."""
    timings: dict[str, float] = {}
    out = Path(os.path.abspath(config.out))  # `--out .` has no name to stage beside; its absolute path does
    check_out_dir(out, config.dataset)  # before any work: refusing after an hour of training helps nobody
    if config.compare_methods:  # its folder too: the comparison runs after the fit (and the push)
        from jewelrec.pipeline.compare import check_compare_out

        comparison = out.with_name(f"{out.name}-comparison")
        check_compare_out(comparison, f"--compare-methods writes {comparison}, which")
    clean_stale_staging(out)
    if config.push:  # fail before an hour of work, not after it
        from jewelrec.serving.hub import check_branch, check_write_access

        check_branch(config.branch)
        check_write_access(config.repo_id)
    if config.engine == "ray":
        try:  # Ray is imported only for --engine ray: the Space and the default engine never need it
            from jewelrec.pipeline.distributed import embed_on_ray as embed
        except ImportError as err:
            if (err.name or "").split(".")[0] != "ray":
                raise
            raise ValueError(f"--engine ray needs Ray Data, which is not installed ({err}): "
                             "pip install 'jewelrec[train]' (or drop --engine ray for the single-process fit)") from None
    elif config.engine == "local":
        embed = embed_locally
    else:
        raise ValueError(f"unknown engine {config.engine!r}; use 'local' or 'ray'")
    with exclusive(out, "run the fit"), embed(config, timings) as embedded:
        return finish(config, embedded, timings)


@contextmanager
def embed_locally(config: FitConfig, timings: dict[str, float]) -> Iterator[EmbeddedCatalog]:
    """The single-process engine: the catalog decoded into one ``datasets.Dataset``, embedded in this process."""
    with stage(timings, "load catalog"):
        catalog = load_catalog(config.dataset, revision=config.revision, split=config.split,
                               image_column=config.image_column, id_column=config.id_column,
                               limit=config.limit, sample_items=config.sample_items, seed=config.seed,
                               allow_external_paths=config.allow_external_paths)
        # before hours of encoding, not after
        check_cluster_count(config.clusters, len(catalog), catalog.skipped, (config.k_min, config.k_max))
        meta = catalog.metadata()
        label_column = fit_label_column(config, meta)
        if config.caption_columns or config.caption_template:  # named columns: a missing one is an error now
            from jewelrec.catalog.captions import build_captions

            build_captions(meta, columns=config.caption_columns, template=config.caption_template)
    with stage(timings, "encode"):
        encoder, encoder_reason = choose_encoder(config, catalog, label_column)
        embeddings = encoder.encode_images(catalog.images)  # (n, d)

    def write_items(path: Path) -> None:
        items = meta.copy()
        items["thumbnail"] = [thumbnail(b) for b in catalog.images]
        items.to_parquet(path, index=False)

    yield EmbeddedCatalog(source=catalog.source, kind=catalog.kind, revision=catalog.revision,
                          n_rows_read=catalog.n_rows_read,
                          skipped=catalog.skipped, meta=meta, label_column=label_column, embeddings=embeddings,
                          encoder=encoder, encoder_reason=encoder_reason, write_items=write_items,
                          unnamed=catalog.unnamed)


def finish(config: FitConfig, embedded: EmbeddedCatalog, timings: dict[str, float]) -> dict[str, Any]:
    """Styles, search index, report and bundle from an engine's embeddings (then push / compare if asked)."""
    out = Path(os.path.abspath(config.out))  # `--out .` has no name to stage beside; its absolute path does
    embeddings, encoder, meta, label_column = embedded.embeddings, embedded.encoder, embedded.meta, embedded.label_column
    # engines that learn the count only now
    check_cluster_count(config.clusters, len(embedded), embedded.skipped, (config.k_min, config.k_max))
    with stage(timings, "cluster"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value.*overridden.*")  # umap + random_state
        # fitted on a seeded sample of FIT_SAMPLE rows when the catalog is larger, the rest assigned in batches
        clusters = fit_clusters_at_scale(embeddings, config.method,
                                         config.clusters if config.clusters == "auto" else int(config.clusters),
                                         seed=config.seed, k_range=(config.k_min, config.k_max))
    with stage(timings, "search index"):
        # trained once here instead of at every Space start (~20 s per million items); catalogs up to FLAT_LIMIT
        # are searched flat and store none. exact_limit=0: the flat copy is rebuilt at start, never stored
        index = VectorIndex(embeddings, exact_limit=0) if len(embeddings) > FLAT_LIMIT else None
    true_labels = meta[label_column].to_numpy(dtype=object) if label_column else None  # gaps left out of the scores
    metrics = cluster_metrics(clusters, embeddings, true_labels, seed=config.seed)

    with staged_bundle(out) as staging:  # moved into place only when complete; kept (and named) if the move fails
        with stage(timings, "write bundle"):
            embedded.write_items(staging / "items.parquet")  # metadata + thumbnails, never all held here by Ray
            encoder.save_pretrained(staging / "encoder")
            if clusters.model_ is not None:
                clusters.model_.save_pretrained(staging / "depict")
            bundle = Bundle(items=meta, embeddings=embeddings, labels=clusters.labels_, probs=clusters.probs_,
                            centroids=clusters.centroids_, coords2d=clusters.coords2d_,
                            latents=None if clusters.method == "kmeans" else clusters.space_)
            report = write_report(staging / "report", bundle, clusters, encoder, metrics)
            bundle.config = {
                "dataset": {"source": embedded.source, "kind": embedded.kind, "revision": embedded.revision,
                            "split": config.split,
                            "rows_read": embedded.n_rows_read, "items": len(embedded),
                            "skipped": embedded.skipped, "label_column": label_column,
                            **({"named_by_picture": asdict(embedded.unnamed)} if embedded.unnamed else {})},
                "encoder": {**encoder.describe(), "reason": embedded.encoder_reason},
                "clustering": {"method": clusters.method, "n_clusters": clusters.n_clusters,
                               "params": clusters.params, "seed": config.seed,
                               "k_selection": clusters.k_selection_,
                               "cluster_names": cluster_names(bundle)},
                "metrics": metrics,
                "fit": {"args": asdict(config), "timings_s": timings},
            }
            bundle.config["fit"]["report"] = report
            bundle.save(staging, index=index, items_written=True)
            from jewelrec.serving.card import write_model_card

            write_model_card(staging)

    summary = {"catalog": embedded, "label_column": label_column, "encoder": embedded.encoder_reason,
               "dim": int(embeddings.shape[1]), "clusters": clusters, "metrics": metrics,
               "timings": timings, "out": out, "push_url": None, "comparison": None}
    if config.push:
        from jewelrec.serving.hub import push

        with stage(timings, "push"):
            summary["push_url"] = push(out, config.repo_id, private=config.private, branch=config.branch)
    if config.compare_methods:
        from jewelrec.pipeline.compare import compare_bundle

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
    plotting.plot_style_map(bundle.coords2d, bundle.labels, names, report_dir / "style_map.png")
    plotting.plot_cluster_sizes(bundle.labels, names, report_dir / "cluster_sizes.png")
    if "ks" in clusters.k_selection_:
        plotting.plot_k_selection(clusters.k_selection_, report_dir / "k_selection.png")
        written.append("k_selection.png")
    payload: dict[str, Any] = {"clustering": metrics, "k_selection": clusters.k_selection_}
    if getattr(encoder, "kind", None) == "cnn":
        payload["cnn"] = encoder.report_ | {"history": encoder.history_}
        plotting.plot_confusion(encoder.report_["confusion_matrix"], encoder.report_["label_names"],
                                report_dir / "confusion_matrix.png")
        plotting.plot_training_curves(encoder.history_, report_dir / "cnn_training.png", "CNN encoder training")
        written += ["confusion_matrix.png", "cnn_training.png"]
    clip_history = (encoder.history_ if getattr(encoder, "kind", None) == "catalog-clip"
                    else (getattr(encoder, "finetuned_", None) or {}).get("history"))
    if clip_history:
        payload["clip_training"] = clip_history
        plotting.plot_training_curves({k: v for k, v in clip_history.items() if v}, report_dir / "clip_training.png",
                                      "CLIP training: joint epochs, then LiT text steps (held-out loss)")
        written.append("clip_training.png")
    if clusters.model_ is not None and hasattr(clusters.model_, "history_"):
        payload["depict_history"] = clusters.model_.history_
        plotting.plot_training_curves(clusters.model_.history_, report_dir / "depict_training.png",
                                      "DEPICT training (per loss term)")
        written.append("depict_training.png")
    write_json(report_dir / "metrics.json", payload)
    return {"files": ["metrics.json", *written]}
