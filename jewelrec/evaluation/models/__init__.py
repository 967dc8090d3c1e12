"""Recommenders behind one interface (see :mod:`jewelrec.evaluation.models.base`) and the registry the evaluator uses."""

from __future__ import annotations

from jewelrec.evaluation.models.als import ALSModel
from jewelrec.evaluation.models.base import CFModel, NotFittedError
from jewelrec.evaluation.models.bpr import BPRModel
from jewelrec.evaluation.models.ease import EASEModel
from jewelrec.evaluation.models.hybrid import HybridModel
from jewelrec.evaluation.models.item_knn import ItemKNNModel
from jewelrec.evaluation.models.popularity import PopularityModel
from jewelrec.evaluation.models.rerank import VisuallySeparated
from jewelrec.evaluation.models.shipped import JewelrecModel
from jewelrec.evaluation.models.visual import VisualContentModel, align_to_columns

# Collaborative models buildable from (params) alone; "visual" and "hybrid" also need item embeddings.
CF_MODELS: dict[str, type[CFModel]] = {
    "popularity": PopularityModel,
    "item_knn": ItemKNNModel,
    "als": ALSModel,
    "bpr": BPRModel,
    "ease": EASEModel,
}
CONTENT_MODELS = ("visual", "hybrid")
# Models that read the log's raw 1–5 stars (dislikes included) and run on a bundle: the shipped recommender.
STAR_MODELS = ("jewelrec",)
MODEL_TYPES = tuple(CF_MODELS) + CONTENT_MODELS + STAR_MODELS

__all__ = [
    "ALSModel", "BPRModel", "CF_MODELS", "CONTENT_MODELS", "EASEModel", "HybridModel", "ItemKNNModel", "JewelrecModel",
    "MODEL_TYPES", "NotFittedError", "PopularityModel", "CFModel", "STAR_MODELS", "VisualContentModel",
    "VisuallySeparated", "align_to_columns",
]  # fmt: skip
