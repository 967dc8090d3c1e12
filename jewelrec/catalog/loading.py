"""Load a product catalog through `datasets`, validating every image and counting what is skipped.

Sources: ``"sample"`` (the embedded procedural catalog), a local image folder (imagefolder layout, labels
from sub-folders), local parquet file(s) or a folder of them, or a Hub dataset id. The image column is read
*undecoded* and every image is decoded fully here, so one bad row cannot abort a `datasets` iteration and a
truncated JPEG (which Pillow's ``verify()`` accepts) is caught.
"""

from __future__ import annotations

import glob
import hashlib
import io
import json
import logging
import math
import os
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pandas as pd
import pyarrow as pa
from PIL import Image, UnidentifiedImageError

from jewelrec.catalog.columns import (  # noqa: F401  (detect_image_column: importable here as before)
    ID_CANDIDATES,
    IMAGE_SUFFIXES,
    detect_image_column,
    image_column_verdicts,
    label_column,
)
from jewelrec.defaults import DEFAULT_HUB_DATASET
from jewelrec.encoders.base import upright

ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP", "GIF", "TIFF"})  # MPO: a phone's JPEG + extras
# Pillow's own bomb limit (~89 Mpx) is far above any product photo; a tenth of it still allows 9000x1000.
MAX_PIXELS = 40_000_000

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IdNote:
    """Rows of a catalog whose id column held no id, named by their picture instead: reported, never silent."""

    column: str
    rows: int

    @classmethod
    def of(cls, column: str | None, rows: int) -> IdNote | None:
        return cls(column, rows) if column is not None and rows else None

    def text(self) -> str:
        return (f"{self.rows} row{'s' * (self.rows != 1)} had no id in column {self.column!r} (empty, blank or "
                "NaN) and are named by their picture (img-…)")


@dataclass
class Catalog:
    """Validated catalog rows.

    ``dataset`` has ``item_id`` (str), ``image`` (raw, fully validated image bytes) and the source's
    metadata columns; ``skipped`` counts dropped rows by reason.
    """

    dataset: datasets.Dataset
    source: str
    revision: str | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    n_rows_read: int = 0
    # kept rows whose id column held no id (empty, blank, NaN): named by their picture (img-…), not dropped
    unnamed: IdNote | None = None
    kind: str | None = None  # SourceLocation.kind: parquet, imagefolder or hub (what the model card may cite)

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def item_ids(self) -> list[str]:
        return self.dataset["item_id"]

    @property
    def images(self) -> list[bytes]:
        return self.dataset["image"]

    def metadata(self) -> pd.DataFrame:
        """Every column but the image bytes, as a DataFrame (item_id first)."""
        return self.dataset.remove_columns("image").to_pandas()

    def label_column(self, preferred: str | None = "category", *, required: bool = False) -> str | None:
        """A categorical metadata column to train / score against: ``preferred`` if present, else the first
        string column with 2..50 distinct values (``label`` from an imagefolder included). ``required``: the
        user named ``preferred``, so its absence is a ``ValueError`` listing the columns, not a fallback."""
        return label_column(self.metadata(), preferred, required=required)


# what to do about a skip reason whose fix is not the picture itself (the summaries and errors print them)
SKIP_HINTS = {
    "path_outside_dataset": "path_outside_dataset: pictures reached through a path or symlink leading out of the "
                            "dataset folder are not read unless you pass --allow-external-paths (for a catalog you "
                            "trust)",
}


def skip_hints(skipped: dict[str, int]) -> list[str]:
    """The hints of :data:`SKIP_HINTS` for the reasons in ``skipped``."""
    return [hint for reason, hint in SKIP_HINTS.items() if skipped.get(reason)]


def validate_image(data: bytes | None) -> str | None:
    """Return ``None`` if ``data`` is a complete image in an accepted format, else the skip reason."""
    if data is None:
        return "missing_image"
    if len(data) == 0:
        return "empty_file"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format not in ACCEPTED_FORMATS:
                    return "unsupported_format"
                if image.width * image.height > MAX_PIXELS:
                    return "decompression_bomb"
                image.load()  # full decode: catches truncation that verify() lets through
                shown = upright(image)  # what the encoders do next (frames, EXIF orientation, 16-bit, aspect)
                if shown.mode != "RGB":  # an RGB picture's conversion is a plain copy; other modes are tried
                    shown.convert("RGB")
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        return "decompression_bomb"
    except UnidentifiedImageError:
        return "undecodable"
    except OSError as err:
        return "truncated" if "truncated" in str(err).lower() else "undecodable"
    except (ValueError, SyntaxError, TypeError, KeyError, IndexError):  # PIL's plugins on corrupt headers / IFDs
        return "undecodable"
    return None


def load_catalog(source: str | Path = "sample", *, revision: str | None = None, split: str = "train",
                 image_column: str | None = None, id_column: str | None = None,
                 limit: int | None = None, sample_items: int = 720, seed: int = 0,
                 allow_external_paths: bool = False) -> Catalog:
    """Load and validate a catalog. See the module docstring for the accepted sources.

    Images given as file paths must lie inside the dataset's folder (or the Hub download caches); others are
    skipped and counted as ``path_outside_dataset`` unless ``allow_external_paths``.

    Raises ``ValueError`` naming the fix for an unknown source, a dataset without an image column, or a
    catalog with no usable image.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit {limit} would read no rows; give a number of rows >= 1 (--limit N), or drop it "
                         "to read them all")
    location = locate_source(str(source), sample_items=sample_items, seed=seed, split=split)
    dataset, base_dir, label = open_source(location, revision=revision, split=split), location.base_dir, location.label
    if len(dataset) == 0:
        raise ValueError(f"dataset {label!r} is empty; point --dataset at a catalog with images")
    rules = row_rules(dataset, label, base_dir, image_column=image_column, id_column=id_column,
                      allow_external_paths=allow_external_paths,
                      files=location.files if location.kind == "parquet" else None)
    if isinstance(dataset.features.get(rules.image_column), datasets.Image):
        dataset = dataset.cast_column(rules.image_column, datasets.Image(decode=False))
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))

    skipped: Counter[str] = Counter()
    rows: dict[str, list[Any]] = {"item_id": [], "image": [], **{c: [] for c in rules.meta_columns}}
    seen_ids: set[str] = set()
    stems: list[str] = []
    unnamed = 0
    for row, record in enumerate(dataset):
        data, reason = rules.image(record, row)
        if reason is None:
            base, explicit = rules.base_id(record, data)
            item_id = unique_item_id(base, explicit, seen_ids)
            if item_id is None:
                reason = "duplicate_id"
            elif not explicit and rules.id_column is not None:
                unnamed += 1
        if reason is not None:
            skipped[reason] += 1
            continue
        seen_ids.add(item_id)
        rows["item_id"].append(item_id)
        rows["image"].append(data)
        if rules.name_from_files:
            stems.append(_file_stem(record[rules.image_column]))
        for column, value in rules.metadata(record).items():
            rows[column].append(value)
    if not rows["item_id"]:
        hints = "".join(f"; {hint}" for hint in skip_hints(skipped))
        raise ValueError(f"dataset {label!r} has no decodable image among {len(dataset)} rows "
                         f"(skipped: {dict(skipped)}); check the image column {rules.image_column!r}{hints}")
    features = rules.features()
    if any(stems):
        rows["name"] = [stem or None for stem in stems]
        features["name"] = datasets.Value("string")
    catalog_ds = catalog_dataset(rows, features)
    return Catalog(dataset=catalog_ds, source=label, revision=revision, skipped=dict(skipped),
                   n_rows_read=len(dataset), unnamed=IdNote.of(rules.id_column, unnamed), kind=location.kind)


def catalog_dataset(columns: dict[str, list[Any]], features: datasets.Features) -> datasets.Dataset:
    """``Dataset.from_dict`` of the catalog's columns; a uint64 column goes in as an Arrow array, as `datasets`
    infers int64 for Python ints and a value past 2**63 (a barcode hash) was an OverflowError."""
    columns = {name: pa.array(values, type=pa.uint64()) if features.get(name) == datasets.Value("uint64") else values
               for name, values in columns.items()}
    return datasets.Dataset.from_dict(columns, features=features)


@dataclass
class RowRules:
    """How one source's records become catalog rows: which columns hold the image, the id and the metadata, and
    the checks every record goes through. :func:`load_catalog` applies them row by row; the Ray engine
    (:mod:`jewelrec.pipeline.ray_catalog`) applies the same rules to each batch in its CPU tasks."""

    image_column: str
    id_column: str | None
    meta_columns: list[str]
    source_features: datasets.Features  # the source's own features (class labels, value types)
    name_from_files: bool  # no name/title column: items are named by their image files (when they have any)
    base_dir: Path | None  # relative image paths resolve against it (after the row's own file's folder)
    roots: list[Path] | None  # folders an image path may lead into; None: anywhere (--allow-external-paths)
    # parquet sources: (first catalog row of each file, its folder), so a row's relative image path is looked for
    # beside the file it came from first — two shops' a/cat.parquet and b/cat.parquet both say imgs/0.png
    file_dirs: tuple[np.ndarray, list[Path]] | None = None

    def image(self, record: dict[str, Any], row: int | None = None) -> tuple[bytes | None, str | None]:
        """(the record's fully validated image bytes, None) or (None, the skip reason); ``row``: its position in
        the source (which file it came from)."""
        data = _image_bytes(record[self.image_column], self._bases(row), self.roots)
        reason = data if isinstance(data, str) else validate_image(data)
        return (data, None) if reason is None else (None, reason)

    def _bases(self, row: int | None) -> list[Path]:
        """The folders a relative image path of source row ``row`` is looked for in, in order."""
        bases = [] if self.base_dir is None else [self.base_dir]
        if self.file_dirs is not None and row is not None:
            starts, dirs = self.file_dirs
            own = dirs[int(np.searchsorted(starts, row, side="right")) - 1]
            # the dataset folder is a fallback only for files inside it: a glob's first file's folder is another
            # shop's, and its imgs/1.png is not this row's picture
            bases = [own, *(b for b in bases if b != own and own.is_relative_to(b))]
        return bases

    def base_id(self, record: dict[str, Any], data: bytes) -> tuple[str, bool]:
        """(the id the record asks for, whether the source gave it): an explicit id (a whole float such as 3.0, from
        an integer column with gaps, reads '3'), or the picture's hash. An id that is null, NaN or blank is no id:
        the row is named by its picture, as a row without the column would be (an empty id would make a bundle that
        refuses to load). Whitespace around an id is not part of it (``' jw-1 '`` is ``'jw-1'``), as in
        training.evaluate's logs, which read the Space's ratings of the piece by the stripped id."""
        value = record.get(self.id_column) if self.id_column is not None else None
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
            value = int(value)  # 3.0 from an integer column with a gap is id '3', as in training.evaluate's logs
        if value is not None and not (isinstance(value, float) and math.isnan(value)) and str(value).strip():
            return str(value).strip(), True
        return "img-" + hashlib.sha1(data).hexdigest()[:12], False

    def metadata(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record's metadata columns as the catalog stores them (class labels become their names)."""
        values = {}
        for column in self.meta_columns:
            value = record[column]
            feature = self.source_features[column]
            if isinstance(feature, datasets.ClassLabel) and isinstance(value, int) and value >= 0:
                value = feature.names[value]
            values[column] = value
        return values

    def file_stem(self, record: dict[str, Any]) -> str:
        return _file_stem(record[self.image_column])

    def features(self) -> datasets.Features:
        """The catalog's features (``name`` not included: it exists only when some image file names one)."""
        return datasets.Features({"item_id": datasets.Value("string"), "image": datasets.Value("binary"),
                                  **{c: _plain_feature(self.source_features[c]) for c in self.meta_columns}})


PANDAS_INDEX = re.compile(r"__index_level_\d+__")  # what DataFrame.to_parquet names a non-default index


RESERVED_COLUMNS = ("image", "thumbnail")  # what the catalog and the bundle's items.parquet store themselves


def _holds_pictures(feature: Any) -> bool:
    """An Image feature, raw bytes, or the ``{"bytes", "path"}`` struct an Image column is stored as."""
    return (isinstance(feature, datasets.Image) or getattr(feature, "dtype", None) in ("binary", "large_binary")
            or (isinstance(feature, dict) and "bytes" in feature))


def row_rules(dataset: datasets.Dataset, label: str, base_dir: Path | None, *, image_column: str | None = None,
              id_column: str | None = None, allow_external_paths: bool = False,
              files: list[Path] | None = None) -> RowRules:
    """The :class:`RowRules` of a non-empty source ``dataset`` (only its features and first rows are read);
    ``files``: a parquet source's files in row order, whose own folders its relative image paths are looked in.

    Raises ``ValueError`` naming the fix when there is no image column or the one asked for is missing.
    """
    if image_column is None:
        image_column, rejected = image_column_verdicts(dataset)
        if image_column is None:
            why = f" ({'; '.join(rejected)})" if rejected else ""
            raise ValueError(f"dataset {label!r} has no image column; columns are {list(dataset.column_names)}{why}. "
                             "Pass --image-column NAME, or use an imagefolder / parquet with an Image feature")
    if image_column not in dataset.column_names:
        raise ValueError(f"image column {image_column!r} is not in dataset {label!r}; columns are "
                         f"{list(dataset.column_names)}")
    if id_column is not None and id_column not in dataset.column_names:
        raise ValueError(f"id column {id_column!r} is not in dataset {label!r}; columns are "
                         f"{list(dataset.column_names)}. Pass --id-column with one of them, or drop it to detect "
                         "(or hash) the ids")
    if id_column is not None and id_column == image_column:
        raise ValueError(f"--id-column {id_column!r} is the image column of dataset {label!r}; pick a column that "
                         f"holds ids (columns are {list(dataset.column_names)})")
    id_column = id_column or next((c for c in ID_CANDIDATES if c in dataset.column_names), None)
    # a pandas index saved beside the rows (a filtered DataFrame's to_parquet) is row numbering, not metadata
    meta_columns = [c for c in dataset.column_names if c not in (image_column, id_column, "item_id")
                    and not PANDAS_INDEX.fullmatch(c)]
    pictures = [c for c in meta_columns if c in RESERVED_COLUMNS and _holds_pictures(dataset.features[c])]
    if pictures:  # a second picture column (a source's own thumbnails): the catalog makes its own from the image
        log.warning("dataset %r: column(s) %s hold pictures beside the image column %r and are not kept (the "
                    "bundle makes its own thumbnails)", label, pictures, image_column)
        meta_columns = [c for c in meta_columns if c not in pictures]
    taken = [c for c in meta_columns if c in RESERVED_COLUMNS]
    if taken:  # they would collide with the catalog's own columns: a cryptic length error, or thumbnails overwritten
        raise ValueError(f"dataset {label!r} has a column named {taken[0]!r} beside its image column "
                         f"{image_column!r}; the catalog keeps {list(RESERVED_COLUMNS)} for its own picture bytes "
                         f"and thumbnails, so that column's values would be lost: rename it in the dataset (e.g. "
                         f"to {taken[0] + '_info'!r}), or pass --image-column {taken[0]} if it holds the pictures")
    file_dirs = None
    if files and any(f.parent != base_dir for f in files):
        import pyarrow.parquet as pq

        counts = [pq.read_metadata(f).num_rows for f in files]
        file_dirs = (np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64), [f.parent for f in files])
    dirs = [] if file_dirs is None else sorted(set(file_dirs[1]))
    return RowRules(image_column=image_column, id_column=id_column, meta_columns=meta_columns,
                    source_features=dataset.features,
                    # a catalog without names (an image folder) is named by its files: "gold_band-02.jpg" → "gold band 02"
                    name_from_files=not ({"name", "title"} & set(meta_columns)),
                    base_dir=base_dir, roots=None if allow_external_paths else _path_roots(base_dir, dirs),
                    file_dirs=file_dirs)


def unique_item_id(base: str, explicit: bool, seen: set[str]) -> str | None:
    """The id a row gets given the ids ``seen`` before it in catalog order: ``None`` when an explicit id repeats
    (the row is a ``duplicate_id``); a repeated picture without an id is two products, kept as ``img-…-2``."""
    if explicit:
        return None if base in seen else base
    item_id, n = base, 1
    while item_id in seen:  # the same picture twice is two products; keep both, stably
        n += 1
        item_id = f"{base}-{n}"
    return item_id


@dataclass
class SourceLocation:
    """Where a catalog's rows come from: ``kind`` is ``parquet`` (``files``: the parquet files, in order),
    ``imagefolder`` or ``hub``; ``base_dir``: what relative image paths resolve against; ``label``: its name."""

    kind: str
    source: str
    files: list[Path]
    base_dir: Path | None
    label: str


def locate_source(source: str, *, sample_items: int = 720, seed: int = 0, split: str = "train") -> SourceLocation:
    """Resolve ``--dataset`` without reading it (the sample catalog is built, once, into its cache). A local
    folder's files are split as the Hub splits a dataset repository's (``train-*.parquet`` / ``test/`` …, see
    :func:`local_split_files`); a single file, a glob and the sample are one split, ``train``.

    Raises ``ValueError`` naming the fix for an unknown source or split."""
    if source == "sample" or Path(source).expanduser().is_file() or \
            (not Path(source).expanduser().is_dir() and any(ch in source for ch in "*?")):
        if split != "train":
            raise ValueError(f"--split {split}: {source!r} is one catalog with no splits; drop --split, or point "
                             "--dataset at a folder whose files are named by split (train-*.parquet, test/ …)")
    if source == "sample":
        from jewelrec.catalog.sample import build_sample

        path = build_sample(sample_items, seed=seed)
        return SourceLocation("parquet", source, [path], path.parent, "sample")
    path = Path(source).expanduser()
    if path.is_file():
        if path.suffix != ".parquet":
            raise ValueError(f"{source!r} is a {path.suffix or 'suffix-less'} file; a catalog file must be "
                             ".parquet (or give an image folder, a Hub dataset id, or 'sample')")
        return SourceLocation("parquet", source, [path], path.parent, str(path))
    if path.is_dir():
        path = path.resolve()  # the split files come back resolved: a relative --dataset must compare with them
        _refuse_bundles_inside(path, source)
        parquet = local_split_files(path, split, (".parquet",))
        n_images = sum(1 for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if parquet:
            if n_images and any(p.name != "metadata.parquet" for p in parquet):
                log.warning("folder %s holds parquet file(s) (%s) and %d picture(s): it is read as a parquet "
                            "catalog, and a picture joins it only where a row names its file; to read the pictures "
                            "as an image folder, move the parquet out of it", source, parquet[0].relative_to(path),
                            n_images)
            return SourceLocation("parquet", source, parquet, path, str(path))
        linked = sorted(p for p in path.rglob("*") if p.is_symlink() and p.is_dir())
        if n_images:
            local_split_files(path, split, IMAGE_SUFFIXES)  # names a split the folder does not have
            if linked:
                log.warning("folder %s: %d linked folder(s) (e.g. %s -> %s) are not read — datasets does not "
                            "follow links to folders; copy them in to include their pictures", source, len(linked),
                            linked[0].relative_to(path), linked[0].resolve())
            return SourceLocation("imagefolder", source, [], path, str(path))
        if linked:
            raise ValueError(f"folder {source!r} holds no pictures of its own, only linked folders (e.g. "
                             f"{str(linked[0].relative_to(path))!r} -> {str(linked[0].resolve())!r}), which datasets "
                             "does not follow: point --dataset at the folder they link to, or copy them in")
        raise ValueError(f"folder {source!r} holds neither parquet files nor images "
                         f"({', '.join(IMAGE_SUFFIXES)})")
    if any(ch in source for ch in "*?") or source.endswith(".parquet") or source.startswith((".", "/", "~")):
        matches = sorted(Path(m) for m in glob.glob(str(Path(source).expanduser())) if Path(m).is_file())
        if matches:
            return SourceLocation("parquet", source, matches, matches[0].parent, source)
        raise ValueError(f"no such file or folder {source!r}; give 'sample', a local image folder, "
                         "parquet file(s), or a Hub dataset id like user/name")
    if source.count("/") != 1:
        raise ValueError(f"unknown dataset source {source!r}; give 'sample', a local image folder, parquet "
                         f"file(s), or a Hub dataset id like {DEFAULT_HUB_DATASET!r}")
    return SourceLocation("hub", source, [], None, source)


def local_split_files(folder: Path, split: str, suffixes: tuple[str, ...]) -> list[Path]:
    """The files with one of ``suffixes`` that make split ``split`` of a local folder, by the rules ``datasets``
    splits a dataset repository by (a ``test/`` folder, ``test-00000-of-00001.parquet``, ``validation.parquet`` …;
    a folder not named by split is all ``train``). Every one of them when ``split`` is ``train`` and the folder
    has no split names; [] when no file has those suffixes. Raises ``ValueError`` listing the folder's splits when it
    lacks ``split`` (all of a split-named folder's files had been read as one catalog, whatever ``--split``)."""
    from datasets.data_files import get_data_patterns, resolve_pattern

    root = folder.resolve()

    def kept(patterns: list[str]) -> list[Path]:
        paths: set[Path] = set()
        for pattern in patterns:
            try:
                paths.update(Path(f) for f in resolve_pattern(pattern, str(root)))
            except FileNotFoundError:  # a pattern of this split that matches nothing
                continue
        return sorted(p for p in paths if p.suffix.lower() in suffixes and p.is_file() and not any(
            part.startswith((".", "__")) for part in Path(os.path.relpath(p, root)).parts))

    try:
        patterns = get_data_patterns(str(root))
    except FileNotFoundError:  # an empty folder
        return []
    splits = {str(name): kept(patterns[name]) for name in patterns}
    splits = {name: files for name, files in splits.items() if files}
    if not splits:
        return []
    in_none = sorted(set(kept(["**"])) - {f for files in splits.values() for f in files})
    unsplit = (f"; {len(in_none)} of its files (e.g. {os.path.relpath(in_none[0], root)!r}) are named by no split and "
               "not read: once one file or folder is named like a split ('ring-test.jpg'), files named like none are "
               "left out — rename that one, or put every file in train/ and test/ folders" if in_none else "")
    if split not in splits:
        raise ValueError(f"--split {split}: the folder {str(folder)!r} holds the split(s) {sorted(splits)} (by its "
                         f"file and folder names, as the Hub splits a dataset): pass one of them to --split{unsplit}")
    if in_none:
        log.warning("folder %s%s", folder, unsplit)
    if len(splits) > 1:
        log.warning("folder %s is split by its file and folder names into %s; reading %s (--split)", folder,
                    ", ".join(f"{name} ({len(files)} files)" for name, files in sorted(splits.items())), split)
    return splits[split]


def _refuse_bundles_inside(folder: Path, source: str) -> None:
    """Refuse a dataset folder holding a jewelrec bundle: its items.parquet (the last fit's thumbnails) would be
    read as the catalog in place of the pictures beside it, or its report's plots would join the pictures."""
    from jewelrec.pipeline.out_dir import enclosing_bundle

    root = folder.resolve()
    for config in sorted(folder.rglob("config.json")):
        bundle = enclosing_bundle(config.parent)
        if bundle is not None and bundle.is_relative_to(root):
            raise ValueError(f"dataset folder {source!r} holds the jewelrec bundle {bundle}: its thumbnails and "
                             "report would be read as catalog items; move the bundle out of the dataset folder "
                             "(or point --dataset at the files to read, e.g. a glob of parquet files)")


def open_source(location: SourceLocation, *, revision: str | None = None,
                split: str = "train") -> datasets.Dataset:
    """The located source as a ``datasets.Dataset`` (memory-mapped Arrow, not read into memory)."""
    if location.kind == "parquet":
        return _load_parquet(location.files)
    if location.kind == "imagefolder":
        check_metadata_files(location.base_dir)
        dataset = datasets.load_dataset("imagefolder", data_dir=str(location.base_dir), split=split)
        if "label" not in dataset.features:
            check_class_folders(location.base_dir, len(dataset))
        return dataset
    try:
        return datasets.load_dataset(location.source, revision=revision, split=split)
    except ValueError as err:  # unknown split and similar
        raise ValueError(f"could not load split {split!r} of {location.source!r}: {err}") from None
    except Exception as err:  # network, auth, missing repo: all end the same way for the user
        raise ValueError(f"could not load Hub dataset {location.source!r} (revision {revision or 'main'}): "
                         f"{type(err).__name__}: {err}. Check the id and your network / HF_TOKEN, or use "
                         "--dataset sample or a local folder") from None


FILE_NAME_KEYS = ("file_name", "file_names")  # `datasets` also takes any column ending in _file_name(s)


def check_metadata_files(base_dir: Path) -> None:
    """Refuse an image folder's ``metadata.csv`` / ``metadata.jsonl`` that ``datasets`` would stop on with a bare
    codec or key error: text that is not UTF-8 (a spreadsheet's Latin-1 or UTF-16 export), a CSV separated by
    ``;`` or tabs, or a file without the ``file_name`` column that says which picture each row describes."""
    import csv

    for path in sorted(base_dir.rglob("metadata.*")):
        if path.name not in ("metadata.csv", "metadata.jsonl") or not path.is_file():
            continue
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise ValueError(f"{path} is not UTF-8 text (byte {raw[err.start]:#04x} at offset {err.start}): save it "
                             "as UTF-8 (a spreadsheet's 'CSV UTF-8' export, or iconv -f latin1 -t utf-8)") from None
        first = next((line for line in text.splitlines() if line.strip()), "")
        if path.suffix == ".csv":
            keys = next(csv.reader([first]), [])
        else:
            try:
                row = json.loads(first)
            except ValueError:
                raise ValueError(f"{path}: its first line is not a JSON object ({first[:80]!r}); metadata.jsonl holds "
                                 'one object per line, e.g. {"file_name": "ring/1.jpg", "category": "ring"}') from None
            keys = list(row) if isinstance(row, dict) else []
        keys = [str(k).strip() for k in keys]
        if any(k in FILE_NAME_KEYS or k.endswith(tuple("_" + n for n in FILE_NAME_KEYS)) for k in keys):
            continue
        separator = next((name for sep, name in ((";", "';'"), ("\t", "tabs"), ("|", "'|'")) if sep in first), None)
        if path.suffix == ".csv" and separator is not None and len(keys) <= 1:
            raise ValueError(f"{path} is separated by {separator} ({first[:80]!r}); datasets reads metadata.csv "
                             "with commas: save it comma-separated")
        raise ValueError(f"{path} has no file_name column naming each row's picture (its columns: {keys[:10]}); add "
                         "one holding each picture's path relative to the file (e.g. ring/1.jpg), or remove the file "
                         "to read the folder by its class folders")


def _folder_pictures(base_dir: Path) -> Iterator[Path]:
    """The pictures `datasets`' imagefolder reads from ``base_dir`` (its extensions; not hidden, not ``__…``), as
    paths relative to it."""
    from datasets.packaged_modules.imagefolder.imagefolder import ImageFolder

    for path in base_dir.rglob("*"):
        relative = path.relative_to(base_dir)
        if path.suffix.lower() in ImageFolder.EXTENSIONS and path.is_file() and \
                not any(part.startswith((".", "__")) for part in relative.parts):
            yield relative


def single_class_folder(base_dir: Path) -> str | None:
    """The one folder every picture of an image folder (without a metadata file) sits in — ``new/ring/*.png`` —
    or None. `datasets` takes folder names as labels from two classes up, so such a folder reads with no label: for
    a fit that is right (``shop/images/`` is no class), for an update of a bundle labelled by class folders it is
    the label of the night's new pieces (:mod:`jewelrec.pipeline.update`)."""
    from datasets.packaged_modules.imagefolder.imagefolder import ImageFolder

    if not base_dir.is_dir() or any((base_dir / name).exists() for name in ImageFolder.METADATA_FILENAMES):
        return None
    if local_split_files(base_dir, "train", (".parquet",)):  # read as a parquet catalog: its pictures are files
        return None
    folders = set()
    for relative in _folder_pictures(base_dir):
        if len(relative.parts) != 2:
            return None
        folders.add(relative.parts[0])
    from datasets.data_files import SPLIT_KEYWORDS

    splits = {word for words in SPLIT_KEYWORDS.values() for word in words}
    if len(folders) != 1 or {f.lower() for f in folders} & splits:  # new/train/ is a split of pictures, not a class
        return None
    return folders.pop()


def check_class_folders(base_dir: Path, n_rows: int) -> None:
    """Refuse an image folder whose class folders ``datasets`` ignored: it takes the folder names as labels only
    when every image sits at the same depth, so one stray picture beside the class folders dropped every label
    (and the catalog's styles were then scored against its file names). A folder with a metadata file is read as
    ``datasets`` reads it (its columns are the metadata), with a log line when that file leaves pictures out of the
    ``n_rows`` rows or makes the folder names no labels."""
    from datasets.packaged_modules.imagefolder.imagefolder import ImageFolder

    by_depth: dict[int, list[Path]] = {}
    for relative in sorted(_folder_pictures(base_dir)):
        by_depth.setdefault(len(relative.parts), []).append(relative)
    metadata = [name for name in ImageFolder.METADATA_FILENAMES if (base_dir / name).exists()]
    if metadata:  # the metadata file decides which pictures are rows, and its columns replace the folder labels
        n_files = sum(len(v) for v in by_depth.values())
        if n_rows < n_files:
            log.warning("image folder %s: %s lists %d of its %d pictures; the other %d are not read (add them to "
                        "it to include them)", base_dir, metadata[0], n_rows, n_files, n_files - n_rows)
        if max(by_depth, default=1) >= 2:
            log.warning("image folder %s: with %s beside them, folder names are not labels; give %s a label "
                        "column (e.g. category) to keep them", base_dir, metadata[0], metadata[0])
        return
    if len(by_depth) < 2 or max(by_depth) < 2:
        return  # a flat folder, or one depth: no folder labels to lose
    depth = min(by_depth)
    stray = by_depth[depth]
    where = "directly in it" if depth == 1 else f"{depth - 1} folder(s) deep"
    deeper = sum(len(v) for d, v in by_depth.items() if d != depth)
    raise ValueError(f"image folder {str(base_dir)!r} has {len(stray)} image(s) {where} (e.g. "
                     f"{str(stray[0])!r}) beside {deeper} in deeper class folders; its folder names become labels "
                     "only when every image sits at the same depth: move those images into a class folder (or out "
                     "of the dataset folder)")


def _load_parquet(paths: Iterable[Path]) -> datasets.Dataset:
    """The parquet files as one dataset; each file's footer is read first, so a file that is not parquet or a
    catalog without rows gets a ``ValueError`` naming it instead of a `datasets` build error."""
    paths = list(paths)
    _, footers = check_parquet_files(paths)
    # `datasets` keys its cache of local files on path and mtime: a file replaced by one with the same mtime (cp -p,
    # rsync -t, tar, a build that fixes timestamps) was read from the cache of the old one, rows and all. The files'
    # inode, change time (which no copy can set) and footers (row groups, sizes, statistics) name the cache too.
    return datasets.load_dataset("parquet", name=f"jewelrec-{footers[:16]}",
                                 data_files=[str(p) for p in paths], split="train")


def check_parquet_files(paths: list[Path]) -> tuple[int, str]:
    """(rows, a digest of the files' footers, inodes and change times) of a catalog's parquet files — both engines
    read them only after this: a file that is not parquet, one with a repeated column name, files of different
    columns (one with ``sku`` where the others have ``item_id``: the Ray engine lost its ids without a word) or no
    rows at all is a ``ValueError`` naming the file and the fix."""
    import pyarrow.parquet as pq

    n_rows, columns = 0, []
    first: tuple[Path, Any] | None = None
    footers = hashlib.sha256()
    for path in paths:
        try:
            metadata = pq.read_metadata(path)
        except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
            raise ValueError(f"{path} is not a readable parquet file ({err}); point --dataset at parquet files, "
                             "an image folder or a Hub dataset") from None
        stat = os.stat(path)  # a copy keeping mtime (cp -p, rsync -t, tar) cannot keep the inode change time
        footers.update(json.dumps([str(path), stat.st_size, stat.st_ino, stat.st_ctime_ns, metadata.to_dict()],
                                  default=str).encode())
        n_rows += metadata.num_rows
        schema = metadata.schema.to_arrow_schema()
        check_unique_columns(path, schema.names)
        columns = columns or schema.names
        if first is None:
            first = (path, schema)
        elif set(schema.names) != set(first[1].names):  # `datasets` would stop with a CastError traceback
            extra, missing = sorted(set(schema.names) - set(first[1].names)), sorted(set(first[1].names) - set(schema.names))
            raise ValueError(f"the parquet files of this catalog have different columns: {path} "
                             + (f"adds {extra} " if extra else "") + (f"lacks {missing} " if missing else "")
                             + f"against {first[0]}; give every file the same columns, or point --dataset at one "
                             "file or a glob of the ones that match" + _bundle_hint(path))
    if n_rows == 0:
        shown = str(paths[0]) if len(paths) == 1 else f"{len(paths)} files from {paths[0]}"
        raise ValueError(f"dataset {shown} is empty: its parquet holds 0 rows (columns {columns}); point "
                         "--dataset at a catalog with images")
    return n_rows, footers.hexdigest()


def check_unique_columns(path: Path, names: list[str]) -> None:
    """Refuse a parquet file with two columns of one name (a SQL join's or duckdb's export): `datasets` stopped with
    a DatasetGenerationError whose cause, pyarrow's "Multiple matches for FieldRef", sat far up the traceback."""
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{path} has more than one column named {', '.join(map(repr, repeated))}; give each column "
                         "its own name (e.g. alias them in the query that wrote the file) and write it again")


def _bundle_hint(path: Path) -> str:
    """' (… belongs to the jewelrec bundle …)' when ``path`` lies in a bundle kept inside the dataset folder."""
    from jewelrec.pipeline.out_dir import enclosing_bundle

    folder = enclosing_bundle(path.parent)
    return f" ({path} belongs to the jewelrec bundle {folder}: keep bundles outside the dataset folder)" if folder else ""


def _path_roots(base_dir: Path | None, file_dirs: Iterable[Path] = ()) -> list[Path]:
    """Folders an image given by path may come from: the dataset's own folder (and those of its parquet files),
    and the caches the ``datasets`` / ``huggingface_hub`` libraries download a Hub dataset's files into."""
    from huggingface_hub import constants

    roots = [Path(datasets.config.HF_DATASETS_CACHE), Path(constants.HF_HUB_CACHE)]
    return [r.resolve() for r in ([base_dir] if base_dir is not None else []) + list(file_dirs) + roots]


def _image_bytes(value: Any, bases: list[Path], roots: list[Path] | None) -> bytes | str | None:
    """Raw bytes from an undecoded Image value, a ``{"bytes", "path"}`` dict, or a path string (relative: looked
    for in each of ``bases`` in turn); a path leading outside ``roots`` (None: anywhere is allowed) gives the skip
    reason ``"path_outside_dataset"`` instead — a catalog must not be able to read (and publish as thumbnails) any
    file of the machine it is fitted on."""
    if isinstance(value, dict):
        if value.get("bytes") is not None:
            return bytes(value["bytes"])
        value = value.get("path")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str) and value:
        path = Path(value).expanduser()
        if not path.is_absolute() and bases:
            path = next((base / path for base in bases if (base / path).is_file()), bases[0] / path)
        if roots is not None and not any(path.resolve().is_relative_to(root) for root in roots):
            return "path_outside_dataset"
        try:
            return path.read_bytes()
        except OSError:
            return None
    return None


def _file_stem(value: Any) -> str:
    """A readable name from an image's file name ("" when it has none): separators become spaces."""
    path = value.get("path") if isinstance(value, dict) else value if isinstance(value, str) else None
    if not path:
        return ""
    return " ".join(Path(str(path)).stem.replace("_", " ").replace("-", " ").split())[:120]


def _plain_feature(feature: Any) -> Any:
    """Metadata features as stored in the catalog: class labels become their names."""
    return datasets.Value("string") if isinstance(feature, datasets.ClassLabel) else feature
