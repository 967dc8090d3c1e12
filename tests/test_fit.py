"""training.fit end to end, on small samples in the test's own temp dir."""

import json
from pathlib import Path

import pytest

from jewelrec import Bundle, Recommender
from training.fit import main, parse_config


def test_sample_fit_writes_a_complete_bundle(sample_bundle_dir):
    config = json.loads((sample_bundle_dir / "config.json").read_text())
    assert config["dataset"]["source"] == "sample" and config["dataset"]["items"] == 60
    assert config["encoder"]["type"] == "cnn" and "CNN" in config["encoder"]["reason"]
    assert config["clustering"]["method"] == "kmeans" and config["n_clusters"] == 6
    assert {"silhouette", "nmi", "ari"} <= set(config["metrics"])
    assert set(config["fit"]["timings_s"]) >= {"load catalog", "encode", "cluster"}
    card = (sample_bundle_dir / "README.md").read_text()
    assert card.startswith("---\n") and "library_name: jewelrec" in card
    rec = Recommender(Bundle.load(sample_bundle_dir))
    first = rec.bundle.item_ids[0]
    assert len(rec.recommend({first: 5}, k=5)) == 5


def test_clip_fit_with_auto_k_and_summary(tiny_clip_dir, tmp_path, capsys):
    out = tmp_path / "clip-bundle"
    code = main(["--dataset", "sample", "--sample-items", "40", "--encoder", "auto", "--model", str(tiny_clip_dir),
                 "--method", "umap-kmeans", "--clusters", "auto", "--k-min", "3", "--k-max", "5", "--out", str(out)])
    assert code == 0
    summary = capsys.readouterr().out
    for words in ("40 items from 40 rows", "CLIP", "embedding dim 16", "umap-kmeans", "highest silhouette",
                  "elbow at k=", "NMI", "load catalog", str(out)):
        assert words in summary
    bundle = Bundle.load(out)
    assert bundle.embeddings.shape == (40, 16) and 3 <= bundle.n_clusters <= 5
    assert (out / "report" / "k_selection.png").is_file() and (out / "report" / "style_map.png").is_file()
    assert not (out / "encoder" / "model.safetensors").exists()  # CLIP weights are referenced, not copied


def test_offline_default_is_a_catalog_clip_with_working_search(tmp_path, capsys):
    """No pretrained CLIP reachable (offline): --encoder auto trains the catalog CLIP, the bundle carries it, and
    text search and the Space's Search tab work on it."""
    from jewelrec.encoders import load_encoder
    from jewelrec.space import SpaceService
    from jewelrec.space.ratings import RatingStore

    out = tmp_path / "bundle"
    code = main(["--dataset", "sample", "--sample-items", "48", "--model", str(tmp_path / "no-such-clip"),
                 "--clip-seconds", "20", "--method", "kmeans", "--clusters", "4", "--out", str(out)])
    assert code == 0
    assert "catalog CLIP trained on 48 captioned items" in capsys.readouterr().out
    bundle = Bundle.load(out)
    assert bundle.config["encoder"]["type"] == "catalog-clip"
    assert (out / "encoder" / "vision" / "model.safetensors").is_file() and (out / "report" / "clip_training.png").is_file()
    encoder = load_encoder(bundle.encoder_dir)
    hits = Recommender(bundle, encoder=encoder).search("gold ring", k=5)
    assert len(hits) == 5 and all(-1.0 <= score <= 1.0 for _, score in hits)
    service = SpaceService.start(bundle, {"notice": "test"}, RatingStore(tmp_path / "ratings.db"))
    cards, table = service.search("silver necklace", k=4)
    assert service.has_text and len(table) == 4 and cards.count("class='jr-card'") == 4


def test_failed_fit_keeps_the_existing_bundle(sample_bundle_dir, tmp_path, capsys):
    import shutil

    out = tmp_path / "bundle"
    shutil.copytree(sample_bundle_dir, out)
    before = (out / "config.json").read_bytes()
    assert main(["--dataset", str(tmp_path / "missing.parquet"), "--out", str(out)]) == 2
    assert "no such file" in capsys.readouterr().err
    assert (out / "config.json").read_bytes() == before
    Bundle.load(out)
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]  # no staging dirs left behind


@pytest.mark.parametrize("flags, message", [
    (["--clusters", "many"], "--clusters: must be 'auto' or a whole number >= 2"),
    (["--clusters", "-2"], "--clusters: must be 'auto' or a whole number >= 2"),
    (["--clusters", "0"], "--clusters: must be 'auto' or a whole number >= 2"),
    (["--clusters", "1"], "one style is no clustering"),
    (["--cnn-epochs", "0"], "--cnn-epochs: must be a whole number >= 1, got 0"),
    (["--batch-size", "0"], "--batch-size: must be a whole number >= 1"),
    (["--limit", "0"], "--limit: must be a whole number >= 1"),
    (["--limit", "-5"], "--limit: must be a whole number >= 1, got -5"),
    (["--cnn-threads", "0"], "--cnn-threads: must be a whole number >= 1"),
    (["--clip-seconds", "0"], "--clip-seconds: must be a number above 0"),
    # numpy's seed limit: refused after the encoder had trained (and 10**23 overflowed a C long)
    (["--seed", "4294967296"], "--seed: must be a whole number from 0 to 4294967295, got 4294967296"),
    (["--seed", "99999999999999999999999"], "--seed: must be a whole number from 0 to 4294967295"),
    (["--k-min", "5", "--k-max", "4"], "--k-min 5 is above --k-max 4"),
    (["--push"], "--push needs --repo-id"),
    (["--method", "dbscan"], "invalid choice: 'dbscan'"),
    (["--finetune", "--encoder", "cnn"], "--finetune fine-tunes a pretrained CLIP"),
    (["--dataset", ""], "--dataset is empty"),
])
def test_cli_argument_errors(flags, message, capsys):
    """A flag wrong on its face is argparse's usage error (status 2), before anything is loaded."""
    with pytest.raises(SystemExit) as exit_:
        parse_config(flags)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("usage: python -m training.fit") and message in err


def test_a_cluster_count_the_catalog_cannot_hold_fails_before_encoding(tmp_path, capsys, monkeypatch):
    import jewelrec.pipeline.fit as fit

    monkeypatch.setattr(fit, "choose_encoder", lambda *a: pytest.fail("encoded a catalog it could not cluster"))
    out = tmp_path / "bundle"
    assert main([*FAST_FIT[:-4], "--clusters", "1000", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--clusters 1000 asks for more styles than the catalog can hold: it has 40 items" in err
    assert "pass --clusters 39 or fewer, or --clusters auto" in err and not out.exists()


def test_out_is_never_a_folder_jewelrec_did_not_write(tmp_path, capsys, sample_bundle_dir):
    """--out replaces only a bundle (or an empty dir); never the dataset, never someone's files (#14 item 1)."""
    import shutil

    keep = tmp_path / "x"
    keep.mkdir()
    (keep / "keep.txt").write_text("keep")
    assert main(["--dataset", "sample", "--sample-items", "40", "--encoder", "cnn", "--out", str(keep)]) == 2
    assert "not empty and not a jewelrec bundle" in capsys.readouterr().err
    assert (keep / "keep.txt").read_text() == "keep"
    photos = tmp_path / "photos"
    (photos / "rings").mkdir(parents=True)
    (photos / "rings" / "a.jpg").write_bytes(b"not really a jpeg")
    for out in (photos, photos / "bundle"):
        assert main(["--dataset", str(photos), "--out", str(out)]) == 2
        assert "overlaps the dataset" in capsys.readouterr().err
    (photos / "cat.parquet").write_bytes(b"")
    for pattern in (f"{photos}/*.parquet", "*.parquet"):  # a glob: the folders of the files it matches
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(photos)
            assert main(["--dataset", pattern, "--out", str(photos)]) == 2
        assert "overlaps the dataset" in capsys.readouterr().err
    with pytest.MonkeyPatch.context() as mp:  # a pattern that would read the bundle's own items.parquet
        mp.chdir(photos)
        assert main(["--dataset", "*/*.parquet", "--out", str(photos / "bundle")]) == 2
    assert "would be read by --dataset '*/*.parquet'" in capsys.readouterr().err
    assert not (photos / "bundle").exists()
    from jewelrec.pipeline.out_dir import check_out_dir

    # README's update example: a parquet file beside --out (every --out under its folder was refused)
    check_out_dir(photos / "artifacts-v2", str(photos / "cat.parquet"))
    check_out_dir(photos / "artifacts-v2", f"{photos}/*.parquet")
    with pytest.raises(ValueError, match="overlaps the dataset"):
        check_out_dir(photos / "rings" / "v2", str(photos))  # a folder dataset is read whole
    assert (photos / "rings" / "a.jpg").is_file()
    bundle = shutil.copytree(sample_bundle_dir, tmp_path / "bundle")
    (bundle / "notes.txt").write_text("mine")
    assert main(["--dataset", "sample", "--sample-items", "40", "--encoder", "cnn", "--out", str(bundle)]) == 2
    assert "holds files it did not write (['notes.txt'])" in capsys.readouterr().err


def test_an_out_inside_a_bundle_is_refused_before_any_work(tmp_path, capsys, sample_bundle_dir):
    """fit --out BUNDLE/v2 would put a bundle and its staging folder inside another bundle, which would then hold
    files its manifest does not list and no longer load."""
    import shutil

    from jewelrec.serving.bundle import Bundle

    bundle = shutil.copytree(sample_bundle_dir, tmp_path / "bundle")
    before = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*"))
    for out in (bundle / "v2", bundle / "deeper" / "v2"):
        assert main(["--dataset", "sample", "--sample-items", "40", "--encoder", "cnn", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"lies inside the bundle {bundle.resolve()}" in err and f"{tmp_path.resolve() / 'bundle-v2'}" in err
    assert sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*")) == before
    Bundle.load(bundle)
    from jewelrec.pipeline.out_dir import check_out_dir

    other = tmp_path / "project"  # another tool's config.json with a manifest-like key is not a bundle
    other.mkdir()
    (other / "config.json").write_text('{"format_version": 3, "files": {"model.onnx": "abc"}}')
    check_out_dir(other / "bundle", "sample")


def test_a_killed_fit_leaves_no_staging_behind_on_the_next_run(tmp_path):
    from jewelrec.pipeline.fit import clean_stale_staging
    from jewelrec.pipeline.out_dir import STAGING_MARKER

    out = tmp_path / "bundle"

    def staging(name, marked=True):
        path = tmp_path / name
        path.mkdir()
        (path / "items.parquet").write_bytes(b"half written")
        if marked:
            (path / STAGING_MARKER).write_text("jewelrec")
        return path

    dead = staging(".bundle.staging-999999999-abcd")  # no such process
    mine = staging(".bundle.staging-1-keep")  # pid 1 is alive: a fit in progress is left alone
    other = staging(".elsewhere.staging-999999999-abcd")
    unmarked = staging(".bundle.staging-999999999-keep", marked=False)  # named like ours, but not made by jewelrec
    clean_stale_staging(out)
    assert not dead.exists() and mine.exists() and other.exists()
    assert (unmarked / "items.parquet").read_bytes() == b"half written"


FAST_FIT = ["--dataset", "sample", "--sample-items", "40", "--encoder", "cnn", "--method", "kmeans",
            "--clusters", "3", "--cnn-epochs", "2"]


def test_folders_beside_out_that_jewelrec_did_not_make_survive_a_fit(tmp_path, sample_bundle_dir):
    """The old bundle is moved aside into a folder the fit makes itself; a user's `.bundle.old` (folder or file)
    and an unmarked `.bundle.staging-<dead pid>-*` are never touched, and nothing of the fit is left beside out."""
    import shutil

    out = shutil.copytree(sample_bundle_dir, tmp_path / "bundle")
    (tmp_path / ".bundle.old").mkdir()
    (tmp_path / ".bundle.old" / "IMPORTANT.txt").write_text("mine")
    (tmp_path / ".bundle.staging-999999999-keep").mkdir()
    (tmp_path / ".bundle.staging-999999999-keep" / "x.txt").write_text("mine")
    assert main([*FAST_FIT, "--out", str(out)]) == 0
    assert (tmp_path / ".bundle.old" / "IMPORTANT.txt").read_text() == "mine"
    assert (tmp_path / ".bundle.staging-999999999-keep" / "x.txt").read_text() == "mine"
    assert Bundle.load(out).n_clusters == 3
    shutil.rmtree(tmp_path / ".bundle.old")
    (tmp_path / ".bundle.old").write_text("a file where the old copy used to go")
    assert main([*FAST_FIT, "--out", str(out)]) == 0
    assert (tmp_path / ".bundle.old").read_text() == "a file where the old copy used to go"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".bundle.old", ".bundle.staging-999999999-keep", "bundle"]


def test_a_finished_bundle_whose_swap_fails_is_kept_and_named(tmp_path, sample_bundle_dir):
    import shutil

    from jewelrec.pipeline.fit import clean_stale_staging
    from jewelrec.pipeline.out_dir import staged_bundle

    out = shutil.copytree(sample_bundle_dir, tmp_path / "bundle")
    with pytest.raises(ValueError, match="could not be moved to .*; it is kept at") as err:
        with staged_bundle(out) as staging:
            shutil.copytree(sample_bundle_dir, staging, dirs_exist_ok=True)  # the "fit"
            (out / "notes.txt").write_text("written into --out while the fit ran")
    kept = Path(str(err.value).split("it is kept at ", 1)[1].split(" — ", 1)[0])
    assert kept.parent.parent == tmp_path and (out / "notes.txt").read_text().startswith("written")
    dead = kept.parent.rename(tmp_path / ".bundle.staging-999999999-done")  # as a later run sees it
    clean_stale_staging(out)  # unmarked once finished: no later run removes it
    kept = dead / "bundle"
    Bundle.load(kept)
    (out / "notes.txt").unlink()
    with pytest.raises(RuntimeError):
        with staged_bundle(out) as staging:
            raise RuntimeError("the fit failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == [kept.parent.name, "bundle"]  # its own work removed


@pytest.mark.parametrize("flags, message", [
    (["--id-column", "nope"], r"id column 'nope' is not in dataset .*; columns are \['sku', 'image', 'category'\]"),
    (["--label-column", "nope"], r"label column 'nope' is not among the catalog's metadata columns \['category'\]"),
    (["--caption-columns", "category", "nope"], r"caption column\(s\) \['nope'\] not in the catalog"),
    (["--caption-template", "{nope} ring"], r"caption template .* names column 'nope'"),
])
def test_columns_named_on_the_command_line_must_exist(flags, message, tmp_path, capsys, monkeypatch):
    """An explicitly named column is never silently replaced by a detected one; the error lists the columns."""
    import io
    import re

    import pandas as pd
    from PIL import Image

    import jewelrec.pipeline.fit as fit

    def png(colour):
        out = io.BytesIO()
        Image.new("RGB", (16, 16), colour).save(out, format="PNG")
        return {"bytes": out.getvalue(), "path": None}

    data = tmp_path / "data"
    data.mkdir()
    colours, names = [(255, 0, 0), (0, 255, 0), (0, 0, 255)], ["ring", "necklace", "earring"]
    pd.DataFrame({"sku": [f"s{i}" for i in range(12)], "image": [png(colours[i % 3]) for i in range(12)],
                  "category": [names[i % 3] for i in range(12)]}).to_parquet(data / "catalog.parquet")
    monkeypatch.setattr(fit, "choose_encoder", lambda *a: pytest.fail("went on with a column nobody asked for"))
    out = tmp_path / "bundle"
    assert main(["--dataset", str(data / "catalog.parquet"), "--encoder", "cnn", "--method", "kmeans",
                 "--clusters", "3", *flags, "--out", str(out)]) == 2
    assert re.search(message, capsys.readouterr().err) and not out.exists()


def test_compare_out_inside_a_bundle_but_not_its_report_is_refused(sample_bundle_dir, tmp_path, capsys):
    """training.compare re-seals a bundle it writes into; anywhere in it but report/ the bundle would no longer load."""
    import shutil

    from training.compare import main as compare

    bundle = shutil.copytree(sample_bundle_dir, tmp_path / "bundle")
    args = ["--embeddings-from", str(bundle), "--methods", "kmeans", "--clusters", "4", "--layout", "pca"]
    for inside in (bundle / "mine", bundle, bundle / "encoder"):
        assert compare([*args, "--out", str(inside)]) == 2
        assert f"pass --out {bundle / 'report'} or a folder outside the bundle" in capsys.readouterr().err
    assert not (bundle / "mine").exists() and not list(bundle.rglob("comparison*"))
    Bundle.load(bundle)  # still loads
    assert compare([*args, "--out", str(bundle / "report")]) == 0  # its report/ takes the comparison, re-sealed
    assert "report/comparison.json" in Bundle.load(bundle).config["files"]


def test_compare_out_in_another_bundle_is_refused(sample_bundle_dir, tmp_path, capsys):
    """Only the compared bundle's report/ is re-sealed: another bundle (or the sample's comparison into a bundle)
    would have been left holding files it does not list, and no longer load."""
    import shutil

    from training.compare import main as compare

    other = shutil.copytree(sample_bundle_dir, tmp_path / "other")
    for source in (str(sample_bundle_dir), "sample"):
        for out in (other, other / "report", other / "eval"):
            assert compare(["--embeddings-from", source, "--methods", "kmeans", "--clusters", "4", "--layout", "pca",
                            "--out", str(out)]) == 2
            assert f"is in the bundle {other.resolve()}, which would then hold files" in capsys.readouterr().err
    Bundle.load(other)  # untouched
    assert not list(other.rglob("comparison*"))


def test_compare_never_overwrites_report_files_it_did_not_write(sample_bundle_dir, tmp_path, capsys):
    from training.compare import main as compare

    args = ["--embeddings-from", str(sample_bundle_dir), "--methods", "kmeans", "--clusters", "4", "--layout", "pca"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "comparison.csv").write_text("my own spreadsheet")
    (mine / "comparison.json").write_text('{"my": "notes"}')
    assert compare([*args, "--out", str(mine)]) == 2
    assert "holds ['comparison.csv', 'comparison.json'], which the comparison would overwrite" in capsys.readouterr().err
    assert (mine / "comparison.csv").read_text() == "my own spreadsheet" and len(list(mine.iterdir())) == 2
    (tmp_path / "file").write_text("x")
    assert compare([*args, "--out", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err
    ours = tmp_path / "ours"
    assert compare([*args, "--out", str(ours)]) == 0
    (ours / "notes.txt").write_text("kept")
    assert compare([*args, "--out", str(ours)]) == 0  # an earlier comparison's folder is written over
    assert (ours / "notes.txt").read_text() == "kept"
    # fit --compare-methods writes OUT-comparison after the fit and the push: its folder is checked before any work
    out = tmp_path / "fitted"
    (tmp_path / "fitted-comparison").mkdir()
    (tmp_path / "fitted-comparison" / "comparison.csv").write_text("my own spreadsheet")
    assert main(["--dataset", "sample", "--sample-items", "40", "--encoder", "cnn", "--out", str(out),
                 "--compare-methods"]) == 2
    err = capsys.readouterr().err
    assert f"--compare-methods writes {tmp_path / 'fitted-comparison'}, which holds ['comparison.csv']" in err
    assert not out.exists() and (tmp_path / "fitted-comparison" / "comparison.csv").read_text() == "my own spreadsheet"


def _tiny_parquet(folder: Path, n_items: int) -> Path:
    import io

    import datasets
    from PIL import Image

    def picture(i):
        buf = io.BytesIO()
        Image.new("RGB", (32, 32), (40 * i, 90, 200 - 30 * i)).save(buf, format="PNG")
        return {"bytes": buf.getvalue(), "path": None}

    folder.mkdir()
    datasets.Dataset.from_dict({"image": [picture(i) for i in range(n_items)], "name": ["gold ring"] * n_items}
                               ).cast_column("image", datasets.Image()).to_parquet(str(folder / "c.parquet"))
    return folder / "c.parquet"


def test_a_cnn_fit_without_a_label_column_is_one_error_line(tmp_path, capsys):
    """It exited with status 1 and no 'error:' (a SystemExit), unlike every other input error (status 2)."""
    dataset = _tiny_parquet(tmp_path / "cat", 6)
    assert main(["--dataset", str(dataset), "--encoder", "cnn", "--clusters", "2", "--out", str(tmp_path / "b")]) == 2
    assert "error: the CNN encoder needs a label column to learn from" in capsys.readouterr().err


@pytest.mark.parametrize("n_items, flags, message", [
    (2, [], "2 items are too few to choose among 3..16 clusters (each style needs items of its own); a catalog "
            "needs at least 3 items to cluster; add items"),
    (3, [], "pass --clusters 2 (or fewer), or lower --k-min to 2"),
    (5, ["--k-min", "6", "--k-max", "8"], "5 items are too few to choose among 6..8 clusters"),
])
def test_a_catalog_too_small_for_auto_is_refused_before_encoding(tmp_path, capsys, n_items, flags, message):
    """It was refused only after the encoder had trained, as 'need an (n, d) array with n >= 3' or a caption
    error."""
    dataset = _tiny_parquet(tmp_path / "cat", n_items)
    out = tmp_path / "bundle"
    assert main(["--dataset", str(dataset), "--encoder", "catalog-clip", "--out", str(out),
                 *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and "catalog CLIP" not in err and not out.exists()  # before the encoder trained


def _colour_parquet(folder: Path, label: str = "category", gaps: bool = False, extra: str | None = None) -> Path:
    """30 pictures in 3 colours, their colour in ``label`` (every 5th and 7th blank when ``gaps``), a name, and
    ``extra`` (a second attribute column) when given."""
    import io

    import datasets
    from PIL import Image

    colours = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
    rows = {"image": [], label: [], "name": [], **({extra: []} if extra else {})}
    for i in range(30):
        colour = list(colours)[i % 3]
        buf = io.BytesIO()
        Image.new("RGB", (32, 32), tuple(max(0, c - 3 * (i // 3)) for c in colours[colour])).save(buf, format="PNG")
        rows["image"].append({"bytes": buf.getvalue(), "path": None})
        rows[label].append((None if i % 5 == 0 else "" if i % 7 == 0 else colour) if gaps else colour)
        rows["name"].append(f"{colour} ring")
        if extra:
            rows[extra].append("ruby" if i % 2 else "pearl")
    folder.mkdir()
    datasets.Dataset.from_dict(rows).cast_column("image", datasets.Image()).to_parquet(str(folder / "c.parquet"))
    return folder / "c.parquet"


@pytest.mark.parametrize("encoder", ["cnn", "catalog-clip"])
def test_a_label_column_with_gaps_is_scored_on_its_labelled_items(tmp_path, capsys, encoder):
    # a blank category cell made every fit end in scikit-learn's "Input contains NaN" after the whole encode; the
    # CNN learnt the gaps as a class of their own
    dataset = _colour_parquet(tmp_path / "cat", gaps=True)
    flags = ["--encoder", "cnn", "--cnn-epochs", "2"] if encoder == "cnn" else ["--clip-seconds", "3"]
    out = tmp_path / "b"
    assert main(["--dataset", str(dataset), *flags, "--method", "kmeans", "--clusters", "3",
                 "--out", str(out)]) == 0, capsys.readouterr().err
    config = json.loads((out / "config.json").read_text())
    metrics = config["metrics"]
    assert "named_by_picture" not in config["dataset"]  # no id column: every piece is named by its picture, no note
    labelled = sum(1 for i in range(30) if i % 5 and i % 7)
    assert metrics["labelled_items"] == labelled and 0 <= metrics["nmi"] <= 1
    if encoder == "cnn":
        assert sorted(json.loads((out / "encoder" / "config.json").read_text())["class_names"]) == \
            ["blue", "green", "red"]


def test_caption_columns_named_like_python_attributes_train_the_catalog_clip(tmp_path, capsys):
    # the attribute heads were a ModuleDict keyed by column name: "type" or "stone.kind" raised a KeyError
    dataset = _colour_parquet(tmp_path / "cat", label="type", extra="stone.kind")
    out = tmp_path / "b"
    assert main(["--dataset", str(dataset), "--clip-seconds", "3", "--label-column", "type",
                 "--caption-columns", "name", "type", "stone.kind", "--method", "kmeans", "--clusters", "3",
                 "--out", str(out)]) == 0, capsys.readouterr().err
    assert json.loads((out / "encoder" / "config.json").read_text())["type"] == "catalog-clip"


def test_out_dot_in_an_empty_folder_writes_the_bundle_there(tmp_path, monkeypatch, capsys):
    # Path(".").parent is "." itself: the staging folder went inside --out, the swap failed after the whole fit,
    # and the unmarked staging folder then blocked every rerun
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    assert main([*FAST_FIT, "--out", "."]) == 0, capsys.readouterr().err
    assert Bundle.load(here).n_items == 40
    assert not [p.name for p in tmp_path.iterdir() if "staging" in p.name]
    assert main([*FAST_FIT, "--out", "."]) == 0  # a rerun replaces the bundle it wrote


def test_the_summary_names_the_flag_for_pictures_outside_the_dataset(tmp_path, capsys):
    """A fit that skipped pictures reached through symlinks or paths leading out of the dataset folder said only
    'path_outside_dataset: 3'; the summary now says which flag reads them."""
    from types import SimpleNamespace

    from jewelrec.cli.fit import print_summary

    class Catalog(SimpleNamespace):
        def __len__(self) -> int:
            return 5

    summary = {"catalog": Catalog(source="shop", n_rows_read=8, skipped={"path_outside_dataset": 3}, unnamed=None),
               "clusters": SimpleNamespace(method="kmeans", n_clusters=2, k_selection_={"reason": "k=2 was given"}),
               "metrics": {"silhouette": 0.5, "silhouette_embedding": 0.4}, "encoder": "CNN", "dim": 8,
               "label_column": None, "timings": {"encode": 1.0}, "out": tmp_path, "comparison": None, "push_url": None}
    print_summary(summary)
    out = capsys.readouterr().out
    assert "skipped path_outside_dataset: 3" in out and "unless you pass --allow-external-paths" in out
    summary["catalog"].skipped = {"undecodable": 3}
    print_summary(summary)
    assert "--allow-external-paths" not in capsys.readouterr().out
    from jewelrec.catalog.loading import IdNote

    summary["catalog"].unnamed = IdNote("sku", 2)  # rows whose id column held no id: said, not silent
    print_summary(summary)
    assert "note         2 rows had no id in column 'sku' (empty, blank or NaN) and are named by their picture" in \
        capsys.readouterr().out


def test_rows_whose_id_column_has_gaps_are_counted_in_the_config_and_the_summary(tmp_path, capsys):
    """A NaN or blank id is no id: the row is named by its picture — that was done without a word."""
    import pandas as pd

    dataset = _colour_parquet(tmp_path / "cat")
    frame = pd.read_parquet(dataset)
    frame["sku"] = [None if i % 10 == 0 else f"sku-{i}" for i in range(len(frame))]
    frame.to_parquet(dataset)
    out = tmp_path / "b"
    assert main(["--dataset", str(dataset), "--encoder", "cnn", "--cnn-epochs", "2", "--method", "kmeans",
                 "--clusters", "3", "--out", str(out)]) == 0, capsys.readouterr().err
    recorded = json.loads((out / "config.json").read_text())["dataset"]
    assert recorded["named_by_picture"] == {"column": "sku", "rows": 3}
    assert recorded["kind"] == "parquet"  # what the model card may cite: only a "hub" source is a Hub dataset
    assert "3 rows had no id in column 'sku'" in capsys.readouterr().out


def test_one_writer_at_a_time_holds_a_bundle_folder(sample_bundle_dir, tmp_path, capsys):
    # two overlapping in-place updates each loaded the bundle and both exited 0: the later swap dropped the
    # other's pieces; a compare into report/ meanwhile re-saved the old arrays over an update
    import shutil

    from jewelrec.pipeline.out_dir import exclusive, replace_dir
    from training.compare import main as compare
    from training.update import main as update

    bundle = shutil.copytree(sample_bundle_dir, tmp_path / "bundle")
    with exclusive(bundle, "run it"):  # a fit, update or compare of it still running
        assert update(["--bundle", str(bundle), "--remove", "jw-0001", "--out", str(bundle)]) == 2
        assert "is being written by another jewelrec process" in capsys.readouterr().err
        assert compare(["--embeddings-from", str(bundle), "--methods", "kmeans", "--clusters", "4", "--layout",
                        "pca", "--out", str(bundle / "report")]) == 2
        assert "wait for that to finish and run the comparison again" in capsys.readouterr().err
        swapped = shutil.copytree(bundle, tmp_path / "new")  # the holder swaps in its new bundle, then pushes:
        replace_dir(swapped, bundle)
        with pytest.raises(ValueError, match="being written by another jewelrec process"):
            with exclusive(bundle, "run it"):  # still held, to the end of the run
                pass
    assert Bundle.load(bundle).has_item("jw-0001")
    assert update(["--bundle", str(bundle), "--remove", "jw-0001", "--out", str(bundle)]) == 0  # once it is free
    assert not Bundle.load(bundle).has_item("jw-0001")


def test_compare_into_a_hub_snapshot_or_a_bad_out_is_refused_before_the_work(sample_bundle_dir, tmp_path, capsys):
    # a snapshot's re-seal wrote through its links into blobs other revisions share; a dangling link, a file on
    # the way or an unwritable folder as --out were tracebacks after every method had been fitted
    import shutil

    from training.compare import main as compare

    blobs, snapshot = tmp_path / "blobs", tmp_path / "snapshots" / "abc"
    for path in Path(sample_bundle_dir).rglob("*"):
        if path.is_file():
            rel = path.relative_to(sample_bundle_dir)
            (blobs / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, blobs / rel)
            (snapshot / rel).parent.mkdir(parents=True, exist_ok=True)
            (snapshot / rel).symlink_to(blobs / rel)
    args = ["--methods", "kmeans", "--clusters", "4", "--layout", "pca"]
    assert compare(["--embeddings-from", str(snapshot), *args, "--out", str(snapshot / "report")]) == 2
    assert "is a Hugging Face cache snapshot" in capsys.readouterr().err
    Bundle.load(snapshot)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "afile").write_text("x")
    for out, said in ((tmp_path / "dangling", "which does not exist"),
                      (tmp_path / "afile" / "sub", "is a file, not a folder")):
        assert compare(["--embeddings-from", str(sample_bundle_dir), *args, "--out", str(out)]) == 2
        assert said in capsys.readouterr().err
    local = shutil.copytree(sample_bundle_dir, tmp_path / "local")  # `hf download --local-dir`: its metadata
    (local / ".cache" / "huggingface").mkdir(parents=True)
    (local / ".cache" / "huggingface" / "config.json.metadata").write_text("sha\netag\n")
    assert compare(["--embeddings-from", str(local), *args, "--out", str(local / "report")]) == 0
    assert "report/comparison.json" in Bundle.load(local).config["files"]


def test_bundle_arrays_are_readable_as_the_umask_says(tmp_path):
    # safetensors 0.8 writes owner-only files: a bundle fitted by root or CI could not be loaded by the user
    # serving it, while its config.json could
    import os

    from tests.conftest import make_synthetic_bundle

    for mask, mode in ((0o022, 0o644), (0o077, 0o600)):
        old = os.umask(mask)
        try:
            out = make_synthetic_bundle(n_items=20, dim=4, n_clusters=2).save(tmp_path / f"b{mask:o}")
        finally:
            os.umask(old)
        assert {p.name: p.stat().st_mode & 0o777 for p in out.glob("*.safetensors")} == {
            "embeddings.safetensors": mode, "clusters.safetensors": mode}
