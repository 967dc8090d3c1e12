"""The catalog CLIP: trained on (image, caption) pairs, saved with save_pretrained, loaded with from_pretrained;
fine-tuning a local 'pretrained' CLIP with the same trainer; --encoder auto's choice."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from jewelrec.catalog.captions import build_captions
from jewelrec.encoders import load_encoder
from jewelrec.encoders.catalog_clip_training import CatalogClipConfig, finetune_clip, train_catalog_clip

TINY = CatalogClipConfig(image_size=32, widths=(8, 16, 16, 16), text_width=16, text_layers=1, text_heads=2,
                         epochs=4, patience=4, text_steps=60, batch_size=16, time_budget_s=60)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """48 sample pieces in two categories and two metals, so the right answer is known."""
    import os

    from jewelrec.catalog import load_catalog

    os.environ["JEWELREC_HOME"] = str(tmp_path_factory.mktemp("catalog-clip-home"))
    catalog = load_catalog("sample", sample_items=96, seed=0)
    meta = catalog.metadata()
    keep = np.flatnonzero(meta["category"].isin(["ring", "necklace"]).to_numpy())
    return [catalog.images[i] for i in keep], meta.iloc[keep].reset_index(drop=True)


@pytest.fixture(scope="module")
def trained(sample):
    images, meta = sample
    return train_catalog_clip(images, build_captions(meta), meta, config=TINY, progress=False)


def test_trains_and_embeds_images_and_text(trained, sample):
    images, meta = sample
    emb = trained.encode_images(images, progress=False)
    assert emb.shape == (len(images), 16) and trained.has_text
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    assert trained.history_["val_loss"] and trained.history_["train_loss"][-1] < trained.history_["train_loss"][0]
    assert trained.training_["heads"] == ["category", "gemstone", "metal"]  # one head per attribute column
    # it learned category: a query for rings finds more rings than necklaces in its top 10
    top = np.argsort(-(trained.encode_text(["ring"]) @ emb.T)[0])[:10]
    assert (meta["category"].to_numpy()[top] == "ring").mean() >= 0.7


def test_save_pretrained_then_load_encoder_gives_the_same_embeddings(trained, sample, tmp_path):
    images, _ = sample
    trained.save_pretrained(tmp_path / "encoder")
    files = {p.relative_to(tmp_path / "encoder").as_posix() for p in (tmp_path / "encoder").rglob("*") if p.is_file()}
    assert {"config.json", "vision/model.safetensors", "text/model.safetensors", "tokenizer.json",
            "preprocessor_config.json", "training.json"} <= files
    assert not [f for f in files if f.endswith((".bin", ".pkl", ".pt"))]
    loaded = load_encoder(tmp_path / "encoder")
    assert loaded.kind == "catalog-clip"
    np.testing.assert_allclose(loaded.encode_images(images[:8], progress=False),
                               trained.encode_images(images[:8], progress=False), atol=1e-5)
    np.testing.assert_allclose(loaded.encode_text(["gold ring"]), trained.encode_text(["gold ring"]), atol=1e-5)



def test_towers_whose_weights_do_not_fit_are_refused_not_started_random(trained, tmp_path):
    """A tower's safetensors with a tensor gone (it would start random) or one it does not use (another model's):
    load_encoder refuses, naming the file's folder and the keys, instead of transformers' warning table."""
    from safetensors.numpy import load_file, save_file

    trained.save_pretrained(tmp_path / "encoder")
    for tower, change, kind in (("vision", lambda t: t.pop(sorted(t)[0]), "missing"),
                                ("text", lambda t: t.update(extra=np.zeros(3, np.float32)), "unexpected")):
        shutil.copytree(tmp_path / "encoder", tmp_path / tower)
        weights = tmp_path / tower / tower / "model.safetensors"
        tensors = load_file(weights)
        change(tensors)
        save_file(tensors, weights, metadata={"format": "pt"})
        with pytest.raises(ValueError, match=rf"{tmp_path / tower / tower}: the weights do not fit .*{kind} 1"):
            load_encoder(tmp_path / tower)

def test_finetune_a_local_pretrained_clip_and_reload_it_as_a_clip_checkpoint(tiny_clip_dir, sample, tmp_path):
    from jewelrec.encoders import ClipEncoder

    images, meta = sample
    before = ClipEncoder(str(tiny_clip_dir)).encode_images(images[:8], progress=False)
    tuned = finetune_clip(str(tiny_clip_dir), images, build_captions(meta), meta,
                          config=CatalogClipConfig(epochs=2, batch_size=16, time_budget_s=60), progress=False)
    after = tuned.encode_images(images[:8], progress=False)
    assert not np.allclose(before, after, atol=1e-4)  # the weights moved
    assert tuned.describe()["finetuned"] is True
    tuned.save_pretrained(tmp_path / "encoder")
    assert (tmp_path / "encoder" / "model.safetensors").is_file()  # the whole checkpoint travels in the bundle
    reloaded = load_encoder(tmp_path / "encoder")
    assert isinstance(reloaded, ClipEncoder)  # the same class and path as a Hub checkpoint
    np.testing.assert_allclose(reloaded.encode_images(images[:8], progress=False), after, atol=1e-5)


def test_auto_picks_the_catalog_clip_and_falls_back_to_the_cnn_without_text(sample, monkeypatch):
    import pandas as pd

    from jewelrec.pipeline import fit
    from jewelrec.pipeline.config import FitConfig

    images, meta = sample

    class FakeCatalog:
        def __init__(self, frame):
            self.images, self.frame = images, frame

        def metadata(self):
            return self.frame

    import jewelrec.encoders.catalog_clip_training as catalog_clip_training

    monkeypatch.setattr(fit, "clip_available", lambda *a: (False, "the Hub cannot be reached"))
    monkeypatch.setattr(catalog_clip_training, "CatalogClipConfig", lambda **kw: TINY)  # the tiny recipe, not 60 s
    config = FitConfig(cnn_epochs=1)
    encoder, reason = fit.choose_encoder(config, FakeCatalog(meta), "category")
    assert encoder.kind == "catalog-clip" and "catalog CLIP trained on" in reason and "Hub cannot be reached" in reason
    # no text column at all (a numeric label only): the CNN, and the summary says why
    numeric = pd.DataFrame({"item_id": meta["item_id"], "price": meta["price"],
                            "label": meta["category"].map({"ring": 0, "necklace": 1})})
    encoder, reason = fit.choose_encoder(config, FakeCatalog(numeric), "label")
    assert encoder.kind == "cnn" and "no catalog CLIP: no text to caption" in reason
    with pytest.raises(ValueError, match="no text to caption the pictures with"):  # asked for: an error, not a fallback
        fit.choose_encoder(FitConfig(encoder="catalog-clip"), FakeCatalog(numeric), "label")
    with pytest.raises(ValueError, match="not in the catalog; its columns are"):  # asked-for column: an error
        fit.choose_encoder(FitConfig(caption_columns=["colour"]), FakeCatalog(meta), "category")
