"""What a loaded bundle's content must hold beyond shapes and finiteness: thumbnails that are image bytes, and
unit-length embeddings. :meth:`jewelrec.serving.bundle.Bundle.load` calls these once the table and arrays are read and
raises ``BundleError`` with the problem they return.

Both look at content the manifest cannot vouch for: a bundle resealed after an edit, or one written by code other
than ``training.fit`` through :meth:`Bundle.save`. Embeddings that are not unit length are normalised here with a
warning, so ``similar``'s scores stay cosines; a zero row (a picture an encoder saw nothing in) stays zero, with
a warning: it scores 0 against everything, so it neither crashes nor wins, and a fit's bundle always loads.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")  # JPEG, PNG (WebP: "RIFF....WEBP")
UNIT_TOLERANCE = 1e-3  # |‖e‖ − 1| a float32 encoder output stays well inside; beyond it a row was not normalised


def thumbnail_problem(items: pd.DataFrame, source: str) -> str | None:
    """Why the ``thumbnail`` column is not JPEG, PNG or WebP bytes (nulls allowed), or None when it is.
    ``source``: the file, for the message."""
    if "thumbnail" not in items.columns:
        return None
    not_bytes, not_image = [], []
    for item_id, thumb in zip(items["item_id"], items["thumbnail"]):
        if thumb is None:
            continue
        if not isinstance(thumb, (bytes, bytearray, memoryview)):
            not_bytes.append((str(item_id), type(thumb).__name__))
        elif not bytes(thumb[:12]).startswith(IMAGE_MAGIC) and bytes(thumb[8:12]) != b"WEBP":
            not_image.append(str(item_id))
        if len(not_bytes) >= 3 or len(not_image) >= 3:
            break
    if not_bytes:
        ids, kinds = [i for i, _ in not_bytes], sorted({k for _, k in not_bytes})
        return (f"{source}: the thumbnail column holds {', '.join(kinds)} values (items {ids}), not image bytes; "
                "re-create the bundle with training.fit")
    if not_image:
        return f"{source}: the thumbnails of {not_image} are not JPEG/PNG/WebP images; re-create the bundle"
    return None


def row_norms(X: np.ndarray) -> np.ndarray:
    """L2 norms (n,) float64 of the rows of X (n, d) float32 at any finite scale: computed in float32 (no (n, d)
    float64 copy), then again in float64 for the few rows whose float32 squares overflow (|x| ~ 1e20: the norm came
    out inf) or underflow (~1e-25: a non-zero row came out 0)."""
    with np.errstate(over="ignore", under="ignore"):
        norms = np.sqrt(np.einsum("nd,nd->n", X, X)).astype(np.float64)  # (n,)
    suspect = np.flatnonzero(~np.isfinite(norms) | (norms < 1e-12))
    norms[suspect] = np.linalg.norm(X[suspect].astype(np.float64), axis=1)
    return norms


def divide_rows(X: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """X (n, d) with each row divided by its ``norms`` entry (zero rows left zero), float32; a row whose norm
    float32 cannot hold is divided in float64."""
    safe = np.where(norms == 0, 1.0, norms)  # (n,)
    top = float(np.finfo(np.float32).max)
    out = (X / np.minimum(safe, top).astype(np.float32)[:, None]).astype(np.float32)  # (n, d)
    big = np.flatnonzero(safe > top)
    out[big] = X[big] / safe[big, None]
    return out


def _off_unit(norms: np.ndarray) -> np.ndarray:
    """(n,) bool: the non-zero rows whose norm is not 1 within :data:`UNIT_TOLERANCE`."""
    return (norms != 0) & (np.abs(norms - 1.0) > UNIT_TOLERANCE)


def unit_copy(X: np.ndarray) -> np.ndarray:
    """X (n, d) itself when its non-zero rows are unit length, else a copy in which they are — :func:`unit_rows`
    without its warnings, for vectors that may come at any scale (``fit_clusters_at_scale``'s rows)."""
    norms = row_norms(X)  # (n,)
    return divide_rows(X, norms) if _off_unit(norms).any() else X


def unit_rows(embeddings: np.ndarray, item_ids: list[str], source: str) -> np.ndarray:
    """``embeddings`` (n, d) with every non-zero row of unit length: the same array when they already are, else
    normalised with a warning naming ``source``. Zero rows stay zero (normalising would give NaN), with a warning:
    every score against them is 0, so they are never near anything."""
    norms = row_norms(embeddings)  # (n,)
    zero = norms == 0  # (n,)
    if zero.any():
        log.warning("%s: the embeddings of %d items (%s) are zero vectors; they stay zero and score 0 against every "
                    "piece — re-run training.fit if they should look like something", source, int(zero.sum()),
                    [item_ids[i] for i in np.flatnonzero(zero)[:3]])
    off = _off_unit(norms)  # (n,)
    if not off.any():
        return embeddings
    log.warning("%s: %d of %d embeddings are not unit length (norms %.3g..%.3g); normalised on load so scores stay "
                "cosines — re-run training.fit to store normalised ones", source, int(off.sum()), len(norms),
                float(norms[~zero].min()), float(norms[~zero].max()))
    return divide_rows(embeddings, norms)
