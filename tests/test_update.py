"""`python -m training.update`: new items into a bundle's stored styles, listed items out, no refit."""

import io
import shutil

import datasets
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from jewelrec.catalog.sample import build_sample
from jewelrec.serving.bundle import Bundle
from jewelrec.serving.index import VectorIndex
from jewelrec.serving.recommender import Recommender
from training.update import main


def new_items(path, n: int, *, prefix: str = "new", noise: bool = False, sample_items: int = 80):
    """A parquet of ``n`` sample pieces (or random-noise pictures) under ids the bundle does not hold, in a folder
    of its own (a bundle may not be written inside a dataset's folder)."""
    path = path.parent / "data" / path.name
    path.parent.mkdir(exist_ok=True)
    table = datasets.Dataset.from_parquet(str(build_sample(sample_items, progress=False)))
    table = table.select(range(sample_items - n, sample_items))
    table = table.map(lambda row, i: {"item_id": f"{prefix}-{i}"}, with_indices=True)
    if noise:
        rng = np.random.default_rng(0)

        def picture(_, i):
            out = io.BytesIO()
            Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(out, format="PNG")
            return {"image": {"bytes": out.getvalue(), "path": f"noise-{i}.png"}}

        table = table.map(picture, with_indices=True)
    table.to_parquet(str(path))
    return path


def run(*args) -> int:
    return main([str(a) for a in args])


def test_new_items_get_styles_and_every_old_item_keeps_its_own(sample_bundle_dir, tmp_path):
    old = Bundle.load(sample_bundle_dir)
    source = new_items(tmp_path / "new.parquet", 5)
    assert run("--bundle", sample_bundle_dir, "--dataset", source, "--out", tmp_path / "v2") == 0

    new = Bundle.load(tmp_path / "v2")
    assert new.n_items == old.n_items + 5 and new.item_ids[:old.n_items] == old.item_ids
    n = old.n_items
    for name in ("embeddings", "labels", "probs", "coords2d"):  # kept rows unchanged, bit for bit
        np.testing.assert_array_equal(getattr(new, name)[:n], getattr(old, name))
    np.testing.assert_array_equal(new.centroids, old.centroids)
    assert new.config["clustering"]["cluster_names"] == old.config["clustering"]["cluster_names"]
    # kmeans: a new item's style is its nearest centroid; it lands on the map among its look-alikes
    d2 = ((new.embeddings[n:, None] - new.centroids[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(new.labels[n:], d2.argmin(axis=1))
    lo, hi = old.coords2d.min(axis=0), old.coords2d.max(axis=0)
    assert ((new.coords2d[n:] >= lo) & (new.coords2d[n:] <= hi)).all()
    entry = new.config["updates"][-1]
    assert (entry["added"], entry["removed"], entry["refit_due"]) == (5, 0, False)
    assert entry["from_embeddings_sha256"] == old.config["files"]["embeddings.safetensors"]
    # an ordinary bundle: it serves, and its new pieces are found by their look-alikes
    assert [item for item, _ in Recommender(new).similar("new-0", k=3)]
    assert "updated 1 time(s) since the fit" in (tmp_path / "v2" / "README.md").read_text()  # the model card says so


def test_remove_takes_items_out_and_a_removed_id_given_again_is_replaced(sample_bundle_dir, tmp_path):
    old = Bundle.load(sample_bundle_dir)
    out_gone, out_back = old.item_ids[:2]
    table = datasets.Dataset.from_parquet(str(new_items(tmp_path / "one.parquet", 1)))
    table = table.map(lambda row: {"item_id": out_back})  # a new picture for a piece the bundle holds
    table.to_parquet(str(tmp_path / "data" / "again.parquet"))
    assert run("--bundle", sample_bundle_dir, "--dataset", tmp_path / "data" / "again.parquet", "--remove", out_gone,
               out_back, "--out", tmp_path / "v2") == 0
    new = Bundle.load(tmp_path / "v2")
    assert not new.has_item(out_gone) and new.has_item(out_back) and new.n_items == old.n_items - 1
    assert new.item_ids[-1] == out_back  # re-added at the end, with its new picture's embedding
    assert not np.allclose(new.embeddings[-1], old.embeddings[old.index_of(out_back)])
    entry = new.config["updates"][-1]
    assert (entry["added"], entry["removed"], entry["replaced"]) == (1, 2, 1)
    kept = [old.index_of(i) for i in new.item_ids[:-1]]
    np.testing.assert_array_equal(new.labels[:-1], old.labels[kept])
    np.testing.assert_array_equal(new.coords2d[:-1], old.coords2d[kept])


def test_ids_already_in_the_bundle_are_skipped_and_counted(sample_bundle_dir, tmp_path):
    # the 80-piece sample reuses the 60-piece sample's ids jw-0001..jw-0060: those are kept as they are
    assert run("--bundle", sample_bundle_dir, "--dataset", "sample", "--sample-items", 80,
               "--out", tmp_path / "v2") == 0
    entry = Bundle.load(tmp_path / "v2").config["updates"][-1]
    assert entry["added"] == 20 and entry["dataset"]["skipped"]["already_in_bundle"] == 60


def test_a_dataset_with_nothing_new_writes_and_pushes_nothing(sample_bundle_dir, tmp_path, capsys, hub):
    """Every row already in the bundle: no identical revision on disk or on the Hub, exit 0 (a nightly job's
    quiet night), and the summary says why."""
    import shutil

    from jewelrec.serving.hub import push

    bundle = shutil.copytree(sample_bundle_dir, tmp_path / "bundle")
    push(bundle, "alice/jewelrec-quiet")  # last night's update, published
    head = hub.repos[("model", "alice/jewelrec-quiet")].branches["main"]
    before = {p.name: p.stat().st_mtime_ns for p in bundle.iterdir()}
    n = Bundle.load(bundle).n_items
    for out in (bundle, tmp_path / "v2"):
        assert run("--bundle", bundle, "--dataset", "sample", "--sample-items", n, "--out", out,
                   "--push", "--repo-id", "alice/jewelrec-quiet") == 0
        said = capsys.readouterr().out
        assert f"nothing to do: {n} rows read, none new (skipped already_in_bundle: {n})" in said
        assert "nothing pushed" in said
    assert "v2 not written" in said and not (tmp_path / "v2").exists()
    assert {p.name: p.stat().st_mtime_ns for p in bundle.iterdir()} == before
    assert hub.repos[("model", "alice/jewelrec-quiet")].branches["main"] == head  # no identical revision


def test_a_rerun_after_a_failed_push_publishes_the_bundle_the_hub_lacks(sample_bundle_dir, tmp_path, capsys, hub,
                                                                         monkeypatch):
    """The update was written, its push failed (status 2, "push it again"); the same command rerun found nothing
    new and exited 0 saying "nothing pushed" — the Hub never got the update. It now pushes what the Hub lacks."""
    import shutil

    from jewelrec.serving.hub import pull, push

    bundle = shutil.copytree(sample_bundle_dir, tmp_path / "bundle")
    push(bundle, "alice/jewelrec-nightly")
    args = ("--bundle", bundle, "--dataset", "sample", "--sample-items", Bundle.load(bundle).n_items + 5,
            "--out", bundle, "--push", "--repo-id", "alice/jewelrec-nightly")
    import jewelrec.serving.hub as hub_module

    real_check = hub_module.check_write_access

    def check_then_go_down(*check_args, **kwargs):  # the token is fine before the work; the Hub is gone by the push
        name = real_check(*check_args, **kwargs)
        hub.outage_status = 503
        return name

    monkeypatch.setattr(hub_module, "check_write_access", check_then_go_down)
    try:
        assert run(*args) == 2
    finally:
        hub.outage_status = None
        monkeypatch.setattr(hub_module, "check_write_access", real_check)
    assert "push it again" in capsys.readouterr().err
    assert run(*args) == 0
    said = capsys.readouterr().out
    assert "nothing to do" in said and "pushed as it stands, which the Hub did not hold" in said
    pulled, _ = pull("alice/jewelrec-nightly", cache_dir=tmp_path / "cache")
    assert pulled.n_items == Bundle.load(bundle).n_items


def test_bad_input_is_refused_with_the_fix_and_nothing_is_written(sample_bundle_dir, tmp_path, capsys):
    assert run("--bundle", sample_bundle_dir, "--remove", "no-such-piece", "--out", tmp_path / "v2") == 2
    assert "no-such-piece" in capsys.readouterr().err and not (tmp_path / "v2").exists()
    assert run("--bundle", tmp_path / "missing", "--remove", "x", "--out", tmp_path / "v2") == 2
    assert "training.fit" in capsys.readouterr().err
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    source = new_items(tmp_path / "new.parquet", 2)
    assert run("--bundle", sample_bundle_dir, "--dataset", source, "--out", tmp_path / "mine") == 2
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert run("--bundle", sample_bundle_dir, "--out", tmp_path / "v3") == 2
    assert "nothing to update" in capsys.readouterr().err


def test_drift_says_a_refit_is_due(sample_bundle_dir, tmp_path):
    strangers = new_items(tmp_path / "noise.parquet", 8, noise=True)
    code = run("--bundle", sample_bundle_dir, "--dataset", strangers, "--out", tmp_path / "v2",
               "--max-churn", 1, "--fail-if-refit-due")
    assert code == 3  # written, but flagged for a scheduled job to notice
    entry = Bundle.load(tmp_path / "v2").config["updates"][-1]
    assert entry["refit_due"] and entry["drift"]["far_items"] >= 5
    assert any("look like nothing" in reason for reason in entry["reasons"])
    # churn accumulates over updates: 8 + 5 of 60 fitted items is past 20 %
    assert run("--bundle", tmp_path / "v2", "--dataset", new_items(tmp_path / "more.parquet", 5, prefix="more"),
               "--out", tmp_path / "v3", "--max-far-share", 1) == 0
    entry = Bundle.load(tmp_path / "v3").config["updates"][-1]
    assert entry["drift"]["added_since_fit"] == 13 and any("since the fit" in r for r in entry["reasons"])
    assert len(Bundle.load(tmp_path / "v3").config["updates"]) == 2
    # a night with nothing new writes nothing, but the verdict stands: --fail-if-refit-due still exits 3
    assert run("--bundle", tmp_path / "v3", "--dataset", new_items(tmp_path / "more.parquet", 5, prefix="more"),
               "--out", tmp_path / "v3", "--fail-if-refit-due") == 3
    assert len(Bundle.load(tmp_path / "v3").config["updates"]) == 2


def test_update_in_place_replaces_the_bundle_only_when_complete(sample_bundle_dir, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(sample_bundle_dir, bundle)
    removed = Bundle.load(bundle).item_ids[0]
    assert run("--bundle", bundle, "--remove", removed, "--out", bundle) == 0
    assert not Bundle.load(bundle).has_item(removed)
    assert not list(tmp_path.glob(".bundle.*"))  # no staging or old copy left behind


def test_an_out_inside_the_bundle_is_refused_and_the_bundle_still_loads(sample_bundle_dir, tmp_path, capsys):
    """An --out inside --bundle would leave the bundle holding files it did not write, so it would no longer load."""
    from jewelrec.serving.bundle import list_files

    bundle = shutil.copytree(sample_bundle_dir, tmp_path / "bundle")
    before = {f: (bundle / f).read_bytes() for f in list_files(bundle)}
    removed = Bundle.load(bundle).item_ids[0]
    for inside in (bundle / "v2", bundle / "encoder", bundle / "report" / "v2"):
        assert run("--bundle", bundle, "--remove", removed, "--out", inside) == 2
        err = capsys.readouterr().err
        assert "lies inside the bundle" in err and f"--out {bundle} to update it in place" in err
    assert {f: (bundle / f).read_bytes() for f in list_files(bundle)} == before  # nothing added, nothing changed
    assert Bundle.load(bundle).has_item(removed) and not list(tmp_path.glob(".*"))


def test_a_hub_clip_encoder_that_cannot_be_fetched_is_an_error_naming_the_fix(sample_bundle_dir, tmp_path,
                                                                               monkeypatch, capsys):
    """A bundle whose encoder is a CLIP named by Hub id, offline and not cached: one line, not transformers' traceback."""
    import json

    from huggingface_hub import constants

    from jewelrec.serving.bundle import sha256_file

    bundle = shutil.copytree(sample_bundle_dir, tmp_path / "bundle")
    shutil.rmtree(bundle / "encoder")
    (bundle / "encoder").mkdir()
    (bundle / "encoder" / "config.json").write_text(json.dumps({"type": "clip", "model": "openai/clip-vit-base-patch32"}))
    config = json.loads((bundle / "config.json").read_text())
    config["files"] = {f: h for f, h in config["files"].items() if not f.startswith("encoder/")}
    config["files"]["encoder/config.json"] = sha256_file(bundle / "encoder" / "config.json")
    config["encoder"] = {"type": "clip", "model": "openai/clip-vit-base-patch32"}
    (bundle / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    source = new_items(tmp_path / "new.parquet", 2)
    assert run("--bundle", bundle, "--dataset", source, "--out", tmp_path / "v2") == 2
    err = capsys.readouterr().err
    assert "the bundle's encoder (openai/clip-vit-base-patch32) cannot be loaded from the Hub" in err
    assert "needed to embed the new items; nothing was written" in err
    assert not (tmp_path / "v2").exists()


@pytest.mark.parametrize("method", ["umap-kmeans", "depict"])
def test_methods_with_their_own_space_assign_there(sample_bundle_dir, tmp_path, method):
    from jewelrec.clustering import fit_clusters

    old = Bundle.load(sample_bundle_dir)
    clusters = fit_clusters(old.embeddings, method, 4, seed=0)
    root = tmp_path / "bundle"
    shutil.copytree(sample_bundle_dir / "encoder", root / "encoder")
    if clusters.model_ is not None:
        clusters.model_.save_pretrained(root / "depict")
    config = {k: v for k, v in old.config.items() if k != "files"}
    config["clustering"] = {"method": method, "cluster_names": [f"look {c}" for c in range(4)]}
    Bundle(items=old.items, embeddings=old.embeddings, labels=clusters.labels_, probs=clusters.probs_,
           centroids=clusters.centroids_, coords2d=clusters.coords2d_, latents=clusters.space_,
           config=config).save(root)
    assert run("--bundle", root, "--dataset", new_items(tmp_path / "new.parquet", 4), "--out", tmp_path / "v2") == 0
    new = Bundle.load(tmp_path / "v2")
    assert new.latents.shape == (old.n_items + 4, clusters.space_.shape[1])
    np.testing.assert_array_equal(new.latents[:old.n_items], clusters.space_)
    np.testing.assert_array_equal(new.labels[:old.n_items], clusters.labels_)
    # each new item sits in the style of the space point it was given
    d2 = ((new.latents[old.n_items:, None] - new.centroids[None]) ** 2).sum(axis=2)
    if method == "umap-kmeans":
        np.testing.assert_array_equal(new.labels[old.n_items:], d2.argmin(axis=1))


def test_the_stored_search_index_is_filled_not_retrained(tmp_path):
    from conftest import make_synthetic_bundle

    from jewelrec.pipeline.update import updated_index
    from jewelrec.serving.stored_index import load_search_index

    synthetic = make_synthetic_bundle(n_items=2300, dim=32)
    synthetic.save(tmp_path / "big", index=VectorIndex(synthetic.embeddings, exact_limit=0))
    big = Bundle.load(tmp_path / "big")
    trained = load_search_index(big, exact_limit=0)
    centres = trained.ivf.quantizer.reconstruct_n(0, trained.nlist)

    extra = synthetic.embeddings[:40] * -1.0  # new rows: appended to the same lists
    everything = np.concatenate([big.embeddings, extra])
    grown = updated_index(big, np.arange(big.n_items), everything)
    assert grown.ivf.ntotal == len(everything) and grown.nlist == trained.nlist
    np.testing.assert_array_equal(grown.ivf.quantizer.reconstruct_n(0, grown.nlist), centres)
    _, rows = grown.search(extra[:5], 1)
    np.testing.assert_array_equal(rows[:, 0], np.arange(big.n_items, big.n_items + 5))

    # removals through the command: the updated bundle stores an index it loads as its own, same list centres
    assert run("--bundle", tmp_path / "big", "--remove", *big.item_ids[:10], "--out", tmp_path / "smaller") == 0
    smaller = Bundle.load(tmp_path / "smaller")
    index = load_search_index(smaller, exact_limit=0)
    assert index.origin == "stored" and index.ivf.ntotal == big.n_items - 10
    np.testing.assert_array_equal(index.ivf.quantizer.reconstruct_n(0, index.nlist), centres)
    assert pd.Index(smaller.item_ids).equals(pd.Index(big.item_ids[10:]))


@pytest.mark.parametrize("flags, message", [(["--limit", "0"], "--limit: must be a whole number >= 1, got 0"),
                                            (["--max-churn", "2"], "--max-churn is a share between 0 and 1")])
def test_update_flag_errors_are_usage_errors(flags, message, capsys):
    from jewelrec.cli.update import parse_config

    with pytest.raises(SystemExit) as exit_:
        parse_config(["--bundle", "b", "--out", "o", *flags])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("usage: python -m training.update") and message in err


def test_the_summary_counts_new_items_by_style_name(sample_bundle_dir, tmp_path, capsys):
    """The summary and the update record say "ring: 2", by the names the fit gave the styles, not "2: 2"."""
    names = Bundle.load(sample_bundle_dir).config["clustering"]["cluster_names"]
    assert run("--bundle", sample_bundle_dir, "--dataset", new_items(tmp_path / "new.parquet", 4),
               "--out", tmp_path / "v2") == 0
    by_style = Bundle.load(tmp_path / "v2").config["updates"][-1]["styles_of_new_items"]
    assert set(by_style) <= set(names) and sum(by_style.values()) == 4
    line = next(line for line in capsys.readouterr().out.splitlines() if "new items by style" in line)
    assert line.endswith(f"new items by style: {by_style}") and all(name in line for name in by_style)


def test_a_style_whose_items_change_what_they_share_is_renamed_everywhere(sample_bundle_dir, tmp_path, capsys):
    """Removing a "gold ring" style's gold rings kept the name in config.json, the card and the summary while the
    Space (which names styles from their items) called it "rose gold diamond ring": two names for one style, one
    of them false. The update renames it once, for all of them, and records the rename."""
    bundle = Bundle.load(sample_bundle_dir)
    names = bundle.config["clustering"]["cluster_names"]
    items = bundle.items.assign(style=bundle.labels)
    style, metal = next((c, m) for c, name in enumerate(names) for m in items["metal"].unique()
                        if name.startswith(f"{m} ") and (items[items["style"] == c]["metal"] != m).any())
    gone = items[(items["style"] == style) & (items["metal"] == metal)]["item_id"].tolist()
    assert run("--bundle", sample_bundle_dir, "--remove", *gone, "--out", tmp_path / "v2") == 0
    updated = Bundle.load(tmp_path / "v2")
    served = Recommender(updated).cluster_names
    assert updated.config["clustering"]["cluster_names"] == served and served[style] != names[style]
    assert updated.config["updates"][-1]["renamed"] == {names[style]: served[style]}
    assert f"{names[style]!r} renamed {served[style]!r}" in capsys.readouterr().out
    assert f"styles: {', '.join(served)}" in (tmp_path / "v2" / "README.md").read_text()


def test_columns_of_different_types_on_the_two_sides_are_joined_as_text(tmp_path):
    """Timestamps in the bundle and 'yesterday' in the new rows, lists against text: pyarrow refused them when the
    updated bundle was written — after the new items were read and encoded."""
    from jewelrec.pipeline.update import _join_items

    kept = pd.DataFrame({"item_id": ["a", "b"], "when": pd.to_datetime(["2024-01-01", None]),
                         "tags": [["gold", "ring"], ["silver"]], "price": [1.5, 2.0], "thumbnail": [b"x", b"y"]})
    new = pd.DataFrame({"item_id": ["c"], "when": ["yesterday"], "tags": ["plain"], "price": [3.0]})
    joined = _join_items(kept, new, [b"z"])
    when = joined["when"].tolist()
    assert when[0] == "2024-01-01 00:00:00" and pd.isna(when[1]) and when[2] == "yesterday"  # missing stays missing
    assert joined["tags"].tolist() == ["['gold', 'ring']", "['silver']", "plain"]
    assert joined["price"].tolist() == [1.5, 2.0, 3.0]  # one type on both sides: left as it is
    joined.to_parquet(tmp_path / "items.parquet")  # what Bundle.save does with it
    same = _join_items(kept, kept.drop(columns="thumbnail").assign(item_id=["c", "d"]), [b"z", b"w"])
    assert pd.api.types.is_datetime64_any_dtype(same["when"]) and same["tags"].iloc[3] == ["silver"]


@pytest.mark.parametrize(("flags", "message"), [
    (["--branch", "staging"], "--branch only apply to a push; add --push"),
    (["--private", "--branch", "x"], "--branch and --private only apply to a push"),
    (["--repo-id", "a/b/c"], "repo id 'a/b/c' must look like 'user/name'"),
])  # fmt: skip
def test_push_flags_without_a_push_are_refused_not_dropped(sample_bundle_dir, tmp_path, capsys, flags, message):
    """--branch / --private without --push were accepted and dropped; a bad --repo-id went into the card."""
    from training.fit import main as fit
    from training.update import main as update

    for command, args in ((update, ["--bundle", str(sample_bundle_dir), "--remove", "jw-0001"]),
                       (fit, ["--dataset", "sample"])):
        with pytest.raises(SystemExit) as stop:
            command([*args, "--out", str(tmp_path / "out"), *flags])
        assert stop.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_update_reads_the_id_column_the_fit_was_told_to_use(tmp_path, capsys):
    # without --id-column the update hashed every id, and each piece came in again as new (120 of 60)
    from training.fit import main as fit

    data = tmp_path / "data"
    data.mkdir()
    table = datasets.Dataset.from_parquet(str(build_sample(30, progress=False)))
    table = table.map(lambda row: {"ref": row["item_id"]}).remove_columns("item_id")
    table.to_parquet(str(data / "catalog.parquet"))
    bundle = tmp_path / "bundle"
    assert fit(["--dataset", str(data / "catalog.parquet"), "--id-column", "ref", "--encoder", "cnn",
                "--cnn-epochs", "1", "--method", "kmeans", "--clusters", "3", "--out", str(bundle)]) == 0
    capsys.readouterr()
    assert run("--bundle", bundle, "--dataset", data / "catalog.parquet", "--out", tmp_path / "updated") == 0
    out = capsys.readouterr().out
    assert "nothing to do: 30 rows read, none new (skipped already_in_bundle: 30)" in out, out
    assert not (tmp_path / "updated").exists()


def test_an_update_from_one_class_folder_labels_its_pieces_as_the_fit_did(sample_bundle_dir, tmp_path):
    """A bundle fitted on class folders (a `label` per piece); the night's new/ring/*.png is one class folder, which
    `datasets` reads without labels (from two up): the new rings came in with none. A fit of one folder of
    pictures (shop/images/) still gets no label: that folder is no class."""
    from jewelrec.catalog import load_catalog

    old = Bundle.load(sample_bundle_dir)
    root = tmp_path / "bundle"
    shutil.copytree(sample_bundle_dir / "encoder", root / "encoder")
    config = {k: v for k, v in old.config.items() if k != "files"}
    Bundle(items=old.items.assign(label=old.items["category"]), embeddings=old.embeddings, labels=old.labels,
           probs=old.probs, centroids=old.centroids, coords2d=old.coords2d, config=config).save(root)
    night = tmp_path / "data" / "new" / "ring"
    night.mkdir(parents=True)
    sample = datasets.Dataset.from_parquet(str(build_sample(80, progress=False)))
    sample = sample.cast_column("image", datasets.Image(decode=False))
    rings = [row for row in sample if row["category"] == "ring"][:3]
    for i, row in enumerate(rings):
        (night / f"ring-{i}.jpg").write_bytes(row["image"]["bytes"])
    assert run("--bundle", root, "--dataset", night.parent, "--out", tmp_path / "v2") == 0
    new = Bundle.load(tmp_path / "v2")
    assert new.items["label"].tolist()[old.n_items:] == ["ring"] * 3
    assert "label" not in load_catalog(night.parent).metadata()  # read alone, as a fit reads it: no label
    from jewelrec.catalog.loading import single_class_folder

    (tmp_path / "data" / "split" / "train").mkdir(parents=True)  # a split of pictures, not a class
    shutil.copy(night / "ring-0.jpg", tmp_path / "data" / "split" / "train")
    (tmp_path / "data" / "shop" / "imgs").mkdir(parents=True)  # a parquet catalog whose pictures sit in imgs/
    shutil.copy(night / "ring-0.jpg", tmp_path / "data" / "shop" / "imgs")
    pd.DataFrame({"item_id": ["x"], "image": ["imgs/ring-0.jpg"]}).to_parquet(tmp_path / "data" / "shop" / "a.parquet")
    assert [single_class_folder(tmp_path / "data" / name) for name in ("new", "split", "shop")] == ["ring", None, None]
