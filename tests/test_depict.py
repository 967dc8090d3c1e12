"""DEPICT: model shapes and loss terms, assignments, training on known blobs, the UMAP guide on digits,
save/load, errors."""

from __future__ import annotations

import dataclasses
import json
import time
import warnings

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import normalized_mutual_info_score

from jewelrec.clustering.depict import (
    DEPICT_RULES,
    Depict,
    DepictConfig,
    DepictModel,
    adaptive_dims,
    student_t_assignment,
    target_distribution,
)
from jewelrec.clustering.depict_train import batch_size_for, initial_partition, umap_guide
from jewelrec.clustering.methods import hungarian_accuracy

# Plenty for well-separated blobs, keeps tests quick; the mechanics tests skip the UMAP guide (its numba
# compile alone takes ~30 s), the guided default is pinned on digits below.
FAST = {"pretrain_epochs": 15, "cluster_epochs": 10, "umap_components": 0}


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_blobs(n_samples=500, n_features=24, centers=5, cluster_std=1.5, random_state=7)
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def fitted(blobs) -> Depict:
    X, _ = blobs
    return Depict(5, seed=0, device="cpu", **FAST).fit(X)


# --- architecture and loss terms -------------------------------------------------------------------------


def test_adaptive_dims_scale_with_input() -> None:
    assert adaptive_dims(512, 10) == ((256, 128), 32)
    assert adaptive_dims(16, 5) == ((64, 32), 10)
    assert adaptive_dims(2048, 10) == ((512, 256), 32)
    assert adaptive_dims(768, 40)[1] == 40  # every cluster can own a latent direction


def test_config_resolves_and_round_trips() -> None:
    cfg = DepictConfig(input_dim=512, n_clusters=8).resolved()
    assert cfg.hidden_dims == (256, 128) and cfg.latent_dim == 10  # guided: the latent reproduces a 10-D UMAP
    assert DepictConfig(input_dim=512, n_clusters=8, umap_components=0).resolved().latent_dim == 32
    again = DepictConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    custom = DepictConfig(input_dim=20, n_clusters=3, hidden_dims=[40], latent_dim=4).resolved()
    assert custom.hidden_dims == (40,) and custom.latent_dim == 4


def test_model_shapes_and_every_loss_term() -> None:
    torch.manual_seed(0)
    model = DepictModel(DepictConfig(input_dim=16, n_clusters=3))
    with torch.no_grad():
        model.centroids.normal_()
    x = torch.randn(20, 16)
    out = model(x, noise=torch.randn(20, 10))
    assert out["mean"].shape == (20, 10) and out["logvar"].shape == (20, 10)
    assert out["recon"].shape == (20, 16) and out["q"].shape == (20, 3)
    p = target_distribution(out["q"].detach())
    terms = model.loss_terms(x, p, noise=torch.randn(20, 10))
    for name in ("recon", "vae_kl", "cluster_kl"):
        value = float(terms[name].detach())
        assert np.isfinite(value) and value > 0, name
    assert float(model.loss_terms(x)["cluster_kl"]) == 0.0  # pre-training has no target yet
    sum(terms[n] for n in ("recon", "vae_kl", "cluster_kl")).backward()
    assert model.centroids.grad is not None and model.encoder[0].weight.grad is not None


def test_student_t_matches_hand_computed_case() -> None:
    # z = 0, centres 0 and 1, α = 1: kernels 1 and 1/2 → q = [2/3, 1/3].
    q = student_t_assignment(torch.zeros(1, 1), torch.tensor([[0.0], [1.0]]), alpha=1.0)
    torch.testing.assert_close(q, torch.tensor([[2 / 3, 1 / 3]]))


def test_soft_assignments_sum_to_one_and_target_is_sharper() -> None:
    g = torch.Generator().manual_seed(0)
    q = student_t_assignment(torch.randn(50, 4, generator=g), torch.randn(6, 4, generator=g), alpha=1.0)
    torch.testing.assert_close(q.sum(dim=1), torch.ones(50))
    p = target_distribution(q)
    torch.testing.assert_close(p.sum(dim=1), torch.ones(50))

    def entropy(a: torch.Tensor) -> torch.Tensor:
        return -(a * a.log()).sum(dim=1)

    assert bool((entropy(p) < entropy(q)).all())
    assert float(p.max(dim=1).values.mean()) > float(q.max(dim=1).values.mean())


def test_small_catalogs_get_smaller_batches() -> None:
    cfg = DepictConfig(input_dim=8, n_clusters=2)
    assert batch_size_for(10_000, cfg) == 256
    assert batch_size_for(5_000, cfg) == 157  # ≥ 32 steps per epoch
    assert batch_size_for(500, cfg) == 16  # never below 16
    assert batch_size_for(500, DepictConfig(input_dim=8, n_clusters=2, min_steps_per_epoch=8)) == 63


# --- training ------------------------------------------------------------------------------------------------


def test_recovers_well_separated_blobs(blobs, fitted) -> None:
    _, y = blobs
    assert normalized_mutual_info_score(y, fitted.labels_) >= 0.95


def test_fit_outputs_and_history(blobs, fitted) -> None:
    X, _ = blobs
    latent = fitted.config_.latent_dim
    assert fitted.labels_.shape == (500,) and fitted.labels_.dtype == np.int64
    assert fitted.probs_.shape == (500, 5) and fitted.probs_.dtype == np.float32
    np.testing.assert_allclose(fitted.probs_.sum(axis=1), 1.0, rtol=1e-5)
    assert fitted.latents_.shape == (500, latent) and fitted.centroids_.shape == (5, latent)
    np.testing.assert_array_equal(fitted.labels_, fitted.probs_.argmax(axis=1))
    np.testing.assert_allclose(fitted.transform(X), fitted.latents_, atol=1e-5)
    np.testing.assert_array_equal(fitted.predict(X), fitted.labels_)
    h = fitted.history_
    assert len(h["recon"]) == len(h["vae_kl"]) == len(h["total"]) == len(h["lr"]) == fitted.n_iter_
    assert len(h["cluster_kl"]) == fitted.n_iter_ - fitted.n_pretrain_epochs_ >= 1
    assert h["recon"][fitted.n_pretrain_epochs_ - 1] < h["recon"][0]  # pre-training learned something
    assert all(np.isfinite(v) for series in h.values() for v in series)
    assert fitted.stop_reason_ in {"labels_stable", "loss_plateau", "max_epochs"}


def test_same_seed_gives_identical_results(blobs, fitted) -> None:
    X, _ = blobs
    again = Depict(5, seed=0, device="cpu", **FAST).fit(X)
    np.testing.assert_array_equal(again.labels_, fitted.labels_)
    np.testing.assert_array_equal(again.probs_, fitted.probs_)
    assert again.history_ == fitted.history_


def test_fit_leaves_global_torch_state_alone(blobs) -> None:
    X, _ = blobs
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    before = torch.are_deterministic_algorithms_enabled()
    threads = torch.get_num_threads()
    Depict(2, seed=5, device="cpu", pretrain_epochs=1, cluster_epochs=1, cpu_threads=threads + 1,
           umap_components=0).fit(X[:60])
    torch.testing.assert_close(torch.rand(3), expected)
    assert torch.are_deterministic_algorithms_enabled() == before
    assert torch.get_num_threads() == threads


def test_label_change_tolerance_stops_joint_phase(blobs) -> None:
    X, _ = blobs
    model = Depict(5, seed=0, device="cpu", pretrain_epochs=3, cluster_epochs=10, tol=1.01, umap_components=0).fit(X)
    assert model.stop_reason_ == "labels_stable"
    assert model.n_iter_ == 3 + 1 and len(model.history_["label_change"]) == 1


def test_loss_plateau_stops_pretraining(blobs) -> None:
    X, _ = blobs
    # No epoch can cut the best loss by 99 %, so with patience 1 phase 1 stops after its second epoch.
    model = Depict(5, seed=0, device="cpu", pretrain_epochs=10, cluster_epochs=2, min_delta=0.99,
                   patience=1, umap_components=0).fit(X)
    assert model.n_pretrain_epochs_ == 2


def test_density_partition_merges_small_islands_and_splits_to_reach_k() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 1.5]])  # the 4th: a small island near the 2nd
    sizes = [100, 100, 100, 12]
    space = np.concatenate([c + 0.3 * rng.normal(size=(n, 2)) for c, n in zip(centres, sizes)])  # (312, 2)
    truth = np.repeat(np.arange(4), sizes)
    three = initial_partition(space, DepictConfig(input_dim=2, n_clusters=3, umap_components=0), seed=0)
    merged = np.where(truth == 3, 1, truth)  # the small island joins the island with the nearest centre
    assert normalized_mutual_info_score(merged, three) == pytest.approx(1.0)
    assert sorted(np.unique(three)) == [0, 1, 2]
    five = initial_partition(space, DepictConfig(input_dim=2, n_clusters=5, umap_components=0), seed=0)
    assert sorted(np.unique(five)) == [0, 1, 2, 3, 4]  # one island halved to make up the count
    assert normalized_mutual_info_score(truth, five) > 0.85
    kmeans = initial_partition(space, DepictConfig(input_dim=2, n_clusters=4, umap_components=0, init="kmeans"), 0)
    assert sorted(np.unique(kmeans)) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="init must be one of"):
        DepictConfig(input_dim=2, n_clusters=2, init="spectral").validate()


# --- the UMAP guide, on real data -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:600].astype(np.float32), y[:600]  # real 8×8 handwriting, 10 classes


@pytest.fixture(scope="module")
def guided(digits) -> tuple[Depict, float, np.ndarray]:
    X, _ = digits
    start = time.perf_counter()
    guide = umap_guide(X, DepictConfig(input_dim=64, n_clusters=10), seed=0)  # what fit() would compute
    model = Depict(10, seed=0, device="cpu").fit(X, guide=guide)  # the default: guided by a UMAP of X
    return model, time.perf_counter() - start, guide


def test_guided_depict_beats_kmeans_on_digits(digits, guided) -> None:
    X, y = digits
    model, seconds, guide = guided
    kmeans = KMeans(10, n_init=10, random_state=0).fit_predict(X)
    depict_nmi = normalized_mutual_info_score(y, model.labels_)
    assert depict_nmi >= normalized_mutual_info_score(y, kmeans) + 0.04, depict_nmi  # measured 0.88 vs 0.81
    assert hungarian_accuracy(y, model.labels_) >= 0.88  # measured 0.90 (KMeans on the pixels: 0.86)
    assert model.latents_.shape == (600, 10) and model.history_["guide"][-1] < 0.1  # latent ≈ the UMAP
    assert seconds < 90  # UMAP's numba compile (~30 s cold) + ~5 s of training on 600 × 64


def test_guided_model_predicts_from_raw_embeddings_after_load(digits, guided, tmp_path) -> None:
    X, _ = digits
    model, _, _ = guided
    model.save_pretrained(tmp_path)  # UMAP is not saved: the encoder alone maps embeddings to clusters
    loaded = Depict.from_pretrained(tmp_path, input_dim=64, device="cpu")
    agreement = float(np.mean(loaded.predict(X) == model.labels_))  # labels_ cluster the exact UMAP
    assert agreement == pytest.approx(model.encoder_agreement_) and agreement >= 0.95  # measured 0.97
    assert loaded.encoder_agreement_ == model.encoder_agreement_
    assert loaded.config_.umap_components == 10 and loaded.config_.latent_dim == 10


def test_precomputed_guide_is_checked(digits) -> None:
    X, _ = digits
    with pytest.raises(ValueError, match=r"guide has shape \(600, 2\).*pass the UMAP of this X"):
        Depict(10, device="cpu").fit(X, guide=np.zeros((600, 2), np.float32))
    with pytest.raises(ValueError, match="must equal umap_components"):
        Depict(10, latent_dim=4).fit(X)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fit_recovers_blobs(blobs) -> None:
    X, y = blobs
    model = Depict(5, seed=0, device="cuda", **FAST).fit(X)
    assert normalized_mutual_info_score(y, model.labels_) >= 0.95


# --- save / load ---------------------------------------------------------------------------------------------


def test_save_load_round_trip_gives_identical_assignments(blobs, fitted, tmp_path) -> None:
    X, _ = blobs
    fitted.save_pretrained(tmp_path / "depict")
    text = (tmp_path / "depict" / "config.json").read_text()
    doc = json.loads(text)
    assert text.rstrip("\n") == json.dumps(doc, indent=2, sort_keys=True)  # sorted keys, indented
    assert doc["config"]["input_dim"] == 24 and doc["config"]["n_clusters"] == 5
    loaded = Depict.from_pretrained(tmp_path / "depict", input_dim=24, device="cpu")
    np.testing.assert_array_equal(loaded.predict(X), fitted.labels_)
    np.testing.assert_allclose(loaded.predict_proba(X), fitted.probs_, atol=1e-6)
    np.testing.assert_array_equal(loaded.centroids_, fitted.centroids_)
    assert loaded.history_ == fitted.history_ and loaded.config_ == fitted.config_


# --- errors that name the fix --------------------------------------------------------------------------------


def test_bad_cluster_counts_raise() -> None:
    X = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"n_clusters ≤ 4"):
        Depict(5).fit(X)
    with pytest.raises(ValueError, match="at least 2 clusters"):
        Depict(1).fit(X)


def test_tiny_catalogs_fit_with_the_guide() -> None:
    # UMAP's spectral start and HDBSCAN's islands need more rows than these: random start, plain KMeans partition
    X = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)
    model = Depict(2, seed=0, device="cpu").fit(X)
    assert model.probs_.shape == (5, 2) and np.isfinite(model.probs_).all()
    np.testing.assert_allclose(model.probs_.sum(1), 1, atol=1e-5)


def test_extreme_magnitudes_fit_and_predict_in_their_own_units(blobs, fitted, tmp_path) -> None:
    X, y = blobs
    for scale in (1e-30, 1e30):
        model = Depict(5, seed=0, device="cpu", **FAST).fit(X * np.float32(scale))
        assert np.isfinite(model.probs_).all() and hungarian_accuracy(y, model.labels_) > 0.95
        model.save_pretrained(tmp_path / str(scale))
        again = Depict.from_pretrained(tmp_path / str(scale))
        np.testing.assert_array_equal(again.predict(X * np.float32(scale)), model.predict(X * np.float32(scale)))
        assert np.mean(model.predict(X * np.float32(scale)) == model.labels_) > 0.95


def test_bad_inputs_and_hyperparameters_raise() -> None:
    with pytest.raises(TypeError, match="allowed keys are"):
        Depict(3, learning_rate=0.1)
    with pytest.raises(ValueError, match="cluster_lr must be a number > 0"):
        Depict(2, cluster_lr=0.0).fit(np.zeros((10, 3), np.float32))
    with pytest.raises(ValueError, match="NaN or inf"):
        Depict(2).fit(np.full((10, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match="2-D array"):
        Depict(2).fit(np.zeros(10, np.float32))
    with pytest.raises(RuntimeError, match="not fitted"):
        Depict(2).predict(np.zeros((3, 3), np.float32))
    with pytest.raises(ValueError, match="DEPICT config has unknown keys"):
        DepictConfig.from_dict({"input_dim": 3, "n_clusters": 2, "depth": 4})


def test_repeated_rows_or_a_constant_guide_are_refused_before_training() -> None:
    """Depict used directly split 30 identical rows between two clusters (fit_clusters refused that, Depict did
    not); a constant guide trained to "loss became NaN/inf; lower lr", the wrong fix."""
    rng = np.random.default_rng(0)
    X = np.repeat(rng.normal(size=(2, 16)), 30, axis=0).astype(np.float32)
    with pytest.raises(ValueError, match=r"n_clusters=3 but the 60 embeddings hold only 2 distinct rows .*pass "
                                         r"n_clusters=2 or fewer"):
        Depict(3).fit(X)
    X = rng.normal(size=(60, 16)).astype(np.float32)
    for guide, distinct in ((np.ones((60, 10), np.float32), 1),
                            (np.repeat(rng.normal(size=(2, 10)), 30, axis=0).astype(np.float32), 2)):
        with pytest.raises(ValueError, match=rf"guide holds {distinct} distinct point\(s\) for n_clusters=3: it "
                                             r"cannot tell the items apart; pass the UMAP of this X"):
            Depict(3).fit(X, guide=guide)


def test_wrong_input_dim_at_load_and_predict(fitted, tmp_path) -> None:
    fitted.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="trained on 24-dim embeddings but these are 512-dim; refit"):
        Depict.from_pretrained(tmp_path, input_dim=512)
    loaded = Depict.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="expects 24-dim inputs but X has 7 columns"):
        loaded.predict(np.zeros((2, 7), np.float32))


def test_tampered_or_missing_files_raise(fitted, tmp_path) -> None:
    fitted.save_pretrained(tmp_path)
    doc = json.loads((tmp_path / "config.json").read_text())
    doc["config"]["latent_dim"] += 1
    (tmp_path / "config.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="do not match"):
        Depict.from_pretrained(tmp_path)
    doc["format"] = "something-else"
    (tmp_path / "config.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="not a DEPICT config"):
        Depict.from_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="save_pretrained"):
        Depict.from_pretrained(tmp_path)


def test_every_config_field_has_a_rule_and_the_defaults_pass() -> None:
    assert set(DEPICT_RULES) == {f.name for f in dataclasses.fields(DepictConfig)}
    DepictConfig(input_dim=3, n_clusters=2).validate()
    DepictConfig(input_dim=3, n_clusters=2, hidden_dims=[8, 4], latent_dim=3, umap_components=0).validate()


@pytest.mark.parametrize(("setting", "wanted"), [
    ({"n_clusters": 2.5}, "n_clusters must be a whole number ≥ 2"),  # int() used to cut it to 2
    ({"n_clusters": "3"}, "n_clusters must be a whole number ≥ 2"),  # int("3") used to accept it
    ({"lr": "0.01"}, "lr must be a number > 0"),
    ({"cluster_epochs": 2.5}, "cluster_epochs must be a whole number ≥ 0"),
    ({"hidden_dims": [64, 0]}, "hidden_dims must be a list of whole numbers ≥ 1"),
    ({"hidden_dims": 64}, "hidden_dims must be a list"),  # tuple(int(h) ...) used to raise TypeError
    ({"standardize": 1}, "standardize must be true or false"),
    ({"alpha": float("nan")}, "alpha must be a number > 0"),
    ({"lr_factor": 1.0}, r"lr_factor must be a number in \(0, 1\)"),
])
def test_a_setting_of_the_wrong_type_or_range_is_refused_before_any_work(setting, wanted) -> None:
    n_clusters = setting.pop("n_clusters", 2)
    with pytest.raises(ValueError, match=f"DEPICT config: {wanted}"):
        Depict(n_clusters, **setting).fit(np.zeros((10, 3), np.float32))


def test_numpy_numbers_are_accepted_and_saved_as_json_numbers(tmp_path) -> None:
    X = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    model = Depict(np.int64(3), seed=np.int64(1), lr=np.float32(3e-3), **FAST).fit(X)
    assert type(model.config_.n_clusters) is int and type(model.config_.lr) is float
    model.save_pretrained(tmp_path)  # json.dumps refuses numpy scalars
    assert Depict.from_pretrained(tmp_path).config_ == model.config_


@pytest.mark.parametrize("seed", [-1, 1.5, "0", None, 2**32])
def test_a_bad_seed_is_refused_before_any_work(seed) -> None:
    with pytest.raises(ValueError, match="seed must be an integer"):
        Depict(2, seed=seed).fit(np.zeros((10, 3), np.float32))


def test_a_tampered_config_or_damaged_weights_name_the_file(fitted, tmp_path) -> None:
    from safetensors.torch import load_file, save_file

    def saved(name: str):
        fitted.save_pretrained(tmp_path / name)
        return tmp_path / name

    def edit_config(name: str, change) -> None:
        path = saved(name) / "config.json"
        doc = json.loads(path.read_text())
        change(doc)
        path.write_text(json.dumps(doc))
        with pytest.raises(ValueError, match=r"config\.json is not a DEPICT config this jewelrec can load"):
            Depict.from_pretrained(path.parent)

    edit_config("k", lambda doc: doc["config"].update(n_clusters="5"))  # used to load as 5 via int()
    edit_config("dims", lambda doc: doc["config"].update(hidden_dims=64))  # used to raise TypeError
    edit_config("block", lambda doc: doc.update(config=[1, 2]))  # used to raise AttributeError
    edit_config("fit", lambda doc: doc.update(fit="done"))
    edit_config("seed", lambda doc: doc.update(seed="zero"))
    binary = saved("binary") / "config.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="is not valid JSON"):
        Depict.from_pretrained(binary.parent)
    for cut in (100, -40):  # the header cut, the tensors cut
        weights = saved(f"cut{cut}") / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:cut])
        with pytest.raises(ValueError, match="is not a readable safetensors file.*damaged or truncated"):
            Depict.from_pretrained(weights.parent)  # used to raise safetensors' SafetensorError
    weights = saved("nan") / "model.safetensors"
    tensors = load_file(weights)
    tensors["centroids"][0, 0] = float("nan")
    save_file(tensors, weights, metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"holds NaN or inf in \['centroids'\]"):
        Depict.from_pretrained(weights.parent)  # used to load and assign every item to one cluster


def test_every_cluster_asked_for_keeps_items_on_a_small_catalog() -> None:
    # 4 groups, many more clusters asked: DEC's target drained 19 of 30 (and 5 of 12 on 60 items, where the
    # centres sat in the encoder's blurred copy of the guide instead of the guide the items are assigned in)
    for n, k in ((60, 12), (200, 30)):
        X, _ = make_blobs(n_samples=n, n_features=16, centers=4, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            model = Depict(k, seed=0, device="cpu").fit(X.astype(np.float32))
        assert len(np.unique(model.labels_)) == k, (n, k, np.bincount(model.labels_, minlength=k))
    assert model.stop_reason_ == "cluster_emptied"


def test_fewer_clusters_than_asked_is_a_warning(monkeypatch) -> None:
    import jewelrec.clustering.depict_train as depict_train

    real = depict_train.train

    def start_with_an_empty_cluster(*args, **kwargs):
        result = real(*args, **kwargs)
        result.probs[:, 0] = 0.0  # as if no item were nearest the first centre
        return result

    monkeypatch.setattr(depict_train, "train", start_with_an_empty_cluster)
    X = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    with pytest.warns(ConvergenceWarning, match="DEPICT found 2 non-empty clusters of the 3 asked for"):
        Depict(3, seed=0, **FAST).fit(X)


def test_a_device_this_machine_lacks_or_a_bad_input_dim_is_named_before_loading(fitted, tmp_path) -> None:
    fitted.save_pretrained(tmp_path)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no CUDA GPU; pass device='cpu'"):
            Depict.from_pretrained(tmp_path, device="cuda")  # torch's AssertionError came mid-load
    with pytest.raises(ValueError, match="is not a torch device"):
        Depict.from_pretrained(tmp_path, device="gpu")
    with pytest.raises(ValueError, match="input_dim must be the embeddings' width"):
        Depict.from_pretrained(tmp_path, input_dim="24")  # "trained on 24-dim … but these are 24-dim"
