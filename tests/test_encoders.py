"""Encoders: a tiny random CLIPModel saved with save_pretrained and loaded through the production path."""

import io
import shutil

import numpy as np
import pytest
from PIL import Image

from jewelrec.encoders import ClipEncoder, clip_available, l2_normalise, load_encoder


def jpeg(color) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 40), color).save(out, format="JPEG")
    return out.getvalue()


def test_clip_encoder_images_and_text(tiny_clip_dir):
    encoder = ClipEncoder(str(tiny_clip_dir), batch_size=4)
    images = [jpeg((i * 20, 100, 200 - i * 20)) for i in range(10)]
    emb = encoder.encode_images(images, progress=False)
    assert emb.shape == (10, 16) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    # batching must not change results
    one_batch = ClipEncoder(str(tiny_clip_dir), batch_size=64).encode_images(images, progress=False)
    np.testing.assert_allclose(emb, one_batch, atol=1e-5)
    text = encoder.encode_text(["rose gold ring", "pearl"])
    assert text.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(text, axis=1), 1, atol=1e-5)
    assert encoder.has_text and encoder.describe()["type"] == "clip"


def test_clip_encoder_round_trips_through_bundle_config(tiny_clip_dir, tmp_path):
    encoder = ClipEncoder(str(tiny_clip_dir))
    encoder.save_pretrained(tmp_path / "encoder")
    again = load_encoder(tmp_path / "encoder")
    img = [jpeg((10, 200, 30))]
    np.testing.assert_allclose(encoder.encode_images(img, progress=False), again.encode_images(img, progress=False),
                               atol=1e-6)


def test_clip_available(tiny_clip_dir, tmp_path, monkeypatch):
    assert clip_available(str(tiny_clip_dir)) == (True, "")
    ok, why = clip_available(str(tmp_path))
    assert not ok and "model.safetensors" in why
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    ok, why = clip_available("nobody/not-cached-model")
    assert not ok and "HF_HUB_OFFLINE" in why


def test_l2_normalise_handles_zero_rows():
    out = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])


def test_unknown_encoder_type(tmp_path):
    (tmp_path / "config.json").write_text('{"type": "resnet"}')
    with pytest.raises(ValueError, match="known types"):
        load_encoder(tmp_path)


def test_images_come_out_as_they_are_meant_to_be_seen():
    """#14 'images that come out wrong': 16-bit PNGs scaled (not clipped to white), EXIF orientation applied,
    MPO (phones' and cameras' JPEGs) accepted with their first frame."""
    from jewelrec.catalog import validate_image
    from jewelrec.encoders import to_rgb

    out = io.BytesIO()
    Image.fromarray(np.full((8, 8), 32768, dtype=np.uint16)).save(out, format="PNG")  # 16-bit mid grey
    assert validate_image(out.getvalue()) is None
    assert abs(int(np.asarray(to_rgb(out.getvalue()))[0, 0, 0]) - 128) <= 1

    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    Image.new("RGB", (40, 20), (200, 30, 30)).save(out, format="JPEG", exif=exif)
    assert to_rgb(out.getvalue()).size == (20, 40)

    out = io.BytesIO()
    first, second = Image.new("RGB", (16, 12), (0, 0, 255)), Image.new("RGB", (16, 12), (255, 0, 0))
    first.save(out, format="MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(out.getvalue())).format == "MPO"
    assert validate_image(out.getvalue()) is None
    assert np.asarray(to_rgb(out.getvalue()))[6, 8].argmax() == 2  # the first (blue) frame



def test_a_long_thin_picture_is_cut_to_4_to_1_before_any_resize():
    """Review #1: a 1 x 100000 PNG (467 bytes) passed the 40-Mpx check, then CLIP's shortest-edge resize made it
    64 x 6.4M pixels (5 GB). to_rgb centre-crops past 4:1, so every encoder's input stays small; what CLIP sees
    (the centre square) is the same pixels, and a picture up to 4:1 comes out untouched."""
    from transformers import CLIPImageProcessorPil

    from jewelrec.catalog import validate_image
    from jewelrec.catalog.thumbnail import thumbnail
    from jewelrec.encoders import to_rgb
    from jewelrec.encoders.catalog_clip import make_processor, preprocess

    for size, cut in (((1, 100_000), (1, 4)), ((100_000, 1), (4, 1)), ((30, 900), (30, 120))):
        out = io.BytesIO()
        Image.new("RGB", size).save(out, format="PNG")
        assert validate_image(out.getvalue()) is None and to_rgb(out.getvalue()).size == cut
        assert preprocess([out.getvalue()], make_processor(64)).shape == (1, 3, 64, 64)
        assert max(Image.open(io.BytesIO(thumbnail(out.getvalue()))).size) <= 256
    rng = np.random.default_rng(0)
    for shape in ((50, 200, 3), (200, 50, 3), (120, 160, 3)):  # 4:1 and ordinary photos: byte-identical
        photo = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))
        assert to_rgb(photo).tobytes() == photo.tobytes()
    wide = Image.fromarray(rng.integers(0, 256, (50, 500, 3), dtype=np.uint8))  # 10:1: the centre 200 px kept
    assert np.array_equal(np.asarray(to_rgb(wide)), np.asarray(wide)[:, 150:350])
    processor = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    seen = [processor(images=[im], return_tensors="np")["pixel_values"] for im in (wide, to_rgb(wide))]
    np.testing.assert_array_equal(*seen)  # CLIP sees the same pixels with or without the cut

def test_a_missing_encoder_dir_or_truncated_weights_are_named_with_the_fix(tiny_clip_dir, tmp_path):
    """``load_encoder(bundle.encoder_dir)`` for a bundle without encoder/ (None), a truncated or empty
    model.safetensors, a config naming no model: ValueErrors naming the path and the fix, not a pathlib or
    safetensors error."""
    with pytest.raises(ValueError, match=r"bundle\.encoder_dir is None.*re-run training\.fit"):
        load_encoder(None)
    with pytest.raises(TypeError, match="a str or Path, e.g. bundle.encoder_dir"):
        load_encoder(123)
    shutil.copytree(tiny_clip_dir, tmp_path / "encoder")  # a whole CLIP checkpoint, as a fine-tuned one is saved
    assert load_encoder(tmp_path / "encoder").has_text
    weights = tmp_path / "encoder" / "model.safetensors"
    data = weights.read_bytes()
    for damaged in (data[: len(data) // 2], data[:100], b""):
        weights.write_bytes(damaged)
        with pytest.raises(ValueError, match=f"{weights} is not a readable safetensors file .* fetch the bundle again"):
            load_encoder(tmp_path / "encoder")
    (tmp_path / "hub-id").mkdir()
    (tmp_path / "hub-id" / "config.json").write_text('{"type": "clip"}')
    with pytest.raises(ValueError, match="names no model id"):
        load_encoder(tmp_path / "hub-id")


def test_a_clip_checkpoint_missing_weights_is_refused(tiny_clip_dir, tmp_path):
    """A CLIP whose checkpoint lacks a parameter would embed with a random layer: refused, naming the keys."""
    from safetensors.numpy import load_file, save_file

    shutil.copytree(tiny_clip_dir, tmp_path / "encoder")
    weights = tmp_path / "encoder" / "model.safetensors"
    tensors = load_file(weights)
    tensors.pop("visual_projection.weight")
    save_file(tensors, weights, metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"the weights do not fit CLIPModel \(missing 1 \(e\.g\. \['visual_projection"):
        load_encoder(tmp_path / "encoder")


def test_a_transparent_background_is_white_in_every_view_of_the_picture():
    """A dark ring cut out on a transparent PNG came out on black (the colour under the clear pixels) — invisible
    in its thumbnail, and an embedding that depended on what the exporter left there."""
    from jewelrec.catalog.thumbnail import thumbnail
    from jewelrec.encoders import to_rgb

    def saved(image: Image.Image, **options) -> bytes:
        out = io.BytesIO()
        image.save(out, format="PNG", **options)
        return out.getvalue()

    cutout = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    cutout.paste((40, 40, 40, 255), (10, 10, 30, 30))
    under_red = Image.new("RGBA", (40, 40), (255, 0, 0, 0))  # the same picture, another colour under the clear pixels
    under_red.paste((40, 40, 40, 255), (10, 10, 30, 30))
    palette = Image.new("P", (40, 40), 0)
    palette.putpalette([0, 0, 0, 40, 40, 40] + [0] * 762)
    palette.paste(1, (10, 10, 30, 30))
    grey_alpha = Image.new("LA", (40, 40), (0, 0))
    grey_alpha.paste((40, 255), (10, 10, 30, 30))
    views = [saved(cutout), saved(under_red), saved(palette, transparency=0), saved(grey_alpha)]
    for data in views:
        rgb = np.asarray(to_rgb(data))
        assert rgb[0, 0].tolist() == [255, 255, 255] and rgb[20, 20].tolist() == [40, 40, 40]
        assert np.asarray(Image.open(io.BytesIO(thumbnail(data))))[0, 0].min() >= 250  # JPEG: near white
    assert (np.asarray(to_rgb(views[0])) == np.asarray(to_rgb(views[1]))).all()
    opaque = Image.new("RGB", (8, 8), (1, 2, 3))
    assert np.asarray(to_rgb(saved(opaque)))[0, 0].tolist() == [1, 2, 3]
    import base64

    from jewelrec.space.service import _preview  # the Space shows an uploaded photo above its matches

    uri = _preview(views[0])
    shown = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert np.asarray(shown.convert("RGB"))[0, 0].min() >= 250
