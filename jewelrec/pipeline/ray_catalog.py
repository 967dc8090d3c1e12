"""How the Ray engine (:mod:`jewelrec.pipeline.distributed`) reads a catalog: ``--dataset`` located and planned
without being read, row-range blocks read by a Ray Datasource, every row validated and thumbnailed in CPU tasks, and
on the driver the rows kept decided — and the sample a catalog-trained encoder learns from gathered — in catalog order.

Every row carries its position in the catalog (``__row``), so the result does not depend on which worker did what:
bad rows are counted from the shards themselves (a retried task's rows are counted once, by position), duplicate
ids are resolved on the driver in catalog order with the single-process rule (:func:`unique_item_id`), and the
bundle lists the items in catalog order. The rules for a row are :class:`jewelrec.catalog.loading.RowRules`, the
ones ``load_catalog`` applies.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import ray
import ray.data
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from jewelrec.catalog.columns import PROBE_ROWS, SCAN_ROWS
from jewelrec.catalog.loading import (
    Catalog,
    RowRules,
    SourceLocation,
    catalog_dataset,
    check_parquet_files,
    locate_source,
    open_source,
    row_rules,
    unique_item_id,
)
from jewelrec.catalog.thumbnail import thumbnail
from jewelrec.pipeline.config import FitConfig

TRAIN_SAMPLE = 20_000  # rows a catalog-trained encoder learns from (a CNN / catalog CLIP saturates well below this)
MAX_BLOCK_ROWS = 256  # rows per read block (one CPU task): a few MB of pictures, many tasks to spread
HEAD_BYTES = 64 << 20  # the driver reads at most this much of a parquet catalog to detect its columns
ROW, REASON, BASE_ID, EXPLICIT, STEM, IMAGE, THUMB, EMBEDDING = (
    "__row", "__reason", "__base_id", "__explicit", "__stem", "__image", "__thumbnail", "__embedding")
KEY_COLUMNS = [ROW, REASON, BASE_ID, EXPLICIT, STEM]  # what the driver reads to count and de-duplicate


@dataclass
class CatalogPlan:
    """A located source with its row rules: what every read task and CPU task needs (sent to the workers)."""

    location: SourceLocation
    rules: RowRules
    n_rows: int  # rows read (after --limit)
    revision: str | None
    split: str
    sample_items: int
    seed: int

    def read_columns(self) -> list[str]:
        rules = self.rules
        return list(dict.fromkeys([rules.image_column, *([rules.id_column] if rules.id_column else []),
                                   *rules.meta_columns]))

    def meta_schema(self) -> pa.Schema:
        """Arrow schema of the metadata columns as the catalog stores them (class labels as strings)."""
        features = self.rules.features()
        return pa.schema([f for f in features.arrow_schema if f.name in self.rules.meta_columns])


def plan_catalog(config: FitConfig) -> CatalogPlan:
    """Locate ``--dataset`` and derive its row rules from its schema and first row, without reading it."""
    location = locate_source(config.dataset, sample_items=config.sample_items, seed=config.seed,
                               split=config.split)
    if location.kind == "parquet":
        n_rows, _ = check_parquet_files(location.files)  # the local engine's checks, the same messages
        head = _parquet_head(location.files)
    else:  # image folder / Hub: `datasets` resolves it (memory-mapped Arrow on disk), once per node
        head = open_source(location, revision=config.revision, split=config.split)
        n_rows = len(head)
        if n_rows == 0:
            raise ValueError(f"dataset {location.label!r} is empty; point --dataset at a catalog with images")
    rules = row_rules(head, location.label, location.base_dir, image_column=config.image_column,
                      id_column=config.id_column, allow_external_paths=config.allow_external_paths,
                      files=location.files if location.kind == "parquet" else None)
    if config.limit is not None:
        n_rows = min(n_rows, config.limit)
    return CatalogPlan(location, rules, n_rows, config.revision, config.split, config.sample_items, config.seed)


def _parquet_head(files: list[Path], rows: int = SCAN_ROWS, budget_bytes: int = HEAD_BYTES) -> datasets.Dataset:
    """The first ``rows`` rows of a parquet catalog (fewer once they hold ``budget_bytes``: embedded pictures) as a
    ``datasets.Dataset`` with the file's schema — what the single-process engine's column detection looks at, so
    both engines find the same image column when the first rows are bad."""
    batches: list[pa.RecordBatch] = []
    schema, taken, size = None, 0, 0
    for path in files:
        parquet = pq.ParquetFile(path)
        if schema is not None and not parquet.schema_arrow.equals(schema):
            break  # another shard layout: the rows so far describe the columns; the reader checks each block
        schema = schema or parquet.schema_arrow
        for batch in parquet.iter_batches(batch_size=PROBE_ROWS):
            batches.append(batch.slice(0, rows - taken))
            taken, size = taken + batches[-1].num_rows, size + batches[-1].nbytes
            if taken >= rows or size >= budget_bytes:
                break
        if taken >= rows or size >= budget_bytes:
            break
    if not taken:
        raise ValueError("no parquet file with rows")
    table = pa.Table.from_batches(batches, schema=schema)
    return datasets.Dataset(datasets.table.InMemoryTable(table))


class CatalogDatasource(Datasource):
    """Ray Data read tasks over a catalog: parquet row groups, or row ranges of a ``datasets`` source, each block
    tagged with its rows' catalog positions (``__row``). ``rows``: read only these positions (sorted)."""

    def __init__(self, plan: CatalogPlan, rows: np.ndarray | None = None):
        super().__init__()
        self.plan, self.rows = plan, rows

    def estimate_inmemory_data_size(self) -> int | None:
        if self.plan.location.kind != "parquet":
            return None
        total = sum(os.path.getsize(f) for f in self.plan.location.files)  # pictures are stored compressed already
        return total if self.rows is None else int(total * len(self.rows) / max(self.plan.n_rows, 1))

    def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                       data_context: Any = None) -> list[ReadTask]:
        plan = self.plan
        ranges: list[tuple[int, int, Any]] = []  # (first row, end row, where to read it)
        if plan.location.kind == "parquet":
            start = 0
            for i, path in enumerate(plan.location.files):
                meta = pq.ParquetFile(path).metadata
                for group in range(meta.num_row_groups):
                    n = meta.row_group(group).num_rows
                    if start < plan.n_rows and n:
                        ranges.append((start, min(start + n, plan.n_rows), (i, group)))
                    start += n
        else:
            step = max(1, min(MAX_BLOCK_ROWS * 8, math.ceil(plan.n_rows / max(parallelism, 1))))
            ranges = [(a, min(a + step, plan.n_rows), None) for a in range(0, plan.n_rows, step)]
        tasks = []
        for start, end, where in ranges:
            wanted = None
            if self.rows is not None:
                wanted = self.rows[(self.rows >= start) & (self.rows < end)]
                if not len(wanted):
                    continue
            n = end - start if wanted is None else len(wanted)
            tasks.append(ReadTask(_reader(plan, start, end, where, wanted), BlockMetadata(
                num_rows=n, size_bytes=None, exec_stats=None, input_files=None)))
        return tasks


def _reader(plan: CatalogPlan, start: int, end: int, where: Any, wanted: np.ndarray | None):
    def read() -> Iterator[pa.Table]:
        columns = plan.read_columns()
        if plan.location.kind == "parquet":
            # a node builds its own copy of the (procedural, seeded) sample; other files are on shared storage
            files = (locate_source("sample", sample_items=plan.sample_items, seed=plan.seed).files
                     if plan.location.source == "sample" else plan.location.files)
            file_index, group = where
            table = pq.ParquetFile(files[file_index]).read_row_group(group, columns=columns)
        else:
            dataset = open_source(plan.location, revision=plan.revision, split=plan.split)
            table = dataset.with_format("arrow")[start:end].select(columns)
        table = table.slice(0, end - start)
        table = table.append_column(ROW, pa.array(np.arange(start, end, dtype=np.int64)))
        if wanted is not None:
            table = table.take(pa.array(wanted - start))
        for offset in range(0, table.num_rows, MAX_BLOCK_ROWS):
            yield table.slice(offset, MAX_BLOCK_ROWS)
    return read


def validate_batch(table: pa.Table, *, plan: CatalogPlan, keep_images: bool) -> pa.Table:
    """CPU task: every row through the catalog's :class:`RowRules` — image read + full decode, the id it asks
    for, its metadata — and its thumbnail. A bad row stays in the stream with its skip reason (counted later
    on the driver), its picture dropped. ``keep_images``: pass the validated bytes on (to the embedder)."""
    rules = plan.rules
    out: dict[str, list[Any]] = {c: [] for c in (ROW, REASON, BASE_ID, EXPLICIT, STEM, IMAGE, THUMB)}
    meta: dict[str, list[Any]] = {c: [] for c in rules.meta_columns}
    for row, record in zip(table.column(ROW).to_pylist(), table.drop_columns([ROW]).to_pylist()):
        data, reason = rules.image(record, row)
        base, explicit = rules.base_id(record, data) if reason is None else (None, None)
        out[ROW].append(row)
        out[REASON].append(reason)
        out[BASE_ID].append(base)
        out[EXPLICIT].append(explicit)
        out[STEM].append(rules.file_stem(record) if rules.name_from_files else None)
        out[IMAGE].append(data if keep_images else None)
        out[THUMB].append(thumbnail(data) if data is not None else None)
        for column, value in rules.metadata(record).items():
            meta[column].append(value)
    arrays = {ROW: pa.array(out[ROW], pa.int64()), REASON: pa.array(out[REASON], pa.string()),
              BASE_ID: pa.array(out[BASE_ID], pa.string()), EXPLICIT: pa.array(out[EXPLICIT], pa.bool_()),
              STEM: pa.array(out[STEM], pa.string()), IMAGE: pa.array(out[IMAGE], pa.binary()),
              THUMB: pa.array(out[THUMB], pa.binary())}
    for field in plan.meta_schema():
        arrays[field.name] = pa.array(meta[field.name], field.type)
    return pa.table(arrays)


def catalog_pipeline(plan: CatalogPlan, rows: np.ndarray | None = None) -> ray.data.Dataset:
    """Read + validate (+ thumbnail) as a lazy Ray dataset, in catalog order."""
    ray.data.DataContext.get_current().execution_options.preserve_order = True  # deterministic shards
    return ray.data.read_datasource(CatalogDatasource(plan, rows)).map_batches(
        validate_batch, batch_format="pyarrow", batch_size=None, fn_kwargs={"plan": plan, "keep_images": True})


def decide_rows(keys: pa.Table, n_rows: int) -> tuple[np.ndarray, list[str], list[str | None], dict[str, int], int]:
    """From the key columns of every row (any order, a retried task's rows possibly twice): (kept catalog
    positions (n,) sorted, their item ids, their file stems, skip counts by reason, how many kept rows are named
    by their picture) — :func:`load_catalog`'s rule, applied in catalog order. Raises ``RuntimeError`` if a row is
    missing (a lost shard must not pass silently)."""
    keys = keys.sort_by(ROW)
    rows = keys.column(ROW).to_numpy()
    first = np.ones(len(rows), bool)
    first[1:] = rows[1:] != rows[:-1]  # a retried task's copy of a row: the first one counts
    if int(first.sum()) != n_rows:
        raise RuntimeError(f"the Ray pipeline returned {int(first.sum())} of {n_rows} catalog rows; re-run the fit")
    kept, ids, stems, skipped, seen, unnamed = [], [], [], Counter(), set(), 0
    columns = [keys.column(c).to_pylist() for c in (REASON, BASE_ID, EXPLICIT, STEM)]
    for i, (reason, base, explicit, stem) in enumerate(zip(*columns)):
        if not first[i]:
            continue
        item_id = None
        if reason is None:
            item_id = unique_item_id(base, explicit, seen)
            if item_id is None:
                reason = "duplicate_id"
        if reason is not None:
            skipped[reason] += 1
            continue
        seen.add(item_id)
        kept.append(int(rows[i]))
        ids.append(item_id)
        stems.append(stem)
        unnamed += not explicit
    return np.asarray(kept, np.int64), ids, stems, dict(skipped), unnamed


def meta_frame(plan: CatalogPlan, tables: Iterator[pa.Table], kept: np.ndarray, ids: list[str],
               stems: list[str | None]) -> pd.DataFrame:
    """The kept rows' metadata in catalog order, as ``Catalog.metadata()`` gives it: item_id, metadata columns,
    then ``name`` when the items are named by their files."""
    parts = []
    for table in tables:
        table = first_copies(table, kept)
        parts.append(table.select([ROW, *plan.rules.meta_columns]))
    meta = pa.concat_tables(parts).sort_by(ROW) if parts else None
    frame = pd.DataFrame({"item_id": pd.Series(ids, dtype=str)})
    if meta is not None and plan.rules.meta_columns:
        frame = pd.concat([frame, meta.drop_columns([ROW]).to_pandas()], axis=1)
    if plan.rules.name_from_files and any(stems):
        frame["name"] = pd.Series([s or None for s in stems], dtype=str)
    if len(frame) != len(kept):
        raise RuntimeError(f"metadata for {len(frame)} of {len(kept)} items; re-run the fit")
    return frame


def first_copies(table: pa.Table, kept: np.ndarray, taken: np.ndarray | None = None) -> pa.Table:
    """The rows of ``table`` that are kept items, each catalog position once (``taken``: positions done before)."""
    rows = table.column(ROW).to_numpy()
    pos = np.clip(np.searchsorted(kept, rows), 0, max(len(kept) - 1, 0))
    hit = (kept[pos] == rows) if len(kept) else np.zeros(len(rows), bool)
    _, first = np.unique(rows, return_index=True)
    once = np.zeros(len(rows), bool)
    once[first] = True
    mask = hit & once
    if taken is not None:
        mask &= ~taken[pos]
    return table.filter(pa.array(mask))


def training_catalog(plan: CatalogPlan, config: FitConfig) -> Catalog:
    """The catalog a catalog-trained encoder learns from: a seeded sample of at most :data:`TRAIN_SAMPLE` rows
    (all of them when the catalog is no larger), validated by the pipeline and gathered on the driver."""
    rows = None
    if plan.n_rows > TRAIN_SAMPLE:
        rows = np.sort(np.random.default_rng(config.seed).choice(plan.n_rows, size=TRAIN_SAMPLE, replace=False))
    tables = list(catalog_pipeline(plan, rows).iter_batches(batch_format="pyarrow", batch_size=None))
    table = pa.concat_tables(tables)
    kept, ids, stems, skipped, _ = decide_rows(table.select(KEY_COLUMNS),
                                               len(rows) if rows is not None else plan.n_rows)
    table = first_copies(table, kept).sort_by(ROW)
    meta = meta_frame(plan, iter([table]), kept, ids, stems)
    features = plan.rules.features()
    if "name" in meta.columns and "name" not in features:
        features["name"] = datasets.Value("string")
    rows_dict = {"item_id": ids, "image": table.column(IMAGE).to_pylist(),
                 **{c: meta[c].tolist() for c in meta.columns if c != "item_id"}}
    dataset = catalog_dataset(rows_dict, features)
    return Catalog(dataset=dataset, source=plan.location.label, revision=plan.revision, skipped=skipped,
                   n_rows_read=len(table), kind=plan.location.kind)
