import numpy as np
import pytest
import torch

from jewelrec.catalog import load_catalog
from jewelrec.encoders import load_encoder
from jewelrec.encoders.cnn import CnnClassifier, CnnConfig, CnnEncoder


def test_architecture_shapes():
    model = CnnClassifier(CnnConfig(class_names=["a", "b", "c"], image_size=64)).eval()
    x = torch.zeros(2, 3, 64, 64)
    assert model(x).shape == (2, 3)
    assert model.forward_features(x).shape == (2, 128)
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in model.features if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(convs) == 4 and len(norms) == 4
    assert any(isinstance(m, torch.nn.Dropout) and m.p == 0.5 for m in model.modules())


@pytest.fixture(scope="module")
def trained():
    catalog = load_catalog("sample", sample_items=48)
    labels = catalog.metadata()["category"].tolist()
    encoder = CnnEncoder(epochs=4, seed=0).fit(catalog.images, labels, progress=False)
    return encoder, catalog


def test_training_learns_and_reports(trained):
    encoder, _ = trained
    assert 1 <= encoder.report_["epochs_run"] <= 4
    history = encoder.history_
    assert len(history["train_loss"]) == encoder.report_["epochs_run"]
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert set(encoder.report_["per_class"]) >= set(encoder.report_["label_names"])
    cm = np.asarray(encoder.report_["confusion_matrix"])
    assert cm.shape == (6, 6) and cm.sum() == 10  # 20 % validation split of 48, stratified


def test_embeddings_and_save_load_round_trip(trained, tmp_path):
    encoder, catalog = trained
    emb = encoder.encode_images(catalog.images[:10], progress=False)
    assert emb.shape == (10, 128)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    encoder.save_pretrained(tmp_path / "enc")
    again = load_encoder(tmp_path / "enc")
    np.testing.assert_allclose(again.encode_images(catalog.images[:10], progress=False), emb, atol=1e-5)
    assert not again.has_text
    with pytest.raises(NotImplementedError, match="text tower"):
        again.encode_text(["ring"])


def test_strict_loading_and_bad_labels(trained, tmp_path):
    encoder, catalog = trained
    encoder.save_pretrained(tmp_path / "enc")
    from safetensors.torch import load_file, save_file

    weights = load_file(tmp_path / "enc" / "model.safetensors")
    weights.pop("head.1.weight")
    save_file(weights, tmp_path / "enc" / "model.safetensors")
    with pytest.raises(RuntimeError, match="Missing key"):
        CnnEncoder.from_pretrained(tmp_path / "enc")
    with pytest.raises(ValueError, match="label-column"):
        CnnEncoder().fit(catalog.images[:4], ["a", "a", "a", "b"])
    with pytest.raises(RuntimeError, match="not trained"):
        CnnEncoder().encode_images(catalog.images[:1])


def test_cpu_threads_are_set_for_training_and_restored(monkeypatch):
    seen = []
    monkeypatch.setattr(CnnEncoder, "_fit", lambda self, *a: seen.append(torch.get_num_threads()) or self)
    before = torch.get_num_threads()
    CnnEncoder(threads=1, device="cpu").fit([], [])
    assert seen == [1] and torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads must be >= 1"):
        CnnEncoder(threads=0)


@pytest.mark.parametrize("setting", [{"epochs": 0}, {"batch_size": 0}, {"epochs": -1}])
def test_settings_that_cannot_train_are_refused_up_front(setting):
    name = next(iter(setting))
    with pytest.raises(ValueError, match=f"{name} must be >= 1"):
        CnnEncoder(**setting)
