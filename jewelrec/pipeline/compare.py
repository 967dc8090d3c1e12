"""Every clustering method on the same embeddings, side by side: a bundle's, or the sample catalog's.

The measuring and writing live in :mod:`jewelrec.clustering.report`; this module finds the embeddings and
the label column. ``python -m training.compare`` (:mod:`jewelrec.cli.compare`) is the door into it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from jewelrec.clustering import DEFAULT_K_RANGE
from jewelrec.clustering.report import DEFAULT_METHODS, ComparisonReport, compare_methods, write_report
from jewelrec.pipeline.config import CompareConfig

log = logging.getLogger("jewelrec.compare")
# what write_report puts into --out (the depict curves too, when depict runs): all must be bundle files when
# --out lies inside the bundle
REPORT_NAMES = ("comparison.json", "comparison.csv", "comparison.md", "comparison_maps.png",
                "comparison_metrics.png", "comparison_depict_training.png")


def check_compare_out(out_dir: Path, where: str | None = None, bundle_dir: Path | None = None) -> None:
    """Refuse an ``--out`` where the report would overwrite files jewelrec did not write: a file as the folder, or
    a folder holding any report name (``comparison.csv`` …) without a ``comparison.json`` an earlier comparison
    wrote. A folder an earlier comparison (or a fit's report) wrote is written over; other files are left alone.
    ``where``: how the messages name the folder (default ``--out DIR``); ``bundle_dir``: the bundle being compared,
    whose ``report/`` folder is the one place inside a bundle the report may go (it is re-sealed after)."""
    where = where or f"--out {out_dir}"
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{where} is a file; give a folder for the comparison report (it is made)")
    from jewelrec.pipeline.out_dir import check_parent, enclosing_bundle

    check_parent(out_dir, where)

    bundle = enclosing_bundle(out_dir)
    if bundle is not None and bundle_dir is not None and bundle == bundle_dir.resolve():
        if out_dir.resolve() != (bundle / "report").resolve():  # what the re-sealed manifest may list
            raise ValueError(f"--out {out_dir} lies inside the bundle {bundle_dir} but not in its report/ folder; the "
                             "bundle would hold files it may not and no longer load — pass --out "
                             f"{bundle_dir / 'report'} or a folder outside the bundle")
    elif bundle is not None:
        raise ValueError(f"{where} is in the bundle {bundle}, which would then hold files its manifest does not list "
                         "and no longer load; give a folder outside it"
                         + (f" (or {bundle / 'report'} when comparing that bundle)" if bundle_dir is None else ""))
    taken = sorted(name for name in REPORT_NAMES if (out_dir / name).exists())
    if not taken:
        return
    try:
        earlier = json.loads((out_dir / "comparison.json").read_text())
    except (OSError, ValueError):
        earlier = None
    if not (isinstance(earlier, dict) and {"rows", "n_clusters", "k_reason"} <= set(earlier)):
        raise ValueError(f"{where} holds {taken}, which the comparison would overwrite and jewelrec did not "
                         "write; give a new folder (or move those files away) — nothing was written there")


def write_comparison(report: ComparisonReport, out_dir: str | Path) -> list[Path]:
    """:func:`write_report`, then the report files of an earlier comparison in ``out_dir`` that this one did not
    write are removed (``check_compare_out`` has made sure they are jewelrec's): a depict training plot beside a
    report without depict would read as this run's."""
    written = write_report(report, out_dir)
    names = {path.name for path in written}
    for name in REPORT_NAMES:
        if name not in names and (Path(out_dir) / name).is_file():
            (Path(out_dir) / name).unlink()
    return written


def pick_label_column(items: pd.DataFrame, requested: str, recorded: str | None) -> str | None:
    """Resolve ``--label-column`` against the item table's columns."""
    if requested == "none":
        return None
    if requested == "auto":
        for candidate in (recorded, "category"):
            if candidate and candidate in items.columns:
                return candidate
        return None
    usable = [c for c in items.columns if c not in ("item_id", "thumbnail", "image")]
    if requested not in usable:  # the id is no label, and pictures are bytes (read as text they were a decode error)
        what = "is not a label column" if requested in items.columns else "is not in the items"
        raise ValueError(f"label column {requested!r} {what}; columns are {usable} (or pass --label-column none)")
    return requested


def _n_clusters(value: str | None) -> int | str | None:
    return int(value) if value is not None and str(value).isdigit() else value


def compare_bundle(bundle_dir: str | Path, out_dir: str | Path, *, label_column: str | None = "auto",
                   seed: int = 0, n_clusters: int | str | None = None,
                   methods: tuple[str, ...] | list[str] = DEFAULT_METHODS, layout: str = "umap",
                   k_range: tuple[int, int] = DEFAULT_K_RANGE) -> ComparisonReport:
    """Compare methods on a bundle's embeddings and write the report into out_dir.

    When out_dir lies inside the bundle (``BUNDLE/report``), the bundle is re-sealed afterwards so its
    manifest covers the new files and :meth:`Bundle.load` still accepts it.
    """
    from jewelrec.pipeline.out_dir import check_parent, exclusive, staged_bundle
    from jewelrec.serving.bundle import Bundle
    from jewelrec.serving.bundle_files import list_files

    bundle_dir, out_dir = Path(bundle_dir), Path(out_dir)
    inside = out_dir.resolve().is_relative_to(bundle_dir.resolve())
    # into the bundle: held from its load to its swap, so an update meanwhile is refused, not undone
    with exclusive(bundle_dir, "run the comparison") if inside else contextlib.nullcontext():
        bundle = Bundle.load(bundle_dir)
        check_compare_out(out_dir, bundle_dir=bundle_dir)  # inside the bundle: only its report/ folder
        if inside and any((bundle_dir / f).is_symlink() for f in list_files(bundle_dir)):
            raise ValueError(f"{bundle_dir} is a Hugging Face cache snapshot (its files are links into blobs other "
                             "revisions share); write the comparison outside it (--out DIR) — nothing was written")
        if inside:  # its re-sealed copy is staged beside it, then swapped in
            check_parent(bundle_dir, f"--out {out_dir} re-seals {bundle_dir}, which")
        recorded = (bundle.config.get("dataset") or {}).get("label_column")
        column = pick_label_column(bundle.items, label_column or "none", recorded)
        truth = bundle.items[column].to_numpy() if column else None
        report = compare_methods(bundle.embeddings, methods=tuple(methods), n_clusters=n_clusters,
                                 true_labels=truth, label_column=column, seed=seed, k_range=k_range, layout=layout)
        if not inside:
            written = write_comparison(report, out_dir)
        else:  # a copy takes the report and the new seal, then replaces the bundle whole: a kill leaves the old one
            with staged_bundle(bundle_dir) as staging:
                shutil.copytree(bundle_dir, staging, dirs_exist_ok=True)
                written = write_comparison(report, staging / out_dir.resolve().relative_to(bundle_dir.resolve()))
                bundle.save(staging)  # re-seal: the manifest must list the comparison files
    log.info("wrote %s", ", ".join(p.name for p in written))
    return report


def sample_embeddings(config: CompareConfig) -> tuple[np.ndarray, pd.DataFrame, str]:
    """Encode the sample catalog the way ``training.fit`` does; returns (X (n, d), items, encoder note)."""
    from jewelrec.catalog import load_catalog
    from jewelrec.pipeline.config import FitConfig
    from jewelrec.pipeline.fit import choose_encoder

    fit_config = FitConfig(dataset="sample", sample_items=config.sample_items, seed=config.seed,
                           encoder=config.encoder, cnn_epochs=config.cnn_epochs, device=config.device)
    catalog = load_catalog("sample", sample_items=config.sample_items, seed=config.seed)
    encoder, reason = choose_encoder(fit_config, catalog, catalog.label_column("category"))
    return encoder.encode_images(catalog.images), catalog.metadata(), reason


def run(config: CompareConfig) -> ComparisonReport:
    methods = tuple(config.methods.split(","))
    k_range = (config.k_min, config.k_max)
    if config.embeddings_from != "sample":
        return compare_bundle(config.embeddings_from, config.out, label_column=config.label_column,
                              seed=config.seed, n_clusters=_n_clusters(config.clusters), methods=methods,
                              layout=config.layout, k_range=k_range)
    check_compare_out(Path(config.out))  # before the sample is encoded
    X, items, reason = sample_embeddings(config)
    log.info("sample catalog encoded with %s", reason)
    column = pick_label_column(items, config.label_column, "category")
    report = compare_methods(X, methods=methods, n_clusters=_n_clusters(config.clusters),
                             true_labels=items[column].to_numpy() if column else None, label_column=column,
                             seed=config.seed, k_range=k_range, layout=config.layout)
    write_comparison(report, config.out)
    return report
