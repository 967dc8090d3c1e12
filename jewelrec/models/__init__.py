"""Recommenders behind one interface (see :mod:`jewelrec.models.base`) and the registry the evaluator uses."""

from __future__ import annotations

from jewelrec.models.als import ALSModel
from jewelrec.models.base import NotFittedError, Recommender
from jewelrec.models.bpr import BPRModel
from jewelrec.models.ease import EASEModel
from jewelrec.models.hybrid import HybridModel
from jewelrec.models.item_knn import ItemKNNModel
from jewelrec.models.popularity import PopularityModel
from jewelrec.models.rerank import VisuallySeparated
from jewelrec.models.visual import VisualContentModel, align_to_columns

# Collaborative models buildable from (params) alone; "visual" and "hybrid" also need item embeddings.
CF_MODELS: dict[str, type[Recommender]] = {
    "popularity": PopularityModel,
    "item_knn": ItemKNNModel,
    "als": ALSModel,
    "bpr": BPRModel,
    "ease": EASEModel,
}
CONTENT_MODELS = ("visual", "hybrid")
MODEL_TYPES = tuple(CF_MODELS) + CONTENT_MODELS

__all__ = [
    "ALSModel", "BPRModel", "CF_MODELS", "CONTENT_MODELS", "EASEModel", "HybridModel", "ItemKNNModel", "MODEL_TYPES",
    "NotFittedError", "PopularityModel", "Recommender", "VisualContentModel", "VisuallySeparated", "align_to_columns",
]  # fmt: skip
