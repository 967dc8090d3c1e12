"""The side-by-side clustering report and the ``training.compare`` CLI, on blobs with known labels."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

from jewelrec.clustering.report import COLUMNS, align_labels, compare_methods, write_report
from jewelrec.pipeline.compare import pick_label_column
from training import compare

FAST_METHODS = ("kmeans", "depict")  # umap-kmeans compiles numba kernels (~20 s); only the CLI test runs it


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_blobs(n_samples=240, n_features=16, centers=4, cluster_std=1.0, random_state=3)
    names = np.array(["ring", "necklace", "earrings", "brooch"])[y]
    return X.astype(np.float32), names


@pytest.fixture(scope="module")
def report(blobs):
    X, names = blobs
    return compare_methods(X, methods=FAST_METHODS, true_labels=names, label_column="category", seed=0,
                           layout="pca", progress=False)


def test_rows_hold_every_metric_for_every_method(report) -> None:
    assert [r["method"] for r in report.rows] == list(FAST_METHODS)
    assert report.n_clusters == 4 and report.k_reason == "number of distinct labels"
    for row in report.rows:
        assert set(row) == set(COLUMNS)
        assert row["n_clusters"] == 4
        assert row["nmi"] == pytest.approx(1.0) and row["accuracy"] == pytest.approx(1.0)
        assert row["ari"] == pytest.approx(1.0) and row["largest_cluster_frac"] == pytest.approx(0.25)
        assert -1 <= row["silhouette"] <= 1 and row["fit_seconds"] > 0
    kmeans, depict = report.rows
    assert kmeans["silhouette"] == pytest.approx(kmeans["silhouette_embedding"])  # kmeans' space is X
    assert depict["silhouette_embedding"] == pytest.approx(kmeans["silhouette_embedding"])  # same partition
    assert report.depict["stop_reason"] in {"labels_stable", "loss_plateau", "max_epochs"}
    assert report.coords2d.shape == (240, 2)


def test_scores_against_labels_use_hungarian_matching(blobs) -> None:
    X, names = blobs
    wrong = names.copy()
    wrong[:60] = "ring"  # a quarter of the items relabelled: accuracy must drop below 1
    result = compare_methods(X, methods=("kmeans",), n_clusters=4, true_labels=wrong, seed=0, layout="pca",
                             progress=False)
    row = result.rows[0]
    expected = 1 - float(np.sum(names[:60] != "ring")) / len(names)  # moved items that were not rings are now misfits
    assert row["accuracy"] == pytest.approx(expected)
    assert row["nmi"] < 1.0


def test_missing_labels_are_left_out_of_label_metrics(blobs) -> None:
    X, names = blobs
    partial = names.astype(object)
    partial[::2] = None
    result = compare_methods(X, methods=("kmeans",), true_labels=partial, seed=0, layout="pca", progress=False)
    assert result.n_labelled == 120 and result.rows[0]["nmi"] == pytest.approx(1.0)


def test_without_labels_k_comes_from_the_silhouette_sweep(blobs) -> None:
    X, _ = blobs
    result = compare_methods(X, methods=("kmeans",), seed=0, layout="pca", k_range=(2, 6), progress=False)
    assert result.n_clusters == 4 and "silhouette" in result.k_reason
    assert result.rows[0]["nmi"] is None and "nmi" not in result.to_markdown()


def test_write_report_files(report, tmp_path) -> None:
    written = write_report(report, tmp_path)
    names = {p.name for p in written}
    assert names == {"comparison.json", "comparison.csv", "comparison.md", "comparison_maps.png",
                     "comparison_metrics.png", "comparison_depict_training.png"}
    doc = json.loads((tmp_path / "comparison.json").read_text())
    assert [r["method"] for r in doc["rows"]] == list(FAST_METHODS) and doc["n_clusters"] == 4
    assert doc["depict"]["history"]["recon"] and doc["label_column"] == "category"
    table = pd.read_csv(tmp_path / "comparison.csv")
    assert list(table.columns) == list(COLUMNS) and table["nmi"].tolist() == pytest.approx([1.0, 1.0])
    markdown = (tmp_path / "comparison.md").read_text()
    assert "| kmeans | 4 |" in markdown and "| depict | 4 |" in markdown
    for png in ("comparison_maps.png", "comparison_depict_training.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_align_labels_matches_reference_ids() -> None:
    reference = np.array([0, 0, 1, 1, 2, 2])
    assert align_labels(np.array([5, 5, 3, 3, 9, 9]), reference).tolist() == [0, 0, 1, 1, 2, 2]
    # four clusters against three groups: the extra one gets a fresh id (3)
    reference = np.array([0, 0, 1, 1, 2, 2, 2])
    assert align_labels(np.array([1, 1, 0, 0, 2, 2, 7]), reference).tolist() == [0, 0, 1, 1, 2, 2, 3]


def test_bad_requests_raise(blobs) -> None:
    X, names = blobs
    with pytest.raises(ValueError, match="unknown clustering methods"):
        compare_methods(X, methods=("dbscan",))
    with pytest.raises(ValueError, match=r"\['kmeans'\] are named more than once"):  # not two rows named kmeans
        compare_methods(X, methods=("kmeans", "umap-kmeans", "kmeans"))
    with pytest.raises(ValueError, match="one label per item"):
        compare_methods(X, methods=("kmeans",), true_labels=names[:10])
    with pytest.raises(ValueError, match="needs a label column"):
        compare_methods(X, methods=("kmeans",), n_clusters="labels")
    with pytest.raises(ValueError, match="smaller --clusters"):
        compare_methods(X[:5], methods=("kmeans",), n_clusters=5)
    with pytest.raises(ValueError, match="n_clusters must be a whole number"):
        compare_methods(X, methods=("kmeans",), n_clusters=2.5)  # not truncated to 2
    with pytest.raises(ValueError, match="seed must be an integer"):
        compare_methods(X, methods=("kmeans",), n_clusters=3, seed=None)


def test_label_column_resolution() -> None:
    items = pd.DataFrame({"item_id": ["a"], "category": ["ring"], "metal": ["gold"]})
    assert pick_label_column(items, "auto", "metal") == "metal"
    assert pick_label_column(items, "auto", None) == "category"
    assert pick_label_column(items, "none", "metal") is None
    with pytest.raises(ValueError, match=r"columns are \['category', 'metal'\]"):
        pick_label_column(items, "style", None)
    pictures = items.assign(thumbnail=[b"\xff\xd8\xff"])  # bytes: read as labels they were a utf-8 decode error
    for column in ("thumbnail", "item_id"):
        with pytest.raises(ValueError, match=rf"'{column}' is not a label column; columns are \['category', 'metal'\]"):
            pick_label_column(pictures, column, None)


def test_cli_on_a_bundle_reseals_it(blobs, tmp_path, monkeypatch, capsys) -> None:
    from jewelrec.serving.bundle import Bundle

    monkeypatch.setenv("JEWELREC_HOME", str(tmp_path / "home"))
    X, names = blobs
    items = pd.DataFrame({"item_id": [f"item-{i}" for i in range(len(X))], "category": names})
    k = 4
    Bundle(items=items, embeddings=X, labels=np.zeros(len(X), np.int64), probs=np.full((len(X), k), 1 / k),
           centroids=np.zeros((k, X.shape[1])), coords2d=np.zeros((len(X), 2)),
           config={"dataset": {"label_column": "category"}}).save(tmp_path / "bundle")
    out = tmp_path / "bundle" / "report"
    code = compare.main(["--embeddings-from", str(tmp_path / "bundle"), "--out", str(out)])
    assert code == 0
    doc = json.loads((out / "comparison.json").read_text())
    assert [r["method"] for r in doc["rows"]] == ["kmeans", "umap-kmeans", "depict"]
    assert all(r["nmi"] == pytest.approx(1.0) for r in doc["rows"])
    assert "best by nmi: kmeans, umap-kmeans, depict" in capsys.readouterr().out  # a three-way tie
    reloaded = Bundle.load(tmp_path / "bundle")  # the manifest now covers report/comparison.*
    assert "report/comparison.json" in reloaded.config["files"]


def test_cli_errors_name_the_fix(tmp_path, capsys) -> None:
    assert compare.main(["--embeddings-from", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "training.fit" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        compare.main(["--methods", "kmeans,dbscan"])
    for flags, message in ((["--methods", "kmeans,dbscan"], "unknown methods ['dbscan']"),
                           (["--methods", ","], "names none; give a comma-separated list"),
                           (["--clusters", "-3"], "argument --clusters: must be 'auto' or a whole number >= 2"),
                           (["--clusters", "1"], "one style is no clustering"),
                           (["--k-min", "10", "--k-max", "3"], "--k-min 10 is above --k-max 3"),
                           (["--k-min", "0"], "argument --k-min: must be a whole number >= 2, got 0"),
                           (["--seed", "-1"], "argument --seed: must be a whole number from 0 to 4294967295")):
        with pytest.raises(SystemExit) as stopped:  # argparse's usage error, status 2 as in training.fit
            compare.parse_config(flags)
        assert stopped.value.code == 2 and message in capsys.readouterr().err, flags
    assert compare.parse_config(["--clusters", "labels"]).clusters == "labels"
    assert compare.parse_config(["--clusters", "auto"]).clusters == "auto"
    assert compare.parse_config(["--clusters", "5"]).clusters == "5"
    # a list as people type it: spaces after commas, a trailing comma, a method named twice (fitted once)
    assert compare.parse_config(["--methods", "kmeans, depict,kmeans,"]).methods == "kmeans,depict"


def test_a_rerun_into_the_same_folder_removes_the_report_files_it_did_not_write(blobs, tmp_path, monkeypatch) -> None:
    from jewelrec.serving.bundle import Bundle

    monkeypatch.setenv("JEWELREC_HOME", str(tmp_path / "home"))
    X, names = blobs
    items = pd.DataFrame({"item_id": [f"item-{i}" for i in range(len(X))], "category": names})
    k = 4
    Bundle(items=items, embeddings=X, labels=np.zeros(len(X), np.int64), probs=np.full((len(X), k), 1 / k),
           centroids=np.zeros((k, X.shape[1])), coords2d=np.zeros((len(X), 2)), config={}).save(tmp_path / "bundle")
    out = tmp_path / "cmp"
    args = ["--embeddings-from", str(tmp_path / "bundle"), "--out", str(out), "--layout", "pca", "--clusters", "4"]
    assert compare.main([*args, "--methods", "kmeans,depict"]) == 0
    assert (out / "comparison_depict_training.png").is_file()
    (out / "notes.txt").write_text("mine")
    assert compare.main([*args, "--methods", "kmeans"]) == 0
    # the first run's depict curves beside a report without depict read as this run's
    assert not (out / "comparison_depict_training.png").exists()
    assert (out / "notes.txt").read_text() == "mine" and (out / "comparison_maps.png").is_file()
