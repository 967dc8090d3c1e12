"""Encoders: a tiny random CLIPModel saved with save_pretrained and loaded through the production path."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from jewelrec.encoders import ClipEncoder, clip_available, l2_normalise, load_encoder


def write_tiny_tokenizer(directory):
    """A character-level CLIP BPE vocabulary (no merges): enough for the tokenizer to run offline."""
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    tokens = ["<|startoftext|>", "<|endoftext|>"] + chars + [c + "</w>" for c in chars]
    CLIPTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=[]).save_pretrained(directory)
    return len(tokens)


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory):
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

    directory = tmp_path_factory.mktemp("tiny-clip")
    vocab = write_tiny_tokenizer(directory)
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={"vocab_size": vocab, "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "max_position_embeddings": 77,
                     "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1},
        vision_config={"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
                       "num_attention_heads": 4, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(directory)
    CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(directory)
    return directory


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
