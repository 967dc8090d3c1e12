"""The CNN encoder (seed 004's classifier): trained on a catalog label, its penultimate layer is the embedding.

Used when no CLIP weights can be loaded (offline, the embedded sample). Four conv blocks with batch norm
and max-pooling, adaptive average pooling to 4x4, fully connected layers with dropout 0.5; Adam, early
stopping and ReduceLROnPlateau on the validation loss.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from huggingface_hub import PyTorchModelHubMixin
from sklearn.metrics import classification_report, confusion_matrix
from sklearn.model_selection import train_test_split
from torch import nn
from tqdm.auto import tqdm

from jewelrec.devices import cpu_threads, pick_device
from jewelrec.encoders.base import ImageLike, l2_normalise, to_rgb


@dataclass
class CnnConfig:
    class_names: list[str]
    image_size: int = 64  # product photos are centred objects; 64 px keeps CPU training to seconds per epoch
    channels: tuple[int, ...] = (16, 32, 64, 128)  # seed 004's four blocks, doubling width as we pool
    hidden_dim: int = 128  # the embedding size: big enough to separate styles, small enough to search fast
    dropout: float = 0.5  # seed 004's value; the catalog is small, so regularise hard
    mean: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])  # set from the training images
    std: list[float] = field(default_factory=lambda: [0.25, 0.25, 0.25])

    def __post_init__(self) -> None:
        self.channels = tuple(self.channels)
        if len(self.class_names) < 2:
            raise ValueError(f"the CNN needs at least 2 classes to learn from, got {self.class_names}")
        if len(self.channels) != 4:
            raise ValueError(f"channels must list 4 conv blocks, got {self.channels}")


class CnnClassifier(nn.Module, PyTorchModelHubMixin, library_name="jewelrec", tags=["jewelrec", "image-feature-extraction"]):
    """Seed 004's classifier; its 128-d penultimate layer is the embedding. Saved and loaded through
    huggingface_hub's ``PyTorchModelHubMixin`` (config.json from :class:`CnnConfig` + model.safetensors)."""

    def __init__(self, config: CnnConfig | dict[str, Any]):
        super().__init__()
        if isinstance(config, dict):  # from_pretrained hands over config.json: CnnConfig's fields + type/dim
            config = CnnConfig(**{f.name: config[f.name] for f in fields(CnnConfig) if f.name in config})
        self.config = config
        blocks, in_ch = [], 3
        for out_ch in config.channels:
            blocks += [nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            in_ch = out_ch
        self.features = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(4))
        self.embed = nn.Sequential(nn.Flatten(), nn.Dropout(config.dropout),
                                   nn.Linear(in_ch * 16, config.hidden_dim), nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.hidden_dim, len(config.class_names)))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.features(x))  # (batch, hidden_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))  # (batch, n_classes)


def to_tensor(images: Sequence[ImageLike], size: int) -> torch.Tensor:
    """Decode and resize to a uint8 batch (n, 3, size, size); kept uint8 to hold big catalogs in memory."""
    out = torch.empty((len(images), 3, size, size), dtype=torch.uint8)
    for i, image in enumerate(images):
        array = np.array(to_rgb(image).resize((size, size)), dtype=np.uint8)  # (size, size, 3)
        out[i] = torch.from_numpy(array).permute(2, 0, 1)
    return out


class CnnEncoder:
    """Train with :meth:`fit`, embed with :meth:`encode_images`; ``history_`` and ``report_`` say how it went."""

    kind = "cnn"
    has_text = False

    def __init__(self, *, image_size: int = 64, epochs: int = 30, batch_size: int = 32, lr: float = 1e-3,
                 val_fraction: float = 0.2, patience: int = 5, min_delta: float = 1e-3, seed: int = 0,
                 device: str | None = None, threads: int | None = 1):
        for name, value in (("epochs", epochs), ("batch_size", batch_size)):
            if value < 1:  # 0 epochs would leave no trained weights; a 0 batch would never reach an image
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.image_size, self.epochs, self.batch_size, self.lr = image_size, epochs, batch_size, lr
        # small convs on small batches: one CPU thread beats two, which spin-wait for each other on a shared box
        # (bench/README.md); None keeps torch's default
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1 (or None for torch's default), got {threads}")
        self.threads = threads
        # a validation loss that improves by less than min_delta nats is a plateau: stop after `patience` of them
        self.val_fraction, self.patience, self.min_delta, self.seed = val_fraction, patience, min_delta, seed
        self.device = pick_device(device)

    @property
    def dim(self) -> int:
        self._check_fitted()
        return self.model_.config.hidden_dim

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise RuntimeError("CnnEncoder is not trained yet; call fit(images, labels) or from_pretrained(dir)")

    def _normalise(self, batch: torch.Tensor) -> torch.Tensor:
        config = self.model_.config
        mean = torch.tensor(config.mean, device=batch.device).view(1, 3, 1, 1)
        std = torch.tensor(config.std, device=batch.device).view(1, 3, 1, 1)
        return (batch.float() / 255.0 - mean) / std  # (batch, 3, size, size)

    def fit(self, images: Sequence[ImageLike], labels: Sequence[str], *, progress: bool = True) -> CnnEncoder:
        """Train on ``labels`` (one class name per image) with a stratified validation split."""
        with cpu_threads(self.device, self.threads):
            return self._fit(images, labels, progress)

    def _fit(self, images: Sequence[ImageLike], labels: Sequence[str], progress: bool) -> CnnEncoder:
        labels = np.asarray([str(v) for v in labels])
        class_names = sorted(set(labels.tolist()))
        counts = {c: int((labels == c).sum()) for c in class_names}
        if len(class_names) < 2 or min(counts.values()) < 2:
            raise ValueError(f"the CNN encoder needs >= 2 classes with >= 2 images each; label counts are "
                             f"{counts}. Use --label-column to pick another column or --encoder clip")
        torch.manual_seed(self.seed)
        y = torch.as_tensor(np.searchsorted(class_names, labels))
        pixels = to_tensor(images, self.image_size)  # (n, 3, size, size) uint8
        train_idx, val_idx = train_test_split(np.arange(len(y)), test_size=self.val_fraction,
                                              random_state=self.seed, stratify=y.numpy())
        mean = (pixels[train_idx].float() / 255).mean(dim=(0, 2, 3))  # (3,)
        std = (pixels[train_idx].float() / 255).std(dim=(0, 2, 3)).clamp_min(1e-3)  # (3,)
        config = CnnConfig(class_names=class_names, image_size=self.image_size, mean=mean.tolist(),
                           std=std.tolist())
        self.model_ = CnnClassifier(config).to(self.device)
        optimiser = torch.optim.Adam(self.model_.parameters(), lr=self.lr)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, factor=0.1, patience=3)
        loss_fn = nn.CrossEntropyLoss()
        generator = torch.Generator().manual_seed(self.seed)
        history: dict[str, list[float]] = {"train_loss": [], "val_loss": [], "val_accuracy": [], "lr": []}
        best_loss, best_state, stale = float("inf"), None, 0
        bar = tqdm(range(self.epochs), desc="training CNN encoder", unit="epoch", disable=not progress)
        for _ in bar:
            self.model_.train()
            order = torch.as_tensor(train_idx)[torch.randperm(len(train_idx), generator=generator)]
            total = 0.0
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                batch = self._normalise(pixels[idx].to(self.device))
                flip = torch.rand(len(idx), generator=generator) < 0.5  # mirror images are the same product
                batch[flip] = batch[flip].flip(-1)
                loss = loss_fn(self.model_(batch), y[idx].to(self.device))
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += loss.item() * len(idx)
            val_loss, val_pred = self._evaluate(pixels[val_idx], y[val_idx], loss_fn)
            scheduler.step(val_loss)
            history["train_loss"].append(total / len(train_idx))
            history["val_loss"].append(val_loss)
            history["val_accuracy"].append(float((val_pred == y[val_idx].numpy()).mean()))
            history["lr"].append(optimiser.param_groups[0]["lr"])
            bar.set_postfix(val_loss=f"{val_loss:.3f}", val_acc=f"{history['val_accuracy'][-1]:.2f}")
            if val_loss < best_loss - self.min_delta:
                best_loss, best_state, stale = val_loss, copy.deepcopy(self.model_.state_dict()), 0
            else:
                stale += 1
                if stale >= self.patience:
                    break
        if best_state is not None:  # None: no epoch had a finite validation loss; keep the last weights
            self.model_.load_state_dict(best_state)
        _, val_pred = self._evaluate(pixels[val_idx], y[val_idx], loss_fn)
        y_val = y[val_idx].numpy()
        self.history_ = history
        self.report_ = {
            "label_names": class_names,
            "epochs_run": len(history["val_loss"]),
            "best_val_loss": best_loss,
            "val_accuracy": float((val_pred == y_val).mean()),
            "per_class": classification_report(y_val, val_pred, labels=range(len(class_names)),
                                               target_names=class_names, output_dict=True, zero_division=0),
            "confusion_matrix": confusion_matrix(y_val, val_pred, labels=range(len(class_names))).tolist(),
        }
        return self

    @torch.no_grad()
    def _evaluate(self, pixels: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module) -> tuple[float, np.ndarray]:
        self.model_.eval()
        total, preds = 0.0, []
        for start in range(0, len(pixels), 256):
            logits = self.model_(self._normalise(pixels[start:start + 256].to(self.device)))
            total += loss_fn(logits, y[start:start + 256].to(self.device)).item() * len(logits)
            preds.append(logits.argmax(1).cpu().numpy())
        return total / max(len(pixels), 1), np.concatenate(preds)

    def encode_images(self, images: Sequence[ImageLike], *, progress: bool = True) -> np.ndarray:
        self._check_fitted()
        with cpu_threads(self.device, self.threads):
            return self._encode(images, progress)

    @torch.inference_mode()
    def _encode(self, images: Sequence[ImageLike], progress: bool) -> np.ndarray:
        self.model_.eval()
        chunks = []
        for start in tqdm(range(0, len(images), 128), desc="embedding images", unit="batch",
                          disable=not progress):
            pixels = to_tensor(images[start:start + 128], self.model_.config.image_size)
            chunks.append(self.model_.forward_features(self._normalise(pixels.to(self.device))).cpu().numpy())
        return l2_normalise(np.concatenate(chunks)) if chunks else np.zeros((0, self.dim), np.float32)

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError("the CNN encoder has no text tower; text search needs a CLIP bundle")

    def describe(self) -> dict[str, Any]:
        self._check_fitted()
        return {"type": "cnn", "dim": self.dim, **asdict(self.model_.config)}

    def save_pretrained(self, directory: str | Path) -> None:
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        # config.json: the dataclass fields (what the mixin rebuilds CnnConfig from) plus type/dim for load_encoder
        self.model_.save_pretrained(directory, config=self.describe())

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, device: str | None = None) -> CnnEncoder:
        directory = Path(directory)
        raw = json.loads((directory / "config.json").read_text())
        if not isinstance(raw, dict) or raw.get("type") != "cnn":
            raise ValueError(f"{directory}/config.json is not a CNN encoder config")
        if not (directory / "model.safetensors").is_file():  # the mixin would fall back to a pickled .bin
            raise FileNotFoundError(f"{directory}/model.safetensors is missing; re-save the encoder")
        model = CnnClassifier.from_pretrained(directory, strict=True)  # unknown/missing weight keys raise
        encoder = cls(image_size=model.config.image_size, device=device)
        encoder.model_ = model.to(encoder.device).eval()
        return encoder
