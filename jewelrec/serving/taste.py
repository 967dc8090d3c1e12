"""The two pieces of linear algebra behind a shopper's taste direction (``Recommender.recommend``, steps 3-4 of
:mod:`jewelrec.serving.recommender`'s docstring): the ridge fit of the stars on the rated embeddings, and the
catalog whitening that quiets the directions the whole catalog varies along most."""

from __future__ import annotations

import numpy as np


def taste_direction(rated: np.ndarray, target: np.ndarray, ridge: float) -> np.ndarray:
    """Ridge fit of ``target`` (r,) on the ``rated`` embeddings (r, d), no intercept: the weight vector (d,).
    Dual form (an r × r solve) for the usual handful of ratings, primal (d × d) when there are more than d."""
    r, d = rated.shape
    if r <= d:
        gram = rated @ rated.T  # (r, r)
        return np.linalg.solve(gram + ridge * np.eye(r, dtype=np.float32), target) @ rated
    return np.linalg.solve(rated.T @ rated + ridge * np.eye(d, dtype=np.float32), rated.T @ target)


def whitening(embeddings: np.ndarray, shrink: float, sample: int = 20_000) -> np.ndarray:
    """W = (C / mean eig(C) + shrink·I)^-1 (d, d) from the catalog covariance C, scaled so that e^T W e averages
    1 over the catalog (a twin still scores about 1, as with cosines). Estimated on about ``sample`` evenly
    spaced rows: 40 rows per dimension at 512-d estimate it well, and start-up stays O(sample · d²) (~0.2 s)."""
    if shrink <= 0:
        raise ValueError(f"whiten must be > 0 (None turns it off), got {shrink!r}")
    rows = embeddings[:: max(1, len(embeddings) // sample)].astype(np.float64)  # (s, d)
    centred = rows - rows.mean(0)
    cov = centred.T @ centred / max(len(rows) - 1, 1)  # (d, d)
    cov /= max(float(np.trace(cov)) / cov.shape[0], 1e-12)  # mean eigenvalue 1: shrink is scale-free
    metric = np.linalg.inv(cov + shrink * np.eye(cov.shape[0]))
    metric /= max(float(((rows @ metric) * rows).sum()) / len(rows), 1e-12)
    return metric.astype(np.float32)
