"""Catalog updates without a refit: new items into a bundle's stored styles, listed items out.

``run_update(UpdateConfig(...))`` is what ``python -m training.update`` (★) runs:

1. load and verify the bundle; every ``--remove`` id must be in it;
2. load the new items with the same validation as a fit (bad rows skipped and counted); ids the bundle already
   holds are skipped as ``already_in_bundle``, unless they are also removed (then the new row replaces the old);
3. embed them with the bundle's own encoder (``encoder/``), style them with its stored clustering and place them on
   the map among their nearest neighbours (:class:`jewelrec.clustering.assign.Assigner`); every kept item keeps
   its row's embedding, style, probabilities and map position; a style whose items no longer share what its name
   said is renamed by what they do share (``renamed`` in the update record), as the Space names it;
4. fill the bundle's trained search index with the new catalog (FAISS ``add`` into the same trained lists; no
   retraining), or train one if the catalog has just outgrown the flat scan;
5. measure drift and say when a refit is due (``config["updates"][-1]``, printed and logged): the share of the
   fit's catalog added or removed since the fit (``max_churn``), the share of new items unlike anything already in
   the catalog (``max_far_share``; "unlike" = a nearest-item cosine below what 99 % of catalog items have to their
   own nearest neighbour), and styles a removal has emptied;
6. write an ordinary, sealed bundle to ``--out`` (staging + swap, as a fit does), optionally pushed to the Hub as
   the next revision in one commit.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from jewelrec import plotting
from jewelrec.catalog import load_catalog
from jewelrec.catalog.loading import single_class_folder
from jewelrec.clustering.assign import Assigner
from jewelrec.pipeline.config import UpdateConfig
from jewelrec.pipeline.fit import check_out_dir, clean_stale_staging, stage, thumbnail
from jewelrec.pipeline.out_dir import exclusive, staged_bundle
from jewelrec.serving.bundle import INDEX_NAME, Bundle, BundleError, read_config
from jewelrec.serving.index import FLAT_LIMIT, VectorIndex
from jewelrec.serving.recommender import cluster_names

log = logging.getLogger("jewelrec.update")
FAR_QUANTILE = 0.01  # a new item is "far" when its nearest-item cosine is below this quantile of the catalog's own
FAR_SAMPLE = 2_000  # catalog items the nearest-neighbour baseline is measured on
MIN_FAR = 5  # fewer far items than this never call for a refit on their own (one odd photo is not drift)
COPIED = ("encoder", "depict", "report")  # sub-folders carried over unchanged (the report's two maps are redrawn)

__all__ = ["UpdateConfig", "run_update"]


def run_update(config: UpdateConfig) -> dict[str, Any]:
    """The whole update; returns the summary :func:`jewelrec.cli.update.print_summary` prints. When there is
    nothing to add or remove (every new row is already in the bundle, or skipped) nothing is written (with ``push``
    the bundle is pushed as it stands: a retry after a failed push publishes it) and
    the summary's ``entry`` is None, its ``unchanged`` the counts and the last update's refit verdict. ``--out``
    is held for the whole run (:func:`~jewelrec.pipeline.out_dir.exclusive`): from the bundle's load to its swap."""
    source, out = Path(config.bundle), Path(os.path.abspath(config.out))  # `--out .`: see training.fit
    if config.dataset is None and not config.remove:
        raise ValueError("nothing to update: pass --dataset SOURCE with the new items and/or --remove ID ...")
    if config.push and not config.repo_id:
        raise ValueError("--push needs --repo-id user/name (the Hub model repo to publish the update to)")
    if out.resolve() != source.resolve() and out.resolve().is_relative_to(source.resolve()):
        raise ValueError(f"--out {out} lies inside the bundle {source}, which would then hold files it did not write "
                         f"and no longer load; pick an --out beside it (e.g. {source.parent / (source.name + '-v2')}), "
                         f"or --out {source} to update it in place — nothing was written")
    read_config(source)  # a bundle that is none is named as such before --out is judged (its full check: held)
    check_out_dir(out, config.dataset)  # before the lock, which goes beside --out
    with exclusive(out, "run the update"):
        return _run_update(config, source, out)


def _run_update(config: UpdateConfig, source: Path, out: Path) -> dict[str, Any]:
    timings: dict[str, float] = {}
    with stage(timings, "load bundle", log):
        bundle = Bundle.load(source)
    clean_stale_staging(out)
    if config.push:
        from jewelrec.serving.hub import check_branch, check_write_access

        check_branch(config.branch)
        check_write_access(config.repo_id)

    removed = list(dict.fromkeys(config.remove or []))
    unknown = [item for item in removed if not bundle.has_item(item)]
    if unknown:
        raise ValueError(f"--remove: {len(unknown)} of the ids are not in the bundle ({unknown[:5]}); check them "
                         f"against {source}/items.parquet — nothing was written")
    gone = np.zeros(bundle.n_items, bool)
    gone[[bundle.index_of(item) for item in removed]] = True
    keep = np.flatnonzero(~gone)
    if len(keep) < 2:
        raise ValueError(f"--remove would leave {len(keep)} of {bundle.n_items} items; a catalog that small needs "
                         "a new fit, not an update")

    with stage(timings, "load new items", log):
        new_meta, images, skipped, rows_read = _new_items(config, bundle, set(removed))
    if not images and not removed:  # every row already in the bundle (or skipped): a new revision would be a copy
        log.info("nothing to add or remove: %s is left as it is and nothing is written", source)
        last = (bundle.config.get("updates") or [{}])[-1]  # nothing changed since: its verdict still stands
        push_url = None
        # the last run's push may have failed after its bundle was written: unless the Hub holds this bundle
        # already (a quiet night: no identical revision), publish it as it stands
        if config.push:
            from jewelrec.serving.hub import holds_bundle, push

            with stage(timings, "push", log):
                if not holds_bundle(source, config.repo_id, branch=config.branch):
                    push_url = push(source, config.repo_id, private=config.private, branch=config.branch,
                                    commit_message=f"jewelrec update: nothing new; the bundle as it stands "
                                                   f"({bundle.n_items} items), which the Hub did not hold")
        return {"bundle": source, "out": out, "entry": None, "push_url": push_url, "timings": timings,
                "unchanged": {"rows_read": rows_read, "skipped": skipped, "items": bundle.n_items,
                              "refit_due": bool(last.get("refit_due")), "reasons": list(last.get("reasons") or [])}}
    embeddings = np.zeros((0, bundle.embeddings.shape[1]), np.float32)
    if images:
        if bundle.encoder_dir is None:
            raise BundleError(f"{source} has no encoder/ folder to embed new items with; re-run training.fit")
        with stage(timings, "encode", log):
            from jewelrec.encoders import load_encoder

            try:
                encoder = load_encoder(bundle.encoder_dir, device=config.device)
            except ValueError as err:  # it names the encoder and the fix (a Hub CLIP neither cached nor reachable …)
                raise ValueError(f"{err} — needed to embed the new items; nothing was written") from None
            embeddings = np.asarray(encoder.encode_images(images), np.float32)
        if embeddings.shape[1] != bundle.embeddings.shape[1]:
            raise BundleError(f"the bundle's encoder gives {embeddings.shape[1]}-d embeddings but the bundle holds "
                              f"{bundle.embeddings.shape[1]}-d ones; its encoder/ does not belong to it — refit")
    with stage(timings, "assign styles", log):
        assigner = Assigner.from_bundle(bundle, rows=keep, seed=config.seed)
        assigned = assigner.assign(embeddings)
    drift = measure_drift(bundle, assigner, assigned.nearest, keep, n_added=len(images), n_removed=len(removed),
                          config=config)
    for reason in drift["reasons"]:
        log.warning("refit due: %s", reason)

    items = _join_items(bundle.items.iloc[keep], new_meta, [thumbnail(b) for b in images])
    latents = None
    if bundle.latents is not None:
        latents = np.concatenate([bundle.latents[keep], assigned.space]) if assigned.space is not None else None
        if latents is None:  # only the kmeans rule gives no space, and kmeans bundles store none
            raise BundleError(f"{source} stores a clustering space its method does not use; refit it")
    updated = Bundle(items=items, embeddings=np.concatenate([bundle.embeddings[keep], embeddings]),
                     labels=np.concatenate([bundle.labels[keep], assigned.labels]),
                     probs=np.concatenate([bundle.probs[keep], assigned.probs]), centroids=bundle.centroids,
                     coords2d=np.concatenate([bundle.coords2d[keep], assigned.coords2d]), latents=latents)
    with stage(timings, "search index", log):
        index = updated_index(bundle, keep, updated.embeddings)

    stored = (bundle.config.get("clustering") or {}).get("cluster_names") or []  # the names the styles had
    before = [str(stored[c]) if c < len(stored) else f"style {c}" for c in range(bundle.n_clusters)]
    # a style's name says what its items share, so it follows them (the Space names them so from the items; a kept
    # "gold ring" over rose-gold rings told the card and the summary something the Space and the items did not)
    names = cluster_names(updated)
    entry = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset": None if config.dataset is None else {
            "source": config.dataset, "revision": config.revision, "split": config.split, "rows_read": rows_read,
            "skipped": skipped},
        "added": len(images), "removed": len(removed),
        "replaced": int(new_meta["item_id"].isin(removed).sum()),
        "items_before": bundle.n_items, "items_after": updated.n_items,
        "from_embeddings_sha256": (bundle.config.get("files") or {}).get("embeddings.safetensors"),
        # by the styles' names ("ring"), as the card and the summary show them, not their indices
        "styles_of_new_items": dict(Counter(names[c] for c in np.sort(assigned.labels))),
        "renamed": {old: new for old, new in zip(before, names, strict=True) if old != new},  # what the items now share
        "drift": {k: v for k, v in drift.items() if k != "reasons"},
        "refit_due": bool(drift["reasons"]), "reasons": drift["reasons"], "timings_s": timings,
    }
    updated.config = _carried_config(bundle.config) | {"updates": [*bundle.config.get("updates", []), entry]}
    updated.config["clustering"] = {**(bundle.config.get("clustering") or {}), "cluster_names": names}

    with staged_bundle(out) as staging:  # moved into place only when complete; kept (and named) if the move fails
        with stage(timings, "write bundle", log):
            for name in COPIED:
                if (source / name).is_dir():
                    shutil.copytree(source / name, staging / name)
            if (staging / "report").is_dir():  # the fit's maps, redrawn with the new items on them
                plotting.plot_style_map(updated.coords2d, updated.labels, names, staging / "report" / "style_map.png")
                plotting.plot_cluster_sizes(updated.labels, names, staging / "report" / "cluster_sizes.png")
            updated.save(staging, index=index)
            from jewelrec.serving.card import write_model_card

            write_model_card(staging, repo_id=config.repo_id)

    summary = {"bundle": source, "out": out, "entry": entry, "push_url": None, "timings": timings}
    if config.push:
        from jewelrec.serving.hub import push

        with stage(timings, "push", log):
            summary["push_url"] = push(out, config.repo_id, private=config.private, branch=config.branch,
                                       commit_message=f"jewelrec update: +{entry['added']} / -{entry['removed']} "
                                                      f"items ({entry['items_after']} in all)")
    return summary


def _new_items(config: UpdateConfig, bundle: Bundle, removed: set[str]
               ) -> tuple[pd.DataFrame, list[bytes], dict[str, int], int]:
    """(metadata of the items to add, their image bytes, skipped counts by reason, rows read)."""
    if config.dataset is None:
        return pd.DataFrame({"item_id": pd.Series([], dtype=str)}), [], {}, 0
    # the columns the fit was told to use, unless told otherwise: without them a catalog fitted with --id-column
    # was read with hashed ids, and every piece came in again as new
    recorded = (bundle.config.get("fit") or {}).get("args") or {}
    columns = {name: getattr(config, name) or (recorded.get(name) if isinstance(recorded.get(name), str) else None)
               for name in ("image_column", "id_column")}
    for name, value in columns.items():
        if value and not getattr(config, name):
            log.info("reading the new items' %s from column %r, as the fit did (--%s to use another)",
                     name.replace("_", " "), value, name.replace("_", "-"))
    catalog = load_catalog(config.dataset, revision=config.revision, split=config.split,
                           image_column=columns["image_column"], id_column=columns["id_column"], limit=config.limit,
                           sample_items=config.sample_items, seed=config.seed,
                           allow_external_paths=config.allow_external_paths)
    skipped = dict(catalog.skipped)
    meta = catalog.metadata()
    folder = Path(str(config.dataset)).expanduser()
    if "label" in bundle.items.columns and "label" not in meta.columns and folder.is_dir() and \
            (label := single_class_folder(folder.resolve())) is not None:
        # the fit's pieces are labelled by their class folders; a night's new/ring/ is one class, which `datasets`
        # reads without labels (from two up): the new rings came in with none
        log.info("the new items all sit in the class folder %r: labelled %r, as the fit's class folders were",
                 label, label)
        meta["label"] = label
    ids = meta["item_id"].astype(str)
    new = (~ids.map(bundle.has_item) | ids.isin(removed)).to_numpy()
    if (~new).any():
        skipped["already_in_bundle"] = int((~new).sum())
        log.info("%d items are already in the bundle and are kept as they are (pass --remove ID to replace one)",
                 int((~new).sum()))
    rows = np.flatnonzero(new)
    images = catalog.dataset.select(rows)["image"] if len(rows) else []
    return meta.iloc[rows].reset_index(drop=True), list(images), skipped, catalog.n_rows_read


def _join_items(kept: pd.DataFrame, new: pd.DataFrame, thumbnails: list[bytes]) -> pd.DataFrame:
    """The kept rows then the new ones; a column one side lacks is empty there. A column one parquet type cannot
    hold — numbers or timestamps or lists on one side, text on the other — becomes text on both (nothing is lost)."""
    new = new.copy()
    new["thumbnail"] = thumbnails
    kept = kept.reset_index(drop=True)
    if not len(new):
        return kept
    joined = pd.concat([kept, new], ignore_index=True)
    for column in joined.columns.drop("thumbnail", errors="ignore"):
        try:  # one parquet type must hold both sides: timestamps and text, lists and text, structs of two shapes
            pa.array(joined[column], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            log.info("column %r holds values of different types on the two sides of the update; stored as text",
                     column)
            joined[column] = _as_text(joined[column])
    return joined


def _as_text(column: pd.Series) -> pd.Series:
    """Each value as its text (lists and mappings as written), missing ones as None."""
    return column.map(lambda v: None if v is None or (np.ndim(v) == 0 and pd.isna(v)) else str(
        v.tolist() if isinstance(v, np.ndarray) else v))


def measure_drift(bundle: Bundle, assigner: Assigner, nearest: np.ndarray, keep: np.ndarray, *, n_added: int,
                  n_removed: int, config: UpdateConfig) -> dict[str, Any]:
    """How far the catalog has moved from the one the styles were fitted on; ``reasons`` lists why a refit is due
    (empty when none is)."""
    history = bundle.config.get("updates", [])
    fit_items = int((bundle.config.get("dataset") or {}).get("items") or bundle.n_items)
    added = n_added + sum(int(u.get("added", 0)) for u in history)
    removed = n_removed + sum(int(u.get("removed", 0)) for u in history)
    churn = (added + removed) / max(fit_items, 1)
    # what "looks like something in the catalog" means here: the cosine that 99 % of catalog items reach to their
    # own nearest other item
    rng = np.random.default_rng(config.seed)
    probe = rng.choice(len(keep), size=min(len(keep), FAR_SAMPLE), replace=False)
    scores, _ = assigner.index.search(bundle.embeddings[keep[probe]], 2)
    threshold = float(np.quantile(scores[:, 1], FAR_QUANTILE))  # column 0 is the item itself
    n_far = int((nearest < threshold).sum())
    far_share = n_far / max(len(nearest), 1)
    sizes = np.bincount(bundle.labels[keep], minlength=bundle.n_clusters)
    names = (bundle.config.get("clustering") or {}).get("cluster_names") or []
    emptied = [names[c] if c < len(names) else f"style {c}" for c in np.flatnonzero(sizes == 0)]
    reasons = []
    if churn > config.max_churn:
        reasons.append(f"{added} items added and {removed} removed since the fit, {churn:.0%} of its {fit_items} "
                       f"(over --max-churn {config.max_churn:.0%}): styles fitted on the old catalog may no longer "
                       "describe it")
    if far_share > config.max_far_share and n_far >= MIN_FAR:
        reasons.append(f"{n_far} of {len(nearest)} new items ({far_share:.0%}, over --max-far-share "
                       f"{config.max_far_share:.0%}) look like nothing in the catalog (nearest cosine below "
                       f"{threshold:.3f}); they were put in the nearest style, which may not be theirs")
    if emptied:
        reasons.append(f"the removals emptied {len(emptied)} style(s): {', '.join(emptied)}")
    return {"fit_items": fit_items, "added_since_fit": added, "removed_since_fit": removed, "churn": round(churn, 4),
            "far_items": n_far, "far_share": round(far_share, 4), "far_threshold": round(threshold, 4),
            "emptied_styles": emptied, "reasons": reasons}


def updated_index(bundle: Bundle, keep: np.ndarray, embeddings: np.ndarray) -> VectorIndex | None:
    """The search index for the updated ``embeddings`` (kept rows first, then the new ones).

    The bundle's stored IVF keeps its trained list centres and quantiser: only added items are encoded (FAISS
    ``add``) when nothing was removed, and with removals its lists are emptied and refilled (``reset`` + ``add``,
    still no training). A bundle without one trains one only once the catalog outgrows the flat scan."""
    import faiss

    from jewelrec.serving.stored_index import load_search_index

    if (bundle.path / INDEX_NAME).is_file() if bundle.path else False:
        stored = load_search_index(bundle, exact_limit=0)
        if stored.ivf is not None and stored.origin == "stored":
            ivf = stored.ivf
            if len(keep) == bundle.n_items:  # nothing removed: rows 0..n-1 are unchanged, append the rest
                ivf.add(embeddings[bundle.n_items:])
            else:
                ivf = faiss.clone_index(ivf)
                ivf.reset()
                ivf.add(embeddings)
            return VectorIndex(embeddings, exact_limit=0, ivf=ivf, nprobe=stored.nprobe, seed=stored.seed)
    if len(embeddings) > FLAT_LIMIT:
        log.info("the catalog has outgrown the flat scan (%d items): training its search index", len(embeddings))
        return VectorIndex(embeddings, exact_limit=0)
    return None


def _carried_config(config: dict[str, Any]) -> dict[str, Any]:
    """The fit's record (dataset, encoder, clustering, metrics, fit) kept as it was; what :meth:`Bundle.save` writes
    itself (manifest, counts, index record, versions) is left for it to write anew."""
    dropped = {"files", "index", "format_version", "jewelrec_version", "n_items", "embedding_dim", "n_clusters"}
    return {k: v for k, v in config.items() if k not in dropped}
