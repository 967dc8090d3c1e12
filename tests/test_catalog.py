import io
import struct
import warnings

import datasets
import pandas as pd
import pytest
from PIL import Image

from jewelrec.catalog import load_catalog, validate_image


def jpeg(color=(200, 150, 100), size=(40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG")
    return out.getvalue()


def png(size=(20, 20)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(out, format="PNG")
    return out.getvalue()


def test_validate_image_reasons(monkeypatch):
    good = jpeg()
    assert validate_image(good) is None
    assert validate_image(png()) is None
    assert validate_image(b"") == "empty_file"
    assert validate_image(None) == "missing_image"
    assert validate_image(b"not an image at all") == "undecodable"
    assert validate_image(good[: len(good) // 2]) == "truncated"
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, format="PDF")
    assert validate_image(out.getvalue()) in {"undecodable", "unsupported_format"}
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 40x30 = 1200 px is now a "bomb" to Pillow
    assert validate_image(good) == "decompression_bomb"



def test_a_file_that_passes_validation_decodes_for_the_encoders():
    """A two-picture TIFF whose second picture has lost its size: the first frame loads, but counting the frames
    (which the encoders' to_rgb does) raises TypeError inside Pillow. Found by tests/test_fuzz.py."""
    out = io.BytesIO()
    Image.new("RGB", (23, 17), 120).save(out, format="TIFF", save_all=True, append_images=[Image.new("RGB", (23, 17))])
    data = bytearray(out.getvalue())
    first = struct.unpack("<I", data[4:8])[0]
    tags = struct.unpack("<H", data[first:first + 2])[0]
    second = struct.unpack("<I", data[first + 2 + 12 * tags:first + 6 + 12 * tags])[0]
    for i in range(struct.unpack("<H", data[second:second + 2])[0]):
        at = second + 2 + 12 * i
        if struct.unpack("<H", data[at:at + 2])[0] in (256, 257):  # ImageWidth, ImageLength → an unknown tag
            data[at:at + 2] = struct.pack("<H", 65000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about the corrupt directory on its way
        assert validate_image(bytes(data)) == "undecodable"
        assert validate_image(out.getvalue()) is None  # the intact two-picture TIFF still passes

def write_parquet(path, rows):
    ds = datasets.Dataset.from_dict(rows).cast_column("image", datasets.Image())
    ds.to_parquet(str(path))


def test_parquet_with_bad_rows_skips_and_counts(tmp_path):
    good = jpeg()
    rows = {
        "sku": ["a", "b", "c", "d", "e", "a"],
        "image": [{"bytes": good, "path": None}, {"bytes": good[:300], "path": None},
                  {"bytes": b"junk", "path": None}, {"bytes": png(), "path": None},
                  {"bytes": b"", "path": "x.jpg"}, {"bytes": good, "path": None}],
        "category": ["ring", "ring", "necklace", "necklace", "ring", "ring"],
    }
    write_parquet(tmp_path / "cat.parquet", rows)
    catalog = load_catalog(tmp_path / "cat.parquet")
    assert catalog.item_ids == ["a", "d"]
    assert catalog.skipped == {"truncated": 1, "undecodable": 1, "empty_file": 1, "duplicate_id": 1}
    assert catalog.n_rows_read == 6
    assert list(catalog.metadata().columns) == ["item_id", "category"]
    assert catalog.images[0] == good


def test_imagefolder_labels_and_stable_hash_ids(tmp_path):
    for label, color in [("ring", (250, 200, 0)), ("necklace", (100, 100, 100))]:
        (tmp_path / label).mkdir()
        for i in range(3):
            (tmp_path / label / f"{i}.jpg").write_bytes(jpeg((color[0], color[1], i * 40)))
    (tmp_path / "ring" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    catalog = load_catalog(tmp_path)
    assert len(catalog) == 6 and catalog.skipped == {"undecodable": 1}
    meta = catalog.metadata()
    assert sorted(meta["label"].unique()) == ["necklace", "ring"]
    assert catalog.label_column("category") == "label"
    assert all(i.startswith("img-") for i in catalog.item_ids)
    assert load_catalog(tmp_path).item_ids == catalog.item_ids


def test_a_picture_beside_the_class_folders_is_named_not_left_to_drop_every_label(tmp_path):
    """`datasets` reads folder names as labels only when all images sit at one depth: one stray photo at the top
    dropped every label, and the fit then scored its styles against the file names."""
    for label in ("ring", "necklace"):
        (tmp_path / "photos" / label).mkdir(parents=True)
        for i in range(3):
            (tmp_path / "photos" / label / f"{i}.jpg").write_bytes(jpeg((40 * i, 100, 100)))
    (tmp_path / "photos" / "cover.jpg").write_bytes(jpeg())
    with pytest.raises(ValueError, match=r"has 1 image\(s\) directly in it \(e.g. 'cover.jpg'\) beside 6 in deeper "
                                         r"class folders.*move those images into a class folder"):
        load_catalog(tmp_path / "photos")
    (tmp_path / "photos" / "cover.jpg").unlink()
    assert sorted(load_catalog(tmp_path / "photos").metadata()["label"].unique()) == ["necklace", "ring"]
    flat = tmp_path / "flat"  # one depth, no classes: nothing to lose
    flat.mkdir()
    for i in range(3):
        (flat / f"{i}.jpg").write_bytes(jpeg((40 * i, 10, 10)))
    assert len(load_catalog(flat)) == 3


def test_columns_named_like_the_catalogs_own_are_refused_or_dropped_when_they_are_pictures(tmp_path, caplog):
    """A text column called 'image' beside a 'photo' image column crashed with a length error; a 'thumbnail' column
    was silently overwritten by the bundle's thumbnails. A second picture column is dropped with a note."""
    pictures = [{"bytes": jpeg((30 * i, 10, 10)), "path": None} for i in range(3)]
    datasets.Dataset.from_dict({"photo": pictures, "image": ["front", "side", "top"], "category": ["r"] * 3}).cast_column(
        "photo", datasets.Image()).to_parquet(str(tmp_path / "a.parquet"))
    with pytest.raises(ValueError, match=r"column named 'image' beside its image column 'photo'.*rename it in the "
                                         r"dataset \(e.g. to 'image_info'\), or pass --image-column image"):
        load_catalog(tmp_path / "a.parquet", image_column="photo")
    write_parquet(tmp_path / "a.parquet", {"image": pictures, "thumbnail": ["s.jpg"] * 3, "category": ["r"] * 3})
    with pytest.raises(ValueError, match=r"column named 'thumbnail'"):
        load_catalog(tmp_path / "a.parquet")
    write_parquet(tmp_path / "a.parquet", {"image": pictures, "thumbnail": pictures, "category": ["r"] * 3})
    catalog = load_catalog(tmp_path / "a.parquet")
    assert "thumbnail" not in catalog.metadata().columns and len(catalog) == 3
    assert "['thumbnail'] hold pictures beside the image column 'image' and are not kept" in caplog.text


def test_parquet_files_with_different_columns_are_named(tmp_path, sample_bundle_dir):
    """`datasets` stopped with a CastError traceback; a bundle kept inside the dataset folder (its items.parquet
    read as part of the catalog) is the usual cause, and is said so."""
    import shutil

    write_parquet(tmp_path / "a.parquet", {"image": [{"bytes": jpeg(), "path": None}], "category": ["ring"]})
    write_parquet(tmp_path / "b.parquet", {"image": [{"bytes": png(), "path": None}], "category": ["ring"],
                                           "price": [3.0]})
    with pytest.raises(ValueError, match=r"different columns: .*b.parquet adds \['price'\] against .*a.parquet; give "
                                         r"every file the same columns"):
        load_catalog(tmp_path)
    (tmp_path / "b.parquet").unlink()
    (tmp_path / "new").mkdir()
    (tmp_path / "a.parquet").rename(tmp_path / "new" / "a.parquet")
    shutil.copytree(sample_bundle_dir, tmp_path / "old-bundle")
    with pytest.raises(ValueError, match=r"belongs to the jewelrec bundle .*old-bundle: keep bundles outside"):
        load_catalog(str(tmp_path / "*" / "*.parquet"))  # a glob reaching into the bundle


def test_a_bundle_inside_an_image_folder_is_refused(tmp_path, sample_bundle_dir, caplog):
    """A bundle copied into the image folder made the next fit read its items.parquet (the last fit's 128-px
    thumbnails, and only the items it knew) as the catalog, and ignore every picture beside it."""
    import shutil

    for label in ("ring", "necklace"):
        (tmp_path / "shop" / label).mkdir(parents=True)
        for i in range(3):
            (tmp_path / "shop" / label / f"{i}.jpg").write_bytes(jpeg((40 * i, 100, 100)))
    assert len(load_catalog(tmp_path / "shop")) == 6
    shutil.copytree(sample_bundle_dir, tmp_path / "shop" / "backup" / "old-bundle")
    with pytest.raises(ValueError, match=r"holds the jewelrec bundle .*old-bundle: its thumbnails and report would "
                                         r"be read as catalog items; move the bundle out of the dataset folder"):
        load_catalog(tmp_path / "shop")
    assert (tmp_path / "shop" / "backup" / "old-bundle" / "items.parquet").exists()
    shutil.rmtree(tmp_path / "shop" / "backup")
    write_parquet(tmp_path / "shop" / "notes.parquet", {"image": [{"bytes": png(), "path": None}],
                                                        "category": ["ring"]})
    with caplog.at_level("WARNING"):
        assert len(load_catalog(tmp_path / "shop")) == 1
    assert "holds parquet file(s) (notes.parquet) and 6 picture(s): it is read as a parquet catalog" in caplog.text


def test_a_metadata_file_that_leaves_pictures_out_says_so(tmp_path, caplog):
    """metadata.csv listing 2 of 6 pictures made a 2-item catalog with nothing skipped; the folder labels it drops
    went unmentioned."""
    for label in ("ring", "necklace"):
        (tmp_path / label).mkdir()
        for i in range(3):
            (tmp_path / label / f"{i}.jpg").write_bytes(jpeg((40 * i, 100, 100)))
    (tmp_path / "metadata.csv").write_text("file_name,category\nring/0.jpg,ring\nnecklace/0.jpg,necklace\n")
    catalog = load_catalog(tmp_path)
    assert len(catalog) == 2 and sorted(catalog.metadata()["category"]) == ["necklace", "ring"]
    assert "metadata.csv lists 2 of its 6 pictures; the other 4 are not read" in caplog.text
    assert "folder names are not labels" in caplog.text


def test_an_absolute_glob_finds_its_parquet_files(tmp_path):
    write_parquet(tmp_path / "a.parquet", {"image": [{"bytes": jpeg(), "path": None}], "category": ["ring"]})
    write_parquet(tmp_path / "b.parquet", {"image": [{"bytes": png(), "path": None}], "category": ["ring"]})
    assert len(load_catalog(f"{tmp_path}/*.parquet")) == 2


def test_imagefolder_items_are_named_by_their_files_and_show_their_label(tmp_path):
    """#15: an image folder has no names; its items read "gold band 02" (the file), not "img-18c4…", and the
    Space's cards say the folder's label."""
    from conftest import make_synthetic_bundle

    from jewelrec.serving.bundle import Bundle
    from jewelrec.serving.naming import item_names
    from jewelrec.space import SpaceService
    from jewelrec.space.ratings import RatingStore

    for label, stem in (("rings", "gold_band"), ("chains", "rope-chain")):
        (tmp_path / label).mkdir()
        for i in range(3):
            (tmp_path / label / f"{stem}-0{i}.jpg").write_bytes(jpeg((250, 200 if stem == "rope-chain" else 90, i * 40)))
    meta = load_catalog(tmp_path).metadata().sort_values("name", ignore_index=True)
    assert meta["name"].tolist() == ["gold band 00", "gold band 01", "gold band 02", "rope chain 00", "rope chain 01",
                                     "rope chain 02"]
    assert item_names(meta) == meta["name"].tolist()
    fake = make_synthetic_bundle(n_items=6, n_clusters=2)
    bundle = Bundle(items=meta, embeddings=fake.embeddings, labels=fake.labels, probs=fake.probs,
                    centroids=fake.centroids, coords2d=fake.coords2d, config=fake.config)
    service = SpaceService.start(bundle, {"notice": "t"}, RatingStore(tmp_path / "r.db"))
    assert service.names[0] == "gold band 00" and service.details(0) == "rings"
    assert service.names[5] == "rope chain 02" and service.details(5) == "chains"


def test_path_column_and_duplicate_pictures(tmp_path):
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "a.jpg").write_bytes(jpeg())
    ds = datasets.Dataset.from_dict({"file": ["pics/a.jpg", "pics/a.jpg", "pics/missing.jpg"], "price": [1, 2, 3]})
    ds.to_parquet(str(tmp_path / "items.parquet"))
    catalog = load_catalog(tmp_path / "items.parquet")
    assert len(catalog) == 2 and catalog.skipped == {"missing_image": 1}
    assert catalog.item_ids[1] == catalog.item_ids[0] + "-2"


@pytest.mark.parametrize("source, match", [
    ("no/such/place.parquet", "no such file"),
    ("justaword", "unknown dataset source"),
])
def test_unknown_sources_name_the_fix(source, match):
    with pytest.raises(ValueError, match=match):
        load_catalog(source)


def test_no_image_column_and_empty(tmp_path):
    datasets.Dataset.from_dict({"name": ["x", "y"], "price": [1.0, 2.0]}).to_parquet(str(tmp_path / "a.parquet"))
    with pytest.raises(ValueError, match="no image column; columns are"):
        load_catalog(tmp_path / "a.parquet")
    (tmp_path / "b.txt").write_text("x")
    with pytest.raises(ValueError, match="must be .parquet"):
        load_catalog(tmp_path / "b.txt")
    write_parquet(tmp_path / "bad.parquet", {"image": [{"bytes": b"junk", "path": None}]})
    with pytest.raises(ValueError, match="no decodable image"):
        load_catalog(tmp_path / "bad.parquet")


def test_sample_source_loads_through_datasets():
    catalog = load_catalog("sample", sample_items=24)
    assert len(catalog) == 24 and catalog.skipped == {}
    assert {"name", "category", "metal", "gemstone", "price"} <= set(catalog.metadata().columns)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert validate_image(catalog.images[0]) is None


def test_image_paths_outside_the_dataset_are_skipped_unless_allowed(tmp_path):
    """#14 item 3: a parquet row {"bytes": null, "path": "/etc/..."} or "../secret.jpg" must not read (and ship as
    a thumbnail) a file outside the dataset's folder."""
    folder = tmp_path / "shop"
    (folder / "img").mkdir(parents=True)
    (folder / "img" / "inside.jpg").write_bytes(jpeg((10, 200, 10)))
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(jpeg((200, 10, 10)))
    rows = {"sku": ["in", "abs", "up"],
            "image": [{"bytes": None, "path": "img/inside.jpg"}, {"bytes": None, "path": str(secret)},
                      {"bytes": None, "path": "../secret.jpg"}]}
    datasets.Dataset.from_dict(rows).to_parquet(str(folder / "cat.parquet"))
    catalog = load_catalog(folder / "cat.parquet")
    assert catalog.item_ids == ["in"] and catalog.skipped == {"path_outside_dataset": 2}
    opted_in = load_catalog(folder / "cat.parquet", allow_external_paths=True)
    assert opted_in.item_ids == ["in", "abs", "up"]


@pytest.mark.parametrize("limit", [0, -5])
def test_a_limit_that_reads_no_rows_is_refused(limit):
    with pytest.raises(ValueError, match=f"limit {limit} would read no rows; give a number of rows >= 1"):
        load_catalog("sample", sample_items=12, limit=limit)


def test_an_id_column_asked_for_must_exist(tmp_path):
    write_parquet(tmp_path / "cat.parquet", {"sku": ["a", "b"], "image": [{"bytes": jpeg(), "path": None}] * 2,
                                             "category": ["ring", "ring"]})
    with pytest.raises(ValueError, match=r"id column 'nope' is not in dataset .*columns are \['sku', 'image', "
                                         r"'category'\]"):
        load_catalog(tmp_path / "cat.parquet", id_column="nope")
    with pytest.raises(ValueError, match="is the image column"):
        load_catalog(tmp_path / "cat.parquet", id_column="image")
    assert load_catalog(tmp_path / "cat.parquet", id_column="category").skipped == {"duplicate_id": 1}


def test_blank_or_nan_ids_are_no_ids_and_the_picture_names_the_row(tmp_path):
    """An empty, blank or NaN id (a spreadsheet's gaps) made an item with an empty id, which the bundle then
    refused to load — after the whole fit. Such a row is named by its picture, as a null id is. The gaps make an
    integer column float: its ids still read '1', '3', not '1.0' (which no later --remove 1 or update matches)."""
    pictures = [jpeg(color=(10 * i, 100, 100)) for i in range(5)]
    for ids in (["a", "", "  ", None, "e"], [1.0, float("nan"), 3.0, float("nan"), 5.0]):
        write_parquet(tmp_path / "cat.parquet", {"sku": ids, "image": [{"bytes": b, "path": None} for b in pictures],
                                                 "category": ["ring"] * 5})
        catalog = load_catalog(tmp_path / "cat.parquet", id_column="sku")
        given = [str(i).removesuffix(".0") for i in ids if i is not None and str(i).strip() and str(i) != "nan"]
        named = [i for i in catalog.item_ids if i.startswith("img-")]
        assert [i for i in catalog.item_ids if not i.startswith("img-")] == given and len(named) == 5 - len(given)
        assert catalog.skipped == {} and all(catalog.item_ids)
        # counted and said, not silent (the fit's summary and config.json's dataset section carry it)
        assert catalog.unnamed is not None and (catalog.unnamed.column, catalog.unnamed.rows) == ("sku", len(named))
        assert catalog.unnamed.text().startswith(f"{len(named)} rows had no id in column 'sku'")
    assert load_catalog(tmp_path / "cat.parquet", id_column="category").unnamed is None  # every row has an id


def test_whitespace_around_an_id_is_not_part_of_it(tmp_path):
    """`' jw-1 '` from a spreadsheet stayed the bundle's id, while training.evaluate strips the ids of the Space's
    rating log: every rating of that piece then missed the bundle. A second row of the same id once stripped is a
    duplicate, as an exact repeat is."""
    pictures = [{"bytes": jpeg(color=(30 * i, 100, 100)), "path": None} for i in range(4)]
    write_parquet(tmp_path / "cat.parquet", {"sku": [" jw-1 ", "jw-2\t", "jw-3", "jw-1"], "image": pictures,
                                             "category": ["ring"] * 4})
    catalog = load_catalog(tmp_path / "cat.parquet", id_column="sku")
    assert catalog.item_ids == ["jw-1", "jw-2", "jw-3"] and catalog.skipped == {"duplicate_id": 1}


def test_a_path_column_with_bad_first_rows_is_still_the_image_column(tmp_path):
    """Detection looks past the first rows; the bad ones are skipped and counted, as with --image-column."""
    for i in range(3):
        (tmp_path / f"p{i}.png").write_bytes(png())
    paths = ["/etc/passwd", "missing.png", "../..", "p0.png", "p1.png", "p2.png"]
    pd.DataFrame({"id": [f"i{n}" for n in range(6)], "image": paths, "category": ["a", "b"] * 3}).to_parquet(
        tmp_path / "cat.parquet")
    catalog = load_catalog(tmp_path / "cat.parquet")
    assert catalog.item_ids == ["i3", "i4", "i5"]
    assert catalog.skipped == {"path_outside_dataset": 2, "missing_image": 1}
    pd.DataFrame({"id": ["x"], "image": ["/etc/passwd"], "category": ["a"]}).to_parquet(tmp_path / "cat.parquet")
    with pytest.raises(ValueError, match=r"has no image column; columns are \['id', 'image', 'category'\] \('image' "
                                         r"holds text, but none of its first 1 values names an image file .*"
                                         r"\(e\.g\. '/etc/passwd'\)\)"):
        load_catalog(tmp_path / "cat.parquet")


def test_raw_image_bytes_are_an_image_column(tmp_path):
    pd.DataFrame({"sku": ["a", "b", "c"], "blob": [b"not a picture", b"", b"junk"],
                  "picture": [png(), jpeg(), b"junk"], "category": ["x", "y", "x"]}).to_parquet(tmp_path / "c.parquet")
    catalog = load_catalog(tmp_path / "c.parquet")
    assert catalog.item_ids == ["a", "b"] and catalog.skipped == {"undecodable": 1}
    assert list(catalog.metadata().columns) == ["item_id", "blob", "category"]


def test_empty_or_unreadable_parquet_is_a_clear_error(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": pa.array([], pa.string()), "image": pa.array([], pa.binary())}),
                   tmp_path / "empty.parquet")
    with pytest.raises(ValueError, match=r"empty\.parquet is empty: its parquet holds 0 rows \(columns \['id', "
                                         r"'image'\]\)"):
        load_catalog(tmp_path / "empty.parquet")
    (tmp_path / "bad.parquet").write_text("hello")
    with pytest.raises(ValueError, match=r"bad\.parquet is not a readable parquet file"):
        load_catalog(tmp_path / "bad.parquet")


def test_a_local_folder_is_split_as_the_hub_splits_a_dataset(tmp_path, caplog):
    """`--split` was ignored for local folders: a folder of train-/test- parquet files was read as one catalog (the
    test items fitted with the rest), and an image folder was always read as its train split."""
    for split, n in (("train", 4), ("test", 2)):
        write_parquet(tmp_path / "shards" / "data" / f"{split}-00000-of-00001.parquet",
                      {"image": [{"bytes": jpeg((40 * i, 9, 9)), "path": None} for i in range(n)],
                       "category": [split] * n})
        for label in ("ring", "chain"):
            (tmp_path / "pictures" / split / label).mkdir(parents=True)
            for i in range(n):
                (tmp_path / "pictures" / split / label / f"{i}.jpg").write_bytes(jpeg((40 * i, 100, 9)))
    with caplog.at_level("WARNING"):
        train = load_catalog(tmp_path / "shards")
    assert len(train) == 4 and set(train.metadata()["category"]) == {"train"}
    assert "split by its file and folder names into test (1 files), train (1 files); reading train" in caplog.text
    assert set(load_catalog(tmp_path / "shards", split="test").metadata()["category"]) == {"test"}
    with pytest.raises(ValueError, match=r"--split validation: the folder .* holds the split\(s\) \['test', "
                                         r"'train'\] .*pass one of them to --split"):
        load_catalog(tmp_path / "shards", split="validation")
    pictures = load_catalog(tmp_path / "pictures", split="test")
    assert len(pictures) == 4 and set(pictures.metadata()["label"]) == {"ring", "chain"}
    assert len(load_catalog(tmp_path / "pictures")) == 8
    with pytest.raises(ValueError, match=r"--split test: .*is one catalog with no splits; drop --split"):
        load_catalog(tmp_path / "shards" / "data" / "test-00000-of-00001.parquet", split="test")


def test_files_named_by_no_split_in_a_split_folder_are_named(tmp_path, caplog):
    """One picture named like a split (`ring-test.jpg`) makes `datasets` read the folder by split names and leave
    every other picture out; that is said, with the file that did it, instead of a bare unknown-split error."""
    (tmp_path / "ring").mkdir()
    for name in ("a", "b", "ring-test"):
        (tmp_path / "ring" / f"{name}.jpg").write_bytes(jpeg())
    with pytest.raises(ValueError, match=r"--split train: .*holds the split\(s\) \['test'\].*; 2 of its files \(e\.g\. "
                                         r"'ring/a\.jpg'\) are named by no split and not read"):
        load_catalog(tmp_path)
    with caplog.at_level("WARNING"):
        assert len(load_catalog(tmp_path, split="test")) == 1
    assert "2 of its files (e.g. 'ring/a.jpg') are named by no split" in caplog.text


@pytest.mark.parametrize("name, content, message", [
    ("metadata.csv", "file_name,category,name\n0.jpg,ring,bagué\n1.jpg,chain,x\n".encode("latin-1"),
     r"metadata.csv is not UTF-8 text \(byte 0xe9 at offset \d+\): save it as UTF-8"),
    ("metadata.csv", b"file_name;category\n0.jpg;ring\n1.jpg;chain\n",
     r"metadata.csv is separated by ';' .*save it comma-separated"),
    ("metadata.csv", b"image,category\n0.jpg,ring\n1.jpg,chain\n",
     r"metadata.csv has no file_name column naming each row's picture \(its columns: \['image', 'category'\]\)"),
    ("metadata.jsonl", b"file_name,category\n", r"metadata.jsonl: its first line is not a JSON object"),
])
def test_a_metadata_file_datasets_cannot_read_is_named_with_the_fix(tmp_path, name, content, message):
    """A Latin-1 or semicolon-separated metadata.csv (a spreadsheet's export) stopped the fit with a bare
    UnicodeDecodeError, or `datasets`' "file_name ... must be present as dictionary key"."""
    for i in range(2):
        (tmp_path / f"{i}.jpg").write_bytes(jpeg((90 * i, 50, 50)))
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ValueError, match=message):
        load_catalog(tmp_path)
    (tmp_path / name).write_text("file_name,category\n0.jpg,ring\n1.jpg,chain\n", encoding="utf-8-sig")
    (tmp_path / name).rename(tmp_path / "metadata.csv")
    assert load_catalog(tmp_path).metadata()["category"].tolist() == ["ring", "chain"]


def test_linked_folders_and_pictures_say_what_reads_them(tmp_path, caplog):
    """Class folders linked into the dataset folder (datasets does not follow them) gave "holds neither parquet
    files nor images"; linked pictures, skipped as path_outside_dataset, never named --allow-external-paths."""
    for label in ("ring", "chain"):
        (tmp_path / "real" / label).mkdir(parents=True)
        for i in range(2):
            (tmp_path / "real" / label / f"{i}.jpg").write_bytes(jpeg((60 * i, 90, 9)))
        (tmp_path / "linked").mkdir(exist_ok=True)
        (tmp_path / "linked" / label).symlink_to(tmp_path / "real" / label, target_is_directory=True)
    with pytest.raises(ValueError, match=r"holds no pictures of its own, only linked folders \(e\.g\. 'chain' -> "
                                         r".*real/chain'\), which datasets does not follow: point --dataset at the "
                                         r"folder they link to"):
        load_catalog(tmp_path / "linked")
    (tmp_path / "linked" / "own").mkdir()
    (tmp_path / "linked" / "own" / "0.jpg").write_bytes(jpeg())
    with caplog.at_level("WARNING"):
        assert len(load_catalog(tmp_path / "linked")) == 1
    assert "2 linked folder(s) (e.g. chain -> " in caplog.text and "copy them in" in caplog.text
    (tmp_path / "files" / "ring").mkdir(parents=True)
    for i in range(2):
        (tmp_path / "files" / "ring" / f"{i}.jpg").symlink_to(tmp_path / "real" / "ring" / f"{i}.jpg")
    with pytest.raises(ValueError, match=r"skipped: \{'path_outside_dataset': 2\}.*not read unless you pass "
                                         r"--allow-external-paths"):
        load_catalog(tmp_path / "files")
    assert len(load_catalog(tmp_path / "files", allow_external_paths=True)) == 2


def test_relative_image_paths_are_looked_for_beside_their_own_parquet_file(tmp_path):
    """Two shops' a/cat.parquet and b/cat.parquet both name imgs/0.png: read as a glob (or their folder), every row
    of b took a's picture, because relative paths resolved against the first file's folder. A path relative to the
    dataset folder (a folder's data/train.parquet naming images/x.png) is still found."""
    from jewelrec.pipeline.distributed import FitConfig, plan_catalog

    colours = {"a": [(200, 30, 30), (30, 200, 30)], "b": [(30, 30, 200), (200, 200, 30)]}
    for shop, shades in colours.items():
        (tmp_path / "data" / shop / "imgs").mkdir(parents=True)
        for j, colour in enumerate(shades):
            (tmp_path / "data" / shop / "imgs" / f"{j}.jpg").write_bytes(jpeg(colour))
        pd.DataFrame({"item_id": [f"{shop}-{j}" for j in range(2)], "image": [f"imgs/{j}.jpg" for j in range(2)]}
                     ).to_parquet(tmp_path / "data" / shop / "cat.parquet", index=False)
    expected = {f"{shop}-{j}": jpeg(colour) for shop, shades in colours.items() for j, colour in enumerate(shades)}
    for source in (str(tmp_path / "data" / "*" / "cat.parquet"), str(tmp_path / "data")):
        catalog = load_catalog(source)
        assert catalog.skipped == {} and dict(zip(catalog.item_ids, catalog.dataset["image"])) == expected, source
        plan = plan_catalog(FitConfig(dataset=source, out=str(tmp_path / "bundle")))  # the Ray engine's rules
        rows = [(f, r) for f in sorted((tmp_path / "data").glob("*/cat.parquet"))
                for r in pd.read_parquet(f).to_dict("records")]
        for row, (_, record) in enumerate(rows):
            assert plan.rules.image(record, row)[0] == expected[record["item_id"]]
    (tmp_path / "data" / "b" / "imgs" / "1.jpg").unlink()  # b's picture gone: not a's imgs/1.jpg in its place
    catalog = load_catalog(str(tmp_path / "data" / "*" / "cat.parquet"))
    assert catalog.skipped == {"missing_image": 1} and "b-1" not in catalog.item_ids
    (tmp_path / "flat" / "images").mkdir(parents=True)
    (tmp_path / "flat" / "images" / "x.jpg").write_bytes(jpeg())
    (tmp_path / "flat" / "data").mkdir()
    pd.DataFrame({"item_id": ["x"], "image": ["images/x.jpg"]}).to_parquet(tmp_path / "flat" / "data" / "train.parquet")
    assert load_catalog(tmp_path / "flat").item_ids == ["x"]
    import os

    here = os.getcwd()
    os.chdir(tmp_path)  # --dataset flat, as typed in its parent folder: the split files come back resolved
    try:
        assert load_catalog("flat").item_ids == ["x"]
    finally:
        os.chdir(here)


def test_a_parquet_replaced_with_the_same_mtime_is_read_afresh(tmp_path):
    """`datasets` caches a local file under its path and mtime: a night's export copied over the last one with
    `cp -p` / `rsync -t` was read from the cache — the old rows — and the update found "nothing new"."""
    import os

    path = tmp_path / "new_arrivals.parquet"
    pd.DataFrame({"item_id": ["a", "b"], "image": [jpeg((10, 10, 10)), jpeg((20, 20, 20))]}).to_parquet(path)
    stamp = os.stat(path)
    assert load_catalog(path).item_ids == ["a", "b"]
    pd.DataFrame({"item_id": ["c", "d", "e"], "image": [jpeg((30, 30, 30)), jpeg((40, 40, 40)), jpeg()]}
                 ).to_parquet(path)
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert load_catalog(path).item_ids == ["c", "d", "e"]
    assert load_catalog(path).item_ids == ["c", "d", "e"]  # and cached again for the next read
    prices = tmp_path / "prices.parquet"  # a value changed mid-column: sizes and min/max statistics alike
    pd.DataFrame({"item_id": ["a", "b", "c"], "image": [jpeg()] * 3, "price": [100, 150, 200]}).to_parquet(prices)
    stamp = os.stat(prices)
    assert load_catalog(prices).metadata()["price"].tolist() == [100, 150, 200]
    pd.DataFrame({"item_id": ["a", "b", "c"], "image": [jpeg()] * 3, "price": [100, 160, 200]}).to_parquet(prices)
    os.utime(prices, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert load_catalog(prices).metadata()["price"].tolist() == [100, 160, 200]


def test_repeated_column_names_are_refused_and_uint64_metadata_past_int64_is_kept(tmp_path):
    """Two columns named 'category' (a SQL join's export) ended in a DatasetGenerationError traceback; a uint64
    column holding values past 2**63 (a barcode hash) in OverflowError, as `datasets` infers int64."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from jewelrec.pipeline.distributed import FitConfig, plan_catalog

    doubled = tmp_path / "joined" / "cat.parquet"
    doubled.parent.mkdir()
    pq.write_table(pa.Table.from_arrays([pa.array(["a", "b"]), pa.array([jpeg(), png()], pa.binary()),
                                         pa.array(["ring", "pendant"]), pa.array(["gold", "silver"])],
                                        names=["item_id", "image", "category", "category"]), doubled)
    with pytest.raises(ValueError, match=r"cat.parquet has more than one column named 'category'; give each column"):
        load_catalog(doubled)
    with pytest.raises(ValueError, match=r"more than one column named 'category'"):
        plan_catalog(FitConfig(dataset=str(doubled), out=str(tmp_path / "b")))  # the Ray engine's plan
    wide = tmp_path / "wide.parquet"
    barcodes = np.array([2**63 + 5, 7], dtype=np.uint64)
    pd.DataFrame({"item_id": ["a", "b"], "image": [jpeg(), png()], "barcode": barcodes}).to_parquet(wide)
    catalog = load_catalog(wide)
    assert catalog.dataset.features["barcode"] == datasets.Value("uint64")
    assert catalog.metadata()["barcode"].tolist() == [2**63 + 5, 7]
    from jewelrec.catalog.loading import catalog_dataset  # what the Ray engine's training catalog is built with

    features = datasets.Features({"item_id": datasets.Value("string"), "barcode": datasets.Value("uint64")})
    assert catalog_dataset({"item_id": ["a", "b"], "barcode": [2**63 + 5, 7]}, features)["barcode"] == [2**63 + 5, 7]


def test_a_saved_pandas_index_is_not_metadata(tmp_path):
    """A filtered DataFrame's to_parquet stores its index as __index_level_0__, which leaked into items.parquet."""
    import pyarrow.parquet as pq

    frame = pd.DataFrame({"item_id": ["a", "b", "c"], "image": [jpeg(), png(), jpeg((1, 2, 3))], "metal": ["gold"] * 3})
    frame.iloc[[2, 0, 1]].to_parquet(tmp_path / "cat.parquet")  # an index of 2, 0, 1 (no range): stored as a column
    assert "__index_level_0__" in pq.read_schema(tmp_path / "cat.parquet").names
    assert list(load_catalog(tmp_path / "cat.parquet").metadata().columns) == ["item_id", "metal"]
