"""``training.fit --engine ray``: the same bundle as the single-process engine, made by a streaming Ray Data pipeline.

    read (row-range blocks) → decode + validate + thumbnail (CPU tasks) → embed (actor pool, one model per actor)
        → parquet shards in a work dir beside the staging dir
    driver: skip reasons counted and ids de-duplicated over the shards' small columns, embeddings gathered (n, d),
        items.parquet streamed shard by shard → :func:`jewelrec.pipeline.fit.finish` (styles, index, bundle, push)

Every row carries its position in the catalog (``__row``), so the result does not depend on which worker did what;
how rows are read, validated, counted and de-duplicated is :mod:`jewelrec.pipeline.ray_catalog`.

Encoders that learn from the catalog (catalog-clip, cnn, ``--finetune``) are trained on the driver over a seeded
sample of at most :data:`~jewelrec.pipeline.ray_catalog.TRAIN_SAMPLE` rows (every row when the catalog is smaller:
then the encoder is the one the single-process engine trains), saved, and loaded by each actor with
:func:`jewelrec.encoders.load_encoder`, the door the Space uses. A pretrained CLIP needs no training: that is the
case Ray is for.

On a multi-node cluster, ``--out`` and a parquet / image-folder ``--dataset`` must be on storage every node mounts:
workers read the catalog and write the shards themselves (docs/cluster.md).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import ray

from jewelrec.catalog.loading import Catalog, IdNote, skip_hints
from jewelrec.pipeline.config import FitConfig
from jewelrec.pipeline.ray_catalog import (  # noqa: F401  (the reading side's public names, importable here as before)
    BASE_ID,
    EMBEDDING,
    EXPLICIT,
    IMAGE,
    KEY_COLUMNS,
    MAX_BLOCK_ROWS,
    REASON,
    ROW,
    STEM,
    THUMB,
    TRAIN_SAMPLE,
    CatalogDatasource,
    CatalogPlan,
    catalog_pipeline,
    decide_rows,
    first_copies,
    meta_frame,
    plan_catalog,
    training_catalog,
    validate_batch,
)

log = logging.getLogger("jewelrec.fit.ray")


class ImageEmbedder:
    """Actor: one encoder per actor, loaded once from the saved ``encoder/`` directory, embedding the validated
    pictures of each batch; a batch's bad rows get zero vectors (they never reach the bundle)."""

    def __init__(self, encoder_dir: str, *, device: str | None, batch_size: int, threads: int):
        import torch

        from jewelrec.encoders import load_encoder

        if device in (None, "cpu"):
            torch.set_num_threads(threads)  # the CPUs Ray reserved for this actor, not every core of the node
        self.encoder = load_encoder(encoder_dir, device=device)
        if hasattr(self.encoder, "batch_size"):
            self.encoder.batch_size = batch_size
        if hasattr(self.encoder, "num_workers"):
            self.encoder.num_workers = 0  # decoding workers of its own would compete with Ray's CPU tasks

    def __call__(self, table: pa.Table) -> pa.Table:
        ok = np.asarray(table.column(REASON).is_null(), dtype=bool)  # (batch,)
        vectors = np.zeros((table.num_rows, self.encoder.dim), np.float32)  # (batch, d)
        if ok.any():
            images = table.column(IMAGE).filter(pa.array(ok)).to_pylist()
            vectors[ok] = self.encoder.encode_images(images, progress=False)
        flat = pa.array(vectors.reshape(-1), pa.float32())
        return table.drop_columns([IMAGE]).append_column(
            EMBEDDING, pa.FixedSizeListArray.from_arrays(flat, self.encoder.dim))


@contextmanager
def connect(address: str | None) -> Iterator[None]:
    """Join ``address`` ($RAY_ADDRESS when None), or start a local Ray in this process; shut down only what this
    function started. An already connected driver (a notebook, a test) is used as it is."""
    if ray.is_initialized():
        yield
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    log.info("Ray: %s", f"joining {address}" if address else "starting a local Ray in this process")
    ray.init(address=address)
    try:
        yield
    finally:
        ray.shutdown()


def actor_layout(config: FitConfig) -> dict[str, Any]:
    """How many embedding actors, with what: one per GPU when the cluster has GPUs, else one per two CPUs (the other
    CPU of each pair decodes), at least one."""
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 1))
    if gpus and config.device in (None, "cuda"):
        per_actor = max(1, min(8, cpus // gpus - 1))  # CPUs beside each GPU for its own batching / transfers
        return {"concurrency": gpus, "num_gpus": 1, "num_cpus": per_actor, "device": "cuda", "threads": per_actor}
    # torch threads: the pair's two CPUs. Decode tasks take the second only while a batch is being decoded; with one
    # thread the model idled half the pair (2k sample, quiet box: 1.70x the local engine's wall time with 1 thread)
    return {"concurrency": max(1, cpus // 2), "num_gpus": 0, "num_cpus": 1, "device": config.device or "cpu",
            "threads": 2}



def _needs_training(config: FitConfig) -> bool:
    from jewelrec.encoders.clip import clip_available

    if config.finetune or config.encoder not in ("auto", "clip"):
        return True
    return not clip_available(config.model, config.model_revision)[0]


@contextmanager
def embed_on_ray(config: FitConfig, timings: dict[str, float]) -> Iterator[Any]:
    """The Ray engine: yields the :class:`jewelrec.pipeline.fit.EmbeddedCatalog` that ``finish`` turns into the
    bundle; the shards it wrote are removed when the bundle is done."""
    from jewelrec.pipeline.config import check_cluster_count
    from jewelrec.pipeline.fit import EmbeddedCatalog, choose_encoder, fit_label_column, stage
    from jewelrec.pipeline.out_dir import make_staging

    out = Path(os.path.abspath(config.out))  # `--out .`: the work folder goes beside it, never inside it
    # a marked staging dir, so a killed fit's shards are cleaned by the next one (out_dir.clean_stale_staging)
    work = make_staging(out, "ray-")
    try:
        with connect(config.ray_address):
            with stage(timings, "load catalog"):
                plan = plan_catalog(config)
                # the rows are an upper bound of the items kept
                check_cluster_count(config.clusters, plan.n_rows, k_range=(config.k_min, config.k_max))
            with stage(timings, "encode"):
                if _needs_training(config):
                    sample = training_catalog(plan, config)
                    if len(sample) == 0:  # the encoder's own complaint (no classes, no captions) hid the cause
                        hints = "".join(f"; {hint}" for hint in skip_hints(sample.skipped))
                        raise ValueError(f"dataset {plan.location.label!r} has no decodable image among the "
                                         f"{sum(sample.skipped.values())} rows read to train the encoder (skipped: "
                                         f"{dict(sample.skipped)}); check the image column "
                                         f"{plan.rules.image_column!r}{hints}")
                    labels_from = fit_label_column(config, sample.metadata())
                    log.info("training the encoder on %d of %d rows", len(sample), plan.n_rows)
                else:  # a pretrained CLIP: nothing to learn from the catalog
                    features = plan.rules.features()
                    sample = Catalog(datasets.Dataset.from_dict({c: [] for c in features}, features=features),
                                     source=plan.location.label)
                    labels_from = None
                encoder, reason = choose_encoder(config, sample, labels_from)
                del sample
                encoder.save_pretrained(work / "encoder")
                layout = actor_layout(config)
                log.info("embedding %d rows with %d actor(s) (%s)", plan.n_rows, layout["concurrency"],
                         layout["device"])
                embedded = catalog_pipeline(plan).map_batches(
                    ImageEmbedder, batch_format="pyarrow", batch_size=config.batch_size,
                    fn_constructor_kwargs={"encoder_dir": str(work / "encoder"), "device": layout["device"],
                                           "batch_size": config.batch_size, "threads": layout["threads"]},
                    concurrency=layout["concurrency"], num_gpus=layout["num_gpus"], num_cpus=layout["num_cpus"])
                embedded.write_parquet(str(work / "shards"))
            with stage(timings, "gather"):
                shards = _ordered_shards(work / "shards")
                keys = pa.concat_tables([pq.read_table(s, columns=KEY_COLUMNS) for s in shards])
                kept, ids, stems, skipped, unnamed = decide_rows(keys, plan.n_rows)
                if not len(kept):
                    hints = "".join(f"; {hint}" for hint in skip_hints(skipped))
                    raise ValueError(f"dataset {plan.location.label!r} has no decodable image among {plan.n_rows} "
                                     f"rows (skipped: {skipped}); check the image column {plan.rules.image_column!r}"
                                     f"{hints}")
                meta = meta_frame(plan, (pq.read_table(s, columns=[ROW, *plan.rules.meta_columns])
                                         for s in shards), kept, ids, stems)
                embeddings = _gather_embeddings(shards, kept, encoder.dim)
                label = labels_from or fit_label_column(config, meta)

        def write_items(path: Path) -> None:
            _stream_items(shards, kept, meta, path)

        yield EmbeddedCatalog(source=plan.location.label, kind=plan.location.kind, revision=plan.revision,
                              n_rows_read=plan.n_rows,
                              skipped=skipped, meta=meta, label_column=label, embeddings=embeddings,
                              encoder=encoder, encoder_reason=f"{reason}; embedded on Ray",
                              write_items=write_items,
                              unnamed=IdNote.of(plan.rules.id_column, unnamed))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _ordered_shards(directory: Path) -> list[Path]:
    """The shard files ordered by their first catalog position."""
    files = sorted(directory.glob("*.parquet"))
    if not files:
        raise RuntimeError(f"the Ray pipeline wrote no shards to {directory}; see the Ray logs above")
    first = {f: pq.read_table(f, columns=[ROW]).column(ROW).to_numpy().min(initial=np.iinfo(np.int64).max)
             for f in files}
    return sorted(files, key=lambda f: (first[f], f.name))


def _gather_embeddings(shards: list[Path], kept: np.ndarray, dim: int) -> np.ndarray:
    """The kept rows' embeddings in catalog order: (n, d) float32 — the only array the driver holds in full."""
    embeddings = np.zeros((len(kept), dim), np.float32)  # (n, d)
    for shard in shards:
        table = pq.read_table(shard, columns=[ROW, EMBEDDING])
        rows = table.column(ROW).to_numpy()
        vectors = table.column(EMBEDDING).combine_chunks().flatten().to_numpy().reshape(-1, dim)  # (rows, d)
        pos = np.clip(np.searchsorted(kept, rows), 0, len(kept) - 1)
        hit = kept[pos] == rows
        embeddings[pos[hit]] = vectors[hit]
    return embeddings


def _stream_items(shards: list[Path], kept: np.ndarray, meta: pd.DataFrame, path: Path) -> None:
    """items.parquet (metadata + thumbnail) in catalog order, one shard's thumbnails in memory at a time."""
    # the types pandas gives the whole metadata table (what the single-process engine's to_parquet writes)
    schema = pa.Table.from_pandas(meta, preserve_index=False).schema.append(pa.field("thumbnail", pa.binary()))
    taken = np.zeros(len(kept), bool)
    done = -1
    with pq.ParquetWriter(path, schema) as writer:
        for shard in shards:
            table = first_copies(pq.read_table(shard, columns=[ROW, THUMB]), kept, taken).sort_by(ROW)
            if not table.num_rows:
                continue
            pos = np.searchsorted(kept, table.column(ROW).to_numpy())
            if pos[0] <= done:
                raise RuntimeError("the Ray shards interleave (rows out of catalog order); re-run the fit")
            chunk = meta.iloc[pos].reset_index(drop=True)
            chunk["thumbnail"] = table.column(THUMB).to_pylist()
            writer.write_table(pa.Table.from_pandas(chunk, schema=schema, preserve_index=False))
            taken[pos], done = True, int(pos[-1])
    if not taken.all():
        raise RuntimeError(f"thumbnails for {int(taken.sum())} of {len(kept)} items; re-run the fit")
