import json
import re
import shutil

import numpy as np
import pytest

from jewelrec.serving.bundle import FORMAT_VERSION, Bundle, BundleError
from tests.conftest import make_synthetic_bundle


def test_round_trip_is_exact(tmp_path):
    bundle = make_synthetic_bundle(n_items=50, dim=8, n_clusters=4)
    bundle.save(tmp_path / "b")
    loaded = Bundle.load(tmp_path / "b")
    assert loaded.item_ids == bundle.item_ids
    for name in ("embeddings", "labels", "probs", "centroids", "coords2d"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(bundle, name))
    # no prebuilt index (50 items are searched flat): written as version 1, which older jewelrec still reads
    assert loaded.config["format_version"] == 1 and FORMAT_VERSION == 2
    assert set(loaded.config["files"]) == {"items.parquet", "embeddings.safetensors", "clusters.safetensors"}


def test_refuses_unknown_format_version(tmp_path):
    make_synthetic_bundle(n_items=20, dim=4, n_clusters=2).save(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["format_version"] = 99
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(BundleError, match="format version 99"):
        Bundle.load(tmp_path)


@pytest.mark.parametrize("stray", ["model.pkl", "encoder/pytorch_model.bin", "report/notes.txt"])
def test_refuses_files_it_did_not_write(tmp_path, stray):
    make_synthetic_bundle(n_items=20, dim=4, n_clusters=2).save(tmp_path)
    (tmp_path / stray).parent.mkdir(exist_ok=True)
    (tmp_path / stray).write_bytes(b"\x80\x04evil")
    with pytest.raises(BundleError, match="did not write"):
        Bundle.load(tmp_path)


def test_refuses_a_flipped_byte(tmp_path):
    make_synthetic_bundle(n_items=20, dim=4, n_clusters=2).save(tmp_path)
    path = tmp_path / "embeddings.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="SHA-256"):
        Bundle.load(tmp_path)


def test_refuses_missing_file_and_non_bundle(tmp_path):
    make_synthetic_bundle(n_items=20, dim=4, n_clusters=2).save(tmp_path / "b")
    (tmp_path / "b" / "items.parquet").unlink()
    with pytest.raises(BundleError, match="missing"):
        Bundle.load(tmp_path / "b")
    with pytest.raises(BundleError, match="training.fit"):
        Bundle.load(tmp_path / "nothing-here")
    with pytest.raises(BundleError, match=r"is a file, not a bundle directory; pass its folder, '.*/b'"):
        Bundle.load(tmp_path / "b" / "config.json")  # the bundle's own config.json: its folder is named
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(BundleError, match=r"is a file, not a bundle directory; pass the folder"):
        Bundle.load(tmp_path / "notes.txt")


def test_save_refuses_to_seal_unknown_files(tmp_path):
    (tmp_path / "weights.pkl").write_bytes(b"x")
    with pytest.raises(BundleError, match="may not hold"):
        make_synthetic_bundle(n_items=20, dim=4, n_clusters=2).save(tmp_path)


def test_a_refused_save_over_a_bundle_leaves_it_loadable(tmp_path):
    # Bundle.save wrote items, embeddings and clusters before its checks: the refusal left a bundle that no longer
    # matched its own manifest (BundleChanged), its pieces lost
    (tmp_path / "b" / "encoder").mkdir(parents=True)  # an older fit's bundle with its encoder/
    (tmp_path / "b" / "encoder" / "config.json").write_text(json.dumps({"type": "cnn", "dim": 32}))
    sealed = make_synthetic_bundle(n_items=40, dim=32, n_clusters=6).save(tmp_path / "b")
    before = Bundle.load(sealed)
    narrower = make_synthetic_bundle(n_items=20, dim=8, n_clusters=2, seed=3)
    with pytest.raises(BundleError, match="encoder/ makes 32-d embeddings but the bundle's are 8-d"):
        narrower.save(sealed)
    (sealed / "notes.txt").write_text("mine")
    with pytest.raises(BundleError, match=r"may not hold: \['notes.txt'\]"):
        make_synthetic_bundle(n_items=20, dim=32, n_clusters=2, seed=3).save(sealed)
    (sealed / "notes.txt").unlink()
    after = Bundle.load(sealed)
    assert after.item_ids == before.item_ids and np.array_equal(after.embeddings, before.embeddings)


def test_a_bundle_needs_at_least_one_piece():
    bundle = make_synthetic_bundle(n_items=20, dim=4, n_clusters=2)
    with pytest.raises(BundleError, match="no rows: a bundle needs at least one piece"):
        Bundle(items=bundle.items.iloc[:0], embeddings=bundle.embeddings[:0], labels=bundle.labels[:0],
               probs=bundle.probs[:0], centroids=bundle.centroids, coords2d=bundle.coords2d[:0])


def test_shape_and_id_checks():
    bundle = make_synthetic_bundle(n_items=20, dim=4, n_clusters=2)
    with pytest.raises(BundleError, match="rows"):
        Bundle(items=bundle.items, embeddings=bundle.embeddings[:5], labels=bundle.labels, probs=bundle.probs,
               centroids=bundle.centroids, coords2d=bundle.coords2d)
    items = bundle.items.copy()
    items.loc[1, "item_id"] = items.loc[0, "item_id"]
    with pytest.raises(BundleError, match="unique"):
        Bundle(items=items, embeddings=bundle.embeddings, labels=bundle.labels, probs=bundle.probs,
               centroids=bundle.centroids, coords2d=bundle.coords2d)


def test_real_bundle_from_fit_loads_and_has_report(sample_bundle_dir, tmp_path):
    bundle = Bundle.load(sample_bundle_dir)
    assert bundle.n_items == 60 and bundle.n_clusters == 6
    assert (sample_bundle_dir / "report" / "metrics.json").is_file()
    assert (sample_bundle_dir / "report" / "confusion_matrix.png").is_file()
    assert (sample_bundle_dir / "encoder" / "model.safetensors").is_file()
    assert "encoder/model.safetensors" in bundle.config["files"]
    thumb = bundle.items["thumbnail"].iloc[0]
    assert thumb[:2] == b"\xff\xd8"  # JPEG
    copy = tmp_path / "copy"
    shutil.copytree(sample_bundle_dir, copy)
    (copy / "encoder" / "model.safetensors").write_bytes(b"tampered")
    with pytest.raises(BundleError):
        Bundle.load(copy)


def _saved(tmp_path):
    bundle = make_synthetic_bundle(n_items=30)
    bundle.save(tmp_path / "b")
    return tmp_path / "b", json.loads((tmp_path / "b" / "config.json").read_text())


@pytest.mark.parametrize("entry", ["../../../../etc/passwd", "/etc/passwd", "report/../../outside.txt",
                                   "./items.parquet", "report//metrics.json"])
def test_manifest_paths_stay_inside_the_bundle(tmp_path, entry):
    """#14 item 2: a manifest naming a file outside the bundle is refused before anything is hashed, so a
    crafted bundle cannot probe local files (the wrong-hash message would tell whether a file has given bytes)."""
    import hashlib

    directory, config = _saved(tmp_path)
    (tmp_path / "outside.txt").write_text("secret")
    target = (directory / entry) if not entry.startswith("/") else __import__("pathlib").Path(entry)
    digest = hashlib.sha256(target.read_bytes()).hexdigest() if target.is_file() else "0" * 64
    config["files"][entry] = digest
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(BundleError, match="not a plain relative path|leads outside"):
        Bundle.load(directory)


def test_links_and_cache_files_are_refused(tmp_path):
    directory, _ = _saved(tmp_path)
    (directory / "report").mkdir(exist_ok=True)
    (directory / "report" / "metrics.json").symlink_to("/etc/hostname")
    with pytest.raises(BundleError, match="symbolic links"):
        Bundle.load(directory)
    (directory / "report" / "metrics.json").unlink()
    (directory / ".cache").mkdir()
    (directory / ".cache" / "model.pkl").write_bytes(b"\x80\x04pickle")
    with pytest.raises(BundleError, match="did not write"):
        Bundle.load(directory)


@pytest.mark.parametrize("text", ["[1, 2]", '{"format_version": 1.0}', '{"format_version": true}'])
def test_config_json_shape_and_version_type(tmp_path, text):
    directory, _ = _saved(tmp_path)
    (directory / "config.json").write_text(text)
    with pytest.raises(BundleError, match="JSON list|format version"):
        Bundle.load(directory)


def test_bundles_that_would_fail_when_served_are_refused_at_load(tmp_path):
    """#14 item 11: shapes, ranges, finiteness and thumbnails are checked when a bundle loads."""
    import pandas as pd
    from safetensors.numpy import load_file, save_file

    good = make_synthetic_bundle(n_items=30)
    with pytest.raises(BundleError, match="labels must lie in"):
        Bundle(items=good.items, embeddings=good.embeddings, labels=good.labels + 100, probs=good.probs,
               centroids=good.centroids, coords2d=good.coords2d)
    with pytest.raises(BundleError, match="embeddings must be 2-D"):
        Bundle(items=good.items, embeddings=good.embeddings[:, :, None], labels=good.labels, probs=good.probs,
               centroids=good.centroids, coords2d=good.coords2d)
    nan = good.embeddings.copy()
    nan[3, 0] = np.nan
    with pytest.raises(BundleError, match="NaN or infinite"):
        Bundle(items=good.items, embeddings=nan, labels=good.labels, probs=good.probs, centroids=good.centroids,
               coords2d=good.coords2d)
    # on disk: a renamed tensor, garbage parquet, a thumbnail that is not an image
    directory, config = _saved(tmp_path / "disk")
    arrays = load_file(directory / "embeddings.safetensors")
    b = Bundle(items=pd.read_parquet(directory / "items.parquet"), embeddings=arrays["embeddings"],
               labels=good.labels, probs=good.probs, centroids=good.centroids, coords2d=good.coords2d, config=config)
    save_file({"vectors": arrays["embeddings"]}, directory / "embeddings.safetensors")
    _reseal(directory)
    with pytest.raises(BundleError, match="no 'embeddings' tensor"):
        Bundle.load(directory)
    b.save(directory)
    (directory / "items.parquet").write_bytes(b"definitely not parquet")
    _reseal(directory)
    with pytest.raises(BundleError, match="not a readable parquet table"):
        Bundle.load(directory)
    b.items = b.items.assign(thumbnail=[b"<html>"] * len(b.items))
    b.save(directory)
    with pytest.raises(BundleError, match="are not JPEG/PNG/WebP images"):
        Bundle.load(directory)


def _reseal(directory):
    """Re-hash the files as they are now (the test edits them after saving)."""
    import hashlib

    config = json.loads((directory / "config.json").read_text())
    config["files"] = {f: hashlib.sha256((directory / f).read_bytes()).hexdigest() for f in config["files"]}
    (directory / "config.json").write_text(json.dumps(config))


def test_resealed_content_that_would_serve_wrong_is_refused_or_normalised(tmp_path, caplog):
    """Content rewritten and the manifest resealed: a table without item_id (checked before the thumbnails that
    read it), string thumbnails, a null id (it loaded as 'nan') and negative probs are refused
    naming the file; embeddings that are not unit length are normalised with a warning, so scores stay cosines, and
    zero rows load with a warning."""
    import logging

    import pandas as pd
    from safetensors.numpy import load_file, save_file

    from jewelrec import Recommender

    def edited(name, table=None, arrays=None):
        directory, _ = _saved(tmp_path / name)
        if table:
            table(pd.read_parquet(directory / "items.parquet")).to_parquet(directory / "items.parquet", index=False)
        for file, change in (arrays or {}).items():
            tensors = load_file(directory / file)
            change(tensors)
            save_file(tensors, directory / file)
        _reseal(directory)
        return directory

    thumbs = lambda t: t.assign(thumbnail=[b"\xff\xd8\xff\xe0" + bytes(8)] * len(t))  # noqa: E731
    cases = [
        (edited("no-id", table=lambda t: thumbs(t).drop(columns=["item_id"])), "no 'item_id' column; columns are"),
        (edited("str-thumbs", table=lambda t: t.assign(thumbnail=["abc"] * len(t))),
         r"items\.parquet: the thumbnail column holds str values .* not image bytes"),
        (edited("null-id", table=lambda t: t.assign(item_id=[None, *t["item_id"][1:]])), r"rows \[0\] have no item_id"),
        (edited("neg-probs", arrays={"clusters.safetensors": lambda a: a.update(probs=a["probs"] - 0.5)}),
         "probs .* must lie in 0..1"),
    ]
    for directory, match in cases:
        with pytest.raises(BundleError, match=match) as refused:
            Bundle.load(directory)
        assert str(directory) in str(refused.value) and "re-" in str(refused.value)
    scaled = edited("x48", arrays={"embeddings.safetensors": lambda a: a.update(embeddings=a["embeddings"] * 48)})
    with caplog.at_level(logging.WARNING):
        bundle = Bundle.load(scaled)
    assert "30 of 30 embeddings are not unit length" in caplog.text and "embeddings.safetensors" in caplog.text
    np.testing.assert_allclose(np.linalg.norm(bundle.embeddings, axis=1), 1.0, atol=1e-5)
    assert all(score <= 1.0 + 1e-5 for _, score in Recommender(bundle).similar(bundle.item_ids[0], k=5))
    # zero rows (a picture the encoder saw nothing in) load, stay zero and score 0: no NaN, nothing refused
    zeroed = edited("zero-rows", arrays={"embeddings.safetensors": lambda a: a.update(
        embeddings=np.concatenate([np.zeros_like(a["embeddings"][:2]), a["embeddings"][2:] * 3]))})
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        bundle = Bundle.load(zeroed)
    assert "the embeddings of 2 items (['it-00000', 'it-00001']) are zero vectors" in caplog.text
    assert not bundle.embeddings[:2].any() and np.isfinite(bundle.embeddings).all()
    np.testing.assert_allclose(np.linalg.norm(bundle.embeddings[2:], axis=1), 1.0, atol=1e-5)
    rec = Recommender(bundle)
    assert all(np.isfinite(score) for _, score in rec.similar("it-00000", k=5))
    assert all(np.isfinite(score) for _, score, _ in rec.recommend({"it-00000": 5, "it-00005": 4}, k=5))


def test_refuses_arrays_that_disagree_with_the_config(tmp_path):
    """Embeddings cut to 64 columns and re-sealed by hand loaded, and search then failed far from the cause
    ('vector must be a (64,) embedding', of a text the caller typed)."""
    make_synthetic_bundle(n_items=40, dim=16).save(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    for key, value in (("embedding_dim", 64), ("n_items", 41)):
        (tmp_path / "config.json").write_text(json.dumps({**config, key: value}))
        with pytest.raises(BundleError, match=rf"records {key}={value} but its arrays hold {key}=(16|40); re-create"):
            Bundle.load(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert Bundle.load(tmp_path).n_items == 40


@pytest.mark.parametrize(("edit", "named"), [
    ({"clustering": None}, "['clustering']"), ({"encoder": "clip"}, "['encoder']"), ({"metrics": [1]}, "['metrics']"),
    ({"dataset": "x", "fit": 3}, "['dataset', 'fit']"), ({"updates": {}}, "['updates']"),
])  # fmt: skip
def test_config_sections_that_are_not_objects_are_refused_at_load(tmp_path, edit, named):
    """config.json is outside the manifest: a hand edit to "clustering": null loaded, then push and update failed
    with an AttributeError traceback in the model card."""
    directory = make_synthetic_bundle(n_items=30).save(tmp_path / "b")
    config = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps(config | edit))
    with pytest.raises(BundleError, match=rf"config.json: sections {re.escape(named)} are .* must be a JSON object"):
        Bundle.load(directory)


def test_a_bundle_saved_over_another_fit_refuses_that_fits_encoder_and_depict(tmp_path):
    # Bundle.save hashes the sub-folders it finds: an older bundle's encoder/ (128-d) and depict/ (3 styles) were
    # sealed into a 32-d, 6-style one, which loaded and then failed every search
    from jewelrec.serving.bundle_files import sha256_file

    bundle = make_synthetic_bundle(n_items=40, dim=32, n_clusters=6)
    for folder, doc, wanted in (
            ("encoder", {"type": "cnn", "dim": 128}, "encoder/ makes 128-d embeddings but the bundle's are 32-d"),
            ("depict", {"format": "jewelrec.depict", "config": {"input_dim": 32, "n_clusters": 3}},
             "depict/ holds 3 styles, the bundle 6"),
            ("depict", {"format": "jewelrec.depict", "config": {"input_dim": 64, "n_clusters": 6}},
             "depict/ was trained on 64-d embeddings")):
        out = tmp_path / f"{folder}-{wanted[:12]}"
        (out / folder).mkdir(parents=True)
        (out / folder / "config.json").write_text(json.dumps(doc))
        with pytest.raises(BundleError, match=re.escape(wanted) + ".*save into an empty folder"):
            bundle.save(out)
    sealed = bundle.save(tmp_path / "sealed")  # a hand edit after sealing is refused at load
    (sealed / "encoder").mkdir()
    (sealed / "encoder" / "config.json").write_text(json.dumps({"type": "catalog-clip", "dim": 128}))
    config = json.loads((sealed / "config.json").read_text())
    config["files"]["encoder/config.json"] = sha256_file(sealed / "encoder" / "config.json")
    (sealed / "config.json").write_text(json.dumps(config))
    with pytest.raises(BundleError, match="encoder/ makes 128-d embeddings"):
        Bundle.load(sealed)
    (sealed / "encoder" / "config.json").write_text(json.dumps({"type": "catalog-clip", "dim": 32}))
    config["files"]["encoder/config.json"] = sha256_file(sealed / "encoder" / "config.json")
    (sealed / "config.json").write_text(json.dumps(config))
    assert Bundle.load(sealed).n_items == 40


def test_rows_far_from_unit_length_are_normalised_not_zeroed(tmp_path):
    # float32 squares of a 1e20-sized row overflow (its norm was inf: the row became all zeros, "similar" to
    # nothing) and those of a 1e-25-sized row underflow (it was called a zero vector)
    bundle = make_synthetic_bundle(n_items=40, dim=32)
    original = bundle.embeddings.copy()
    bundle.embeddings[1] *= np.float32(1e20)
    bundle.embeddings[2] *= np.float32(1e-25)
    loaded = Bundle.load(bundle.save(tmp_path / "b"))
    np.testing.assert_allclose(np.linalg.norm(loaded.embeddings, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(loaded.embeddings[[1, 2]], original[[1, 2]], atol=1e-5)


def test_a_recorded_index_whose_file_was_removed_is_rebuilt_and_other_odd_bundles_named(tmp_path, caplog):
    from jewelrec.serving.index import VectorIndex
    from jewelrec.serving.recommender import Recommender
    from jewelrec.serving.stored_index import stale_reason

    bundle = make_synthetic_bundle(n_items=3000, dim=16)
    index = VectorIndex(bundle.embeddings, exact_limit=100)
    path = bundle.save(tmp_path / "b", index=index)
    (path / "index.faiss").unlink()  # removed and the manifest re-sealed by hand: the record stays
    config = json.loads((path / "config.json").read_text())
    del config["files"]["index.faiss"]
    (path / "config.json").write_text(json.dumps(config))
    loaded = Bundle.load(path)
    assert stale_reason(loaded) == "config.json records index.faiss but the bundle holds no such file"
    assert len(Recommender(loaded).similar(loaded.item_ids[0], k=3)) == 3  # was "cannot read index.faiss"
    config["n_items"] = "3000"  # the message read "records n_items=3000 but its arrays hold n_items=3000"
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(BundleError, match=r"records n_items='3000' but its arrays hold n_items=3000"):
        Bundle.load(path)
    with pytest.raises(BundleError, match=r"embeddings have no columns \(shape \(40, 0\)\)"):
        small = make_synthetic_bundle(n_items=40)
        Bundle(items=small.items, embeddings=np.zeros((40, 0), np.float32), labels=small.labels, probs=small.probs,
               centroids=small.centroids, coords2d=small.coords2d)


def test_nearest_takes_one_embedding_only():
    from jewelrec.serving.recommender import Recommender

    rec = Recommender(make_synthetic_bundle(n_items=40, dim=32))
    assert len(rec.nearest(rec.embeddings[0][None, :], k=3)) == 3
    with pytest.raises(ValueError, match=r"vector must be a \(32,\) embedding.*got shape \(2, 16\)"):
        rec.nearest(rec.embeddings[0].reshape(2, 16), k=3)  # 32 numbers, not one embedding: it was searched
