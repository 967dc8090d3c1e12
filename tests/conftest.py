"""Shared fixtures. Fixed seeds everywhere; everything written under pytest's temp dirs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


# Every cache a library under test may write to $HOME (or ~/.cache, ~/.config) goes under one temp dir per run.
HOME_VARIABLES = {
    "JEWELREC_HOME": "jewelrec-home", "HF_HOME": "hf-home", "XDG_CACHE_HOME": "xdg-cache",
    "XDG_CONFIG_HOME": "xdg-config", "MPLCONFIGDIR": "matplotlib", "TORCH_HOME": "torch", "TRITON_CACHE_DIR": "triton",
    "GRADIO_TEMP_DIR": "gradio", "TRACKIO_DIR": "trackio", "WANDB_DIR": "wandb", "WANDB_CACHE_DIR": "wandb-cache",
    "WANDB_CONFIG_DIR": "wandb-config", "RAY_TMPDIR": "ray", "HOME": "home",
}
_saved_environment: dict[str, str | None] = {}


def pytest_configure(config) -> None:
    """Before collection, so before any test module imports datasets or matplotlib (both read their cache dirs
    at import) and before any fixture runs: point every home-derived cache at a fresh temp dir. Subprocesses
    (``python app.py``) inherit the same variables."""
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="jewelrec-tests-"))
    _saved_environment["__root__"] = str(root)
    for name, folder in HOME_VARIABLES.items():
        _saved_environment[name] = os.environ.get(name)
        os.environ[name] = str(root / folder)
    (root / "home").mkdir()


def pytest_unconfigure(config) -> None:
    import shutil

    root = _saved_environment.pop("__root__", None)
    for name, value in _saved_environment.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    if root:
        shutil.rmtree(root, ignore_errors=True)  # the dir pytest_configure made, nothing else


def make_synthetic_bundle(n_items: int = 300, dim: int = 32, n_clusters: int = 6, seed: int = 0):
    """A bundle whose styles are known by construction: item i belongs to cluster i % n_clusters and its
    embedding is that cluster's direction plus small noise. No images (thumbnails are blank JPEGs)."""
    from jewelrec.clustering import soft_assign
    from jewelrec.serving.bundle import Bundle

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.arange(n_items) % n_clusters
    emb = centres[labels] + 0.15 * rng.normal(size=(n_items, dim)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    metals = np.array(["gold", "silver", "rose gold", "platinum"])
    categories = np.array(["ring", "necklace", "earrings", "bracelet", "pendant", "brooch"])
    items = pd.DataFrame({
        "item_id": [f"it-{i:05d}" for i in range(n_items)],
        "name": [f"{metals[c % 4]} {categories[c % 6]} {i}" for i, c in enumerate(labels)],
        "category": categories[labels % 6],
        "metal": metals[labels % 4],
        "price": rng.uniform(50, 900, n_items).round(),
    })
    return Bundle(items=items, embeddings=emb, labels=labels, probs=soft_assign(emb, centres, labels),
                  centroids=centres, coords2d=rng.normal(size=(n_items, 2)).astype(np.float32),
                  config={"dataset": {"source": "synthetic"}, "encoder": {"type": "none"}})


@pytest.fixture
def synthetic_bundle():
    return make_synthetic_bundle()


@pytest.fixture(scope="session")
def sample_bundle_dir(tmp_path_factory) -> Path:
    """A real bundle made by `python -m training.fit` on a small sample catalog (CNN encoder, 60 items).

    Session-scoped: built once (about half a minute on 2 cores), shared read-only by every test. Tests that
    modify a bundle must copy it first (shutil.copytree).
    """
    from training.fit import main

    root = tmp_path_factory.mktemp("sample-bundle")
    out = root / "bundle"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JEWELREC_HOME", str(root / "home"))
        code = main(["--dataset", "sample", "--sample-items", "60", "--encoder", "cnn", "--cnn-epochs", "3",
                     "--method", "kmeans", "--clusters", "6", "--out", str(out)])
    assert code == 0
    return out


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
    import torch
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


HUB_WRITE, HUB_READ = "hf_test_write", "hf_test_read"  # alice's tokens on the local Hub-protocol server


@pytest.fixture(scope="module")
def hub_server():
    from tests.hub_server import HubServer

    server = HubServer(tokens={HUB_WRITE: ("alice", "write"), HUB_READ: ("alice", "read")}).start()
    yield server
    server.stop()


@pytest.fixture
def hub(hub_server, monkeypatch, tmp_path):
    """The server as the Hub: HF_ENDPOINT points at it, HF_TOKEN is alice's write token, no stored token."""
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    monkeypatch.setenv("HF_TOKEN", HUB_WRITE)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no developer token file is ever read
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf-home" / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "hf-home" / "stored_tokens"))
    # binaries go the Hub's LFS way (preupload "lfs" → batch → PUT → lfsFile in the commit); the Xet storage
    # protocol that hf_xet would pick needs the Hub's CAS service, which a local server does not emulate
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    return hub_server


def wait_for(condition, limit_s: float = 30.0) -> bool:
    """Poll ``condition`` every 20 ms until it holds (True) or ``limit_s`` passes (False): for background work."""
    import time

    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def eval_home(tmp_path, monkeypatch):
    """``training.evaluate``'s caches (planted logs, bundles it builds) under this test's temp dir."""
    monkeypatch.setenv("JEWELREC_HOME", str(tmp_path / "home"))


def write_eval_config(tmp_path: Path, config: dict) -> str:
    """``config`` as ``tmp_path/config.yaml`` for ``training.evaluate --config``; returns its path."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def read_results(results: Path) -> dict:
    return json.loads((results / "results.json").read_text())
