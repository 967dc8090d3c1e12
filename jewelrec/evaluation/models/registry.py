"""Model specs from the evaluation YAML → model objects, and sweep grids over list-valued parameters.

A spec is one entry of ``models:``::

    - name: hybrid-als          # label in results.json (default: the type)
      type: hybrid              # popularity | item_knn | als | bpr | ease | visual | hybrid | jewelrec
      params: {weight: [0.2, 0.5]}       # constructor arguments; lists are swept in run_mode: sweep
      cf: {type: als, params: {factors: 64}}   # hybrid only: the collaborative half
      rerank: {pool: 3, explore: 0.0}    # optional: "visually separated" re-ranking (needs a bundle);
                                         # rerank: {} re-ranks with VisuallySeparated's defaults

``jewelrec`` (the shipped recommender on raw stars) takes ``params: {bundle: DIR}`` (default: the top-level
``bundle:``) plus any :class:`~jewelrec.serving.recommender.RecommenderConfig` field, e.g. ``dislike_weight``;
``collaborative: true`` blends in the crowd model fitted on the training ratings, as the Space does (``min_shoppers``:
its k-anonymity threshold, default 5).
"""

from __future__ import annotations

import inspect
import itertools
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from jewelrec.config_keys import check_keys
from jewelrec.evaluation.models import CF_MODELS, CONTENT_MODELS, MODEL_TYPES, STAR_MODELS
from jewelrec.evaluation.models.base import CFModel
from jewelrec.evaluation.models.hybrid import HybridModel
from jewelrec.evaluation.models.params import check_params, check_value
from jewelrec.evaluation.models.rerank import VisuallySeparated
from jewelrec.evaluation.models.shipped import JewelrecModel, recommender_config
from jewelrec.evaluation.models.visual import VisualContentModel

CROWD_PARAMS = ("collaborative", "min_shoppers")  # jewelrec params that are not RecommenderConfig fields
SPEC_KEYS = {"name", "type", "params", "cf", "rerank"}
RERANK_KEYS = {"pool", "explore"}
# what a rerank: block leaves out (all of it for rerank: {}) is VisuallySeparated's own default; the spec holds the
# resolved block, so run.json and the sweep record what the re-ranking ran with
RERANK_DEFAULTS = {key: inspect.signature(VisuallySeparated.__init__).parameters[key].default
                   for key in sorted(RERANK_KEYS)}  # fmt: skip


@dataclass
class ItemContent:
    """Per-item visual data from a bundle (or any source): ids, unit embeddings and cluster labels."""

    item_ids: np.ndarray  # (n,) str
    embeddings: np.ndarray  # (n, d) float32, L2-normalised
    labels: np.ndarray  # (n,) int64 visual cluster
    source: str = ""
    bundle: Any = None  # the loaded Bundle these came from, if any (the jewelrec model reuses it)


def load_bundle_content(path: str | Path) -> ItemContent:
    """Read item ids, embeddings and cluster labels from a jewelrec bundle directory."""
    from jewelrec.serving.bundle import Bundle

    bundle = Bundle.load(path)
    return ItemContent(
        item_ids=np.asarray([str(i) for i in bundle.item_ids], dtype=object),
        embeddings=np.asarray(bundle.embeddings, dtype=np.float32),
        labels=np.asarray(bundle.labels, dtype=np.int64),
        source=str(path), bundle=bundle,
    )  # fmt: skip


@dataclass
class ModelSpec:
    name: str
    type: str
    params: dict[str, Any] = field(default_factory=dict)
    cf: dict[str, Any] | None = None
    rerank: dict[str, Any] | None = None  # None: no re-ranking; a mapping ({} too): re-ranked, over RERANK_DEFAULTS

    def __post_init__(self) -> None:
        if isinstance(self.rerank, dict):
            self.rerank = {**RERANK_DEFAULTS, **self.rerank}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelSpec:
        if not isinstance(raw, dict) or "type" not in raw:
            raise ValueError(f"each entry of models: needs a type ({', '.join(MODEL_TYPES)}); got {raw!r}")
        check_keys(raw, SPEC_KEYS, f"model entry {raw.get('name', raw['type'])!r}")
        if raw["type"] not in MODEL_TYPES:
            raise ValueError(f"model type {raw['type']!r} is not one of {list(MODEL_TYPES)}")
        for block in ("params", "cf", "rerank"):
            if raw.get(block) is not None and not isinstance(raw[block], dict):
                raise ValueError(f"model entry {raw.get('name', raw['type'])!r}: {block}: must be a mapping of "
                                 f"settings ({block}: {{key: value, ...}}), got {raw[block]!r}")
        spec = cls(
            name=str(raw.get("name") or raw["type"]), type=raw["type"], params=dict(raw.get("params") or {}),
            cf=dict(raw["cf"]) if raw.get("cf") else None,
            rerank=None if raw.get("rerank") is None else dict(raw["rerank"]),  # {}: re-ranked with the defaults
        )  # fmt: skip
        if spec.type != "hybrid" and raw.get("cf") is not None:  # it would be ignored: the run not what was asked
            raise ValueError(f"model {spec.name!r} ({spec.type}): cf: is the collaborative half of a hybrid model; "
                             f"set type: hybrid to blend {spec.type} with it, or drop cf:")
        if spec.type == "hybrid" and (not spec.cf or spec.cf.get("type") not in CF_MODELS):
            raise ValueError(f"hybrid model {spec.name!r} needs cf: {{type: one of {list(CF_MODELS)}, params: ...}}")
        _check_rerank(spec)
        return spec

    @property
    def needs_content(self) -> bool:
        return self.type in CONTENT_MODELS or self.rerank is not None

    def flat_params(self) -> dict[str, Any]:
        """Every tunable value as ``{"factors": 64, "cf.factors": 32, "rerank.pool": 3, ...}``."""
        flat = dict(self.params)
        flat.update({f"cf.{k}": v for k, v in ((self.cf or {}).get("params") or {}).items()})
        flat.update({f"rerank.{k}": v for k, v in (self.rerank or {}).items()})
        return flat

    def with_flat_params(self, flat: dict[str, Any]) -> ModelSpec:
        params = {k: v for k, v in flat.items() if "." not in k}
        cf = None
        if self.cf is not None:
            cf = {**self.cf, "params": {k[3:]: v for k, v in flat.items() if k.startswith("cf.")}}
        rerank = {k[7:]: v for k, v in flat.items() if k.startswith("rerank.")} if self.rerank is not None else None
        return replace(self, params=params, cf=cf, rerank=rerank)


def _check_rerank(spec: ModelSpec) -> None:
    """A rerank: block is a mapping of VisuallySeparated settings, on a model that is not the shipped one."""
    if spec.rerank is None:
        return
    if not isinstance(spec.rerank, dict):
        raise ValueError(f"model {spec.name!r}: rerank: must be a mapping such as {{pool: 3}} ({{}} for the "
                         f"defaults {RERANK_DEFAULTS}), got {spec.rerank!r}")
    check_keys(spec.rerank, RERANK_KEYS, f"rerank of {spec.name!r}")
    if spec.type in STAR_MODELS:
        raise ValueError(f"model {spec.name!r}: the jewelrec model spreads its own list over styles; "
                         "drop rerank: (it re-ranks collaborative and visual models)")


def expand_grid(spec: ModelSpec) -> list[ModelSpec]:
    """All combinations of list-valued parameters (one spec if none is a list)."""
    flat = spec.flat_params()
    swept = [k for k, v in flat.items() if isinstance(v, list)]
    if not swept:
        return [spec]
    grids = []
    for values in itertools.product(*(flat[k] for k in swept)):
        grids.append(spec.with_flat_params({**flat, **dict(zip(swept, values))}))
    return grids


def swept_keys(spec: ModelSpec) -> list[str]:
    return [k for k, v in spec.flat_params().items() if isinstance(v, list)]


def check_spec(spec: ModelSpec, *, sweep: bool) -> None:
    """Check ``spec``'s settings without any data or bundle (the config loader runs it for every model before a
    log is read): known params with values their rules accept (:mod:`~jewelrec.evaluation.models.params`; for the
    jewelrec model, the RecommenderConfig of every grid candidate is built and checked, see
    :func:`~jewelrec.evaluation.models.shipped.recommender_config`); list-valued params only when ``sweep``."""
    if not sweep and swept_keys(spec):
        raise ValueError(f"model {spec.name!r} lists values for {swept_keys(spec)}; use run_mode: sweep")
    empty = [key for key in swept_keys(spec) if not spec.flat_params()[key]]
    if empty:  # a grid with no candidate: nothing would be checked, nor run
        raise ValueError(f"model {spec.name!r}: {empty[0]}: [] lists no values; give at least one")
    _check_rerank(spec)
    if spec.type in STAR_MODELS:
        for candidate in expand_grid(spec):
            _jewelrec_settings(candidate)
    elif spec.type in CF_MODELS:
        check_params(CF_MODELS[spec.type], spec.params, spec.name, swept=sweep)
    elif spec.type == "visual":
        if spec.params:
            raise ValueError(f"model {spec.name!r}: the visual model takes no params, got {sorted(spec.params)}")
    else:
        check_keys(spec.cf, {"type", "params"}, f"cf of {spec.name!r}")
        if not isinstance(spec.cf.get("params") or {}, dict):
            raise ValueError(f"model {spec.name!r}: cf.params must be a mapping, got {spec.cf['params']!r}")
        check_params(CF_MODELS[spec.cf["type"]], spec.cf.get("params") or {}, f"{spec.name}.cf", swept=sweep)
        check_params(HybridModel, spec.params, spec.name, extra=("cf", "visual"), swept=sweep)
    for key, value in (spec.rerank or {}).items():
        check_value(key, value, f"{spec.name}.rerank", swept=sweep)


def bundle_of(spec: ModelSpec, default: str | None) -> str:
    """The bundle directory a jewelrec model runs on: ``params.bundle``, else the config's ``bundle:``."""
    path = spec.params.get("bundle") or default
    if not path or path == "synthetic":
        raise ValueError(
            f"model {spec.name!r} (jewelrec) runs the shipped recommender on a bundle directory (from python -m "
            "training.fit): set its params.bundle or the config's bundle:"
            + ("; bundle: synthetic has no catalog to serve" if path == "synthetic" else "")
        )
    if isinstance(path, list):
        raise ValueError(f"model {spec.name!r}: params.bundle cannot be swept; list one model per bundle")
    return os.path.expanduser(str(path))  # ~/bundle as data.path takes it


def build_jewelrec(spec: ModelSpec, bundles: dict[str, Any] | None = None, default: str | None = None) -> CFModel:
    """The shipped recommender for ``spec``; ``bundles`` maps directories to already loaded bundles."""
    path = bundle_of(spec, default)
    check_spec(spec, sweep=False)
    crowd, settings = _jewelrec_settings(spec)
    return JewelrecModel((bundles or {}).get(path, path), settings=settings, **crowd)


def _jewelrec_settings(spec: ModelSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """A jewelrec spec's (crowd settings, RecommenderConfig settings), each checked."""
    crowd = {k: spec.params[k] for k in CROWD_PARAMS if k in spec.params}
    settings = {k: v for k, v in spec.params.items() if k != "bundle" and k not in CROWD_PARAMS}
    if not isinstance(crowd.get("collaborative", False), bool):
        raise ValueError(f"model {spec.name!r}: collaborative must be true or false, got {crowd['collaborative']!r}")
    if "min_shoppers" in crowd and (isinstance(crowd["min_shoppers"], bool)
                                    or not isinstance(crowd["min_shoppers"], int) or crowd["min_shoppers"] < 1):
        raise ValueError(f"model {spec.name!r}: min_shoppers must be a whole number ≥ 1, got {crowd['min_shoppers']!r}")
    recommender_config(settings, spec.name)  # one grid candidate: check_spec expands the sweep first
    return crowd, settings


def build_model(spec: ModelSpec, content: ItemContent | None, column_item_ids: np.ndarray, *,
                bundles: dict[str, Any] | None = None, default_bundle: str | None = None) -> CFModel:
    """Instantiate ``spec``; ``content`` is required for visual, hybrid and re-ranked models; a jewelrec model
    runs on ``params.bundle`` or ``default_bundle`` (taken from ``bundles`` when loaded there already)."""
    if spec.type in STAR_MODELS:
        return build_jewelrec(spec, bundles, default_bundle)
    if spec.needs_content and content is None:
        raise ValueError(
            f"model {spec.name!r} ({spec.type}{', rerank' if spec.rerank else ''}) needs item embeddings: set "
            "`bundle: DIR` (a jewelrec bundle from python -m training.fit) in the config"
        )
    check_spec(spec, sweep=False)
    if spec.type in CF_MODELS:
        model = CF_MODELS[spec.type](**spec.params)
    else:
        visual = VisualContentModel(
            content.item_ids, content.embeddings, content.labels, column_item_ids=column_item_ids
        )
        if spec.type == "visual":
            model = visual
        else:
            cf = CF_MODELS[spec.cf["type"]](**(spec.cf.get("params") or {}))
            model = HybridModel(cf=cf, visual=visual, **spec.params)
    if spec.rerank is not None:
        rerank = {**RERANK_DEFAULTS, **spec.rerank}
        model = VisuallySeparated(
            model, content.item_ids, content.labels, column_item_ids=column_item_ids,
            pool=float(rerank["pool"]), explore=float(rerank["explore"]),  # 1.5 × k candidates: not int()
        )  # fmt: skip
    return model
