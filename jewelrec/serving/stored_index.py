"""The search index a bundle carries (``index.faiss``), and whether to trust it.

``training.fit`` trains the IVF once and :meth:`Bundle.save` stores it with a record in ``config["index"]``
(type, metric, n, d, nlist, nprobe, seed, and the SHA-256 of the ``embeddings.safetensors`` it was built from).
:func:`load_search_index` is what the Recommender calls at start:

- no record (a small catalog searched flat, a bundle from before the index was stored, a bundle built in memory):
  train the index now, as before;
- a record for other embeddings (other n or d, another embeddings file, or codes that do not decode to these
  vectors): trained now, so a derived or edited bundle still serves — a warning naming the fix when the bundle is
  stale, a note when it is a cut-down copy made in memory (the offline evaluator's);
- bytes that differ from the manifest (hashed here, before FAISS parses them) or that are not the index the record
  describes: :class:`BundleError`, the bundle is refused.
"""

from __future__ import annotations

import hashlib
import logging
import time

import numpy as np

from jewelrec.serving.bundle import INDEX_NAME, Bundle, BundleError
from jewelrec.serving.index import EXACT_LIMIT, VectorIndex

log = logging.getLogger(__name__)
CUT_DOWN = "it was built for"


def load_search_index(bundle: Bundle, *, exact_limit: int = EXACT_LIMIT) -> VectorIndex:
    """The nearest-neighbour index over ``bundle.embeddings``: the stored one when it was built from them
    (``index.origin == "stored"``), else one trained now (``"built"``). See the module docstring."""
    why_not = stale_reason(bundle)
    if why_not is None:
        start = time.perf_counter()
        data = verified_bytes(bundle)
        try:
            nprobe = bundle.config["index"].get("nprobe")
            index = VectorIndex.from_bytes(data, bundle.embeddings, exact_limit=exact_limit,
                                           nprobe=nprobe if type(nprobe) is int and nprobe > 0 else None)
        except ValueError as err:
            raise BundleError(f"{bundle.path}/{INDEX_NAME} is not the index its record in config.json describes "
                              f"({err}); delete the bundle and fetch or re-create it with training.fit") from None
        del data  # the IVF holds its own copy; drop the file's bytes before anything else is allocated
        if index.holds(bundle.embeddings):
            index.origin = "stored"
            log.info("search index loaded from %s in %.1f s", INDEX_NAME, time.perf_counter() - start)
            return index
        why_not = "its codes do not decode to these embeddings (they changed after the index was built)"
    if why_not.startswith(CUT_DOWN):  # a subset made in memory (the offline evaluator's): nothing is wrong
        log.info("not using the bundle's prebuilt search index: %s; training one for this copy", why_not)
    elif why_not:
        log.warning("not using the bundle's prebuilt search index: %s; training one now (about 20 s per million "
                    "items on one core) — re-run training.fit to store a fresh one", why_not)
    return VectorIndex(bundle.embeddings, exact_limit=exact_limit)


def stale_reason(bundle: Bundle) -> str | None:
    """``""`` when the bundle stores no index, why not when the one it stores was built from other embeddings,
    ``None`` when it may be loaded."""
    record = bundle.config.get("index")
    if bundle.path is None or not isinstance(record, dict):
        return ""
    if INDEX_NAME not in (bundle.config.get("files") or {}):  # the file removed, the manifest sealed again by hand
        return f"config.json records {INDEX_NAME} but the bundle holds no such file"
    n, d = bundle.embeddings.shape
    if record.get("n") != n or record.get("d") != d:
        return (f"{CUT_DOWN} {record.get('n')} x {record.get('d')} embeddings and this bundle has {n} x {d} (a "
                "cut-down copy, or the embeddings changed)")
    if record.get("embeddings_sha256") != (bundle.config.get("files") or {}).get("embeddings.safetensors"):
        return "it was built from other embeddings than the embeddings.safetensors beside it (stale)"
    return None


def verified_bytes(bundle: Bundle) -> np.ndarray:
    """``index.faiss`` as (size,) uint8, hashed here and compared with the manifest before anything parses it
    (the file may have changed since :meth:`Bundle.load` hashed it), so FAISS only ever reads sealed bytes."""
    path = bundle.path / INDEX_NAME
    expected = (bundle.config.get("files") or {}).get(INDEX_NAME)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise BundleError(f"cannot read {path} ({err}); delete the bundle and fetch or re-create it") from None
    if expected is None or hashlib.sha256(data).hexdigest() != expected:
        raise BundleError(f"{path} differs from the SHA-256 recorded when the bundle was saved (corrupt download or "
                          "edited file); delete the bundle and fetch or re-create it with training.fit")
    return data
