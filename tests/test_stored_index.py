"""The bundle's prebuilt search index: stored at save, loaded instead of trained, refused when tampered with,
rebuilt when stale, absent from small and old bundles."""

from __future__ import annotations

import hashlib
import json
import logging

import faiss
import numpy as np
import pytest

from jewelrec.serving.bundle import INDEX_NAME, Bundle, BundleError
from jewelrec.serving.index import VectorIndex
from jewelrec.serving.recommender import Recommender, RecommenderConfig
from jewelrec.serving.stored_index import load_search_index
from tests.conftest import make_synthetic_bundle

N = 3000  # above FLAT_LIMIT, so the index has an IVF worth storing
IVF_ONLY = RecommenderConfig(exact_limit=0)  # `similar` answered by the IVF, as above EXACT_LIMIT


@pytest.fixture(scope="module")
def indexed_dir(tmp_path_factory):
    bundle = make_synthetic_bundle(n_items=N, dim=16, n_clusters=6)
    return bundle.save(tmp_path_factory.mktemp("indexed") / "bundle", index=VectorIndex(bundle.embeddings,
                                                                                          exact_limit=0))


@pytest.fixture
def indexed_copy(indexed_dir, tmp_path):
    import shutil

    return shutil.copytree(indexed_dir, tmp_path / "bundle")


def _no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the index was trained although the bundle stores one")

    monkeypatch.setattr(faiss.IndexIVFScalarQuantizer, "train", refuse)


def _reseal(directory) -> None:
    config = json.loads((directory / "config.json").read_text())
    config["files"] = {f: hashlib.sha256((directory / f).read_bytes()).hexdigest() for f in config["files"]}
    (directory / "config.json").write_text(json.dumps(config))


def test_the_stored_index_is_recorded_in_the_manifest_and_config(indexed_dir):
    config = json.loads((indexed_dir / "config.json").read_text())
    assert config["format_version"] == 2
    assert config["files"][INDEX_NAME] == hashlib.sha256((indexed_dir / INDEX_NAME).read_bytes()).hexdigest()
    record = config["index"]
    assert {k: record[k] for k in ("type", "metric", "n", "d", "nlist", "nprobe", "file")} == {
        "type": "IVF-SQ8", "metric": "inner_product", "n": N, "d": 16, "nlist": int(np.sqrt(N)), "nprobe": 16,
        "file": INDEX_NAME}
    assert record["embeddings_sha256"] == config["files"]["embeddings.safetensors"]


def test_the_recommender_loads_the_stored_index_and_answers_as_a_freshly_trained_one(indexed_dir, monkeypatch):
    bundle = Bundle.load(indexed_dir)
    fresh = Recommender(Bundle(items=bundle.items, embeddings=bundle.embeddings, labels=bundle.labels,
                               probs=bundle.probs, centroids=bundle.centroids, coords2d=bundle.coords2d),
                        config=IVF_ONLY)  # in memory, no path: trained here, as every start did before
    assert fresh.index.origin == "built"
    _no_training(monkeypatch)
    served = Recommender(bundle, config=IVF_ONLY)
    assert served.index.origin == "stored" and not served.index.exact
    assert (served.index.nlist, served.index.nprobe) == (fresh.index.nlist, fresh.index.nprobe)
    ids = bundle.item_ids
    for item in ids[::250]:
        assert served.similar(item, k=10) == fresh.similar(item, k=10)
    ratings = {ids[0]: 5, ids[7]: 4, ids[11]: 1, ids[2900]: 5}
    assert served.recommend(ratings, k=10) == fresh.recommend(ratings, k=10)
    assert Recommender(bundle).index.exact  # below EXACT_LIMIT `similar` stays exact, the stored IVF beside it


def test_a_tampered_index_file_is_refused_naming_the_fix(indexed_copy):
    path = indexed_copy / INDEX_NAME
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit inside the codes
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"\['index.faiss'\] differ from the SHA-256.*fetch/re-create"):
        Bundle.load(indexed_copy)


def test_an_index_changed_after_load_is_refused_before_faiss_reads_it(indexed_copy, monkeypatch):
    bundle = Bundle.load(indexed_copy)
    (indexed_copy / INDEX_NAME).write_bytes(b"\x00" * 64)

    def never(*args, **kwargs):
        raise AssertionError("FAISS was handed bytes that fail the manifest")

    monkeypatch.setattr(faiss, "deserialize_index", never)
    with pytest.raises(BundleError, match="index.faiss differs from the SHA-256.*re-create it with training.fit"):
        Recommender(bundle)


@pytest.mark.parametrize("replacement", ["flat", "garbage", "other-ivf"])
def test_a_resealed_foreign_index_is_refused(indexed_copy, replacement):
    bundle = Bundle.load(indexed_copy)
    if replacement == "flat":
        flat = faiss.IndexFlatIP(16)
        flat.add(bundle.embeddings)
        data = faiss.serialize_index(flat).tobytes()
    elif replacement == "garbage":
        data = b"\x80\x04\x95 pickled? no" * 10
    else:  # an IVF over other vectors of the same shape but fewer rows
        other = VectorIndex(bundle.embeddings[:2500].copy(), exact_limit=0)
        other.write(indexed_copy / INDEX_NAME)
        data = (indexed_copy / INDEX_NAME).read_bytes()
    (indexed_copy / INDEX_NAME).write_bytes(data)
    _reseal(indexed_copy)  # past the hash check: what the record says is checked against the file itself
    with pytest.raises(BundleError, match="index.faiss is not the index its record in config.json describes"):
        Recommender(Bundle.load(indexed_copy))


def test_a_stale_index_is_trained_again_with_a_warning(indexed_copy, caplog):
    bundle = Bundle.load(indexed_copy)
    bundle.embeddings = np.ascontiguousarray(bundle.embeddings[::-1])  # other embeddings, same shape
    bundle.save(indexed_copy)  # index.faiss and its record kept, but the record names the old embeddings file
    reloaded = Bundle.load(indexed_copy)
    with caplog.at_level(logging.WARNING, logger="jewelrec.serving.stored_index"):
        rec = Recommender(reloaded, config=IVF_ONLY)
    assert rec.index.origin == "built"
    assert "built from other embeddings" in caplog.text and "re-run training.fit" in caplog.text
    fresh = VectorIndex(reloaded.embeddings, exact_limit=0)
    for got, want in zip(rec.index.search(reloaded.embeddings[:20], 10), fresh.search(reloaded.embeddings[:20], 10)):
        np.testing.assert_array_equal(got, want)


def test_embeddings_changed_in_memory_or_cut_down_are_not_searched_with_the_stored_index(indexed_dir, caplog):
    bundle = Bundle.load(indexed_dir)
    bundle.embeddings = np.ascontiguousarray(np.roll(bundle.embeddings, 1, axis=0))  # same file, other rows
    with caplog.at_level(logging.WARNING, logger="jewelrec.serving.stored_index"):
        assert load_search_index(bundle).origin == "built"
    assert "do not decode to these embeddings" in caplog.text
    from jewelrec.evaluation.models.shipped import restrict

    cut = restrict(Bundle.load(indexed_dir), np.arange(0, N, 2))  # keeps config and path, as the evaluator does
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="jewelrec.serving.stored_index"):
        assert load_search_index(cut).origin == "built"
    assert f"built for {N} x 16 embeddings and this bundle has {N // 2} x 16" in caplog.text
    assert all(r.levelno == logging.INFO for r in caplog.records)  # a legitimate copy, not a warning per fold


def test_old_and_small_bundles_store_no_index_and_still_load(tmp_path, caplog):
    old = make_synthetic_bundle(n_items=N, dim=16, n_clusters=6).save(tmp_path / "old")  # as before: no index
    config = json.loads((old / "config.json").read_text())
    assert config["format_version"] == 1 and "index" not in config and not (old / INDEX_NAME).exists()
    small = make_synthetic_bundle(n_items=500, dim=16, n_clusters=6)
    small.save(tmp_path / "small", index=VectorIndex(small.embeddings))  # flat only: nothing worth storing
    assert not (tmp_path / "small" / INDEX_NAME).exists()
    assert "index" not in json.loads((tmp_path / "small" / "config.json").read_text())
    with caplog.at_level(logging.WARNING, logger="jewelrec.serving.stored_index"):
        for directory in (old, tmp_path / "small"):
            rec = Recommender(Bundle.load(directory))
            assert rec.index.origin == "built" and rec.similar(rec.bundle.item_ids[0], k=3)
    assert caplog.text == ""  # no index is not a stale index


def test_save_refuses_an_index_it_cannot_vouch_for(indexed_copy, tmp_path):
    bundle = make_synthetic_bundle(n_items=N, dim=16, n_clusters=6)
    other = VectorIndex(make_synthetic_bundle(n_items=N, dim=16, n_clusters=6, seed=1).embeddings, exact_limit=0)
    with pytest.raises(BundleError, match="built from other embeddings than this bundle's"):
        bundle.save(tmp_path / "b", index=other)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / INDEX_NAME).write_bytes((indexed_copy / INDEX_NAME).read_bytes())  # a file with no record
    with pytest.raises(BundleError, match="holds index.faiss but the bundle has no record"):
        bundle.save(tmp_path / "c")


def test_a_save_refused_for_a_stored_index_leaves_the_bundle_there_loadable(indexed_copy):
    # the refusal came after items, embeddings and clusters were overwritten: the old bundle failed its hashes
    before = Bundle.load(indexed_copy)
    stranger = make_synthetic_bundle(n_items=50, dim=16, n_clusters=3, seed=2)  # no record of index.faiss
    with pytest.raises(BundleError, match="holds index.faiss but the bundle has no record"):
        stranger.save(indexed_copy)
    after = Bundle.load(indexed_copy)
    assert after.item_ids == before.item_ids and np.array_equal(after.embeddings, before.embeddings)
