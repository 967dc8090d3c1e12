"""``training.fit --engine ray`` (jewelrec.pipeline.distributed) against the single-process engine, on a local Ray."""

from __future__ import annotations

import io
import os
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

pytest.importorskip("ray")

from jewelrec.catalog import load_catalog  # noqa: E402
from jewelrec.serving.bundle import Bundle  # noqa: E402
from training.fit import main  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module (2 CPUs, no dashboard); the engine uses it instead of starting its own."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def fit(engine: str, dataset: str, out, model_dir, *extra: str) -> Bundle:
    code = main(["--dataset", dataset, "--encoder", "clip", "--model", str(model_dir), "--method", "kmeans",
                 "--clusters", "4", "--batch-size", "16", "--engine", engine, "--out", str(out), *extra])
    assert code == 0
    return Bundle.load(out)


def assert_same_bundle(local: Bundle, ray_bundle: Bundle) -> None:
    assert ray_bundle.item_ids == local.item_ids  # same items, same order
    pd.testing.assert_frame_equal(ray_bundle.items, local.items)  # metadata and thumbnails, byte for byte
    np.testing.assert_allclose(ray_bundle.embeddings, local.embeddings, atol=1e-5)
    np.testing.assert_array_equal(ray_bundle.labels, local.labels)
    for key in ("rows_read", "items", "skipped", "label_column", "kind"):
        assert ray_bundle.config["dataset"][key] == local.config["dataset"][key], key
    assert ray_bundle.config["fit"]["args"]["engine"] == "ray"


@pytest.fixture(scope="module")
def sample_pair(local_ray, tiny_clip_dir, tmp_path_factory):
    """The sample catalog (96 items) fitted by both engines with the same pretrained (tiny) CLIP."""
    root = tmp_path_factory.mktemp("ray-sample")
    local = fit("local", "sample", root / "local", tiny_clip_dir, "--sample-items", "96")
    ray_bundle = fit("ray", "sample", root / "ray", tiny_clip_dir, "--sample-items", "96")
    return local, ray_bundle, root


def test_ray_engine_gives_the_single_process_bundle(sample_pair):
    local, ray_bundle, root = sample_pair
    assert ray_bundle.n_items == 96
    assert_same_bundle(local, ray_bundle)
    assert "embedded on Ray" in ray_bundle.config["encoder"]["reason"]
    assert not [p for p in root.iterdir() if ".staging-" in p.name]  # the shards' work dir is gone


def _jpeg(rng, size=40) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(out, format="JPEG")
    return out.getvalue()


def test_bad_rows_in_a_sharded_parquet_are_counted_as_the_single_process_path_does(local_ray, tiny_clip_dir,
                                                                                     tmp_path):
    rng = np.random.default_rng(3)
    folder = tmp_path / "catalog"
    folder.mkdir()
    good = [_jpeg(rng) for _ in range(30)]
    images: list[bytes | None] = list(good)
    images[3] = good[3][: len(good[3]) // 2]  # truncated JPEG
    images[11] = b"this is not a picture"
    images[17] = None  # missing image
    images[22] = b""  # empty file
    ids = [f"sku-{i:03d}" for i in range(30)]
    ids[25] = ids[4]  # the same id in another shard: the first one is kept
    ids[29] = ids[12]
    frame = pd.DataFrame({"sku": ids, "category": [["ring", "necklace", "brooch"][i % 3] for i in range(30)],
                          "image": [{"bytes": b, "path": None} for b in images]})
    for shard, rows in enumerate((slice(0, 9), slice(9, 20), slice(20, 30))):  # rows spread over three files
        frame.iloc[rows].to_parquet(folder / f"part-{shard}.parquet", index=False)

    expected = load_catalog(str(folder))
    assert expected.skipped == {"truncated": 1, "undecodable": 1, "missing_image": 1, "empty_file": 1,
                                "duplicate_id": 2}
    local = fit("local", str(folder), tmp_path / "local", tiny_clip_dir)
    ray_bundle = fit("ray", str(folder), tmp_path / "ray", tiny_clip_dir)
    assert ray_bundle.config["dataset"]["skipped"] == expected.skipped
    assert ray_bundle.item_ids == expected.item_ids
    assert_same_bundle(local, ray_bundle)


def test_image_folder_hash_ids_and_names_match(local_ray, tiny_clip_dir, tmp_path):
    """The ``datasets`` read path (image folder): content-hash ids, a repeated picture kept as ``-2``, names from
    the file names, a label from the sub-folders."""
    rng = np.random.default_rng(5)
    for label in ("rings", "pendants"):
        (tmp_path / "photos" / label).mkdir(parents=True)
    pictures = [_jpeg(rng) for _ in range(12)]
    for i, data in enumerate(pictures):
        (tmp_path / "photos" / ("rings" if i % 2 else "pendants") / f"gold_piece-{i:02d}.jpg").write_bytes(data)
    (tmp_path / "photos" / "rings" / "copy_of_three.jpg").write_bytes(pictures[3])
    (tmp_path / "photos" / "rings" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    local = fit("local", str(tmp_path / "photos"), tmp_path / "local", tiny_clip_dir, "--clusters", "2")
    ray_bundle = fit("ray", str(tmp_path / "photos"), tmp_path / "ray", tiny_clip_dir, "--clusters", "2")
    assert ray_bundle.config["dataset"]["skipped"] == {"undecodable": 1}
    assert sum(i.endswith("-2") for i in ray_bundle.item_ids) == 1
    assert "gold piece 03" in set(ray_bundle.items["name"])
    assert_same_bundle(local, ray_bundle)


def test_an_encoder_trained_on_the_catalog_is_trained_on_the_driver_and_loaded_by_the_actors(local_ray, tmp_path):
    """A CNN (the catalog-trained path): up to TRAIN_SAMPLE rows it learns from every row, as the single-process
    fit does, so both engines give the same encoder and bundle; the actors embed with the saved one."""
    args = ["--dataset", "sample", "--sample-items", "40", "--encoder", "cnn", "--cnn-epochs", "2", "--method",
            "kmeans", "--clusters", "3"]
    assert main([*args, "--out", str(tmp_path / "local")]) == 0
    assert main([*args, "--engine", "ray", "--out", str(tmp_path / "ray")]) == 0
    local, ray_bundle = Bundle.load(tmp_path / "local"), Bundle.load(tmp_path / "ray")
    assert ray_bundle.config["encoder"]["type"] == "cnn"
    assert_same_bundle(local, ray_bundle)


def test_a_killed_embedding_worker_loses_no_row(local_ray, tiny_clip_dir, sample_pair, tmp_path, monkeypatch):
    """The first embedding actor dies mid-run (the process exits, as on a lost node); Ray restarts it and retries
    its batch, and the bundle still holds every row with the embeddings of an undisturbed run."""
    from jewelrec.pipeline import distributed

    marker = tmp_path / "an-actor-died"

    class DiesOnce(distributed.ImageEmbedder):  # pickled by value (a local class) for the actor
        def __call__(self, table):
            if not os.path.exists(marker):
                with open(marker, "w") as f:
                    f.write(str(os.getpid()))
                os._exit(1)
            return super().__call__(table)

    monkeypatch.setattr(distributed, "ImageEmbedder", DiesOnce)
    local, _, _ = sample_pair
    survived = fit("ray", "sample", tmp_path / "ray", tiny_clip_dir, "--sample-items", "96")
    assert marker.exists()  # an actor did die
    assert int(marker.read_text()) != os.getpid()  # ... and it was a worker, not this process
    assert survived.n_items == 96
    assert_same_bundle(local, survived)


def test_engine_ray_without_ray_names_the_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if it were not installed
    monkeypatch.delitem(sys.modules, "jewelrec.pipeline.distributed", raising=False)
    monkeypatch.delitem(sys.modules, "jewelrec.pipeline.ray_catalog", raising=False)
    assert main(["--dataset", "sample", "--sample-items", "12", "--engine", "ray", "--out", str(tmp_path / "b")]) == 2
    assert "error: --engine ray needs Ray Data" in capsys.readouterr().err  # a line naming the fix, status 2
    assert not (tmp_path / "b").exists()


def test_ray_address_needs_the_ray_engine(capsys):
    with pytest.raises(SystemExit) as err:  # a flag error: argparse's usage line and status 2
        main(["--ray-address", "ray://head:10001", "--out", "unused"])
    assert err.value.code == 2 and "add --engine ray or drop it" in capsys.readouterr().err


def test_rows_are_decided_in_catalog_order_and_counted_once():
    """The driver's rule over the shards' key columns: any order in, a retried task's copy of a row counted once,
    explicit ids first-wins, repeated pictures without an id kept as -2, and a lost row is an error."""
    import pyarrow as pa

    from jewelrec.pipeline import ray_catalog as d

    keys = pa.table({d.ROW: [3, 0, 2, 1, 2, 4], d.REASON: [None, None, None, "truncated", None, None],
                     d.BASE_ID: ["img-aa", "sku-1", "img-aa", None, "img-aa", "sku-1"],
                     d.EXPLICIT: [False, True, False, None, False, True], d.STEM: [None] * 6})
    kept, ids, _, skipped, unnamed = d.decide_rows(keys, n_rows=5)
    assert kept.tolist() == [0, 2, 3] and ids == ["sku-1", "img-aa", "img-aa-2"]
    assert skipped == {"truncated": 1, "duplicate_id": 1}
    assert unnamed == 2  # rows 2 and 3 were named by their picture; row 2's copy counts once
    with pytest.raises(RuntimeError, match="4 of 6 catalog rows"):
        d.decide_rows(keys.slice(1), n_rows=6)


def test_the_ray_engine_detects_the_columns_the_single_process_engine_does(tmp_path):
    """The driver's head of a parquet catalog looks past bad first rows (as load_catalog does), within a byte
    budget, and across shards: a path column whose first values are not pictures is still the image column."""
    from jewelrec.pipeline import ray_catalog as d
    from jewelrec.pipeline.config import FitConfig

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(out, format="PNG")
    for i in range(3):
        (tmp_path / f"p{i}.png").write_bytes(out.getvalue())
    shards = tmp_path / "shards"
    shards.mkdir()
    frame = pd.DataFrame({"id": [f"i{n}" for n in range(6)], "category": ["a", "b"] * 3,
                          "image": ["../../etc/passwd", "missing.png", "nope", "../p0.png", "../p1.png", "../p2.png"]})
    frame.iloc[:2].to_parquet(shards / "part-0.parquet", index=False)  # the first shard holds no picture at all
    frame.iloc[2:].to_parquet(shards / "part-1.parquet", index=False)
    plan = d.plan_catalog(FitConfig(dataset=str(shards), out=str(tmp_path / "b"), allow_external_paths=True))
    assert plan.rules.image_column == "image" and plan.n_rows == 6
    head = d._parquet_head(sorted(shards.glob("*.parquet")), rows=4)
    assert head.num_rows == 4 and head.column_names == ["id", "category", "image"]
    assert d._parquet_head(sorted(shards.glob("*.parquet")), budget_bytes=1).num_rows == 2  # one batch, then stop


def test_the_ray_engine_checks_parquet_files_as_the_single_process_engine_does(tmp_path):
    # a glob whose second file had `sku` where the first had `item_id` fitted "fine" on Ray, its ids lost; a file
    # that is not parquet was named by pyarrow's footer message alone
    from jewelrec.pipeline import ray_catalog as d
    from jewelrec.pipeline.config import FitConfig

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(out, format="PNG")
    pd.DataFrame({"item_id": ["a"], "image": [out.getvalue()]}).to_parquet(tmp_path / "p0.parquet", index=False)
    pd.DataFrame({"sku": ["b"], "image": [out.getvalue()]}).to_parquet(tmp_path / "p1.parquet", index=False)
    config = FitConfig(dataset=str(tmp_path / "*.parquet"), out=str(tmp_path / "b"))
    with pytest.raises(ValueError, match=r"have different columns: .*p1.parquet adds \['sku'\] lacks \['item_id'\]"):
        d.plan_catalog(config)
    (tmp_path / "p1.parquet").write_text("hello")
    with pytest.raises(ValueError, match=r"p1.parquet is not a readable parquet file"):
        d.plan_catalog(config)


def test_ray_fits_into_the_working_folder_and_names_a_catalog_of_bad_rows(local_ray, tmp_path, monkeypatch, capsys):
    # `--out .`: the Ray work folder went inside the bundle folder, and the fit failed at its very end (a killed
    # one left the bundle unloadable); a catalog of only bad rows blamed the encoder ("needs >= 2 classes")
    args = ["--dataset", "sample", "--sample-items", "40", "--encoder", "cnn", "--cnn-epochs", "2", "--method",
            "kmeans", "--clusters", "3", "--engine", "ray"]
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    assert main([*args, "--out", "."]) == 0, capsys.readouterr().err
    assert Bundle.load(here).n_items == 40 and not [p for p in here.iterdir() if "staging" in p.name]
    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"item_id": [f"x{i}" for i in range(6)], "category": ["a", "b"] * 3,
                  "image": [b"not a picture"] * 5 + [b""]}).to_parquet(bad, index=False)
    assert main([*args[2:], "--dataset", str(bad), "--image-column", "image", "--out", str(tmp_path / "b")]) == 2
    assert "has no decodable image among the 6 rows read to train the encoder" in capsys.readouterr().err
