"""The DEPICT training loop: UMAP guide → guided VAE pre-training → density-based centres → joint refinement.

The first partition is HDBSCAN on the UMAP guide brought to exactly k clusters (``init="density"``): on digits
KMeans in the same UMAP space cuts the 1s' island on 2 of 5 seeds (ACC 0.93 ± 0.03), the dense islands do not
(0.950 ± 0.003). The fit items' labels are the sharpened assignments of their exact UMAP coordinates.

The guide is a UMAP of the inputs (``umap_*`` settings): the encoder learns to put each item's latent mean on its
UMAP coordinates, so the clusters are found in a neighbourhood-preserving space while the saved model still maps
raw embeddings to clusters on its own (UMAP itself cannot be saved without pickle). Without the guide
(``umap_components=0``) the VAE latent alone is clustered, which on real data (digits) is no better than KMeans.

Kept apart from :mod:`jewelrec.clustering.depict` (model, estimator, save/load) so each file holds one idea.
Deterministic on CPU: weights are initialised under a forked, seeded RNG, and every shuffle and
reparameterisation draw comes from one explicit ``torch.Generator``; the global RNG is left untouched.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from jewelrec.clustering.depict import DepictConfig, DepictModel, target_distribution
from jewelrec.clustering.methods import magnitude_scale, umap_init
from jewelrec.devices import cpu_threads


@dataclass
class TrainResult:
    model: DepictModel
    history: dict[str, list[float]]  # see train() for the keys
    n_iter: int  # epochs run, both phases
    n_pretrain_epochs: int  # epochs of phase 1; joint-phase series start after these
    stop_reason: str  # why the joint phase ended: labels_stable | loss_plateau | max_epochs | cluster_emptied
    latents: np.ndarray  # (n, latent) float32 latent means
    probs: np.ndarray  # (n, k) float32 soft assignments (of the UMAP coordinates when target_space="guide")
    encoder_agreement: float  # fraction of fit items whose encoder-only label (what predict gives) equals labels


@contextmanager
def _cpu_settings(device: torch.device, threads: int) -> Iterator[None]:
    """Deterministic kernels and ``threads`` intra-op threads on CPU, restoring the caller's settings after.

    On CUDA we leave both alone: deterministic cuBLAS needs CUBLAS_WORKSPACE_CONFIG set before start-up,
    so GPU runs are seeded but not bitwise reproducible.
    """
    if device.type != "cpu":
        yield
        return
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        with cpu_threads(device, threads if threads > 0 else None):
            yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)


def _init_model(config: DepictConfig, seed: int, device: torch.device) -> DepictModel:
    with torch.random.fork_rng(devices=[]):  # seed weight init without disturbing the caller's RNG
        torch.manual_seed(seed)
        model = DepictModel(config)
    return model.to(device)


def umap_guide(X: np.ndarray, cfg: DepictConfig, seed: int) -> np.ndarray:
    """UMAP of X (n, d), n >= 3, any finite scale → (n, umap_components) float32, centred and scaled to unit RMS
    like the inputs."""
    import umap  # lazily: it compiles numba kernels on first use

    if len(X) < 3:
        raise ValueError(f"the UMAP guide needs at least 3 items, got {len(X)}; pass more items or "
                         "umap_components=0")
    reducer = umap.UMAP(n_components=cfg.umap_components, n_neighbors=min(cfg.umap_neighbors, len(X) - 1),
                        min_dist=cfg.umap_min_dist, metric=cfg.umap_metric, random_state=seed,
                        init=umap_init(len(X), cfg.umap_components))
    scale = magnitude_scale(X)  # 1.0 for ordinary data; float32 distances of 1e30-sized rows overflow
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value.*overridden.*")
        coords = reducer.fit_transform(X if scale == 1.0 else X / np.float32(scale)).astype(np.float64)  # (n, c)
    return standardize_guide(coords)


def standardize_guide(coords: np.ndarray) -> np.ndarray:
    """Centre coords (n, c) and divide by their RMS: the latent keeps the UMAP's shape at unit scale."""
    coords = np.asarray(coords, np.float64) - np.mean(coords, axis=0)  # (n, c)
    return (coords / max(float(np.sqrt(np.mean(coords ** 2))), 1e-12)).astype(np.float32)


def initial_partition(space: np.ndarray, cfg: DepictConfig, seed: int) -> np.ndarray:
    """Labels (n,) in 0..k-1 for space (n, c): KMeans, or (``init="density"``) HDBSCAN's dense islands brought
    to exactly k clusters — the smallest island joins the one with the nearest centre, the largest spread cluster
    is halved by 2-means while there are too few — with HDBSCAN's noise points given to the nearest centre."""
    k = cfg.n_clusters
    if cfg.init == "kmeans":
        return KMeans(k, n_init=cfg.kmeans_n_init, random_state=seed).fit_predict(space)
    from sklearn.cluster import HDBSCAN

    min_size = max(5, round(len(space) / (10 * k)))  # a tenth of an even share: small islands still count
    if len(space) <= min_size:  # too few items for any island of min_size: the plain partition
        return KMeans(k, n_init=cfg.kmeans_n_init, random_state=seed).fit_predict(space)
    labels = HDBSCAN(min_cluster_size=min_size, min_samples=5, copy=True).fit_predict(space)  # (n,), -1 = noise
    ids = [int(c) for c in np.unique(labels) if c >= 0]
    if not ids:
        return KMeans(k, n_init=cfg.kmeans_n_init, random_state=seed).fit_predict(space)

    def centre(c: int) -> np.ndarray:
        return space[labels == c].mean(axis=0)  # (c,)

    while len(ids) > k:
        smallest = min(ids, key=lambda c: int(np.sum(labels == c)))
        rest = [c for c in ids if c != smallest]
        nearest = rest[int(np.argmin([np.linalg.norm(centre(c) - centre(smallest)) for c in rest]))]
        labels[labels == smallest] = nearest
        ids = rest
    noise = labels < 0
    if noise.any():
        centres = np.stack([centre(c) for c in ids])  # (m, c)
        labels[noise] = np.asarray(ids)[np.argmin(((space[noise, None] - centres[None]) ** 2).sum(-1), axis=1)]
    next_id = max(ids) + 1
    while len(ids) < k:
        spread = [float(((space[labels == c] - centre(c)) ** 2).sum()) for c in ids]
        widest = ids[int(np.argmax(spread))]
        members = np.flatnonzero(labels == widest)
        halves = KMeans(2, n_init=cfg.kmeans_n_init, random_state=seed).fit_predict(space[members])
        labels[members[halves == 1]] = next_id
        ids.append(next_id)
        next_id += 1
    return np.unique(labels, return_inverse=True)[1].astype(np.int64)


@torch.no_grad()
def full_pass(model: DepictModel, x: torch.Tensor, batch: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Latent means (n, latent) and soft assignments (n, k) for all of x (n, d), in eval mode."""
    model.eval()
    means = [model.encode(x[s:s + batch])[0] for s in range(0, x.shape[0], batch)]
    mean = torch.cat(means)  # (n, latent)
    return mean, model.soft_assign(mean)  # (n, k)


def _place_centres(model: DepictModel, labels: np.ndarray, mean: torch.Tensor,
                   target_space: torch.Tensor | None) -> None:
    """Centroids at the centres of ``labels`` (n,) in the encoder's latent means (n, latent). When the joint phase
    assigns the exact UMAP (``target_space``) and those centres leave a cluster with no UMAP point nearest it — the
    encoder's copy of the guide is blurred on small catalogs (60 items, 12 asked: 5 left empty) — the centres of
    the UMAP itself. On digits the latent centres score better (seed 4: NMI 0.918 vs 0.903), so they come first."""
    k = model.config.n_clusters
    spaces = [mean] if target_space is None else [mean, target_space]
    with torch.no_grad():
        for space in spaces:
            points = space.cpu().numpy()  # (n, latent)
            centres = np.stack([points[labels == c].mean(axis=0) for c in range(k)])  # (k, latent)
            model.centroids.copy_(torch.as_tensor(centres, dtype=torch.float32))
            if target_space is None or len(torch.unique(model.soft_assign(target_space).argmax(dim=1))) == k:
                return


def _final_assignments(model: DepictModel, x: torch.Tensor,
                       target_space: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Latent means (n, latent), the encoder's assignments (n, k) — what predict() gives for these items — and the
    fit items' own (n, k): those of their exact UMAP coordinates when ``target_space`` is the guide."""
    mean, q_encoder = full_pass(model, x)
    if target_space is None:
        return mean, q_encoder, q_encoder
    with torch.no_grad():
        return mean, q_encoder, model.soft_assign(target_space)


def batch_size_for(n: int, cfg: DepictConfig) -> int:
    """``cfg.batch_size``, shrunk (not below 16) so one epoch over n items takes ≥ min_steps_per_epoch steps."""
    return max(1, min(cfg.batch_size, max(16, math.ceil(n / cfg.min_steps_per_epoch))))


def _run_epoch(model: DepictModel, x: torch.Tensor, optimizer: torch.optim.Optimizer,
               generator: torch.Generator, p: torch.Tensor | None, guide: torch.Tensor | None) -> dict[str, float]:
    """One pass over x in shuffled mini-batches; returns the per-sample mean of each weighted term."""
    cfg = model.config
    model.train()
    n, latent = x.shape[0], int(cfg.latent_dim or 0)
    batch_size = batch_size_for(n, cfg)
    perm = torch.randperm(n, generator=generator, device=x.device)  # (n,)
    params = [q for group in optimizer.param_groups for q in group["params"]]
    sums = {"recon": 0.0, "vae_kl": 0.0, "cluster_kl": 0.0, "guide": 0.0, "total": 0.0}
    for start in range(0, n, batch_size):
        idx = perm[start:start + batch_size]  # (b,)
        noise = torch.randn(idx.shape[0], latent, generator=generator, device=x.device)  # (b, latent)
        terms = model.loss_terms(x[idx], None if p is None else p[idx], noise, None if guide is None else guide[idx])
        total = (cfg.recon_weight * terms["recon"] + cfg.vae_kl_weight * terms["vae_kl"]
                 + cfg.cluster_weight * terms["cluster_kl"] + cfg.guide_weight * terms["guide"])
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        b = idx.shape[0]
        for name in ("recon", "vae_kl", "cluster_kl", "guide"):
            sums[name] += float(terms[name].detach()) * b
        sums["total"] += float(total.detach()) * b
    if not math.isfinite(sums["total"]):
        raise FloatingPointError("DEPICT loss became NaN/inf; lower lr / cluster_lr or raise grad_clip strictness")
    return {name: value / n for name, value in sums.items()}


class _Plateau:
    """Stop when the loss has not improved by a relative ``min_delta`` for ``patience`` epochs."""

    def __init__(self, patience: int, min_delta: float):
        self.patience, self.min_delta = patience, min_delta
        self.best, self.stale = math.inf, 0

    def step(self, loss: float) -> bool:
        improved = not math.isfinite(self.best) or loss < self.best - self.min_delta * abs(self.best)
        if improved:
            self.best, self.stale = loss, 0
        else:
            self.stale += 1
        return self.stale >= self.patience > 0


def _optimizer(params: list[torch.nn.Parameter], lr: float, cfg: DepictConfig):
    optimizer = torch.optim.Adam(params, lr=lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=cfg.lr_factor, patience=cfg.lr_patience, threshold=cfg.min_delta)
    return optimizer, scheduler


def train(config: DepictConfig, X: np.ndarray, *, seed: int = 0, device: torch.device | None = None,
          progress: bool | None = None, guide: np.ndarray | None = None) -> TrainResult:
    """Fit a DEPICT model on X (n, d) float32; ``guide`` (n, umap_components) is a precomputed UMAP of X
    (None → computed here when ``umap_components > 0``; standardised either way).

    History keys: ``recon``, ``vae_kl``, ``guide``, ``total``, ``lr`` — one value per epoch over both phases;
    ``cluster_kl`` — one per joint epoch (they start after ``n_pretrain_epochs``); ``label_change`` —
    fraction of labels that moved, one per target refresh after the first.
    """
    device = device or torch.device("cpu")
    config.validate()
    cfg = config.resolved()
    scale = magnitude_scale(X)  # 1.0 for ordinary data; else trained on X / scale, folded back in at the end
    if scale != 1.0:
        X = np.asarray(X, np.float32) / np.float32(scale)  # (n, d)
    history: dict[str, list[float]] = {
        k: [] for k in ("recon", "vae_kl", "guide", "cluster_kl", "total", "lr", "label_change")}
    if cfg.umap_components > 0:
        with threadpool_limits(limits=cfg.cpu_threads if device.type == "cpu" and cfg.cpu_threads > 0 else None):
            coords = umap_guide(X, cfg, seed) if guide is None else standardize_guide(guide)  # (n, c)
    with _cpu_settings(device, cfg.cpu_threads):
        model = _init_model(cfg, seed, device)
        x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(device)  # (n, d)
        model.set_standardization(x)
        guide_t = torch.from_numpy(coords).to(device) if cfg.umap_components > 0 else None  # (n, latent)
        generator = torch.Generator(device=device).manual_seed(seed)
        bar = tqdm(total=cfg.pretrain_epochs + cfg.cluster_epochs, desc="DEPICT", leave=False,
                   disable=None if progress is None else not progress)

        def record(metrics: dict[str, float], optimizer: torch.optim.Optimizer, joint: bool) -> None:
            for name in ("recon", "vae_kl", "guide", "total"):
                history[name].append(metrics[name])
            if joint:
                history["cluster_kl"].append(metrics["cluster_kl"])
            history["lr"].append(float(optimizer.param_groups[0]["lr"]))
            bar.update(1)
            bar.set_postfix(loss=f"{metrics['total']:.4f}")

        # Phase 1: the VAE alone; the centroids are not trained yet.
        vae_params = [p for name, p in model.named_parameters() if name != "centroids"]
        optimizer, scheduler = _optimizer(vae_params, cfg.lr, cfg)
        plateau = _Plateau(cfg.patience, cfg.min_delta)
        n_pretrain = 0
        for _ in range(cfg.pretrain_epochs):
            metrics = _run_epoch(model, x, optimizer, generator, None, guide_t)
            n_pretrain += 1
            record(metrics, optimizer, joint=False)
            scheduler.step(metrics["total"])
            if plateau.step(metrics["total"]):
                break

        # Centres from a partition of the clustering space (the UMAP guide when there is one, else the latent
        # means): the joint phase refines a good partition.
        mean, _ = full_pass(model, x)
        space = coords if cfg.umap_components > 0 and cfg.init_space == "guide" else mean.cpu().numpy()
        with threadpool_limits(limits=cfg.cpu_threads if device.type == "cpu" and cfg.cpu_threads > 0 else None):
            labels = initial_partition(np.asarray(space, np.float64), cfg, seed)  # (n,)
        target_space = guide_t if guide_t is not None and cfg.target_space == "guide" else None
        _place_centres(model, labels, mean, target_space)

        # Phase 2: joint reconstruction + KL(VAE) + KL(P ‖ Q), P refreshed every target_update_interval epochs.
        optimizer, scheduler = _optimizer(list(model.parameters()), cfg.cluster_lr, cfg)
        plateau = _Plateau(cfg.patience, cfg.min_delta)
        stop_reason, p, n_joint, kept = "max_epochs", None, 0, None
        for epoch in range(cfg.cluster_epochs):
            if epoch % cfg.target_update_interval == 0:
                _, q = full_pass(model, x)  # (n, k)
                if target_space is not None:  # sharpen the assignments of the exact UMAP, not the encoder's copy
                    with torch.no_grad():
                        q = model.soft_assign(target_space)  # (n, k)
                new_labels = q.argmax(dim=1).cpu().numpy()  # (n,)
                filled = len(np.unique(new_labels))
                if kept is not None and filled < cfg.n_clusters:
                    # DEC's target drains the clusters a catalog has no group for (30 asked of 4 blobs: 11 kept);
                    # k styles were asked for, so the fit keeps the last refresh at which every one had items
                    model.load_state_dict(kept)
                    stop_reason = "cluster_emptied"
                    break
                if filled == cfg.n_clusters:
                    kept = copy.deepcopy(model.state_dict())
                if epoch > 0:
                    change = float(np.mean(new_labels != labels))
                    history["label_change"].append(change)
                    if change < cfg.tol:
                        stop_reason = "labels_stable"
                        break
                labels, p = new_labels, target_distribution(q)  # (n, k)
            metrics = _run_epoch(model, x, optimizer, generator, p, guide_t)
            n_joint += 1
            record(metrics, optimizer, joint=True)
            scheduler.step(metrics["total"])
            if plateau.step(metrics["total"]):
                stop_reason = "loss_plateau"
                break
        bar.close()
        mean, q_encoder, q = _final_assignments(model, x, target_space)
        if kept is not None and len(torch.unique(q.argmax(dim=1))) < cfg.n_clusters:  # emptied after the last refresh
            model.load_state_dict(kept)
            stop_reason = "cluster_emptied"
            mean, q_encoder, q = _final_assignments(model, x, target_space)
        agreement = float((q.argmax(dim=1) == q_encoder.argmax(dim=1)).float().mean())
        with torch.no_grad():  # the saved model takes X in its own units: x / scale folded into the input buffers
            model.input_mean.mul_(scale)
            model.input_scale.mul_(scale)
    return TrainResult(
        model=model.eval(), history=history, n_iter=n_pretrain + n_joint, n_pretrain_epochs=n_pretrain,
        stop_reason=stop_reason, latents=mean.cpu().numpy().astype(np.float32),
        probs=q.cpu().numpy().astype(np.float32), encoder_agreement=agreement,
    )
