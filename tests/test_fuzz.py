"""Property-based tests (hypothesis): mutated image files and mutated bundles fail only in the ways that are
promised — a skip reason, a BundleError — never a crash from deep inside a library. Kept short for CI."""

from __future__ import annotations

import hashlib
import io
import json
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from jewelrec.catalog import validate_image
from jewelrec.encoders import to_rgb
from jewelrec.serving.bundle import Bundle, BundleError
from tests.conftest import make_synthetic_bundle

REASONS = {"missing_image", "empty_file", "undecodable", "truncated", "decompression_bomb", "unsupported_format"}


def _encoded(fmt: str, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (23, 17), 120).save(out, format=fmt)
    return out.getvalue()


SEEDS = [_encoded("JPEG"), _encoded("PNG"), _encoded("WEBP"), _encoded("GIF", "P"), _encoded("BMP"),
         _encoded("TIFF"), _encoded("PNG", "I;16")]


@st.composite
def mutated_bytes(draw, seeds=tuple(SEEDS)) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "zero"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif op == "truncate":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            data[at:at + 8] = bytes(min(8, len(data) - at))
    return bytes(data)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_bytes())
def test_the_image_decoder_skips_or_decodes_never_crashes(data):
    reason = validate_image(data)
    assert reason is None or reason in REASONS
    if reason is None:  # what passes validation must decode for the encoders too
        assert to_rgb(data).mode == "RGB"


@pytest.fixture(scope="module")
def saved_bundle(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fuzz") / "bundle"
    make_synthetic_bundle(n_items=24, n_clusters=3).save(directory)
    return directory


def _reseal(directory) -> None:
    config = json.loads((directory / "config.json").read_text())
    config["files"] = {f: hashlib.sha256((directory / f).read_bytes()).hexdigest() for f in config["files"]}
    (directory / "config.json").write_text(json.dumps(config))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(["config.json", "items.parquet", "embeddings.safetensors", "clusters.safetensors"]),
       mutation=st.data(), reseal=st.booleans())
def test_a_mutated_bundle_loads_or_raises_bundle_error(saved_bundle, tmp_path_factory, target, mutation, reseal):
    directory = tmp_path_factory.mktemp("case") / "bundle"
    shutil.copytree(saved_bundle, directory)
    original = (directory / target).read_bytes()
    (directory / target).write_bytes(mutation.draw(mutated_bytes(seeds=(original,))))
    if reseal and target != "config.json":
        _reseal(directory)  # past the hash check, so the parsers themselves meet the damage
    try:
        Bundle.load(directory)
    except BundleError:
        pass  # the promised failure: a message that names the fix


@pytest.fixture(scope="module")
def indexed_bundle(tmp_path_factory):
    from jewelrec.serving.index import VectorIndex

    directory = tmp_path_factory.mktemp("fuzz-index") / "bundle"
    bundle = make_synthetic_bundle(n_items=2100, dim=8, n_clusters=3)  # just above FLAT_LIMIT: 45 lists stored
    return bundle.save(directory, index=VectorIndex(bundle.embeddings, exact_limit=0))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(mutation=st.data(), reseal=st.booleans())
def test_a_mutated_search_index_is_refused_or_serves_never_crashes(indexed_bundle, tmp_path_factory, mutation,
                                                                    reseal):
    """FAISS parses index.faiss only after its hash matched; resealed damage must still end in a BundleError (or
    an index that answers), never in a FAISS exception or an out-of-range row."""
    from jewelrec.serving.recommender import Recommender, RecommenderConfig

    directory = tmp_path_factory.mktemp("case") / "bundle"
    shutil.copytree(indexed_bundle, directory)
    original = (directory / "index.faiss").read_bytes()
    (directory / "index.faiss").write_bytes(mutation.draw(mutated_bytes(seeds=(original,))))
    if reseal:
        _reseal(directory)
    try:
        rec = Recommender(Bundle.load(directory), config=RecommenderConfig(exact_limit=0))
    except BundleError:
        return
    hits = rec.similar(rec.bundle.item_ids[5], k=10)
    assert len(hits) == 10 and all(rec.bundle.has_item(i) for i, _ in hits)
