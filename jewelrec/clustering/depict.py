"""DEPICT-style deep clustering: a VAE whose latent means are clustered by a Student's-t layer.

The model (:class:`DepictModel`) is a small MLP variational autoencoder plus a clustering layer with
DEC soft assignments ``q_ij ∝ (1 + |z_i - μ_j|² / α)^(-(α+1)/2)``. Training (see
:mod:`jewelrec.clustering.depict_train`) runs in two phases: VAE pre-training, then KMeans on the latent means to
place the centres (by default HDBSCAN's dense islands of the UMAP guide, brought to k), then joint optimisation of reconstruction + KL(VAE) + KL(P ‖ Q), where the sharpened
target P is refreshed on a schedule.

:class:`Depict` is the scikit-learn-style estimator around it::

    model = Depict(n_clusters=8, seed=0).fit(X)          # X (n, d) float32
    model.labels_, model.probs_, model.latents_          # (n,), (n, k), (n, latent)
    model.save_pretrained("bundle/depict")               # config.json + model.safetensors
    Depict.from_pretrained("bundle/depict").predict(X)   # strict load
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from huggingface_hub import PyTorchModelHubMixin
from safetensors import SafetensorError
from sklearn.exceptions import ConvergenceWarning
from torch import nn

from jewelrec.clustering.methods import check_distinct, check_seed, distinct_rows
from jewelrec.config_keys import Rules, check_fields, check_keys, is_number, is_whole
from jewelrec.devices import pick_device

FORMAT = "jewelrec.depict"  # written into every saved config.json: never rename (old bundles carry it)
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


@dataclass
class DepictConfig:
    """Architecture and training settings. Defaults were tuned for 10k × 512 in ≤ 60 s on 2 CPU cores."""

    input_dim: int  # width of the embeddings; checked again at predict and load time
    n_clusters: int  # k: number of clusters the clustering layer holds
    hidden_dims: tuple[int, ...] | None = None  # None → adaptive from input_dim (see adaptive_dims)
    latent_dim: int | None = None  # None → adaptive; the latent mean is the clustering space
    alpha: float = 1.0  # Student's-t degrees of freedom; 1.0 as in DEC (heavy tails keep far points soft)
    recon_weight: float = 1.0  # reconstruction keeps the latent space faithful to the embeddings
    vae_kl_weight: float = 0.03  # small β: 1.0 collapses the posterior, 0.1 merges clusters; 0.03 best measured
    cluster_weight: float = 0.5  # γ on KL(P‖Q): 0.5 beat IDEC's 0.1 on pixels and CLIP-like sets
    lr: float = 3e-3  # Adam step for VAE pre-training; 1e-3 under-trains in 25 epochs, 1e-2 diverges
    cluster_lr: float = 5e-4  # lower Adam step for the joint phase so the KMeans start is refined, not lost
    weight_decay: float = 0.0  # the VAE prior already regularises the latent space
    batch_size: int = 256  # upper bound: large enough for fast CPU matmuls
    min_steps_per_epoch: int = 32  # small catalogs get smaller batches: the VAE needs steps, not epochs
    pretrain_epochs: int = 25  # VAE-only epochs before KMeans places the centres
    cluster_epochs: int = 30  # upper bound on joint epochs; early stopping usually ends sooner
    target_update_interval: int = 1  # epochs between refreshes of the target distribution P
    tol: float = 1e-3  # stop the joint phase when fewer than this fraction of labels change per refresh
    patience: int = 5  # epochs without relative loss improvement ≥ min_delta before stopping a phase
    min_delta: float = 1e-3  # relative improvement that counts as progress for the plateau stop
    lr_factor: float = 0.5  # ReduceLROnPlateau factor
    lr_patience: int = 2  # ReduceLROnPlateau patience (epochs); shorter than `patience` so LR drops first
    grad_clip: float = 5.0  # max global grad norm; guards the KL(P‖Q) term when q is near 0
    kmeans_n_init: int = 20  # KMeans restarts on the (cheap, low-dim) latents; 10 missed merges/splits
    cpu_threads: int = 1  # torch threads on CPU; 1 dodges OpenMP spin-wait collapse on shared cores; 0 = as is
    standardize: bool = True  # centre and scale inputs; L2-normalised embeddings have tiny per-dim variance
    # The guide: a UMAP of the inputs that the encoder learns to reproduce in its latent means (MSE), so the
    # saved model maps raw embeddings straight into a neighbourhood-preserving space (no UMAP at predict time).
    umap_components: int = 10  # latent size when guided; 0 = no guide (pre-#12 DEPICT: digits NMI 0.75)
    umap_neighbors: int = 30  # 10 suits digits (NMI 0.925 vs 0.919) but splits the sample (0.51–0.61 vs 0.79–0.83)
    umap_min_dist: float = 0.0  # tight clumps are what clustering wants; 0.1 is for pictures
    umap_metric: str = "euclidean"  # ranks like cosine on L2-normalised embeddings; keeps norms of raw features
    guide_weight: float = 1.0  # weight of MSE(latent mean, standardised UMAP); recon then only regularises
    init: str = "density"  # first partition: "density" (HDBSCAN islands, brought to k) or "kmeans"
    init_space: str = "guide"  # partition the exact UMAP ("guide") or the encoder's latent means ("latent")
    target_space: str = "guide"  # sharpen q computed on the exact UMAP ("guide") or on the latent ("latent")

    def __post_init__(self) -> None:
        if isinstance(self.hidden_dims, list):  # JSON has no tuples
            self.hidden_dims = tuple(self.hidden_dims)
        for f in dataclasses.fields(self):  # numpy scalars that pass the rules are saved as JSON's own numbers
            value = getattr(self, f.name)
            if isinstance(value, np.generic) and (is_whole(value) or is_number(value)):
                setattr(self, f.name, value.item())

    def resolved(self) -> DepictConfig:
        """A copy with ``hidden_dims`` and ``latent_dim`` made concrete (what gets saved)."""
        hidden, latent = adaptive_dims(self.input_dim, self.n_clusters)
        if self.umap_components > 0:
            latent = self.umap_components  # the latent mean is regressed onto the UMAP coordinates
        return dataclasses.replace(
            self,
            hidden_dims=self.hidden_dims if self.hidden_dims is not None else hidden,
            latent_dim=self.latent_dim if self.latent_dim is not None else latent,
        )

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field and what it takes, for settings that cannot train
        (:data:`DEPICT_RULES`, then the settings that must agree with each other)."""
        check_fields(self, DEPICT_RULES, "DEPICT config")
        if self.umap_components > 0 and self.latent_dim is not None and self.latent_dim != self.umap_components:
            raise ValueError(f"latent_dim={self.latent_dim} must equal umap_components={self.umap_components} "
                             "(the latent reproduces the UMAP guide); pass latent_dim=None or umap_components=0")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d["hidden_dims"] is not None:
            d["hidden_dims"] = list(d["hidden_dims"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DepictConfig:
        check_keys(d, cls, "DEPICT config")
        missing = sorted(f.name for f in dataclasses.fields(cls)
                         if f.default is dataclasses.MISSING and f.name not in d)
        if missing:
            raise ValueError(f"DEPICT config lacks required keys {missing}; re-save the model with save_pretrained")
        return cls(**d)


def _whole_at_least(low: int, note: str = "") -> tuple[Any, str]:
    return (lambda v: is_whole(v) and v >= low), f"a whole number ≥ {low}{note}"


def _number(accepts: Any, wanted: str) -> tuple[Any, str]:
    return (lambda v: is_number(v) and accepts(v)), wanted


# DepictConfig field → (accepts the value, what a good value is). A value of the wrong type (2.5 clusters, "3",
# a string learning rate) is refused, not truncated or left to fail mid-fit; tests/test_depict.py checks that every
# field has a rule.
DEPICT_RULES: Rules = {
    "input_dim": _whole_at_least(1, " (pass X with at least one column)"),
    "n_clusters": _whole_at_least(2, " (ask for at least 2 clusters)"),
    "hidden_dims": ((lambda v: v is None or (isinstance(v, tuple) and all(is_whole(h) and h >= 1 for h in v))),
                    "a list of whole numbers ≥ 1, or null (adaptive)"),
    "latent_dim": ((lambda v: v is None or (is_whole(v) and v >= 1)), "a whole number ≥ 1, or null (adaptive)"),
    **{name: _number(lambda v: v > 0, "a number > 0")
       for name in ("alpha", "lr", "cluster_lr", "grad_clip")},
    **{name: _number(lambda v: v >= 0, "a number ≥ 0")
       for name in ("recon_weight", "vae_kl_weight", "cluster_weight", "weight_decay", "tol", "min_delta",
                    "umap_min_dist", "guide_weight")},
    "lr_factor": _number(lambda v: 0 < v < 1, "a number in (0, 1) (the learning rate is multiplied by it)"),
    **{name: _whole_at_least(1) for name in ("batch_size", "min_steps_per_epoch", "target_update_interval",
                                             "kmeans_n_init")},
    **{name: _whole_at_least(0) for name in ("pretrain_epochs", "cluster_epochs", "patience", "lr_patience")},
    "cpu_threads": _whole_at_least(0, " (0 = torch's own setting)"),
    "umap_components": _whole_at_least(0, " (0 = no UMAP guide)"),
    "umap_neighbors": _whole_at_least(2),
    "standardize": (lambda v: isinstance(v, bool), "true or false"),
    "umap_metric": (lambda v: isinstance(v, str) and bool(v), "a UMAP metric name such as 'euclidean'"),
    "init": (lambda v: v in ("density", "kmeans"), "one of 'density', 'kmeans'"),
    "init_space": (lambda v: v in ("guide", "latent"), "one of 'guide', 'latent'"),
    "target_space": (lambda v: v in ("guide", "latent"), "one of 'guide', 'latent'"),
}


def adaptive_dims(input_dim: int, n_clusters: int) -> tuple[tuple[int, ...], int]:
    """Encoder widths and latent size that scale with the input (decoder mirrors the encoder).

    512 → (256, 128) → 32; 16 → (64, 32) → 10; 2048 → (512, 256) → 32. The latent has at least
    ``min(input_dim, max(10, n_clusters))`` dims so every cluster can own a direction.
    """
    latent = max(min(32, input_dim // 4), min(input_dim, max(10, n_clusters)))
    h1 = min(512, max(64, input_dim // 2))
    h2 = max(2 * latent, h1 // 2)
    return (h1, h2), latent


def student_t_assignment(z: torch.Tensor, centroids: torch.Tensor, alpha: float) -> torch.Tensor:
    """DEC soft assignment: z (n, latent), centroids (k, latent) → q (n, k), rows sum to 1."""
    dist2 = torch.cdist(z, centroids).pow(2)  # (n, k)
    logits = -(alpha + 1.0) / 2.0 * torch.log1p(dist2 / alpha)  # (n, k), log of the unnormalised kernel
    return torch.softmax(logits, dim=1)  # (n, k); softmax in log space avoids 0/0 for far points


def target_distribution(q: torch.Tensor) -> torch.Tensor:
    """DEC target ``p_ij ∝ q_ij² / f_j`` with ``f_j = Σ_i q_ij``: sharper than q, balanced across clusters."""
    weight = q.pow(2) / q.sum(dim=0, keepdim=True).clamp_min(1e-12)  # (n, k)
    return weight / weight.sum(dim=1, keepdim=True)  # (n, k)


def _mlp(widths: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class DepictModel(nn.Module, PyTorchModelHubMixin, library_name="jewelrec", tags=["jewelrec", "clustering"]):
    """MLP VAE + Student's-t clustering layer. Inputs are standardised with stored buffers. Saved and loaded
    through huggingface_hub's ``PyTorchModelHubMixin``: config.json holds :class:`DepictConfig` under "config"."""

    def __init__(self, config: DepictConfig | dict[str, Any]):
        super().__init__()
        if isinstance(config, dict):  # from_pretrained hands over config.json's "config" block
            config = DepictConfig.from_dict(config)
        config.validate()  # before resolving: the adaptive sizes are computed from input_dim and n_clusters
        config = config.resolved()
        self.config = config
        d, hidden, latent = config.input_dim, list(config.hidden_dims or ()), int(config.latent_dim or 0)
        self.encoder = _mlp([d, *hidden])
        if hidden:
            self.encoder.append(nn.ReLU())
        last = hidden[-1] if hidden else d
        self.to_mean = nn.Linear(last, latent)
        self.to_logvar = nn.Linear(last, latent)
        self.decoder = _mlp([latent, *reversed(hidden), d])  # linear output: standardised inputs are signed
        self.centroids = nn.Parameter(torch.zeros(config.n_clusters, latent))  # (k, latent), set by KMeans
        self.register_buffer("input_mean", torch.zeros(d))  # (d,)
        self.register_buffer("input_scale", torch.ones(1))  # (1,) one scale keeps relative variances

    def set_standardization(self, x: torch.Tensor) -> None:
        """Fit the input buffers on x (n, d); identity when ``config.standardize`` is off."""
        if not self.config.standardize:
            return
        mean = x.mean(dim=0)  # (d,)
        scale = (x - mean).pow(2).mean().sqrt().clamp_min(1e-8)  # () RMS of centred entries
        self.input_mean.copy_(mean)
        self.input_scale.copy_(scale.reshape(1))

    def standardize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.input_mean) / self.input_scale  # (n, d)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw inputs x (n, d) → latent mean and log-variance, each (n, latent)."""
        h = self.encoder(self.standardize(x))  # (n, hidden[-1])
        return self.to_mean(h), self.to_logvar(h).clamp(-10.0, 10.0)

    def soft_assign(self, z: torch.Tensor) -> torch.Tensor:
        return student_t_assignment(z, self.centroids, self.config.alpha)  # (n, k)

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """x (n, d); noise (n, latent) standard normal for the reparameterisation (None → use the mean)."""
        mean, logvar = self.encode(x)
        z = mean if noise is None else mean + noise * torch.exp(0.5 * logvar)  # (n, latent)
        return {"mean": mean, "logvar": logvar, "recon": self.decoder(z), "q": self.soft_assign(mean)}

    def loss_terms(self, x: torch.Tensor, p: torch.Tensor | None = None, noise: torch.Tensor | None = None,
                   guide: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Unweighted terms: recon (MSE on standardised inputs), vae_kl (per latent dim), cluster_kl (batch mean),
        guide (MSE of the latent mean to ``guide`` (n, latent), the standardised UMAP coordinates; 0 without).

        ``p`` (n, k) is the target distribution; without it cluster_kl is 0 (pre-training).
        """
        out = self.forward(x, noise)
        recon = (out["recon"] - self.standardize(x)).pow(2).mean()  # ()
        mean, logvar = out["mean"], out["logvar"]
        guide_mse = recon.new_zeros(()) if guide is None else (mean - guide).pow(2).mean()  # ()
        vae_kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()  # () KL(N(μ,σ²) ‖ N(0,1)) per dim
        if p is None:
            cluster_kl = recon.new_zeros(())
        else:
            log_q = torch.log(out["q"].clamp_min(1e-12))  # (n, k)
            cluster_kl = (p * (torch.log(p.clamp_min(1e-12)) - log_q)).sum(dim=1).mean()  # ()
        return {"recon": recon, "vae_kl": vae_kl, "cluster_kl": cluster_kl, "guide": guide_mse, "q": out["q"]}


def _check_X(X: Any, input_dim: int | None = None) -> np.ndarray:
    arr = np.asarray(X, dtype=np.float32)
    if arr.ndim != 2:
        raise ValueError(f"X must be a 2-D array (n_items, dim), got shape {arr.shape}; reshape it first")
    if input_dim is not None and arr.shape[1] != input_dim:
        raise ValueError(
            f"this DEPICT model expects {input_dim}-dim inputs but X has {arr.shape[1]} columns; use the "
            "embeddings it was trained on (same encoder) or refit with Depict(...).fit(X)")
    if not np.isfinite(arr).all():
        raise ValueError("X contains NaN or inf; drop or re-encode those items before clustering")
    return np.ascontiguousarray(arr)


class Depict:
    """Scikit-learn-style DEPICT estimator. Hyperparameters are :class:`DepictConfig` fields."""

    def __init__(self, n_clusters: int = 10, *, seed: int = 0, device: str | None = None, **hyperparams: Any):
        fields = {f.name for f in dataclasses.fields(DepictConfig)} - {"input_dim", "n_clusters"}
        check_keys(hyperparams, fields, "Depict(...) hyperparameters", error=TypeError)
        self.n_clusters = n_clusters
        self.seed = seed
        self.device = device
        self.hyperparams = dict(hyperparams)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"n_clusters": self.n_clusters, "seed": self.seed, "device": self.device, **self.hyperparams}

    def _config_for(self, X: np.ndarray) -> DepictConfig:
        config = DepictConfig(input_dim=X.shape[1], n_clusters=self.n_clusters, **self.hyperparams)
        config.validate()
        n = X.shape[0]
        if config.n_clusters > n:
            raise ValueError(f"n_clusters={config.n_clusters} exceeds the {n} items; use n_clusters ≤ {n}")
        check_distinct(X, config.n_clusters, flag="n_clusters=")  # identical rows were split between clusters
        return config

    def fit(self, X: np.ndarray, guide: np.ndarray | None = None) -> Depict:
        """Train on X (n, d). Sets labels_ (n,), probs_ (n, k), latents_ (n, latent), centroids_ (k, latent),
        history_ ({term: per-epoch values}), n_iter_ (epochs run), n_pretrain_epochs_, encoder_agreement_.

        When guided (the default), labels_ / probs_ are the clustering layer's assignments of the items' exact UMAP
        coordinates; ``predict`` (new items, no UMAP) uses the encoder's copy of them, which agrees with labels_ on
        ``encoder_agreement_`` of the fit items (digits: 0.97).

        ``guide`` (n, umap_components): a UMAP of X already computed by the caller (e.g. to choose k in it);
        None computes it here with the ``umap_*`` settings. Ignored when ``umap_components=0``.
        """
        from jewelrec.clustering.depict_train import train

        X = _check_X(X)
        seed = check_seed(self.seed)  # an int: numpy's integers pass the check but not torch.Generator
        config = self._config_for(X)
        if guide is not None:
            guide = _check_X(guide)
            if guide.shape != (X.shape[0], config.umap_components):
                raise ValueError(f"guide has shape {guide.shape} but X needs ({X.shape[0]}, {config.umap_components}) "
                                 "(n items, umap_components); pass the UMAP of this X or guide=None")
            distinct = distinct_rows(guide)  # a constant guide ended in "loss became NaN; lower lr"
            if distinct < config.n_clusters:
                raise ValueError(f"guide holds {distinct} distinct point(s) for n_clusters={config.n_clusters}: it "
                                 "cannot tell the items apart; pass the UMAP of this X, or guide=None to make it")
        result = train(config, X, seed=seed, device=pick_device(self.device), guide=guide)
        self.model_: DepictModel = result.model
        self.config_ = self.model_.config
        self.history_ = result.history
        self.n_iter_ = result.n_iter
        self.n_pretrain_epochs_ = result.n_pretrain_epochs
        self.stop_reason_ = result.stop_reason
        self.latents_ = result.latents  # (n, latent)
        self.probs_ = result.probs  # (n, k)
        self.labels_ = self.probs_.argmax(axis=1).astype(np.int64)  # (n,)
        self.encoder_agreement_ = result.encoder_agreement  # predict(X) == labels_ on this fraction of X
        filled = len(np.unique(self.labels_))
        if filled < config.n_clusters:  # the joint phase keeps k when its start had k; a start may not
            warnings.warn(f"DEPICT found {filled} non-empty clusters of the {config.n_clusters} asked for: these "
                          f"{X.shape[0]} items hold fewer distinct groups; ask for fewer clusters (or 'auto')",
                          ConvergenceWarning, stacklevel=2)
        self.centroids_ = self.model_.centroids.detach().cpu().numpy().astype(np.float32)  # (k, latent)
        return self

    def _fitted(self) -> DepictModel:
        if not hasattr(self, "model_"):
            raise RuntimeError("this Depict is not fitted yet; call fit(X) or Depict.from_pretrained(dir) first")
        return self.model_

    @torch.no_grad()
    def _encode(self, X: np.ndarray, batch: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        model = self._fitted()
        X = _check_X(X, model.config.input_dim)
        model.eval()
        device = next(model.parameters()).device
        means, probs = [], []
        for start in range(0, X.shape[0], batch):
            mean, _ = model.encode(torch.from_numpy(X[start:start + batch]).to(device))  # (b, latent)
            means.append(mean.cpu())
            probs.append(model.soft_assign(mean).cpu())  # (b, k)
        latent = int(model.config.latent_dim or 0)
        empty = (np.zeros((0, latent), np.float32), np.zeros((0, model.config.n_clusters), np.float32))
        if not means:
            return empty
        return torch.cat(means).numpy(), torch.cat(probs).numpy()

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Latent means (n, latent) float32: the space DEPICT clusters in."""
        return self._encode(X)[0]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Student's-t soft assignments (n, k) float32; rows sum to 1."""
        return self._encode(X)[1]

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Hard cluster labels (n,) int64."""
        return self.predict_proba(X).argmax(axis=1).astype(np.int64)

    def save_pretrained(self, directory: str | Path) -> None:
        """Write ``config.json`` (sorted keys, indented) and ``model.safetensors`` into directory."""
        model = self._fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        doc = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "config": model.config.to_dict(),
            "seed": check_seed(self.seed),
            "fit": {"n_iter": getattr(self, "n_iter_", None), "stop_reason": getattr(self, "stop_reason_", None),
                    "n_pretrain_epochs": getattr(self, "n_pretrain_epochs_", None),
                    "encoder_agreement": getattr(self, "encoder_agreement_", None),
                    "history": getattr(self, "history_", None)},
        }
        model.save_pretrained(directory, config=doc)  # config.json (this doc) + model.safetensors

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, input_dim: int | None = None,
                        device: str | None = None) -> Depict:
        """Load what :meth:`save_pretrained` wrote; strict keys and shapes.

        ``input_dim`` (optional) is the width of the embeddings the caller will feed; a mismatch raises.
        """
        directory = Path(directory)
        target = pick_device(device)  # a device this machine lacks is named before anything is read
        if input_dim is not None and (not is_whole(input_dim) or input_dim < 1):
            raise ValueError(f"input_dim must be the embeddings' width (a whole number ≥ 1) or None, got {input_dim!r}")
        config_path, weights_path = directory / CONFIG_NAME, directory / WEIGHTS_NAME
        for path in (config_path, weights_path):
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing; point from_pretrained at a directory written by "
                                        "Depict.save_pretrained")
        try:
            doc = json.loads(config_path.read_text())
        except ValueError as err:  # bad JSON, or bytes that are not UTF-8 text
            raise ValueError(f"{config_path} is not valid JSON ({err}); re-save with save_pretrained") from err
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"{config_path} is not a DEPICT config (format != {FORMAT!r}); "
                             "point from_pretrained at a directory written by Depict.save_pretrained")
        if doc.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{config_path} has format_version {doc.get('format_version')!r}, this jewelrec "
                             f"reads {FORMAT_VERSION}; refit the model with this version")
        block, fit, seed = doc.get("config"), doc.get("fit") or {}, doc.get("seed", 0)
        try:
            if not isinstance(block, dict) or not isinstance(fit, dict):
                raise ValueError('its "config" and "fit" entries must be JSON objects')
            config = DepictConfig.from_dict(block)
            config.validate()
            seed = check_seed(seed)
        except ValueError as err:
            raise ValueError(f"{config_path} is not a DEPICT config this jewelrec can load: {err}; re-save the "
                             "model with Depict.save_pretrained (or refit it)") from err
        if input_dim is not None and input_dim != config.input_dim:
            raise ValueError(f"DEPICT model in {directory} was trained on {config.input_dim}-dim embeddings but "
                             f"these are {input_dim}-dim; refit DEPICT on them (same encoder as the bundle)")
        try:
            model = DepictModel.from_pretrained(directory, strict=True)
        except RuntimeError as err:
            raise ValueError(f"weights in {weights_path} do not match {config_path} ({err}); the two files come "
                             "from different models — re-save both with save_pretrained") from err
        except SafetensorError as err:
            raise ValueError(f"{weights_path} is not a readable safetensors file ({err}); it is damaged or "
                             "truncated — re-save the model with save_pretrained (or re-download the bundle)") from err
        bad = [name for name, tensor in model.state_dict().items() if not torch.isfinite(tensor).all()]
        if bad:
            raise ValueError(f"{weights_path} holds NaN or inf in {bad}; a model that diverged or a damaged file "
                             "cannot assign clusters — refit it (or re-download the bundle)")
        hyperparams = {k: v for k, v in config.to_dict().items() if k not in ("input_dim", "n_clusters")}
        estimator = cls(config.n_clusters, seed=seed, device=device, **hyperparams)
        estimator.model_ = model.to(target).eval()
        estimator.config_ = model.config
        if fit.get("history") is not None:
            estimator.history_ = fit["history"]
            estimator.n_iter_ = fit.get("n_iter")
            estimator.n_pretrain_epochs_ = fit.get("n_pretrain_epochs")
            estimator.stop_reason_ = fit.get("stop_reason")
            estimator.encoder_agreement_ = fit.get("encoder_agreement")
        estimator.centroids_ = model.centroids.detach().cpu().numpy().astype(np.float32)
        return estimator
