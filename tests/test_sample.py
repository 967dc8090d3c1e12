"""The embedded sample catalog: deterministic pixels, a datasets-readable parquet, a cache, visible labels."""

from __future__ import annotations

import hashlib
import io
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from jewelrec import sample
from jewelrec.catalog.sample import CATEGORIES, GEMSTONES, METALS, build_sample, plan_sample, render_item


def _png_hash(image: Image.Image) -> str:
    return hashlib.sha256(image.tobytes()).hexdigest()


def _load(path, tmp_path):
    import datasets

    return datasets.load_dataset("parquet", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One small catalog shared by the read-only tests: (parquet path, loaded dataset)."""
    folder = tmp_path_factory.mktemp("sample")
    path = build_sample(30, seed=3, cache_dir=folder, progress=False)
    return path, _load(path, folder)


def test_render_is_deterministic_per_seed():
    first = render_item("ring", "gold", "ruby", seed=11)
    again = render_item("ring", "gold", "ruby", seed=11)
    other = render_item("ring", "gold", "ruby", seed=12)
    assert first.size == (224, 224) and first.mode == "RGB"
    assert _png_hash(first) == _png_hash(again)
    assert _png_hash(first) != _png_hash(other)


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_draws_something_on_a_light_backdrop(category):
    pixels = np.asarray(render_item(category, "silver", "sapphire", seed=5, size=96), np.float32)  # (96, 96, 3)
    corners = np.concatenate([pixels[:6, :6], pixels[:6, -6:], pixels[-6:, :6], pixels[-6:, -6:]]).reshape(-1, 3)
    assert corners.mean() > 200, "the studio backdrop should be light"
    assert (np.abs(pixels - corners.mean(axis=0)).sum(axis=-1) > 60).mean() > 0.01, "no piece was drawn"


def test_built_catalog_schema_through_datasets(built):
    import datasets

    _, ds = built
    assert ds.num_rows == 30
    assert ds.column_names == ["item_id", "image", "name", "category", "metal", "gemstone", "price"]
    assert isinstance(ds.features["image"], datasets.Image)
    assert ds.features["price"].dtype == "float64"
    for column in ("item_id", "name", "category", "metal", "gemstone"):
        assert ds.features[column].dtype == "string"
    rows = ds.select_columns(["item_id", "name", "category", "metal", "gemstone", "price"]).to_list()
    assert [r["item_id"] for r in rows] == [f"jw-{i:04d}" for i in range(1, 31)]
    assert set(r["category"] for r in rows) == set(CATEGORIES)
    assert all(r["metal"] in METALS and r["gemstone"] in GEMSTONES for r in rows)
    assert all(r["category"] in r["name"] or r["category"] == "bracelet" for r in rows)
    assert all(r["price"] > 0 and r["price"] == round(r["price"]) for r in rows)
    for image in ds["image"][:5]:
        assert image.size == (224, 224) and image.mode == "RGB"
        assert image.format == "JPEG"


def test_images_are_jpeg_bytes_undecoded(built):
    import datasets

    _, ds = built
    raw = ds.cast_column("image", datasets.Image(decode=False))[0]["image"]
    assert raw["bytes"][:2] == b"\xff\xd8"  # JPEG magic
    with Image.open(io.BytesIO(raw["bytes"])) as image:
        image.load()  # decodes fully: not truncated
        assert image.size == (224, 224)


def test_same_seed_same_catalog_other_seed_differs(tmp_path, built):
    path, ds = built
    again = build_sample(30, seed=3, cache_dir=tmp_path / "again", progress=False)
    assert again != path
    ds_again = _load(again, tmp_path)
    hashes = [_png_hash(im) for im in ds["image"]]
    assert hashes == [_png_hash(im) for im in ds_again["image"]]
    assert ds.remove_columns("image").to_list() == ds_again.remove_columns("image").to_list()
    other = _load(build_sample(30, seed=4, cache_dir=tmp_path / "other", progress=False), tmp_path)
    assert [_png_hash(im) for im in other["image"]] != hashes


def test_second_call_is_a_cache_hit(tmp_path, monkeypatch):
    path = build_sample(12, seed=0, size=48, cache_dir=tmp_path, progress=False)
    stamp = path.stat().st_mtime_ns

    def no_drawing(*args, **kwargs):
        raise AssertionError("a cache hit must not draw")

    monkeypatch.setattr(sample, "render_item", no_drawing)
    assert build_sample(12, seed=0, size=48, cache_dir=tmp_path, progress=False) == path
    assert path.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind
    with pytest.raises(AssertionError, match="must not draw"):  # a different key does draw
        build_sample(13, seed=0, size=48, cache_dir=tmp_path, progress=False)


def test_default_cache_dir_honours_jewelrec_home(tmp_path, monkeypatch):
    monkeypatch.setenv("JEWELREC_HOME", str(tmp_path))
    path = build_sample(10, seed=1, size=32, progress=False)
    assert path.parent == tmp_path / "sample"
    assert f"v{sample.SAMPLE_VERSION}" in path.name


@pytest.mark.parametrize(
    ("call", "hint"),
    [
        (lambda: build_sample(5), "n_items >= 10"),
        (lambda: build_sample(20, size=16), "size >= 32"),
        (lambda: render_item("ring", "gold", "none", seed=0, size=8), "size >= 32"),
        (lambda: render_item("tiara", "gold", "none", seed=0), "choose one of"),
        (lambda: render_item("ring", "bronze", "none", seed=0), "choose one of"),
        (lambda: render_item("ring", "gold", "opal", seed=0), "choose one of"),
    ],
)
def test_bad_arguments_name_the_fix(call, hint):
    with pytest.raises(ValueError, match=hint):
        call()


def test_plan_is_balanced_and_plausible():
    rows = plan_sample(720, seed=0)
    counts = Counter(r["category"] for r in rows)
    assert set(counts) == set(CATEGORIES) and max(counts.values()) - min(counts.values()) <= 1
    pearl_metals = Counter(r["metal"] for r in rows if r["gemstone"] == "pearl")
    assert (pearl_metals["gold"] + pearl_metals["silver"]) / sum(pearl_metals.values()) > 0.65

    def median(metal, gemstone):
        return np.median([r["price"] for r in rows if r["metal"] == metal and r["gemstone"] == gemstone])

    assert median("platinum", "diamond") > median("gold", "none") > median("silver", "none")
    assert median("silver", "diamond") > median("silver", "pearl") > median("silver", "none")
    assert all(r["price"] % 10 in (0, 9) for r in rows), "prices end like a shop's: 249, 1290"
    assert len(set(r["item_id"] for r in rows)) == 720


def test_labels_are_visible_to_a_simple_model():
    """Category from 32x32 grey pixels, metal from a colour histogram, with logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rows = plan_sample(120, seed=7)
    images = [render_item(r["category"], r["metal"], r["gemstone"], seed=r["seed"], size=64) for r in rows]
    pixels = np.stack([np.asarray(im.convert("L").resize((32, 32), Image.Resampling.BOX), np.float32).ravel()
                       for im in images]) / 255  # (120, 1024)

    def colours(image: Image.Image) -> np.ndarray:
        hsv = np.asarray(image.convert("HSV"), np.float32) / 255  # (64, 64, 3)
        tinted = hsv[..., 1] > 0.12  # the backdrop is nearly grey
        hue = np.histogram(hsv[..., 0][tinted], bins=12, range=(0, 1))[0]
        sat = np.histogram(hsv[..., 1][tinted], bins=6, range=(0, 1))[0]
        val = np.histogram(hsv[..., 2][hsv[..., 2] < 0.85], bins=6, range=(0, 1))[0]
        counts = np.concatenate([hue, sat, val]).astype(np.float32)
        return counts / max(1.0, counts.sum())

    hist = np.stack([colours(im) for im in images])  # (120, 24)
    scores = {}
    for name, features in (("category", pixels), ("metal", hist)):
        labels = np.array([r[name] for r in rows])
        x_train, x_test, y_train, y_test = train_test_split(features, labels, test_size=0.33, random_state=0,
                                                            stratify=labels)
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1)).fit(x_train, y_train)
        scores[name] = model.score(x_test, y_test)
    assert scores["category"] > 0.8, scores  # chance is 1/6
    assert scores["metal"] > 0.5, scores  # chance is 1/4; silver and platinum are alike, as in a shop
