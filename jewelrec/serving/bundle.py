"""The bundle: everything the Space needs, as one directory that moves between disk and Hub unchanged.

Layout (see DESIGN.md)::

    config.json               format version, provenance, encoder, clustering, counts, metrics, file manifest
    items.parquet             item_id, metadata columns, thumbnail (JPEG bytes, <= 256 px)
    embeddings.safetensors    embeddings (n, d) float32, L2-normalised
    clusters.safetensors      labels (n,), probs (n, k), centroids (k, d_space), coords2d (n, 2) [, latents]
    index.faiss               the search index trained at fit (catalogs above 2,048 items), FAISS's own format
    encoder/                  config.json [+ model.safetensors for the CNN]
    depict/                   config.json + model.safetensors (method = depict)
    report/                   metrics.json + PNG plots
    README.md                 model card

Only safetensors, JSON, parquet, PNG and FAISS's index format are ever read back, and ``config.json`` carries a
SHA-256 manifest of every other file: :meth:`Bundle.load` refuses unknown format versions, files it did not write
(a stray ``.pkl`` or ``.bin``), missing files and any byte that differs from what was saved; content that would
serve wrong even when sealed (:mod:`jewelrec.serving.bundle_content`) is refused too, and embeddings that are not
unit length are normalised with a warning.

The prebuilt index: ``config["index"]`` records what it is (type, metric, n, d, nlist, nprobe) and the SHA-256 of
the ``embeddings.safetensors`` it was built from, so a stale index is detectable; how the Recommender decides to
trust it is in :mod:`jewelrec.serving.stored_index`. Bundles without one are written as format version 1.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from safetensors.numpy import load_file, save_file

import jewelrec
from jewelrec import jsonio
from jewelrec.serving.bundle_content import thumbnail_problem, unit_rows
from jewelrec.serving.bundle_files import (  # noqa: F401 (re-exported: their home before bundle_files)
    ALLOWED_PATTERNS,
    HUB_METADATA,
    INDEX_NAME,
    REQUIRED,
    UNHASHED,
    content_roots,
    is_allowed,
    list_files,
    sha256_file,
    share_as_umask,
)

if TYPE_CHECKING:
    from jewelrec.serving.index import VectorIndex

# 2: may hold index.faiss, which a reader of version 1 would refuse as a file it did not write. Bundles without a
# prebuilt index are still written as 1, so older jewelrec keeps loading them.
FORMAT_VERSION = 2
READ_VERSIONS = (1, 2)
CONFIG_NAME = "config.json"


class BundleError(ValueError):
    """A directory is not a bundle this version of jewelrec can load."""


class BundleFilesError(BundleError):
    """The folder's files are not the manifest's: one it does not list, or one it lists that is missing."""


class BundleChanged(BundleError):
    """Files whose bytes are not the SHA-256 the manifest recorded (``files``): a corrupt download or an edit."""

    def __init__(self, message: str, files: list[str]):
        super().__init__(message)
        self.files = files


def check_manifest_path(directory: Path, relpath: str) -> None:
    """A manifest entry must name a regular file inside the bundle: relative, normalised, no ``..``, no link
    leading out. Checked before anything is read or hashed, so a crafted manifest learns nothing about files
    outside the bundle."""
    parts = relpath.split("/")
    if (not relpath or relpath.startswith("/") or "\\" in relpath or ":" in parts[0]
            or any(part in ("", ".", "..") for part in parts)):
        raise BundleError(f"manifest entry {relpath!r} is not a plain relative path inside the bundle; "
                          "refusing to load it (re-create the bundle)")
    path = directory / relpath
    if not any(path.resolve().is_relative_to(root) for root in content_roots(directory)):
        raise BundleError(f"manifest entry {relpath!r} is a link or leads outside the bundle; refusing to load it")


@dataclass
class Bundle:
    """A fitted catalog: item table, embeddings, clusters and provenance.

    Arrays: ``embeddings`` (n, d) float32; ``labels`` (n,) int64; ``probs`` (n, k) float32;
    ``centroids`` (k, d_space) float32 in the space the method clustered in; ``coords2d`` (n, 2) float32;
    ``latents`` (n, d_space) float32 or None: the space the method clustered in when it is not the embeddings
    (umap-kmeans' 10-D UMAP, DEPICT's latent means), which ``training.update`` assigns new items in.
    """

    items: pd.DataFrame
    embeddings: np.ndarray
    labels: np.ndarray
    probs: np.ndarray
    centroids: np.ndarray
    coords2d: np.ndarray
    config: dict[str, Any] = field(default_factory=dict)
    latents: np.ndarray | None = None
    path: Path | None = None

    def __post_init__(self) -> None:
        n = len(self.items)
        if "item_id" not in self.items.columns:
            raise BundleError(f"items table has no 'item_id' column; columns are {list(self.items.columns)}; "
                              "re-create the bundle with training.fit")
        # from a list, not by iterating the Series: at 1M items ~1 s of start-up instead of ~3 s
        ids = self.items["item_id"].astype(str).tolist()
        missing_id = self.items["item_id"].isna().to_numpy()  # (n,) null would serve as the id 'nan' or 'None'
        if missing_id.any() or "" in ids:
            rows = np.flatnonzero(missing_id | (np.asarray(ids, dtype=object) == ""))[:3].tolist()
            raise BundleError(f"items table rows {rows} have no item_id (null or empty); every piece needs one — "
                              "re-create the bundle from a catalog with ids")
        if n == 0:  # every consumer would divide by the catalog's size or search an empty index
            raise BundleError("the items table has no rows: a bundle needs at least one piece; fit it on a catalog "
                              "with pictures")
        self._index = dict(zip(ids, range(len(ids))))
        if len(self._index) != n:
            dupes = pd.Series(ids)[pd.Series(ids).duplicated()].head(3).tolist()
            raise BundleError(f"item ids must be unique; repeated: {dupes}")
        self.embeddings = np.ascontiguousarray(self.embeddings, dtype=np.float32)
        self.labels = np.ascontiguousarray(self.labels, dtype=np.int64)
        self.probs = np.ascontiguousarray(self.probs, dtype=np.float32)
        self.centroids = np.ascontiguousarray(self.centroids, dtype=np.float32)
        self.coords2d = np.ascontiguousarray(self.coords2d, dtype=np.float32)
        if self.latents is not None:
            self.latents = np.ascontiguousarray(self.latents, dtype=np.float32)
        for name, ndim in (("embeddings", 2), ("labels", 1), ("probs", 2), ("centroids", 2), ("coords2d", 2),
                           ("latents", 2)):
            array = getattr(self, name)
            if array is None:
                continue
            if array.ndim != ndim:
                raise BundleError(f"{name} must be {ndim}-D, got shape {array.shape}; re-run training.fit")
            if name != "centroids" and array.shape[0] != n:
                raise BundleError(f"{name} has {array.shape[0]} rows but the catalog has {n} items")
            if not all_finite(array):
                raise BundleError(f"{name} holds NaN or infinite values; re-run training.fit on this catalog")
        if self.embeddings.shape[1] == 0:  # every cosine 0/0: the recommender divided by zero
            raise BundleError(f"embeddings have no columns (shape {self.embeddings.shape}); re-run training.fit")
        if self.coords2d.shape[1] != 2:
            raise BundleError(f"coords2d must be (n, 2), got {self.coords2d.shape}")
        if self.probs.size and (self.probs.min() < 0 or self.probs.max() > 1 + 1e-4):
            raise BundleError(f"probs are cluster membership probabilities and must lie in 0..1, got "
                              f"{self.probs.min():g}..{self.probs.max():g}; re-run training.fit")
        if self.probs.shape[1] != self.centroids.shape[0]:
            raise BundleError(f"probs {self.probs.shape} do not match {self.centroids.shape[0]} centroids")
        if n and (self.labels.min() < 0 or self.labels.max() >= self.centroids.shape[0]):
            raise BundleError(f"labels must lie in 0..{self.centroids.shape[0] - 1} (one per centroid), got "
                              f"{self.labels.min()}..{self.labels.max()}; re-run training.fit")

    # -- views ---------------------------------------------------------------------------------------
    @cached_property
    def item_ids(self) -> list[str]:
        """Row order's ids, built once (``_index`` is fixed at construction); callers read it, never mutate it."""
        return list(self._index)

    @property
    def n_items(self) -> int:
        return len(self._index)

    @property
    def n_clusters(self) -> int:
        return int(self.centroids.shape[0])

    def index_of(self, item_id: str) -> int:
        """Row of ``item_id``; ``KeyError`` naming the id when it is not in the catalog."""
        try:
            return self._index[item_id]
        except KeyError:
            raise KeyError(f"item {item_id!r} is not in this catalog ({self.n_items} items)") from None

    def has_item(self, item_id: str) -> bool:
        return item_id in self._index

    @property
    def encoder_dir(self) -> Path | None:
        return self.path / "encoder" if self.path and (self.path / "encoder").is_dir() else None

    @property
    def report_dir(self) -> Path | None:
        return self.path / "report" if self.path and (self.path / "report").is_dir() else None

    # -- disk ----------------------------------------------------------------------------------------
    def save(self, directory: str | Path, *, index: VectorIndex | None = None, items_written: bool = False) -> Path:
        """Write the bundle's own files into ``directory`` and seal it with the manifest.

        Sub-directories written beforehand by their owners (``encoder/``, ``depict/``, ``report/``)
        are validated and hashed too. ``index``: a :class:`VectorIndex` built from ``self.embeddings``, whose IVF
        (if it has one) is stored as ``index.faiss`` so the Space need not train it. ``items_written``:
        ``items.parquet`` is already in ``directory``, written by the caller (the fit streams it, thumbnails
        included, from its shards) and its item ids must be ``self.items``' in order. Returns the directory.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = dict(self.config)
        if index is not None and not (index.vectors is self.embeddings
                                      or np.array_equal(index.vectors, self.embeddings)):
            raise BundleError("the search index passed to Bundle.save was built from other embeddings than this "
                              "bundle's; build it from bundle.embeddings (VectorIndex(bundle.embeddings))")
        if items_written:
            written = pq.read_table(directory / "items.parquet", columns=["item_id"]).column("item_id").to_pylist()
            if written != self.item_ids:
                raise BundleError(f"{directory}/items.parquet holds other items ({len(written)}) than this bundle "
                                  f"({self.n_items}) or in another order; write it from bundle.items")
        # Every refusal comes before the first write: a save refused over an existing bundle leaves it loadable.
        check_subfolders(directory, int(self.embeddings.shape[1]), self.n_clusters)
        present = list_files(directory)
        unknown = [f for f in present if not is_allowed(f)]
        if unknown:
            raise BundleError(f"refusing to seal {directory}: files a bundle may not hold: {unknown}; move them "
                              "elsewhere or save into an empty folder")
        if index is None and INDEX_NAME in present and not isinstance(config.get("index"), dict):
            raise BundleError(f"refusing to seal {directory}: it holds {INDEX_NAME} but the bundle has no record of "
                              "what it is; pass index=VectorIndex(bundle.embeddings) to save, or delete the file")

        if index is not None:
            (directory / INDEX_NAME).unlink(missing_ok=True)  # replaced, or none when the index is flat only
            config.pop("index", None)
            if index.ivf is not None:  # a flat index is a copy of the embeddings: rebuilt in ms, not stored
                index.write(directory / INDEX_NAME)
        if not items_written:
            self.items.to_parquet(directory / "items.parquet", index=False)
        save_file({"embeddings": self.embeddings}, directory / "embeddings.safetensors")
        clusters = {"labels": self.labels, "probs": self.probs, "centroids": self.centroids,
                    "coords2d": self.coords2d}
        if self.latents is not None:
            clusters["latents"] = self.latents
        save_file(clusters, directory / "clusters.safetensors")

        files = list_files(directory)
        share_as_umask(directory, files)
        manifest = {f: sha256_file(directory / f) for f in files if f not in UNHASHED}
        if index is not None and index.ivf is not None:
            # the embeddings file it was built from: what makes a later stale index detectable
            config["index"] = {**index.describe(), "file": INDEX_NAME,
                               "embeddings_sha256": manifest["embeddings.safetensors"]}
        if INDEX_NAME not in files:
            config.pop("index", None)
        config.update(
            format_version=FORMAT_VERSION if INDEX_NAME in files else 1,
            jewelrec_version=jewelrec.__version__,
            n_items=self.n_items,
            embedding_dim=int(self.embeddings.shape[1]),
            n_clusters=self.n_clusters,
            files=manifest,
        )
        write_json(directory / CONFIG_NAME, config)
        self.config, self.path = config, directory
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Bundle:
        """Load and verify a bundle directory (see the module docstring for what is refused)."""
        directory = Path(directory)
        config = read_config(directory)
        verify_files(directory, config)
        try:
            items = pd.read_parquet(directory / "items.parquet")
        except Exception as err:  # pyarrow's errors are many and unhelpful on their own
            raise BundleError(f"{directory}/items.parquet is not a readable parquet table ({type(err).__name__}: "
                              f"{err}); re-create the bundle") from None
        arrays = {}
        for name in ("embeddings", "clusters"):
            try:
                arrays[name] = load_file(directory / f"{name}.safetensors")
            except Exception as err:  # a truncated or foreign file
                raise BundleError(f"{directory}/{name}.safetensors is not a readable safetensors file ({err}); "
                                  "re-create the bundle") from None
        if "embeddings" not in arrays["embeddings"]:
            raise BundleError(f"{directory}/embeddings.safetensors has no 'embeddings' tensor (it holds "
                              f"{sorted(arrays['embeddings'])}); re-create the bundle")
        embeddings, clusters = arrays["embeddings"]["embeddings"], arrays["clusters"]
        missing = {"labels", "probs", "centroids", "coords2d"} - clusters.keys()
        if missing:
            raise BundleError(f"{directory}/clusters.safetensors lacks {sorted(missing)}; re-run training.fit")
        try:  # the table's and arrays' own checks first: the content checks below read item_id
            bundle = cls(items=items, embeddings=embeddings, labels=clusters["labels"], probs=clusters["probs"],
                         centroids=clusters["centroids"], coords2d=clusters["coords2d"],
                         latents=clusters.get("latents"), config=config, path=directory)
        except BundleError as err:
            raise BundleError(f"{directory}: {err}") from None
        problem = thumbnail_problem(bundle.items, f"{directory}/items.parquet")
        if problem:
            raise BundleError(problem)
        recorded = {"n_items": bundle.n_items, "embedding_dim": int(bundle.embeddings.shape[1]),
                    "n_clusters": bundle.n_clusters}
        wrong = {k: (config[k], v) for k, v in recorded.items() if k in config and config[k] != v}
        if wrong:  # arrays swapped in by hand: the encoder (sized by the fit) would no longer fit them
            raise BundleError(f"{directory}/config.json records " + ", ".join(f"{k}={c!r}" for k, (c, _) in wrong.items())
                              + " but its arrays hold " + ", ".join(f"{k}={v}" for k, (_, v) in wrong.items())
                              + "; re-create the bundle with training.fit or training.update")
        check_subfolders(directory, recorded["embedding_dim"], bundle.n_clusters)
        bundle.embeddings = unit_rows(bundle.embeddings, bundle.item_ids, f"{directory}/embeddings.safetensors")
        return bundle


def check_subfolders(directory: Path, embedding_dim: int, n_clusters: int) -> None:
    """Refuse an ``encoder/`` or ``depict/`` that belongs to another fit: an encoder whose config records another
    output width (search and photo uploads would fail on every query), a DEPICT model for other embeddings or
    another number of styles (new items would be assigned to styles this bundle does not have). A bundle saved over
    an older one keeps the older one's folders; a fit writes them fresh."""
    shapes = []
    encoder = _json_object(directory / "encoder" / CONFIG_NAME)
    width = encoder.get("dim", encoder.get("projection_dim"))
    if type(width) is int and width != embedding_dim:
        shapes.append(f"encoder/ makes {width}-d embeddings but the bundle's are {embedding_dim}-d")
    depict = _json_object(directory / "depict" / CONFIG_NAME).get("config")
    if isinstance(depict, dict):
        if type(depict.get("input_dim")) is int and depict["input_dim"] != embedding_dim:
            shapes.append(f"depict/ was trained on {depict['input_dim']}-d embeddings, the bundle's are "
                          f"{embedding_dim}-d")
        if type(depict.get("n_clusters")) is int and depict["n_clusters"] != n_clusters:
            shapes.append(f"depict/ holds {depict['n_clusters']} styles, the bundle {n_clusters}")
    if shapes:
        raise BundleError(f"{directory}: " + "; ".join(shapes) + " — those folders come from another fit (a bundle "
                          "saved over an older one keeps its folders); save into an empty folder, or re-run "
                          "training.fit")


def _json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; {} when there is none (the loaders of those folders name a broken file)."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def all_finite(array: np.ndarray) -> bool:
    """No NaN or infinity in ``array``. A sum is not finite when any element is not; a finite float32 array's sum
    can still overflow, so only then is every element checked (the sum is ~4x cheaper: no (n, d) bool array)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(array.sum())) or bool(np.isfinite(array).all())


def write_json(path: Path, payload: dict[str, Any]) -> None:
    jsonio.write(path, payload, default=_json_default)  # strict: an undefined metric (NaN) is null


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


# config.json's sections that are JSON objects (training.fit writes them so; the card, push and update read them)
OBJECT_SECTIONS = ("clustering", "dataset", "encoder", "files", "fit", "metrics")


def read_config(directory: Path) -> dict[str, Any]:
    if directory.exists() and not directory.is_dir():
        hint = (f"pass its folder, {str(directory.parent)!r}" if directory.name == CONFIG_NAME else
                "pass the folder `python -m training.fit --out DIR` wrote (the one holding config.json)")
        raise BundleError(f"{str(directory)!r} is a file, not a bundle directory; {hint}")
    if not directory.is_dir():
        raise BundleError(f"bundle directory {str(directory)!r} does not exist; run "
                          f"`python -m training.fit --dataset sample --out {directory}` to make one")
    config_path = directory / CONFIG_NAME
    if not config_path.is_file():
        raise BundleError(f"{directory} has no config.json, so it is not a jewelrec bundle")
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BundleError(f"{config_path} is not valid JSON ({err}); re-create the bundle") from None
    if not isinstance(config, dict):
        raise BundleError(f"{config_path} holds a JSON {type(config).__name__}, not the bundle's settings object; "
                          "re-create the bundle with training.fit")
    shapes = {name: type(config[name]).__name__ for name in OBJECT_SECTIONS
              if name in config and not isinstance(config[name], dict)}
    shapes |= {"updates": type(config["updates"]).__name__} if not isinstance(config.get("updates", []), list) else {}
    if shapes:  # a hand edit: the card, push and update read these as they are written
        raise BundleError(f"{config_path}: sections {sorted(shapes)} are {shapes} — each must be a JSON object "
                          "(updates: a list) as training.fit writes it; restore the file or re-create the bundle")
    version = config.get("format_version")
    if type(version) is not int or version not in READ_VERSIONS:  # 1.0 and true are not the integer 1
        raise BundleError(f"{directory} has bundle format version {version!r}, this jewelrec "
                          f"({jewelrec.__version__}) reads versions {', '.join(map(str, READ_VERSIONS))}; re-run "
                          "training.fit with this version or install the jewelrec that wrote it")
    return config


def verify_files(directory: Path, config: dict[str, Any]) -> None:
    """Check the manifest: no unknown files, none missing, every hash equal."""
    manifest: dict[str, str] = config.get("files") or {}
    if not isinstance(manifest, dict):
        raise BundleError(f"{directory}/config.json 'files' must map paths to SHA-256 digests; re-create the bundle")
    for relpath in manifest:
        check_manifest_path(directory, str(relpath))
    present = list_files(directory)
    roots = content_roots(directory)
    links = [f for f in present if (directory / f).is_symlink()
             and not any((directory / f).resolve().is_relative_to(root) for root in roots)]
    if links:
        raise BundleError(f"{directory} holds symbolic links {links} leading outside the bundle; refusing to load it")
    unknown = [f for f in present if not is_allowed(f) or (f not in manifest and f not in UNHASHED)]
    if unknown:
        raise BundleFilesError(f"{directory} holds files this bundle did not write: {unknown}; "
                          "refusing to load it (remove them or re-create the bundle)")
    missing = [f for f in [*REQUIRED, *manifest] if not (directory / f).is_file()]
    if missing:
        raise BundleFilesError(f"{directory} is missing {sorted(set(missing))}; the bundle is incomplete")
    # two files at a time: hashlib lets go of the GIL, so on 2 cores the index and the small files are hashed while
    # the embeddings are (start-up at 1M items: bench/bench_startup.py)
    with ThreadPoolExecutor(max_workers=2) as pool:
        digests = list(pool.map(lambda f: sha256_file(directory / f), manifest))
    changed = [f for f, digest in zip(manifest, digests) if digest != manifest[f]]
    if changed:
        raise BundleChanged(f"{directory}: {changed} differ from the SHA-256 recorded when the bundle was "
                            "saved (corrupt download or edited file); delete it and fetch/re-create the bundle", changed)
