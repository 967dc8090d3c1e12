"""Which columns of a source hold what: the image column (detected from features and values), the id column
candidates, and the categorical column a CNN learns and styles are scored against."""

from __future__ import annotations

import io

import datasets
import pandas as pd
from PIL import Image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
ID_CANDIDATES = ("item_id", "id", "sku", "product_id", "article_id")


def label_column(meta: pd.DataFrame, preferred: str | None = "category", *, required: bool = False) -> str | None:
    """:meth:`Catalog.label_column` over a metadata table (``item_id`` and metadata columns)."""
    if preferred and preferred in meta.columns and preferred != "item_id":
        return preferred
    if preferred and required:
        columns = [c for c in meta.columns if c != "item_id"]
        raise ValueError(f"label column {preferred!r} is not among the catalog's metadata columns {columns} (the "
                         "image and id columns are not metadata); pass --label-column with one of them, or drop it")
    for column in ("category", "label", *meta.columns):
        if column in meta.columns and column != "item_id" and not pd.api.types.is_numeric_dtype(meta[column]):
            distinct = meta[column].nunique()
            if 2 <= distinct <= 50 and distinct < len(meta):
                return column
    return None


def detect_image_column(dataset: datasets.Dataset) -> str | None:
    """The first column holding images: an Image feature, ``{"bytes": …}`` structs, image bytes, or image paths.
    Values are looked at beyond the first row (:data:`SCAN_ROWS`), so a few bad first rows do not hide the column."""
    return image_column_verdicts(dataset)[0]


SCAN_ROWS = 1000  # text values looked at per column: a column of image paths whose first rows are bad is still found
PROBE_ROWS = 20  # binary values looked at per column (their headers only): enough to tell pictures from other blobs
IMAGE_NAME_HINTS = ("image", "img", "photo", "picture", "path", "file", "thumb")


def image_column_verdicts(dataset: datasets.Dataset) -> tuple[str | None, list[str]]:
    """(the detected image column or None, why each plausible column was not taken — for the error message)."""
    rejected: list[str] = []
    head = dataset.select(range(min(len(dataset), SCAN_ROWS)))
    for name, feature in dataset.features.items():
        if isinstance(feature, datasets.Image) or (isinstance(feature, dict) and "bytes" in feature):
            return name, rejected
        dtype = getattr(feature, "dtype", None)
        if dtype in ("binary", "large_binary"):
            values = [v for v in head.select(range(min(len(head), PROBE_ROWS)))[name] if v]
            if any(_looks_like_image(v) for v in values):
                return name, rejected
            rejected.append(f"{name!r} holds bytes, but none of its first {len(values)} values is a picture")
        elif dtype in ("string", "large_string"):
            values = [v for v in head[name] if isinstance(v, str) and v]
            if any(v.lower().endswith(IMAGE_SUFFIXES) for v in values):
                return name, rejected
            if any(hint in name.lower() for hint in IMAGE_NAME_HINTS):
                example = f" (e.g. {values[0][:80]!r})" if values else ""
                rejected.append(f"{name!r} holds text, but none of its first {len(values)} values names an image "
                                f"file ({', '.join(IMAGE_SUFFIXES)}){example}")
    return None, rejected


def _looks_like_image(data: bytes) -> bool:
    """Whether ``data`` starts like a picture Pillow can read (the header only: nothing is decoded)."""
    try:
        with Image.open(io.BytesIO(data)):
            return True
    except (OSError, ValueError, SyntaxError):  # UnidentifiedImageError is an OSError
        return False
